/* Reference optimizer updates: plain loops in double over every tensor of
   an entry, parameters and state stored as float. The formulas are the
   specification written next to clt_optim_kind in cltrain.h; PyTorch's
   torch/optim/<kind>.py (_single_tensor_<kind>) is their source. */
#include <math.h>
#include <stdlib.h>

#include "../optim_impl.h"

/* p: (n) parameters of one tensor, g: (n) its gradient, s[k]: (n) state
   slot k; wd, decay: this tensor's coupled / decoupled decay; trust: its
   LARS ratio (1 for every other kind). */
typedef struct ref_seg {
  float *p;
  const float *g;
  float *s[CLT_OPT_MAX_STATES];
  size_t n;
  double wd, decay, trust;
} ref_seg;

/* torch.maximum / torch.amax: NaN wins. */
static double nan_max(double a, double b) {
  return a >= b || isnan(a) ? a : b;
}

static void update(const clt_optim_desc *d, const clt_opt_scalars *sc,
                   const ref_seg *r, double coef) {
  float *m = r->s[0], *v = r->s[1], *x = r->s[2];
  const double b1 = sc->beta1, b2 = sc->beta2, eps = sc->eps, lr = sc->lr;
  for (size_t i = 0; i < r->n; i++) {
    double p = r->p[i] * r->decay;
    double g = sc->sgn * (coef * r->g[i]);
    if (r->wd != 0) g += r->wd * p;
    switch (d->kind) {
    case CLT_OPTIM_SGD:
    case CLT_OPTIM_LARS: {
      double dir = r->trust * g;
      if (m) {
        double b = sc->first ? dir : sc->momentum * m[i] + sc->damp1 * dir;
        m[i] = (float)b;
        dir = sc->nesterov ? dir + sc->momentum * b : b;
      }
      p -= lr * dir;
      break;
    }
    case CLT_OPTIM_ADAGRAD: {
      double s = m[i] + g * g;
      m[i] = (float)s;
      p -= sc->clr * g / (sqrt(s) + eps);
      break;
    }
    case CLT_OPTIM_RMSPROP: {
      double a = sc->alpha * m[i] + (1 - sc->alpha) * g * g, den;
      m[i] = (float)a;
      if (x) {
        double c = sc->alpha * x[i] + (1 - sc->alpha) * g;
        x[i] = (float)c;
        den = sqrt(a - c * c) + eps;
      } else {
        den = sqrt(a) + eps;
      }
      if (v) {
        double b = sc->momentum * v[i] + g / den;
        v[i] = (float)b;
        p -= lr * b;
      } else {
        p -= lr * g / den;
      }
      break;
    }
    case CLT_OPTIM_ADADELTA: {
      double a = sc->rho * m[i] + (1 - sc->rho) * g * g;
      double delta = sqrt(v[i] + eps) / sqrt(a + eps) * g;
      m[i] = (float)a;
      v[i] = (float)(sc->rho * v[i] + (1 - sc->rho) * delta * delta);
      p -= lr * delta;
      break;
    }
    case CLT_OPTIM_ADAMAX: {
      double mm = b1 * m[i] + (1 - b1) * g;
      double u = nan_max(b2 * v[i], fabs(g) + eps);
      m[i] = (float)mm;
      v[i] = (float)u;
      p -= sc->clr * mm / u;
      break;
    }
    case CLT_OPTIM_LAMB:
      break; /* stepped by lamb() */
    case CLT_OPTIM_ADAM:
    case CLT_OPTIM_ADAMW:
    case CLT_OPTIM_NADAM:
    case CLT_OPTIM_RADAM: { /* the shared moments first */
      double mm = b1 * m[i] + (1 - b1) * g;
      double vv = b2 * v[i] + (1 - b2) * g * g;
      m[i] = (float)mm;
      v[i] = (float)vv;
      if (d->kind == CLT_OPTIM_NADAM) {
        double den = sqrt(vv / sc->bc2) + eps;
        p -= sc->c_grad * g / den + sc->c_avg * mm / den;
      } else if (d->kind == CLT_OPTIM_RADAM) {
        double mh = mm / sc->bc1;
        p -= sc->rect_on ? lr * sc->rect * mh * sc->bc2_sqrt / (sqrt(vv) + eps)
                         : lr * mh;
      } else {
        if (x) {
          vv = nan_max(x[i], vv);
          x[i] = (float)vv;
        }
        p -= sc->step_size * mm / (sqrt(vv) / sc->bc2_sqrt + eps);
      }
      break;
    }
    }
    r->p[i] = (float)p;
  }
}

