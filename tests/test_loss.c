/* clt_loss on every backend against the double-precision reference
   (host/ref/ref_loss.c, clt_ref_loss_f64) on random data at odd sizes;
   stability, sanity values, bad input and non-finite scores. PyTorch's own
   values are compared in test_loss_golden.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss_impl.h"
#include "testutil.h"

static const size_t NS[] = {1, 7, 93, 1000, 4097};
static const size_t CS[] = {1, 2, 10, 1000};
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One configuration: a desc plus which optional inputs it uses. */
typedef struct config {
  const char *name;
  clt_loss_desc desc; /* tensors NULL; set per problem */
  int class_weight, pos_weight, soft, ignore_every;
} config;

/* Host data of one problem. */
typedef struct problem {
  size_t n, c;
  float *S, *T, *cw, *pw;
  int32_t *y;
} problem;

static float *alloc_f(size_t n) {
  float *x = malloc(n * sizeof *x);
  cr_assert_not_null(x);
  return x;
}

/* Row-normalized positive values; with log_target their logs. */
static void fill_probs(float *t, size_t n, size_t c, uint64_t seed,
                       bool zeros, bool logs) {
  tu_fill_uniform(t, n * c, seed, 0.0f, 1.0f);
  for (size_t i = 0; i < n; i++) {
    float *r = t + i * c;
    double sum = 0;
    for (size_t j = 0; j < c; j++) {
      if (zeros && (i + j) % 7 == 3) r[j] = 0.0f;
      sum += r[j];
    }
    for (size_t j = 0; j < c; j++) {
      double q = sum > 0 ? r[j] / sum : 1.0 / (double)c;
      r[j] = (float)(logs ? log(q > 0 ? q : 1e-3) : q);
    }
  }
}

static problem make_problem(const config *cf, size_t n, size_t c,
                            uint64_t seed) {
  problem p = {.n = n, .c = c, .S = alloc_f(n * c)};
  tu_fill_uniform(p.S, n * c, seed, -4.0f, 4.0f);
  clt_loss_kind k = cf->desc.kind;
  bool labels = k == CLT_LOSS_HINGE || (k == CLT_LOSS_CROSS_ENTROPY && !cf->soft);
  if (labels) {
    p.y = malloc(n * sizeof *p.y);
    cr_assert_not_null(p.y);
    tu_fill_labels(p.y, n, seed + 1, (int32_t)c);
    for (size_t i = 0; cf->ignore_every && i < n; i++)
      if (i % (size_t)cf->ignore_every == 1) p.y[i] = cf->desc.ignore_index;
  } else {
    p.T = alloc_f(n * c);
    if (k == CLT_LOSS_CROSS_ENTROPY || k == CLT_LOSS_KL_DIV)
      fill_probs(p.T, n, c, seed + 1, k == CLT_LOSS_KL_DIV,
                 k == CLT_LOSS_KL_DIV && cf->desc.log_target);
    else if (k == CLT_LOSS_BCE_LOGITS)
      tu_fill_uniform(p.T, n * c, seed + 1, 0.0f, 1.0f);
    else
      tu_fill_uniform(p.T, n * c, seed + 1, -4.0f, 4.0f);
  }
  if (cf->class_weight) {
    p.cw = alloc_f(c);
    tu_fill_uniform(p.cw, c, seed + 2, 0.1f, 2.0f);
  }
  if (cf->pos_weight) {
    p.pw = alloc_f(c);
    tu_fill_uniform(p.pw, c, seed + 3, 0.5f, 3.0f);
  }
  return p;
}

static void free_problem(problem *p) {
  free(p->S);
  free(p->T);
  free(p->cw);
  free(p->pw);
  free(p->y);
}

/* The reference loss and gradient of p in double. */
static double reference(const config *cf, const problem *p, double *g) {
  size_t numel = p->n * p->c;
  double *s = malloc(numel * sizeof *s);
  cr_assert_not_null(s);
  for (size_t k = 0; k < numel; k++) s[k] = p->S[k];
  clt_ref_loss_in in = {.desc = &cf->desc, .n = p->n, .c = p->c,
                        .labels = p->y, .target = p->T,
                        .class_weight = p->cw, .pos_weight = p->pw};
  double r = clt_ref_loss_f64(&in, s, g);
  free(s);
  return r;
}

/* Device tensors of a problem. */
typedef struct dev_problem {
  clt_tensor *S, *target, *cw, *pw, *dS;
  clt_loss_desc desc;
} dev_problem;

