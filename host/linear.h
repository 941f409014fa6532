/* Linear scores, their gradients and prediction helpers: the entry points
   the front ends (host/linear.c, host/predict.c) dispatch to, and the GEMM
   and skinny-GEMM building blocks the fused training-step op reuses.
   Arguments are validated by the front ends before any of these run. */
#ifndef CLT_LINEAR_H
#define CLT_LINEAR_H

#include "internal.h"

/* ------------------------------------------------- reference backend */

clt_status clt_ref_linear_forward(clt_context *ctx, const clt_tensor *X,
                                  const clt_tensor *W, const clt_tensor *b,
                                  clt_tensor *S);
clt_status clt_ref_linear_backward(clt_context *ctx, const clt_tensor *X,
                                   const clt_tensor *W, const clt_tensor *dS,
                                   clt_tensor *dW, clt_tensor *db,
                                   clt_tensor *dX);
clt_status clt_ref_argmax(clt_context *ctx, const clt_tensor *S,
                          clt_tensor *pred);
clt_status clt_ref_accuracy(clt_context *ctx, const clt_tensor *S,
                            const clt_tensor *labels, size_t *correct);

/* ---------------------------------------------------- OpenCL backend */

/* Which implementation computes the products: the kernels of
   kernels/linear.cl, CLBlast, or the automatic choice (what the public API
   uses): the kernels on CPU devices, where they beat CLBlast at every C
   measured, and elsewhere up to CLT_LINEAR_KERNEL_MAX_C classes. Tests and
   benchmarks force one path to check and time both. */
typedef enum clt_linear_path {
  CLT_LINEAR_AUTO,
  CLT_LINEAR_KERNEL,
  CLT_LINEAR_CLBLAST
} clt_linear_path;

/* Largest class count that AUTO sends to the kernels on non-CPU devices
   (GPUs: not measured; CLBlast ships tuned GEMMs for many of them). */
#define CLT_LINEAR_KERNEL_MAX_C 32

clt_status clt_cl_linear_forward(clt_context *ctx, const clt_tensor *X,
                                 const clt_tensor *W, const clt_tensor *b,
                                 clt_tensor *S, clt_linear_path path);
clt_status clt_cl_linear_backward(clt_context *ctx, const clt_tensor *X,
                                  const clt_tensor *W, const clt_tensor *dS,
                                  clt_tensor *dW, clt_tensor *db,
                                  clt_tensor *dX, clt_linear_path path);
clt_status clt_cl_argmax(clt_context *ctx, const clt_tensor *S,
                         clt_tensor *pred);
clt_status clt_cl_accuracy(clt_context *ctx, const clt_tensor *S,
                           const clt_tensor *labels, size_t *correct);

/* db (1,C) = column sums of dS (N,C), deterministic (fixed row blocks). */
clt_status clt_cl_colsum(clt_context *ctx, const clt_tensor *dS,
                         clt_tensor *db);

/* C = op(A) op(B) + beta C through CLBlast, row-major, with the tensors'
   element offsets; op transposes when ta / tb is set. m x n is C's shape,
   k the inner dimension. Marks the context as holding CLBlast programs. */
clt_status clt_blas_sgemm(clt_context *ctx, bool ta, bool tb, size_t m,
                          size_t n, size_t k, const clt_tensor *A,
                          const clt_tensor *B, float beta, clt_tensor *C);
/* Drops what CLBlast keeps for ctx (called from clt_cl_close). */
void clt_blas_release(clt_context *ctx);

#endif /* CLT_LINEAR_H */
