/* clt_regularize on every backend against the double-precision definition
   (penalty l1 sum|W| + 0.5 l2 sum W^2, dW += l1 sign(W) + l2 W) on random
   weights, against PyTorch (reg_* cases of tests/golden/losses.txt.gz),
   and on bad input.

   Tolerances: penalty |d| <= 1e-7 + 1e-5 |want| (float32 partial sums);
   dW |d| <= 1e-7 + 1e-6 |want| (one float32 fused update per element). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "golden.h"
#include "loss_impl.h"
#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Adds the double-precision penalty of w (n) to *pen and its gradient to
   g (n). */
static void reference(const clt_reg_desc *reg, const float *w, size_t n,
                      double *pen, double *g) {
  for (size_t k = 0; k < n; k++) {
    double gk;
    *pen += clt_reg_term(reg, w[k], &gk);
    g[k] += gk;
  }
}

static void check(clt_context *ctx, const char *dev, clt_reg_desc reg,
                  size_t d, size_t c) {
  size_t n = d * c;
  float *w = malloc(n * sizeof *w), *g0 = malloc(n * sizeof *g0);
  double *want = malloc(n * sizeof *want);
  cr_assert(w && g0 && want);
  tu_fill_uniform(w, n, 3 * n + 1, -2.0f, 2.0f);
  for (size_t k = 0; k < n; k += 7) w[k] = 0.0f; /* sign(0) = 0 */
  tu_fill_uniform(g0, n, 3 * n + 2, -1.0f, 1.0f);
  for (size_t k = 0; k < n; k++) want[k] = g0[k];
  double pen_want = 0.5;
  reference(&reg, w, n, &pen_want, want);
  clt_tensor *W = tu_tensor(ctx, d, c, w), *dW = tu_tensor(ctx, d, c, g0);
  double pen = 0.5;
  clt_status st = clt_regularize(ctx, &reg, W, &pen, dW);
  cr_assert_eq(st, CLT_OK, "%s: %s", dev, clt_last_error(ctx));
  cr_expect(fabs(pen - pen_want) <= 1e-7 + 1e-5 * fabs(pen_want),
            "%s l1=%g l2=%g %zux%zu: penalty %.9g, want %.9g", dev,
            (double)reg.l1, (double)reg.l2, d, c, pen, pen_want);
  float *got = tu_read(dW);
  char what[96];
  snprintf(what, sizeof what, "%s l1=%g l2=%g %zux%zu dW", dev,
           (double)reg.l1, (double)reg.l2, d, c);
  tu_expect_close(what, got, want, n, 1e-7, 1e-6);
  free(got);
  free(w);
  free(g0);
  free(want);
  clt_tensor_destroy(W);
  clt_tensor_destroy(dW);
}

Test(regularize, matches_reference_on_random_weights) {
  const size_t ds[] = {1, 13, 784, 4097}, cs[] = {1, 2, 10, 1000};
  const clt_reg_desc regs[] = {{0.0f, 1e-3f}, {0.3f, 0.0f}, {1e-3f, 0.5f}};
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    for (size_t r = 0; r < LEN(regs); r++)
      for (size_t a = 0; a < LEN(ds); a++)
        for (size_t b = 0; b < LEN(cs); b++) check(ctx, devs[v], regs[r], ds[a], cs[b]);
    clt_context_destroy(ctx);
  }
}

/* PyTorch: penalty = l1 W.abs().sum() + 0.5 l2 (W*W).sum(), dW by autograd
   (added to a zero dW here). */
Test(regularize, matches_pytorch) {
  golden_set *set = golden_load(CLT_GOLDEN_DIR "/losses.txt.gz");
  cr_assert_not_null(set);
  const char *devs[2];
  size_t nd = tu_devices(devs), checked = 0;
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    for (size_t i = 0; i < golden_count(set); i++) {
      const golden_case *gc = golden_at(set, i);
      if (golden_has_param(gc, "kind")) continue; /* a loss case */
      size_t d = (size_t)golden_param(gc, "d", 0), c = (size_t)golden_param(gc, "c", 0);
      clt_reg_desc reg = {(float)golden_param(gc, "l1", 0), (float)golden_param(gc, "l2", 0)};
      double *w = malloc(d * c * sizeof *w);
      float *wf = malloc(d * c * sizeof *wf);
      cr_assert(w && wf);
      cr_assert_eq(golden_reg_weights(gc, w), 0);
      golden_to_float(w, wf, d * c);
      clt_tensor *W = tu_tensor(ctx, d, c, wf), *dW = tu_tensor(ctx, d, c, NULL);
      cr_assert_eq(clt_tensor_fill(dW, 0.0), CLT_OK);
      double pen = 0;
      cr_assert_eq(clt_regularize(ctx, &reg, W, &pen, dW), CLT_OK, "%s",
                   clt_last_error(ctx));
      const golden_array *gp = golden_array_get(gc, "penalty");
      const golden_array *gd = golden_array_get(gc, "dW");
      cr_assert(gp && gd);
      cr_expect(fabs(pen - gp->data[0]) <= 1e-7 + 1e-5 * fabs(gp->data[0]),
                "%s %s: penalty %.9g, PyTorch %.9g", devs[v],
                golden_case_name(gc), pen, gp->data[0]);
      float *got = tu_read(dW);
      tu_expect_close(golden_case_name(gc), got, gd->data, d * c, 1e-7, 1e-6);
      free(got);
      free(w);
      free(wf);
      clt_tensor_destroy(W);
      clt_tensor_destroy(dW);
      checked++;
    }
    clt_context_destroy(ctx);
  }
  cr_expect_geq(checked, 15 * nd, "only %zu cases", checked);
  golden_free(set);
}

/* Each output on its own; zero strengths change nothing; a nonzero W makes
   the regularized loss go up. */
