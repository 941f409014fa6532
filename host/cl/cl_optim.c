/* OpenCL optimizer steps: one update launch per step (kernels/optim.cl),
   preceded, when the step needs the gradient norm or the non-finite guard,
   by a reduction pass and small kernels that leave their results (skip
   flag, clipping coefficient, trust ratios) in device memory for the
   update to read. The host hears of the outcome
   through a non-blocking 12-byte read it collects later. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

struct clt_opt_cl {
  cl_mem aux;    /* (4 + nseg) floats, see kernels/optim.cl */
  cl_mem units;  /* one word per CLT_OPT_UNIT elements */
  cl_mem segtab; /* first unit of every tensor (nseg + 1), then flags */
  cl_mem part;   /* 3 partial sums per unit (kernels/optim.cl) */
  size_t wg, gpu, nunits, acc_bytes;
  float back[3];     /* aux[0..2] as last read back */
  cl_event pending;  /* that read, not yet collected */
  bool dirty;        /* aux[0..3] hold a step's results ... */
  float header_scale; /* ... or the defaults with this gradient scale */
  bool dropped;      /* a read was released uncollected: finish before free */
};

void clt_cl_optim_entry_free(clt_opt_entry *e) {
  clt_opt_cl *c = e->cl;
  if (!c) return;
  if (c->pending) {
    clWaitForEvents(1, &c->pending);
    clReleaseEvent(c->pending);
  } else if (c->dropped) {
    clFinish(clt_cl_of(e->param->ctx)->queue);
  }
  cl_mem mems[] = {c->aux, c->units, c->segtab, c->part};
  for (size_t k = 0; k < sizeof mems / sizeof mems[0]; k++)
    if (mems[k]) clt_cl_release_mem(mems[k]);
  free(c);
  e->cl = NULL;
}

static clt_status upload(clt_context *ctx, const void *data, size_t bytes,
                         cl_mem *out) {
  CLT_TRY(clt_cl_alloc(ctx, bytes, out));
  return clt_cl_write(ctx, *out, 0, bytes, data);
}

/* The unit words and the tensor table of e (see host/optim_impl.h). */
static clt_status build_tables(clt_optimizer *opt, clt_opt_entry *e,
                               clt_opt_cl *c) {
  size_t nunits = (e->n + CLT_OPT_UNIT - 1) / CLT_OPT_UNIT;
  uint32_t *units = malloc(nunits * sizeof *units);
  uint32_t *segtab = malloc((2 * e->nseg + 1) * sizeof *segtab);
  float *aux = malloc((4 + e->nseg) * sizeof *aux);
  clt_status st = CLT_OK;
  if (!units || !segtab || !aux)
    st = clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                  "optimizer: out of host memory");
  for (size_t s = 0; st == CLT_OK && s < e->nseg; s++) {
    const clt_opt_seg *g = &e->segs[s];
    size_t len = g->rows * g->cols, u0 = g->offset / CLT_OPT_UNIT;
    size_t u1 = (g->offset + len + CLT_OPT_UNIT - 1) / CLT_OPT_UNIT;
    for (size_t u = u0; u < u1; u++) {
      size_t used = g->offset + len - u * CLT_OPT_UNIT;
      if (used > CLT_OPT_UNIT) used = CLT_OPT_UNIT;
      units[u] = (uint32_t)s << CLT_OPT_SEG_SHIFT |
                 (uint32_t)used << CLT_OPT_USED_SHIFT | g->flags;
    }
    segtab[s] = (uint32_t)u0;
    segtab[e->nseg + 1 + s] = g->flags;
    aux[4 + s] = 1.0f;
  }
  if (st == CLT_OK) {
    segtab[e->nseg] = (uint32_t)nunits;
    aux[0] = 0.0f;
    aux[1] = c->header_scale = 1.0f;
    aux[2] = NAN;
    aux[3] = 0.0f;
    st = upload(opt->ctx, units, nunits * sizeof *units, &c->units);
  }
  if (st == CLT_OK)
    st = upload(opt->ctx, segtab, (2 * e->nseg + 1) * sizeof *segtab,
                &c->segtab);
  if (st == CLT_OK)
    st = upload(opt->ctx, aux, (4 + e->nseg) * sizeof *aux, &c->aux);
  c->nunits = nunits;
  free(units);
  free(segtab);
  free(aux);
  return st;
}

