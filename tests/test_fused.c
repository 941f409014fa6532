/* clt_linear_loss_grad (host/fused.c, kernels/step.cl) on every backend
   against (a) a double-precision evaluation of the same math on the host
   (S = X W + b in double, clt_ref_loss_f64 for the loss and dS,
   dW = X^T dS + l1 sign(W) + l2 W, db = colsum dS, penalty by
   clt_reg_term) and (b) the composition of the separate public ops on the
   same device (clt_linear_forward, clt_loss, clt_linear_backward,
   clt_regularize), at N in {1, 7, 93, 1000, 4097}, D in {1, 13, 784},
   C in {1, 2, 10, 17, 32} (the fused kernels) and 1000 (the composition),
   for cross-entropy and hinge with every option, with and without b and
   L1/L2, always through row views at nonzero offsets whose neighbouring
   rows must stay untouched. Then the dispatch, determinism, stability,
   bad input, non-finite values, and clt_linear_loss_grad_rows (host/fused.h:
   the batch read through an index), which must give the same bits as the
   op on the rows gathered explicitly.

   Tolerances. Every dW element is a float32 sum over N rows of X[n,d]
   dS[n,c], every score a float32 sum over D; float32 rounding errs by
   ~6e-8 of the running magnitude per addition, so we scale by
   mag[d,c] = sum_n |X[n,d] dS[n,c]| (+ the penalty term's size), which
   bounds how much cancellation can amplify it:
     vs the double reference   |dev - ref| <= 1e-5 mag + 1e-30,
                               loss within 1e-5 relative (+1e-6);
     vs the composition        the same: the fused kernels compute the
                               scores with the same float16 loops but sum
                               dW and db over different row blocks (up to
                               1024 rows in sequence: typically
                               sqrt(1024) 2^-24 = 2e-6 of mag, several
                               times that when the terms share a sign, as
                               hinge's multiples of 1/N do); the loss
                               within 2e-6 relative (+1e-7).
   The worst seen on POCL: ~5e-6 mag (db, hinge, N=1000) for either. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fused.h"
#include "loss_impl.h"
#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 777.25f
#define PAD 2 /* rows before every view; one after */

static const size_t NS[] = {1, 7, 93, 1000, 4097};
static const size_t DS[] = {1, 13, 784};
static const size_t FUSED_CS[] = {2, 10, 17, 32};

/* ------------------------------------------------------------ problems */

typedef struct cfg {
  const char *name;
  clt_loss_desc desc; /* class_weight set per problem */
  int weights;        /* random class weights in [0.1, 2) */
  int ignore_every;   /* every k-th row labelled ignore_index (0: none) */
  int bias;
  clt_reg_desc reg;
} cfg;

static cfg ce(const char *name) {
  return (cfg){name, clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY), 0, 0, 1, {0, 0}};
}
static cfg hinge(const char *name) {
  return (cfg){name, clt_loss_defaults(CLT_LOSS_HINGE), 0, 0, 1, {0, 0}};
}

typedef struct problem {
  size_t n, d, c;
  float *X, *W, *b, *cw;
  int32_t *y;
} problem;

static float *alloc_f(size_t n) {
  float *x = malloc((n ? n : 1) * sizeof *x);
  cr_assert_not_null(x);
  return x;
}

static problem make_problem(const cfg *cf, size_t n, size_t d, size_t c,
                            uint64_t seed) {
  problem p = {n, d, c, alloc_f(n * d), alloc_f(d * c), alloc_f(c),
               alloc_f(c), malloc(n * sizeof(int32_t))};
  cr_assert_not_null(p.y);
  tu_fill_uniform(p.X, n * d, seed, -1.0f, 1.0f);
  /* Scores of order 1 at every D. */
  float w = 2.0f / sqrtf((float)d);
  tu_fill_uniform(p.W, d * c, seed + 1, -w, w);
  tu_fill_uniform(p.b, c, seed + 2, -1.0f, 1.0f);
  tu_fill_uniform(p.cw, c, seed + 3, 0.1f, 2.0f);
  tu_fill_labels(p.y, n, seed + 4, (int32_t)c);
  for (size_t i = 0; cf->ignore_every && i < n; i++)
    if (i % (size_t)cf->ignore_every == 1) p.y[i] = cf->desc.ignore_index;
  return p;
}

static void free_problem(problem *p) {
  free(p->X), free(p->W), free(p->b), free(p->cw), free(p->y);
}

/* The expected values in double; mag: see the tolerances above. */
typedef struct expect {
  double loss, *dW, *db, *magW, *magb;
} expect;

static expect reference(const cfg *cf, const problem *p) {
  size_t n = p->n, d = p->d, c = p->c;
  expect e = {0, calloc(d * c, sizeof(double)), calloc(c, sizeof(double)),
              calloc(d * c, sizeof(double)), calloc(c, sizeof(double))};
  double *S = malloc(n * c * sizeof *S), *dS = malloc(n * c * sizeof *dS);
  cr_assert(e.dW && e.db && e.magW && e.magb && S && dS);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < c; j++) {
      double s = cf->bias ? p->b[j] : 0.0;
      for (size_t k = 0; k < d; k++) s += (double)p->X[i * d + k] * p->W[k * c + j];
      S[i * c + j] = s;
    }
  clt_ref_loss_in in = {.desc = &cf->desc, .n = n, .c = c, .labels = p->y,
                        .class_weight = cf->weights ? p->cw : NULL};
  e.loss = clt_ref_loss_f64(&in, S, dS);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < c; j++) {
      double g = dS[i * c + j];
      e.db[j] += g, e.magb[j] += fabs(g);
      for (size_t k = 0; k < d; k++) {
        e.dW[k * c + j] += (double)p->X[i * d + k] * g;
        e.magW[k * c + j] += fabs((double)p->X[i * d + k] * g);
      }
    }
  for (size_t k = 0; k < d * c; k++) {
    double g;
    e.loss += clt_reg_term(&cf->reg, p->W[k], &g);
    e.dW[k] += g;
    e.magW[k] += fabs(g);
  }
  free(S);
  free(dS);
  return e;
}

static void free_expect(expect *e) {
  free(e->dW), free(e->db), free(e->magW), free(e->magb);
}

/* ------------------------------------------------------ device tensors */

