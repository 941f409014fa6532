/* clt_linear_loss_grad: the whole gradient of a linear classifier,
   loss(X W + b, y) + reg(W), in the fewest passes over X. */
#include "internal.h"

clt_status clt_linear_loss_grad(clt_context *ctx, const clt_loss_desc *desc,
                                const clt_reg_desc *reg, const clt_tensor *X,
                                const clt_tensor *y, const clt_tensor *W,
                                const clt_tensor *b, double *loss,
                                clt_tensor *dW, clt_tensor *db) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!desc) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "linear_loss_grad: desc is NULL");
  CLT_TRY(clt_check_tensor(ctx, X, CLT_FLOAT32, "X"));
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "W"));
  CLT_TRY(clt_check_tensor(ctx, dW, CLT_FLOAT32, "dW"));
  CLT_TRY(clt_check_shape(ctx, W, X->cols, W->cols, "W"));
  CLT_TRY(clt_check_shape(ctx, dW, W->rows, W->cols, "dW"));
  if ((b == NULL) != (db == NULL))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "linear_loss_grad: b and db must both be given or both NULL");
  if (b) {
    CLT_TRY(clt_check_tensor(ctx, b, CLT_FLOAT32, "b"));
    CLT_TRY(clt_check_tensor(ctx, db, CLT_FLOAT32, "db"));
    CLT_TRY(clt_check_shape(ctx, b, 1, W->cols, "b"));
    CLT_TRY(clt_check_shape(ctx, db, 1, W->cols, "db"));
  }
  size_t n = X->rows, c = W->cols;
  clt_tensor *S = NULL, *dS = NULL;
  clt_status st = clt_workspace(ctx, 0, n, c, &S);
  if (st == CLT_OK) st = clt_workspace(ctx, 1, n, c, &dS);
  /* clt_loss validates the loss description and the targets, and leaves
     nothing written when they are bad: dW and db are only written after. */
  double value = 0, penalty = 0;
  if (st == CLT_OK) st = clt_linear_forward(ctx, X, W, b, S);
  if (st == CLT_OK) st = clt_loss(ctx, desc, S, y, loss ? &value : NULL, dS);
  if (st == CLT_OK) st = clt_linear_backward(ctx, X, W, dS, dW, db, NULL);
  if (st == CLT_OK && reg && (reg->l1 != 0 || reg->l2 != 0))
    st = clt_regularize(ctx, reg, W, loss ? &penalty : NULL, dW);
  clt_tensor_destroy(S);
  clt_tensor_destroy(dS);
  if (st == CLT_OK && loss) *loss = value + penalty;
  return st;
}
