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

/* Loss: |dev - ref| <= 1e-6 + 2e-5 mass, mass = |ref| or, for kl_div,
   whose terms t (log t - s) take both signs, the reduced sum of the terms'
   absolute values (float32 partial sums cancel there). dS: |dev - ref| <=
   1e-6 max|ref| + 1e-4 |ref|. */
static void expect_matches(const char *what, double loss, double want,
                           double mass, const float *dS, const double *g,
                           size_t numel) {
  cr_expect(fabs(loss - want) <= 1e-6 + 2e-5 * fmax(fabs(want), mass) ||
                (isnan(loss) && isnan(want)),
            "%s: loss %.9g, reference %.9g", what, loss, want);
  if (!dS) return;
  double scale = 0;
  for (size_t k = 0; k < numel; k++) scale = fmax(scale, fabs(g[k]));
  tu_expect_close(what, dS, g, numel, 1e-6 * scale, 1e-4);
}

/* The kl_div mass of expect_matches (0 for the other kinds). */
static double kl_mass(const clt_loss_desc *d, const float *S, const float *T,
                      size_t n, size_t c) {
  if (d->kind != CLT_LOSS_KL_DIV) return 0.0;
  double m = 0;
  for (size_t k = 0; k < n * c; k++) {
    double s = S[k], t = T[k];
    m += d->log_target ? exp(t) * fabs(t - s) : fabs((t > 0 ? t * log(t) : 0) - t * s);
  }
  double div = d->reduction == CLT_REDUCTION_SUM ? 1.0
               : d->reduction == CLT_REDUCTION_BATCHMEAN ? (double)n
                                                         : (double)n * (double)c;
  return m / div;
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
  expect_matches(what, loss, want, kl_mass(&cf->desc, p.S, p.T, n, c), got,
                 g, n * c);
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

Test(loss, kind_names_round_trip) {
  for (int k = CLT_LOSS_CROSS_ENTROPY; k <= CLT_LOSS_KL_DIV; k++) {
    clt_loss_kind back = (clt_loss_kind)99;
    cr_expect_eq(clt_loss_kind_from_name(clt_loss_kind_name((clt_loss_kind)k), &back),
                 CLT_OK);
    cr_expect_eq(back, (clt_loss_kind)k);
  }
  clt_loss_kind k = CLT_LOSS_MSE;
  cr_expect_eq(clt_loss_kind_from_name("softmax", &k), CLT_OK);
  cr_expect_eq(k, CLT_LOSS_CROSS_ENTROPY);
  cr_expect_eq(clt_loss_kind_from_name("svm", &k), CLT_OK);
  cr_expect_eq(k, CLT_LOSS_HINGE);
  cr_expect_eq(clt_loss_kind_from_name("Hinge", &k), CLT_ERR_INVALID_ARG);
  cr_expect_eq(clt_loss_kind_from_name(NULL, &k), CLT_ERR_INVALID_ARG);
  cr_expect_eq(k, CLT_LOSS_HINGE);
  cr_expect_str_eq(clt_loss_kind_name((clt_loss_kind)-1), "unknown");
  cr_expect_str_eq(clt_loss_kind_name(CLT_LOSS_KL_DIV), "kl-div");
  /* The values are the ABI of cltrain.h: never renumbered. */
  const clt_loss_kind kinds[] = {CLT_LOSS_CROSS_ENTROPY, CLT_LOSS_HINGE, CLT_LOSS_BCE_LOGITS,
                                 CLT_LOSS_MSE, CLT_LOSS_L1, CLT_LOSS_HUBER, CLT_LOSS_KL_DIV};
  for (int v = 0; v < 7; v++) cr_expect_eq((int)kinds[v], v);
  cr_expect_str_eq(clt_loss_kind_name((clt_loss_kind)7), "unknown");
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

/* ------------------------------------------------------- small fixtures */

/* A context per backend with S (n,c) random in [-4,4), labels, float
   targets in [0,1) and dS filled with a sentinel. */
typedef struct fixture {
  const char *dev;
  clt_context *ctx;
  size_t n, c;
  clt_tensor *S, *y, *T, *dS;
} fixture;

#define SENTINEL 7.25f

static fixture fixture_make(const char *dev, size_t n, size_t c) {
  fixture f = {.dev = dev, .ctx = tu_context(dev), .n = n, .c = c};
  float *s = alloc_f(n * c), *t = alloc_f(n * c);
  int32_t *y = malloc(n * sizeof *y);
  cr_assert_not_null(y);
  tu_fill_uniform(s, n * c, 11, -4.0f, 4.0f);
  tu_fill_uniform(t, n * c, 12, 0.0f, 1.0f);
  tu_fill_labels(y, n, 13, (int32_t)c);
  f.S = tu_tensor(f.ctx, n, c, s);
  f.T = tu_tensor(f.ctx, n, c, t);
  f.y = tu_labels(f.ctx, n, y);
  f.dS = tu_tensor(f.ctx, n, c, NULL);
  cr_assert_eq(clt_tensor_fill(f.dS, SENTINEL), CLT_OK);
  free(s);
  free(t);
  free(y);
  return f;
}

static void fixture_free(fixture *f) {
  clt_tensor_destroy(f->S);
  clt_tensor_destroy(f->T);
  clt_tensor_destroy(f->y);
  clt_tensor_destroy(f->dS);
  clt_context_destroy(f->ctx);
}

/* Runs body on a fresh (n,c) fixture of every backend. */
static void each_backend(size_t n, size_t c, void (*body)(fixture *f)) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    fixture f = fixture_make(devs[v], n, c);
    body(&f);
    fixture_free(&f);
  }
}

