/* clt_linear_forward / clt_linear_backward against PyTorch (float64) on the
   cases of tests/golden/linear.txt.gz (generator: tests/golden/gen_golden.py:
   S = X @ W + b; S.backward(dS) gives W.grad, b.grad, X.grad), on every
   backend and, on OpenCL, through both paths (kernels and CLBlast).

   Tolerances. The inputs are float32 values, so the reference backend
   (double sums, one rounding to float32) must agree with PyTorch's float64
   to float32 rounding: |d| <= 1e-12 + 1e-7 |want| (2^-24 = 6e-8). OpenCL
   sums K products in float32 (K = D for S, N for dW and db, C for dX):
   |d| <= 1e-6 + 1e-7 K + 1e-5 |want|, as in test_linear.c, which explains
   the bound. */
#include <stdio.h>
#include <stdlib.h>

#include "golden.h"
#include "linear.h"
#include "testutil.h"

static clt_tensor *tensor_from(clt_context *ctx, const double *x, size_t rows,
                               size_t cols) {
  float *f = malloc(rows * cols * sizeof *f);
  cr_assert_not_null(f);
  golden_to_float(x, f, rows * cols);
  clt_tensor *t = tu_tensor(ctx, rows, cols, f);
  free(f);
  return t;
}

static void expect_array(const char *what, const golden_case *gc,
                         const char *name, const clt_tensor *t, size_t K,
                         bool ref) {
  const golden_array *a = golden_array_get(gc, name);
  cr_assert(a && a->rows == clt_tensor_rows(t) && a->cols == clt_tensor_cols(t),
            "%s: array %s missing or misshapen", what, name);
  float *got = tu_read(t);
  char label[160];
  snprintf(label, sizeof label, "%s %s", what, name);
  if (ref)
    tu_expect_close(label, got, a->data, a->rows * a->cols, 1e-12, 1e-7);
  else
    tu_expect_close(label, got, a->data, a->rows * a->cols,
                    1e-6 + 1e-7 * (double)K, 1e-5);
  free(got);
}

static void check_case(clt_context *ctx, const char *dev,
                       const golden_case *gc, tu_linear_path path) {
  size_t n = (size_t)golden_param(gc, "n", 0), d = (size_t)golden_param(gc, "d", 0),
         c = (size_t)golden_param(gc, "c", 0);
  double *X = malloc(n * d * sizeof *X), *W = malloc(d * c * sizeof *W);
  double *b = malloc(c * sizeof *b), *dS = malloc(n * c * sizeof *dS);
  cr_assert(X && W && b && dS);
  cr_assert_eq(golden_linear_inputs(gc, X, W, b, dS), 0, "%s: inputs",
               golden_case_name(gc));
  clt_tensor *tX = tensor_from(ctx, X, n, d), *tW = tensor_from(ctx, W, d, c);
  clt_tensor *tb = tensor_from(ctx, b, 1, c), *tdS = tensor_from(ctx, dS, n, c);
  clt_tensor *S = tu_tensor(ctx, n, c, NULL), *dW = tu_tensor(ctx, d, c, NULL);
  clt_tensor *db = tu_tensor(ctx, 1, c, NULL), *dX = tu_tensor(ctx, n, d, NULL);
  bool ref = clt_context_is_reference(ctx);
  clt_status st = tu_linear_forward(ctx, tX, tW, tb, S, path);
  cr_assert_eq(st, CLT_OK, "%s: %s", golden_case_name(gc), clt_last_error(ctx));
  st = tu_linear_backward(ctx, tX, tW, tdS, dW, db, dX, path);
  cr_assert_eq(st, CLT_OK, "%s: %s", golden_case_name(gc), clt_last_error(ctx));
  char what[128];
  snprintf(what, sizeof what, "%s%s %s", dev,
           ref ? "" : path == TU_LINEAR_KERNEL ? "/kernels" : "/clblast",
           golden_case_name(gc));
  expect_array(what, gc, "S", S, d, ref);
  expect_array(what, gc, "dW", dW, n, ref);
  expect_array(what, gc, "db", db, n, ref);
  expect_array(what, gc, "dX", dX, c, ref);
  clt_tensor *all[] = {tX, tW, tb, tdS, S, dW, db, dX};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) clt_tensor_destroy(all[i]);
  free(X), free(W), free(b), free(dS);
}

Test(linear_golden, every_case_matches_pytorch, .timeout = 300) {
  golden_set *set = golden_load(CLT_GOLDEN_DIR "/linear.txt.gz");
  cr_assert_not_null(set, "cannot load %s", CLT_GOLDEN_DIR "/linear.txt.gz");
  cr_assert_geq(golden_count(set), 5);
  const char *devs[2];
  size_t nd = tu_devices(devs), checked = 0;
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    bool ref = clt_context_is_reference(ctx);
    for (size_t i = 0; i < golden_count(set); i++) {
      check_case(ctx, devs[v], golden_at(set, i), TU_LINEAR_KERNEL);
      if (!ref) check_case(ctx, devs[v], golden_at(set, i), TU_LINEAR_CLBLAST);
      checked++;
    }
    clt_context_destroy(ctx);
  }
  cr_expect_eq(checked, golden_count(set) * nd);
  golden_free(set);
}