/* A (rows, cols) view at row PAD of a parent with a sentinel row before
   and after it; data NULL: an output, filled with NaN. */
typedef struct view {
  clt_tensor *parent, *t;
  size_t rows, cols;
  bool labels;
} view;

static view make_view(clt_context *ctx, size_t rows, size_t cols,
                      const void *data, bool labels) {
  size_t prow = rows + PAD + 1, n = prow * cols;
  view v = {NULL, NULL, rows, cols, labels};
  if (labels) {
    int32_t *h = malloc(n * sizeof *h);
    cr_assert_not_null(h);
    for (size_t i = 0; i < n; i++) h[i] = -7;
    memcpy(h + PAD * cols, data, rows * cols * sizeof *h);
    v.parent = tu_labels(ctx, prow, h);
    free(h);
  } else {
    float *h = alloc_f(n);
    for (size_t i = 0; i < n; i++) h[i] = SENTINEL;
    for (size_t i = 0; i < rows * cols; i++)
      h[PAD * cols + i] = data ? ((const float *)data)[i] : NAN;
    v.parent = tu_tensor(ctx, prow, cols, h);
    free(h);
  }
  cr_assert_eq(clt_tensor_view_rows(v.parent, PAD, rows, &v.t), CLT_OK);
  return v;
}

/* The view's contents; the parent's rows around it must be sentinels. */
static float *read_view(const view *v) {
  float *all = tu_read(v->parent), *out = alloc_f(v->rows * v->cols);
  size_t before = PAD * v->cols, after = (PAD + v->rows) * v->cols;
  for (size_t i = 0; i < before; i++)
    cr_assert_eq(all[i], SENTINEL, "row before the view written at %zu", i);
  for (size_t i = after; i < after + v->cols; i++)
    cr_assert_eq(all[i], SENTINEL, "row after the view written at %zu", i);
  memcpy(out, all + before, v->rows * v->cols * sizeof *out);
  free(all);
  return out;
}

static void free_view(view *v) {
  clt_tensor_destroy(v->t);
  clt_tensor_destroy(v->parent);
}

typedef struct inputs {
  view X, y, W, b, cw, dW, db;
  clt_loss_desc desc;
} inputs;

static inputs upload(clt_context *ctx, const cfg *cf, const problem *p) {
  inputs in = {.desc = cf->desc};
  in.X = make_view(ctx, p->n, p->d, p->X, false);
  in.y = make_view(ctx, p->n, 1, p->y, true);
  in.W = make_view(ctx, p->d, p->c, p->W, false);
  in.dW = make_view(ctx, p->d, p->c, NULL, false);
  if (cf->bias) {
    in.b = make_view(ctx, 1, p->c, p->b, false);
    in.db = make_view(ctx, 1, p->c, NULL, false);
  }
  if (cf->weights) {
    in.cw = make_view(ctx, 1, p->c, p->cw, false);
    in.desc.class_weight = in.cw.t;
  }
  return in;
}

static void free_inputs(inputs *in) {
  view *all[] = {&in->X, &in->y, &in->W, &in->b, &in->cw, &in->dW, &in->db};
  for (size_t i = 0; i < LEN(all); i++) free_view(all[i]);
}

typedef struct result {
  clt_status st;
  double loss;
  float *dW, *db;
} result;

static void free_result(result *r) { free(r->dW), free(r->db); }

/* The op under test, or (compose) the separate public ops. */
static result run(clt_context *ctx, const cfg *cf, inputs *in, bool compose) {
  result r = {CLT_OK, 0, NULL, NULL};
  const clt_reg_desc *reg = &cf->reg;
  if (!compose) {
    r.st = clt_linear_loss_grad(ctx, &in->desc, reg, in->X.t, in->y.t, in->W.t,
                                in->b.t, &r.loss, in->dW.t, in->db.t);
  } else {
    clt_tensor *S = tu_tensor(ctx, in->X.rows, in->W.cols, NULL);
    clt_tensor *dS = tu_tensor(ctx, in->X.rows, in->W.cols, NULL);
    double pen = 0;
    r.st = clt_linear_forward(ctx, in->X.t, in->W.t, in->b.t, S);
    if (r.st == CLT_OK) r.st = clt_loss(ctx, &in->desc, S, in->y.t, &r.loss, dS);
    if (r.st == CLT_OK)
      r.st = clt_linear_backward(ctx, in->X.t, in->W.t, dS, in->dW.t, in->db.t, NULL);
    if (r.st == CLT_OK) r.st = clt_regularize(ctx, reg, in->W.t, &pen, in->dW.t);
    r.loss += pen;
    clt_tensor_destroy(S);
    clt_tensor_destroy(dS);
  }
  r.dW = read_view(&in->dW);
  if (cf->bias) r.db = read_view(&in->db);
  return r;
}

static void expect_scaled(const char *what, const float *got,
                          const double *want, const double *mag, size_t n,
                          double k) {
  for (size_t i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= k * mag[i] + 1e-30))
      cr_assert_fail("%s[%zu]: got %.9g, want %.9g (|diff| %.3g > %.3g * mag "
                     "%.3g)",
                     what, i, (double)got[i], want[i], fabs(got[i] - want[i]),
                     k, mag[i]);
}

static void expect_close_to(const char *what, const result *r, const expect *e,
                            const double *dW, const double *db, double k,
                            const problem *p, const cfg *cf) {
  char name[160];
  snprintf(name, sizeof name, "%s %s N=%zu D=%zu C=%zu dW", what, cf->name,
           p->n, p->d, p->c);
  expect_scaled(name, r->dW, dW, e->magW, p->d * p->c, k);
  if (cf->bias) {
    snprintf(name, sizeof name, "%s %s N=%zu D=%zu C=%zu db", what, cf->name,
             p->n, p->d, p->c);
    expect_scaled(name, r->db, db, e->magb, p->c, k);
  }
}

/* The op and the composition on ctx against the reference and each
   other. */