static void expect_untouched(const clt_tensor *t, const char *what) {
  float *x = tu_read(t);
  size_t n = clt_tensor_rows(t) * clt_tensor_cols(t);
  for (size_t k = 0; k < n; k++)
    if (x[k] != SENTINEL)
      cr_assert_fail("%s: dS[%zu] = %g was written", what, k, (double)x[k]);
  free(x);
}

/* clt_loss fails with want, leaves *loss and dS untouched and says why. */
static void expect_fails(fixture *f, const clt_loss_desc *d,
                         const clt_tensor *S, const clt_tensor *target,
                         clt_tensor *dS, clt_status want, const char *what) {
  double loss = 123.0;
  clt_status st = clt_loss(f->ctx, d, S, target, &loss, dS);
  cr_expect_eq(st, want, "%s: got %s (%s), want %s", what,
               clt_status_name(st), clt_last_error(f->ctx),
               clt_status_name(want));
  cr_expect_eq(loss, 123.0, "%s: loss was written", what);
  cr_expect_neq(clt_last_error(f->ctx)[0], '\0', "%s: no message", what);
  expect_untouched(f->dS, what);
}

/* ------------------------------------------------------------- tests */

static void optional_outputs_give_the_same_values_body(fixture *f) {
  for (int kind = CLT_LOSS_CROSS_ENTROPY; kind <= CLT_LOSS_KL_DIV; kind++) {
    clt_loss_desc d = clt_loss_defaults((clt_loss_kind)kind);
    const clt_tensor *tgt = kind <= CLT_LOSS_HINGE ? f->y : f->T;
    double full = 0, only = 0;
    cr_assert_eq(clt_loss(f->ctx, &d, f->S, tgt, &full, f->dS), CLT_OK);
    float *a = tu_read(f->dS);
    cr_assert_eq(clt_tensor_fill(f->dS, SENTINEL), CLT_OK);
    cr_assert_eq(clt_loss(f->ctx, &d, f->S, tgt, NULL, f->dS), CLT_OK);
    float *b = tu_read(f->dS);
    cr_expect_arr_eq(a, b, 93 * 10 * sizeof *a, "%s kind %d: dS", f->dev,
                     kind);
    cr_assert_eq(clt_loss(f->ctx, &d, f->S, tgt, &only, NULL), CLT_OK);
    cr_expect_eq(full, only, "%s kind %d: loss %g vs %g", f->dev, kind,
                 full, only);
    free(a);
    free(b);
  }
}

Test(loss, optional_outputs_give_the_same_values) {
  each_backend(93, 10, optional_outputs_give_the_same_values_body);
}

/* Row views are offsets into a shared buffer: S, labels and dS taken as
   rows [5, 5+40) of bigger tensors; the rows around the view stay as they
   were. */
