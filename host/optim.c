/* Optimizers: defaults, validation, the registry of updated tensors, the
   per-step scalars (computed here in double) and dispatch to the backends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim_impl.h"

static const char *const kind_names[] = {CLT_OPTIM_KINDS(CLT_KIND_NAME)};
static const bool kind_stats[] = {CLT_OPTIM_KINDS(CLT_KIND_PROP)};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

static bool kind_valid(clt_optim_kind kind) { return (unsigned)kind < N_KINDS; }

const char *clt_optim_kind_name(clt_optim_kind kind) {
  return kind_valid(kind) ? kind_names[kind] : "unknown";
}

clt_status clt_optim_kind_from_name(const char *name, clt_optim_kind *kind) {
  if (!name || !kind) return CLT_ERR_INVALID_ARG;
  size_t k = clt_kind_lookup(kind_names, N_KINDS, name);
  if (k == N_KINDS) return CLT_ERR_INVALID_ARG;
  *kind = (clt_optim_kind)k;
  return CLT_OK;
}

clt_optim_desc clt_optim_defaults(clt_optim_kind kind) {
  clt_optim_desc d;
  memset(&d, 0, sizeof d);
  d.kind = kind;
  d.lr = 1e-3f; /* SGD's (PyTorch has none), and an unknown kind's */
  switch (kind) {
  case CLT_OPTIM_SGD:
    break;
  case CLT_OPTIM_ADAGRAD:
    d.lr = 1e-2f;
    d.eps = 1e-10f;
    break;
  case CLT_OPTIM_RMSPROP:
    d.lr = 1e-2f;
    d.alpha = 0.99f;
    d.eps = 1e-8f;
    break;
  case CLT_OPTIM_ADADELTA:
    d.lr = 1.0f;
    d.rho = 0.9f;
    d.eps = 1e-6f;
    break;
  case CLT_OPTIM_ADAM:
  case CLT_OPTIM_ADAMW:
  case CLT_OPTIM_ADAMAX:
  case CLT_OPTIM_NADAM:
  case CLT_OPTIM_RADAM:
  case CLT_OPTIM_LAMB:
    d.lr = kind == CLT_OPTIM_ADAMAX || kind == CLT_OPTIM_NADAM ? 2e-3f : 1e-3f;
    d.beta1 = 0.9f;
    d.beta2 = 0.999f;
    d.eps = kind == CLT_OPTIM_LAMB ? 1e-6f : 1e-8f;
    if (kind == CLT_OPTIM_ADAMW) d.weight_decay = 1e-2f;
    if (kind == CLT_OPTIM_NADAM) d.momentum_decay = 4e-3f;
    break;
  case CLT_OPTIM_LARS:
    d.lr = 1.0f;
    d.momentum = 0.9f;
    d.trust_coefficient = 1e-3f;
    break;
  }
  return d;
}

clt_status clt_opt_check_desc(const clt_context *ctx,
                              const clt_optim_desc *d) {
  if (!d) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "optimizer: desc is NULL");
  if (!kind_valid(d->kind))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "optimizer: unknown kind %d",
                    (int)d->kind);
  const struct {
    const char *name;
    float v;
    float lo, hi; /* v must lie in [lo, hi], or [lo, hi) when open */
    bool open;
  } f[] = {
      {"lr", d->lr, 0, INFINITY, false},
      {"weight_decay", d->weight_decay, 0, INFINITY, false},
      {"momentum", d->momentum, 0, INFINITY, false},
      {"dampening", d->dampening, -INFINITY, INFINITY, false},
      {"beta1", d->beta1, 0, 1, true},
      {"beta2", d->beta2, 0, 1, true},
      {"eps", d->eps, 0, INFINITY, false},
      {"alpha", d->alpha, 0, INFINITY, false},
      {"rho", d->rho, 0, 1, false},
      {"lr_decay", d->lr_decay, 0, INFINITY, false},
      {"initial_accumulator_value", d->initial_accumulator_value, 0, INFINITY,
       false},
      {"momentum_decay", d->momentum_decay, 0, INFINITY, false},
      {"trust_coefficient", d->trust_coefficient, 0, INFINITY, false},
      {"max_grad_norm", d->max_grad_norm, 0, INFINITY, false},
  };
  for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
    float v = f[k].v;
    if (!isfinite(v) || v < f[k].lo || v > f[k].hi ||
        (f[k].open && v == f[k].hi))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "optimizer %s: %s = %g is %s", kind_names[d->kind],
                      f[k].name, (double)v,
                      !isfinite(v) ? "not finite"
                      : f[k].open  ? "outside [0, 1)"
                      : f[k].hi == 1 ? "outside [0, 1]"
                                     : "negative");
  }
  if (d->kind == CLT_OPTIM_SGD && d->nesterov &&
      (d->momentum <= 0 || d->dampening != 0))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "optimizer sgd: nesterov needs momentum > 0 and "
                    "dampening 0 (momentum %g, dampening %g)",
                    (double)d->momentum, (double)d->dampening);
  return CLT_OK;
}

