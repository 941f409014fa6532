/* Prediction helpers: validation and dispatch. */
#include "backend.h"

clt_status clt_argmax(clt_context *ctx, const clt_tensor *S,
                      clt_tensor *pred) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(clt_check_tensor(ctx, S, CLT_FLOAT32, "argmax: S"));
  CLT_TRY(clt_check_tensor(ctx, pred, CLT_INT32, "argmax: pred"));
  CLT_TRY(clt_check_shape(ctx, pred, S->rows, 1, "argmax: pred"));
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "argmax", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->argmax(ctx, S, pred));
}

clt_status clt_accuracy(clt_context *ctx, const clt_tensor *S,
                        const clt_tensor *labels, size_t *correct) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(clt_check_tensor(ctx, S, CLT_FLOAT32, "accuracy: S"));
  CLT_TRY(clt_check_tensor(ctx, labels, CLT_INT32, "accuracy: labels"));
  if (!correct)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "accuracy: correct is NULL");
  CLT_TRY(clt_check_shape(ctx, labels, S->rows, 1, "accuracy: labels"));
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "accuracy", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->accuracy(ctx, S, labels, correct));
}