static void check_problem(clt_context *ctx, const cfg *cf, size_t n, size_t d,
                          size_t c, uint64_t seed) {
  problem p = make_problem(cf, n, d, c, seed);
  expect e = reference(cf, &p);
  inputs in = upload(ctx, cf, &p);
  result op = run(ctx, cf, &in, false), comp = run(ctx, cf, &in, true);
  const char *dev = clt_context_device_name(ctx);
  cr_assert_eq(op.st, CLT_OK, "%s %s N=%zu D=%zu C=%zu: %s: %s", dev, cf->name,
               n, d, c, clt_status_str(op.st), clt_last_error(ctx));
  cr_assert_eq(comp.st, CLT_OK, "composition: %s", clt_last_error(ctx));
  cr_assert(fabs(op.loss - e.loss) <= 1e-5 * fabs(e.loss) + 1e-6,
            "%s %s N=%zu D=%zu C=%zu: loss %.9g, reference %.9g", dev,
            cf->name, n, d, c, op.loss, e.loss);
  cr_assert(fabs(op.loss - comp.loss) <= 2e-6 * fabs(comp.loss) + 1e-7,
            "%s %s N=%zu D=%zu C=%zu: loss %.9g, composition %.9g", dev,
            cf->name, n, d, c, op.loss, comp.loss);
  expect_close_to("vs reference", &op, &e, e.dW, e.db, 1e-5, &p, cf);
  double *cdW = malloc(d * c * sizeof *cdW), *cdb = malloc(c * sizeof *cdb);
  cr_assert(cdW && cdb);
  for (size_t i = 0; i < d * c; i++) cdW[i] = comp.dW[i];
  for (size_t i = 0; cf->bias && i < c; i++) cdb[i] = comp.db[i];
  expect_close_to("vs composition", &op, &e, cdW, cdb, 1e-5, &p, cf);
  free(cdW), free(cdb);
  free_result(&op), free_result(&comp);
  free_inputs(&in);
  free_expect(&e);
  free_problem(&p);
}

/* Runs body once per backend with a fresh context. */
#define FOR_DEVICES(ctx)                                                      \
  const char *specs_[2];                                                      \
  size_t ndev_ = tu_devices(specs_);                                          \
  for (size_t dv_ = 0; dv_ < ndev_; dv_++)                                    \
    for (clt_context *ctx = tu_context(specs_[dv_]); ctx;                     \
         clt_context_destroy(ctx), ctx = NULL)

/* ------------------------------------------------------------- shapes */

Test(fused, shapes_match_reference_and_composition, .timeout = 600) {
  FOR_DEVICES(ctx) {
    uint64_t seed = 100;
    for (size_t ni = 0; ni < LEN(NS); ni++)
      for (size_t di = 0; di < LEN(DS); di++)
        for (size_t ci = 0; ci < LEN(FUSED_CS); ci++, seed += 10) {
          /* Bias and regularization vary with the shape. */
          cfg cf[2] = {ce("cross-entropy"), hinge("hinge")};
          for (int k = 0; k < 2; k++) {
            cf[k].bias = (seed / 10 + (uint64_t)k) % 2 == 0;
            if (seed % 30 == 0) cf[k].reg = (clt_reg_desc){1e-3f, 1e-2f};
            check_problem(ctx, &cf[k], NS[ni], DS[di], FUSED_CS[ci], seed);
          }
        }
  }
}

Test(fused, one_class_and_many_classes, .timeout = 300) {
  static const size_t shapes[][3] = {{1, 1, 1},      {93, 13, 1},
                                     {1000, 784, 1}, {7, 784, 1000},
                                     {93, 13, 1000}, {1000, 13, 1000}};
  FOR_DEVICES(ctx) {
    for (size_t s = 0; s < LEN(shapes); s++) {
      cfg cf[2] = {ce("cross-entropy"), hinge("hinge")};
      for (int k = 0; k < 2; k++) {
        cf[k].reg = (clt_reg_desc){1e-3f * (float)(s % 2), 1e-2f};
        check_problem(ctx, &cf[k], shapes[s][0], shapes[s][1], shapes[s][2],
                      500 + s);
      }
    }
  }
}

/* ------------------------------------------------------------ options */

static cfg option(int k) {
  cfg c;
  switch (k) {
  case 0: c = ce("ce class_weight"); c.weights = 1; break;
  case 1: c = ce("ce smoothing 0.1"); c.desc.label_smoothing = 0.1f; break;
  case 2: c = ce("ce ignore -100"); c.ignore_every = 3; break;
  case 3: c = ce("ce ignore_index 1 inside [0,C)"); c.desc.ignore_index = 1; break;
  case 4: c = ce("ce sum"); c.desc.reduction = CLT_REDUCTION_SUM; break;
  case 5:
    c = ce("ce weights+smoothing+ignore, l1");
    c.weights = 1, c.desc.label_smoothing = 0.2f, c.ignore_every = 4;
    c.reg = (clt_reg_desc){1e-2f, 0};
    break;
  case 6: c = ce("ce smoothing 1"); c.desc.label_smoothing = 1.0f; break;
  case 7: c = hinge("hinge class_weight"); c.weights = 1; break;
  case 8: c = hinge("hinge margin 0.3"); c.desc.margin = 0.3f; break;
  case 9: c = hinge("hinge p 2"); c.desc.p = 2; break;
  case 10: c = hinge("hinge margin 0"); c.desc.margin = 0.0f; break;
  case 11: c = hinge("hinge sum"); c.desc.reduction = CLT_REDUCTION_SUM; break;
  default:
    c = hinge("hinge p 2 weights sum, l1+l2");
    c.desc.p = 2, c.weights = 1, c.desc.reduction = CLT_REDUCTION_SUM;
    c.reg = (clt_reg_desc){1e-3f, 1e-3f};
    break;
  }
  return c;
}

Test(fused, every_option_matches_reference_and_composition, .timeout = 600) {
  static const size_t shapes[][3] = {{1000, 13, 10}, {93, 784, 17}, {7, 13, 32}};
  FOR_DEVICES(ctx) {
    for (int k = 0; k <= 12; k++)
      for (size_t s = 0; s < LEN(shapes); s++)
        for (int bias = 0; bias < 2; bias++) {
          cfg cf = option(k);
          cf.bias = bias;
          check_problem(ctx, &cf, shapes[s][0], shapes[s][1], shapes[s][2],
                        1000 + 10 * (uint64_t)k + s);
        }
  }
}

/* ----------------------------------------------------------- dispatch */