static void row_views_body(fixture *f) {
  size_t n = f->n, c = f->c, first = 5, count = 40;
  clt_tensor *S, *y, *T, *dS;
  cr_assert_eq(clt_tensor_view_rows(f->S, first, count, &S), CLT_OK);
  cr_assert_eq(clt_tensor_view_rows(f->y, first, count, &y), CLT_OK);
  cr_assert_eq(clt_tensor_view_rows(f->T, first, count, &T), CLT_OK);
  cr_assert_eq(clt_tensor_view_rows(f->dS, first, count, &dS), CLT_OK);
  float *s = tu_read(f->S), *t = tu_read(f->T);
  int32_t *lab = malloc(n * sizeof *lab);
  cr_assert_not_null(lab);
  cr_assert_eq(clt_tensor_read(f->y, lab, n * 4), CLT_OK);
  double *S64 = malloc(count * c * sizeof *S64), *g = malloc(count * c * sizeof *g);
  cr_assert(S64 && g);
  for (size_t k = 0; k < count * c; k++) S64[k] = s[first * c + k];
  for (int kind = CLT_LOSS_CROSS_ENTROPY; kind <= CLT_LOSS_KL_DIV; kind++) {
    clt_loss_desc d = clt_loss_defaults((clt_loss_kind)kind);
    bool labels = kind <= CLT_LOSS_HINGE;
    clt_ref_loss_in in = {.desc = &d, .n = count, .c = c,
                          .labels = labels ? lab + first : NULL,
                          .target = labels ? NULL : t + first * c};
    double want = clt_ref_loss_f64(&in, S64, g), loss = 0;
    cr_assert_eq(clt_loss(f->ctx, &d, S, labels ? y : T, &loss, dS), CLT_OK,
                 "%s", clt_last_error(f->ctx));
    float *all = tu_read(f->dS);
    char what[64];
    snprintf(what, sizeof what, "%s kind %d view", f->dev, kind);
    expect_matches(what, loss, want,
                   labels ? 0.0 : kl_mass(&d, s + first * c, t + first * c, count, c),
                   all + first * c, g, count * c);
    for (size_t k = 0; k < n * c; k++)
      if (k < first * c || k >= (first + count) * c)
        cr_assert_eq(all[k], SENTINEL, "%s: dS[%zu] outside the view", what, k);
    free(all);
  }
  free(S64);
  free(g);
  free(s);
  free(t);
  free(lab);
  clt_tensor_destroy(S);
  clt_tensor_destroy(y);
  clt_tensor_destroy(T);
  clt_tensor_destroy(dS);
}

Test(loss, row_views) {
  each_backend(60, 13, row_views_body);
}

/* CS231n's sanity check: with W = 0 the scores are 0, the softmax loss is
   log C and the multiclass SVM loss is (C - 1) margin. */
static void zero_scores_body(fixture *f) {
  cr_assert_eq(clt_tensor_fill(f->S, 0.0), CLT_OK);
  clt_loss_desc ce = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  clt_loss_desc svm = clt_loss_defaults(CLT_LOSS_HINGE);
  svm.margin = 1.5f;
  double l_ce = -1, l_svm = -1, C = (double)f->c;
  cr_assert_eq(clt_loss(f->ctx, &ce, f->S, f->y, &l_ce, f->dS), CLT_OK);
  cr_assert_eq(clt_loss(f->ctx, &svm, f->S, f->y, &l_svm, f->dS), CLT_OK);
  cr_expect(fabs(l_ce - log(C)) <= 1e-6 * (1 + log(C)),
            "%s C=%g: softmax loss %.9g, log C = %.9g", f->dev, C, l_ce,
            log(C));
  cr_expect(fabs(l_svm - (C - 1) * 1.5) <= 1e-6 * C,
            "%s C=%g: svm loss %.9g, (C-1) margin = %g", f->dev, C, l_svm,
            (C - 1) * 1.5);
}

Test(loss, zero_scores_give_log_c_and_c_minus_1_margin) {
  for (size_t a = 0; a < LEN(CS); a++) each_backend(93, CS[a], zero_scores_body);
}

/* Logits of +-1e4, a true class at -1e4 and all-equal rows: finite values
   equal to the closed forms. Row 0: all equal; row 1: [1e4, -1e4, ...]
   with label 1; row 2: [-1e4, 1e4, 0, ...] with label 0. */
