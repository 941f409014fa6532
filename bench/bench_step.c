/* One training step of a linear classifier on the cltrain device, launch by
   launch: clt_linear_loss_grad ("cltrain", the op the trainer uses) next to
   the composition of the separate ops ("cltrain-composition":
   clt_linear_forward, clt_loss, clt_linear_backward, clt_regularize), each
   followed by one optimizer launch, as in `cltrain train`.

   Shapes: the trainer's step (N=256 rows gathered on the device from a
   60000 x 784 data set through a permutation, C=10, AdamW on a group
   holding W and b) and the peers' step (bench/peers.py: X resident, no
   gather, l2 = 2e-4, plain SGD) at N in {1024, 4096, 16384, 65536},
   D in {784, 3072}, C in {10, 32, 1000} (C = 1000: N up to 16384; --quick:
   N in {4096, 16384}, D = 784, C = 10).

   Per-launch times come from a second context created with
   record_timings: the library's device time of every kernel, fill and
   read-back and its count of host waits (clt_context_timings). Wall times
   come from the first, whose queue profiles nothing.

   Records: "train_step_<loss>" and "step_<loss>" (samples/s of the whole
   step, floor "step" as in peers.py), "op_xread_<loss>" (X's bytes, one
   read, over the op's time alone, floor "sum": how close the op comes to
   merely reading X once), "launch:<kernel>" (device time per step, unit
   s), and the floors measured here before any OpenCL context exists: the
   read bandwidth (OpenMP sum over 256 MiB) and the FMA peak. The fused
   kernel's loop is also timed as plain C with GCC vector types and OpenMP
   ("c-openmp", op_xread_softmax at C = 10): the same loop compiled by gcc
   instead of POCL. Every path is validated before it is timed (the op
   against the composition, the C loop against double precision); warm-up
   runs (kernel compilation) are not timed. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "fused.h"
#include "internal.h"

#define WARMUP 2
/* The most classes the fused step takes (STEP_MAX_C in host/fused.c):
   above it the op is the composition and GEMM-bound. */
#define FUSED_MAX_C 32
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------- profiles */

/* Device time per kernel (and transfer) over the profiled steps, from the
   timings of a context that records them: sec[label * steps + k] is step
   k's total for that label. */
#define MAX_LABELS 32
typedef struct profile {
  const char *label[MAX_LABELS]; /* the library's static names */
  double count[MAX_LABELS];      /* commands over all steps */
  double *sec;
  size_t nl, steps;
  double busy, launches, waits; /* totals over the steps */
} profile;

/* Folds what ctx recorded since its last reset, step k's, into p. */
static int profile_take(profile *p, clt_context *ctx, size_t k) {
  clt_timing v[64];
  size_t n = 0;
  if (clt_context_timings(ctx, v, LEN(v), &n) != CLT_OK) {
    fprintf(stderr, "bench_step: timings: %s\n", clt_last_error(ctx));
    return 1;
  }
  for (size_t i = 0; i < n && i < LEN(v); i++) {
    if (v[i].kind == CLT_TIMING_WAIT) {
      p->waits += (double)v[i].count;
      continue;
    }
    if (strcmp(v[i].name, "read") != 0) p->launches += (double)v[i].count;
    size_t t = 0;
    while (t < p->nl && strcmp(p->label[t], v[i].name) != 0) t++;
    if (t == MAX_LABELS) continue;
    if (t == p->nl) p->label[p->nl++] = v[i].name;
    p->count[t] += (double)v[i].count;
    p->sec[t * p->steps + k] += v[i].seconds;
    p->busy += v[i].seconds;
  }
  return 0;
}

/* ------------------------------------------------------------- jobs */

typedef enum mode {
  TRAIN, /* gather + op + optimizer (AdamW), as `cltrain train` */
  PEER,  /* op + optimizer (SGD), X resident, as peers.py's step */
  OP     /* the op alone */
} mode;

/* What computes the gradient: clt_linear_loss_grad, the separate ops, or
   (the trainer's shape) clt_linear_loss_grad_rows on the data set's rows
   through the permutation, which takes the place of the gather. */
typedef enum impl { IMPL_OP, IMPL_COMPOSITION, IMPL_ROWS } impl;

typedef struct job {
  clt_context *ctx;
  mode mode;
  impl impl;
  clt_loss_desc loss;
  clt_reg_desc reg;
  clt_tensor *src, *ysrc, *perm; /* TRAIN: the data set and its order */
  size_t src_rows, first;
  clt_tensor *X, *y, *W, *b, *dW, *db, *S, *dS;
  clt_optimizer *opt;
  size_t iters; /* steps per timed repetition */
  double value;
} job;