clt_status clt_cl_optim_entry_init(clt_optimizer *opt, clt_opt_entry *e) {
  clt_context *ctx = opt->ctx;
  clt_cl_context *cl = clt_cl_of(ctx);
  clt_opt_cl *c = calloc(1, sizeof *c);
  if (!c)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "optimizer: out of host memory");
  e->cl = c;
  /* Work-groups as wide as a unit where the device allows, and a power of
     two (the reductions halve it). */
  c->wg = CLT_OPT_UNIT;
  while (c->wg > cl->max_wg) c->wg /= 2;
  c->gpu = CLT_OPT_UNIT / c->wg;
  cl_device_fp_config fp64 = 0;
  CLT_CL_TRY(ctx, clGetDeviceInfo(cl->device, CL_DEVICE_DOUBLE_FP_CONFIG,
                                  sizeof fp64, &fp64, NULL));
  c->acc_bytes = fp64 ? 8 : 4;
  CLT_TRY(build_tables(opt, e, c));
  const clt_optim_desc *d = &opt->desc;
  if (clt_opt_needs_stats(d) || d->kind == CLT_OPTIM_LAMB) {
    size_t bytes;
    if (!clt_mul_size(c->nunits, 3 * c->acc_bytes, &bytes))
      return clt_fail(ctx, CLT_ERR_SHAPE, "optimizer: %zu elements overflow",
                      e->n);
    CLT_TRY(clt_cl_alloc(ctx, bytes, &c->part));
  }
  return CLT_OK;
}

static cl_mem mem_of(const clt_tensor *t) { return t ? t->st->mem : NULL; }

/* The gradient norm, clip coefficient and skip flag into aux. */
static clt_status launch_stats(clt_context *ctx, const clt_opt_entry *e,
                               const clt_opt_scalars *sc) {
  const clt_opt_cl *c = e->cl;
  cl_ulong nunits = c->nunits;
  cl_int guard = sc->guard;
  float max_norm = (float)sc->max_norm, sgn = (float)sc->sgn;
  return CLT_LAUNCH(ctx, CLT_K_optim_stats, 1, &c->wg, &c->wg,
                    CLT_ARG(c->part), CLT_ARG(nunits), CLT_ARG(c->aux),
                    CLT_ARG(max_norm), CLT_ARG(guard), CLT_ARG(sgn),
                    CLT_LOCAL(c->wg * c->acc_bytes));
}

/* Every tensor's LARS or LAMB trust ratio into aux. */
static clt_status launch_ratios(clt_context *ctx, const clt_opt_entry *e,
                                const clt_opt_scalars *sc, cl_int lars) {
  const clt_opt_cl *c = e->cl;
  cl_uint nseg = (cl_uint)e->nseg;
  cl_ulong nunits = c->nunits;
  float eta = (float)sc->eta, wd = (float)sc->wd;
  size_t global = e->nseg * c->wg;
  return CLT_LAUNCH(ctx, CLT_K_optim_ratios, 1, &global, &c->wg,
                    CLT_ARG(c->part), CLT_ARG(nunits), CLT_ARG(c->segtab),
                    CLT_ARG(nseg), CLT_ARG(c->aux), CLT_ARG(lars),
                    CLT_ARG(eta), CLT_ARG(wd),
                    CLT_LOCAL(c->wg * c->acc_bytes));
}

/* A per-unit kernel over the units of c: a work-item per unit, in groups
   of at most UNIT_WG, or with grouped a work-group per unit (units and
   the elementwise kernels' chunks are the same size). */
