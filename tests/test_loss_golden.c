/* clt_loss against PyTorch (float64) on every loss case of
   tests/golden/losses.txt.gz (generator: tests/golden/gen_golden.py),
   stability cases included (equal logits, +-1e4, true class at -1e4).

   Tolerances. Reference backend (double arithmetic on the float32 inputs
   PyTorch also saw): loss |d| <= 1e-12 + 1e-10 |want|, dS within float32
   rounding (|d| <= 1e-30 + 2e-7 |want|). OpenCL (float32 arithmetic): loss
   |d| <= 1e-6 + 2e-5 |want|, dS |d| <= 1e-6 max|dS| + 1e-4 |want|.
   kl_div cases feed log_softmax(S) rounded to float32 as the input, so the
   loss tolerance there is float32's for both backends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "testutil.h"

static double *alloc_d(size_t n) {
  double *x = calloc(n ? n : 1, sizeof *x);
  cr_assert_not_null(x);
  return x;
}

static float *to_float(const double *x, size_t n) {
  float *f = malloc((n ? n : 1) * sizeof *f);
  cr_assert_not_null(f);
  golden_to_float(x, f, n);
  return f;
}

/* log_softmax of each row of S (n,c), in double. */
static void log_softmax(double *S, size_t n, size_t c) {
  for (size_t i = 0; i < n; i++) {
    double *r = S + i * c, m = r[0], z = 0;
    for (size_t j = 1; j < c; j++) m = fmax(m, r[j]);
    for (size_t j = 0; j < c; j++) z += exp(r[j] - m);
    for (size_t j = 0; j < c; j++) r[j] = r[j] - m - log(z);
  }
}

static void check_case(clt_context *ctx, const char *dev,
                       const golden_case *gc) {
  const char *name = golden_case_name(gc);
  size_t n = (size_t)golden_param(gc, "n", 0), c = (size_t)golden_param(gc, "c", 0);
  clt_loss_kind kind = (clt_loss_kind)golden_param(gc, "kind", -1);
  clt_loss_desc d = clt_loss_defaults(kind);
  d.reduction = (clt_reduction)golden_param(gc, "reduction", 0);
  d.margin = (float)golden_param(gc, "margin", 1.0);
  d.p = (int)golden_param(gc, "p", 1);
  d.label_smoothing = (float)golden_param(gc, "label_smoothing", 0.0);
  d.ignore_index = (int)golden_param(gc, "ignore_index", -100);
  d.huber_delta = (float)golden_param(gc, "huber_delta", 1.0);
  d.log_target = (int)golden_param(gc, "log_target", 0);
  int rule = (int)golden_param(gc, "target_rule", 0);
  bool labels = kind == CLT_LOSS_HINGE || (kind == CLT_LOSS_CROSS_ENTROPY && rule == 0);

  double *S = alloc_d(n * c);
  cr_assert_eq(golden_loss_scores(gc, S), 0, "%s: scores", name);
  bool kl = kind == CLT_LOSS_KL_DIV;
  if (kl) log_softmax(S, n, c);
  float *Sf = to_float(S, n * c);
  clt_tensor *tS = tu_tensor(ctx, n, c, Sf), *tT, *cw = NULL, *pw = NULL;
  if (labels) {
    int32_t *y = malloc(n * sizeof *y);
    cr_assert_not_null(y);
    cr_assert_eq(golden_loss_labels(gc, y), 0, "%s: labels", name);
    tT = tu_labels(ctx, n, y);
    free(y);
  } else {
    double *T = alloc_d(n * c);
    cr_assert_eq(golden_loss_target(gc, T), 0, "%s: target", name);
    float *Tf = to_float(T, n * c);
    tT = tu_tensor(ctx, n, c, Tf);
    free(Tf);
    free(T);
  }
  double *w = alloc_d(c);
  if (golden_param(gc, "class_weight", 0) != 0) {
    cr_assert_eq(golden_loss_class_weight(gc, w), 0, "%s", name);
    float *wf = to_float(w, c);
    d.class_weight = cw = tu_tensor(ctx, 1, c, wf);
    free(wf);
  }
  if (golden_param(gc, "pos_weight", 0) != 0) {
    cr_assert_eq(golden_loss_pos_weight(gc, w), 0, "%s", name);
    float *wf = to_float(w, c);
    d.pos_weight = pw = tu_tensor(ctx, 1, c, wf);
    free(wf);
  }
  clt_tensor *dS = tu_tensor(ctx, n, c, NULL);
  double loss = NAN;
  clt_status st = clt_loss(ctx, &d, tS, tT, &loss, dS);
  cr_assert_eq(st, CLT_OK, "%s %s: %s: %s", dev, name, clt_status_str(st),
               clt_last_error(ctx));

  const golden_array *gl = golden_array_get(gc, "loss");
  const golden_array *gd = golden_array_get(gc, kl ? "dInput" : "dS");
  cr_assert(gl && gd && gd->rows == n && gd->cols == c, "%s: arrays", name);
  bool ref = clt_context_is_reference(ctx);
  double want = gl->data[0];
  double atol = ref && !kl ? 1e-12 : 1e-6, rtol = ref && !kl ? 1e-10 : 2e-5;
  cr_expect(isfinite(loss) && fabs(loss - want) <= atol + rtol * fabs(want),
            "%s %s: loss %.17g, PyTorch %.17g", dev, name, loss, want);
  double scale = 0;
  for (size_t k = 0; k < n * c; k++) scale = fmax(scale, fabs(gd->data[k]));
  float *got = tu_read(dS);
  char what[128];
  snprintf(what, sizeof what, "%s %s dS", dev, name);
  if (ref)
    tu_expect_close(what, got, gd->data, n * c, 1e-30, 2e-7);
  else
    tu_expect_close(what, got, gd->data, n * c, 1e-6 * scale, 1e-4);
  free(got);
  free(w);
  free(Sf);
  free(S);
  clt_tensor_destroy(tS);
  clt_tensor_destroy(tT);
  clt_tensor_destroy(cw);
  clt_tensor_destroy(pw);
  clt_tensor_destroy(dS);
}

Test(loss_golden, every_loss_case_matches_pytorch, .timeout = 300) {
  golden_set *set = golden_load(CLT_GOLDEN_DIR "/losses.txt.gz");
  cr_assert_not_null(set, "cannot load %s", CLT_GOLDEN_DIR "/losses.txt.gz");
  const char *devs[2];
  size_t nd = tu_devices(devs), checked = 0;
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    for (size_t i = 0; i < golden_count(set); i++) {
      const golden_case *gc = golden_at(set, i);
      if (!golden_has_param(gc, "kind")) continue; /* regularization */
      check_case(ctx, devs[v], gc);
      checked++;
    }
    clt_context_destroy(ctx);
  }
  cr_expect_geq(checked, 150 * nd, "only %zu cases checked", checked);
  golden_free(set);
}
