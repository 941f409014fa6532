#!/usr/bin/python3
"""Golden reference data for cltrain, computed by PyTorch in float64.

Run from anywhere with Debian's interpreter and python3-torch:

    /usr/bin/python3 tests/golden/gen_golden.py [OUTDIR]

OUTDIR defaults to the directory of this script.  It writes losses.txt.gz,
linear.txt.gz and optim.txt.gz.  The output is byte-for-byte deterministic
(one torch thread, float64 everywhere, gzip header with mtime 0 and no file
name), so regenerating with the same torch version gives identical files.

File format (text inside gzip; tokens are separated by any whitespace,
line breaks carry no meaning except that '#' starts a comment running to the
end of the line):

    # comment                    (ignored; every case has one '# torch: ...'
                                 line giving the exact PyTorch computation)
    case NAME                    (NAME unique within the file)
    param KEY VALUE              (VALUE a number; zero or more per case)
    array NAME ROWS COLS         (followed by ROWS*COLS numbers, row-major)
    v1 v2 ...                    (printed with %.17g: exact doubles)
    end                          (closes the case)
    ...
    eof COUNT                    (last token pair: number of cases; lets a
                                 reader detect a truncated file)

Param keys are exactly the field names of clt_loss_desc / clt_optim_desc
(margin, p, label_smoothing, ignore_index, huber_delta, log_target,
class_weight, pos_weight, lr, weight_decay, momentum, dampening, nesterov,
maximize, beta1, beta2, eps, amsgrad, alpha, centered, rho, lr_decay,
initial_accumulator_value, momentum_decay, decoupled_weight_decay,
trust_coefficient, max_grad_norm), plus:

    kind         loss: clt_loss_kind order, 0 cross_entropy, 1 hinge,
                 2 bce_logits, 3 mse, 4 l1, 5 huber, 6 kl_div.
                 optim: clt_optim_kind order, 0 sgd, 1 adagrad, 2 rmsprop,
                 3 adadelta, 4 adam, 5 adamw, 6 adamax, 7 nadam, 8 radam,
                 9 lars, 10 lamb.  Regularization cases have no kind.
    reduction    0 mean, 1 sum, 2 batchmean
    n, c, d      batch rows, classes (columns of S), input features
    seed         seed of the input generator (below)
    scores_rule, target_rule, ignore_every     which input rule (below)
    class_weight, pos_weight   1 when the case uses that optional tensor
                 (its values come from the rule below), 0 otherwise
    l1, l2       regularization strengths (regularization cases)
    size, steps  optimizer: number of parameters, number of steps

Every floating hyper-parameter is rounded to float32 *before* it is given to
PyTorch (the clt_*_desc fields are float), and the stored value is that
rounded value, so `desc.lr = (float)golden_param(c, "lr", 0)` reproduces the
exact hyper-parameter PyTorch used.

Inputs are not stored.  They come from

    splitmix64(x): z = x + 0x9E3779B97F4A7C15;
                   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
                   z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
                   return z ^ (z >> 31)           (all mod 2^64)
    u(seed, i) = golden_uniform(seed, i)
               = (splitmix64(seed * 0x9E3779B97F4A7C15 + i) >> 40) / 2^23 - 1

a float in [-1, 1) with 24 significant bits (exact in float32).  Every input
value below is finally rounded to float32 (C: (double)(float)x), so a C test
that writes the inputs to a float32 tensor gives the device exactly the inputs
PyTorch saw.  Index i is the row-major element index; r the row, j the column.

  Losses (S is N x C):
    scores_rule 0: S[i] = 4 u(seed, i)
    scores_rule 1: S[r,j] = 4 u(seed, r)      (all logits of a row equal)
    scores_rule 2: S[i] = u(seed, i) >= 0 ? 1e4 : -1e4
    scores_rule 3: as rule 0, then S[r, y[r]] = -1e4 for every even r whose
                   label satisfies 0 <= y[r] < C (labels from target_rule 0)
    target_rule 0: labels y[r] = min(C-1, floor((u(seed+1, r) + 1) / 2 * C));
                   then, if ignore_every = k > 0, y[r] = ignore_index for
                   every r with r % k == k - 1
    target_rule 1: probabilities T[r,j] = softmax_j(x[r,:]),
                   x[r,j] = 2 u(seed+1, r*C + j); computed in double as
                   m = max_j x, e_j = exp(x_j - m), s = sum_j e_j (j ascending),
                   T = e_j / s, then rounded to float32 (rows may therefore
                   sum to 1 only within float32 rounding; PyTorch got the
                   rounded values)
    target_rule 2: log-probabilities T[r,j] = (x_j - m) - log(s), same x, m,
                   s as rule 1, rounded to float32
    target_rule 3: T[i] = (u(seed+1, i) + 1) / 2       (in [0, 1))
    target_rule 4: T[i] = 4 u(seed+1, i)
    class_weight:  w[j] = 1.5 + u(seed+2, j), rounded to float32
    pos_weight:    pw[j] = 1.5 + u(seed+3, j), rounded to float32 (1 x C)
  Regularization (W is D x C): W[i] = (i % 5 == 4) ? 0 : u(seed, i)
  Linear: X[i] = u(seed, i) (N x D), W[i] = 0.5 u(seed+1, i) (D x C),
          b[j] = u(seed+2, j) (1 x C), dS[i] = u(seed+3, i) (N x C)
  Optimizers: initial param w[i] = u(seed, i);
              gradient at step t (1-based): g[i] = 0.5 u(seed+t, i)

Arrays stored:
  losses: loss (1x1), dS (N x C, d loss / d S by autograd);
          kl_div cases also dInput (N x C): d loss / d logp, the gradient
          with respect to kl_div's own input logp = log_softmax(S, 1).
  regularization: penalty (1x1), dW (D x C).
  linear: S (N x C), dW (D x C), db (1 x C), dX (N x D).
  optim:  param_T (1 x size) and STATE_T (1 x size, or 1 x 1 for the scalar
          mu_product) after step T, for state names equal to torch's
          state-dict keys: momentum_buffer (sgd with momentum, rmsprop with
          momentum, lars), sum (adagrad), square_avg (rmsprop, adadelta),
          grad_avg (rmsprop centered), acc_delta (adadelta), exp_avg,
          exp_avg_sq (adam, adamw, nadam, radam, lamb; exp_avg also adamax),
          max_exp_avg_sq (amsgrad), exp_inf (adamax), mu_product (nadam).
          Sizes 1 and 7: param and states after every step 1..steps.
          Size 4097: param and states after step 20 only; LARS, LAMB and
          the clipping cases also param_10 (storing every step would exceed
          the 6 MB budget for committed data by a factor of five).

Conventions worth knowing:
  * Hinge (multiclass SVM, Weston-Watkins) per row:
        L_r = sum_{j != y_r} max(0, S[r,j] - S[r,y_r] + margin)^p
    reduction mean = (1/N) sum_r L_r, sum = sum_r L_r.  The gradient uses
    relu's convention (zero where the margin term is exactly 0).  Relation,
    checked numerically by this script for every hinge case:
        hinge_mean = C * F.multi_margin_loss(S, y, p=p, margin=margin)
        hinge_sum  = C * F.multi_margin_loss(S, y, p=p, margin=margin,
                                             reduction='sum')
    (multi_margin_loss divides each row by C; it supports p = 1 and 2).
  * Elementwise losses (bce, mse, l1, huber, kl 'mean') with reduction mean
    divide by N*C, as PyTorch does; kl 'batchmean' divides by N.
  * kl_div: loss = F.kl_div(F.log_softmax(S, 1), T, log_target=...).
  * Regularization: penalty = l1 * ||W||_1 + 0.5 * l2 * ||W||^2 (torch's
    weight_decay convention), dW = l1 * sign(W) + l2 * W, sign(0) = 0.
  * Gradient clipping (max_grad_norm > 0): torch.nn.utils.clip_grad_norm_
    before every step, i.e. g *= min(1, max_norm / (||g||_2 + 1e-6)).
  * Optimizers use the single-tensor code path (foreach=False).
  * LARS (hand written): d = g + wd w; trust = eta ||w|| / (||g|| + wd ||w||)
    if ||w|| > 0 and ||g|| > 0 else 1; buf = momentum buf + trust d (buf
    starts at 0); w -= lr buf.  (g after clipping; eta = trust_coefficient.)
  * LAMB (hand written): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    mhat = m / (1 - b1^t); vhat = v / (1 - b2^t);
    u = mhat / (sqrt(vhat) + eps) + wd w;
    r = ||w|| / ||u|| if ||w|| > 0 and ||u|| > 0 else 1; w -= lr r u.

Cross-language check of the generator (also printed when the script runs;
hard-coded in tests/test_golden_reader.c):
    golden_uniform(0, 0)             =  0.76662158966064453
    golden_uniform(42, 7)            = -0.23595404624938965
    golden_uniform(12345, 1000000)   = -0.96426701545715332

Cases (names end in the shape: _NxC for losses, _DxC for regularization,
_NxDxC for linear, _SIZE for optimizers):
  losses.txt.gz  ce_{plain,weight,smooth,ignore,weight_smooth_ignore,prob,
                 prob_smooth,sum}_{7x5,1x1,93x10,4x1000};
                 ce_{ignore_default,weight_sum,weight_smooth_ignore_sum,
                 prob_weight,prob_sum}_{7x5,93x10};
                 ce_stab_{equal,big,big_smooth,trueneg,big_prob}_{7x5,93x10},
                 ce_stab_{equal,big}_4x1000;
                 hinge_{m1,m2.5}_{p1,p2}_{mean,sum}_{7x5,1x1,93x10} and, for
                 4x1000, hinge_m1_p1_mean and hinge_m2.5_p2_sum;
                 hinge_stab_{equal,big,trueneg,trueneg_p2}_{7x5,93x10};
                 bce_{plain,posw,sum}_{all four shapes};
                 bce_{posw_sum,stab_big,stab_big_posw,stab_equal}_{7x5,93x10};
                 {mse_mean,l1_mean,huber_d1_mean}_{all four shapes},
                 {mse_sum,l1_sum,huber_d0.5_mean,huber_d1_sum}_{7x5,1x1,93x10};
                 kl_lt{0,1}_{batchmean,sum,mean}_{7x5,1x1,93x10},
                 kl_lt{0,1}_batchmean_4x1000;
                 kl_stab_{big,equal}_lt{0,1}_{7x5,93x10};
                 reg_{l2,l2big,l1,l1big,elastic}_{1x1,13x10,784x10}.
  linear.txt.gz  linear_{1x1x1,7x13x10,93x13x2,5x784x10,64x33x17}.
  optim.txt.gz   see OPT_CASES below, each at sizes 1, 7 and 4097.  NAdam and
                 RAdam with decoupled_weight_decay are generated only when the
                 installed torch supports that argument (torch 1.13 does not;
                 the script then skips them and says so).
"""