#define UNIT_WG 64
static clt_status run_units(clt_context *ctx, const clt_opt_cl *c, clt_kid id, bool grouped,
                            size_t nargs, const clt_karg *args) {
  if (grouped) return clt_cl_launch_chunks(ctx, id, c->nunits, nargs, args);
  size_t local = c->wg < UNIT_WG ? c->wg : UNIT_WG;
  return clt_cl_launch(ctx, id, 1, NULL, &c->nunits, &local, nargs, args);
}
#define RUN_UNITS(id, grouped, ...)                                           \
  CLT_TRY(run_units(ctx, c, (id), (grouped),                                  \
                    sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg),     \
                    (clt_karg[]){__VA_ARGS__}))

/* One pass of kernel k over e's n elements: one launch, or two when n is
   not a multiple of the work-group (a single tensor's tail). Every pass
   kernel comes as a main variant, run over whole work-groups, and a
   bound-checked "_tail" variant for a last partial one, its next id
   (host/cl/cl_kernels.h; kernels/optim.cl says why). */
static clt_status run_pass(clt_context *ctx, const clt_opt_entry *e, clt_kid k,
                           size_t nargs, const clt_karg *args) {
  const clt_opt_cl *c = e->cl;
  size_t full = e->n / c->wg * c->wg;
  if (full > 0)
    CLT_TRY(clt_cl_launch(ctx, k, 1, NULL, &full, &c->wg, nargs, args));
  if (full < e->n)
    CLT_TRY(clt_cl_launch(ctx, (clt_kid)(k + 1), 1, &full, &c->wg, &c->wg,
                          nargs, args));
  return CLT_OK;
}

#define RUN(k, ...)                                                           \
  CLT_TRY(run_pass(ctx, e, k,                                                 \
                   sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg),      \
                   (clt_karg[]){__VA_ARGS__}))