/* Under the cpu profile the fused kernels take C <= 32 and C*D <= 65536
   with labels on OpenCL; the gpu and generic profiles take C <= 32 at any
   D, in their GPU-shaped form (host/cl/cl_profile.c). The fused kernels
   need no workspace, while the composition keeps S and dS in workspace
   slots. */
Test(fused, few_classes_take_the_fused_kernels) {
  if (!tu_have_opencl()) return;
  static const struct {
    size_t c, d;
    clt_loss_kind kind;
    bool fused_cpu, fused_gpu;
  } cases[] = {{10, 13, CLT_LOSS_CROSS_ENTROPY, true, true},
               {32, 13, CLT_LOSS_HINGE, true, true},
               {32, 2048, CLT_LOSS_HINGE, true, true},
               {32, 2049, CLT_LOSS_HINGE, false, true},
               {33, 13, CLT_LOSS_CROSS_ENTROPY, false, false},
               {10, 13, CLT_LOSS_MSE, false, false}};
  for (size_t k = 0; k < LEN(cases); k++) {
    clt_context *ctx = tu_context("cl");
    cfg cf = ce("dispatch");
    cf.desc.kind = cases[k].kind;
    problem p = make_problem(&cf, 93, cases[k].d, cases[k].c, 7);
    inputs in = upload(ctx, &cf, &p);
    clt_tensor *T = NULL;
    if (cases[k].kind == CLT_LOSS_MSE) T = tu_tensor(ctx, 93, cases[k].c, p.X);
    double loss;
    cr_assert_eq(clt_linear_loss_grad(ctx, &in.desc, NULL, in.X.t,
                                      T ? T : in.y.t, in.W.t, in.b.t, &loss,
                                      in.dW.t, in.db.t),
                 CLT_OK, "%s", clt_last_error(ctx));
    bool cpu = strcmp(clt_context_profile(ctx), "cpu") == 0;
    cr_assert_eq(ctx->work[0] == NULL, cpu ? cases[k].fused_cpu : cases[k].fused_gpu,
                 "C=%zu D=%zu kind %d (%s)",
                 cases[k].c, cases[k].d, (int)cases[k].kind, clt_context_profile(ctx));
    clt_tensor_destroy(T);
    free_inputs(&in);
    free_problem(&p);
    clt_context_destroy(ctx);
  }
}

Test(fused, repeated_calls_give_the_same_bits) {
  FOR_DEVICES(ctx) {
    cfg cf = ce("determinism");
    cf.reg = (clt_reg_desc){1e-3f, 1e-3f};
    problem p = make_problem(&cf, 4097, 784, 10, 3);
    inputs in = upload(ctx, &cf, &p);
    result a = run(ctx, &cf, &in, false), b = run(ctx, &cf, &in, false);
    cr_assert_eq(a.st, CLT_OK);
    cr_assert_eq(b.st, CLT_OK);
    cr_assert_eq(a.loss, b.loss);
    cr_assert_eq(memcmp(a.dW, b.dW, 784 * 10 * sizeof(float)), 0);
    cr_assert_eq(memcmp(a.db, b.db, 10 * sizeof(float)), 0);
    free_result(&a), free_result(&b);
    free_inputs(&in);
    free_problem(&p);
  }
}

/* ---------------------------------------------------------- stability */

/* Scores of +-1e4 (W scaled up): finite loss and gradient, equal to the
   composition's; a row whose true class scores -1e4 below the others. */
Test(fused, extreme_scores_stay_finite) {
  FOR_DEVICES(ctx) {
    for (int k = 0; k < 2; k++) {
      cfg cf = k ? hinge("hinge 1e4") : ce("ce 1e4");
      problem p = make_problem(&cf, 93, 13, 10, 11);
      for (size_t i = 0; i < 13 * 10; i++) p.W[i] *= 2e4f;
      inputs in = upload(ctx, &cf, &p);
      result op = run(ctx, &cf, &in, false), comp = run(ctx, &cf, &in, true);
      cr_assert_eq(op.st, CLT_OK, "%s", clt_last_error(ctx));
      cr_assert_eq(comp.st, CLT_OK, "%s", clt_last_error(ctx));
      cr_assert(isfinite(op.loss) && op.loss > 100, "loss %g", op.loss);
      cr_assert(fabs(op.loss - comp.loss) <= 1e-5 * fabs(comp.loss));
      for (size_t i = 0; i < 130; i++) cr_assert(isfinite(op.dW[i]));
      tu_expect_close_f(cf.name, op.dW, comp.dW, 130, 1e-3, 1e-5);
      tu_expect_close_f(cf.name, op.db, comp.db, 10, 1e-5, 1e-5);
      free_result(&op), free_result(&comp);
      free_inputs(&in);
      free_problem(&p);
    }
  }
}

/* W = 0, b = 0: log C and (C - 1) margin; regularization adds to it. */
Test(fused, zero_weights_give_log_c_and_c_minus_1_margin) {
  FOR_DEVICES(ctx) {
    for (int k = 0; k < 2; k++) {
      cfg cf = k ? hinge("hinge") : ce("ce");
      problem p = make_problem(&cf, 1000, 784, 10, 5);
      memset(p.W, 0, 784 * 10 * sizeof(float));
      memset(p.b, 0, 10 * sizeof(float));
      inputs in = upload(ctx, &cf, &p);
      result r = run(ctx, &cf, &in, false);
      cr_assert_eq(r.st, CLT_OK);
      double want = k ? 9.0 : log(10.0);
      cr_assert(fabs(r.loss - want) < 1e-5 * want, "%s: %.9g vs %.9g", cf.name,
                r.loss, want);
      free_result(&r);
      free_inputs(&in);
      free_problem(&p);
    }
  }
}

/* ---------------------------------------------------------- bad input */

/* The op's status with the outputs checked untouched (NaN as written by
   upload) and *loss untouched. */
