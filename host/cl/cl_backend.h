/* The OpenCL backend's entries that have no family header of their own
   (the linear, loss and optimizer ones are in host/linear.h,
   host/loss_impl.h and host/optim_impl.h). */
#ifndef CLT_CL_BACKEND_H
#define CLT_CL_BACKEND_H

#include "../backend.h"

/* The fused step of kernels/step.cl (host/cl/cl_fused.c). */
bool clt_cl_fused_supports(const clt_context *ctx, const clt_loss_desc *d,
                           const clt_tensor *y, size_t n, size_t dim, size_t c);
clt_status clt_cl_fused_loss_grad(clt_context *ctx, const clt_loss_desc *desc,
                                  const clt_reg_desc *reg, const clt_tensor *X,
                                  clt_batch_rows rows, const clt_tensor *y,
                                  const clt_tensor *W, const clt_tensor *b,
                                  clt_tensor *dW, clt_tensor *db, bool with_pen,
                                  double *value);

#endif /* CLT_CL_BACKEND_H */
