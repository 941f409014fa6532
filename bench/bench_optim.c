/* Optimizer steps on the cltrain device: achieved GB/s of every kind at 1M,
   16M and 64M parameters, from the bytes its update must move per step
   (float32 reads of p, g and each state buffer, writes of p and each state
   buffer: SGD 12, momentum and LARS 20, Adam 28 ...), against an in-place
   axpy (p += s g, 12 bytes per element, one work-item per element) on the
   same buffers, timed right before each block of optimizer steps (the
   machines are shared: a ratio of neighbours in time is the stable
   figure), and against a kernel with the optimizer's own streams and no
   arithmetic ("streams": x += 0 g for p and each of the optimizer's state
   buffers, timed right after the axpy): what this memory system gives
   that mix of reads and writes, which may be less than it gives the
   axpy's two. Also each kind's time over Adam's, each measured against
   the streams floor on its own buffers (B/param over the fraction of
   streams: two Adam optimizers on the same p and g, timed alternately,
   differed by up to 30 % at 16M here, the one consistently slower), and
   for LARS, LAMB and Adam with clipping plus the non-finite guard the
   bytes their steps do move: the norms need a pass over memory before
   the update (LARS: a read of p and g, 28 B/param in all; LAMB: moments
   and norms, then p -= lr r u, 40; clipping and the guard: a read of g,
   Adam's 28 + 4), against a third floor with the reads and writes of
   each of those passes ("passes").

   Each kind is validated first: three steps at 4097 parameters against the
   double-precision reference backend. Timed repetitions run `iters` steps
   each (enough for ~40 ms) and end with clFinish; the warm-up (kernel
   compilation, first-touch of the state) is not timed; medians of the
   repetitions. Record names follow bench/benchutil.h: op = optimizer,
   impl "cltrain", floor "axpy" (the PyTorch peers come from peers.py). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "cl/cl_internal.h"

#define WARMUP 8

/* The floor kernels of floor_source, in FLOOR_KERNELS' order. */
enum {
  F_STREAMS0, F_STREAMS1, F_STREAMS2, F_STREAMS3, F_READ_G, F_READ_PG,
  F_LAMB_MOMENTS, F_LAMB_APPLY, NFLOOR
};

typedef struct kind_cfg {
  const char *op;
  clt_optim_kind kind;
  float momentum; /* SGD's */
  int clip_guard;
  /* Steps of two passes: the floor kernels with the same reads and
     writes; {0, 0} for one pass (its floor is "streams"). */
  int passes[2];
} kind_cfg;

static const kind_cfg KINDS[] = {
    {"sgd", CLT_OPTIM_SGD, 0, 0, {0, 0}},
    {"momentum", CLT_OPTIM_SGD, 0.9f, 0, {0, 0}},
    {"adagrad", CLT_OPTIM_ADAGRAD, 0, 0, {0, 0}},
    {"rmsprop", CLT_OPTIM_RMSPROP, 0, 0, {0, 0}},
    {"adadelta", CLT_OPTIM_ADADELTA, 0, 0, {0, 0}},
    {"adam", CLT_OPTIM_ADAM, 0, 0, {0, 0}},
    {"adamw", CLT_OPTIM_ADAMW, 0, 0, {0, 0}},
    {"adamax", CLT_OPTIM_ADAMAX, 0, 0, {0, 0}},
    {"nadam", CLT_OPTIM_NADAM, 0, 0, {0, 0}},
    {"radam", CLT_OPTIM_RADAM, 0, 0, {0, 0}},
    {"lars", CLT_OPTIM_LARS, 0, 0, {F_READ_PG, F_STREAMS1}},
    {"lamb", CLT_OPTIM_LAMB, 0, 0, {F_LAMB_MOMENTS, F_LAMB_APPLY}},
    {"adam_clip_guard", CLT_OPTIM_ADAM, 0, 1, {F_READ_G, F_STREAMS2}},
};
enum { NKINDS = sizeof KINDS / sizeof KINDS[0] };

