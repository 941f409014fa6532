/* Reference losses in double precision: the specification of
   kernels/loss.cl (formulas in cltrain.h, from torch.nn.functional).
   Each row function returns the row's loss before the reduction's scale
   and writes the row's gradient g (C) before that scale, when g != NULL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss_impl.h"

static double weight(const float *w, size_t j) { return w ? w[j] : 1.0; }

/* log sum_j exp(s_j) with the maximum subtracted; NaN propagates. */
static double row_lse(const double *s, size_t c) {
  double m = s[0];
  for (size_t j = 1; j < c; j++)
    if (s[j] > m || isnan(s[j])) m = s[j];
  double z = 0.0;
  for (size_t j = 0; j < c; j++) z += exp(s[j] - m);
  return m + log(z);
}

/* Labels, not ignored. s, g: (C). wsum = sum of the class weights. */
static double ce_label_row(const clt_ref_loss_in *in, double wsum,
                           const double *s, int32_t y, double *g) {
  size_t c = in->c;
  double eps = in->desc->label_smoothing, lse = row_lse(s, c);
  double wy = weight(in->class_weight, (size_t)y);
  double smooth = 0.0;
  for (size_t j = 0; j < c; j++) {
    double wj = weight(in->class_weight, j);
    smooth += wj * (lse - s[j]);
    if (g) {
      double p = exp(s[j] - lse);
      g[j] = (1.0 - eps) * wy * (p - (j == (size_t)y)) +
             eps / (double)c * (wsum * p - wj);
    }
  }
  return (1.0 - eps) * wy * (lse - s[y]) + eps / (double)c * smooth;
}

/* Soft targets t (C): t' = (1-eps) t + eps/C. */
static double ce_soft_row(const clt_ref_loss_in *in, const double *s,
                          const float *t, double *g) {
  size_t c = in->c;
  double eps = in->desc->label_smoothing, lse = row_lse(s, c);
  double tw = 0.0, loss = 0.0;
  for (size_t j = 0; j < c; j++) {
    double wt = weight(in->class_weight, j) *
                ((1.0 - eps) * t[j] + eps / (double)c);
    tw += wt;
    loss += wt * (lse - s[j]);
  }
  if (g)
    for (size_t j = 0; j < c; j++)
      g[j] = exp(s[j] - lse) * tw - weight(in->class_weight, j) *
                                        ((1.0 - eps) * t[j] + eps / (double)c);
  return loss;
}

/* Weston-Watkins; a margin term counts only when > 0 (NaN propagates to
   the loss, its gradient is 0). */
static double hinge_row(const clt_ref_loss_in *in, const double *s, int32_t y,
                        double *g) {
  double delta = in->desc->margin, wy = weight(in->class_weight, (size_t)y);
  int p = in->desc->p;
  double loss = 0.0, count = 0.0;
  for (size_t j = 0; j < in->c; j++) {
    if (j == (size_t)y) continue;
    double z = s[j] - s[y] + delta, dz = 0.0;
    if (z > 0) {
      loss += p == 1 ? z : z * z;
      dz = p == 1 ? 1.0 : 2.0 * z;
    } else if (isnan(z)) {
      loss += z;
    }
    count += dz;
    if (g) g[j] = wy * dz;
  }
  if (g) g[y] = -wy * count;
  return wy * loss;
}

static double sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }

/* One element of the elementwise losses; *g = d loss / d s. */
static double elem(const clt_loss_desc *d, double s, double t, double pw,
                   double *g) {
  double diff = s - t;
  switch (d->kind) {
  case CLT_LOSS_BCE_LOGITS: {
    double lw = 1.0 + (pw - 1.0) * t;
    *g = lw / (1.0 + exp(-s)) - pw * t;
    return (1.0 - t) * s + lw * (fmax(-s, 0.0) + log1p(exp(-fabs(s))));
  }
  case CLT_LOSS_MSE:
    *g = 2.0 * diff;
    return diff * diff;
  case CLT_LOSS_L1:
    *g = sign(diff);
    return fabs(diff);
  case CLT_LOSS_HUBER: {
    double delta = d->huber_delta;
    if (fabs(diff) < delta) {
      *g = diff;
      return 0.5 * diff * diff;
    }
    *g = delta * sign(diff);
    return delta * (fabs(diff) - 0.5 * delta);
  }
  case CLT_LOSS_KL_DIV:
    if (d->log_target) {
      *g = -exp(t);
      return exp(t) * (t - s);
    }
    *g = -t;
    return (t == 0.0 ? 0.0 : t * log(t)) - t * s; /* xlogy(t, t) - t s */
  case CLT_LOSS_CROSS_ENTROPY:
  case CLT_LOSS_HINGE:
    break; /* row losses, never computed element by element */
  }
  *g = NAN;
  return NAN;
}

static double elem_row(const clt_ref_loss_in *in, const double *s,
                       const float *t, double *g) {
  double loss = 0.0;
  for (size_t j = 0; j < in->c; j++) {
    double w = weight(in->class_weight, j), gj;
    loss += w * elem(in->desc, s[j], t[j], weight(in->pos_weight, j), &gj);
    if (g) g[j] = w * gj;
  }
  return loss;
}