const char *clt_opt_state_name(const clt_optim_desc *d, int slot) {
  switch (d->kind) {
  case CLT_OPTIM_SGD:
  case CLT_OPTIM_LARS:
    return slot == 0 && d->momentum != 0 ? "momentum_buffer" : NULL;
  case CLT_OPTIM_ADAGRAD:
    return slot == 0 ? "sum" : NULL;
  case CLT_OPTIM_RMSPROP:
    return slot == 0                       ? "square_avg"
           : slot == 1 && d->momentum > 0 ? "momentum_buffer"
           : slot == 2 && d->centered     ? "grad_avg"
                                          : NULL;
  case CLT_OPTIM_ADADELTA:
    return slot == 0 ? "square_avg" : slot == 1 ? "acc_delta" : NULL;
  case CLT_OPTIM_ADAM:
  case CLT_OPTIM_ADAMW:
    return slot == 0              ? "exp_avg"
           : slot == 1            ? "exp_avg_sq"
           : slot == 2 && d->amsgrad ? "max_exp_avg_sq"
                                  : NULL;
  case CLT_OPTIM_ADAMAX:
    return slot == 0 ? "exp_avg" : slot == 1 ? "exp_inf" : NULL;
  case CLT_OPTIM_NADAM:
  case CLT_OPTIM_RADAM:
  case CLT_OPTIM_LAMB:
    return slot == 0 ? "exp_avg" : slot == 1 ? "exp_avg_sq" : NULL;
  }
  return NULL;
}

bool clt_opt_needs_stats(const clt_optim_desc *d) {
  return d->skip_nonfinite || d->max_grad_norm > 0 || kind_stats[d->kind];
}

clt_tensor clt_opt_window(const clt_tensor *t, size_t offset, size_t rows,
                          size_t cols) {
  clt_tensor w = *t;
  w.offset = t->offset + offset;
  w.rows = rows;
  w.cols = cols;
  return w;
}

/* ------------------------------------------------------------ registry */

clt_opt_entry *clt_opt_find(const clt_optimizer *opt, const clt_tensor *param,
                            size_t *seg) {
  for (size_t k = 0; k < opt->nentries; k++) {
    clt_opt_entry *e = opt->entries[k];
    if (param->st != e->param->st) continue;
    for (size_t s = 0; s < e->nseg; s++) {
      const clt_opt_seg *g = &e->segs[s];
      if (param->offset == e->param->offset + g->offset &&
          param->rows == g->rows && param->cols == g->cols) {
        if (seg) *seg = s;
        return e;
      }
    }
  }
  return NULL;
}

static void entry_free(const clt_optimizer *opt, clt_opt_entry *e) {
  if (!e) return;
  if (e->cl) opt->ctx->be->optim_entry_free(e);
  for (int k = 0; k < CLT_OPT_MAX_STATES; k++) clt_tensor_destroy(e->state[k]);
  clt_tensor_destroy(e->param);
  clt_tensor_destroy(e->grad);
  free(e->segs);
  free(e);
}

clt_status clt_opt_alloc_state(clt_optimizer *opt, const clt_opt_entry *e,
                               const clt_optim_desc *desc,
                               clt_tensor *state[CLT_OPT_MAX_STATES]) {
  clt_status st = CLT_OK;
  for (int k = 0; k < CLT_OPT_MAX_STATES; k++) state[k] = NULL;
  for (int k = 0; k < CLT_OPT_MAX_STATES && st == CLT_OK; k++) {
    if (!clt_opt_state_name(desc, k)) continue;
    st = clt_tensor_create(opt->ctx, 1, e->n, CLT_FLOAT32, &state[k]);
    if (st == CLT_OK)
      st = clt_tensor_fill(state[k], desc->kind == CLT_OPTIM_ADAGRAD
                                         ? desc->initial_accumulator_value
                                         : 0.0);
  }
  if (st != CLT_OK)
    for (int k = 0; k < CLT_OPT_MAX_STATES; k++) {
      clt_tensor_destroy(state[k]);
      state[k] = NULL;
    }
  return st;
}

