#!/usr/bin/python3
"""The peers a user would pick instead of cltrain, measured in the same run
and on the same number of threads: numpy (CS231n-style vectorized) and
PyTorch CPU (autograd, and a hand-written step without autograd).

Suites (records in the JSON format of bench/benchutil.h):
  step        one SGD training step of a linear classifier, softmax and
              hinge: scores, loss + gradient, weight gradient, L2, update
  optim       torch.optim steps on one flat parameter, effective GB/s from
              the bytes each update must move
  largebatch  the Fashion-MNIST large-batch recipe (bench/benchlib.py):
              seconds and epochs to 0.84 test accuracy, final accuracy,
              samples/s, and the loss curves

Run with Debian's /usr/bin/python3 (python3-numpy, python3-torch) and with
OPENBLAS_CORETYPE unset (scripts/bench does both): that variable forces
OpenBLAS's Haswell kernels, which run at about half speed on this machine.
"""
import argparse
import gzip
import inspect
import json
import math
import os
import sys
import time

# Bytes each update must move per parameter (float32): reads of p, g and
# every state buffer, writes of p and every state buffer.
OPTIM_BYTES = {
    "sgd": 12, "momentum": 20, "adagrad": 20, "rmsprop": 20,
    "adam": 28, "adamw": 28, "adamax": 28, "nadam": 28, "radam": 28,
    "adadelta": 28,
}

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small subset")
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    ap.add_argument("--reps", type=int, help="timed repetitions (default 7, quick 5)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="threads for numpy's BLAS and PyTorch (default: all cores)")
    ap.add_argument("--suite", action="append", choices=["step", "optim", "largebatch"],
                    help="run only these suites (repeatable)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory with Fashion-MNIST's IDX files")
    a = ap.parse_args()
    if a.reps is None:
        a.reps = 5 if a.quick else 7
    if a.reps < 1 or a.threads < 1:
        ap.error("--reps and --threads must be positive")
    a.suite = a.suite or ["step", "optim", "largebatch"]
    return a


ARGS = parse_args()
# Before numpy and torch load OpenBLAS and OpenMP.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchlib import (RECIPE, RECIPE_EPOCHS, TARGET_ACCURACY, WARMUP_FRACTION,  # noqa: E402
                      Report, lr_scale, peak_lr, warmup_steps)

torch.set_num_threads(ARGS.threads)


