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
   Adam's 28 + 4).

   Each kind is validated first: three steps at 4097 parameters against the
   double-precision reference backend. Timed repetitions run `iters` steps
   each (enough for ~40 ms) and end with clFinish; the warm-up (kernel
   compilation, first-touch of the state) is not timed; medians of the
   repetitions. Record names follow bench/benchutil.h: op = optimizer,
   impl "cltrain", floor "axpy" (the PyTorch peers come from peers.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "optim_impl.h"

#define WARMUP 8

typedef struct kind_cfg {
  const char *op;
  clt_optim_kind kind;
  float momentum; /* SGD's */
  int clip_guard;
} kind_cfg;

static const kind_cfg KINDS[] = {
    {"sgd", CLT_OPTIM_SGD, 0, 0},         {"momentum", CLT_OPTIM_SGD, 0.9f, 0},
    {"adagrad", CLT_OPTIM_ADAGRAD, 0, 0}, {"rmsprop", CLT_OPTIM_RMSPROP, 0, 0},
    {"adadelta", CLT_OPTIM_ADADELTA, 0, 0}, {"adam", CLT_OPTIM_ADAM, 0, 0},
    {"adamw", CLT_OPTIM_ADAMW, 0, 0},     {"adamax", CLT_OPTIM_ADAMAX, 0, 0},
    {"nadam", CLT_OPTIM_NADAM, 0, 0},     {"radam", CLT_OPTIM_RADAM, 0, 0},
    {"lars", CLT_OPTIM_LARS, 0, 0},       {"lamb", CLT_OPTIM_LAMB, 0, 0},
    {"adam_clip_guard", CLT_OPTIM_ADAM, 0, 1},
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

/* Three steps at 4097 parameters on the device and on the reference. */
static int validate(const char *device, const kind_cfg *k) {
  enum { N = 4097 };
  static float p0[N], g[N], got[N], want[N];
  fill(p0, N, 1, 1.0f);
  fill(g, N, 2, 0.5f);
  clt_optim_desc d = desc_of(k);
  const char *specs[2] = {device, "ref"};
  float *out[2] = {got, want};
  for (int b = 0; b < 2; b++) {
    clt_context_options o = {.device = specs[b]};
    clt_context *ctx = NULL;
    clt_optimizer *opt = NULL;
    clt_tensor *p = NULL, *gt = NULL;
    clt_status st = clt_context_create(&o, &ctx);
    if (st == CLT_OK) st = clt_optimizer_create(ctx, &d, &opt);
    if (st == CLT_OK) st = clt_tensor_create(ctx, 1, N, CLT_FLOAT32, &p);
    if (st == CLT_OK) st = clt_tensor_create(ctx, 1, N, CLT_FLOAT32, &gt);
    if (st == CLT_OK) st = clt_tensor_write(p, p0, sizeof p0);
    if (st == CLT_OK) st = clt_tensor_write(gt, g, sizeof g);
    for (int t = 0; t < 3 && st == CLT_OK; t++)
      st = clt_optimizer_step(opt, p, gt);
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
   float4 variant; on POCL the two are within noise of each other).
   bench_streams<k>: p and k state buffers read and written, g read, as
   an optimizer with k state buffers; bench_streams0 is the axpy. */
static const char *floor_source =
    "#define STREAMS(k, params, body) kernel void bench_streams##k("
    "global float *p, global const float *g, params float s) {"
    " size_t i = get_global_id(0); float d = s * g[i]; body p[i] += d; }\n"
    "#define BUF(x) global float *restrict x,\n"
    "STREAMS(0, , )\n"
    "STREAMS(1, BUF(a), a[i] += d;)\n"
    "STREAMS(2, BUF(a) BUF(b), a[i] += d; b[i] += d;)\n"
    "STREAMS(3, BUF(a) BUF(b) BUF(c), a[i] += d; b[i] += d; c[i] += d;)\n";

typedef struct job {
  clt_context *ctx;
  clt_optimizer *opt;
  clt_tensor *p, *g;
  cl_kernel kernel; /* run_floor's */
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
  for (int i = 0; i < j->iters; i++) {
    cl_int err = clEnqueueNDRangeKernel(j->ctx->queue, j->kernel, 1, NULL,
                                        &j->global, NULL, 0, NULL, NULL);
    if (err) return fail_cl("floor kernel", err);
  }
  cl_int err = clFinish(j->ctx->queue);
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

/* Sets floor kernel k's buffers: p, g, then the state buffers. */
static int floor_args(cl_kernel k, const job *j, clt_tensor *const *state,
                      int states) {
  cl_mem m[2 + CLT_OPT_MAX_STATES] = {j->p->st->mem, j->g->st->mem};
  for (int b = 0; b < states; b++) m[2 + b] = state[b]->st->mem;
  cl_int err = 0;
  for (int a = 0; a < 2 + states && !err; a++)
    err = clSetKernelArg(k, (cl_uint)a, sizeof m[a], &m[a]);
  return err ? fail_cl("floor kernel", err) : 0;
}

/* The floor kernels, k[s] = bench_streams<s>, their factor s set; k[0]'s
   buffers too. */
static int floor_kernels(clt_context *ctx, cl_program *prog, const job *j,
                         cl_kernel *k) {
  if (clt_cl_build(ctx, floor_source, prog) != CLT_OK) {
    fprintf(stderr, "bench_optim: %s\n", clt_last_error(ctx));
    return 1;
  }
  /* s = 0: every buffer is read and written back unchanged (the state
     stays the optimizer's; a drifting v could go negative) */
  const float s = 0.0f;
  for (int st = 0; st <= CLT_OPT_MAX_STATES; st++) {
    char name[32];
    snprintf(name, sizeof name, "bench_streams%d", st);
    cl_int err;
    k[st] = clCreateKernel(*prog, name, &err);
    if (!err) err = clSetKernelArg(k[st], (cl_uint)(2 + st), sizeof s, &s);
    if (err) return fail_cl(name, err);
  }
  return floor_args(k[0], j, NULL, 0);
}

/* The optimizer's state buffers for its one tensor, into state; their
   number. */
static int states_of(const clt_optimizer *opt, clt_tensor **state) {
  int count = 0;
  for (int b = 0; b < CLT_OPT_MAX_STATES; b++)
    if (opt->entries[0]->state[b]) state[count++] = opt->entries[0]->state[b];
  return count;
}

static int bench_size(bu_report *r, const bu_opts *o, clt_context *ctx,
                      size_t n) {
  int rc = 0, reps = o->reps;
  double *times = malloc((size_t)reps * sizeof *times);
  double *axpy_t = malloc((size_t)reps * sizeof *axpy_t);
  double *streams_t = malloc((size_t)reps * sizeof *streams_t);
  double *ratio = malloc((size_t)reps * sizeof *ratio);
  double *ratio_s = malloc((size_t)reps * sizeof *ratio_s);
  float *host = malloc(n * sizeof *host);
  job j = {.ctx = ctx, .global = n};
  cl_program prog = NULL;
  cl_kernel fk[CLT_OPT_MAX_STATES + 1] = {NULL};
  if (!times || !axpy_t || !streams_t || !ratio || !ratio_s || !host) {
    fprintf(stderr, "bench_optim: out of memory\n");
    rc = 1;
    goto done;
  }
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
  j.kernel = fk[0];
  int axpy_iters = rc ? -1 : pick_iters(run_floor, &j);
  if (axpy_iters < 0) rc = 1;
  if (rc) goto done;

  double gbs[NKINDS] = {0}, secs[NKINDS] = {0}, frac[NKINDS] = {0},
         frac_s[NKINDS] = {0}, floor_gbs = 0;
  int adam = -1;
  for (int k = 0; k < NKINDS && !rc; k++) {
    if (o->quick && strcmp(KINDS[k].op, "momentum") != 0 &&
        strcmp(KINDS[k].op, "adam") != 0 && strcmp(KINDS[k].op, "lars") != 0 &&
        strcmp(KINDS[k].op, "lamb") != 0)
      continue;
    clt_optim_desc d = desc_of(&KINDS[k]);
    if (clt_optimizer_create(ctx, &d, &j.opt) != CLT_OK) {
      fprintf(stderr, "bench_optim: %s\n", clt_last_error(ctx));
      rc = 1;
      break;
    }
    int bpp = bytes_per_param(&d);
    int opt_iters = pick_iters(run_steps, &j); /* creates the state */
    clt_tensor *state[CLT_OPT_MAX_STATES];
    int states = opt_iters < 0 ? 0 : states_of(j.opt, state);
    rc = opt_iters < 0 || floor_args(fk[states], &j, state, states);
    j.kernel = fk[states];
    int streams_iters = rc ? -1 : pick_iters(run_floor, &j);
    rc = streams_iters < 0;
    for (int rep = 0; rep < reps && !rc; rep++) {
      j.kernel = fk[0];
      j.iters = axpy_iters;
      rc = time_block(run_floor, &j, &axpy_t[rep]);
      j.kernel = fk[states];
      j.iters = streams_iters;
      if (!rc) rc = time_block(run_floor, &j, &streams_t[rep]);
      j.iters = opt_iters;
      if (!rc) rc = time_block(run_steps, &j, &times[rep]);
      if (!rc) {
        ratio[rep] = (bpp / times[rep]) / (12.0 / axpy_t[rep]);
        ratio_s[rep] = streams_t[rep] / times[rep];
      }
    }
    clt_optimizer_destroy(j.opt);
    j.opt = NULL;
    if (rc) break;
    const bu_rec rec = {.suite = "optim", .op = KINDS[k].op, .impl = "cltrain",
                        .floor = "axpy", .elems = (long long)n,
                        .bytes = (double)bpp * n};
    bu_rec axpy = rec, streams = rec;
    axpy.op = "axpy_inplace";
    axpy.impl = KINDS[k].op;
    axpy.bytes = 12.0 * n;
    streams.op = "streams_inplace";
    streams.impl = KINDS[k].op;
    rc = bu_add(r, &rec, times, reps);
    if (!rc) rc = bu_add(r, &axpy, axpy_t, reps);
    if (!rc) rc = bu_add(r, &streams, streams_t, reps);
    secs[k] = median_of(times, reps);
    gbs[k] = bpp * (double)n / secs[k] / 1e9;
    frac[k] = median_of(ratio, reps);
    frac_s[k] = median_of(ratio_s, reps);
    if (strcmp(KINDS[k].op, "adam") == 0) adam = k;
    floor_gbs = fmax(floor_gbs, 12.0 * n / median_of(axpy_t, reps) / 1e9);
  }
  if (!rc) {
    printf("\n%zu parameters (in-place axpy up to %.1f GB/s in this run)\n",
           n, floor_gbs);
    printf("  %-16s %6s %9s %12s %15s %10s %8s %8s\n", "optimizer", "B/par",
           "GB/s", "of axpy(*)", "of streams(*)", "time/Adam", "moved",
           "GB/s");
    for (int k = 0; k < NKINDS; k++) {
      if (secs[k] == 0) continue;
      clt_optim_desc d = desc_of(&KINDS[k]);
      int moved = bytes_moved(&d);
      /* Each time over its own streams floor's, scaled to the floor's
         bytes: the time on memory as fast as Adam's buffers were. */
      double over_adam =
          adam < 0 ? NAN
                   : (bytes_per_param(&d) / frac_s[k]) / (28.0 / frac_s[adam]);
      printf("  %-16s %6d %9.1f %11.0f%% %14.0f%% %10.2f %8d %8.1f\n",
             KINDS[k].op, bytes_per_param(&d), gbs[k], 100 * frac[k],
             100 * frac_s[k], over_adam, moved,
             moved * (double)n / secs[k] / 1e9);
      char key[64];
      snprintf(key, sizeof key, "%s_%zu_of_axpy", KINDS[k].op, n);
      bu_note(r, key, "%.3f", frac[k]);
      snprintf(key, sizeof key, "%s_%zu_of_streams", KINDS[k].op, n);
      bu_note(r, key, "%.3f", frac_s[k]);
      snprintf(key, sizeof key, "%s_%zu_over_adam", KINDS[k].op, n);
      bu_note(r, key, "%.3f", over_adam);
    }
    printf("  (*) median over repetitions of GB/s over the floor's GB/s "
           "timed just before it (streams: the same reads and writes as the "
           "update, without its arithmetic); time/Adam: B/par over of "
           "streams, over Adam's (each time measured against its own "
           "buffers' floor); moved: bytes per parameter a step does "
           "move\n\n");
  }
done:
  for (int s = 0; s <= CLT_OPT_MAX_STATES; s++)
    if (fk[s]) clReleaseKernel(fk[s]);
  if (prog) clReleaseProgram(prog), clt_cl_count(-1);
  clt_tensor_destroy(j.p);
  clt_tensor_destroy(j.g);
  free(times);
  free(axpy_t);
  free(streams_t);
  free(ratio);
  free(ratio_s);
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
  for (int k = 0; k < NKINDS && !rc; k++) rc = validate(device, &KINDS[k]);
  const size_t sizes[] = {1u << 20, 1u << 24, 1u << 26};
  for (size_t s = 0; s < 3 && !rc; s++) {
    if (o.quick && sizes[s] != 1u << 24) continue;
    rc = bench_size(r, &o, ctx, sizes[s]);
  }
  clt_context_destroy(ctx);
  int frc = bu_report_finish(r);
  return rc ? rc : frc;
}