static clt_status op(job *j) {
  if (j->impl == IMPL_OP)
    return clt_linear_loss_grad(j->ctx, &j->loss, &j->reg, j->X, j->y, j->W,
                                j->b, &j->value, j->dW, j->db);
  if (j->impl == IMPL_ROWS)
    return clt_linear_loss_grad_rows(j->ctx, &j->loss, &j->reg, j->src,
                                     j->ysrc, j->perm, j->first, j->X, j->y,
                                     j->W, j->b, NULL, &j->value, j->dW, j->db);
  double pen = 0;
  CLT_TRY(clt_linear_forward(j->ctx, j->X, j->W, j->b, j->S));
  CLT_TRY(clt_loss(j->ctx, &j->loss, j->S, j->y, &j->value, j->dS));
  CLT_TRY(clt_linear_backward(j->ctx, j->X, j->W, j->dS, j->dW, j->db, NULL));
  CLT_TRY(clt_regularize(j->ctx, &j->reg, j->W, &pen, j->dW));
  j->value += pen;
  return CLT_OK;
}

static clt_status step(job *j) {
  if (j->mode == TRAIN) {
    size_t n = j->X->rows;
    j->first = j->first + 2 * n <= j->src_rows ? j->first + n : 0;
    if (j->impl != IMPL_ROWS) {
      CLT_TRY(clt_gather_rows_unchecked(j->X, j->src, j->perm, j->first));
      CLT_TRY(clt_gather_rows_unchecked(j->y, j->ysrc, j->perm, j->first));
    }
  }
  CLT_TRY(op(j));
  return j->mode == OP ? CLT_OK : clt_optimizer_step_all(j->opt);
}

static int run(void *p) {
  job *j = p;
  clt_status st = CLT_OK;
  for (size_t i = 0; i < j->iters && st == CLT_OK; i++) st = step(j);
  if (st == CLT_OK) st = clt_context_finish(j->ctx);
  if (st != CLT_OK) {
    fprintf(stderr, "bench_step: %s: %s\n", clt_status_str(st),
            clt_last_error(j->ctx));
    return 1;
  }
  return 0;
}