static dev_problem upload(clt_context *ctx, const config *cf,
                          const problem *p) {
  dev_problem d = {.S = tu_tensor(ctx, p->n, p->c, p->S),
                   .dS = tu_tensor(ctx, p->n, p->c, NULL),
                   .desc = cf->desc};
  d.target = p->y ? tu_labels(ctx, p->n, p->y) : tu_tensor(ctx, p->n, p->c, p->T);
  if (p->cw) d.cw = tu_tensor(ctx, 1, p->c, p->cw);
  if (p->pw) d.pw = tu_tensor(ctx, 1, p->c, p->pw);
  d.desc.class_weight = d.cw;
  d.desc.pos_weight = d.pw;
  return d;
}

static void release(dev_problem *d) {
  clt_tensor_destroy(d->S);
  clt_tensor_destroy(d->target);
  clt_tensor_destroy(d->cw);
  clt_tensor_destroy(d->pw);
  clt_tensor_destroy(d->dS);
}

/* Loss: |dev - ref| <= 1e-6 + 2e-5 |ref| (float32 rows summed with Kahan
   compensation). dS: |dev - ref| <= 1e-6 max|ref| + 1e-4 |ref|. */
static void expect_matches(const char *what, double loss, double want,
                           const float *dS, const double *g, size_t numel) {
  cr_expect(fabs(loss - want) <= 1e-6 + 2e-5 * fabs(want) ||
                (isnan(loss) && isnan(want)),
            "%s: loss %.9g, reference %.9g", what, loss, want);
  if (!dS) return;
  double scale = 0;
  for (size_t k = 0; k < numel; k++) scale = fmax(scale, fabs(g[k]));
  tu_expect_close(what, dS, g, numel, 1e-6 * scale, 1e-4);
}

static void check_config(clt_context *ctx, const char *dev, const config *cf,
                         size_t n, size_t c) {
  char what[160];
  snprintf(what, sizeof what, "%s %s N=%zu C=%zu", dev, cf->name, n, c);
  problem p = make_problem(cf, n, c, 1000 * n + c);
  double *g = malloc(n * c * sizeof *g);
  cr_assert_not_null(g);
  double want = reference(cf, &p, g);
  dev_problem d = upload(ctx, cf, &p);
  double loss = 0.0;
  clt_status st = clt_loss(ctx, &d.desc, d.S, d.target, &loss, d.dS);
  /* Every row ignored (e.g. ignore_index 0 with C = 1): the mean is NaN. */
  clt_status expect = isfinite(want) ? CLT_OK : CLT_ERR_NONFINITE;
  cr_assert_eq(st, expect, "%s: %s: %s", what, clt_status_str(st),
               clt_last_error(ctx));
  float *got = tu_read(d.dS);
  expect_matches(what, loss, want, got, g, n * c);
  free(got);
  free(g);
  release(&d);
  free_problem(&p);
}

/* Every configuration at every size on every backend. The reference
   backend skips N*C above 10^6 for configurations after the first: it is
   the same double code as the expected values. */
static void check_all(const config *cfs, size_t count) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    bool ref = clt_context_is_reference(ctx);
    for (size_t k = 0; k < count; k++)
      for (size_t a = 0; a < LEN(NS); a++)
        for (size_t b = 0; b < LEN(CS); b++)
          if (!(ref && k > 0 && NS[a] * CS[b] > 1000000))
            check_config(ctx, devs[v], &cfs[k], NS[a], CS[b]);
    clt_context_destroy(ctx);
  }
}

static clt_loss_desc with(clt_loss_kind kind) { return clt_loss_defaults(kind); }

Test(loss, defaults_are_pytorchs) {
  for (int k = CLT_LOSS_CROSS_ENTROPY; k <= CLT_LOSS_KL_DIV; k++) {
    clt_loss_desc d = clt_loss_defaults((clt_loss_kind)k);
    cr_expect_eq(d.kind, (clt_loss_kind)k);
    cr_expect_eq(d.reduction, CLT_REDUCTION_MEAN);
    cr_expect_eq(d.margin, 1.0f);
    cr_expect_eq(d.p, 1);
    cr_expect_eq(d.label_smoothing, 0.0f);
    cr_expect_eq(d.ignore_index, -100);
    cr_expect_eq(d.huber_delta, 1.0f);
    cr_expect_eq(d.log_target, 0);
    cr_expect_null(d.class_weight);
    cr_expect_null(d.pos_weight);
  }
}

