/* clt_linear_loss_grad: the whole gradient of a linear classifier,
   loss(X W + b, y) + reg(W), in the fewest passes over X.

   Problems the backend's fused step supports (OpenCL: cross-entropy and
   hinge with labels and few classes, host/cl/cl_fused.c) take it: one pass
   over X that stores neither S nor dS. Everything else (more classes, the
   other losses, soft targets, backends without a fused step, and arguments
   the fused path does not take, whose errors the separate ops then report)
   is the composition of
   clt_linear_forward, clt_loss, clt_linear_backward and clt_regularize over
   context workspaces. Both paths validate the same way and behave the same
   on bad input: NULL, dtype, shape, overlap and reg errors before anything
   runs; a label outside [0,C) (CLT_ERR_LABEL) or a bad class weight leaves
   dW and db untouched; a non-finite loss (CLT_ERR_NONFINITE) is, as in
   clt_loss, found after the gradient has been written: *loss then holds it
   and dW and db hold the gradient computed from the same values. */
#include <math.h>
#include <string.h>

#include "backend.h"
#include "fused.h"
#include "loss_impl.h"
#include "sparse.h"

/* Arguments both paths check before anything runs (the separate ops
   check the loss description and the targets). Sparse rows (X NULL) are
   checked against W by their caller. */
static clt_status check_args(clt_context *ctx, const clt_loss_desc *desc,
                             const clt_reg_desc *reg, bool sparse, const clt_tensor *X,
                             const clt_tensor *W, const clt_tensor *b,
                             const clt_tensor *dW, const clt_tensor *db) {
  if (!desc) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "linear_loss_grad: desc is NULL");
  if (!sparse) CLT_TRY(clt_check_tensor(ctx, X, CLT_FLOAT32, "linear_loss_grad: X"));
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "linear_loss_grad: W"));
  CLT_TRY(clt_check_tensor(ctx, dW, CLT_FLOAT32, "linear_loss_grad: dW"));
  if (!sparse) CLT_TRY(clt_check_shape(ctx, W, X->cols, W->cols, "linear_loss_grad: W"));
  CLT_TRY(clt_check_shape(ctx, dW, W->rows, W->cols, "linear_loss_grad: dW"));
  if ((b == NULL) != (db == NULL))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "linear_loss_grad: b and db must both be given or both NULL");
  if (b) {
    CLT_TRY(clt_check_tensor(ctx, b, CLT_FLOAT32, "linear_loss_grad: b"));
    CLT_TRY(clt_check_tensor(ctx, db, CLT_FLOAT32, "linear_loss_grad: db"));
    CLT_TRY(clt_check_shape(ctx, b, 1, W->cols, "linear_loss_grad: b"));
    CLT_TRY(clt_check_shape(ctx, db, 1, W->cols, "linear_loss_grad: db"));
  }
  if (reg && (!(reg->l1 >= 0.0f) || !isfinite(reg->l1) ||
              !(reg->l2 >= 0.0f) || !isfinite(reg->l2)))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "linear_loss_grad: l1 = %g and l2 = %g must be finite and "
                    ">= 0", (double)reg->l1, (double)reg->l2);
  /* The outputs are written while the inputs are still being read. */
  const clt_tensor *in[] = {X, W, b, desc->class_weight, desc->pos_weight};
  const char *const in_names[] = {"X", "W", "b", "class_weight", "pos_weight"};
  const clt_tensor *out[] = {dW, db};
  const char *const out_names[] = {"dW", "db"};
  for (size_t o = 0; o < 2; o++) {
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
      if (clt_tensors_overlap(out[o], in[i]))
        return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                        "linear_loss_grad: %s overlaps %s in memory",
                        out_names[o], in_names[i]);
  }
  if (clt_tensors_overlap(dW, db))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "linear_loss_grad: db overlaps dW in memory");
  return CLT_OK;
}

/* Whether the backend's fused step takes this problem. */
static bool fusable(const clt_context *ctx, const clt_loss_desc *d,
                    const clt_tensor *y, size_t n, size_t dim, size_t c) {
  return ctx->be->fused_supports && ctx->be->fused_supports(ctx, d, y, n, dim, c);
}

/* The rows a composed gradient reads: all of a dense X, or rows of a
   sparse one. */
typedef struct batch_x {
  const clt_tensor *X;
  const clt_csr *csr;
  clt_batch_rows rows;
} batch_x;

/* The composition of the separate ops; *value as for fused. A non-finite
   loss or penalty does not stop it: the caller reports it. With defer
   and no penalty to read, the loss may stay in the slot (the backend's
   choice: defer->written). */
