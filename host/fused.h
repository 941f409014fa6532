/* The fused training-step op over a minibatch taken through an index
   (internal: for the trainer and the benchmarks). host/fused.c. */
#ifndef CLT_FUSED_H
#define CLT_FUSED_H

#include "internal.h"

/* clt_linear_loss_grad over the batch of rows idx[first .. first+n) of X
   (N,D) and of the targets T (N,1) int32 labels or (N,C) float32, n =
   Xb's rows, without copying X's rows where the fused kernels take the
   problem: they read them through idx. Xb (n,D) and Tb (n, T's cols, T's
   dtype) are scratch the batch may be gathered into (the fused path
   gathers only the labels into Tb; the others gather both and run the
   separate ops on them); their contents afterwards are unspecified. An
   index outside [0,N) gives CLT_ERR_LABEL and leaves dW, db and *loss
   untouched. Otherwise as clt_linear_loss_grad, for the same results bit
   for bit as that op on the gathered rows. With defer (NULL: none), the
   caller vouches for the indices and labels, and the loss and penalty
   stay in its slot, nothing read back (clt_loss_slot), where the backend
   can: the fused kernels always; the composition when no penalty is
   asked for (OpenCL: the indices unchecked, the loss from the finish
   kernel). */
clt_status clt_linear_loss_grad_rows(clt_context *ctx,
                                     const clt_loss_desc *desc,
                                     const clt_reg_desc *reg,
                                     const clt_tensor *X, const clt_tensor *T,
                                     const clt_tensor *idx, size_t first,
                                     clt_tensor *Xb, clt_tensor *Tb,
                                     const clt_tensor *W, const clt_tensor *b,
                                     clt_loss_slot *defer, double *loss,
                                     clt_tensor *dW, clt_tensor *db);

/* The same over rows idx[first .. first+n) of a sparse X (n = Tb's rows),
   composed of the sparse products, clt_loss and clt_regularize; only the
   targets are gathered (into Tb). The indices must be in range (the
   trainer's permutation): one outside [0,N) is skipped, never read, and
   its row's results are unspecified. */
clt_status clt_csr_loss_grad_rows(clt_context *ctx, const clt_loss_desc *desc,
                                  const clt_reg_desc *reg, const clt_csr *X,
                                  const clt_tensor *T, const clt_tensor *idx, size_t first,
                                  clt_tensor *Tb, const clt_tensor *W, const clt_tensor *b,
                                  double *loss, clt_tensor *dW, clt_tensor *db);

#endif /* CLT_FUSED_H */