static clt_optim_desc desc_of(const kind_cfg *k) {
  clt_optim_desc d = clt_optim_defaults(k->kind);
  if (k->kind == CLT_OPTIM_SGD) d.momentum = k->momentum;
  if (k->clip_guard) {
    d.max_grad_norm = 1e9f; /* computed every step, never binding */
    d.skip_nonfinite = 1;
  }
  return d;
}

/* Bytes the update must move per parameter. */
static int bytes_per_param(const clt_optim_desc *d) {
  int states = 0;
  for (int k = 0; k < CLT_OPT_MAX_STATES; k++)
    states += clt_opt_state_name(d, k) != NULL;
  return 4 * (3 + 2 * states);
}

/* Bytes a step moves per parameter (kernels/optim.cl): the update's, the
   gradient-statistics pass (g, and p for LARS) and LAMB's second pass
   (p, m and v read, p written, where the update counts g and the moments
   once). */
static int bytes_moved(const clt_optim_desc *d) {
  int b = bytes_per_param(d);
  if (clt_opt_needs_stats(d)) b += d->kind == CLT_OPTIM_LARS ? 8 : 4;
  if (d->kind == CLT_OPTIM_LAMB) b += 12;
  return b;
}

static void fill(float *v, size_t n, uint64_t seed, float scale) {
  for (size_t i = 0; i < n; i++) {
    uint64_t z = (i + seed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    v[i] = scale * ((float)((z >> 40) * 0x1p-24) * 2.0f - 1.0f);
  }
}

/* The kernels and transfers of ctx's recorded steps, per step, into a note
   "<kind>_launches" of r ("clt_optim_adam x1, ..."): the launches each
   kind makes, from the library's timings. */
static int note_launches(bu_report *r, clt_context *ctx, const kind_cfg *k,
                         int steps) {
  clt_timing v[16];
  size_t n = 0;
  if (clt_context_timings(ctx, v, 16, &n) != CLT_OK) {
    fprintf(stderr, "bench_optim: timings: %s\n", clt_last_error(ctx));
    return 1;
  }
  char list[512] = "", key[64];
  size_t used = 0;
  for (size_t i = 0; i < n && i < 16 && used < sizeof list; i++)
    if (v[i].kind != CLT_TIMING_WAIT)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s x%.3g",
                               used ? ", " : "", v[i].name,
                               (double)v[i].count / steps);
  snprintf(key, sizeof key, "%s_launches", k->op);
  bu_note(r, key, "%s", list);
  return 0;
}

/* Three steps at 4097 parameters on the device and on the reference; the
   device's launches per step (of the last two) noted in r. */
static int validate(bu_report *r, const char *device, const kind_cfg *k) {
  enum { N = 4097 };
  static float p0[N], g[N], got[N], want[N];
  fill(p0, N, 1, 1.0f);
  fill(g, N, 2, 0.5f);
  clt_optim_desc d = desc_of(k);
  const char *specs[2] = {device, "ref"};
  float *out[2] = {got, want};
  for (int b = 0; b < 2; b++) {
    clt_context_options o = {.device = specs[b], .record_timings = b == 0};
    clt_context *ctx = NULL;
    clt_optimizer *opt = NULL;
    clt_tensor *p = NULL, *gt = NULL;
    clt_status st = clt_context_create(&o, &ctx);
    if (st == CLT_OK) st = clt_optimizer_create(ctx, &d, &opt);
    if (st == CLT_OK) st = clt_tensor_create(ctx, 1, N, CLT_FLOAT32, &p);
    if (st == CLT_OK) st = clt_tensor_create(ctx, 1, N, CLT_FLOAT32, &gt);
    if (st == CLT_OK) st = clt_tensor_write(p, p0, sizeof p0);
    if (st == CLT_OK) st = clt_tensor_write(gt, g, sizeof g);
    for (int t = 0; t < 3 && st == CLT_OK; t++) {
      st = clt_optimizer_step(opt, p, gt);
      /* The launches of steps 2 and 3: the first also sets up the state. */
      if (st == CLT_OK && b == 0 && t == 0) st = clt_context_timings_reset(ctx);
    }
    if (st == CLT_OK && b == 0 && note_launches(r, ctx, k, 2)) st = CLT_ERR_OPENCL;
    if (st == CLT_OK) st = clt_tensor_read(p, out[b], sizeof got);
    if (st != CLT_OK)
      fprintf(stderr, "bench_optim: %s on %s: %s\n", k->op, specs[b],
              ctx ? clt_last_error(ctx) : clt_last_error(NULL));
    clt_optimizer_destroy(opt);
    clt_tensor_destroy(p);
    clt_tensor_destroy(gt);
    clt_context_destroy(ctx);
    if (st != CLT_OK) return 1;
  }
  for (size_t i = 0; i < N; i++)
    if (!(fabs(got[i] - want[i]) <= 1e-5 * (1 + fabs(want[i])))) {
      fprintf(stderr, "bench_optim: %s wrong at %zu: %.9g, reference %.9g\n",
              k->op, i, got[i], want[i]);
      return 1;
    }
  return 0;
}

