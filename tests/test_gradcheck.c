/* clt_gradcheck: every loss, with and without L1/L2, on both backends;
   that it reports a real mismatch (a kink, a step too large for a curved
   loss); sampling, the bias-free model and bad input.

   Bounds: the OpenCL device (float32 analytic gradient) <= 1e-4, the
   command's default threshold; the reference backend (its analytic
   gradient in double) <= 1e-7 on the smooth losses and <= 1e-4 on those
   with kinks (hinge, l1, huber), as the issue asks. */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct gc_fixture {
  clt_context *ctx;
  clt_tensor *X, *W, *b, *y, *T;
} gc_fixture;

/* X in [-1,1), W and b in [-0.5,0.5), labels, and targets for the kind. */
static gc_fixture make(const char *dev, clt_loss_kind kind, size_t n,
                       size_t d, size_t c, uint64_t seed) {
  gc_fixture f = {.ctx = tu_context(dev)};
  float *x = malloc(n * d * 4), *w = malloc(d * c * 4), *b = malloc(c * 4);
  float *t = malloc(n * c * 4);
  int32_t *y = malloc(n * 4);
  cr_assert(x && w && b && t && y);
  tu_fill_uniform(x, n * d, seed, -1.0f, 1.0f);
  tu_fill_uniform(w, d * c, seed + 1, -0.5f, 0.5f);
  tu_fill_uniform(b, c, seed + 2, -0.5f, 0.5f);
  tu_fill_labels(y, n, seed + 3, (int32_t)c);
  bool kl = kind == CLT_LOSS_KL_DIV, bce = kind == CLT_LOSS_BCE_LOGITS;
  tu_fill_uniform(t, n * c, seed + 4, kl ? 0.05f : bce ? 0.0f : -1.0f, 1.0f);
  for (size_t i = 0; kl && i < n; i++) {
    float sum = 0;
    for (size_t j = 0; j < c; j++) sum += t[i * c + j];
    for (size_t j = 0; j < c; j++) t[i * c + j] /= sum;
  }
  f.X = tu_tensor(f.ctx, n, d, x);
  f.W = tu_tensor(f.ctx, d, c, w);
  f.b = tu_tensor(f.ctx, 1, c, b);
  f.T = tu_tensor(f.ctx, n, c, t);
  f.y = tu_labels(f.ctx, n, y);
  free(x);
  free(w);
  free(b);
  free(t);
  free(y);
  return f;
}

static void release(gc_fixture *f) {
  clt_tensor_destroy(f->X);
  clt_tensor_destroy(f->W);
  clt_tensor_destroy(f->b);
  clt_tensor_destroy(f->y);
  clt_tensor_destroy(f->T);
  clt_context_destroy(f->ctx);
}

static const clt_tensor *target(const gc_fixture *f, clt_loss_kind kind) {
  return kind == CLT_LOSS_CROSS_ENTROPY || kind == CLT_LOSS_HINGE ? f->y : f->T;
}

Test(gradcheck, every_loss_with_and_without_regularization, .timeout = 300) {
  const clt_reg_desc regs[] = {{0, 0}, {0.01f, 0}, {0, 0.1f}, {0.003f, 0.5f}};
  const size_t shapes[][3] = {{16, 8, 5}, {7, 13, 2}, {33, 3, 10}};
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++)
    for (int kind = CLT_LOSS_CROSS_ENTROPY; kind <= CLT_LOSS_KL_DIV; kind++)
      for (size_t s = 0; s < LEN(shapes); s++) {
        gc_fixture f = make(devs[v], (clt_loss_kind)kind, shapes[s][0],
                            shapes[s][1], shapes[s][2], 100 * kind + s);
        bool ref = clt_context_is_reference(f.ctx);
        bool kinked = kind == CLT_LOSS_HINGE || kind == CLT_LOSS_L1 ||
                      kind == CLT_LOSS_HUBER;
        double bound = ref && !kinked ? 1e-7 : 1e-4;
        clt_loss_desc d = clt_loss_defaults((clt_loss_kind)kind);
        for (size_t r = 0; r < LEN(regs); r++) {
          clt_gradcheck_result res;
          clt_status st = clt_gradcheck(f.ctx, &d, &regs[r], f.X,
                                        target(&f, (clt_loss_kind)kind), f.W,
                                        f.b, 0, 1, 1e-5, &res);
          cr_assert_eq(st, CLT_OK, "%s: %s", devs[v], clt_last_error(f.ctx));
          cr_expect(res.max_rel_error_W <= bound && res.max_rel_error_b <= bound,
                    "%s %s %zux%zux%zu l1=%g l2=%g: W %.3g b %.3g > %g", devs[v],
                    clt_loss_kind_name((clt_loss_kind)kind), shapes[s][0],
                    shapes[s][1], shapes[s][2], (double)regs[r].l1,
                    (double)regs[r].l2, res.max_rel_error_W,
                    res.max_rel_error_b, bound);
          cr_expect_eq(res.checked_W, shapes[s][1] * shapes[s][2]);
          cr_expect_eq(res.checked_b, shapes[s][2]);
        }
        release(&f);
      }
}