/* Completes e (state, backend buffers) and appends it; frees it on
   failure. */
static clt_status entry_add(clt_optimizer *opt, clt_opt_entry *e) {
  e->mu_product = 1.0;
  e->last_norm = NAN;
  clt_status st = clt_opt_alloc_state(opt, e, &opt->desc, e->state);
  if (st == CLT_OK && opt->ctx->be->optim_entry_init)
    st = opt->ctx->be->optim_entry_init(opt, e);
  if (st == CLT_OK && opt->nentries == opt->cap) {
    size_t cap = opt->cap ? 2 * opt->cap : 4;
    clt_opt_entry **grown = realloc(opt->entries, cap * sizeof *grown);
    if (!grown)
      st = clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer: out of host memory");
    else
      opt->entries = grown, opt->cap = cap;
  }
  if (st != CLT_OK) {
    entry_free(opt, e);
    return st;
  }
  opt->entries[opt->nentries++] = e;
  return CLT_OK;
}

static uint32_t option_flags(const clt_param_options *o) {
  return o ? (o->no_weight_decay ? CLT_OPT_NO_WD : 0) |
                 (o->no_trust_ratio ? CLT_OPT_NO_TRUST : 0)
           : 0;
}

/* A handle of ours on t's memory (keeps it alive and its address unique). */
static clt_tensor *retain(const clt_tensor *t) {
  clt_tensor *h = malloc(sizeof *h);
  if (!h) return NULL;
  *h = *t;
  h->st->refs++;
  return h;
}

static clt_status check_new_param(clt_optimizer *opt, const clt_tensor *param,
                                  const char *fn) {
  char name[64];
  snprintf(name, sizeof name, "%s: param", fn);
  CLT_TRY(clt_check_tensor(opt->ctx, param, CLT_FLOAT32, name));
  for (size_t k = 0; k < opt->nentries; k++) {
    const clt_opt_entry *e = opt->entries[k];
    if (e->group && param->st == e->param->st)
      return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                      "%s: param belongs to a parameter group of this "
                      "optimizer; groups step through clt_optimizer_step_all",
                      fn);
    if (clt_tensors_overlap(param, e->param))
      return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                      "%s: param (%zux%zu) overlaps a tensor already "
                      "registered with this optimizer (%zux%zu)",
                      fn, param->rows, param->cols, e->param->rows,
                      e->param->cols);
  }
  return CLT_OK;
}

static clt_status add_tensor(clt_optimizer *opt, clt_tensor *param,
                             const clt_param_options *options,
                             clt_opt_entry **out) {
  clt_opt_entry *e = calloc(1, sizeof *e);
  clt_opt_seg *seg = calloc(1, sizeof *seg);
  clt_tensor *h = e && seg ? retain(param) : NULL;
  if (!h) {
    free(e);
    free(seg);
    return clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer: out of host memory");
  }
  *seg = (clt_opt_seg){param->rows, param->cols, 0, option_flags(options)};
  e->nseg = 1;
  e->segs = seg;
  e->param = h;
  e->n = clt_tensor_numel(param);
  CLT_TRY(entry_add(opt, e));
  *out = e;
  return CLT_OK;
}

clt_status clt_optimizer_add_param(clt_optimizer *opt, clt_tensor *param,
                                   const clt_param_options *options) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_new_param(opt, param, "optimizer_add_param"));
  if (clt_opt_find(opt, param, NULL))
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_add_param: param is already registered");
  clt_opt_entry *e;
  return add_tensor(opt, param, options, &e);
}

/* A view of t's memory for segment s, handed to the user. */
static clt_tensor *seg_view(const clt_tensor *t,
                            const clt_opt_seg *s) {
  clt_tensor w = clt_opt_window(t, s->offset, s->rows, s->cols);
  return retain(&w);
}