static void expect_refused(clt_context *ctx, const clt_loss_desc *desc,
                           const clt_reg_desc *reg, inputs *in,
                           const clt_tensor *y, clt_status want,
                           const char *what) {
  double loss = 42.0;
  clt_status st = clt_linear_loss_grad(ctx, desc, reg, in->X.t, y, in->W.t,
                                       in->b.t, &loss, in->dW.t, in->db.t);
  cr_assert_eq(st, want, "%s on %s: got %s (%s)", what,
               clt_context_device_name(ctx), clt_status_str(st),
               clt_last_error(ctx));
  cr_assert_eq(loss, 42.0, "%s: *loss written", what);
  float *dW = read_view(&in->dW), *db = read_view(&in->db);
  for (size_t i = 0; i < in->dW.rows * in->dW.cols; i++)
    cr_assert(isnan(dW[i]), "%s: dW[%zu] written", what, i);
  for (size_t i = 0; i < in->db.cols; i++)
    cr_assert(isnan(db[i]), "%s: db[%zu] written", what, i);
  free(dW), free(db);
}

Test(fused, labels_outside_the_classes_are_refused_and_change_nothing) {
  FOR_DEVICES(ctx) {
    for (size_t ci = 0; ci < 2; ci++) {
      size_t c = ci ? 1000 : 10; /* fused and composed */
      for (int k = 0; k < 2; k++) {
        cfg cf = k ? hinge("hinge") : ce("ce");
        problem p = make_problem(&cf, 93, 13, c, 9);
        static const int32_t bad[] = {-1, 1000000, -100};
        for (size_t b = 0; b < LEN(bad); b++) {
          if (!k && bad[b] == -100) continue; /* ce's ignore_index */
          p.y[50] = bad[b] == 1000000 ? (int32_t)c : bad[b];
          inputs in = upload(ctx, &cf, &p);
          expect_refused(ctx, &in.desc, NULL, &in, in.y.t, CLT_ERR_LABEL,
                         cf.name);
          cr_assert(strstr(clt_last_error(ctx), "row 50"), "%s",
                    clt_last_error(ctx));
          free_inputs(&in);
        }
        free_problem(&p);
      }
    }
  }
}

Test(fused, bad_arguments_are_refused_and_change_nothing) {
  FOR_DEVICES(ctx) {
    cfg cf = ce("ce");
    cf.weights = 1;
    problem p = make_problem(&cf, 7, 13, 10, 13);
    inputs in = upload(ctx, &cf, &p);
    clt_loss_desc d = in.desc;
    /* NULLs */
    double loss;
    cr_assert_eq(clt_linear_loss_grad(NULL, &d, NULL, in.X.t, in.y.t, in.W.t,
                                      in.b.t, &loss, in.dW.t, in.db.t),
                 CLT_ERR_INVALID_ARG);
    expect_refused(ctx, NULL, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "desc NULL");
    expect_refused(ctx, &d, NULL, &in, NULL, CLT_ERR_INVALID_ARG, "y NULL");
    cr_assert_eq(clt_linear_loss_grad(ctx, &d, NULL, NULL, in.y.t, in.W.t,
                                      in.b.t, &loss, in.dW.t, in.db.t),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_linear_loss_grad(ctx, &d, NULL, in.X.t, in.y.t, in.W.t,
                                      in.b.t, &loss, NULL, in.db.t),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_linear_loss_grad(ctx, &d, NULL, in.X.t, in.y.t, in.W.t,
                                      in.b.t, &loss, in.dW.t, NULL),
                 CLT_ERR_INVALID_ARG, "b without db");
    cr_assert_eq(clt_linear_loss_grad(ctx, &d, NULL, in.X.t, in.y.t, in.W.t,
                                      NULL, &loss, in.dW.t, in.db.t),
                 CLT_ERR_INVALID_ARG, "db without b");
    /* dtypes and shapes */
    clt_tensor *yf = tu_tensor(ctx, 7, 1, NULL), *y8 = NULL, *cw9 = NULL;
    int32_t labels8[8] = {0};
    y8 = tu_labels(ctx, 8, labels8);
    cw9 = tu_tensor(ctx, 1, 9, p.cw);
    /* float targets are cross-entropy's soft targets: (N,C), not (N,1) */
    expect_refused(ctx, &d, NULL, &in, yf, CLT_ERR_SHAPE, "ce float 7x1 target");
    clt_loss_desc dh = clt_loss_defaults(CLT_LOSS_HINGE);
    expect_refused(ctx, &dh, NULL, &in, yf, CLT_ERR_DTYPE, "hinge float labels");
    expect_refused(ctx, &d, NULL, &in, y8, CLT_ERR_SHAPE, "8 labels for 7 rows");
    clt_loss_desc dcw = d;
    dcw.class_weight = cw9;
    expect_refused(ctx, &dcw, NULL, &in, in.y.t, CLT_ERR_SHAPE, "class_weight 1x9");
    dcw.class_weight = yf;
    expect_refused(ctx, &dcw, NULL, &in, in.y.t, CLT_ERR_SHAPE, "class_weight 7x1");
    /* hyper-parameters and weights */
    clt_loss_desc bad = d;
    bad.label_smoothing = NAN;
    expect_refused(ctx, &bad, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "smoothing NaN");
    bad = d, bad.reduction = CLT_REDUCTION_BATCHMEAN;
    expect_refused(ctx, &bad, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "batchmean");
    bad = d, bad.kind = CLT_LOSS_HINGE, bad.class_weight = NULL, bad.margin = -1;
    expect_refused(ctx, &bad, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "margin -1");
    bad.margin = 1, bad.p = 3;
    expect_refused(ctx, &bad, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "p 3");
    bad = d, bad.pos_weight = in.cw.t;
    expect_refused(ctx, &bad, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "pos_weight");
    clt_reg_desc nan_reg = {NAN, 0}, neg_reg = {0, -1};
    expect_refused(ctx, &d, &nan_reg, &in, in.y.t, CLT_ERR_INVALID_ARG, "l1 NaN");
    expect_refused(ctx, &d, &neg_reg, &in, in.y.t, CLT_ERR_INVALID_ARG, "l2 -1");
    float negw[10] = {1, 1, 1, -0.5f, 1, 1, 1, 1, 1, 1};
    clt_tensor *cwn = tu_tensor(ctx, 1, 10, negw);
    dcw.class_weight = cwn;
    expect_refused(ctx, &dcw, NULL, &in, in.y.t, CLT_ERR_INVALID_ARG, "weight -0.5");
    cr_assert(strstr(clt_last_error(ctx), "class_weight[3]"), "%s",
              clt_last_error(ctx));
    clt_tensor_destroy(cwn);
    clt_tensor_destroy(yf);
    clt_tensor_destroy(y8);
    clt_tensor_destroy(cw9);
    free_inputs(&in);
    free_problem(&p);
  }
}

