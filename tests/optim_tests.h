/* Helpers shared by the optimizer test programs (static inline: each
   program uses what it needs). */
#ifndef CLT_OPTIM_TESTS_H
#define CLT_OPTIM_TESTS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_impl.h"
#include "testutil.h"

/* A named configuration: defaults of a kind with some fields changed. */
typedef struct ot_config {
  char name[48];
  clt_optim_desc d;
} ot_config;

/* Every kind with each of its options (PyTorch's switches), plus clipping
   and the guard on representative kinds. Returns the count. */
static inline size_t ot_configs(ot_config *out, size_t cap) {
  size_t n = 0;
#define ADD(label, kind, ...)                                                 \
  do {                                                                        \
    cr_assert(n < cap);                                                       \
    ot_config *c_ = &out[n++];                                                \
    snprintf(c_->name, sizeof c_->name, "%s", label);                         \
    c_->d = clt_optim_defaults(kind);                                         \
    clt_optim_desc *d = &c_->d;                                               \
    (void)d;                                                                  \
    __VA_ARGS__;                                                              \
  } while (0)
  ADD("sgd", CLT_OPTIM_SGD, d->lr = 0.1f);
  ADD("sgd_momentum", CLT_OPTIM_SGD, d->lr = 0.1f; d->momentum = 0.9f);
  ADD("sgd_dampening", CLT_OPTIM_SGD, d->lr = 0.1f; d->momentum = 0.9f;
      d->dampening = 0.1f);
  ADD("sgd_nesterov", CLT_OPTIM_SGD, d->lr = 0.1f; d->momentum = 0.9f;
      d->nesterov = 1);
  ADD("sgd_weight_decay", CLT_OPTIM_SGD, d->lr = 0.1f; d->momentum = 0.9f;
      d->weight_decay = 1e-2f);
  ADD("sgd_maximize", CLT_OPTIM_SGD, d->lr = 0.1f; d->momentum = 0.9f;
      d->maximize = 1);
  ADD("sgd_clip", CLT_OPTIM_SGD, d->lr = 0.1f; d->momentum = 0.9f;
      d->max_grad_norm = 0.05f);
  ADD("adagrad", CLT_OPTIM_ADAGRAD, );
  ADD("adagrad_lr_decay", CLT_OPTIM_ADAGRAD, d->lr_decay = 0.05f);
  ADD("adagrad_init_acc", CLT_OPTIM_ADAGRAD,
      d->initial_accumulator_value = 0.1f);
  ADD("adagrad_weight_decay", CLT_OPTIM_ADAGRAD, d->weight_decay = 1e-2f);
  ADD("rmsprop", CLT_OPTIM_RMSPROP, );
  ADD("rmsprop_centered", CLT_OPTIM_RMSPROP, d->centered = 1);
  ADD("rmsprop_momentum", CLT_OPTIM_RMSPROP, d->momentum = 0.9f);
  ADD("rmsprop_centered_momentum", CLT_OPTIM_RMSPROP, d->centered = 1;
      d->momentum = 0.9f);
  ADD("rmsprop_weight_decay", CLT_OPTIM_RMSPROP, d->weight_decay = 1e-2f);
  ADD("adadelta", CLT_OPTIM_ADADELTA, );
  ADD("adadelta_weight_decay", CLT_OPTIM_ADADELTA, d->weight_decay = 1e-2f);
  ADD("adam", CLT_OPTIM_ADAM, );
  ADD("adam_amsgrad", CLT_OPTIM_ADAM, d->amsgrad = 1);
  ADD("adam_weight_decay", CLT_OPTIM_ADAM, d->weight_decay = 1e-2f);
  ADD("adam_maximize", CLT_OPTIM_ADAM, d->maximize = 1);
  ADD("adam_clip", CLT_OPTIM_ADAM, d->max_grad_norm = 0.05f);
  ADD("adam_guard", CLT_OPTIM_ADAM, d->skip_nonfinite = 1);
  ADD("adamw", CLT_OPTIM_ADAMW, );
  ADD("adamw_amsgrad", CLT_OPTIM_ADAMW, d->amsgrad = 1);
  ADD("adamax", CLT_OPTIM_ADAMAX, );
  ADD("adamax_weight_decay", CLT_OPTIM_ADAMAX, d->weight_decay = 1e-2f);
  ADD("nadam", CLT_OPTIM_NADAM, );
  ADD("nadam_weight_decay", CLT_OPTIM_NADAM, d->weight_decay = 1e-2f);
  ADD("nadam_decoupled", CLT_OPTIM_NADAM, d->weight_decay = 1e-2f;
      d->decoupled_weight_decay = 1);
  ADD("radam", CLT_OPTIM_RADAM, );
  ADD("radam_weight_decay", CLT_OPTIM_RADAM, d->weight_decay = 1e-2f);
  ADD("radam_decoupled", CLT_OPTIM_RADAM, d->weight_decay = 1e-2f;
      d->decoupled_weight_decay = 1);
  ADD("lars", CLT_OPTIM_LARS, );
  ADD("lars_weight_decay", CLT_OPTIM_LARS, d->weight_decay = 5e-4f);
  ADD("lars_no_momentum", CLT_OPTIM_LARS, d->momentum = 0);
  ADD("lars_clip_guard", CLT_OPTIM_LARS, d->max_grad_norm = 0.05f;
      d->skip_nonfinite = 1);
  ADD("lamb", CLT_OPTIM_LAMB, );
  ADD("lamb_weight_decay", CLT_OPTIM_LAMB, d->weight_decay = 1e-2f);
  ADD("lamb_clip_guard", CLT_OPTIM_LAMB, d->max_grad_norm = 0.05f;
      d->skip_nonfinite = 1);
#undef ADD
  return n;
}

/* Gradient of step t (1-based): magnitudes uniform in [0.05, 0.5), random
   signs. Bounded away from 0 so that g + wd p never cancels: near such a
   cancellation an update like RMSprop's g / (sqrt(a) + eps) is
   ill-conditioned and float32 legitimately differs from double by more
   than any fixed tolerance (zero gradients are tested on their own). */
static inline void ot_grad(float *g, size_t n, uint64_t seed, unsigned t) {
  tu_fill_uniform(g, n, seed * 1000 + t, -0.45f, 0.45f);
  for (size_t i = 0; i < n; i++) g[i] += g[i] < 0 ? -0.05f : 0.05f;
}

static inline clt_optimizer *ot_create(clt_context *ctx, const clt_optim_desc *d) {
  clt_optimizer *opt = NULL;
  cr_assert_eq(clt_optimizer_create(ctx, d, &opt), CLT_OK, "%s",
               clt_last_error(ctx));
  return opt;
}

/* State buffer k of param (NULL when the optimizer keeps none), malloc'd. */
static inline float *ot_state(clt_optimizer *opt, const clt_tensor *param, int k) {
  const char *name = clt_opt_state_name(clt_optimizer_desc(opt), k);
  if (!name) return NULL;
  size_t n = clt_tensor_rows(param) * clt_tensor_cols(param);
  float *x = malloc(n * sizeof *x);
  cr_assert_not_null(x);
  cr_assert_eq(clt_optimizer_read_state(opt, param, name, x, n * 4), CLT_OK,
               "%s", clt_last_error(clt_tensor_context(param)));
  return x;
}

static inline void ot_step(clt_optimizer *opt, clt_tensor *p, const clt_tensor *g) {
  cr_assert_eq(clt_optimizer_step(opt, p, g), CLT_OK, "%s",
               clt_last_error(clt_tensor_context(p)));
}

#endif