/* ------------------------------------------------------- in-place axpy */

/* One work-item per element, as the optimizers (bench_floors has the
   float4 variant; on POCL the two are within noise of each other). Every
   kernel takes p, g, three state buffers a, b, c (g where a kind has
   fewer), s = 0 and never = -1e30: buffers are written back unchanged,
   and a read-only pass stores only where a value equals never, which none
   does. bench_streams<k>: p and k state buffers read and written, g read,
   as an optimizer with k state buffers (bench_streams0 is the axpy). The
   passes of the two-pass kinds: the statistics pass (bench_read_g, g for
   clipping and the guard; bench_read_pg, p and g for LARS's norms) and
   LAMB's moments pass (p, g, m, v read; m, v written) and update (p, m, v
   read; p written). */
static const char *floor_source =
    "#define KERNEL(name, body) kernel void name(global float *restrict p,"
    " global const float *restrict g, global float *restrict a,"
    " global float *restrict b, global float *restrict c, float s,"
    " float never) { size_t i = get_global_id(0); body }\n"
    "KERNEL(bench_streams0, p[i] += s * g[i];)\n"
    "KERNEL(bench_streams1, float d = s * g[i]; a[i] += d; p[i] += d;)\n"
    "KERNEL(bench_streams2, float d = s * g[i]; a[i] += d; b[i] += d;"
    " p[i] += d;)\n"
    "KERNEL(bench_streams3, float d = s * g[i]; a[i] += d; b[i] += d;"
    " c[i] += d; p[i] += d;)\n"
    "KERNEL(bench_read_g, float16 x = vload16(i, g);"
    " if (any(x == never)) p[i] = 0.0f;)\n"
    "KERNEL(bench_read_pg, float16 x = vload16(i, p) + vload16(i, g);"
    " if (any(x == never)) p[i] = 0.0f;)\n"
    "KERNEL(bench_lamb_moments, float d = s * (g[i] + p[i]); a[i] += d;"
    " b[i] += d;)\n"
    "KERNEL(bench_lamb_apply, p[i] += s * (a[i] + b[i]);)\n";
static const char *const FLOOR_KERNELS[NFLOOR] = {
    "bench_streams0", "bench_streams1",     "bench_streams2",
    "bench_streams3", "bench_read_g",       "bench_read_pg",
    "bench_lamb_moments", "bench_lamb_apply"};
/* Elements per work-item: the read-only passes take 16 (one element each
   made POCL emit a branch per element for the store that never happens,
   slower than the optimizers' own statistics passes). */
static const size_t FLOOR_WIDTH[NFLOOR] = {1, 1, 1, 1, 16, 16, 1, 1};

typedef struct job {
  clt_context *ctx;
  clt_optimizer *opt;
  clt_tensor *p, *g;
  cl_kernel kernel[2]; /* run_floor's, one or two per step, */
  size_t items[2];      /* over this many work-items */
  int nkernels;
  size_t global;
  int iters;
} job;