/* The MEAN denominator: the weight of the cross-entropy rows not ignored
   (0 makes the mean NaN, as in PyTorch), N for the other row losses, N*C
   for the elementwise ones (N for KL's BATCHMEAN). */
double clt_ref_loss_denominator(const clt_ref_loss_in *in) {
  const clt_loss_desc *d = in->desc;
  if (d->reduction == CLT_REDUCTION_SUM) return 1.0;
  if (d->reduction == CLT_REDUCTION_BATCHMEAN) return (double)in->n;
  if (d->kind == CLT_LOSS_CROSS_ENTROPY && in->labels) {
    double den = 0.0;
    for (size_t i = 0; i < in->n; i++)
      if (in->labels[i] != d->ignore_index)
        den += weight(in->class_weight, (size_t)in->labels[i]);
    return den;
  }
  if (d->kind == CLT_LOSS_CROSS_ENTROPY || d->kind == CLT_LOSS_HINGE)
    return (double)in->n;
  return (double)in->n * (double)in->c;
}

double clt_ref_loss_f64(const clt_ref_loss_in *in, const double *S,
                        double *dS) {
  const clt_loss_desc *d = in->desc;
  size_t n = in->n, c = in->c;
  double wsum = 0.0;
  for (size_t j = 0; j < c; j++) wsum += weight(in->class_weight, j);
  double scale = 1.0 / clt_ref_loss_denominator(in), total = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double *s = S + i * c;
    double *g = dS ? dS + i * c : NULL;
    const float *t = in->target ? in->target + i * c : NULL;
    if (d->kind == CLT_LOSS_CROSS_ENTROPY && in->labels &&
        in->labels[i] == d->ignore_index) {
      if (g) memset(g, 0, c * sizeof *g); /* no loss, no gradient */
      continue;
    }
    if (d->kind == CLT_LOSS_CROSS_ENTROPY && in->labels)
      total += ce_label_row(in, wsum, s, in->labels[i], g);
    else if (d->kind == CLT_LOSS_CROSS_ENTROPY)
      total += ce_soft_row(in, s, t, g);
    else if (d->kind == CLT_LOSS_HINGE)
      total += hinge_row(in, s, in->labels[i], g);
    else
      total += elem_row(in, s, t, g);
    for (size_t j = 0; g && j < c; j++) g[j] *= scale;
  }
  return total * scale;
}

clt_status clt_ref_loss_check(const clt_context *ctx,
                              const clt_ref_loss_in *in) {
  const float *w[2] = {in->class_weight, in->pos_weight};
  const char *names[2] = {"class_weight", "pos_weight"};
  for (int k = 0; k < 2; k++)
    for (size_t j = 0; w[k] && j < in->c; j++)
      if (!(w[k][j] >= 0.0f) || !isfinite(w[k][j]))
        return clt_loss_bad_weight(ctx, names[k], j, w[k][j]);
  bool ignore = in->desc->kind == CLT_LOSS_CROSS_ENTROPY;
  for (size_t i = 0; in->labels && i < in->n; i++) {
    int32_t y = in->labels[i];
    if (ignore && y == in->desc->ignore_index) continue;
    if (y < 0 || (size_t)y >= in->c)
      return clt_loss_bad_label(ctx, i, y, in->c);
  }
  return CLT_OK;
}

clt_status clt_ref_loss(clt_context *ctx, const clt_loss_desc *desc,
                        const clt_tensor *S, const clt_tensor *target,
                        clt_loss_slot *defer, double *loss, clt_tensor *dS) {
  (void)defer;
  size_t n = S->rows, c = S->cols, numel = n * c;
  bool labels = target->dtype == CLT_INT32;
  clt_ref_loss_in in = {
      .desc = desc, .n = n, .c = c,
      .labels = labels ? clt_ref_i32(target) : NULL,
      .target = labels ? NULL : clt_ref_f32(target),
      .class_weight = desc->class_weight ? clt_ref_f32(desc->class_weight) : NULL,
      .pos_weight = desc->pos_weight ? clt_ref_f32(desc->pos_weight) : NULL};
  CLT_TRY(clt_ref_loss_check(ctx, &in));
  double *s = calloc(numel, sizeof *s);
  double *g = dS ? malloc(numel * sizeof *g) : NULL;
  if (!s || (dS && !g)) {
    free(s);
    free(g);
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "loss: cannot allocate %zu doubles", 2 * numel);
  }
  const float *sf = clt_ref_f32(S);
  for (size_t k = 0; k < numel; k++) s[k] = sf[k];
  *loss = clt_ref_loss_f64(&in, s, g);
  if (dS) {
    float *out = clt_ref_f32(dS);
    for (size_t k = 0; k < numel; k++) out[k] = (float)g[k];
  }
  free(s);
  free(g);
  return CLT_OK;
}
