/* Losses on the cltrain device: achieved GB/s of clt_loss (the loss value
   and dS in one call) for every kind, from the bytes it must move: S read
   and dS written (4 + 4 bytes per element) plus the target read (labels
   4 bytes per row, float targets 4 bytes per element), over the median
   time of one call (its launches and its 24-byte read-back included).

   Shapes: N = 65536 rows at C = 10 and C = 1000 (the figures the loss
   kernels are judged by), and N chosen so that N*C is about 64K, 1M, 16M
   and 64M elements at both C (at C = 1000 the 64M point is N = 65536).
   --quick: cross-entropy with labels and hinge at N = 65536 only.

   Every configuration is validated once against the double-precision
   reference backend ("ref" context) on the same data before it is timed
   (under --quick on its first 4097 rows, a view of the same tensors):
   loss |dev - ref| <= 1e-6 + 2e-5 max(|ref|, mass) (mass: the reduced sum
   of the terms' absolute values, for kl_div whose terms take both signs;
   0 otherwise), dS |dev - ref| <= 1e-6 max|ref| + 1e-4 |ref| (the
   tolerances of tests/test_loss.c). Two untimed calls follow (kernel
   creation, first touch of dS). A timed repetition runs enough
   calls for ~20 ms and reports the time per call. Record names follow
   bench/benchutil.h: suite "loss", op "loss_<kind>", impl "cltrain", floor
   "copy", n and c set.

   The machines are shared and noisy, so each repetition also times a copy
   of S into dS through OpenCL (floor_copy of bench_floors: float4, one
   work-item per vector, 8 bytes per element) right before the loss calls,
   on the same buffers: the notes <op>_n<N>_c<C>_of_copy give the median
   over the repetitions of loss GB/s over that copy's GB/s. At N*C below ~2M
   elements the buffers stay in the L3 cache and that copy runs faster than
   the DRAM copy floor of bench_floors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "cl/cl_internal.h"

#define WARMUP 2
#define BLOCK_S 0.02 /* seconds per timed repetition, about */

typedef enum target_kind {
  T_LABELS, /* int32 (N,1) */
  T_PROBS,  /* rows of probabilities */
  T_UNIT,   /* uniform [0,1] */
  T_SCORES  /* uniform [-4,4] */
} target_kind;

typedef struct kind_cfg {
  const char *op;
  clt_loss_kind kind;
  target_kind target;
} kind_cfg;

static const kind_cfg KINDS[] = {
    {"loss_ce", CLT_LOSS_CROSS_ENTROPY, T_LABELS},
    {"loss_ce_soft", CLT_LOSS_CROSS_ENTROPY, T_PROBS},
    {"loss_hinge", CLT_LOSS_HINGE, T_LABELS},
    {"loss_bce", CLT_LOSS_BCE_LOGITS, T_UNIT},
    {"loss_mse", CLT_LOSS_MSE, T_SCORES},
    {"loss_l1", CLT_LOSS_L1, T_SCORES},
    {"loss_huber", CLT_LOSS_HUBER, T_SCORES},
    {"loss_kl", CLT_LOSS_KL_DIV, T_PROBS},
};
enum { NKINDS = sizeof KINDS / sizeof KINDS[0] };

static int in_quick(const kind_cfg *k) {
  return strcmp(k->op, "loss_ce") == 0 || strcmp(k->op, "loss_hinge") == 0;
}

/* Uniform [lo, hi) from a hash of (i, seed). */
static float uniform(size_t i, uint64_t seed, float lo, float hi) {
  uint64_t z = (i + seed * 0x632BE59BD9B4E019ull) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  z ^= z >> 29;
  return lo + (hi - lo) * (float)((z >> 40) * 0x1p-24);
}

/* Host data of one shape: scores and every kind of target. */
typedef struct host_data {
  size_t n, c;
  float *S, *T;
  int32_t *y;
} host_data;

static void fill_target(host_data *h, target_kind t) {
  size_t numel = h->n * h->c;
  if (t == T_LABELS) {
    for (size_t i = 0; i < h->n; i++)
      h->y[i] = (int32_t)(uniform(i, 2, 0.0f, 1.0f) * (float)h->c) %
                (int32_t)h->c;
    return;
  }
  for (size_t k = 0; k < numel; k++)
    h->T[k] = t == T_SCORES ? uniform(k, 3, -4.0f, 4.0f)
                            : uniform(k, 4, t == T_PROBS ? 0.01f : 0.0f, 1.0f);
  for (size_t i = 0; t == T_PROBS && i < h->n; i++) {
    float *r = h->T + i * h->c, sum = 0.0f;
    for (size_t j = 0; j < h->c; j++) sum += r[j];
    for (size_t j = 0; j < h->c; j++) r[j] /= sum;
  }
}

