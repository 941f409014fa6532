/* Linear scores, their gradients and prediction helpers of the reference
   backend (the OpenCL ones: host/cl/cl_internal.h). Arguments are validated
   by the front ends (host/linear.c, host/sparse.c, host/predict.c) before any of these
   run. */
#ifndef CLT_LINEAR_H
#define CLT_LINEAR_H

#include "backend.h"

/* ------------------------------------------------- reference backend */

clt_status clt_ref_linear_forward(clt_context *ctx, const clt_tensor *X,
                                  const clt_tensor *W, const clt_tensor *b,
                                  clt_tensor *S);
clt_status clt_ref_linear_backward(clt_context *ctx, const clt_tensor *X,
                                   const clt_tensor *W, const clt_tensor *dS,
                                   clt_tensor *dW, clt_tensor *db,
                                   clt_tensor *dX);
/* Sparse rows (host/ref/ref_sparse.c): the backend entries csr_forward,
   csr_backward, csr_sgd and csr_gather of host/backend.h. */
clt_status clt_ref_csr_forward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                               float alpha, const clt_tensor *W, const clt_tensor *b, clt_tensor *S);
clt_status clt_ref_csr_backward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                const clt_tensor *dS, clt_tensor *dW, clt_tensor *db);
clt_status clt_ref_csr_sgd(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                           const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                           float lr_b, clt_tensor *change, size_t at);
clt_status clt_ref_csr_gather(clt_csr *dst, const clt_csr *src, const clt_tensor *idx,
                              size_t first);
clt_status clt_ref_argmax(clt_context *ctx, const clt_tensor *S,
                          clt_tensor *pred);
clt_status clt_ref_accuracy(clt_context *ctx, const clt_tensor *S,
                            const clt_tensor *labels, size_t *correct);

#endif /* CLT_LINEAR_H */