Test(fused, wrong_shapes_and_dtypes_are_refused) {
  FOR_DEVICES(ctx) {
    cfg cf = hinge("hinge");
    problem p = make_problem(&cf, 7, 13, 10, 17);
    inputs in = upload(ctx, &cf, &p);
    clt_tensor *W12 = tu_tensor(ctx, 12, 10, NULL), *dW9 = tu_tensor(ctx, 13, 9, NULL);
    clt_tensor *b11 = tu_tensor(ctx, 1, 11, NULL), *Xi = NULL;
    int32_t zeros[7 * 13] = {0};
    cr_assert_eq(clt_tensor_create(ctx, 7, 13, CLT_INT32, &Xi), CLT_OK);
    cr_assert_eq(clt_tensor_write(Xi, zeros, sizeof zeros), CLT_OK);
    double loss = 42;
    struct {
      const clt_tensor *X, *W, *b;
      clt_tensor *dW, *db;
      clt_status want;
      const char *what;
    } cases[] = {
        {Xi, in.W.t, in.b.t, in.dW.t, in.db.t, CLT_ERR_DTYPE, "int32 X"},
        {in.X.t, W12, in.b.t, in.dW.t, in.db.t, CLT_ERR_SHAPE, "W 12x10"},
        {in.X.t, in.W.t, in.b.t, dW9, in.db.t, CLT_ERR_SHAPE, "dW 13x9"},
        {in.X.t, in.W.t, b11, in.dW.t, in.db.t, CLT_ERR_SHAPE, "b 1x11"},
        {in.X.t, in.W.t, in.b.t, in.dW.t, b11, CLT_ERR_SHAPE, "db 1x11"},
        {in.X.t, in.W.t, in.b.t, in.dW.t, in.X.parent, CLT_ERR_SHAPE, "db 10x13"},
    };
    for (size_t k = 0; k < LEN(cases); k++) {
      clt_status st = clt_linear_loss_grad(ctx, &in.desc, NULL, cases[k].X, in.y.t,
                                           cases[k].W, cases[k].b, &loss,
                                           cases[k].dW, cases[k].db);
      cr_assert_eq(st, cases[k].want, "%s: %s", cases[k].what, clt_status_str(st));
      cr_assert_eq(loss, 42);
    }
    float *dW = read_view(&in.dW);
    for (size_t i = 0; i < 130; i++) cr_assert(isnan(dW[i]));
    free(dW);
    clt_tensor_destroy(W12), clt_tensor_destroy(dW9), clt_tensor_destroy(b11);
    clt_tensor_destroy(Xi);
    free_inputs(&in);
    free_problem(&p);
  }
}

/* Outputs overlapping inputs or each other are refused before anything
   runs. */
