/* Linear scores and their gradients: validation and dispatch. */
#include "backend.h"

/* An output must not share memory with an input or another output: the
   products read their inputs while the outputs are being written. */
static clt_status check_disjoint(clt_context *ctx, const char *fn,
                                 const clt_tensor *const *t,
                                 const char *const *names, size_t n,
                                 size_t first_output) {
  for (size_t i = first_output; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (clt_tensors_overlap(t[i], t[j]))
        return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                        "%s: %s overlaps %s in memory", fn, names[i],
                        names[j]);
  return CLT_OK;
}

clt_status clt_linear_forward(clt_context *ctx, const clt_tensor *X,
                              const clt_tensor *W, const clt_tensor *b,
                              clt_tensor *S) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(clt_check_tensor(ctx, X, CLT_FLOAT32, "linear_forward: X"));
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "linear_forward: W"));
  if (b) CLT_TRY(clt_check_tensor(ctx, b, CLT_FLOAT32, "linear_forward: b"));
  CLT_TRY(clt_check_tensor(ctx, S, CLT_FLOAT32, "linear_forward: S"));
  size_t N = X->rows, D = X->cols, C = W->cols;
  CLT_TRY(clt_check_shape(ctx, W, D, C, "linear_forward: W"));
  if (b) CLT_TRY(clt_check_shape(ctx, b, 1, C, "linear_forward: b"));
  CLT_TRY(clt_check_shape(ctx, S, N, C, "linear_forward: S"));
  const clt_tensor *all[] = {X, W, b, S};
  const char *names[] = {"X", "W", "b", "S"};
  CLT_TRY(check_disjoint(ctx, "linear_forward", all, names, 4, 3));
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "linear_forward", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->linear_forward(ctx, X, W, b, S));
}

clt_status clt_linear_backward(clt_context *ctx, const clt_tensor *X,
                               const clt_tensor *W, const clt_tensor *dS,
                               clt_tensor *dW, clt_tensor *db,
                               clt_tensor *dX) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(clt_check_tensor(ctx, X, CLT_FLOAT32, "linear_backward: X"));
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "linear_backward: W"));
  CLT_TRY(clt_check_tensor(ctx, dS, CLT_FLOAT32, "linear_backward: dS"));
  CLT_TRY(clt_check_tensor(ctx, dW, CLT_FLOAT32, "linear_backward: dW"));
  if (db) CLT_TRY(clt_check_tensor(ctx, db, CLT_FLOAT32, "linear_backward: db"));
  if (dX) CLT_TRY(clt_check_tensor(ctx, dX, CLT_FLOAT32, "linear_backward: dX"));
  size_t N = X->rows, D = X->cols, C = W->cols;
  CLT_TRY(clt_check_shape(ctx, W, D, C, "linear_backward: W"));
  CLT_TRY(clt_check_shape(ctx, dS, N, C, "linear_backward: dS"));
  CLT_TRY(clt_check_shape(ctx, dW, D, C, "linear_backward: dW"));
  if (db) CLT_TRY(clt_check_shape(ctx, db, 1, C, "linear_backward: db"));
  if (dX) CLT_TRY(clt_check_shape(ctx, dX, N, D, "linear_backward: dX"));
  const clt_tensor *all[] = {X, W, dS, dW, db, dX};
  const char *names[] = {"X", "W", "dS", "dW", "db", "dX"};
  CLT_TRY(check_disjoint(ctx, "linear_backward", all, names, 6, 3));
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "linear_backward", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->linear_backward(ctx, X, W, dS, dW, db, dX));
}