Test(loss, extreme_logits_stay_finite) {
  const char *devs[2];
  size_t nd = tu_devices(devs), n = 3, c = 10;
  float s[3 * 10];
  int32_t y[3] = {4, 1, 0};
  for (size_t j = 0; j < c; j++) {
    s[j] = 3.0f;
    s[c + j] = j == 0 ? 1e4f : -1e4f;
    s[2 * c + j] = j == 0 ? -1e4f : j == 1 ? 1e4f : 0.0f;
  }
  /* lse: 3 + log 10, 1e4, 1e4; row losses lse - s_y. */
  double rows[3] = {log(10.0), 2e4, 2e4}, want = (rows[0] + rows[1] + rows[2]) / 3;
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    clt_tensor *S = tu_tensor(ctx, n, c, s), *Y = tu_labels(ctx, n, y);
    clt_tensor *dS = tu_tensor(ctx, n, c, NULL);
    clt_loss_desc d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
    double loss = 0;
    cr_assert_eq(clt_loss(ctx, &d, S, Y, &loss, dS), CLT_OK, "%s",
                 clt_last_error(ctx));
    cr_expect(fabs(loss - want) <= 1e-6 * want, "%s: loss %.9g, want %.9g",
              devs[v], loss, want);
    float *g = tu_read(dS);
    double expect[30];
    for (size_t j = 0; j < c; j++) {
      expect[j] = (0.1 - (j == 4)) / 3;
      expect[c + j] = ((j == 0) - (j == 1)) / 3.0;
      expect[2 * c + j] = ((j == 1) - (j == 0)) / 3.0;
    }
    tu_expect_close("ce dS", g, expect, n * c, 1e-7, 1e-5);
    free(g);
    /* BCE at +-1e4: loss (1-t) s + softplus(-s) per element. */
    float t[30];
    for (size_t k = 0; k < n * c; k++) t[k] = (float)(k % 2);
    clt_tensor *T = tu_tensor(ctx, n, c, t);
    clt_loss_desc b = clt_loss_defaults(CLT_LOSS_BCE_LOGITS);
    b.reduction = CLT_REDUCTION_SUM;
    double want_b = 0;
    for (size_t k = 0; k < n * c; k++)
      want_b += (1 - t[k]) * s[k] + fmax(-s[k], 0) + log1p(exp(-fabs(s[k])));
    cr_assert_eq(clt_loss(ctx, &b, S, T, &loss, dS), CLT_OK, "%s",
                 clt_last_error(ctx));
    cr_expect(fabs(loss - want_b) <= 1e-6 * want_b, "%s: bce %.9g, want %.9g",
              devs[v], loss, want_b);
    g = tu_read(dS);
    for (size_t k = 0; k < n * c; k++)
      cr_expect(isfinite(g[k]) && fabs(g[k]) <= 1.0f, "%s: bce dS[%zu] = %g",
                devs[v], k, (double)g[k]);
    free(g);
    clt_tensor_destroy(T);
    clt_tensor_destroy(S);
    clt_tensor_destroy(Y);
    clt_tensor_destroy(dS);
    clt_context_destroy(ctx);
  }
}

static void labels_outside_the_classes_are_refused_body(fixture *f) {
  size_t n = f->n, c = f->c;
  int32_t bad[] = {10, -1, -100, 1 << 30, INT32_MIN};
  int32_t *y = malloc(n * sizeof *y);
  cr_assert_not_null(y);
  for (size_t b = 0; b < LEN(bad); b++)
    for (int kind = CLT_LOSS_CROSS_ENTROPY; kind <= CLT_LOSS_HINGE; kind++) {
      /* -100 is cross-entropy's ignore_index: refused by hinge only. */
      if (bad[b] == -100 && kind == CLT_LOSS_CROSS_ENTROPY) continue;
      tu_fill_labels(y, n, 5, (int32_t)c);
      y[n - 2] = bad[b]; /* late in the batch: the device must find it */
      cr_assert_eq(clt_tensor_write(f->y, y, n * 4), CLT_OK);
      clt_loss_desc d = clt_loss_defaults((clt_loss_kind)kind);
      char what[64];
      snprintf(what, sizeof what, "%s kind %d label %d", f->dev, kind, bad[b]);
      expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_LABEL, what);
      cr_expect(strstr(clt_last_error(f->ctx), "row 4095") != NULL,
                "%s: message '%s' names no row", what, clt_last_error(f->ctx));
    }
  /* Several bad labels: the first row is named, wherever the device's
     check pass splits the rows (blocks, vector lanes, tails). */
  static const struct {
    size_t row;
    int32_t label;
  } several[] = {{2050, -5}, {2043, 10}, {101, -1}, {17, 11}};
  clt_loss_desc hinge = clt_loss_defaults(CLT_LOSS_HINGE);
  tu_fill_labels(y, n, 5, (int32_t)c);
  for (size_t k = 0; k < LEN(several); k++) {
    y[several[k].row] = several[k].label;
    cr_assert_eq(clt_tensor_write(f->y, y, n * 4), CLT_OK);
    char what[64], row[32];
    snprintf(what, sizeof what, "%s: %zu bad labels", f->dev, k + 1);
    snprintf(row, sizeof row, "row %zu ", several[k].row);
    expect_fails(f, &hinge, f->S, f->y, f->dS, CLT_ERR_LABEL, what);
    cr_expect(strstr(clt_last_error(f->ctx), row) != NULL,
              "%s: message '%s' does not name %s", what,
              clt_last_error(f->ctx), row);
  }
  /* ignore_index may itself be out of range: then it is skipped. */
  tu_fill_labels(y, n, 5, (int32_t)c);
  y[3] = 77;
  cr_assert_eq(clt_tensor_write(f->y, y, n * 4), CLT_OK);
  clt_loss_desc d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  d.ignore_index = 77;
  double loss = 0;
  cr_expect_eq(clt_loss(f->ctx, &d, f->S, f->y, &loss, f->dS), CLT_OK, "%s",
               clt_last_error(f->ctx));
  free(y);
}

