/* Regularization on the OpenCL backend: kernels/reg.cl, then the loss
   family's fixed-order finish when the penalty is wanted (one small
   read-back); dW alone reads nothing back. */
#include "cl_internal.h"

clt_status clt_cl_regularize(clt_context *ctx, const clt_reg_desc *reg,
                             const clt_tensor *W, double *penalty,
                             clt_tensor *dW) {
  size_t n = clt_tensor_numel(W);
  size_t partials = clt_round_up(n, CLT_ELEM_CHUNK) / CLT_ELEM_CHUNK;
  cl_mem scr;
  CLT_TRY(clt_cl_scratch(ctx, (CLT_INFO + partials) * sizeof(float),
                         &scr));
  cl_mem dmem = dW ? dW->st->mem : scr;
  cl_ulong woff = W->offset, doff = dW ? dW->offset : 0, cn = n;
  cl_int has_dW = dW != NULL, want = penalty != NULL;
  float l1 = reg->l1, l2 = reg->l2;
  CLT_TRY(CLT_LAUNCH_CHUNKS(ctx, CLT_K_regularize, partials, CLT_ARG(W->st->mem),
                            CLT_ARG(woff), CLT_ARG(dmem), CLT_ARG(doff),
                            CLT_ARG(has_dW), CLT_ARG(cn), CLT_ARG(l1), CLT_ARG(l2),
                            CLT_ARG(want), CLT_ARG(scr)));
  if (!penalty) return CLT_OK;
  float info[CLT_INFO];
  CLT_TRY(clt_cl_loss_finish(ctx, scr, partials, 1.0f, 0, 0, NULL, info,
                             sizeof info));
  *penalty = info[CLT_I_LOSS];
  return CLT_OK;
}