clt_status clt_optimizer_add_group(clt_optimizer *opt, size_t count,
                                   const size_t *rows, const size_t *cols,
                                   const clt_param_options *options,
                                   clt_tensor **params, clt_tensor **grads) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  clt_context *ctx = opt->ctx;
  if (!rows || !cols || !params || !grads)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_add_group: rows, cols, params and grads must "
                    "not be NULL");
  if (count == 0 || count > CLT_OPT_MAX_SEGS)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_add_group: count %zu is outside [1, %u]", count,
                    CLT_OPT_MAX_SEGS);
  clt_opt_seg *segs = calloc(count, sizeof *segs);
  if (!segs)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer_add_group: out of host memory");
  size_t total = 0;
  for (size_t s = 0; s < count; s++) {
    size_t numel, padded;
    if (rows[s] == 0 || cols[s] == 0 || !clt_mul_size(rows[s], cols[s], &numel) ||
        numel > SIZE_MAX / 4 - CLT_OPT_UNIT ||
        (padded = clt_round_up(numel, CLT_OPT_UNIT)) > SIZE_MAX / 4 - total) {
      free(segs);
      return clt_fail(ctx, CLT_ERR_SHAPE,
                      "optimizer_add_group: tensor %zu of %zux%zu is empty or "
                      "makes the group overflow",
                      s, rows[s], cols[s]);
    }
    segs[s] = (clt_opt_seg){rows[s], cols[s], total,
                            option_flags(options ? &options[s] : NULL)};
    total += padded;
  }
  clt_opt_entry *e = calloc(1, sizeof *e);
  if (!e) {
    free(segs);
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer_add_group: out of host memory");
  }
  e->group = true;
  e->nseg = count;
  e->segs = segs;
  e->n = total;
  clt_status st = clt_tensor_create(ctx, 1, total, CLT_FLOAT32, &e->param);
  if (st == CLT_OK) st = clt_tensor_fill(e->param, 0.0);
  if (st == CLT_OK) st = clt_tensor_create(ctx, 1, total, CLT_FLOAT32, &e->grad);
  if (st == CLT_OK) st = clt_tensor_fill(e->grad, 0.0);
  if (st != CLT_OK) {
    entry_free(opt, e);
    return st;
  }
  clt_tensor **pv = calloc(count, sizeof *pv), **gv = calloc(count, sizeof *gv);
  for (size_t s = 0; pv && gv && s < count; s++) {
    pv[s] = seg_view(e->param, &segs[s]);
    gv[s] = seg_view(e->grad, &segs[s]);
    if (!pv[s] || !gv[s]) {
      st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer_add_group: out of host memory");
      break;
    }
  }
  if (!pv || !gv)
    st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                  "optimizer_add_group: out of host memory");
  if (st == CLT_OK) st = entry_add(opt, e);
  else entry_free(opt, e);
  for (size_t s = 0; pv && gv && s < count; s++) {
    if (st == CLT_OK) {
      params[s] = pv[s];
      grads[s] = gv[s];
    } else {
      clt_tensor_destroy(pv[s]);
      clt_tensor_destroy(gv[s]);
    }
  }
  free(pv);
  free(gv);
  return st;
}

/* ----------------------------------------------------------- lifetime */

clt_status clt_optimizer_create(clt_context *ctx, const clt_optim_desc *desc,
                                clt_optimizer **out) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!out)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "optimizer_create: out is NULL");
  CLT_TRY(clt_opt_check_desc(ctx, desc));
  clt_optimizer *opt = calloc(1, sizeof *opt);
  if (!opt)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer_create: out of host memory");
  opt->ctx = ctx;
  opt->desc = *desc;
  ctx->refs++; /* the context outlives its optimizers */
  *out = opt;
  return CLT_OK;
}

void clt_optimizer_destroy(clt_optimizer *opt) {
  if (!opt) return;
  for (size_t k = 0; k < opt->nentries; k++) entry_free(opt, opt->entries[k]);
  free(opt->entries);
  clt_context *ctx = opt->ctx;
  free(opt);
  clt_context_release(ctx);
}

/* ---------------------------------------------------------------- steps */