static int fail_cl(const char *what, cl_int err) {
  fprintf(stderr, "bench_optim: %s: %s (%d)\n", what, clt_cl_error_name(err),
          (int)err);
  return 1;
}

static int run_floor(void *arg) {
  job *j = arg;
  for (int i = 0; i < j->iters; i++)
    for (int k = 0; k < j->nkernels; k++) {
      cl_int err = clEnqueueNDRangeKernel(clt_cl_of(j->ctx)->queue, j->kernel[k], 1,
                                          NULL, &j->items[k], NULL, 0, NULL,
                                          NULL);
      if (err) return fail_cl("floor kernel", err);
    }
  cl_int err = clFinish(clt_cl_of(j->ctx)->queue);
  return err ? fail_cl("clFinish", err) : 0;
}

static int run_steps(void *arg) {
  job *j = arg;
  clt_status st = CLT_OK;
  for (int i = 0; i < j->iters && st == CLT_OK; i++)
    st = clt_optimizer_step(j->opt, j->p, j->g);
  if (st == CLT_OK) st = clt_context_finish(j->ctx);
  if (st != CLT_OK) {
    fprintf(stderr, "bench_optim: %s\n", clt_last_error(j->ctx));
    return 1;
  }
  return 0;
}

static double median_of(double *t, int n) { return bu_summarize(t, n).median; }

/* Per-step seconds of fn over `reps` repetitions of j->iters steps. */
static int time_block(bu_fn fn, job *j, double *t) {
  double t0 = bu_now();
  if (fn(j)) return 1;
  *t = (bu_now() - t0) / j->iters;
  return 0;
}

/* Steps per timed block: enough for ~40 ms. The warm-up runs WARMUP
   single steps first: every kernel a kind uses is compiled by then (RAdam
   switches to its rectified kernel at step 6). */
static int pick_iters(bu_fn fn, job *j) {
  j->iters = 1;
  double t = 0;
  for (int w = 0; w < WARMUP; w++)
    if (time_block(fn, j, &t)) return -1;
  return t > 0.04 ? 1 : (int)(0.04 / fmax(t, 1e-5)) + 1;
}

/* Sets floor kernel k's buffers: p, g, then the state buffers (g for the
   ones a kind lacks: never read). */
static int floor_args(cl_kernel k, const job *j, clt_tensor *const *state,
                      int states) {
  cl_mem m[2 + CLT_OPT_MAX_STATES] = {j->p->st->mem, j->g->st->mem};
  for (int b = 0; b < CLT_OPT_MAX_STATES; b++)
    m[2 + b] = b < states ? state[b]->st->mem : j->g->st->mem;
  cl_int err = 0;
  for (int a = 0; a < 2 + CLT_OPT_MAX_STATES && !err; a++)
    err = clSetKernelArg(k, (cl_uint)a, sizeof m[a], &m[a]);
  return err ? fail_cl("floor kernel", err) : 0;
}

/* The floor kernels, k[i] = FLOOR_KERNELS[i], s and never set; the
   axpy's buffers too. */
static int floor_kernels(clt_context *ctx, cl_program *prog, const job *j,
                         cl_kernel *k) {
  if (clt_cl_build(ctx, floor_source, prog) != CLT_OK) {
    fprintf(stderr, "bench_optim: %s\n", clt_last_error(ctx));
    return 1;
  }
  /* s = 0: every buffer is read and written back unchanged (the state
     stays the optimizer's; a drifting v could go negative) */
  const float s = 0.0f, never = -1e30f;
  const cl_uint at = 2 + CLT_OPT_MAX_STATES;
  for (int i = 0; i < NFLOOR; i++) {
    cl_int err;
    k[i] = clCreateKernel(*prog, FLOOR_KERNELS[i], &err);
    if (!err) err = clSetKernelArg(k[i], at, sizeof s, &s);
    if (!err) err = clSetKernelArg(k[i], at + 1, sizeof never, &never);
    if (err) return fail_cl(FLOOR_KERNELS[i], err);
  }
  return floor_args(k[0], j, NULL, 0);
}

