/* Losses: defaults, argument validation and dispatch to a backend. The
   semantics are documented in cltrain.h; host/ref/ref_loss.c is their
   executable specification. */
#include <math.h>
#include <string.h>

#include "backend.h"
#include "loss_impl.h"

clt_loss_desc clt_loss_defaults(clt_loss_kind kind) {
  return (clt_loss_desc){.kind = kind,
                         .reduction = CLT_REDUCTION_MEAN,
                         .margin = 1.0f,
                         .p = 1,
                         .label_smoothing = 0.0f,
                         .ignore_index = -100,
                         .huber_delta = 1.0f,
                         .log_target = 0,
                         .class_weight = NULL,
                         .pos_weight = NULL};
}

static const char *const kind_names[] = {CLT_LOSS_KINDS(CLT_KIND_NAME)};
static const int kind_targets[] = {CLT_LOSS_KINDS(CLT_KIND_PROP)};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

static bool kind_valid(clt_loss_kind kind) { return (unsigned)kind < N_KINDS; }

const char *clt_loss_kind_name(clt_loss_kind kind) {
  return kind_valid(kind) ? kind_names[kind] : "unknown";
}

int clt_loss_target(clt_loss_kind kind) { return kind_targets[kind]; }

clt_status clt_loss_kind_from_name(const char *name, clt_loss_kind *kind) {
  if (!name || !kind) return CLT_ERR_INVALID_ARG;
  static const struct {
    const char *name;
    clt_loss_kind kind;
  } aliases[] = {{"softmax", CLT_LOSS_CROSS_ENTROPY}, {"svm", CLT_LOSS_HINGE}};
  size_t k = clt_kind_lookup(kind_names, N_KINDS, name);
  if (k < N_KINDS) return *kind = (clt_loss_kind)k, CLT_OK;
  for (k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
    if (strcmp(name, aliases[k].name) == 0) return *kind = aliases[k].kind, CLT_OK;
  return CLT_ERR_INVALID_ARG;
}

clt_status clt_loss_check_desc(const clt_context *ctx, const clt_loss_desc *d) {
  if (!d) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "loss: desc is NULL");
  if (!kind_valid(d->kind))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "loss: unknown kind %d",
                    (int)d->kind);
  const char *name = kind_names[d->kind];
  if ((unsigned)d->reduction > CLT_REDUCTION_BATCHMEAN ||
      (d->reduction == CLT_REDUCTION_BATCHMEAN && d->kind != CLT_LOSS_KL_DIV))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "loss %s: reduction %d is not mean, sum%s", name,
                    (int)d->reduction,
                    d->kind == CLT_LOSS_KL_DIV ? " or batchmean" : "");
  switch (d->kind) {
  case CLT_LOSS_CROSS_ENTROPY:
    if (!(d->label_smoothing >= 0.0f && d->label_smoothing <= 1.0f))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "loss %s: label_smoothing %g is outside [0, 1]", name,
                      (double)d->label_smoothing);
    break;
  case CLT_LOSS_HINGE:
    if (d->p != 1 && d->p != 2)
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "loss %s: p is %d, expected 1 or 2", name, d->p);
    if (!(d->margin >= 0.0f) || !isfinite(d->margin))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "loss %s: margin %g is negative or not finite", name,
                      (double)d->margin);
    break;
  case CLT_LOSS_HUBER:
    if (!(d->huber_delta > 0.0f) || !isfinite(d->huber_delta))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "loss %s: huber_delta %g is not a positive finite "
                      "number", name, (double)d->huber_delta);
    break;
  case CLT_LOSS_BCE_LOGITS:
  case CLT_LOSS_MSE:
  case CLT_LOSS_L1:
  case CLT_LOSS_KL_DIV:
    break;
  }
  bool class_weight_used = d->kind == CLT_LOSS_CROSS_ENTROPY ||
                           d->kind == CLT_LOSS_HINGE ||
                           d->kind == CLT_LOSS_BCE_LOGITS;
  if (d->class_weight && !class_weight_used)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "loss %s: class_weight is given but %s has none", name,
                    name);
  if (d->pos_weight && d->kind != CLT_LOSS_BCE_LOGITS)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "loss %s: pos_weight is given but only bce-logits has one",
                    name);
  return CLT_OK;
}