Test(loss, labels_outside_the_classes_are_refused) {
  each_backend(4097, 10, labels_outside_the_classes_are_refused_body);
}

static void bad_weights_are_refused_body(fixture *f) {
  size_t c = f->c;
  float bad[] = {-0.5f, NAN, INFINITY};
  float w[10];
  for (size_t b = 0; b < LEN(bad); b++)
    for (int which = 0; which < 3; which++) {
      for (size_t j = 0; j < c; j++) w[j] = 1.0f;
      w[7] = bad[b];
      clt_tensor *tw = tu_tensor(f->ctx, 1, c, w);
      clt_loss_desc d = clt_loss_defaults(
          which == 0 ? CLT_LOSS_CROSS_ENTROPY : CLT_LOSS_BCE_LOGITS);
      if (which == 2) d.pos_weight = tw;
      else d.class_weight = tw;
      char what[64];
      snprintf(what, sizeof what, "%s weight %g case %d", f->dev,
               (double)bad[b], which);
      expect_fails(f, &d, f->S, which == 0 ? f->y : f->T, f->dS,
                   CLT_ERR_INVALID_ARG, what);
      cr_expect(strstr(clt_last_error(f->ctx), "[7]") != NULL,
                "%s: message '%s'", what, clt_last_error(f->ctx));
      clt_tensor_destroy(tw);
    }
}

Test(loss, bad_weights_are_refused) {
  each_backend(93, 10, bad_weights_are_refused_body);
}

static void bad_hyper_parameters_are_refused_body(fixture *f) {
  clt_loss_desc ce = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  clt_loss_desc hinge = clt_loss_defaults(CLT_LOSS_HINGE);
  clt_loss_desc huber = clt_loss_defaults(CLT_LOSS_HUBER);
  clt_loss_desc mse = clt_loss_defaults(CLT_LOSS_MSE);
  clt_loss_desc d;
  float smooth[] = {NAN, -0.1f, 1.5f, INFINITY};
  for (size_t k = 0; k < LEN(smooth); k++) {
    d = ce, d.label_smoothing = smooth[k];
    expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_INVALID_ARG, "smoothing");
  }
  float margin[] = {NAN, -1.0f, INFINITY, -INFINITY};
  for (size_t k = 0; k < LEN(margin); k++) {
    d = hinge, d.margin = margin[k];
    expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_INVALID_ARG, "margin");
  }
  int ps[] = {0, 3, -1};
  for (size_t k = 0; k < LEN(ps); k++) {
    d = hinge, d.p = ps[k];
    expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_INVALID_ARG, "p");
  }
  float delta[] = {0.0f, -1.0f, NAN, INFINITY};
  for (size_t k = 0; k < LEN(delta); k++) {
    d = huber, d.huber_delta = delta[k];
    expect_fails(f, &d, f->S, f->T, f->dS, CLT_ERR_INVALID_ARG, "huber_delta");
  }
  d = mse, d.reduction = CLT_REDUCTION_BATCHMEAN;
  expect_fails(f, &d, f->S, f->T, f->dS, CLT_ERR_INVALID_ARG, "batchmean");
  d = mse, d.reduction = (clt_reduction)7;
  expect_fails(f, &d, f->S, f->T, f->dS, CLT_ERR_INVALID_ARG, "reduction");
  d = mse, d.kind = (clt_loss_kind)42;
  expect_fails(f, &d, f->S, f->T, f->dS, CLT_ERR_INVALID_ARG, "kind");
  clt_tensor *w = tu_tensor(f->ctx, 1, 5, NULL);
  cr_assert_eq(clt_tensor_fill(w, 1.0), CLT_OK);
  d = mse, d.class_weight = w;
  expect_fails(f, &d, f->S, f->T, f->dS, CLT_ERR_INVALID_ARG, "mse class_weight");
  d = ce, d.pos_weight = w;
  expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_INVALID_ARG, "ce pos_weight");
  expect_fails(f, NULL, f->S, f->y, f->dS, CLT_ERR_INVALID_ARG, "NULL desc");
  cr_expect_eq(clt_loss(NULL, &ce, f->S, f->y, NULL, f->dS), CLT_ERR_INVALID_ARG);
  clt_tensor_destroy(w);
}