/* Points j's floor at kernels fk[idx[0..n)]. */
static void use_floor(job *j, cl_kernel *fk, const int *idx, int n) {
  j->nkernels = n;
  for (int i = 0; i < n; i++) {
    j->kernel[i] = fk[idx[i]];
    j->items[i] = j->global / FLOOR_WIDTH[idx[i]];
  }
}

/* use_floor, with the optimizer's buffers; then picks the floor's steps
   per block (pick_iters's), or -1. */
static int floor_job(job *j, cl_kernel *fk, const int *idx, int n,
                     clt_tensor *const *state, int states) {
  use_floor(j, fk, idx, n);
  for (int i = 0; i < n; i++)
    if (floor_args(j->kernel[i], j, state, states)) return -1;
  return pick_iters(run_floor, j);
}

/* The optimizer's state buffers for its one tensor, into state; their
   number. */
static int states_of(const clt_optimizer *opt, clt_tensor **state) {
  int count = 0;
  for (int b = 0; b < CLT_OPT_MAX_STATES; b++)
    if (opt->entries[0]->state[b]) state[count++] = opt->entries[0]->state[b];
  return count;
}

/* Per repetition: seconds per step of the optimizer and of its floors,
   and their ratios. */
enum { T_OPT, T_AXPY, T_STREAMS, T_PASSES, R_AXPY, R_STREAMS, R_PASSES,
       R_PASSES_STREAMS, NSERIES };