/* The kl_div mass of the tolerance: sum |t (log t - s)| / (N C). */
static double kl_mass(const host_data *h) {
  double m = 0;
  size_t numel = h->n * h->c;
  for (size_t k = 0; k < numel; k++) {
    double t = h->T[k];
    m += fabs(t > 0 ? t * (log(t) - h->S[k]) : -t * h->S[k]);
  }
  return m / (double)numel;
}

/* Tensors of one configuration on one context. */
typedef struct dev_data {
  clt_context *ctx;
  clt_tensor *S, *target, *dS;
  clt_loss_desc desc;
} dev_data;

static void dev_release(dev_data *d) {
  clt_tensor_destroy(d->S);
  clt_tensor_destroy(d->target);
  clt_tensor_destroy(d->dS);
  d->S = d->target = d->dS = NULL;
}

static int fail_ctx(const char *what, const clt_context *ctx) {
  fprintf(stderr, "bench_loss: %s: %s\n", what, clt_last_error(ctx));
  return 1;
}

/* Creates S, the target and dS on d->ctx from h (S already there if
   d->S is set). */
static int dev_upload(dev_data *d, const host_data *h, const kind_cfg *k) {
  clt_context *ctx = d->ctx;
  size_t n = h->n, c = h->c;
  clt_status st = CLT_OK;
  if (!d->S) {
    st = clt_tensor_create(ctx, n, c, CLT_FLOAT32, &d->S);
    if (st == CLT_OK) st = clt_tensor_write(d->S, h->S, n * c * 4);
    if (st == CLT_OK) st = clt_tensor_create(ctx, n, c, CLT_FLOAT32, &d->dS);
  }
  if (st == CLT_OK && k->target == T_LABELS) {
    st = clt_tensor_create(ctx, n, 1, CLT_INT32, &d->target);
    if (st == CLT_OK) st = clt_tensor_write(d->target, h->y, n * 4);
  } else if (st == CLT_OK) {
    st = clt_tensor_create(ctx, n, c, CLT_FLOAT32, &d->target);
    if (st == CLT_OK) st = clt_tensor_write(d->target, h->T, n * c * 4);
  }
  d->desc = clt_loss_defaults(k->kind);
  return st == CLT_OK ? 0 : fail_ctx("upload", ctx);
}

/* One clt_loss call of d into *loss and (if out) dS into out. */
static int dev_loss(dev_data *d, double *loss, float *out, size_t numel) {
  clt_status st = clt_loss(d->ctx, &d->desc, d->S, d->target, loss, d->dS);
  if (st == CLT_OK && out) st = clt_tensor_read(d->dS, out, numel * 4);
  return st == CLT_OK ? 0 : fail_ctx(clt_loss_kind_name(d->desc.kind), d->ctx);
}

/* The device's loss and dS against the reference backend's, on the first
   `rows` rows of the configuration (views of the device tensors when fewer
   than all). */
static int validate(dev_data *full, clt_context *ref, const host_data *full_h,
                    const kind_cfg *k, size_t rows) {
  host_data h = *full_h;
  h.n = rows < h.n ? rows : h.n;
  size_t numel = h.n * h.c;
  float *got = malloc(numel * 4), *want = malloc(numel * 4);
  dev_data view = {.ctx = full->ctx, .desc = full->desc}, r = {.ctx = ref};
  dev_data *dev = full;
  double lg = 0, lw = 0;
  int rc = !got || !want;
  if (rc) fprintf(stderr, "bench_loss: out of memory\n");
  if (!rc && h.n < full_h->n) {
    dev = &view;
    rc = clt_tensor_view_rows(full->S, 0, h.n, &view.S) != CLT_OK ||
         clt_tensor_view_rows(full->target, 0, h.n, &view.target) != CLT_OK ||
         clt_tensor_view_rows(full->dS, 0, h.n, &view.dS) != CLT_OK;
    if (rc) fail_ctx("view", full->ctx);
  }
  if (!rc) rc = dev_loss(dev, &lg, got, numel);
  if (!rc) rc = dev_upload(&r, &h, k);
  if (!rc) rc = dev_loss(&r, &lw, want, numel);
  dev_release(&r);
  dev_release(&view);
  double mass = k->kind == CLT_LOSS_KL_DIV ? kl_mass(&h) : 0.0;
  if (!rc && !(fabs(lg - lw) <= 1e-6 + 2e-5 * fmax(fabs(lw), mass))) {
    fprintf(stderr, "bench_loss: %s N=%zu C=%zu: loss %.9g, reference %.9g\n",
            k->op, h.n, h.c, lg, lw);
    rc = 1;
  }
  double scale = 0;
  for (size_t e = 0; !rc && e < numel; e++) scale = fmax(scale, fabs(want[e]));
  for (size_t e = 0; !rc && e < numel; e++)
    if (!(fabs(got[e] - want[e]) <= 1e-6 * scale + 1e-4 * fabs(want[e]))) {
      fprintf(stderr,
              "bench_loss: %s N=%zu C=%zu: dS[%zu] %.9g, reference %.9g\n",
              k->op, h.n, h.c, e, got[e], want[e]);
      rc = 1;
    }
  free(got);
  free(want);
  return rc;
}