static void fill(float *v, size_t n, uint64_t seed, float scale) {
  for (size_t i = 0; i < n; i++) {
    uint64_t z = (i + seed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    v[i] = scale * ((float)((z >> 40) * 0x1p-24) * 2.0f - 1.0f);
  }
}

/* The tensors of one problem on ctx; the optimizer's group holds W and b
   (one launch per step, as in the trainer), initialised from w. */
typedef struct problem {
  size_t n, d, c, src_rows;
  float *x, *w;
  int32_t *y, *perm;
} problem;

static clt_status make_job(clt_context *ctx, const problem *pb, mode m,
                           job *j) {
  size_t n = pb->n, d = pb->d, c = pb->c;
  *j = (job){.ctx = ctx, .mode = m, .src_rows = pb->src_rows, .iters = 1};
  j->loss = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  j->reg = (clt_reg_desc){0, m == TRAIN ? 0.0f : 2e-4f};
  clt_optim_desc od = clt_optim_defaults(m == TRAIN ? CLT_OPTIM_ADAMW : CLT_OPTIM_SGD);
  if (m != TRAIN) od.lr = 1e-3f;
  size_t rows[2] = {d, 1}, cols[2] = {c, c};
  clt_param_options po[2] = {{0, 0}, {1, 1}};
  clt_tensor *params[2] = {NULL, NULL}, *grads[2] = {NULL, NULL};
  CLT_TRY(clt_optimizer_create(ctx, &od, &j->opt));
  CLT_TRY(clt_optimizer_add_group(j->opt, 2, rows, cols, po, params, grads));
  j->W = params[0], j->b = params[1], j->dW = grads[0], j->db = grads[1];
  CLT_TRY(clt_tensor_write(j->W, pb->w, d * c * 4));
  CLT_TRY(clt_tensor_create(ctx, n, d, CLT_FLOAT32, &j->X));
  CLT_TRY(clt_tensor_create(ctx, n, 1, CLT_INT32, &j->y));
  CLT_TRY(clt_tensor_create(ctx, n, c, CLT_FLOAT32, &j->S));
  CLT_TRY(clt_tensor_create(ctx, n, c, CLT_FLOAT32, &j->dS));
  if (m == TRAIN) {
    size_t s = pb->src_rows;
    CLT_TRY(clt_tensor_create(ctx, s, d, CLT_FLOAT32, &j->src));
    CLT_TRY(clt_tensor_create(ctx, s, 1, CLT_INT32, &j->ysrc));
    CLT_TRY(clt_tensor_create(ctx, s, 1, CLT_INT32, &j->perm));
    CLT_TRY(clt_tensor_write(j->src, pb->x, s * d * 4));
    CLT_TRY(clt_tensor_write(j->ysrc, pb->y, s * 4));
    CLT_TRY(clt_tensor_write(j->perm, pb->perm, s * 4));
  } else {
    CLT_TRY(clt_tensor_write(j->X, pb->x, n * d * 4));
    CLT_TRY(clt_tensor_write(j->y, pb->y, n * 4));
  }
  return CLT_OK;
}

static void free_job(job *j) {
  clt_tensor *all[] = {j->src, j->ysrc, j->perm, j->X, j->y, j->W,
                       j->b,   j->dW,   j->db,   j->S, j->dS};
  for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
  clt_optimizer_destroy(j->opt);
  *j = (job){0};
}

/* ------------------------------------------------- validation, floors */

/* The op's loss, dW and db against the composition's on the same inputs,
   and (trainer's shape, batch 0 gathered) the indexed op's (the op first:
   all start from the same W). Tolerance: float32 sums of up to N*D terms
   in different orders. */
static int validate(job *j) {
  size_t dc = j->W->rows * j->W->cols, c = j->W->cols;
  int nimpl = j->src ? 3 : 2, rc = 0;
  float *g[3][2] = {{NULL}};
  double v[3];
  j->first = 0;
  for (int k = 0; k < nimpl && !rc; k++) {
    j->impl = (impl)k;
    g[k][0] = malloc(dc * sizeof(float));
    g[k][1] = malloc(c * sizeof(float));
    clt_status st = g[k][0] && g[k][1] ? op(j) : CLT_ERR_OUT_OF_MEMORY;
    if (st == CLT_OK) st = clt_tensor_read(j->dW, g[k][0], dc * 4);
    if (st == CLT_OK) st = clt_tensor_read(j->db, g[k][1], c * 4);
    if (st != CLT_OK) {
      fprintf(stderr, "bench_step: validation: %s\n", clt_last_error(j->ctx));
      rc = 1;
    }
    v[k] = j->value;
  }
  for (int k = 1; k < nimpl && !rc; k++) {
    for (int q = 0; q < 2 && !rc; q++) {
      size_t m = q ? c : dc;
      double scale = 0, err = 0;
      for (size_t i = 0; i < m; i++) {
        scale = fmax(scale, fabs(g[k][q][i]));
        err = fmax(err, fabs((double)g[0][q][i] - g[k][q][i]));
      }
      if (err > 1e-4 * scale + 1e-7) {
        fprintf(stderr, "bench_step: %s of the op and of impl %d differ by %g "
                "(max |value| %g)\n", q ? "db" : "dW", k, err, scale);
        rc = 1;
      }
    }
    if (!rc && !(fabs(v[0] - v[k]) <= 1e-5 * fabs(v[k]) + 1e-6)) {
      fprintf(stderr, "bench_step: loss %.9g (op) vs %.9g (impl %d)\n", v[0],
              v[k], k);
      rc = 1;
    }
  }
  for (int k = 0; k < 3; k++) free(g[k][0]), free(g[k][1]);
  j->impl = IMPL_OP;
  return rc;
}

typedef float v16 __attribute__((vector_size(64)));
#define CRB 4
#define CCB 5
#define CU 16

static v16 vload(const float *p) {
  v16 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static float vsum(v16 v) {
  float s = 0;
  for (int l = 0; l < 16; l++) s += v[l];
  return s;
}

typedef struct sum_arg {
  const float *a;
  size_t n; /* a multiple of 64 */
  double s;
} sum_arg;

/* Read-only sum in four 16-lane float accumulators per thread: a double
   accumulator (bench_floors' loop) is a chain of dependent adds that reads
   only ~6 GB/s here. */
static int omp_sum(void *p) {
  sum_arg *x = p;
  double s = 0;
#pragma omp parallel reduction(+ : s)
  {
    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
#pragma omp for schedule(static)
    for (size_t i = 0; i < x->n; i += 64) {
      a0 += vload(x->a + i), a1 += vload(x->a + i + 16);
      a2 += vload(x->a + i + 32), a3 += vload(x->a + i + 48);
    }
    s += vsum(a0 + a1 + a2 + a3);
  }
  x->s = s;
  return 0;
}

/* The fused kernel's loop (kernels/step.cl, cross-entropy) as plain C with
   GCC vector types and OpenMP over row blocks: what POCL is compared with.
   Rows in blocks of R, chunks of 16 rows, scores of 4 rows x 5 classes in
   16-lane accumulators against W transposed, softmax and dS per row, then
   the chunk's X^T dS into the block's partial dW^T while the rows are in
   cache; the blocks are summed at the end. C = 10, D a multiple of 16. */
typedef struct cstep {
  const float *x, *wt; /* X (N,D), W^T (C,D) */
  const int32_t *y;
  float *part, *dw; /* blocks x (C,D) partials; dW^T (C,D) */
  size_t n, d, c, r;
  double loss;
} cstep;

/* Row i of X, rows from n1 on clamped to n1 - 1 (their dS is 0). */
static const float *c_row(const cstep *a, size_t i, size_t n1) {
  return a->x + (i < n1 ? i : n1 - 1) * a->d;
}

static void c_block(const cstep *a, size_t k, double *loss) {
  size_t d = a->d, c = a->c, n0 = k * a->r, n1 = n0 + a->r < a->n ? n0 + a->r : a->n;
  float *dwt = a->part + k * c * d, ds[CU][16];
  memset(dwt, 0, c * d * sizeof *dwt);
  for (size_t u0 = n0; u0 < n1; u0 += CU) {
    for (size_t r0 = u0; r0 < u0 + CU; r0 += CRB) {
      float sc[CRB][16] = {{0}};
      for (size_t c0 = 0; c0 < c; c0 += CCB) {
        v16 acc[CRB][CCB] = {{{0}}};
        for (size_t q = 0; q < d; q += 16) {
          v16 xv[CRB];
          for (int r = 0; r < CRB; r++) xv[r] = vload(c_row(a, r0 + (size_t)r, n1) + q);
          for (int j = 0; j < CCB; j++) {
            v16 wv = vload(a->wt + (c0 + (size_t)j) * d + q);
            for (int r = 0; r < CRB; r++) acc[r][j] += xv[r] * wv;
          }
        }
        for (int r = 0; r < CRB; r++)
          for (int j = 0; j < CCB; j++) sc[r][c0 + (size_t)j] = vsum(acc[r][j]);
      }
      for (int r = 0; r < CRB; r++) {
        size_t i = r0 + (size_t)r;
        float *g = ds[i - u0], m = -INFINITY, z = 0;
        memset(g, 0, 16 * sizeof *g);
        if (i >= n1) continue;
        for (size_t j = 0; j < c; j++) m = fmaxf(m, sc[r][j]);
        for (size_t j = 0; j < c; j++) z += expf(sc[r][j] - m);
        *loss += (double)(m + logf(z) - sc[r][a->y[i]]);
        for (size_t j = 0; j < c; j++)
          g[j] = (expf(sc[r][j] - m) / z - (j == (size_t)a->y[i])) / (float)a->n;
      }
    }
    for (size_t q = 0; q < d; q += 16) {
      v16 xv[CU];
      for (int u = 0; u < CU; u++) xv[u] = vload(c_row(a, u0 + (size_t)u, n1) + q);
      for (size_t j = 0; j < c; j++) {
        v16 acc = vload(dwt + j * d + q);
        for (int u = 0; u < CU; u++) acc += xv[u] * ds[u][j];
        memcpy(dwt + j * d + q, &acc, sizeof acc);
      }
    }
  }
}

static int c_step(void *p) {
  cstep *a = p;
  size_t blocks = (a->n + a->r - 1) / a->r, cd = a->c * a->d;
  double loss = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : loss)
  for (size_t k = 0; k < blocks; k++) c_block(a, k, &loss);
#pragma omp parallel for schedule(static)
  for (size_t e = 0; e < cd; e++) {
    float t = 0;
    for (size_t k = 0; k < blocks; k++) t += a->part[k * cd + e];
    a->dw[e] = t;
  }
  a->loss = loss / (double)a->n;
  return 0;
}

/* The FMA peak of the host: 16 independent 16-lane chains per thread. */
typedef struct fma_arg {
  long iters;
  float sink;
} fma_arg;

static int fma_peak(void *p) {
  fma_arg *a = p;
  float sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    v16 acc[16], x, y;
    for (int l = 0; l < 16; l++) x[l] = 1.0000001f, y[l] = 1e-7f;
    for (int k = 0; k < 16; k++)
      for (int l = 0; l < 16; l++) acc[k][l] = (float)k;
    for (long i = 0; i < a->iters; i++)
      for (int k = 0; k < 16; k++) acc[k] = acc[k] * x + y;
    for (int k = 0; k < 16; k++) sink += vsum(acc[k]);
  }
  a->sink = sink;
  return 0;
}