static int bench_size(bu_report *r, const bu_opts *o, clt_context *ctx,
                      size_t n) {
  int rc = 0, reps = o->reps;
  double *series = malloc((size_t)NSERIES * reps * sizeof *series), *t[NSERIES];
  float *host = malloc(n * sizeof *host);
  job j = {.ctx = ctx, .global = n};
  cl_program prog = NULL;
  cl_kernel fk[NFLOOR] = {NULL};
  if (!series || !host) {
    fprintf(stderr, "bench_optim: out of memory\n");
    rc = 1;
    goto done;
  }
  for (int i = 0; i < NSERIES; i++) t[i] = series + (size_t)i * reps;
  clt_status st = clt_tensor_create(ctx, 1, n, CLT_FLOAT32, &j.p);
  if (st == CLT_OK) st = clt_tensor_create(ctx, 1, n, CLT_FLOAT32, &j.g);
  fill(host, n, 3, 1.0f);
  if (st == CLT_OK) st = clt_tensor_write(j.p, host, n * 4);
  fill(host, n, 4, 1e-3f);
  if (st == CLT_OK) st = clt_tensor_write(j.g, host, n * 4);
  if (st != CLT_OK) {
    fprintf(stderr, "bench_optim: %s\n", clt_last_error(ctx));
    rc = 1;
    goto done;
  }

  /* The floors, on the same buffers, timed right before every optimizer
     block: the machine is shared, so each optimizer is compared with the
     floors of its moment. */
  rc = floor_kernels(ctx, &prog, &j, fk);
  const int axpy_idx = F_STREAMS0;
  int axpy_iters = rc ? -1 : floor_job(&j, fk, &axpy_idx, 1, NULL, 0);
  if (axpy_iters < 0) rc = 1;
  if (rc) goto done;

  double gbs[NKINDS] = {0}, secs[NKINDS] = {0}, med[NKINDS][NSERIES] = {{0}},
         floor_gbs = 0;
  int adam = -1;
  for (int k = 0; k < NKINDS && !rc; k++) {
    const kind_cfg *kc = &KINDS[k];
    if (o->quick && strcmp(kc->op, "momentum") != 0 &&
        strcmp(kc->op, "adam") != 0 && strcmp(kc->op, "lars") != 0 &&
        strcmp(kc->op, "lamb") != 0)
      continue;
    clt_optim_desc d = desc_of(kc);
    if (clt_optimizer_create(ctx, &d, &j.opt) != CLT_OK) {
      fprintf(stderr, "bench_optim: %s\n", clt_last_error(ctx));
      rc = 1;
      break;
    }
    int bpp = bytes_per_param(&d);
    int opt_iters = pick_iters(run_steps, &j); /* creates the state */
    clt_tensor *state[CLT_OPT_MAX_STATES];
    int states = opt_iters < 0 ? 0 : states_of(j.opt, state);
    const bool two = kc->passes[0] != F_STREAMS0;
    const int streams = F_STREAMS0 + states;
    int streams_iters =
        opt_iters < 0 ? -1 : floor_job(&j, fk, &streams, 1, state, states);
    int passes_iters = !two || streams_iters < 0
                           ? 0
                           : floor_job(&j, fk, kc->passes, 2, state, states);
    rc = streams_iters < 0 || passes_iters < 0;
    for (int rep = 0; rep < reps && !rc; rep++) {
      use_floor(&j, fk, &axpy_idx, 1);
      j.iters = axpy_iters;
      rc = time_block(run_floor, &j, &t[T_AXPY][rep]);
      use_floor(&j, fk, &streams, 1);
      j.iters = streams_iters;
      if (!rc) rc = time_block(run_floor, &j, &t[T_STREAMS][rep]);
      if (!rc && two) {
        use_floor(&j, fk, kc->passes, 2);
        j.iters = passes_iters;
        rc = time_block(run_floor, &j, &t[T_PASSES][rep]);
      } else {
        t[T_PASSES][rep] = t[T_STREAMS][rep];
      }
      j.iters = opt_iters;
      if (!rc) rc = time_block(run_steps, &j, &t[T_OPT][rep]);
      if (rc) break;
      t[R_AXPY][rep] = (bpp / t[T_OPT][rep]) / (12.0 / t[T_AXPY][rep]);
      t[R_STREAMS][rep] = t[T_STREAMS][rep] / t[T_OPT][rep];
      t[R_PASSES][rep] = t[T_PASSES][rep] / t[T_OPT][rep];
      t[R_PASSES_STREAMS][rep] = t[T_PASSES][rep] / t[T_STREAMS][rep];
    }
    clt_optimizer_destroy(j.opt);
    j.opt = NULL;
    if (rc) break;
    const bu_rec rec = {.suite = "optim", .op = kc->op, .impl = "cltrain",
                        .floor = "axpy", .elems = (long long)n,
                        .bytes = (double)bpp * n};
    bu_rec axpy = rec, streams_rec = rec, passes_rec = rec;
    axpy.op = "axpy_inplace";
    axpy.impl = kc->op;
    axpy.bytes = 12.0 * n;
    streams_rec.op = "streams_inplace";
    streams_rec.impl = kc->op;
    passes_rec.op = "passes_inplace";
    passes_rec.impl = kc->op;
    passes_rec.bytes = (double)bytes_moved(&d) * n;
    rc = bu_add(r, &rec, t[T_OPT], reps);
    if (!rc) rc = bu_add(r, &axpy, t[T_AXPY], reps);
    if (!rc) rc = bu_add(r, &streams_rec, t[T_STREAMS], reps);
    if (!rc && two) rc = bu_add(r, &passes_rec, t[T_PASSES], reps);
    for (int i = 0; i < NSERIES; i++) med[k][i] = median_of(t[i], reps);
    secs[k] = med[k][T_OPT];
    gbs[k] = bpp * (double)n / secs[k] / 1e9;
    if (strcmp(kc->op, "adam") == 0) adam = k;
    floor_gbs = fmax(floor_gbs, 12.0 * n / med[k][T_AXPY] / 1e9);
  }
  if (!rc) {
    printf("\n%zu parameters (in-place axpy up to %.1f GB/s in this run)\n",
           n, floor_gbs);
    printf("  %-16s %6s %7s %9s %11s %10s %10s %11s %6s %7s\n", "optimizer",
           "B/par", "GB/s", "of axpy", "of streams", "of passes",
           "time/Adam", "floor/Adam", "moved", "GB/s");
    for (int k = 0; k < NKINDS; k++) {
      if (secs[k] == 0) continue;
      clt_optim_desc d = desc_of(&KINDS[k]);
      int moved = bytes_moved(&d), bpp = bytes_per_param(&d);
      /* Times taken against the streams floor on their own buffers and
         scaled to Adam's: the time on memory as fast as Adam's buffers
         were; floor: the passes' time the same way. */
      double unit = adam < 0 ? NAN : med[adam][R_STREAMS] / 28.0;
      double over_adam = bpp / med[k][R_STREAMS] * unit;
      double floor_over_adam = bpp * med[k][R_PASSES_STREAMS] * unit;
      printf("  %-16s %6d %7.1f %8.0f%% %10.0f%% %9.0f%% %10.2f %11.2f %6d "
             "%7.1f\n",
             KINDS[k].op, bpp, gbs[k], 100 * med[k][R_AXPY],
             100 * med[k][R_STREAMS], 100 * med[k][R_PASSES], over_adam,
             floor_over_adam, moved, moved * (double)n / secs[k] / 1e9);
      const struct {
        const char *what;
        double v;
      } out[] = {{"of_axpy", med[k][R_AXPY]},
                 {"of_streams", med[k][R_STREAMS]},
                 {"of_passes", med[k][R_PASSES]},
                 {"over_adam", over_adam},
                 {"floor_over_adam", floor_over_adam}};
      for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        char key[80];
        snprintf(key, sizeof key, "%s_%zu_%s", KINDS[k].op, n, out[i].what);
        bu_note(r, key, "%.3f", out[i].v);
      }
    }
    printf("  of axpy, of streams, of passes: medians over repetitions of the "
           "floor's time over the step's, each floor timed just before it "
           "(streams: the update's reads and writes without its arithmetic; "
           "passes: those of each of its passes, for the kinds with two); "
           "time/Adam, floor/Adam: the step's and the passes' time over "
           "Adam's, each measured against the streams floor on its own "
           "buffers; moved: bytes per parameter a step does move\n\n");
  }