static clt_status composed(clt_context *ctx, const clt_loss_desc *desc,
                           const clt_reg_desc *reg, batch_x x,
                           const clt_tensor *y, const clt_tensor *W,
                           const clt_tensor *b, clt_tensor *dW,
                           clt_tensor *db, bool with_pen, clt_loss_slot *defer,
                           double *value) {
  size_t n = x.X ? x.X->rows : x.rows.n, c = W->cols;
  clt_tensor *S = NULL, *dS = NULL;
  clt_status st = clt_workspace(ctx, 0, n, c, &S);
  if (st == CLT_OK) st = clt_workspace(ctx, 1, n, c, &dS);
  /* clt_loss validates the loss description and the targets and leaves
     dS unwritten when they are bad: dW and db are only written after. */
  double data = 0, penalty = 0;
  if (st == CLT_OK)
    st = x.X ? clt_linear_forward(ctx, x.X, W, b, S)
             : clt_csr_forward_rows(ctx, x.csr, x.rows, 1.0f, W, b, S);
  if (with_pen && clt_reg_active(reg)) defer = NULL;
  if (st == CLT_OK) st = clt_loss_deferred(ctx, desc, S, y, defer, &data, dS);
  if (st == CLT_ERR_NONFINITE) st = CLT_OK;
  if (st == CLT_OK)
    st = x.X ? clt_linear_backward(ctx, x.X, W, dS, dW, db, NULL)
             : clt_csr_backward_rows(ctx, x.csr, x.rows, dS, dW, db);
  if (st == CLT_OK && clt_reg_active(reg))
    st = clt_regularize(ctx, reg, W, with_pen ? &penalty : NULL, dW);
  if (st == CLT_ERR_NONFINITE) st = CLT_OK;
  clt_tensor_destroy(S);
  clt_tensor_destroy(dS);
  if (st == CLT_OK) *value = data + penalty;
  return st;
}

/* *loss and the status from the loss value of either path. */
static clt_status report(clt_context *ctx, const clt_reg_desc *reg,
                         double value, double *loss) {
  value = clt_float_range(value);
  if (loss) *loss = value;
  if (!isfinite(value))
    return clt_fail(ctx, CLT_ERR_NONFINITE,
                    "linear_loss_grad: the loss%s is %g: X, W, b or the "
                    "weights hold NaN or inf, a term overflowed, or the "
                    "mean's denominator is 0 (every row ignored or of weight "
                    "0); dW and db hold the gradient computed from them",
                    loss && clt_reg_active(reg) ? " with its penalty" : "", value);
  return CLT_OK;
}

clt_status clt_linear_loss_grad(clt_context *ctx, const clt_loss_desc *desc,
                                const clt_reg_desc *reg, const clt_tensor *X,
                                const clt_tensor *y, const clt_tensor *W,
                                const clt_tensor *b, double *loss,
                                clt_tensor *dW, clt_tensor *db) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_args(ctx, desc, reg, false, X, W, b, dW, db));
  double value = 0;
  bool with_pen = loss != NULL;
  clt_batch_rows all = {NULL, 0, X->rows};
  CLT_TRY(fusable(ctx, desc, y, X->rows, X->cols, W->cols)
              ? ctx->be->fused_loss_grad(ctx, desc, reg, X, all, y, W, b, dW, db,
                                         with_pen, NULL, &value)
              : composed(ctx, desc, reg, (batch_x){.X = X}, y, W, b, dW, db, with_pen,
                         NULL, &value));
  return report(ctx, reg, value, loss);
}