/* ---------------------------------------------------------- reporting */

static const char *impl_name(impl i) {
  return i == IMPL_COMPOSITION ? "cltrain-composition"
         : i == IMPL_ROWS      ? "cltrain-rows"
                               : "cltrain";
}

static const char *loss_name(clt_loss_kind k) {
  return k == CLT_LOSS_HINGE ? "hinge" : "softmax";
}

/* Profiles `steps` steps of j on its context (which records timings) and
   prints and records the per-launch device times. */
static int profile_job(bu_report *r, job *j, size_t steps) {
  profile p = {.steps = steps, .sec = calloc(steps * MAX_LABELS, sizeof(double))};
  if (!p.sec) return 1;
  size_t iters = j->iters;
  j->iters = 1;
  int rc = 0;
  for (size_t k = 0; k < steps && !rc; k++) {
    rc = clt_context_timings_reset(j->ctx) != CLT_OK;
    if (!rc) rc = run(j);
    if (!rc) rc = profile_take(&p, j->ctx, k);
  }
  j->iters = iters;
  double per = 1.0 / (double)steps;
  if (!rc)
    printf("  %s, %s N=%zu D=%zu C=%zu: %.1f launches, fills and copies, "
           "%.1f host waits per step (besides the final finish)\n",
           impl_name(j->impl), loss_name(j->loss.kind), j->X->rows,
           j->X->cols, j->W->cols, p.launches * per, p.waits * per - 1);
  for (size_t t = 0; t < p.nl && !rc; t++) {
    double *v = p.sec + t * steps;
    char op[96];
    snprintf(op, sizeof op, "launch:%s", p.label[t]);
    bu_rec rec = {.suite = "step", .op = op, .impl = impl_name(j->impl),
                  .n = (long long)j->X->rows, .d = (long long)j->X->cols,
                  .c = (long long)j->W->cols};
    bu_stats s = bu_summarize(v, (int)steps);
    printf("    %-30s x%-4.3g median %9.1f us  [%.1f .. %.1f]\n", p.label[t],
           p.count[t] * per, 1e6 * s.median, 1e6 * s.min, 1e6 * s.max);
    rc = bu_add(r, &rec, v, (int)steps);
  }
  if (!rc) printf("    device busy %.1f us per step (mean)\n", 1e6 * p.busy * per);
  free(p.sec);
  return rc;
}

