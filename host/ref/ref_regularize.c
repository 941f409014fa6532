/* Reference regularization in double: the specification of kernels/reg.cl.
   W, dW: (D,C). */
#include "loss_impl.h"

clt_status clt_ref_regularize(clt_context *ctx, const clt_reg_desc *reg,
                              const clt_tensor *W, double *penalty,
                              clt_tensor *dW) {
  (void)ctx;
  size_t n = clt_tensor_numel(W);
  const float *w = clt_ref_f32(W);
  float *d = dW ? clt_ref_f32(dW) : NULL;
  double sum = 0.0;
  for (size_t k = 0; k < n; k++) {
    double g;
    sum += clt_reg_term(reg, w[k], &g);
    if (d) d[k] = (float)(d[k] + g);
  }
  if (penalty) *penalty = sum;
  return CLT_OK;
}
