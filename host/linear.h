/* Linear scores, their gradients and prediction helpers of the reference
   backend (the OpenCL ones: host/cl/cl_internal.h). Arguments are validated
   by the front ends (host/linear.c, host/predict.c) before any of these
   run. */
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

#endif /* CLT_LINEAR_H */