done:
  for (int i = 0; i < NFLOOR; i++)
    if (fk[i]) clReleaseKernel(fk[i]);
  if (prog) clReleaseProgram(prog), clt_cl_count(-1);
  clt_tensor_destroy(j.p);
  clt_tensor_destroy(j.g);
  free(series);
  free(host);
  return rc;
}

int main(int argc, char **argv) {
  bu_opts o;
  int rc = bu_parse(argc, argv,
                    "Optimizer steps: GB/s per kind vs an in-place axpy "
                    "(1M, 16M, 64M parameters)",
                    &o);
  if (rc >= 0) return rc;
  rc = 0;
  clt_context_options co = {.device = o.device};
  clt_context *ctx = NULL;
  if (clt_context_create(&co, &ctx) != CLT_OK) {
    fprintf(stderr, "bench_optim: %s\n", clt_last_error(NULL));
    return 1;
  }
  if (clt_context_is_reference(ctx)) {
    fprintf(stderr, "bench_optim: needs an OpenCL device\n");
    clt_context_destroy(ctx);
    return 1;
  }
  bu_report *r = bu_report_create("bench_optim", &o);
  if (!r) {
    clt_context_destroy(ctx);
    return 1;
  }
  bu_note(r, "device", "%s", clt_context_device_name(ctx));
  const char *device = o.device ? o.device : clt_context_device_name(ctx);
  for (int k = 0; k < NKINDS && !rc; k++) rc = validate(r, device, &KINDS[k]);
  const size_t sizes[] = {1u << 20, 1u << 24, 1u << 26};
  for (size_t s = 0; s < 3 && !rc; s++) {
    if (o.quick && sizes[s] != 1u << 24) continue;
    rc = bench_size(r, &o, ctx, sizes[s]);
  }
  clt_context_destroy(ctx);
  int frc = bu_report_finish(r);
  return rc ? rc : frc;
}