typedef struct env {
  bu_report *r;
  const bu_opts *o;
  clt_context *ctx, *pctx; /* plain and profiling contexts */
  double read_gbs, fma_gflops;
  double *t;
} env;

/* The op's time against its floors: one read of X at the measured read
   bandwidth, and its 4NDC FLOPs (scores and dW) at the measured FMA peak. */
static void report_fraction(const env *e, const char *who, const char *loss,
                            size_t n, size_t d, size_t c, double secs) {
  double x = 4.0 * n * d, flops = 4.0 * n * d * c;
  printf("  => %s %s: %.3g ms; X at %.1f GB/s = %.0f %% of the read "
         "bandwidth (%.1f GB/s); %.0f GFLOP/s = %.0f %% of the FMA peak "
         "(%.0f GFLOP/s); floor %.3g ms\n",
         who, loss, 1e3 * secs, x / secs * 1e-9,
         100 * x / secs * 1e-9 / e->read_gbs, e->read_gbs,
         flops / secs * 1e-9, 100 * flops / secs * 1e-9 / e->fma_gflops,
         e->fma_gflops,
         1e3 * fmax(x / (e->read_gbs * 1e9), flops / (e->fma_gflops * 1e9)));
}

/* Wall-times reps repetitions of iters steps of j; t gets seconds per
   step. */
static int time_job(env *e, job *j, int reps) {
  if (bu_time(run, j, WARMUP, reps, e->t)) return 1;
  for (int i = 0; i < reps; i++) e->t[i] /= (double)j->iters;
  return 0;
}

/* The impls of one loss at one shape and mode: validate, time, profile.
   Above FUSED_MAX_C the op is the composition and GEMM-bound:
   only "cltrain" is timed, without its X-read figure, and steps that take
   seconds get fewer repetitions. */
