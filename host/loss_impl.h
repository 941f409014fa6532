/* Internal interface of the loss and regularization family: the front ends
   (host/loss.c, host/regularize.c) validate and dispatch to the backend
   (the reference: host/ref/ref_loss.c, declared here); the
   gradient check (host/gradcheck.c) evaluates the reference in double. */
#ifndef CLT_LOSS_IMPL_H
#define CLT_LOSS_IMPL_H

#include "internal.h"
#include "rng.h"

/* CLT_TARGET_LABELS, _VALUES or _EITHER: what a valid kind's target is
   (its row of CLT_LOSS_KINDS). */
int clt_loss_target(clt_loss_kind kind);

/* CLT_OK when d's kind and options are valid (its tensors not looked at
   beyond which losses take them), else CLT_ERR_INVALID_ARG with a detail
   in ctx (or the thread's). */
clt_status clt_loss_check_desc(const clt_context *ctx, const clt_loss_desc *d);

/* Both backends get arguments that host/loss.c has validated, except the
   label values and weight values (data, checked by each backend). They
   store the loss in *loss (never NULL) and leave the non-finite check and
   its message to the front end. The reference reads every loss: it
   ignores defer. */
clt_status clt_ref_loss(clt_context *ctx, const clt_loss_desc *desc,
                        const clt_tensor *S, const clt_tensor *target,
                        clt_loss_slot *defer, double *loss, clt_tensor *dS);

/* The reference loss on host arrays, the specification of every kernel. */
typedef struct clt_ref_loss_in {
  const clt_loss_desc *desc;
  size_t n, c;
  const int32_t *labels;   /* (N) when the target is labels, else NULL */
  const float *target;     /* (N,C) when the target is values, else NULL */
  const float *class_weight, *pos_weight; /* (C) or NULL */
} clt_ref_loss_in;

/* What the MEAN reduction divides by (1 for SUM): the weight of the
   cross-entropy rows not ignored, N for the other row losses and for
   BATCHMEAN, N*C for the elementwise ones. Its target arrays other than
   labels are not read. */
double clt_ref_loss_denominator(const clt_ref_loss_in *in);

/* clt_loss, with defer (NULL: none) passed to the backend: where it left
   the loss in the slot, *loss is untouched and nothing was read back. */
clt_status clt_loss_deferred(clt_context *ctx, const clt_loss_desc *desc,
                             const clt_tensor *S, const clt_tensor *target,
                             clt_loss_slot *defer, double *loss, clt_tensor *dS);

/* A backend's loss value as clt_loss reports it: in float range, into
   *loss (may be NULL), and CLT_ERR_NONFINITE when it is not finite. */
clt_status clt_loss_report(clt_context *ctx, const clt_loss_desc *desc, double value,
                           double *loss);

/* The failures both backends report, with one wording. */
clt_status clt_loss_bad_label(const clt_context *ctx, size_t row,
                              int32_t label, size_t c);
clt_status clt_loss_bad_weight(const clt_context *ctx, const char *name,
                               size_t index, float value);

/* CLT_OK, or CLT_ERR_LABEL / CLT_ERR_INVALID_ARG with a message when a
   label is outside [0,C) or a weight is negative or not finite. */
clt_status clt_ref_loss_check(const clt_context *ctx,
                              const clt_ref_loss_in *in);
/* Loss of S (N,C) in double and, when dS is non-NULL, its gradient (N,C).
   The input must have passed clt_ref_loss_check. */
double clt_ref_loss_f64(const clt_ref_loss_in *in, const double *S,
                        double *dS);

/* Regularization backends: *penalty (may be NULL) += l1 sum|W| +
   0.5 l2 sum W^2; dW (may be NULL) += l1 sign(W) + l2 W. */
clt_status clt_ref_regularize(clt_context *ctx, const clt_reg_desc *reg,
                              const clt_tensor *W, double *penalty,
                              clt_tensor *dW);
/* Whether reg adds anything. */
static inline bool clt_reg_active(const clt_reg_desc *reg) {
  return reg && (reg->l1 != 0.0f || reg->l2 != 0.0f);
}
/* The penalty of one weight and its derivative, in double. */
static inline double clt_reg_term(const clt_reg_desc *reg, double w,
                                  double *grad) {
  double sign = w > 0 ? 1.0 : w < 0 ? -1.0 : w; /* torch.sign: 0 and NaN kept */
  if (grad) *grad = reg->l1 * sign + reg->l2 * w;
  return reg->l1 * (w < 0 ? -w : w) + 0.5 * reg->l2 * w * w;
}

#endif /* CLT_LOSS_IMPL_H */