Test(loss, bad_hyper_parameters_are_refused) {
  each_backend(7, 5, bad_hyper_parameters_are_refused_body);
}

static void bad_tensors_are_refused_body(fixture *f) {
  clt_loss_desc ce = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  clt_loss_desc hinge = clt_loss_defaults(CLT_LOSS_HINGE);
  clt_loss_desc mse = clt_loss_defaults(CLT_LOSS_MSE);
  clt_tensor *i75, *i72, *f76, *f71, *f86, *w16, *wi;
  cr_assert_eq(clt_tensor_create(f->ctx, 7, 5, CLT_INT32, &i75), CLT_OK);
  cr_assert_eq(clt_tensor_create(f->ctx, 7, 2, CLT_INT32, &i72), CLT_OK);
  cr_assert_eq(clt_tensor_create(f->ctx, 1, 5, CLT_INT32, &wi), CLT_OK);
  f76 = tu_tensor(f->ctx, 7, 6, NULL);
  f71 = tu_tensor(f->ctx, 7, 1, NULL);
  f86 = tu_tensor(f->ctx, 8, 5, NULL);
  w16 = tu_tensor(f->ctx, 1, 6, NULL);
  expect_fails(f, &ce, NULL, f->y, f->dS, CLT_ERR_INVALID_ARG, "S NULL");
  expect_fails(f, &ce, f->S, NULL, f->dS, CLT_ERR_INVALID_ARG, "target NULL");
  expect_fails(f, &ce, i75, f->y, f->dS, CLT_ERR_DTYPE, "S int32");
  expect_fails(f, &hinge, f->S, f71, f->dS, CLT_ERR_DTYPE, "hinge float target");
  expect_fails(f, &mse, f->S, i75, f->dS, CLT_ERR_DTYPE, "mse int target");
  expect_fails(f, &ce, f->S, i72, f->dS, CLT_ERR_SHAPE, "labels 7x2");
  expect_fails(f, &ce, f->S, f76, f->dS, CLT_ERR_SHAPE, "soft target 7x6");
  expect_fails(f, &ce, f->S, f71, f->dS, CLT_ERR_SHAPE, "soft target 7x1");
  expect_fails(f, &mse, f->S, f86, f->dS, CLT_ERR_SHAPE, "target 8x5");
  expect_fails(f, &ce, f->S, f->y, f76, CLT_ERR_SHAPE, "dS 7x6");
  expect_fails(f, &ce, f->S, f->y, i75, CLT_ERR_DTYPE, "dS int32");
  clt_loss_desc d = ce;
  d.class_weight = w16;
  expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_SHAPE, "class_weight 1x6");
  d.class_weight = wi;
  expect_fails(f, &d, f->S, f->y, f->dS, CLT_ERR_DTYPE, "class_weight int32");
  /* A tensor of another context. */
  clt_context *other = tu_context("ref");
  clt_tensor *oy = NULL;
  cr_assert_eq(clt_tensor_create(other, 7, 1, CLT_INT32, &oy), CLT_OK);
  expect_fails(f, &ce, f->S, oy, f->dS, CLT_ERR_CONTEXT, "other context");
  clt_tensor_destroy(oy);
  clt_context_destroy(other);
  clt_tensor *all[] = {i75, i72, f76, f71, f86, w16, wi};
  for (size_t k = 0; k < LEN(all); k++) clt_tensor_destroy(all[k]);
}