import gzip
import io
import math
import os
import struct
import sys
import warnings

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
warnings.filterwarnings("ignore")
F64 = torch.float64

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(x):
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def golden_uniform(seed, i):
    z = splitmix64((seed * GOLDEN + i) & MASK64)
    return (z >> 40) / 8388608.0 - 1.0


def f32(x):
    """Round a double to the nearest float32 (C: (double)(float)x)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def uniform_list(seed, n, scale=1.0):
    return [f32(scale * golden_uniform(seed, i)) for i in range(n)]


# ----------------------------------------------------------------- writer

REDUCTION = {"mean": 0, "sum": 1, "batchmean": 2}


def fmt(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return "%d" % v
    return "%.17g" % v


class Writer:
    def __init__(self, path, title):
        self.path = path
        self.out = io.StringIO()
        self.names = set()
        self.count = 0
        self.out.write("# %s\n# generated by tests/golden/gen_golden.py with torch %s "
                       "(float64); format: see the script's docstring\n"
                       % (title, torch.__version__))

    def case(self, name, call, params, arrays):
        assert name not in self.names, name
        self.names.add(name)
        w = self.out.write
        w("case %s\n# torch: %s\n" % (name, call))
        for k, v in params.items():
            w("param %s %s\n" % (k, fmt(v)))
        for aname, t in arrays:
            t = torch.as_tensor(t, dtype=F64).detach()
            if t.dim() == 0:
                t = t.reshape(1, 1)
            elif t.dim() == 1:
                t = t.reshape(1, -1)
            rows, cols = t.shape
            vals = t.reshape(-1).tolist()
            for v in vals:
                assert math.isfinite(v), (name, aname)
            w("array %s %d %d\n" % (aname, rows, cols))
            for s in range(0, len(vals), 8):
                w(" ".join("%.17g" % v for v in vals[s:s + 8]))
                w("\n")
        w("end\n")
        self.count += 1

    def close(self):
        self.out.write("eof %d\n" % self.count)
        data = self.out.getvalue().encode("ascii")
        with open(self.path, "wb") as fh:
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                               compresslevel=9) as gz:
                gz.write(data)
        return os.path.getsize(self.path)


# ----------------------------------------------------------------- losses

LOSS_KIND = {"ce": 0, "hinge": 1, "bce": 2, "mse": 3, "l1": 4, "huber": 5, "kl": 6}


def loss_labels(n, c, seed, ignore_index=-100, ignore_every=0):
    y = []
    for r in range(n):
        v = math.floor((golden_uniform(seed + 1, r) + 1.0) / 2.0 * c)
        y.append(min(c - 1, v))
    if ignore_every > 0:
        for r in range(n):
            if r % ignore_every == ignore_every - 1:
                y[r] = ignore_index
    return y


def loss_scores(n, c, seed, rule, labels=None):
    if rule == 0:
        return uniform_list(seed, n * c, 4.0)
    if rule == 1:
        return [f32(4.0 * golden_uniform(seed, r)) for r in range(n) for _ in range(c)]
    if rule == 2:
        return [1e4 if golden_uniform(seed, i) >= 0 else -1e4 for i in range(n * c)]
    if rule == 3:
        s = uniform_list(seed, n * c, 4.0)
        for r in range(0, n, 2):
            if 0 <= labels[r] < c:
                s[r * c + labels[r]] = -1e4
        return s
    raise ValueError(rule)


def softmax_rows(n, c, seed, log):
    out = []
    for r in range(n):
        x = [2.0 * golden_uniform(seed + 1, r * c + j) for j in range(c)]
        m = max(x)
        e = [math.exp(v - m) for v in x]
        s = 0.0
        for v in e:
            s += v
        if log:
            ls = math.log(s)
            out.extend(f32((v - m) - ls) for v in x)
        else:
            out.extend(f32(v / s) for v in e)
    return out


def loss_target(n, c, seed, rule):
    if rule == 1:
        return softmax_rows(n, c, seed, False)
    if rule == 2:
        return softmax_rows(n, c, seed, True)
    if rule == 3:
        return [f32((golden_uniform(seed + 1, i) + 1.0) / 2.0) for i in range(n * c)]
    if rule == 4:
        return uniform_list(seed + 1, n * c, 4.0)
    raise ValueError(rule)


def hinge_loss(S, y, margin, p, reduction):
    sy = S.gather(1, y.view(-1, 1))
    m = torch.relu(S - sy + margin)
    mask = torch.ones_like(S)
    mask.scatter_(1, y.view(-1, 1), 0.0)
    rows = (m.pow(p) * mask).sum(1)
    return rows.mean() if reduction == "mean" else rows.sum()


SHAPES = [(7, 5), (1, 1), (93, 10), (4, 1000)]


class LossGen:
    def __init__(self, writer):
        self.w = writer
        self.seed = 1000

    def next_seed(self):
        self.seed += 10
        return self.seed

    def add(self, name, kind, n, c, reduction="mean", scores_rule=0, **hp):
        seed = self.next_seed()
        params = {"kind": LOSS_KIND[kind], "n": n, "c": c, "seed": seed,
                  "reduction": REDUCTION[reduction], "scores_rule": scores_rule}
        red = reduction
        ignore_index = hp.get("ignore_index", -100)
        ignore_every = hp.get("ignore_every", 0)
        labels = None
        if kind in ("ce", "hinge") and hp.get("target_rule", 0) == 0:
            labels = loss_labels(n, c, seed, ignore_index, ignore_every)
        S = torch.tensor(loss_scores(n, c, seed, scores_rule, labels), dtype=F64).reshape(n, c)
        S.requires_grad_(True)
        arrays = []
        if kind == "ce":
            trule = hp.get("target_rule", 0)
            ls = f32(hp.get("label_smoothing", 0.0))
            use_w = hp.get("class_weight", 0)
            params.update(target_rule=trule, label_smoothing=ls, ignore_index=ignore_index,
                          class_weight=use_w)
            if trule == 0:
                params["ignore_every"] = ignore_every
                target = torch.tensor(labels, dtype=torch.long)
                tdesc = "y"
            else:
                target = torch.tensor(loss_target(n, c, seed, trule), dtype=F64).reshape(n, c)
                tdesc = "T"
            weight = None
            kw = ""
            if use_w:
                weight = torch.tensor([f32(1.5 + golden_uniform(seed + 2, j)) for j in range(c)],
                                      dtype=F64)
                kw += ", weight=w"
            if ls != 0.0:
                kw += ", label_smoothing=%.17g" % ls
            if ignore_index != -100:
                kw += ", ignore_index=%d" % ignore_index
            loss = F.cross_entropy(S, target, weight=weight, ignore_index=ignore_index,
                                   reduction=red, label_smoothing=ls)
            call = "F.cross_entropy(S, %s%s, reduction='%s')" % (tdesc, kw, red)
        elif kind == "hinge":
            margin = f32(hp.get("margin", 1.0))
            p = hp.get("p", 1)
            params.update(target_rule=0, ignore_every=0, margin=margin, p=p)
            y = torch.tensor(labels, dtype=torch.long)
            loss = hinge_loss(S, y, margin, p, red)
            call = ("L = sum_{j!=y} relu(S - S.gather(1, y) + %.17g)^%d per row, "
                    "reduction %s; == C * F.multi_margin_loss(S, y, p=%d, margin=%.17g, "
                    "reduction='%s')" % (margin, p, red, p, margin, red))
            # Cross-check against PyTorch's own multi-class margin loss.
            with torch.no_grad():
                ref = c * F.multi_margin_loss(S, y, p=p, margin=margin, reduction=red)
            assert abs(ref.item() - loss.item()) <= 1e-12 * max(1.0, abs(loss.item())), name
            S2 = S.detach().clone().requires_grad_(True)
            (c * F.multi_margin_loss(S2, y, p=p, margin=margin, reduction=red)).backward()
            g1 = torch.autograd.grad(hinge_loss(S, y, margin, p, red), S)[0]
            assert torch.allclose(g1, S2.grad, rtol=1e-12, atol=1e-12), name
        elif kind == "bce":
            use_pw = hp.get("pos_weight", 0)
            params.update(target_rule=3, pos_weight=use_pw)
            T = torch.tensor(loss_target(n, c, seed, 3), dtype=F64).reshape(n, c)
            pw = None
            kw = ""
            if use_pw:
                pw = torch.tensor([f32(1.5 + golden_uniform(seed + 3, j)) for j in range(c)],
                                  dtype=F64)
                kw = ", pos_weight=pw"
            loss = F.binary_cross_entropy_with_logits(S, T, pos_weight=pw, reduction=red)
            call = "F.binary_cross_entropy_with_logits(S, T%s, reduction='%s')" % (kw, red)
        elif kind in ("mse", "l1", "huber"):
            params["target_rule"] = 4
            T = torch.tensor(loss_target(n, c, seed, 4), dtype=F64).reshape(n, c)
            if kind == "mse":
                loss = F.mse_loss(S, T, reduction=red)
                call = "F.mse_loss(S, T, reduction='%s')" % red
            elif kind == "l1":
                loss = F.l1_loss(S, T, reduction=red)
                call = "F.l1_loss(S, T, reduction='%s')" % red
            else:
                delta = f32(hp.get("huber_delta", 1.0))
                params["huber_delta"] = delta
                loss = F.huber_loss(S, T, reduction=red, delta=delta)
                call = "F.huber_loss(S, T, reduction='%s', delta=%.17g)" % (red, delta)
        elif kind == "kl":
            lt = hp.get("log_target", 0)
            trule = 2 if lt else 1
            params.update(target_rule=trule, log_target=lt)
            T = torch.tensor(loss_target(n, c, seed, trule), dtype=F64).reshape(n, c)
            logp = F.log_softmax(S, 1)
            logp.retain_grad()
            loss = F.kl_div(logp, T, reduction=red, log_target=bool(lt))
            call = ("F.kl_div(F.log_softmax(S, 1), T, reduction='%s', log_target=%s)"
                    % (red, bool(lt)))
        else:
            raise ValueError(kind)
        loss.backward()
        arrays.append(("loss", loss.detach()))
        arrays.append(("dS", S.grad))
        if kind == "kl":
            arrays.append(("dInput", logp.grad))
        self.w.case(name, call, params, arrays)


def shape_name(n, c):
    return "%dx%d" % (n, c)


def gen_losses(path):
    w = Writer(path, "cltrain golden losses and regularization")
    g = LossGen(w)
    mid = [(7, 5), (93, 10)]
    # ---- cross-entropy
    for n, c in SHAPES:
        s = shape_name(n, c)
        g.add("ce_plain_" + s, "ce", n, c)
        g.add("ce_weight_" + s, "ce", n, c, class_weight=1)
        g.add("ce_smooth_" + s, "ce", n, c, label_smoothing=0.1)
        g.add("ce_ignore_" + s, "ce", n, c, ignore_index=3, ignore_every=3)
        g.add("ce_weight_smooth_ignore_" + s, "ce", n, c, class_weight=1,
              label_smoothing=0.1, ignore_index=3, ignore_every=3)
        g.add("ce_prob_" + s, "ce", n, c, target_rule=1)
        g.add("ce_prob_smooth_" + s, "ce", n, c, target_rule=1, label_smoothing=0.1)
        g.add("ce_sum_" + s, "ce", n, c, reduction="sum")
    for n, c in mid:
        s = shape_name(n, c)
        g.add("ce_ignore_default_" + s, "ce", n, c, ignore_index=-100, ignore_every=3)
        g.add("ce_weight_sum_" + s, "ce", n, c, reduction="sum", class_weight=1)
        g.add("ce_weight_smooth_ignore_sum_" + s, "ce", n, c, reduction="sum",
              class_weight=1, label_smoothing=0.1, ignore_index=3, ignore_every=3)
        g.add("ce_prob_weight_" + s, "ce", n, c, target_rule=1, class_weight=1)
        g.add("ce_prob_sum_" + s, "ce", n, c, target_rule=1, reduction="sum")
        # stability
        g.add("ce_stab_equal_" + s, "ce", n, c, scores_rule=1)
        g.add("ce_stab_big_" + s, "ce", n, c, scores_rule=2)
        g.add("ce_stab_big_smooth_" + s, "ce", n, c, scores_rule=2, label_smoothing=0.1)
        g.add("ce_stab_trueneg_" + s, "ce", n, c, scores_rule=3)
        g.add("ce_stab_big_prob_" + s, "ce", n, c, scores_rule=2, target_rule=1)
    g.add("ce_stab_equal_4x1000", "ce", 4, 1000, scores_rule=1)
    g.add("ce_stab_big_4x1000", "ce", 4, 1000, scores_rule=2)
    # ---- multiclass SVM hinge
    for n, c in SHAPES:
        s = shape_name(n, c)
        for margin, mname in ((1.0, "m1"), (2.5, "m2.5")):
            for p in (1, 2):
                for red in ("mean", "sum"):
                    if c == 1000 and (mname, p, red) not in (("m1", 1, "mean"),
                                                             ("m2.5", 2, "sum")):
                        continue  # size budget: two wide cases are enough
                    g.add("hinge_%s_p%d_%s_%s" % (mname, p, red, s), "hinge", n, c,
                          reduction=red, margin=margin, p=p)
    for n, c in mid:
        s = shape_name(n, c)
        g.add("hinge_stab_equal_" + s, "hinge", n, c, scores_rule=1)
        g.add("hinge_stab_big_" + s, "hinge", n, c, scores_rule=2)
        g.add("hinge_stab_trueneg_" + s, "hinge", n, c, scores_rule=3)
        g.add("hinge_stab_trueneg_p2_" + s, "hinge", n, c, scores_rule=3, p=2)
    # ---- binary cross-entropy with logits
    for n, c in SHAPES:
        s = shape_name(n, c)
        g.add("bce_plain_" + s, "bce", n, c)
        g.add("bce_posw_" + s, "bce", n, c, pos_weight=1)
        g.add("bce_sum_" + s, "bce", n, c, reduction="sum")
    for n, c in mid:
        s = shape_name(n, c)
        g.add("bce_posw_sum_" + s, "bce", n, c, reduction="sum", pos_weight=1)
        g.add("bce_stab_big_" + s, "bce", n, c, scores_rule=2)
        g.add("bce_stab_big_posw_" + s, "bce", n, c, scores_rule=2, pos_weight=1)
        g.add("bce_stab_equal_" + s, "bce", n, c, scores_rule=1)
    # ---- regression losses
    for n, c in SHAPES:
        s = shape_name(n, c)
        wide = c == 1000  # size budget: only the mean variants for 4x1000
        g.add("mse_mean_" + s, "mse", n, c)
        g.add("l1_mean_" + s, "l1", n, c)
        g.add("huber_d1_mean_" + s, "huber", n, c, huber_delta=1.0)
        if not wide:
            g.add("mse_sum_" + s, "mse", n, c, reduction="sum")
            g.add("l1_sum_" + s, "l1", n, c, reduction="sum")
            g.add("huber_d0.5_mean_" + s, "huber", n, c, huber_delta=0.5)
            g.add("huber_d1_sum_" + s, "huber", n, c, reduction="sum", huber_delta=1.0)
    # ---- KL divergence
    for n, c in SHAPES:
        s = shape_name(n, c)
        for lt in (0, 1):
            for red in ("batchmean", "sum", "mean"):
                if c == 1000 and red != "batchmean":
                    continue  # size budget
                g.add("kl_lt%d_%s_%s" % (lt, red, s), "kl", n, c, reduction=red, log_target=lt)
    for n, c in mid:
        s = shape_name(n, c)
        for lt in (0, 1):
            g.add("kl_stab_big_lt%d_%s" % (lt, s), "kl", n, c, reduction="batchmean",
                  scores_rule=2, log_target=lt)
            g.add("kl_stab_equal_lt%d_%s" % (lt, s), "kl", n, c, reduction="batchmean",
                  scores_rule=1, log_target=lt)
    # ---- regularization
    seed = 5000
    for d, c in ((1, 1), (13, 10), (784, 10)):
        for name, l1, l2 in (("l2", 0.0, 1e-3), ("l2big", 0.0, 0.5), ("l1", 1e-3, 0.0),
                             ("l1big", 0.25, 0.0), ("elastic", 1e-3, 5e-3)):
            seed += 10
            l1f, l2f = f32(l1), f32(l2)
            W = torch.tensor([0.0 if i % 5 == 4 else golden_uniform(seed, i)
                              for i in range(d * c)], dtype=F64).reshape(d, c)
            W.requires_grad_(True)
            pen = l1f * W.abs().sum() + 0.5 * l2f * (W * W).sum()
            pen.backward()
            w.case("reg_%s_%dx%d" % (name, d, c),
                   "penalty = %.17g * W.abs().sum() + 0.5 * %.17g * (W * W).sum(); "
                   "dW by autograd (abs'(0) = 0)" % (l1f, l2f),
                   {"d": d, "c": c, "seed": seed, "l1": l1f, "l2": l2f},
                   [("penalty", pen.detach()), ("dW", W.grad)])
    return w.count, w.close()


# ----------------------------------------------------------------- linear

def gen_linear(path):
    w = Writer(path, "cltrain golden linear layer")
    seed = 7000
    for n, d, c in ((1, 1, 1), (7, 13, 10), (93, 13, 2), (5, 784, 10), (64, 33, 17)):
        seed += 10
        X = torch.tensor(uniform_list(seed, n * d), dtype=F64).reshape(n, d).requires_grad_(True)
        W = torch.tensor(uniform_list(seed + 1, d * c, 0.5), dtype=F64).reshape(d, c)
        W.requires_grad_(True)
        b = torch.tensor(uniform_list(seed + 2, c), dtype=F64).requires_grad_(True)
        dS = torch.tensor(uniform_list(seed + 3, n * c), dtype=F64).reshape(n, c)
        S = X @ W + b
        S.backward(dS)
        w.case("linear_%dx%dx%d" % (n, d, c),
               "S = X @ W + b; S.backward(dS) -> W.grad (= X.T @ dS), b.grad (= dS.sum(0)), "
               "X.grad (= dS @ W.T)",
               {"n": n, "d": d, "c": c, "seed": seed},
               [("S", S.detach()), ("dW", W.grad), ("db", b.grad), ("dX", X.grad)])
    return w.count, w.close()


# ----------------------------------------------------------------- optimizers

OPT_KIND = {"sgd": 0, "adagrad": 1, "rmsprop": 2, "adadelta": 3, "adam": 4, "adamw": 5,
            "adamax": 6, "nadam": 7, "radam": 8, "lars": 9, "lamb": 10}

# desc fields per kind with PyTorch's defaults (LARS/LAMB: the rules above)
OPT_FIELDS = {
    "sgd": dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=0, maximize=0),
    "adagrad": dict(lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                    eps=1e-10),
    "rmsprop": dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=0),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=0),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=0),
    "adamax": dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    "nadam": dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                  momentum_decay=4e-3, decoupled_weight_decay=0),
    "radam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                  decoupled_weight_decay=0),
    "lars": dict(lr=1.0, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3),
    "lamb": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0),
}

OPT_STATES = {
    "sgd": ["momentum_buffer"], "adagrad": ["sum"],
    "rmsprop": ["square_avg", "momentum_buffer", "grad_avg"],
    "adadelta": ["square_avg", "acc_delta"],
    "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamw": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamax": ["exp_avg", "exp_inf"], "nadam": ["exp_avg", "exp_avg_sq", "mu_product"],
    "radam": ["exp_avg", "exp_avg_sq"], "lars": ["momentum_buffer"],
    "lamb": ["exp_avg", "exp_avg_sq"],
}

OPT_CASES = [
    ("sgd", "sgd", {}),
    ("sgd_momentum", "sgd", dict(momentum=0.9)),
    ("sgd_momentum_dampening", "sgd", dict(momentum=0.9, dampening=0.1)),
    ("sgd_nesterov", "sgd", dict(momentum=0.9, nesterov=1)),
    ("sgd_weight_decay", "sgd", dict(momentum=0.9, weight_decay=1e-2)),
    ("sgd_maximize", "sgd", dict(momentum=0.9, maximize=1)),
    ("sgd_clip", "sgd", dict(momentum=0.9, max_grad_norm=0.05)),
    ("adagrad", "adagrad", {}),
    ("adagrad_lr_decay", "adagrad", dict(lr_decay=0.05)),
    ("adagrad_init_acc", "adagrad", dict(initial_accumulator_value=0.1)),
    ("adagrad_weight_decay", "adagrad", dict(weight_decay=1e-2)),
    ("rmsprop", "rmsprop", {}),
    ("rmsprop_centered", "rmsprop", dict(centered=1)),
    ("rmsprop_momentum", "rmsprop", dict(momentum=0.9)),
    ("rmsprop_centered_momentum", "rmsprop", dict(centered=1, momentum=0.9)),
    ("rmsprop_weight_decay", "rmsprop", dict(weight_decay=1e-2)),
    ("adadelta", "adadelta", {}),
    ("adadelta_weight_decay", "adadelta", dict(weight_decay=1e-2)),
    ("adam", "adam", {}),
    ("adam_amsgrad", "adam", dict(amsgrad=1)),
    ("adam_weight_decay", "adam", dict(weight_decay=1e-2)),
    ("adam_clip", "adam", dict(max_grad_norm=0.05)),
    ("adamw", "adamw", {}),
    ("adamw_amsgrad", "adamw", dict(amsgrad=1)),
    ("adamax", "adamax", {}),
    ("nadam", "nadam", {}),
    ("nadam_weight_decay", "nadam", dict(weight_decay=1e-2)),
    ("nadam_decoupled", "nadam", dict(weight_decay=1e-2, decoupled_weight_decay=1)),
    ("radam", "radam", {}),
    ("radam_weight_decay", "radam", dict(weight_decay=1e-2)),
    ("radam_decoupled", "radam", dict(weight_decay=1e-2, decoupled_weight_decay=1)),
    ("lars", "lars", {}),
    ("lars_weight_decay", "lars", dict(weight_decay=5e-4)),
    ("lamb", "lamb", {}),
    ("lamb_weight_decay", "lamb", dict(weight_decay=1e-2)),
]

STEPS = 20
SIZES = [1, 7, 4097]
# size 4097: after which steps the param and the state buffers are stored
# (every step and states after 1, 10, 20 would be ~30 MB compressed: too big)
SIZE4097_PARAM_STEPS = [20]
SIZE4097_STATE_STEPS = [20]
# ... except that the cases whose update uses a norm over all elements (LARS,
# LAMB, gradient clipping) also store the param after step 10.
SIZE4097_NORM_PARAM_STEPS = [10, 20]
# one large case per listed optimizer, final step only, if the budget allows
BIG_SIZE = 100003
BIG_CASES = []


def torch_supports(cls, kw):
    try:
        cls([torch.zeros(1, requires_grad=True)], **kw)
        return True
    except TypeError:
        return False


def make_torch_opt(kind, p, hp):
    lr = hp["lr"]
    wd = hp["weight_decay"]
    if kind == "sgd":
        return (torch.optim.SGD([p], lr=lr, momentum=hp["momentum"], dampening=hp["dampening"],
                                weight_decay=wd, nesterov=bool(hp["nesterov"]),
                                maximize=bool(hp["maximize"]), foreach=False),
                "torch.optim.SGD([w], lr=%.17g, momentum=%.17g, dampening=%.17g, "
                "weight_decay=%.17g, nesterov=%s, maximize=%s, foreach=False)"
                % (lr, hp["momentum"], hp["dampening"], wd, bool(hp["nesterov"]),
                   bool(hp["maximize"])))
    if kind == "adagrad":
        return (torch.optim.Adagrad([p], lr=lr, lr_decay=hp["lr_decay"], weight_decay=wd,
                                    initial_accumulator_value=hp["initial_accumulator_value"],
                                    eps=hp["eps"], foreach=False),
                "torch.optim.Adagrad([w], lr=%.17g, lr_decay=%.17g, weight_decay=%.17g, "
                "initial_accumulator_value=%.17g, eps=%.17g, foreach=False)"
                % (lr, hp["lr_decay"], wd, hp["initial_accumulator_value"], hp["eps"]))
    if kind == "rmsprop":
        return (torch.optim.RMSprop([p], lr=lr, alpha=hp["alpha"], eps=hp["eps"],
                                    weight_decay=wd, momentum=hp["momentum"],
                                    centered=bool(hp["centered"]), foreach=False),
                "torch.optim.RMSprop([w], lr=%.17g, alpha=%.17g, eps=%.17g, weight_decay=%.17g, "
                "momentum=%.17g, centered=%s, foreach=False)"
                % (lr, hp["alpha"], hp["eps"], wd, hp["momentum"], bool(hp["centered"])))
    if kind == "adadelta":
        return (torch.optim.Adadelta([p], lr=lr, rho=hp["rho"], eps=hp["eps"], weight_decay=wd,
                                     foreach=False),
                "torch.optim.Adadelta([w], lr=%.17g, rho=%.17g, eps=%.17g, weight_decay=%.17g, "
                "foreach=False)" % (lr, hp["rho"], hp["eps"], wd))
    betas = (hp.get("beta1"), hp.get("beta2"))
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return (cls([p], lr=lr, betas=betas, eps=hp["eps"], weight_decay=wd,
                    amsgrad=bool(hp["amsgrad"]), foreach=False),
                "torch.optim.%s([w], lr=%.17g, betas=(%.17g, %.17g), eps=%.17g, "
                "weight_decay=%.17g, amsgrad=%s, foreach=False)"
                % (cls.__name__, lr, betas[0], betas[1], hp["eps"], wd, bool(hp["amsgrad"])))
    if kind == "adamax":
        return (torch.optim.Adamax([p], lr=lr, betas=betas, eps=hp["eps"], weight_decay=wd,
                                   foreach=False),
                "torch.optim.Adamax([w], lr=%.17g, betas=(%.17g, %.17g), eps=%.17g, "
                "weight_decay=%.17g, foreach=False)" % (lr, betas[0], betas[1], hp["eps"], wd))
    if kind == "nadam":
        kw = dict(lr=lr, betas=betas, eps=hp["eps"], weight_decay=wd,
                  momentum_decay=hp["momentum_decay"], foreach=False)
        extra = ""
        if hp["decoupled_weight_decay"]:
            kw["decoupled_weight_decay"] = True
            extra = ", decoupled_weight_decay=True"
        return (torch.optim.NAdam([p], **kw),
                "torch.optim.NAdam([w], lr=%.17g, betas=(%.17g, %.17g), eps=%.17g, "
                "weight_decay=%.17g, momentum_decay=%.17g%s, foreach=False)"
                % (lr, betas[0], betas[1], hp["eps"], wd, hp["momentum_decay"], extra))
    if kind == "radam":
        kw = dict(lr=lr, betas=betas, eps=hp["eps"], weight_decay=wd, foreach=False)
        extra = ""
        if hp["decoupled_weight_decay"]:
            kw["decoupled_weight_decay"] = True
            extra = ", decoupled_weight_decay=True"
        return (torch.optim.RAdam([p], **kw),
                "torch.optim.RAdam([w], lr=%.17g, betas=(%.17g, %.17g), eps=%.17g, "
                "weight_decay=%.17g%s, foreach=False)"
                % (lr, betas[0], betas[1], hp["eps"], wd, extra))
    raise ValueError(kind)


class Lars:
    """Hand-written LARS (see the module docstring); torch tensor ops only."""

    def __init__(self, p, hp):
        self.p, self.hp = p, hp
        self.state = {"momentum_buffer": torch.zeros_like(p)}

    def step(self):
        hp, w = self.hp, self.p.data
        g = self.p.grad
        wd = hp["weight_decay"]
        d = g + wd * w
        wn, gn = torch.linalg.vector_norm(w), torch.linalg.vector_norm(g)
        if wn.item() > 0 and gn.item() > 0:
            trust = hp["trust_coefficient"] * wn / (gn + wd * wn)
        else:
            trust = torch.tensor(1.0)
        buf = self.state["momentum_buffer"]
        buf.mul_(hp["momentum"]).add_(trust * d)
        w.sub_(hp["lr"] * buf)


class Lamb:
    """Hand-written LAMB (see the module docstring); torch tensor ops only."""

    def __init__(self, p, hp):
        self.p, self.hp, self.t = p, hp, 0
        self.state = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}

    def step(self):
        hp, w = self.hp, self.p.data
        g = self.p.grad
        self.t += 1
        b1, b2 = hp["beta1"], hp["beta2"]
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        m.mul_(b1).add_((1 - b1) * g)
        v.mul_(b2).add_((1 - b2) * g * g)
        mhat = m / (1 - b1 ** self.t)
        vhat = v / (1 - b2 ** self.t)
        u = mhat / (torch.sqrt(vhat) + hp["eps"]) + hp["weight_decay"] * w
        wn, un = torch.linalg.vector_norm(w), torch.linalg.vector_norm(u)
        if wn.item() > 0 and un.item() > 0:
            r = wn / un
        else:
            r = torch.tensor(1.0)
        w.sub_(hp["lr"] * r * u)


def run_optimizer(kind, hp, size, seed, steps, param_steps, state_steps):
    p = torch.nn.Parameter(torch.tensor(uniform_list(seed, size), dtype=F64))
    if kind == "lars":
        opt, call = Lars(p, hp), "hand-written LARS (docstring), lr=%.17g, momentum=%.17g, " \
            "weight_decay=%.17g, trust_coefficient=%.17g" % (
                hp["lr"], hp["momentum"], hp["weight_decay"], hp["trust_coefficient"])
    elif kind == "lamb":
        opt, call = Lamb(p, hp), "hand-written LAMB (docstring), lr=%.17g, betas=(%.17g, " \
            "%.17g), eps=%.17g, weight_decay=%.17g" % (
                hp["lr"], hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"])
    else:
        opt, call = make_torch_opt(kind, p, hp)
    if hp["max_grad_norm"] > 0:
        call = ("torch.nn.utils.clip_grad_norm_([w], max_norm=%.17g) before each step; "
                % hp["max_grad_norm"]) + call
    arrays = []
    for t in range(1, steps + 1):
        p.grad = torch.tensor(uniform_list(seed + t, size, 0.5), dtype=F64)
        if hp["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_([p], max_norm=hp["max_grad_norm"])
        opt.step()
        if t in param_steps:
            arrays.append(("param_%d" % t, p.detach().clone()))
        if t in state_steps:
            st = opt.state if kind in ("lars", "lamb") else opt.state[p]
            for sname in OPT_STATES[kind]:
                if sname in st and st[sname] is not None:
                    arrays.append(("%s_%d" % (sname, t), st[sname].detach().clone()))
    return call, arrays


def gen_optim(path):
    w = Writer(path, "cltrain golden optimizers")
    skipped = []
    seed = 9000
    todo = []
    for name, kind, over in OPT_CASES:
        for size in SIZES:
            todo.append((name, kind, over, size))
    for name, kind, over, size in todo + [(n, k, o, BIG_SIZE) for n, k, o in
                                           [c for c in OPT_CASES if c[0] in BIG_CASES]]:
        hp = dict(OPT_FIELDS[kind])
        hp.update(over)
        hp.setdefault("max_grad_norm", 0.0)
        for k in hp:
            if isinstance(hp[k], float):
                hp[k] = f32(hp[k])
        if hp.get("decoupled_weight_decay"):
            cls = torch.optim.NAdam if kind == "nadam" else torch.optim.RAdam
            if not torch_supports(cls, {"decoupled_weight_decay": True}):
                if name not in skipped:
                    skipped.append(name)
                continue
        seed += 100
        if size < 4097:
            ps = ss = set(range(1, STEPS + 1))
        elif size == 4097:
            normed = kind in ("lars", "lamb") or hp["max_grad_norm"] > 0
            ps = set(SIZE4097_NORM_PARAM_STEPS if normed else SIZE4097_PARAM_STEPS)
            ss = set(SIZE4097_STATE_STEPS)
        else:
            ps = ss = {STEPS}
        call, arrays = run_optimizer(kind, hp, size, seed, STEPS, ps, ss)
        params = {"kind": OPT_KIND[kind], "size": size, "seed": seed, "steps": STEPS}
        params.update(hp)
        w.case("%s_%d" % (name, size), call, params, arrays)
    return w.count, w.close(), skipped


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    print("torch %s" % torch.__version__)
    for s, i in ((0, 0), (42, 7), (12345, 1000000)):
        print("golden_uniform(%d, %d) = %.17g" % (s, i, golden_uniform(s, i)))
    n, sz = gen_losses(os.path.join(outdir, "losses.txt.gz"))
    print("losses.txt.gz: %d cases, %d bytes" % (n, sz))
    n, sz = gen_linear(os.path.join(outdir, "linear.txt.gz"))
    print("linear.txt.gz: %d cases, %d bytes" % (n, sz))
    n, sz, skipped = gen_optim(os.path.join(outdir, "optim.txt.gz"))
    print("optim.txt.gz: %d cases, %d bytes" % (n, sz))
    for name in skipped:
        print("skipped %s: torch %s does not support decoupled_weight_decay"
              % (name, torch.__version__))


if __name__ == "__main__":
    main()
