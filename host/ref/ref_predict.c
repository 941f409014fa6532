/* Reference prediction helpers. */
#include <math.h>

#include "linear.h"

/* First maximum of s[0..C); a NaN beats every number (torch.argmax). */
static int32_t argmax_row(const float *s, size_t C) {
  if (isnan(s[0])) return 0;
  int32_t arg = 0;
  for (size_t c = 1; c < C; c++) {
    if (isnan(s[c])) return (int32_t)c;
    if (s[c] > s[arg]) arg = (int32_t)c;
  }
  return arg;
}

/* S (N,C) -> pred (N,1). */
clt_status clt_ref_argmax(clt_context *ctx, const clt_tensor *S,
                          clt_tensor *pred) {
  (void)ctx;
  const float *s = clt_ref_f32(S);
  int32_t *p = clt_ref_i32(pred);
  for (size_t n = 0; n < S->rows; n++) p[n] = argmax_row(s + n * S->cols, S->cols);
  return CLT_OK;
}

/* S (N,C), labels (N,1) -> number of rows with argmax == label. */
clt_status clt_ref_accuracy(clt_context *ctx, const clt_tensor *S,
                            const clt_tensor *labels, size_t *correct) {
  size_t N = S->rows, C = S->cols;
  const float *s = clt_ref_f32(S);
  const int32_t *y = clt_ref_i32(labels);
  for (size_t n = 0; n < N; n++)
    if (y[n] < 0 || (size_t)y[n] >= C)
      return clt_fail(ctx, CLT_ERR_LABEL,
                      "accuracy: label %d of row %zu is outside [0, %zu)",
                      (int)y[n], n, C);
  size_t ok = 0;
  for (size_t n = 0; n < N; n++) ok += argmax_row(s + n * C, C) == y[n];
  *correct = ok;
  return CLT_OK;
}
