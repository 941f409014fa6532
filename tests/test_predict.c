/* clt_argmax and clt_accuracy on every backend: random scores at odd sizes
   through row views, ties (the first maximum wins), NaN (the first NaN
   wins, as torch.argmax on CPU), labels outside [0, C), bad input. Results
   are integers, so the backends must agree exactly. */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const size_t NS[] = {1, 7, 93, 1000, 4097};
static const size_t CS[] = {1, 2, 10, 1000};

/* First maximum of s[0..c) with NaN largest: the specification, by hand. */
static int32_t expected_argmax(const float *s, size_t c) {
  size_t best = 0;
  for (size_t j = 0; j < c; j++) {
    if (isnan(s[j])) return (int32_t)j;
    if (s[j] > s[best]) best = j;
  }
  return (int32_t)best;
}

/* Scores with ties: values on a coarse grid so rows often repeat their
   maximum; every 17th row gets a NaN, every 23rd is all equal. */
static float *make_scores(size_t n, size_t c, uint64_t seed) {
  float *s = malloc(n * c * sizeof *s);
  cr_assert_not_null(s);
  tu_fill_uniform(s, n * c, seed, -4.0f, 4.0f);
  for (size_t i = 0; i < n * c; i++) s[i] = floorf(s[i] * (c > 100 ? 64 : 2));
  for (size_t r = 0; r < n; r++) {
    if (r % 17 == 5) s[r * c + (r * 7) % c] = NAN;
    if (r % 23 == 11)
      for (size_t j = 0; j < c; j++) s[r * c + j] = 1.0f;
  }
  return s;
}

/* S as a view at row 3 of a bigger tensor. */
static clt_tensor *scores_view(clt_context *ctx, const float *s, size_t n,
                               size_t c, clt_tensor **parent) {
  float *h = calloc((n + 4) * c, sizeof *h);
  cr_assert_not_null(h);
  for (size_t i = 0; i < n * c; i++) h[3 * c + i] = s[i];
  *parent = tu_tensor(ctx, n + 4, c, h);
  clt_tensor *v = NULL;
  cr_assert_eq(clt_tensor_view_rows(*parent, 3, n, &v), CLT_OK);
  free(h);
  return v;
}

Test(predict, argmax_and_accuracy_match_the_specification, .timeout = 300) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    for (size_t i = 0; i < LEN(NS); i++)
      for (size_t k = 0; k < LEN(CS); k++) {
        size_t n = NS[i], c = CS[k];
        float *s = make_scores(n, c, 100 * n + c);
        int32_t *want = malloc(n * sizeof *want), *y = malloc(n * sizeof *y);
        int32_t *got = malloc((n + 2) * sizeof *got);
        cr_assert(want && y && got);
        for (size_t r = 0; r < n; r++) want[r] = expected_argmax(s + r * c, c);
        /* Labels: the prediction on two rows of three, else another class. */
        size_t correct = 0;
        for (size_t r = 0; r < n; r++) {
          bool hit = r % 3 != 1 || c == 1;
          y[r] = hit ? want[r] : (int32_t)((want[r] + 1) % (int32_t)c);
          correct += hit;
        }
        clt_tensor *parent, *S = scores_view(ctx, s, n, c, &parent);
        /* pred as a view between sentinel rows */
        int32_t sentinel[2] = {-7, -7};
        clt_tensor *pparent = NULL, *pred = NULL;
        cr_assert_eq(clt_tensor_create(ctx, n + 2, 1, CLT_INT32, &pparent), CLT_OK);
        cr_assert_eq(clt_tensor_fill(pparent, -7), CLT_OK);
        cr_assert_eq(clt_tensor_view_rows(pparent, 1, n, &pred), CLT_OK);
        cr_assert_eq(clt_argmax(ctx, S, pred), CLT_OK, "%s", clt_last_error(ctx));
        cr_assert_eq(clt_tensor_read(pparent, got, (n + 2) * 4), CLT_OK);
        cr_expect_eq(got[0], sentinel[0], "%s: row before the view written", devs[v]);
        cr_expect_eq(got[n + 1], sentinel[1], "%s: row after the view written", devs[v]);
        cr_expect_arr_eq(got + 1, want, n * sizeof *want,
                         "%s N=%zu C=%zu: argmax differs", devs[v], n, c);
        clt_tensor *labels = tu_labels(ctx, n, y);
        size_t count = 0;
        cr_assert_eq(clt_accuracy(ctx, S, labels, &count), CLT_OK, "%s",
                     clt_last_error(ctx));
        cr_expect_eq(count, correct, "%s N=%zu C=%zu: %zu correct, want %zu",
                     devs[v], n, c, count, correct);
        clt_tensor_destroy(labels);
        clt_tensor_destroy(pred);
        clt_tensor_destroy(pparent);
        clt_tensor_destroy(S);
        clt_tensor_destroy(parent);
        free(s);
        free(want);
        free(y);
        free(got);
      }
    clt_context_destroy(ctx);
  }
}

/* torch.argmax on CPU: [3, nan, 1, 5] -> 1, [1, 2, nan] -> 2, [nan, 1] -> 0,
   [inf, nan, -inf] -> 1, [-inf, -inf] -> 0, [2, 7, 7] -> 1. */