Test(loss, bad_tensors_are_refused) {
  each_backend(7, 5, bad_tensors_are_refused_body);
}

/* NaN or inf in S: CLT_ERR_NONFINITE with the loss NaN or inf (reported,
   not averaged away), for every kind; hinge reports a NaN even where
   multi_margin_loss would skip it. */
static void non_finite_scores_are_reported_body(fixture *f) {
  size_t n = f->n, c = f->c;
  float poison[] = {NAN, INFINITY};
  float *s = tu_read(f->S);
  for (size_t p = 0; p < LEN(poison); p++)
    for (int kind = CLT_LOSS_CROSS_ENTROPY; kind <= CLT_LOSS_KL_DIV; kind++) {
      float *x = malloc(n * c * sizeof *x);
      cr_assert_not_null(x);
      memcpy(x, s, n * c * sizeof *x);
      x[50 * c + 3] = poison[p];
      clt_tensor *S = tu_tensor(f->ctx, n, c, x);
      clt_loss_desc d = clt_loss_defaults((clt_loss_kind)kind);
      double loss = 0;
      clt_status st = clt_loss(f->ctx, &d, S, kind <= CLT_LOSS_HINGE ? f->y : f->T,
                               &loss, f->dS);
      cr_expect_eq(st, CLT_ERR_NONFINITE, "%s kind %d %g: %s", f->dev, kind,
                   (double)poison[p], clt_status_name(st));
      cr_expect(!isfinite(loss), "%s kind %d: loss %g", f->dev, kind, loss);
      clt_tensor_destroy(S);
      free(x);
    }
  free(s);
}

Test(loss, non_finite_scores_are_reported) {
  each_backend(93, 10, non_finite_scores_are_reported_body);
}

/* Scores of +-3e38 make a cross-entropy past float32's range: both
   backends report it as non-finite (the reference sums in double, where
   it would still be finite). */
static void losses_past_float_range_are_non_finite_body(fixture *f) {
  size_t n = f->n, c = f->c;
  float *x = malloc(n * c * sizeof *x);
  cr_assert_not_null(x);
  for (size_t k = 0; k < n * c; k++) x[k] = k % 2 ? 3e38f : -3e38f;
  clt_tensor *S = tu_tensor(f->ctx, n, c, x);
  clt_loss_desc d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  d.reduction = CLT_REDUCTION_SUM;
  double loss = 0;
  cr_expect_eq(clt_loss(f->ctx, &d, S, f->y, &loss, f->dS), CLT_ERR_NONFINITE, "%s",
               f->dev);
  cr_expect(!isfinite(loss), "%s: loss %g", f->dev, loss);
  clt_tensor_destroy(S);
  free(x);
}

Test(loss, losses_past_float_range_are_non_finite) {
  each_backend(93, 10, losses_past_float_range_are_non_finite_body);
}

/* Every row ignored: PyTorch's mean is 0/0 = NaN with a zero gradient. */
static void every_row_ignored_is_nan_with_zero_gradient_body(fixture *f) {
  size_t n = f->n, c = f->c;
  cr_assert_eq(clt_tensor_fill(f->y, -100), CLT_OK);
  clt_loss_desc d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  d.label_smoothing = 0.1f;
  double loss = 0;
  cr_expect_eq(clt_loss(f->ctx, &d, f->S, f->y, &loss, f->dS), CLT_ERR_NONFINITE);
  cr_expect(isnan(loss), "%s: loss %g", f->dev, loss);
  float *g = tu_read(f->dS);
  for (size_t k = 0; k < n * c; k++)
    cr_expect_eq(g[k], 0.0f, "%s: dS[%zu] = %g", f->dev, k, (double)g[k]);
  free(g);
  d.reduction = CLT_REDUCTION_SUM;
  cr_expect_eq(clt_loss(f->ctx, &d, f->S, f->y, &loss, f->dS), CLT_OK);
  cr_expect_eq(loss, 0.0, "%s: sum over no rows %g", f->dev, loss);
}

Test(loss, every_row_ignored_is_nan_with_zero_gradient) {
  each_backend(7, 5, every_row_ignored_is_nan_with_zero_gradient_body);
}