/* The scalars of e's next step; *mu is NAdam's mu_t (1 otherwise). */
static void step_scalars(const clt_optimizer *opt, const clt_opt_entry *e,
                         clt_opt_scalars *sc, double *mu) {
  const clt_optim_desc *d = &opt->desc;
  const double t = (double)(e->steps + 1), lr = d->lr, wd = d->weight_decay;
  const double b1 = d->beta1, b2 = d->beta2;
  memset(sc, 0, sizeof *sc);
  sc->lr = lr;
  sc->sgn = d->maximize ? -1.0 : 1.0;
  sc->decay = 1.0;
  sc->beta1 = b1;
  sc->beta2 = b2;
  sc->eps = d->eps;
  sc->max_norm = d->max_grad_norm;
  sc->guard = d->skip_nonfinite != 0;
  sc->bc1 = 1.0 - pow(b1, t);
  sc->bc2 = 1.0 - pow(b2, t);
  sc->bc2_sqrt = sqrt(sc->bc2);
  *mu = 1.0;
  bool decoupled = d->kind == CLT_OPTIM_ADAMW ||
                   ((d->kind == CLT_OPTIM_NADAM || d->kind == CLT_OPTIM_RADAM) &&
                    d->decoupled_weight_decay);
  if (decoupled)
    sc->decay = 1.0 - lr * wd;
  else if (d->kind != CLT_OPTIM_LAMB)
    sc->wd = wd;
  switch (d->kind) {
  case CLT_OPTIM_SGD:
  case CLT_OPTIM_LARS:
    sc->momentum = d->momentum;
    sc->damp1 = d->kind == CLT_OPTIM_SGD ? 1.0 - (double)d->dampening : 1.0;
    sc->nesterov = d->kind == CLT_OPTIM_SGD && d->nesterov;
    sc->first = d->kind == CLT_OPTIM_SGD && e->steps == 0;
    sc->eta = d->trust_coefficient;
    break;
  case CLT_OPTIM_ADAGRAD:
    sc->clr = lr / (1.0 + (t - 1.0) * d->lr_decay);
    break;
  case CLT_OPTIM_RMSPROP:
    sc->alpha = d->alpha;
    sc->momentum = d->momentum;
    break;
  case CLT_OPTIM_ADADELTA:
    sc->rho = d->rho;
    break;
  case CLT_OPTIM_ADAM:
  case CLT_OPTIM_ADAMW:
    sc->step_size = lr / sc->bc1;
    break;
  case CLT_OPTIM_ADAMAX:
    sc->clr = lr / sc->bc1;
    break;
  case CLT_OPTIM_NADAM: {
    double psi = d->momentum_decay;
    double mu_t = b1 * (1.0 - 0.5 * pow(0.96, t * psi));
    double mu_next = b1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * psi));
    double prod = e->mu_product * mu_t;
    sc->c_grad = lr * (1.0 - mu_t) / (1.0 - prod);
    sc->c_avg = lr * mu_next / (1.0 - prod * mu_next);
    *mu = mu_t;
    break;
  }
  case CLT_OPTIM_RADAM: {
    double rho_inf = 2.0 / (1.0 - b2) - 1.0;
    double rho_t = rho_inf - 2.0 * t * pow(b2, t) / sc->bc2;
    sc->rect_on = rho_t > 5.0;
    if (sc->rect_on)
      sc->rect = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                      ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
    break;
  }
  case CLT_OPTIM_LAMB:
    sc->lamb_wd = wd;
    break;
  }
}

/* Books a step whose outcome is known. */
static void record(clt_opt_entry *e, bool skipped, double mu) {
  if (skipped) {
    e->skipped++;
  } else {
    e->steps++;
    e->mu_product *= mu;
  }
}

clt_status clt_opt_settle(clt_optimizer *opt, clt_opt_entry *e, bool wait) {
  if (!opt->ctx->be->optim_settle) return CLT_OK;
  bool had, skipped;
  double norm;
  CLT_TRY(opt->ctx->be->optim_settle(opt, e, wait || e->awaiting, &had, &skipped,
                                     &norm));
  if (!had) return CLT_OK;
  e->last_norm = norm;
  if (e->awaiting) {
    e->awaiting = false;
    record(e, skipped, e->pending_mu);
  }
  return CLT_OK;
}

static clt_status step_entry(clt_optimizer *opt, clt_opt_entry *e,
                             const clt_tensor *grad) {
  CLT_TRY(clt_opt_settle(opt, e, false));
  clt_opt_scalars sc;
  double mu;
  step_scalars(opt, e, &sc, &mu);
  opt->last = e;
  clt_optim_outcome out;
  double t0 = clt_timing_start(opt->ctx);
  CLT_TRY(clt_timed(opt->ctx, "optim_step", CLT_TIMING_KERNEL, 0, t0,
                    opt->ctx->be->optim_step(opt, e, grad, &sc, &out)));
  if (out.pending && sc.guard) {
    e->awaiting = true;
    e->pending_mu = mu;
  } else if (out.pending) {
    record(e, false, mu);
  } else {
    e->last_norm = out.norm;
    record(e, out.skipped, mu);
  }
  return CLT_OK;
}