static int bench_shape(env *e, const problem *pb, mode m, clt_loss_kind kind) {
  job j, pj;
  int rc = 1;
  size_t n = pb->n, d = pb->d, c = pb->c;
  /* A step's rough cost at 50 GFLOP/s and 10 GB/s: ~0.1 s per repetition. */
  double guess = 4.0 * n * d * c / 50e9 + 8.0 * n * d / 10e9;
  size_t iters = guess >= 0.1 ? 1 : (size_t)fmin(50, ceil(0.1 / guess));
  int reps = guess > 0.5 && e->o->reps > 3 ? 3 : e->o->reps;
  size_t psteps = guess > 0.5 ? 2 : e->o->quick ? 5 : 50;
  bool skinny = c <= FUSED_MAX_C;
  int nimpl = m == TRAIN ? 3 : skinny ? 2 : 1;
  if (make_job(e->ctx, pb, m, &j) != CLT_OK ||
      make_job(e->pctx, pb, m, &pj) != CLT_OK) {
    fprintf(stderr, "bench_step: set-up: %s\n", clt_last_error(e->ctx));
    goto done;
  }
  j.loss.kind = pj.loss.kind = kind;
  j.iters = pj.iters = iters;
  if (m == TRAIN && (clt_gather_rows_unchecked(j.X, j.src, j.perm, 0) ||
                     clt_gather_rows_unchecked(j.y, j.ysrc, j.perm, 0)))
    goto done;
  if (validate(&j)) goto done;
  const char *ln = loss_name(kind);
  char opname[64];
  for (int k = 0; k < nimpl; k++) {
    impl comp = (impl)k;
    j.impl = pj.impl = comp;
    bu_rec rec = {.suite = "step", .impl = impl_name(comp), .n = (long long)n,
                  .d = (long long)d, .c = (long long)c};
    if (skinny) {
      mode keep = j.mode;
      j.mode = OP;
      if (time_job(e, &j, reps)) goto done;
      j.mode = keep;
      snprintf(opname, sizeof opname, "op_xread_%s", ln);
      rec.op = opname, rec.floor = "sum", rec.bytes = 4.0 * n * d;
      if (bu_add(e->r, &rec, e->t, reps)) goto done;
      report_fraction(e, impl_name(comp), ln, n, d, c, e->t[reps / 2]);
    }
    if (time_job(e, &j, reps)) goto done;
    snprintf(opname, sizeof opname, m == TRAIN ? "train_step_%s" : "step_%s", ln);
    rec.op = opname, rec.floor = "step", rec.bytes = 0, rec.samples = (double)n;
    if (bu_add(e->r, &rec, e->t, reps)) goto done;
    if (!skinny) report_fraction(e, impl_name(comp), ln, n, d, c, e->t[reps / 2]);
    if (WARMUP && run(&pj)) goto done;
    if (profile_job(e->r, &pj, psteps)) goto done;
  }
  rc = 0;
done:
  free_job(&j);
  free_job(&pj);
  return rc;
}

/* c_step on 37 x 32 against the softmax gradient in double. */
static int validate_c_step(void) {
  enum { N = 37, D = 32, C = 10 };
  static float x[N * D], w[D * C], wt[C * D], part[3 * C * D], dwt[C * D];
  static int32_t y[N];
  fill(x, N * D, 5, 1.0f), fill(w, D * C, 6, 0.5f);
  for (size_t i = 0; i < N; i++) y[i] = (int32_t)(i % C);
  for (size_t k = 0; k < C; k++)
    for (size_t q = 0; q < D; q++) wt[k * D + q] = w[q * C + k];
  cstep a = {x, wt, y, part, dwt, N, D, C, 16, 0};
  c_step(&a);
  double want[C * D] = {0}, loss = 0;
  for (size_t i = 0; i < N; i++) {
    double s[C], m = -INFINITY, z = 0;
    for (size_t j = 0; j < C; j++) {
      s[j] = 0;
      for (size_t q = 0; q < D; q++) s[j] += (double)x[i * D + q] * w[q * C + j];
      m = fmax(m, s[j]);
    }
    for (size_t j = 0; j < C; j++) z += exp(s[j] - m);
    loss += m + log(z) - s[y[i]];
    for (size_t j = 0; j < C; j++)
      for (size_t q = 0; q < D; q++)
        want[j * D + q] += x[i * D + q] * (exp(s[j] - m) / z - (j == (size_t)y[i])) / N;
  }
  double err = fabs(a.loss - loss / N);
  for (size_t e = 0; e < C * D; e++) err = fmax(err, fabs(dwt[e] - want[e]));
  if (err > 1e-5) {
    fprintf(stderr, "bench_step: the C loop is off by %g\n", err);
    return 1;
  }
  return 0;
}