Test(regularize, optional_outputs_and_zero_strengths) {
  const char *devs[2];
  size_t nd = tu_devices(devs), n = 13 * 10;
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    float w[13 * 10], g[13 * 10];
    tu_fill_uniform(w, n, 9, -1.0f, 1.0f);
    clt_tensor *W = tu_tensor(ctx, 13, 10, w), *dW = tu_tensor(ctx, 13, 10, NULL);
    clt_reg_desc reg = {0.01f, 0.1f};
    double both = 0, only = 0;
    cr_assert_eq(clt_tensor_fill(dW, 0.0), CLT_OK);
    cr_assert_eq(clt_regularize(ctx, &reg, W, &both, dW), CLT_OK);
    float *a = tu_read(dW);
    cr_assert_eq(clt_regularize(ctx, &reg, W, &only, NULL), CLT_OK);
    cr_expect_eq(both, only, "%s: penalty %g vs %g", devs[v], both, only);
    cr_expect_gt(only, 0.0, "%s: the penalty of a nonzero W", devs[v]);
    cr_assert_eq(clt_tensor_fill(dW, 0.0), CLT_OK);
    cr_assert_eq(clt_regularize(ctx, &reg, W, NULL, dW), CLT_OK);
    float *b = tu_read(dW);
    cr_expect_arr_eq(a, b, sizeof g, "%s: dW alone", devs[v]);
    clt_reg_desc none = {0.0f, 0.0f};
    double pen = 2.5;
    cr_assert_eq(clt_regularize(ctx, &none, W, &pen, dW), CLT_OK);
    cr_expect_eq(pen, 2.5, "%s: zero strengths changed the penalty", devs[v]);
    float *c = tu_read(dW);
    cr_expect_arr_eq(b, c, sizeof g, "%s: zero strengths changed dW", devs[v]);
    free(a);
    free(b);
    free(c);
    clt_tensor_destroy(W);
    clt_tensor_destroy(dW);
    clt_context_destroy(ctx);
  }
}

Test(regularize, bad_input_is_refused) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  const float bad[] = {NAN, -0.1f, INFINITY};
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    clt_tensor *W = tu_tensor(ctx, 4, 3, NULL), *dW = tu_tensor(ctx, 4, 3, NULL);
    clt_tensor *d43i, *d34 = tu_tensor(ctx, 3, 4, NULL);
    cr_assert_eq(clt_tensor_create(ctx, 4, 3, CLT_INT32, &d43i), CLT_OK);
    cr_assert_eq(clt_tensor_fill(W, 1.0), CLT_OK);
    cr_assert_eq(clt_tensor_fill(dW, 5.0), CLT_OK);
    double pen = 1.0;
    for (size_t k = 0; k < LEN(bad); k++) {
      clt_reg_desc r1 = {bad[k], 0.0f}, r2 = {0.0f, bad[k]};
      cr_expect_eq(clt_regularize(ctx, &r1, W, &pen, dW), CLT_ERR_INVALID_ARG);
      cr_expect_eq(clt_regularize(ctx, &r2, W, &pen, dW), CLT_ERR_INVALID_ARG);
    }
    clt_reg_desc reg = {0.1f, 0.1f};
    cr_expect_eq(clt_regularize(ctx, NULL, W, &pen, dW), CLT_ERR_INVALID_ARG);
    cr_expect_eq(clt_regularize(NULL, &reg, W, &pen, dW), CLT_ERR_INVALID_ARG);
    cr_expect_eq(clt_regularize(ctx, &reg, NULL, &pen, dW), CLT_ERR_INVALID_ARG);
    cr_expect_eq(clt_regularize(ctx, &reg, W, &pen, d34), CLT_ERR_SHAPE);
    cr_expect_eq(clt_regularize(ctx, &reg, W, &pen, d43i), CLT_ERR_DTYPE);
    cr_expect_eq(clt_regularize(ctx, &reg, d43i, &pen, dW), CLT_ERR_DTYPE);
    /* dW over W's memory (W itself, or shifted by a row) is refused: both
       backends would read W while writing it. */
    clt_tensor *both = tu_tensor(ctx, 5, 3, NULL), *lo = NULL, *hi = NULL;
    cr_assert_eq(clt_tensor_view_rows(both, 0, 4, &lo), CLT_OK);
    cr_assert_eq(clt_tensor_view_rows(both, 1, 4, &hi), CLT_OK);
    cr_expect_eq(clt_regularize(ctx, &reg, lo, &pen, hi), CLT_ERR_INVALID_ARG, "%s", devs[v]);
    cr_expect_eq(clt_regularize(ctx, &reg, lo, &pen, lo), CLT_ERR_INVALID_ARG, "%s", devs[v]);
    clt_tensor_destroy(lo);
    clt_tensor_destroy(hi);
    clt_tensor_destroy(both);
    cr_expect_eq(pen, 1.0, "%s: penalty written on failure", devs[v]);
    float *g = tu_read(dW);
    for (size_t k = 0; k < 12; k++)
      cr_expect_eq(g[k], 5.0f, "%s: dW[%zu] written on failure", devs[v], k);
    free(g);
    /* NaN in W: reported; the penalty holds the NaN. */
    float w[12] = {1, 2, NAN};
    cr_assert_eq(clt_tensor_write(W, w, sizeof w), CLT_OK);
    cr_expect_eq(clt_regularize(ctx, &reg, W, &pen, dW), CLT_ERR_NONFINITE);
    cr_expect(isnan(pen), "%s: penalty %g", devs[v], pen);
    clt_tensor *all[] = {W, dW, d43i, d34};
    for (size_t k = 0; k < LEN(all); k++) clt_tensor_destroy(all[k]);
    clt_context_destroy(ctx);
  }
}