clt_status clt_linear_loss_grad_rows(clt_context *ctx,
                                     const clt_loss_desc *desc,
                                     const clt_reg_desc *reg,
                                     const clt_tensor *X, const clt_tensor *T,
                                     const clt_tensor *idx, size_t first,
                                     clt_tensor *Xb, clt_tensor *Tb,
                                     const clt_tensor *W, const clt_tensor *b,
                                     clt_loss_slot *defer, double *loss,
                                     clt_tensor *dW, clt_tensor *db) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  const char *fn = "linear_loss_grad_rows";
  CLT_TRY(clt_check_tensor(ctx, X, CLT_FLOAT32, "linear_loss_grad_rows: X"));
  CLT_TRY(clt_check_tensor(ctx, Xb, CLT_FLOAT32, "linear_loss_grad_rows: Xb"));
  CLT_TRY(clt_check_tensor(ctx, idx, CLT_INT32, "linear_loss_grad_rows: idx"));
  if (!T || !Tb)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s: T or Tb is NULL", fn);
  CLT_TRY(clt_check_tensor(ctx, T, T->dtype, "linear_loss_grad_rows: T"));
  CLT_TRY(clt_check_tensor(ctx, Tb, T->dtype, "linear_loss_grad_rows: Tb"));
  size_t n = Xb->rows;
  if (X->cols != Xb->cols || T->rows != X->rows || T->cols != Tb->cols ||
      Tb->rows != n || idx->cols != 1 || first > idx->rows ||
      idx->rows - first < n)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "%s: X %zux%zu, T %zux%zu, Xb %zux%zu, Tb %zux%zu, idx "
                    "%zux%zu from row %zu do not fit",
                    fn, X->rows, X->cols, T->rows, T->cols, Xb->rows, Xb->cols,
                    Tb->rows, Tb->cols, idx->rows, idx->cols, first);
  CLT_TRY(check_args(ctx, desc, reg, false, Xb, W, b, dW, db));
  const clt_tensor *in[] = {X, T, idx, W, b, dW, db}, *scratch[] = {Xb, Tb};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
    for (size_t k = 0; k < 2; k++)
      if (clt_tensors_overlap(scratch[k], in[i]))
        return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                        "%s: %s overlaps another argument in memory", fn,
                        k ? "Tb" : "Xb");
  if (defer) {
    defer->written = false;
    const clt_tensor *L = defer->losses;
    CLT_TRY(clt_check_tensor(ctx, L, CLT_FLOAT32, "linear_loss_grad_rows: losses"));
    if (L->cols != 2 || defer->index >= L->rows)
      return clt_fail(ctx, CLT_ERR_SHAPE, "%s: losses %zux%zu has no row %zu of two columns",
                      fn, L->rows, L->cols, defer->index);
  }
  double value = 0;
  bool with_pen = loss != NULL;
  if (fusable(ctx, desc, Tb, n, X->cols, W->cols)) {
    /* Only the labels are gathered (the prep kernel checks the indices);
       the kernels read X's rows through idx. */
    CLT_TRY(clt_gather_rows_unchecked(Tb, T, idx, first));
    clt_batch_rows rows = {idx, first, n};
    CLT_TRY(ctx->be->fused_loss_grad(ctx, desc, reg, X, rows, Tb, W, b, dW, db,
                                     with_pen, defer, &value));
    if (defer && defer->written) return CLT_OK;
  } else {
    /* A caller that defers vouches for the indices (the trainer checks
       its permutation once an epoch): no check, and no read-back. */
    CLT_TRY(defer ? clt_gather_rows_unchecked(Xb, X, idx, first)
                  : clt_tensor_gather_rows(Xb, X, idx, first));
    CLT_TRY(clt_gather_rows_unchecked(Tb, T, idx, first));
    CLT_TRY(composed(ctx, desc, reg, (batch_x){.X = Xb}, Tb, W, b, dW, db, with_pen, defer,
                     &value));
    if (defer && defer->written) return CLT_OK;
  }
  return report(ctx, reg, value, loss);
}

clt_status clt_csr_loss_grad_rows(clt_context *ctx, const clt_loss_desc *desc,
                                  const clt_reg_desc *reg, const clt_csr *X,
                                  const clt_tensor *T, const clt_tensor *idx, size_t first,
                                  clt_tensor *Tb, const clt_tensor *W, const clt_tensor *b,
                                  double *loss, clt_tensor *dW, clt_tensor *db) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  const char *fn = "csr_loss_grad_rows";
  if (!X || !T || !Tb || !W)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s: X, T, Tb or W is NULL", fn);
  CLT_TRY(clt_check_tensor(ctx, idx, CLT_INT32, "csr_loss_grad_rows: idx"));
  CLT_TRY(clt_check_tensor(ctx, T, T->dtype, "csr_loss_grad_rows: T"));
  CLT_TRY(clt_check_tensor(ctx, Tb, T->dtype, "csr_loss_grad_rows: Tb"));
  size_t n = Tb->rows;
  if (X->ctx != ctx || W->rows != X->cols || T->rows != X->rows || T->cols != Tb->cols ||
      idx->cols != 1 || first > idx->rows || idx->rows - first < n)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "%s: X %zux%zu, W %zux%zu, T %zux%zu, Tb %zux%zu, idx %zux%zu from row "
                    "%zu do not fit",
                    fn, X->rows, X->cols, W->rows, W->cols, T->rows, T->cols, Tb->rows,
                    Tb->cols, idx->rows, idx->cols, first);
  CLT_TRY(check_args(ctx, desc, reg, true, NULL, W, b, dW, db));
  double value = 0;
  CLT_TRY(clt_gather_rows_unchecked(Tb, T, idx, first));
  batch_x x = {.csr = X, .rows = {idx, first, n}};
  CLT_TRY(composed(ctx, desc, reg, x, Tb, W, b, dW, db, loss != NULL, NULL,
                   &value));
  return report(ctx, reg, value, loss);
}