/* The shapes the plain C loop takes: cross-entropy, C = 10, D a multiple
   of 16, N from 4096 (the peers' shapes, where the op's X read is
   compared with it). */
static int c_step_takes(size_t n, size_t d, size_t c) {
  return c == 10 && d % 16 == 0 && n >= 4096;
}

/* The fused loop as plain C at one shape (c_step_takes). */
static int bench_c_step(env *e, const problem *pb) {
  size_t n = pb->n, d = pb->d, c = pb->c, r = n / 16 > 1024 ? 1024 : n / 16;
  r = r < 16 ? 16 : r / 16 * 16;
  cstep a = {pb->x, malloc(c * d * sizeof(float)), pb->y,
             malloc((n + r - 1) / r * c * d * sizeof(float)),
             malloc(c * d * sizeof(float)), n, d, c, r, 0};
  int rc = 1;
  if (a.wt && a.part && a.dw) {
    float *wt = (float *)a.wt;
    for (size_t k = 0; k < c; k++)
      for (size_t q = 0; q < d; q++) wt[k * d + q] = pb->w[q * c + k];
    rc = bu_time(c_step, &a, WARMUP, e->o->reps, e->t);
  }
  if (!rc)
    rc = bu_add(e->r,
                &(bu_rec){.suite = "step", .op = "op_xread_softmax",
                          .impl = "c-openmp", .floor = "sum",
                          .n = (long long)n, .d = (long long)d,
                          .c = (long long)c, .bytes = 4.0 * n * d},
                e->t, e->o->reps);
  if (!rc) report_fraction(e, "c-openmp", "softmax", n, d, c, e->t[e->o->reps / 2]);
  free((float *)a.wt), free(a.part), free(a.dw);
  return rc;
}

static int make_problem(problem *pb, size_t n, size_t d, size_t c,
                        size_t src_rows) {
  size_t rows = src_rows > n ? src_rows : n;
  *pb = (problem){n, d, c, src_rows, malloc(rows * d * sizeof(float)),
                  malloc(d * c * sizeof(float)), malloc(rows * sizeof(int32_t)),
                  malloc(rows * sizeof(int32_t))};
  if (!pb->x || !pb->w || !pb->y || !pb->perm) {
    fprintf(stderr, "bench_step: out of host memory\n");
    return 1;
  }
  fill(pb->x, rows * d, 1, 1.0f);
  fill(pb->w, d * c, 2, 0.01f);
  uint64_t s = 7;
  for (size_t i = 0; i < rows; i++) {
    pb->perm[i] = (int32_t)i;
    pb->y[i] = (int32_t)((i * 2654435761u) % c);
  }
  for (size_t i = rows - 1; i > 0; i--) { /* Fisher-Yates */
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    size_t k = (size_t)((s >> 33) % (i + 1));
    int32_t t = pb->perm[i];
    pb->perm[i] = pb->perm[k], pb->perm[k] = t;
  }
  return 0;
}

static void free_problem(problem *pb) {
  free(pb->x), free(pb->w), free(pb->y), free(pb->perm);
}

/* The floors the op is compared with: the read bandwidth (a read-only
   OpenMP sum over 256 MiB, as bench_floors' "sum") and the FMA peak. Run
   before any OpenCL context exists: POCL's worker threads and OpenMP's
   spinning ones slow each other down. */
static int measure_read(env *e) {
  size_t n = (size_t)64 << 20;
  float *a = aligned_alloc(64, n * sizeof *a); /* whole lines per vector */
  if (!a) return 1;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) a[i] = 1.0f;
  sum_arg s = {a, n, 0};
  int rc = bu_time(omp_sum, &s, WARMUP, e->o->reps, e->t);
  if (!rc)
    rc = bu_add(e->r,
                &(bu_rec){.suite = "floors", .op = "sum", .impl = "openmp",
                          .floor = "sum", .elems = (long long)n,
                          .bytes = 4.0 * (double)n},
                e->t, e->o->reps);
  e->read_gbs = 4.0 * (double)n / e->t[e->o->reps / 2] * 1e-9;
  free(a);
  fma_arg f = {20000000, 0};
  double flops = 2.0 * 16 * 16 * (double)f.iters * omp_get_max_threads();
  if (!rc) rc = bu_time(fma_peak, &f, WARMUP, e->o->reps, e->t);
  if (!rc)
    rc = bu_add(e->r,
                &(bu_rec){.suite = "floors", .op = "fma", .impl = "c-openmp",
                          .flops = flops},
                e->t, e->o->reps);
  e->fma_gflops = flops / e->t[e->o->reps / 2] * 1e-9;
  return rc;
}