static const char *copy_source =
    "kernel void bench_copy(global const float4 *a, global float4 *b) {\n"
    "  size_t i = get_global_id(0); b[i] = a[i];\n"
    "}\n";

typedef struct job {
  dev_data *d;
  cl_kernel copy;
  int iters, copy_iters;
  double per_call, copy_per_call; /* seconds, set by run_block, run_copy */
} job;

static int run_block(void *arg) {
  job *j = arg;
  double loss, t0 = bu_now();
  for (int i = 0; i < j->iters; i++)
    if (dev_loss(j->d, &loss, NULL, 0)) return 1;
  j->per_call = (bu_now() - t0) / j->iters;
  return 0;
}

static int fail_cl(const char *what, cl_int err) {
  fprintf(stderr, "bench_loss: %s: %s (%d)\n", what, clt_cl_error_name(err),
          (int)err);
  return 1;
}

/* S into dS, numel/4 float4 (dS is overwritten by the next loss call). */
static int run_copy(void *arg) {
  job *j = arg;
  cl_command_queue q = clt_cl_of(j->d->ctx)->queue;
  cl_mem a = j->d->S->st->mem, b = j->d->dS->st->mem;
  size_t global = clt_tensor_rows(j->d->S) * clt_tensor_cols(j->d->S) / 4;
  cl_int err;
  if ((err = clSetKernelArg(j->copy, 0, sizeof a, &a)) ||
      (err = clSetKernelArg(j->copy, 1, sizeof b, &b)))
    return fail_cl("bench_copy arguments", err);
  double t0 = bu_now();
  for (int i = 0; i < j->copy_iters; i++)
    if ((err = clEnqueueNDRangeKernel(q, j->copy, 1, NULL, &global, NULL, 0,
                                      NULL, NULL)))
      return fail_cl("bench_copy", err);
  if ((err = clFinish(q))) return fail_cl("clFinish", err);
  j->copy_per_call = (bu_now() - t0) / j->copy_iters;
  return 0;
}

/* Calls per timed block: enough for ~BLOCK_S, from the last block's time. */
static int block_iters(double per_call) {
  return per_call >= BLOCK_S ? 1 : (int)(BLOCK_S / fmax(per_call, 1e-6)) + 1;
}

/* Per configuration, for the table printed at the end. */
typedef struct summary {
  const char *op;
  size_t n, c;
  double gbs, copy_gbs, frac;
} summary;
enum { MAX_SUMMARY = 128 };
static summary summaries[MAX_SUMMARY];
static int nsummaries;

static int bench_kind(bu_report *r, const bu_opts *o, dev_data *dev,
                      cl_kernel copy, clt_context *ref, const host_data *h,
                      const kind_cfg *k) {
  int rc = dev_upload(dev, h, k);
  /* --quick: the first 4097 rows (the reference of 64M elements takes
     seconds). */
  if (!rc) rc = validate(dev, ref, h, k, o->quick ? 4097 : h->n);
  job j = {.d = dev, .copy = copy, .iters = 1, .copy_iters = 1};
  for (int w = 0; w < WARMUP && !rc; w++) rc = run_block(&j) || run_copy(&j);
  j.iters = block_iters(j.per_call);
  j.copy_iters = block_iters(j.copy_per_call);
  int reps = o->reps;
  double *times = malloc((size_t)reps * sizeof *times);
  double *ratio = malloc((size_t)reps * sizeof *ratio);
  if (!times || !ratio) rc = 1;
  double numel = (double)h->n * h->c, copy_bytes = 32.0 * (h->n * h->c / 4);
  double bytes = 8.0 * numel + (k->target == T_LABELS ? 4.0 * h->n : 4.0 * numel);
  for (int rep = 0; rep < reps && !rc; rep++) {
    rc = run_copy(&j) || run_block(&j);
    times[rep] = j.per_call;
    if (!rc) ratio[rep] = (bytes / j.per_call) / (copy_bytes / j.copy_per_call);
  }
  clt_tensor_destroy(dev->target);
  dev->target = NULL;
  if (!rc)
    rc = bu_add(r, &(bu_rec){.suite = "loss", .op = k->op, .impl = "cltrain",
                             .floor = "copy", .n = (long long)h->n,
                             .c = (long long)h->c, .bytes = bytes},
                times, reps);
  if (!rc && nsummaries < MAX_SUMMARY) {
    double t = bu_summarize(times, reps).median;
    summaries[nsummaries++] = (summary){
        k->op, h->n, h->c, bytes / t / 1e9,
        copy_bytes / j.copy_per_call / 1e9, bu_summarize(ratio, reps).median};
  }
  free(times);
  free(ratio);
  return rc;
}