static double norm2(const float *x, size_t n, double scale) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (scale * x[i]) * (scale * x[i]);
  return sqrt(s);
}

/* LAMB on one tensor: moments, u into tmp (n), then the scaled step. */
static void lamb(const clt_opt_scalars *sc, const ref_seg *r, double coef,
                 bool trust_on, double *u) {
  const double b1 = sc->beta1, b2 = sc->beta2;
  float *m = r->s[0], *v = r->s[1];
  double un = 0;
  for (size_t i = 0; i < r->n; i++) {
    double g = sc->sgn * (coef * r->g[i]);
    double mm = b1 * m[i] + (1 - b1) * g, vv = b2 * v[i] + (1 - b2) * g * g;
    m[i] = (float)mm;
    v[i] = (float)vv;
    u[i] = (mm / sc->bc1) / (sqrt(vv / sc->bc2) + sc->eps) + r->wd * r->p[i];
    un += u[i] * u[i];
  }
  double wn = norm2(r->p, r->n, 1.0);
  un = sqrt(un);
  double ratio = trust_on && wn > 0 && un > 0 ? wn / un : 1.0;
  for (size_t i = 0; i < r->n; i++)
    r->p[i] = (float)(r->p[i] - sc->lr * ratio * u[i]);
}

clt_status clt_ref_optim_step(clt_optimizer *opt, clt_opt_entry *e,
                              const clt_tensor *grad,
                              const clt_opt_scalars *sc, clt_optim_outcome *out) {
  const clt_optim_desc *d = &opt->desc;
  float *p = clt_ref_f32(e->param);
  const float *g = clt_ref_f32(grad);
  *out = (clt_optim_outcome){.pending = false, .skipped = false, .norm = NAN};
  double *u = NULL;
  if (d->kind == CLT_OPTIM_LAMB) {
    size_t most = 0;
    for (size_t s = 0; s < e->nseg; s++)
      if (e->segs[s].rows * e->segs[s].cols > most)
        most = e->segs[s].rows * e->segs[s].cols;
    u = malloc(most * sizeof *u);
    if (!u)
      return clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                      "optimizer: out of host memory");
  }
  double coef = 1.0;
  if (clt_opt_needs_stats(d)) {
    double ss = 0;
    bool bad = false;
    for (size_t s = 0; s < e->nseg; s++) {
      const clt_opt_seg *sg = &e->segs[s];
      for (size_t i = 0; i < sg->rows * sg->cols; i++) {
        double x = g[sg->offset + i];
        bad |= !isfinite(x);
        ss += x * x;
      }
    }
    out->norm = sqrt(ss);
    if (sc->guard && bad) {
      out->skipped = true;
      free(u);
      return CLT_OK;
    }
    if (sc->max_norm > 0) {
      double c = sc->max_norm / (out->norm + 1e-6);
      coef = c > 1.0 ? 1.0 : c;
    }
  }
  for (size_t s = 0; s < e->nseg; s++) {
    const clt_opt_seg *sg = &e->segs[s];
    bool wd_on = !(sg->flags & CLT_OPT_NO_WD);
    bool trust_on = !(sg->flags & CLT_OPT_NO_TRUST);
    ref_seg r = {.p = p + sg->offset,
                 .g = g + sg->offset,
                 .n = sg->rows * sg->cols,
                 .wd = wd_on ? sc->wd : 0.0,
                 .decay = wd_on ? sc->decay : 1.0,
                 .trust = 1.0};
    for (int k = 0; k < CLT_OPT_MAX_STATES; k++)
      r.s[k] = e->state[k] ? clt_ref_f32(e->state[k]) + sg->offset : NULL;
    if (d->kind == CLT_OPTIM_LAMB) {
      r.wd = wd_on ? sc->lamb_wd : 0.0;
      lamb(sc, &r, coef, trust_on, u);
      continue;
    }
    if (d->kind == CLT_OPTIM_LARS) {
      double wn = norm2(r.p, r.n, 1.0), gn = norm2(r.g, r.n, coef);
      if (trust_on && wn > 0 && gn > 0)
        r.trust = sc->eta * wn / (gn + r.wd * wn);
    }
    update(d, sc, &r, coef);
  }
  free(u);
  return CLT_OK;
}