/* At W = 0, b = 0 with margin 0 every hinge term sits on its kink: the
   subgradient 0 disagrees with the one-sided differences, and the check
   must say so. A step of 0.5 is far too large for the curved
   cross-entropy (a large error) but exact for the quadratic MSE. */
Test(gradcheck, reports_real_mismatches) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    gc_fixture f = make(devs[v], CLT_LOSS_HINGE, 16, 8, 5, 7);
    cr_assert_eq(clt_tensor_fill(f.W, 0.0), CLT_OK);
    cr_assert_eq(clt_tensor_fill(f.b, 0.0), CLT_OK);
    clt_loss_desc d = clt_loss_defaults(CLT_LOSS_HINGE);
    d.margin = 0.0f;
    clt_gradcheck_result res;
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 0, 1, 1e-5,
                               &res), CLT_OK);
    cr_expect_gt(res.max_rel_error_W, 0.1, "%s: kink not reported (%g)",
                 devs[v], res.max_rel_error_W);
    release(&f);

    f = make(devs[v], CLT_LOSS_CROSS_ENTROPY, 16, 8, 5, 8);
    d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 0, 1, 0.5,
                               &res), CLT_OK);
    cr_expect_gt(res.max_rel_error_W, 1e-3, "%s: h = 0.5 on cross-entropy (%g)",
                 devs[v], res.max_rel_error_W);
    d = clt_loss_defaults(CLT_LOSS_MSE);
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.T, f.W, f.b, 0, 1, 0.5,
                               &res), CLT_OK);
    cr_expect_lt(res.max_rel_error_W, 1e-4, "%s: h = 0.5 on mse (%g)", devs[v],
                 res.max_rel_error_W);
    release(&f);
  }
}

Test(gradcheck, samples_seed_and_no_bias) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    gc_fixture f = make(devs[v], CLT_LOSS_CROSS_ENTROPY, 20, 30, 10, 9);
    clt_loss_desc d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
    clt_gradcheck_result a, b, c;
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 7, 42, 1e-5, &a), CLT_OK);
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 7, 42, 1e-5, &b), CLT_OK);
    cr_expect_eq(a.checked_W, 7);
    cr_expect_eq(a.checked_b, 7);
    cr_expect_eq(a.max_rel_error_W, b.max_rel_error_W, "same seed, same sample");
    cr_expect_lt(a.max_rel_error_W, 1e-4);
    /* More samples than coordinates: all of them. */
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 5000, 1, 1e-5, &c), CLT_OK);
    cr_expect_eq(c.checked_W, 300);
    cr_expect_eq(c.checked_b, 10);
    cr_assert_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, NULL, 0, 1, 1e-5, &c), CLT_OK);
    cr_expect_eq(c.checked_b, 0);
    cr_expect_eq(c.max_rel_error_b, 0.0);
    cr_expect_lt(c.max_rel_error_W, 1e-4);
    release(&f);
  }
}

Test(gradcheck, bad_input_is_refused) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    gc_fixture f = make(devs[v], CLT_LOSS_CROSS_ENTROPY, 7, 4, 3, 10);
    clt_loss_desc d = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
    clt_gradcheck_result r = {.max_rel_error_W = 42};
    double hs[] = {0.0, -1e-5, NAN, INFINITY};
    for (size_t k = 0; k < LEN(hs); k++)
      cr_expect_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 0, 1, hs[k], &r),
                   CLT_ERR_INVALID_ARG, "h = %g", hs[k]);
    cr_expect_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 0, 1, 1e-5, NULL),
                 CLT_ERR_INVALID_ARG);
    cr_expect_eq(clt_gradcheck(f.ctx, NULL, NULL, f.X, f.y, f.W, f.b, 0, 1, 1e-5, &r),
                 CLT_ERR_INVALID_ARG);
    cr_expect_eq(clt_gradcheck(NULL, &d, NULL, f.X, f.y, f.W, f.b, 0, 1, 1e-5, &r),
                 CLT_ERR_INVALID_ARG);
    /* W of the wrong shape for X; labels outside [0, C); a bad reg. */
    clt_tensor *W2 = tu_tensor(f.ctx, 5, 3, NULL);
    cr_expect_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, W2, f.b, 0, 1, 1e-5, &r),
                 CLT_ERR_SHAPE, "%s", clt_last_error(f.ctx));
    cr_assert_eq(clt_tensor_fill(f.y, 3), CLT_OK);
    cr_expect_eq(clt_gradcheck(f.ctx, &d, NULL, f.X, f.y, f.W, f.b, 0, 1, 1e-5, &r),
                 CLT_ERR_LABEL, "%s", clt_last_error(f.ctx));
    cr_assert_eq(clt_tensor_fill(f.y, 0), CLT_OK);
    clt_reg_desc reg = {-1.0f, 0.0f};
    cr_expect_eq(clt_gradcheck(f.ctx, &d, &reg, f.X, f.y, f.W, f.b, 0, 1, 1e-5, &r),
                 CLT_ERR_INVALID_ARG, "%s", clt_last_error(f.ctx));
    cr_expect_eq(r.max_rel_error_W, 42.0, "result written on failure");
    clt_tensor_destroy(W2);
    release(&f);
  }
}