def timed(fns, reps, warmup=1):
    """Times each of fns (a dict name -> callable) reps times, round-robin:
    on a shared machine a burst of load then hits every implementation
    alike, which keeps their ratios honest. Returns name -> seconds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


# ------------------------------------------------------------------ step
#
# One SGD step of a linear classifier, S = X W + b (X: N x D, W: D x C),
# loss = data loss + reg * sum(W^2). Hinge is the CS231n multiclass SVM with
# margin 1 (PyTorch's multi_margin_loss divides by C: multiplied back).

LR, REG = 1e-3, 1e-4


def numpy_step(X, y, W, b, loss):
    n = X.shape[0]
    rows = np.arange(n)

    def step():
        nonlocal W, b
        S = X.dot(W) + b
        if loss == "softmax":
            S -= S.max(axis=1, keepdims=True)
            np.exp(S, out=S)
            S /= S.sum(axis=1, keepdims=True)
            value = -np.log(S[rows, y]).mean() + REG * np.sum(W * W)
            dS = S
            dS[rows, y] -= 1
        else:
            correct = S[rows, y][:, None]
            margins = np.maximum(0, S - correct + 1)
            margins[rows, y] = 0
            value = margins.sum() / n + REG * np.sum(W * W)
            dS = (margins > 0).astype(np.float32)
            dS[rows, y] = -dS.sum(axis=1)
        dS /= n
        dW = X.T.dot(dS) + 2 * REG * W
        db = dS.sum(axis=0)
        W -= LR * dW
        b -= LR * db
        return value

    return step, lambda: W


def torch_manual_step(X, y, W, b, loss):
    n = X.shape[0]
    X, y, W, b = (torch.from_numpy(v) for v in (X, y, W, b))
    col = y.view(-1, 1)

    def step():
        with torch.no_grad():
            S = torch.addmm(b, X, W)
            Wf = W.view(-1)
            if loss == "softmax":
                logp = torch.log_softmax(S, dim=1)
                value = -logp.gather(1, col).mean() + REG * torch.dot(Wf, Wf)
                dS = logp.exp_()
                dS.scatter_add_(1, col, torch.full_like(col, -1, dtype=dS.dtype))
            else:
                margins = (S - S.gather(1, col) + 1).clamp_(min=0)
                margins.scatter_(1, col, 0)
                value = margins.sum() / n + REG * torch.dot(Wf, Wf)
                dS = (margins > 0).to(S.dtype)
                dS.scatter_(1, col, -dS.sum(dim=1, keepdim=True))
            dS.mul_(1.0 / n)
            dW = torch.mm(X.t(), dS).add_(W, alpha=2 * REG)
            W.add_(dW, alpha=-LR)
            b.add_(dS.sum(dim=0), alpha=-LR)
            return value

    return step, lambda: W.numpy()


def torch_autograd_step(X, y, W, b, loss):
    """What a PyTorch user writes: nn.Linear, a functional loss, optim.SGD
    with weight decay for the L2 term."""
    X, y = torch.from_numpy(X), torch.from_numpy(y).long()
    d, c = W.shape
    model = torch.nn.Linear(d, c)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W).t())
        model.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD([{"params": [model.weight], "weight_decay": 2 * REG},
                           {"params": [model.bias], "weight_decay": 0.0}], lr=LR)

    def step():
        S = model(X)
        if loss == "softmax":
            value = F.cross_entropy(S, y)
        else:
            value = F.multi_margin_loss(S, y) * c
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        return value

    return step, lambda: model.weight.detach().t().numpy()


STEP_IMPLS = {"numpy": numpy_step, "torch-manual": torch_manual_step,
              "torch-autograd": torch_autograd_step}


def check_steps(deltas, shape):
    """The implementations must compute the same update (validates before
    timing: each impl's first, untimed step starts from the same W)."""
    ref_name, ref = next(iter(deltas.items()))
    scale = float(np.abs(ref).max()) or 1.0
    for name, dlt in deltas.items():
        err = float(np.abs(dlt - ref).max())
        if err > 2e-3 * scale + 1e-9:
            sys.exit(f"peers.py: {name} and {ref_name} disagree on the step at "
                     f"{shape}: max |dW difference| {err:g} vs max |dW| {scale:g}")


def suite_step(rep, args):
    if args.quick:
        shapes = [(4096, 784, 10), (16384, 784, 10), (4096, 784, 1000)]
    else:
        shapes = [(n, d, c) for c in (10, 1000) for d in (784, 3072)
                  for n in (1024, 4096, 16384, 65536)]
    rng = np.random.default_rng(0)
    data = {}
    for d in sorted({s[1] for s in shapes}):
        nmax = max(s[0] for s in shapes if s[1] == d)
        data[d] = (rng.standard_normal((nmax, d), dtype=np.float32),
                   rng.integers(0, 1000, nmax).astype(np.int64))
    for n, d, c in shapes:
        X, labels = data[d][0][:n], data[d][1][:n] % c
        W0 = 1e-3 * rng.standard_normal((d, c), dtype=np.float32)
        for loss in ("softmax", "hinge"):
            deltas, steps = {}, {}
            for name, make in STEP_IMPLS.items():
                step, weights = make(X, labels, W0.copy(), np.zeros(c, np.float32), loss)
                step()  # warm-up: allocations, thread start
                deltas[name] = (W0 - weights()) / LR
                steps[name] = step
            check_steps(deltas, (n, d, c))
            for name, t in timed(steps, args.reps, warmup=0).items():
                rep.add("step", f"step_{loss}", name, t, floor="step",
                        samples=n, n=n, d=d, c=c)


# ----------------------------------------------------------------- optim

OPTIM_CLASSES = {
    "sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW, "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop, "adadelta": torch.optim.Adadelta,
    "adamax": torch.optim.Adamax, "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam,
}


def optim_variants(op):
    """(impl, foreach) pairs: both code paths where this torch has the flag."""
    if "foreach" in inspect.signature(OPTIM_CLASSES[op].__init__).parameters:
        return [("torch-foreach", True), ("torch-forloop", False)]
    return [("torch", None)]


def make_optimizer(op, params, foreach):
    kw = {"lr": 1e-3}
    if op == "momentum":
        kw["momentum"] = 0.9
    if foreach is not None:
        kw["foreach"] = foreach
    return OPTIM_CLASSES[op](params, **kw)


def suite_optim(rep, args):
    if args.quick:
        sizes, ops = [1 << 24], ["momentum", "adam", "adamw"]
    else:
        sizes, ops = [1 << 20, 1 << 24, 1 << 26], list(OPTIM_BYTES)
    gen = torch.Generator().manual_seed(0)
    for elems in sizes:
        init = 0.01 * torch.randn(elems, generator=gen)
        grad = 0.01 * torch.randn(elems, generator=gen)
        for op in ops:
            # One parameter per variant: each optimizer keeps its own state.
            params = {impl: torch.nn.Parameter(init.clone()) for impl, _ in
                      optim_variants(op)}
            opts = {}
            for impl, foreach in optim_variants(op):
                params[impl].grad = grad
                opts[impl] = make_optimizer(op, [params[impl]], foreach).step
            # Two warm-up steps: the first allocates the state.
            for impl, t in timed(opts, args.reps, warmup=2).items():
                rep.add("optim", op, impl, t, floor="axpy",
                        bytes=OPTIM_BYTES[op] * elems, elems=elems)
            del opts, params


# ------------------------------------------------------------ largebatch

def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\0\0" or raw[2] != 8:
        sys.exit(f"peers.py: {path}: not an unsigned-byte IDX file")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load_fashion_mnist(root):
    part = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img = read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
        lab = read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
        part[split] = (img.reshape(len(img), -1).astype(np.float32) / 255, lab.astype(np.int64))
    mean = part["train"][0].mean(axis=0)
    std = part["train"][0].std(axis=0)
    std[std == 0] = 1
    return {k: (torch.from_numpy((x - mean) / std), torch.from_numpy(y))
            for k, (x, y) in part.items()}


def train_run(data, optim, batch, epochs, seed, stop_at_target=False):
    """One run of the recipe: (seconds, epochs) to the target or None if
    never reached, final accuracy, seconds of the run, the curve."""
    xtr, ytr = data["train"]
    xte, yte = data["test"]
    n, d = xtr.shape
    torch.manual_seed(seed)
    model = torch.nn.Linear(d, 10)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    cfg = RECIPE[optim]
    peak = peak_lr(optim, batch)
    if optim == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=cfg["weight_decay"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=peak, momentum=cfg["momentum"])
    per_epoch = math.ceil(n / batch)
    total = epochs * per_epoch
    warm = warmup_steps(total)
    gen = torch.Generator().manual_seed(seed)
    step, reached, curve, acc = 0, None, [], 0.0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=gen) if batch < n else None
        loss_sum = 0.0
        for first in range(0, n, batch):
            if perm is None:
                xb, yb = xtr, ytr
            else:
                idx = perm[first:first + batch]
                xb, yb = xtr[idx], ytr[idx]
            for group in opt.param_groups:
                group["lr"] = peak * lr_scale(step, warm, total)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(yb)
            step += 1
        with torch.no_grad():
            out = model(xte)
            test_loss = F.cross_entropy(out, yte).item()
            acc = (out.argmax(dim=1) == yte).float().mean().item()
        seconds = time.perf_counter() - t0
        curve.append([seconds, loss_sum / n, test_loss, acc])
        if reached is None and acc >= TARGET_ACCURACY:
            reached = (seconds, epoch)
            if stop_at_target:
                break
    return reached, acc, time.perf_counter() - t0, curve