clt_status clt_cl_optim_step(clt_optimizer *opt, clt_opt_entry *e,
                             const clt_tensor *grad,
                             const clt_opt_scalars *sc, clt_optim_outcome *out) {
  clt_context *ctx = opt->ctx;
  const clt_optim_desc *d = &opt->desc;
  clt_opt_cl *c = e->cl;
  *out = (clt_optim_outcome){.pending = false, .skipped = false, .norm = NAN};
  cl_mem pm = e->param->st->mem, gm = grad->st->mem;
  cl_mem s0 = mem_of(e->state[0]), s1 = mem_of(e->state[1]),
         s2 = mem_of(e->state[2]);
  cl_ulong p_off = e->param->offset, g_off = grad->offset, nunits = c->nunits;
  cl_uint gpu = (cl_uint)c->gpu;
  float sgn = (float)sc->sgn, wd = (float)sc->wd, decay = (float)sc->decay;
  float lr = (float)sc->lr, eps = (float)sc->eps;
  float b1 = (float)sc->beta1, b2 = (float)sc->beta2;
  float omb1 = (float)(1.0 - sc->beta1), omb2 = (float)(1.0 - sc->beta2);
  float inv_bc1 = (float)(1.0 / sc->bc1), inv_bc2 = (float)(1.0 / sc->bc2);
  const bool stats = clt_opt_needs_stats(d);
  if (!stats && (c->dirty || c->header_scale != sgn)) {
    /* No statistics pass writes aux[0..3]: the defaults (after a load that
       changed clipping, the guard or maximize). */
    const float header[4] = {0.0f, sgn, NAN, 0.0f};
    CLT_TRY(clt_cl_write(ctx, c->aux, 0, sizeof header, header));
    c->dirty = false;
    c->header_scale = sgn;
  }
  if (stats) {
    c->dirty = true;
    const bool lars = d->kind == CLT_OPTIM_LARS;
    /* A work-group per unit on GPU profiles (kernels/optim.cl). */
    const bool grouped = clt_cl_of(ctx)->profile.elem_gpu;
    if (lars)
      RUN_UNITS(CLT_K_optim_gradstat_param, grouped, CLT_ARG(pm), CLT_ARG(p_off),
                CLT_ARG(gm), CLT_ARG(g_off), CLT_ARG(c->units), CLT_ARG(nunits),
                CLT_ARG(c->part));
    else
      RUN_UNITS(CLT_K_optim_gradstat, grouped, CLT_ARG(gm), CLT_ARG(g_off),
                CLT_ARG(c->units), CLT_ARG(nunits), CLT_ARG(c->part));
    CLT_TRY(launch_stats(ctx, e, sc));
    if (lars) CLT_TRY(launch_ratios(ctx, e, sc, 1));
  }
#define HEAD                                                                  \
  CLT_ARG(pm), CLT_ARG(p_off), CLT_ARG(gm), CLT_ARG(g_off), CLT_ARG(c->aux),  \
      CLT_ARG(c->units), CLT_ARG(gpu), CLT_ARG(wd), CLT_ARG(decay)
  switch (d->kind) {
  case CLT_OPTIM_SGD:
  case CLT_OPTIM_LARS: {
    /* SGD's first step clones d into the buffer: b = 0 b + 1 d. */
    float mb = sc->first ? 0.0f : (float)sc->momentum;
    float damp1 = sc->first ? 1.0f : (float)sc->damp1;
    float mn = (float)sc->momentum;
    RUN(sc->momentum == 0 ? CLT_K_optim_sgd
        : sc->nesterov    ? CLT_K_optim_sgd_nesterov
                          : CLT_K_optim_sgd_momentum,
        HEAD, CLT_ARG(s0), CLT_ARG(lr), CLT_ARG(mb), CLT_ARG(damp1),
        CLT_ARG(mn));
    break;
  }
  case CLT_OPTIM_ADAGRAD: {
    float clr = (float)sc->clr;
    RUN(CLT_K_optim_adagrad, HEAD, CLT_ARG(s0), CLT_ARG(clr), CLT_ARG(eps));
    break;
  }
  case CLT_OPTIM_RMSPROP: {
    float alpha = (float)sc->alpha, oma = (float)(1.0 - sc->alpha);
    float momentum = (float)sc->momentum;
    clt_kid k = d->centered ? (sc->momentum > 0 ? CLT_K_optim_rmsprop_centered_momentum
                                            : CLT_K_optim_rmsprop_centered)
                        : (sc->momentum > 0 ? CLT_K_optim_rmsprop_momentum : CLT_K_optim_rmsprop);
    RUN(k, HEAD, CLT_ARG(s0), CLT_ARG(s1), CLT_ARG(s2), CLT_ARG(lr),
        CLT_ARG(alpha), CLT_ARG(oma), CLT_ARG(eps), CLT_ARG(momentum));
    break;
  }
  case CLT_OPTIM_ADADELTA: {
    float rho = (float)sc->rho, omr = (float)(1.0 - sc->rho);
    RUN(CLT_K_optim_adadelta, HEAD, CLT_ARG(s0), CLT_ARG(s1), CLT_ARG(lr), CLT_ARG(rho),
        CLT_ARG(omr), CLT_ARG(eps));
    break;
  }
  case CLT_OPTIM_ADAM:
  case CLT_OPTIM_ADAMW: {
    float step_size = (float)sc->step_size;
    float inv_bc2_sqrt = (float)(1.0 / sc->bc2_sqrt);
    RUN(d->amsgrad ? CLT_K_optim_adam_amsgrad : CLT_K_optim_adam, HEAD, CLT_ARG(s0), CLT_ARG(s1),
        CLT_ARG(s2), CLT_ARG(b1), CLT_ARG(omb1), CLT_ARG(b2), CLT_ARG(omb2),
        CLT_ARG(step_size), CLT_ARG(inv_bc2_sqrt), CLT_ARG(eps));
    break;
  }
  case CLT_OPTIM_ADAMAX: {
    float clr = (float)sc->clr;
    RUN(CLT_K_optim_adamax, HEAD, CLT_ARG(s0), CLT_ARG(s1), CLT_ARG(b1), CLT_ARG(omb1),
        CLT_ARG(b2), CLT_ARG(clr), CLT_ARG(eps));
    break;
  }
  case CLT_OPTIM_NADAM: {
    float c_grad = (float)sc->c_grad, c_avg = (float)sc->c_avg;
    RUN(CLT_K_optim_nadam, HEAD, CLT_ARG(s0), CLT_ARG(s1), CLT_ARG(b1), CLT_ARG(omb1),
        CLT_ARG(b2), CLT_ARG(omb2), CLT_ARG(inv_bc2), CLT_ARG(c_grad),
        CLT_ARG(c_avg), CLT_ARG(eps));
    break;
  }
  case CLT_OPTIM_RADAM: {
    float cr = (float)(sc->rect_on
                           ? sc->lr * sc->rect * sc->bc2_sqrt / sc->bc1
                           : sc->lr / sc->bc1);
    RUN(sc->rect_on ? CLT_K_optim_radam : CLT_K_optim_radam_unrectified, HEAD, CLT_ARG(s0),
        CLT_ARG(s1), CLT_ARG(b1), CLT_ARG(omb1), CLT_ARG(b2), CLT_ARG(omb2),
        CLT_ARG(cr), CLT_ARG(eps));
    break;
  }
  case CLT_OPTIM_LAMB: {
    float lamb_wd = (float)sc->lamb_wd;
    RUN_UNITS(CLT_K_optim_lamb_moments, clt_cl_of(ctx)->profile.elem_gpu, CLT_ARG(pm),
              CLT_ARG(p_off), CLT_ARG(gm), CLT_ARG(g_off), CLT_ARG(c->aux), CLT_ARG(c->units),
              CLT_ARG(nunits), CLT_ARG(s0), CLT_ARG(s1), CLT_ARG(b1),
              CLT_ARG(omb1), CLT_ARG(b2), CLT_ARG(omb2), CLT_ARG(inv_bc1),
              CLT_ARG(inv_bc2), CLT_ARG(eps), CLT_ARG(lamb_wd),
              CLT_ARG(c->part));
    CLT_TRY(launch_ratios(ctx, e, sc, 0));
    RUN(CLT_K_optim_lamb_apply, HEAD, CLT_ARG(s0), CLT_ARG(s1), CLT_ARG(lr),
        CLT_ARG(inv_bc1), CLT_ARG(inv_bc2), CLT_ARG(eps), CLT_ARG(lamb_wd));
    break;
  }
  }
#undef HEAD
  if (!stats) return CLT_OK;
  if (c->pending) { /* an uncollected norm of an unguarded step */
    clReleaseEvent(c->pending);
    c->pending = NULL;
    c->dropped = true;
  }
  CLT_TRY(clt_cl_read(ctx, c->aux, 0, sizeof c->back, c->back, &c->pending));
  out->pending = true;
  return CLT_OK;
}
#undef RUN

clt_status clt_cl_optim_settle(clt_optimizer *opt, clt_opt_entry *e,
                               bool wait, bool *had, bool *skipped,
                               double *norm) {
  clt_opt_cl *c = e->cl;
  *had = false;
  if (!c || !c->pending) return CLT_OK;
  if (!wait) {
    cl_int status;
    CLT_CL_TRY(opt->ctx,
               clGetEventInfo(c->pending, CL_EVENT_COMMAND_EXECUTION_STATUS,
                              sizeof status, &status, NULL));
    if (status != CL_COMPLETE) return CLT_OK;
  }
  clt_status st = clt_cl_wait(opt->ctx, c->pending);
  clReleaseEvent(c->pending);
  c->pending = NULL;
  c->dropped = false;
  CLT_TRY(st);
  *had = true;
  *skipped = c->back[0] != 0.0f;
  *norm = c->back[2];
  return CLT_OK;
}