static clt_status check_weight(const clt_context *ctx, const clt_tensor *w,
                               size_t c, const char *name) {
  if (!w) return CLT_OK;
  CLT_TRY(clt_check_tensor(ctx, w, CLT_FLOAT32, name));
  return clt_check_shape(ctx, w, 1, c, name);
}

clt_status clt_loss(clt_context *ctx, const clt_loss_desc *desc,
                    const clt_tensor *S, const clt_tensor *target,
                    double *loss, clt_tensor *dS) {
  return clt_loss_deferred(ctx, desc, S, target, NULL, loss, dS);
}

clt_status clt_loss_deferred(clt_context *ctx, const clt_loss_desc *desc,
                             const clt_tensor *S, const clt_tensor *target,
                             clt_loss_slot *defer, double *loss, clt_tensor *dS) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(clt_loss_check_desc(ctx, desc));
  CLT_TRY(clt_check_tensor(ctx, S, CLT_FLOAT32, "loss: S"));
  size_t n = S->rows, c = S->cols;
  if (!target) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "loss: target is NULL");
  int takes = clt_loss_target(desc->kind);
  bool labels = takes == CLT_TARGET_LABELS ||
                (takes == CLT_TARGET_EITHER && target->dtype == CLT_INT32);
  if (labels) {
    CLT_TRY(clt_check_tensor(ctx, target, CLT_INT32, "loss: target (labels)"));
    CLT_TRY(clt_check_shape(ctx, target, n, 1, "loss: target (labels)"));
  } else {
    CLT_TRY(clt_check_tensor(ctx, target, CLT_FLOAT32, "loss: target"));
    CLT_TRY(clt_check_shape(ctx, target, n, c, "loss: target"));
  }
  if (dS) {
    CLT_TRY(clt_check_tensor(ctx, dS, CLT_FLOAT32, "loss: dS"));
    CLT_TRY(clt_check_shape(ctx, dS, n, c, "loss: dS"));
  }
  CLT_TRY(check_weight(ctx, desc->class_weight, c, "loss: class_weight"));
  CLT_TRY(check_weight(ctx, desc->pos_weight, c, "loss: pos_weight"));
  double value;
  double t0 = clt_timing_start(ctx);
  CLT_TRY(clt_timed(ctx, "loss", CLT_TIMING_KERNEL, 0, t0,
                    ctx->be->loss(ctx, desc, S, target, defer, &value, dS)));
  if (defer && defer->written) return CLT_OK;
  return clt_loss_report(ctx, desc, value, loss);
}

clt_status clt_loss_report(clt_context *ctx, const clt_loss_desc *desc, double value,
                           double *loss) {
  value = clt_float_range(value);
  if (loss) *loss = value;
  if (!isfinite(value))
    return clt_fail(ctx, CLT_ERR_NONFINITE,
                    "loss %s is %g: S or the target holds NaN or inf, a term "
                    "overflowed, or the mean's denominator is 0 (every row "
                    "ignored or of weight 0)",
                    kind_names[desc->kind], value);
  return CLT_OK;
}

clt_status clt_loss_bad_label(const clt_context *ctx, size_t row,
                              int32_t label, size_t c) {
  return clt_fail(ctx, CLT_ERR_LABEL,
                  "loss: label %d at row %zu is outside [0, %zu)", (int)label,
                  row, c);
}

clt_status clt_loss_bad_weight(const clt_context *ctx, const char *name,
                               size_t index, float value) {
  return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                  "loss: %s[%zu] = %g is negative or not finite", name, index,
                  (double)value);
}