def suite_largebatch(rep, args):
    data = load_fashion_mnist(args.data)
    # --quick: one configuration, stopped at the target.
    if args.quick:
        runs, reps = [("momentum", 4096)], 1
    else:
        runs = [(o, b) for o in RECIPE for b in RECIPE_EPOCHS]
        reps = min(args.reps, 3)
    rep.note("largebatch_recipe", json.dumps({
        "optimizers": RECIPE, "warmup_fraction": WARMUP_FRACTION, "epochs": RECIPE_EPOCHS,
        "target": TARGET_ACCURACY, "stopped_at_target": args.quick}))
    for optim, batch in runs:
        epochs = RECIPE_EPOCHS[batch]
        results = [train_run(data, optim, batch, epochs, seed, stop_at_target=args.quick)
                   for seed in range(reps)]
        impl = "torch"
        hit = [r[0] for r in results if r[0]]
        extra = {"optimizer": optim, "epochs": epochs, "lr": peak_lr(optim, batch),
                 "final_accuracy": [r[1] for r in results],
                 "reached": len(hit), "runs": reps,
                 "epochs_to_target": [h[1] for h in hit]}
        trained = [len(r[3]) * len(data["train"][1]) for r in results]
        rep.add("largebatch", "fmnist_throughput", impl, [r[2] for r in results],
                samples=trained[0], extra=extra, variant=optim, batch=batch)
        if hit:
            rep.add("largebatch", "fmnist_time_to_084", impl, [h[0] for h in hit],
                    extra=extra, variant=optim, batch=batch)
        print(f"# {impl} {optim} batch {batch}, lr {extra['lr']:.4g}: {TARGET_ACCURACY} reached in "
              f"{len(hit)} of {reps} runs, at epochs {extra['epochs_to_target']} of {epochs}; "
              f"final accuracy {', '.join(f'{a:.4f}' for a in extra['final_accuracy'])}",
              flush=True)
        rep.curves.append({"impl": "torch", "optimizer": optim, "batch": batch,
                           "columns": ["seconds", "train_loss", "test_loss", "test_accuracy"],
                           "points": results[0][3]})


def blas_libraries():
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() or "lapack" in line.lower()}
    return ", ".join(sorted(os.path.basename(x) for x in libs if x.startswith("/")))


def main():
    rep = Report("peers.py")
    with open("/proc/loadavg") as f:
        rep.note("loadavg_at_start", f.read().strip())
    rep.note("threads", f"{ARGS.threads} (torch.set_num_threads, OPENBLAS_NUM_THREADS, "
                        "OMP_NUM_THREADS)")
    rep.note("versions", f"python {sys.version.split()[0]}, numpy {np.__version__}, "
                         f"torch {torch.__version__}")
    rep.note("blas_loaded", blas_libraries())
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    rep.note("OPENBLAS_CORETYPE", coretype or "unset")
    if coretype:
        print(f"peers.py: warning: OPENBLAS_CORETYPE={coretype} forces OpenBLAS's kernels for "
              "that core (about half speed here); scripts/bench unsets it", file=sys.stderr)
    suites = {"step": suite_step, "optim": suite_optim, "largebatch": suite_largebatch}
    for name in ARGS.suite:
        suites[name](rep, ARGS)
    if ARGS.json:
        rep.write(ARGS.json, ARGS.quick)


if __name__ == "__main__":
    main()