Test(loss, cross_entropy_labels_match_reference, .timeout = 300) {
  clt_loss_desc smooth = with(CLT_LOSS_CROSS_ENTROPY), sum = smooth,
                all = smooth, ign = smooth;
  smooth.label_smoothing = 0.1f;
  sum.reduction = CLT_REDUCTION_SUM;
  ign.ignore_index = 0; /* a real class can be the ignored one */
  all.label_smoothing = 0.2f;
  all.ignore_index = 1;
  clt_loss_desc all_sum = all;
  all_sum.reduction = CLT_REDUCTION_SUM;
  const config cfs[] = {
      {"ce", with(CLT_LOSS_CROSS_ENTROPY), 0, 0, 0, 0},
      {"ce weight", with(CLT_LOSS_CROSS_ENTROPY), 1, 0, 0, 0},
      {"ce smoothing", smooth, 0, 0, 0, 0},
      {"ce ignore -100 every 3rd", with(CLT_LOSS_CROSS_ENTROPY), 0, 0, 0, 3},
      {"ce ignore 0", ign, 0, 0, 0, 0},
      {"ce sum", sum, 0, 0, 0, 0},
      {"ce weight smoothing ignore", all, 1, 0, 0, 4},
      {"ce weight smoothing ignore sum", all_sum, 1, 0, 0, 4},
  };
  check_all(cfs, LEN(cfs));
}

Test(loss, cross_entropy_soft_targets_match_reference, .timeout = 300) {
  clt_loss_desc all = with(CLT_LOSS_CROSS_ENTROPY), sum = all;
  all.label_smoothing = 0.3f;
  sum.reduction = CLT_REDUCTION_SUM;
  const config cfs[] = {
      {"ce soft", with(CLT_LOSS_CROSS_ENTROPY), 0, 0, 1, 0},
      {"ce soft weight smoothing", all, 1, 0, 1, 0},
      {"ce soft sum", sum, 0, 0, 1, 0},
  };
  check_all(cfs, LEN(cfs));
}

Test(loss, hinge_matches_reference, .timeout = 300) {
  clt_loss_desc sq = with(CLT_LOSS_HINGE), sum = sq, m = sq;
  sq.p = 2;
  sum.reduction = CLT_REDUCTION_SUM;
  sum.margin = 2.5f;
  m.margin = 0.0f;
  const config cfs[] = {
      {"hinge", with(CLT_LOSS_HINGE), 0, 0, 0, 0},
      {"hinge p=2", sq, 0, 0, 0, 0},
      {"hinge margin 2.5 sum", sum, 0, 0, 0, 0},
      {"hinge margin 0 weight", m, 1, 0, 0, 0},
  };
  check_all(cfs, LEN(cfs));
}

Test(loss, bce_matches_reference, .timeout = 300) {
  clt_loss_desc sum = with(CLT_LOSS_BCE_LOGITS);
  sum.reduction = CLT_REDUCTION_SUM;
  const config cfs[] = {
      {"bce", with(CLT_LOSS_BCE_LOGITS), 0, 0, 0, 0},
      {"bce pos_weight", with(CLT_LOSS_BCE_LOGITS), 0, 1, 0, 0},
      {"bce weight pos_weight sum", sum, 1, 1, 0, 0},
  };
  check_all(cfs, LEN(cfs));
}

Test(loss, regression_losses_match_reference, .timeout = 300) {
  clt_loss_desc msum = with(CLT_LOSS_MSE), l1sum = with(CLT_LOSS_L1),
                hub = with(CLT_LOSS_HUBER), hsum = hub;
  msum.reduction = l1sum.reduction = hsum.reduction = CLT_REDUCTION_SUM;
  hub.huber_delta = 0.3f;
  const config cfs[] = {
      {"mse", with(CLT_LOSS_MSE), 0, 0, 0, 0},
      {"mse sum", msum, 0, 0, 0, 0},
      {"l1", with(CLT_LOSS_L1), 0, 0, 0, 0},
      {"l1 sum", l1sum, 0, 0, 0, 0},
      {"huber", with(CLT_LOSS_HUBER), 0, 0, 0, 0},
      {"huber delta 0.3", hub, 0, 0, 0, 0},
      {"huber sum", hsum, 0, 0, 0, 0},
  };
  check_all(cfs, LEN(cfs));
}

Test(loss, kl_div_matches_reference, .timeout = 300) {
  clt_loss_desc bm = with(CLT_LOSS_KL_DIV), sum = bm, lt = bm, ltbm = bm;
  bm.reduction = ltbm.reduction = CLT_REDUCTION_BATCHMEAN;
  sum.reduction = CLT_REDUCTION_SUM;
  lt.log_target = ltbm.log_target = 1;
  const config cfs[] = {
      {"kl", with(CLT_LOSS_KL_DIV), 0, 0, 0, 0},
      {"kl batchmean", bm, 0, 0, 0, 0},
      {"kl sum", sum, 0, 0, 0, 0},
      {"kl log_target", lt, 0, 0, 0, 0},
      {"kl log_target batchmean", ltbm, 0, 0, 0, 0},
  };
  check_all(cfs, LEN(cfs));
}