Test(fused, overlapping_outputs_are_refused) {
  FOR_DEVICES(ctx) {
    cfg cf = ce("ce");
    problem p = make_problem(&cf, 13, 13, 13, 19);
    inputs in = upload(ctx, &cf, &p);
    clt_tensor *all = tu_tensor(ctx, 40, 13, NULL), *v[3];
    for (int k = 0; k < 3; k++)
      cr_assert_eq(clt_tensor_view_rows(all, (size_t)k * 13, 13, &v[k]), CLT_OK);
    clt_tensor *db_in_dW = NULL, *b_row = NULL;
    cr_assert_eq(clt_tensor_view_rows(v[1], 12, 1, &db_in_dW), CLT_OK);
    cr_assert_eq(clt_tensor_view_rows(all, 39, 1, &b_row), CLT_OK);
    double loss = 42;
    /* v[0] as X and dW; v[1] as W and dW; db inside dW; b as db */
    cr_assert_eq(clt_linear_loss_grad(ctx, &in.desc, NULL, v[0], in.y.t, in.W.t,
                                      NULL, &loss, v[0], NULL),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_linear_loss_grad(ctx, &in.desc, NULL, in.X.t, in.y.t, v[1],
                                      NULL, &loss, v[1], NULL),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_linear_loss_grad(ctx, &in.desc, NULL, in.X.t, in.y.t, in.W.t,
                                      b_row, &loss, v[1], db_in_dW),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_linear_loss_grad(ctx, &in.desc, NULL, in.X.t, in.y.t, in.W.t,
                                      b_row, &loss, v[2], b_row),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(loss, 42);
    cr_assert(strstr(clt_last_error(ctx), "overlaps"), "%s", clt_last_error(ctx));
    for (int k = 0; k < 3; k++) clt_tensor_destroy(v[k]);
    clt_tensor_destroy(db_in_dW), clt_tensor_destroy(b_row), clt_tensor_destroy(all);
    free_inputs(&in);
    free_problem(&p);
  }
}

/* ------------------------------------------------------- non-finite */

/* As clt_loss documents: CLT_ERR_NONFINITE, *loss holds the value, and the
   gradient has been written; the op and the composition agree. NaN in one
   row of X; every row ignored (MEAN over nothing: NaN, zero gradient). */
Test(fused, non_finite_losses_are_reported_with_the_gradient_written) {
  FOR_DEVICES(ctx) {
    for (int k = 0; k < 3; k++) {
      cfg cf = k == 1 ? hinge("hinge NaN row") : ce(k ? "ce all ignored" : "ce NaN row");
      if (k == 2) cf.ignore_every = 1;
      problem p = make_problem(&cf, 93, 13, 10, 23);
      if (k == 2)
        for (size_t i = 0; i < 93; i++) p.y[i] = -100;
      else
        p.X[40 * 13 + 5] = NAN;
      inputs in = upload(ctx, &cf, &p);
      double loss = 42;
      clt_status st = clt_linear_loss_grad(ctx, &in.desc, NULL, in.X.t, in.y.t,
                                           in.W.t, in.b.t, &loss, in.dW.t, in.db.t);
      cr_assert_eq(st, CLT_ERR_NONFINITE, "%s: %s", cf.name, clt_status_str(st));
      cr_assert(isnan(loss), "%s: loss %g", cf.name, loss);
      float *dW = read_view(&in.dW), *db = read_view(&in.db);
      if (k == 2) {
        for (size_t i = 0; i < 130; i++) cr_assert_eq(dW[i], 0.0f);
        for (size_t i = 0; i < 10; i++) cr_assert_eq(db[i], 0.0f);
      } else {
        /* X[40,5] = NaN reaches dW's row 5 (NaN times any dS); through
           the NaN scores, cross-entropy's dS row 40 is NaN too, hence
           every dW element and db (hinge's terms of a NaN margin get
           gradient 0). */
        for (size_t j = 0; j < 10; j++) cr_assert(isnan(dW[5 * 10 + j]), "%s", cf.name);
        cr_assert_eq(isnan(dW[0]) != 0, k == 0, "%s", cf.name);
        cr_assert_eq(isnan(db[0]) != 0, k == 0, "%s", cf.name);
      }
      free(dW), free(db);
      free_inputs(&in);
      free_problem(&p);
    }
  }
}

/* ------------------------------------------------- batches by index */

/* clt_linear_loss_grad_rows against clt_linear_loss_grad on the rows
   gathered explicitly: the same bits (same kernels, same data, same
   blocks), for the fused kernels and the composition (C = 1000, MSE). */
Test(fused, indexed_batches_match_the_op_on_gathered_rows, .timeout = 300) {
  static const struct {
    size_t c;
    clt_loss_kind kind;
  } cases[] = {{10, CLT_LOSS_CROSS_ENTROPY}, {32, CLT_LOSS_HINGE},
               {1000, CLT_LOSS_CROSS_ENTROPY}, {10, CLT_LOSS_MSE}};
  static const size_t batches[][2] = {{1, 0}, {93, 7}, {256, 300}};
  FOR_DEVICES(ctx) {
    for (size_t k = 0; k < LEN(cases); k++) {
      cfg cf = ce("rows");
      cf.desc.kind = cases[k].kind;
      cf.weights = cases[k].kind == CLT_LOSS_CROSS_ENTROPY;
      cf.reg = (clt_reg_desc){1e-3f * (float)(k % 2), 1e-2f};
      size_t c = cases[k].c, total = 600, d = 13 + 771 * (k % 2);
      problem p = make_problem(&cf, total, d, c, 40 + k);
      inputs in = upload(ctx, &cf, &p);
      bool labels = cases[k].kind != CLT_LOSS_MSE;
      clt_tensor *T = labels ? in.y.t : tu_tensor(ctx, total, c, NULL);
      if (!labels) {
        float *t = alloc_f(total * c);
        tu_fill_uniform(t, total * c, 9, -1.0f, 1.0f);
        cr_assert_eq(clt_tensor_write(T, t, total * c * 4), CLT_OK);
        free(t);
      }
      int32_t perm[600];
      for (size_t i = 0; i < total; i++) perm[i] = (int32_t)((i * 389 + 11) % total);
      clt_tensor *idx = tu_labels(ctx, total, perm);
      for (size_t bi = 0; bi < LEN(batches); bi++) {
        size_t n = batches[bi][0], first = batches[bi][1];
        clt_dtype tt = labels ? CLT_INT32 : CLT_FLOAT32;
        size_t tc = labels ? 1 : c;
        clt_tensor *Xb, *Tb, *Xg, *Tg;
        cr_assert_eq(clt_tensor_create(ctx, n, d, CLT_FLOAT32, &Xb), CLT_OK);
        cr_assert_eq(clt_tensor_create(ctx, n, tc, tt, &Tb), CLT_OK);
        cr_assert_eq(clt_tensor_create(ctx, n, d, CLT_FLOAT32, &Xg), CLT_OK);
        cr_assert_eq(clt_tensor_create(ctx, n, tc, tt, &Tg), CLT_OK);
        cr_assert_eq(clt_tensor_gather_rows(Xg, in.X.t, idx, first), CLT_OK);
        cr_assert_eq(clt_tensor_gather_rows(Tg, T, idx, first), CLT_OK);
        double l1 = 0, l2 = 0;
        cr_assert_eq(clt_linear_loss_grad(ctx, &in.desc, &cf.reg, Xg, Tg, in.W.t,
                                          in.b.t, &l1, in.dW.t, in.db.t),
                     CLT_OK, "%s", clt_last_error(ctx));
        float *dW1 = read_view(&in.dW), *db1 = read_view(&in.db);
        cr_assert_eq(clt_linear_loss_grad_rows(ctx, &in.desc, &cf.reg, in.X.t,
                                               T, idx, first, Xb, Tb, in.W.t,
                                               in.b.t, NULL, &l2, in.dW.t, in.db.t),
                     CLT_OK, "%s", clt_last_error(ctx));
        float *dW2 = read_view(&in.dW), *db2 = read_view(&in.db);
        cr_assert_eq(l1, l2, "C=%zu kind %d n=%zu: loss %.9g vs %.9g", c,
                     (int)cases[k].kind, n, l1, l2);
        cr_assert_eq(memcmp(dW1, dW2, d * c * sizeof(float)), 0, "C=%zu n=%zu dW", c, n);
        cr_assert_eq(memcmp(db1, db2, c * sizeof(float)), 0, "C=%zu n=%zu db", c, n);
        /* Deferred: the fused kernels leave loss and penalty in row 2 of
           the slot tensor, whose sum is the loss read back above; the
           other paths read the loss as usual. */
        clt_tensor *losses = tu_tensor(ctx, 4, 2, NULL);
        clt_loss_slot slot = {losses, 2, false};
        double l3 = -1;
        cr_assert_eq(clt_linear_loss_grad_rows(ctx, &in.desc, &cf.reg, in.X.t, T, idx, first,
                                               Xb, Tb, in.W.t, in.b.t, &slot, &l3, in.dW.t,
                                               in.db.t),
                     CLT_OK, "%s", clt_last_error(ctx));
        bool fused = !clt_context_is_reference(ctx) && labels && c <= 32;
        cr_assert_eq(slot.written, fused, "C=%zu kind %d", c, (int)cases[k].kind);
        if (slot.written) {
          float v[8];
          cr_assert_eq(clt_tensor_read(losses, v, sizeof v), CLT_OK);
          cr_assert_eq(l3, -1.0, "a deferred loss is not read back");
          l3 = clt_float_range((double)v[4] + (double)v[5]);
        }
        cr_assert_eq(l3, l2, "C=%zu n=%zu: deferred loss %.9g vs %.9g", c, n, l3, l2);
        float *dW3 = read_view(&in.dW), *db3 = read_view(&in.db);
        cr_assert_eq(memcmp(dW3, dW2, d * c * sizeof(float)), 0, "C=%zu n=%zu dW", c, n);
        cr_assert_eq(memcmp(db3, db2, c * sizeof(float)), 0, "C=%zu n=%zu db", c, n);
        /* Without a penalty to read, the composition defers too (on
           OpenCL: the loss from its finish kernel). */
        double l4 = 0, l5 = -1;
        cr_assert_eq(clt_linear_loss_grad_rows(ctx, &in.desc, NULL, in.X.t, T, idx, first, Xb,
                                               Tb, in.W.t, in.b.t, NULL, &l4, in.dW.t, in.db.t),
                     CLT_OK, "%s", clt_last_error(ctx));
        slot = (clt_loss_slot){losses, 3, false};
        cr_assert_eq(clt_linear_loss_grad_rows(ctx, &in.desc, NULL, in.X.t, T, idx, first, Xb,
                                               Tb, in.W.t, in.b.t, &slot, &l5, in.dW.t, in.db.t),
                     CLT_OK, "%s", clt_last_error(ctx));
        cr_assert_eq(slot.written, !clt_context_is_reference(ctx), "C=%zu kind %d", c,
                     (int)cases[k].kind);
        if (slot.written) {
          float v[8];
          cr_assert_eq(clt_tensor_read(losses, v, sizeof v), CLT_OK);
          cr_assert_eq(l5, -1.0, "a deferred loss is not read back");
          cr_assert_eq(v[7], 0.0f, "no penalty");
          l5 = clt_float_range((double)v[6]);
        }
        cr_assert_eq(l5, l4, "C=%zu n=%zu: deferred loss %.9g vs %.9g", c, n, l5, l4);
        clt_tensor_destroy(losses);
        free(dW1), free(db1), free(dW2), free(db2), free(dW3), free(db3);
        clt_tensor *all[] = {Xb, Tb, Xg, Tg};
        for (size_t t = 0; t < 4; t++) clt_tensor_destroy(all[t]);
      }
      clt_tensor_destroy(idx);
      if (!labels) clt_tensor_destroy(T);
      free_inputs(&in);
      free_problem(&p);
    }
  }
}

Test(fused, indexed_batches_refuse_bad_indices_and_shapes) {
  FOR_DEVICES(ctx) {
    for (size_t ci = 0; ci < 2; ci++) {
      size_t c = ci ? 1000 : 10; /* fused and composed */
      cfg cf = hinge("rows");
      problem p = make_problem(&cf, 93, 13, c, 31);
      inputs in = upload(ctx, &cf, &p);
      int32_t perm[93];
      for (size_t i = 0; i < 93; i++) perm[i] = (int32_t)(92 - i);
      perm[20] = 93;
      clt_tensor *idx = tu_labels(ctx, 93, perm), *Xb = tu_tensor(ctx, 30, 13, NULL);
      clt_tensor *Tb = NULL, *Tb29 = NULL, *Xb12 = tu_tensor(ctx, 30, 12, NULL);
      cr_assert_eq(clt_tensor_create(ctx, 30, 1, CLT_INT32, &Tb), CLT_OK);
      cr_assert_eq(clt_tensor_create(ctx, 29, 1, CLT_INT32, &Tb29), CLT_OK);
      double loss = 42;
      clt_status st = clt_linear_loss_grad_rows(ctx, &in.desc, NULL, in.X.t, in.y.t,
                                                idx, 10, Xb, Tb, in.W.t, in.b.t,
                                                NULL, &loss, in.dW.t, in.db.t);
      cr_assert_eq(st, CLT_ERR_LABEL, "C=%zu: %s", c, clt_status_str(st));
      cr_assert(strstr(clt_last_error(ctx), "idx[") &&
                    strstr(clt_last_error(ctx), "outside"),
                "%s", clt_last_error(ctx));
      cr_assert_eq(loss, 42);
      float *dW = read_view(&in.dW), *db = read_view(&in.db);
      for (size_t i = 0; i < 13 * c; i++) cr_assert(isnan(dW[i]), "dW[%zu] written", i);
      for (size_t i = 0; i < c; i++) cr_assert(isnan(db[i]), "db[%zu] written", i);
      free(dW), free(db);
      /* rows 21.. are fine */
      cr_assert_eq(clt_linear_loss_grad_rows(ctx, &in.desc, NULL, in.X.t, in.y.t,
                                             idx, 21, Xb, Tb, in.W.t, in.b.t,
                                             NULL, &loss, in.dW.t, in.db.t),
                   CLT_OK, "%s", clt_last_error(ctx));
      struct {
        size_t first;
        clt_tensor *Xb, *Tb;
        clt_status want;
      } bad[] = {{64, Xb, Tb, CLT_ERR_SHAPE},     /* past idx's end */
                 {0, Xb12, Tb, CLT_ERR_SHAPE},    /* columns */
                 {0, Xb, Tb29, CLT_ERR_SHAPE},    /* rows */
                 {0, Xb, in.y.t, CLT_ERR_SHAPE},  /* Tb (93 rows) */
                 {0, NULL, Tb, CLT_ERR_INVALID_ARG},
                 {0, Xb, NULL, CLT_ERR_INVALID_ARG},
                 {0, Xb, (clt_tensor *)in.X.t, CLT_ERR_DTYPE}};
      for (size_t k = 0; k < LEN(bad); k++)
        cr_assert_eq(clt_linear_loss_grad_rows(ctx, &in.desc, NULL, in.X.t, in.y.t,
                                               idx, bad[k].first, bad[k].Xb,
                                               bad[k].Tb, in.W.t, in.b.t, NULL, &loss,
                                               in.dW.t, in.db.t),
                     bad[k].want, "case %zu: %s", k, clt_last_error(ctx));
      clt_tensor *all[] = {idx, Xb, Tb, Tb29, Xb12};
      for (size_t t = 0; t < LEN(all); t++) clt_tensor_destroy(all[t]);
      free_inputs(&in);
      free_problem(&p);
    }
  }
}