clt_status clt_optimizer_step(clt_optimizer *opt, clt_tensor *param,
                              const clt_tensor *grad) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  clt_context *ctx = opt->ctx;
  CLT_TRY(clt_check_tensor(ctx, param, CLT_FLOAT32, "optimizer_step: param"));
  CLT_TRY(clt_check_tensor(ctx, grad, CLT_FLOAT32, "optimizer_step: grad"));
  CLT_TRY(clt_check_shape(ctx, grad, param->rows, param->cols,
                          "optimizer_step: grad"));
  if (clt_tensors_overlap(param, grad))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_step: param and grad share memory");
  clt_opt_entry *e = clt_opt_find(opt, param, NULL);
  if (e && e->group)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_step: param belongs to a parameter group; "
                    "groups step through clt_optimizer_step_all");
  if (!e) {
    CLT_TRY(check_new_param(opt, param, "optimizer_step"));
    CLT_TRY(add_tensor(opt, param, NULL, &e));
  }
  return step_entry(opt, e, grad);
}

clt_status clt_optimizer_step_all(clt_optimizer *opt) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  bool any = false;
  for (size_t k = 0; k < opt->nentries; k++) {
    clt_opt_entry *e = opt->entries[k];
    if (!e->group) continue;
    any = true;
    CLT_TRY(step_entry(opt, e, e->grad));
  }
  if (!any)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_step_all: the optimizer has no parameter "
                    "group (clt_optimizer_add_group)");
  return CLT_OK;
}

/* -------------------------------------------------------------- queries */

clt_status clt_optimizer_set_lr(clt_optimizer *opt, double lr) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  if (!isfinite(lr) || lr < 0 || (float)lr > 3.4e38f)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_set_lr: lr = %g is not a finite value >= 0",
                    lr);
  opt->desc.lr = (float)lr;
  return CLT_OK;
}

const clt_optim_desc *clt_optimizer_desc(const clt_optimizer *opt) {
  return opt ? &opt->desc : NULL;
}

static clt_status find_owned(clt_optimizer *opt, const clt_tensor *param,
                             const char *fn, clt_opt_entry **e, size_t *seg) {
  if (!param)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG, "%s: param is NULL", fn);
  *e = clt_opt_find(opt, param, seg);
  if (!*e)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "%s: the %zux%zu param is not a tensor of this optimizer",
                    fn, param->rows, param->cols);
  return CLT_OK;
}

clt_status clt_optimizer_stats(clt_optimizer *opt, const clt_tensor *param,
                               clt_optim_stats *out) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  if (!out)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_stats: out is NULL");
  clt_optim_stats s = {0, 0, 1.0, NAN};
  if (param) {
    clt_opt_entry *e;
    size_t seg;
    CLT_TRY(find_owned(opt, param, "optimizer_stats", &e, &seg));
    CLT_TRY(clt_opt_settle(opt, e, true));
    s = (clt_optim_stats){e->steps, e->skipped, e->mu_product, e->last_norm};
  } else {
    for (size_t k = 0; k < opt->nentries; k++) {
      clt_opt_entry *e = opt->entries[k];
      CLT_TRY(clt_opt_settle(opt, e, true));
      s.steps += e->steps;
      s.skipped += e->skipped;
    }
    if (opt->last) {
      s.mu_product = opt->last->mu_product;
      s.last_grad_norm = opt->last->last_norm;
    }
  }
  *out = s;
  return CLT_OK;
}

clt_status clt_optimizer_read_state(clt_optimizer *opt,
                                    const clt_tensor *param, const char *name,
                                    float *host, size_t bytes) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  clt_opt_entry *e;
  size_t seg = 0;
  CLT_TRY(find_owned(opt, param, "optimizer_read_state", &e, &seg));
  if (!name)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_read_state: name is NULL");
  for (int k = 0; k < CLT_OPT_MAX_STATES; k++) {
    const char *have = clt_opt_state_name(&opt->desc, k);
    if (!have || strcmp(have, name) != 0) continue;
    const clt_opt_seg *g = &e->segs[seg];
    clt_tensor w = clt_opt_window(e->state[k], g->offset, g->rows, g->cols);
    return clt_tensor_read(&w, host, bytes);
  }
  return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                  "optimizer_read_state: %s keeps no state '%s' with these "
                  "options",
                  kind_names[opt->desc.kind], name);
}
