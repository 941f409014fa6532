/* Regularization: validation and dispatch (semantics in cltrain.h). */
#include <math.h>

#include "backend.h"

clt_status clt_regularize(clt_context *ctx, const clt_reg_desc *reg,
                          const clt_tensor *W, double *penalty,
                          clt_tensor *dW) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!reg) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "regularize: reg is NULL");
  if (!(reg->l1 >= 0.0f) || !isfinite(reg->l1) || !(reg->l2 >= 0.0f) ||
      !isfinite(reg->l2))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "regularize: l1 = %g and l2 = %g must be finite and >= 0",
                    (double)reg->l1, (double)reg->l2);
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "regularize: W"));
  if (dW) {
    CLT_TRY(clt_check_tensor(ctx, dW, CLT_FLOAT32, "regularize: dW"));
    CLT_TRY(clt_check_shape(ctx, dW, W->rows, W->cols, "regularize: dW"));
    if (clt_tensors_overlap(dW, W))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG, "regularize: dW overlaps W in memory");
  }
  if ((reg->l1 == 0.0f && reg->l2 == 0.0f) || (!penalty && !dW))
    return CLT_OK;
  double value = 0.0;
  double t0 = clt_timing_start(ctx);
  CLT_TRY(clt_timed(ctx, "regularize", CLT_TIMING_KERNEL, 0, t0,
                    ctx->be->regularize(ctx, reg, W, penalty ? &value : NULL, dW)));
  value = clt_float_range(value);
  if (!penalty) return CLT_OK;
  *penalty += value;
  if (!isfinite(value))
    return clt_fail(ctx, CLT_ERR_NONFINITE,
                    "regularize: the penalty is %g: W holds NaN or inf or the "
                    "sum overflowed", value);
  return CLT_OK;
}