Test(predict, nan_and_ties_follow_pytorch) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  float s[6][4] = {{3, NAN, 1, 5},
                   {1, 2, NAN, -1},
                   {NAN, 1, 0, 0},
                   {INFINITY, NAN, -INFINITY, 0},
                   {-INFINITY, -INFINITY, -INFINITY, -INFINITY},
                   {2, 7, 7, -3}};
  int32_t want[6] = {1, 2, 0, 1, 0, 1};
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    clt_tensor *S = tu_tensor(ctx, 6, 4, &s[0][0]), *pred = NULL;
    cr_assert_eq(clt_tensor_create(ctx, 6, 1, CLT_INT32, &pred), CLT_OK);
    cr_assert_eq(clt_argmax(ctx, S, pred), CLT_OK);
    int32_t got[6];
    cr_assert_eq(clt_tensor_read(pred, got, sizeof got), CLT_OK);
    cr_expect_arr_eq(got, want, sizeof want, "%s", devs[v]);
    clt_tensor *labels = tu_labels(ctx, 6, want);
    size_t count = 0;
    cr_assert_eq(clt_accuracy(ctx, S, labels, &count), CLT_OK);
    cr_expect_eq(count, 6);
    clt_tensor_destroy(labels);
    clt_tensor_destroy(S);
    clt_tensor_destroy(pred);
    clt_context_destroy(ctx);
  }
}

Test(predict, bad_input_is_refused) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]), *other = tu_context(devs[v]);
    float s[5 * 3];
    tu_fill_uniform(s, LEN(s), 1, -1, 1);
    int32_t y[5] = {0, 1, 2, 1, 0};
    clt_tensor *S = tu_tensor(ctx, 5, 3, s), *Sf = tu_tensor(ctx, 5, 1, s);
    clt_tensor *Sother = tu_tensor(other, 5, 3, s), *labels = tu_labels(ctx, 5, y);
    clt_tensor *short_labels = tu_labels(ctx, 4, y), *pred = NULL, *pred4 = NULL;
    cr_assert_eq(clt_tensor_create(ctx, 5, 1, CLT_INT32, &pred), CLT_OK);
    cr_assert_eq(clt_tensor_create(ctx, 4, 1, CLT_INT32, &pred4), CLT_OK);
    cr_assert_eq(clt_tensor_fill(pred, -7), CLT_OK);
    size_t count = 99;
    struct {
      clt_status got, want;
      const char *what;
    } cases[] = {
        {clt_argmax(NULL, S, pred), CLT_ERR_INVALID_ARG, "argmax ctx NULL"},
        {clt_argmax(ctx, NULL, pred), CLT_ERR_INVALID_ARG, "argmax S NULL"},
        {clt_argmax(ctx, S, NULL), CLT_ERR_INVALID_ARG, "argmax pred NULL"},
        {clt_argmax(ctx, labels, pred), CLT_ERR_DTYPE, "argmax S int32"},
        {clt_argmax(ctx, S, Sf), CLT_ERR_DTYPE, "argmax pred float"},
        {clt_argmax(ctx, S, pred4), CLT_ERR_SHAPE, "argmax pred 4 rows"},
        {clt_argmax(ctx, Sother, pred), CLT_ERR_CONTEXT, "argmax S of another context"},
        {clt_accuracy(NULL, S, labels, &count), CLT_ERR_INVALID_ARG, "accuracy ctx NULL"},
        {clt_accuracy(ctx, S, labels, NULL), CLT_ERR_INVALID_ARG, "accuracy count NULL"},
        {clt_accuracy(ctx, S, NULL, &count), CLT_ERR_INVALID_ARG, "accuracy labels NULL"},
        {clt_accuracy(ctx, S, Sf, &count), CLT_ERR_DTYPE, "accuracy labels float"},
        {clt_accuracy(ctx, S, short_labels, &count), CLT_ERR_SHAPE, "accuracy 4 labels"},
        {clt_accuracy(ctx, Sother, labels, &count), CLT_ERR_CONTEXT, "accuracy S of another context"},
    };
    for (size_t i = 0; i < LEN(cases); i++)
      cr_expect_eq(cases[i].got, cases[i].want, "%s %s: got %s", devs[v],
                   cases[i].what, clt_status_name(cases[i].got));
    int32_t p[5];
    cr_assert_eq(clt_tensor_read(pred, p, sizeof p), CLT_OK);
    for (size_t i = 0; i < 5; i++) cr_expect_eq(p[i], -7, "pred written on failure");
    /* Labels outside [0, C): refused, on the device too, count untouched. */
    int32_t bad[][5] = {{0, 1, 3, 1, 0}, {0, -1, 2, 1, 0}, {0, 1, 2, 1, -100}};
    for (size_t i = 0; i < LEN(bad); i++) {
      clt_tensor *lb = tu_labels(ctx, 5, bad[i]);
      clt_status st = clt_accuracy(ctx, S, lb, &count);
      cr_expect_eq(st, CLT_ERR_LABEL, "%s bad labels %zu: got %s", devs[v], i,
                   clt_status_name(st));
      cr_expect_neq(clt_last_error(ctx)[0], '\0');
      clt_tensor_destroy(lb);
    }
    cr_expect_eq(count, 99, "count written on failure");
    clt_tensor *all[] = {S, Sf, Sother, labels, short_labels, pred, pred4};
    for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
    clt_context_destroy(ctx);
    clt_context_destroy(other);
  }
}