/* The peers' shapes (bench/peers.py), and C = 32, the largest the fused
   step takes. At C = 1000 (GEMM-bound, seconds per step) N stops at 16384.
   --quick: N in {4096, 16384}, D = 784, C = 10. */
static const size_t peer_ns[] = {1024, 4096, 16384, 65536},
                    peer_ds[] = {784, 3072}, peer_cs[] = {10, 32, 1000};

static size_t peer_shapes(const bu_opts *o) {
  return o->quick ? 2 : LEN(peer_ns) * LEN(peer_ds) * LEN(peer_cs);
}

/* Shape k; 0 when the list leaves it out. */
static int peer_shape(const bu_opts *o, size_t k, size_t *n, size_t *d,
                      size_t *c) {
  if (o->quick) {
    *n = peer_ns[1 + k], *d = peer_ds[0], *c = peer_cs[0];
    return 1;
  }
  size_t nn = LEN(peer_ns), nd = LEN(peer_ds);
  *n = peer_ns[k % nn], *d = peer_ds[k / nn % nd], *c = peer_cs[k / nn / nd];
  return *c <= FUSED_MAX_C || *n <= 16384;
}

int main(int argc, char **argv) {
  bu_opts o;
  int rc = bu_parse(argc, argv,
                    "One training step (clt_linear_loss_grad and the "
                    "composition of the separate ops), launch by launch.",
                    &o);
  if (rc >= 0) return rc;
  env e = {.o = &o, .t = malloc((size_t)o.reps * sizeof(double))};
  e.r = e.t ? bu_report_create("bench_step", &o) : NULL;
  if (!e.r) {
    free(e.t);
    return 1;
  }
  bu_note(e.r, "threads", "OpenMP %d", omp_get_max_threads());
  /* The host's floors and loops first: OpenMP's threads and POCL's slow
     each other down when both exist. */
  rc = measure_read(&e) || validate_c_step();
  problem pb;
  for (size_t k = 0; k < peer_shapes(&o) && !rc; k++) {
    size_t n, d, c;
    if (!peer_shape(&o, k, &n, &d, &c) || !c_step_takes(n, d, c)) continue;
    rc = make_problem(&pb, n, d, c, 0);
    if (!rc) rc = bench_c_step(&e, &pb);
    free_problem(&pb);
  }
  clt_status st = CLT_OK;
  if (!rc) st = clt_context_create(&(clt_context_options){.device = o.device}, &e.ctx);
  if (!rc && st == CLT_OK)
    st = clt_context_create(
        &(clt_context_options){.device = o.device, .record_timings = 1}, &e.pctx);
  if (!rc && (st != CLT_OK || clt_context_is_reference(e.ctx))) {
    fprintf(stderr, "bench_step: needs an OpenCL device: %s\n",
            st != CLT_OK ? clt_last_error(NULL) : "got the reference backend");
    rc = 1;
  }
  if (!rc) bu_note(e.r, "device", "%s", clt_context_device_name(e.ctx));
  static const clt_loss_kind kinds[] = {CLT_LOSS_CROSS_ENTROPY, CLT_LOSS_HINGE};
  if (!rc) {
    printf("# the trainer's step: N=256 gathered from 60000 x 784, C=10, AdamW\n");
    rc = make_problem(&pb, 256, 784, 10, 60000);
    for (size_t k = 0; k < LEN(kinds) && !rc; k++)
      rc = bench_shape(&e, &pb, TRAIN, kinds[k]);
    free_problem(&pb);
  }
  for (size_t k = 0; k < peer_shapes(&o) && !rc; k++) {
    size_t n, d, c;
    if (!peer_shape(&o, k, &n, &d, &c)) continue;
    printf("# peers' step: N=%zu D=%zu C=%zu, X resident, SGD, l2 2e-4\n", n,
           d, c);
    rc = make_problem(&pb, n, d, c, 0);
    for (size_t q = 0; q < LEN(kinds) && !rc; q++)
      rc = bench_shape(&e, &pb, PEER, kinds[q]);
    free_problem(&pb);
  }
  clt_context_destroy(e.ctx);
  clt_context_destroy(e.pctx);
  free(e.t);
  int frc = bu_report_finish(e.r);
  return rc ? 1 : frc;
}