static int bench_shape(bu_report *r, const bu_opts *o, clt_context *ctx,
                       cl_kernel copy, clt_context *ref, size_t n, size_t c) {
  size_t numel = n * c;
  host_data h = {.n = n, .c = c, .S = malloc(numel * 4),
                 .T = malloc(numel * 4), .y = malloc(n * 4)};
  dev_data dev = {.ctx = ctx};
  int rc = !h.S || !h.T || !h.y;
  if (rc) fprintf(stderr, "bench_loss: out of memory\n");
  for (size_t e = 0; !rc && e < numel; e++) h.S[e] = uniform(e, 1, -4.0f, 4.0f);
  for (int k = 0; k < NKINDS && !rc; k++) {
    if (o->quick && !in_quick(&KINDS[k])) continue;
    fill_target(&h, KINDS[k].target);
    rc = bench_kind(r, o, &dev, copy, ref, &h, &KINDS[k]);
  }
  dev_release(&dev);
  free(h.S);
  free(h.T);
  free(h.y);
  return rc;
}

int main(int argc, char **argv) {
  bu_opts o;
  int rc = bu_parse(argc, argv,
                    "Loss kernels: GB/s of clt_loss (value and dS) per kind, "
                    "N=65536 at C=10 and 1000, 64K to 64M elements",
                    &o);
  if (rc >= 0) return rc;
  rc = 0;
  clt_context_options co = {.device = o.device}, ro = {.device = "ref"};
  clt_context *ctx = NULL, *ref = NULL;
  if (clt_context_create(&co, &ctx) != CLT_OK ||
      clt_context_create(&ro, &ref) != CLT_OK) {
    fprintf(stderr, "bench_loss: %s\n", clt_last_error(NULL));
    clt_context_destroy(ctx);
    return 1;
  }
  if (clt_context_is_reference(ctx)) {
    fprintf(stderr, "bench_loss: needs an OpenCL device\n");
    clt_context_destroy(ctx);
    clt_context_destroy(ref);
    return 1;
  }
  bu_report *r = bu_report_create("bench_loss", &o);
  if (!r) {
    clt_context_destroy(ctx);
    clt_context_destroy(ref);
    return 1;
  }
  bu_note(r, "device", "%s", clt_context_device_name(ctx));
  /* {N, C}: the two required figures first, then the element sweep. */
  static const size_t shapes[][2] = {
      {65536, 10},   {65536, 1000}, {6554, 10},    {104858, 10},
      {1677722, 10}, {6710886, 10}, {66, 1000},    {1049, 1000},
      {16777, 1000}};
  cl_program prog = NULL;
  cl_kernel copy = NULL;
  cl_int err = CL_SUCCESS;
  if (clt_cl_build(ctx, copy_source, &prog) != CLT_OK)
    rc = fail_ctx("copy kernel", ctx);
  else if (!(copy = clCreateKernel(prog, "bench_copy", &err)))
    rc = fail_cl("bench_copy", err);
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !rc; s++) {
    if (o.quick && shapes[s][0] != 65536) continue;
    rc = bench_shape(r, &o, ctx, copy, ref, shapes[s][0], shapes[s][1]);
  }
  /* key <op>_n<N>_c<C>_of_copy: median over the repetitions of the loss
     GB/s over the GB/s of the copy timed just before it. */
  for (int q = 0; q < nsummaries && !rc; q++) {
    const summary *m = &summaries[q];
    char key[96];
    snprintf(key, sizeof key, "%s_n%zu_c%zu_of_copy", m->op, m->n, m->c);
    rc = bu_note(r, key, "%.3f (%.2f GB/s, copy of S into dS %.2f GB/s)",
                 m->frac, m->gbs, m->copy_gbs);
  }
  if (copy) clReleaseKernel(copy);
  if (prog) clReleaseProgram(prog), clt_cl_count(-1);
  clt_context_destroy(ctx);
  clt_context_destroy(ref);
  int frc = bu_report_finish(r);
  return rc ? rc : frc;
}
