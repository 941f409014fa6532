/* The linear model: scores S = X W + b of W (d,c) and an optional bias b
   (1,c), its loss and gradient through the fused training step where the
   backend has one (host/fused.c). */
#include <stdlib.h>
#include <string.h>

#include "fused.h"
#include "model.h"
#include "rng.h"

static size_t linear_params(size_t d, size_t c, bool bias, clt_model_param *out) {
  out[0] = (clt_model_param){.name = "W", .rows = d, .cols = c};
  /* The bias gets neither weight decay nor a trust ratio. */
  out[1] = (clt_model_param){.name = "b", .rows = 1, .cols = c,
                             .options = {.no_weight_decay = 1, .no_trust_ratio = 1}};
  return bias ? 2 : 1;
}

static clt_tensor *bias_of(const clt_model *m) {
  return m->nparams > 1 ? m->value[1] : NULL;
}

/* W ~ init_std N(0, 1) (CS231n's initialisation with 0.001, the CLI's
   default), b = 0, from the seed but on a stream of its own, so the epochs'
   permutations do not depend on D*C. init_std 0 keeps the zeros (no draws,
   no -0.0 from 0 times a negative draw); the trust ratios of LARS and LAMB
   scale each step by ||W||, so a zero start leaves them only the first
   step at ratio 1 to get going. */
static clt_status linear_init(clt_model *m, uint64_t seed, double init_std) {
  if (init_std == 0) return CLT_OK;
  size_t n = m->d * m->c;
  float *w = malloc(n * sizeof *w);
  if (!w) return clt_fail(m->ctx, CLT_ERR_OUT_OF_MEMORY, "initial weights");
  clt_rng r = {.s = seed ^ 0x5DEECE66Dull};
  for (size_t i = 0; i < n; i++) w[i] = (float)(init_std * clt_rng_normal(&r));
  clt_status st = clt_tensor_write(m->value[0], w, n * 4);
  free(w);
  return st;
}

static clt_status linear_forward(clt_model *m, clt_features X, clt_tensor *S) {
  return X.dense ? clt_linear_forward(m->ctx, X.dense, m->value[0], bias_of(m), S)
                 : clt_csr_linear_forward(m->ctx, X.csr, m->value[0], bias_of(m), S);
}

static clt_status linear_loss_grad(clt_model *m, const clt_loss_desc *loss,
                                   const clt_reg_desc *reg,
                                   const clt_model_batch *b, double *value) {
  if (b->X.csr)
    return clt_csr_loss_grad_rows(m->ctx, loss, reg, b->X.csr, b->targets, b->idx, b->first,
                                  b->yb, m->value[0], bias_of(m), value, m->grad[0],
                                  m->nparams > 1 ? m->grad[1] : NULL);
  return clt_linear_loss_grad_rows(m->ctx, loss, reg, b->X.dense, b->targets, b->idx,
                                   b->first, b->Xb, b->yb, m->value[0],
                                   bias_of(m), b->defer, value, m->grad[0],
                                   m->nparams > 1 ? m->grad[1] : NULL);
}

const clt_model_kind clt_model_linear = {
    .name = "linear",
    .params = linear_params,
    .init = linear_init,
    .forward = linear_forward,
    .loss_grad = linear_loss_grad,
};
