/* One training step of a linear classifier on the cltrain device, launch by
   launch: clt_linear_loss_grad ("cltrain", the op the trainer uses) next to
   the composition of the separate ops ("cltrain-composition":
   clt_linear_forward, clt_loss, clt_linear_backward, clt_regularize), each
   followed by one optimizer launch, as in `cltrain train`.

   Shapes: the trainer's step (N=256 rows gathered on the device from a
   60000 x 784 data set through a permutation, C=10, AdamW on a group
   holding W and b) and the peers' step (bench/peers.py: X resident, no
   gather, l2 = 2e-4, plain SGD) at N in {4096, 16384, 65536},
   D in {784, 3072}, C = 10 (and C = 32 without --quick).

   Per-launch times. The program defines clEnqueueNDRangeKernel and the
   other enqueue calls itself: the library (linked statically) calls these,
   which forward to the OpenCL loader's (dlsym RTLD_NEXT). While profiling
   they give every command an event on a queue created with
   CL_QUEUE_PROFILING_ENABLE (clCreateCommandQueue is wrapped too), so the
   device's start and end of each kernel, fill and read-back are known
   without touching the library; they also count launches and host syncs
   (blocking reads, clFinish). Wall times come from a second context whose
   queue profiles nothing.

   Records: "train_step" and "step_softmax" / "step_hinge" (samples/s of the
   whole step, floor "step" as in peers.py), "op_xread_<loss>" (bytes of X
   the op reads, two passes, over the op's time alone, floor "sum"), and
   per-launch device times "launch:<kernel>" (unit s). The read bandwidth
   the X-read figures are compared with is measured here (OpenMP sum over
   256 MiB), and the fused forward pass is also timed as plain C with
   OpenMP ("c-openmp", op "fwd_loss_xread"): the same loop compiled by gcc
   instead of POCL. Every path is validated against the composition before
   it is timed; warm-up runs (kernel compilation) are not timed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "internal.h"

#define WARMUP 2
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------ interposition */

typedef struct cmd {
  cl_event ev;
  const char *label; /* interned */
} cmd;

static struct {
  int profile_queues; /* clCreateCommandQueue adds profiling */
  int record;         /* commands get events and are recorded */
  long launches, syncs;
  cmd *v;
  size_t n, cap;
  char *names[64];
  size_t nnames;
} prof;

static void *real_fn(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (!f) {
    fprintf(stderr, "bench_step: no %s in the OpenCL loader\n", name);
    abort();
  }
  return f;
}

/* The loader's function called name, looked up once into *slot. */
#define REAL(slot, name)                                                      \
  do {                                                                        \
    if (!(slot)) {                                                            \
      void *f_ = real_fn(name);                                               \
      memcpy(&(slot), &f_, sizeof(slot));                                     \
    }                                                                         \
  } while (0)

static const char *intern(const char *s) {
  for (size_t i = 0; i < prof.nnames; i++)
    if (strcmp(prof.names[i], s) == 0) return prof.names[i];
  if (prof.nnames == LEN(prof.names)) return "other";
  char *c = strdup(s);
  if (!c) return "other";
  return prof.names[prof.nnames++] = c;
}

/* Keeps e (one reference owned here) under label while recording. */
static void note_cmd(cl_event e, const char *label) {
  if (prof.n == prof.cap) {
    size_t cap = prof.cap ? 2 * prof.cap : 256;
    cmd *v = realloc(prof.v, cap * sizeof *v);
    if (!v) {
      clReleaseEvent(e);
      return;
    }
    prof.v = v, prof.cap = cap;
  }
  prof.v[prof.n++] = (cmd){e, label};
}

/* The event pointer to hand to the loader: the caller's, or ours while
   recording; after the call, record(...) keeps a reference. */
static cl_event *event_arg(cl_event *caller, cl_event *mine) {
  return caller ? caller : prof.record ? mine : NULL;
}
static void record(cl_int err, cl_event *caller, cl_event mine,
                   const char *label) {
  if (err != CL_SUCCESS || !prof.record) return;
  if (caller) {
    clRetainEvent(*caller);
    mine = *caller;
  }
  note_cmd(mine, label);
}

CL_API_ENTRY cl_command_queue CL_API_CALL clCreateCommandQueue(
    cl_context context, cl_device_id device,
    cl_command_queue_properties properties, cl_int *errcode_ret) {
  static cl_command_queue(CL_API_CALL * f)(cl_context, cl_device_id,
                                           cl_command_queue_properties,
                                           cl_int *);
  REAL(f, "clCreateCommandQueue");
  if (prof.profile_queues) properties |= CL_QUEUE_PROFILING_ENABLE;
  return f(context, device, properties, errcode_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueNDRangeKernel(
    cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
    const size_t *global, const size_t *local, cl_uint nwait,
    const cl_event *wait, cl_event *event) {
  static cl_int(CL_API_CALL * f)(cl_command_queue, cl_kernel, cl_uint,
                                 const size_t *, const size_t *,
                                 const size_t *, cl_uint, const cl_event *,
                                 cl_event *);
  REAL(f, "clEnqueueNDRangeKernel");
  cl_event mine = NULL;
  cl_int err = f(q, k, dims, off, global, local, nwait, wait,
                 event_arg(event, &mine));
  prof.launches++;
  if (prof.record && err == CL_SUCCESS) {
    char name[128] = "kernel";
    clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    record(err, event, mine, intern(name));
  }
  return err;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueReadBuffer(
    cl_command_queue q, cl_mem buf, cl_bool blocking, size_t off, size_t size,
    void *ptr, cl_uint nwait, const cl_event *wait, cl_event *event) {
  static cl_int(CL_API_CALL * f)(cl_command_queue, cl_mem, cl_bool, size_t,
                                 size_t, void *, cl_uint, const cl_event *,
                                 cl_event *);
  REAL(f, "clEnqueueReadBuffer");
  cl_event mine = NULL;
  cl_int err = f(q, buf, blocking, off, size, ptr, nwait, wait,
                 event_arg(event, &mine));
  prof.syncs += blocking != CL_FALSE;
  record(err, event, mine, blocking ? "read-back (blocking)" : "read-back");
  return err;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueFillBuffer(
    cl_command_queue q, cl_mem buf, const void *pattern, size_t psize,
    size_t off, size_t size, cl_uint nwait, const cl_event *wait,
    cl_event *event) {
  static cl_int(CL_API_CALL * f)(cl_command_queue, cl_mem, const void *,
                                 size_t, size_t, size_t, cl_uint,
                                 const cl_event *, cl_event *);
  REAL(f, "clEnqueueFillBuffer");
  cl_event mine = NULL;
  cl_int err = f(q, buf, pattern, psize, off, size, nwait, wait,
                 event_arg(event, &mine));
  prof.launches++;
  record(err, event, mine, "fill");
  return err;
}

CL_API_ENTRY cl_int CL_API_CALL clFinish(cl_command_queue q) {
  static cl_int(CL_API_CALL * f)(cl_command_queue);
  REAL(f, "clFinish");
  prof.syncs++;
  return f(q);
}

/* Device time per label over the profiled steps: sec[label * steps + k]
   is step k's total for that label. */
#define MAX_LABELS 32
typedef struct profile {
  const char *label[MAX_LABELS];
  double count[MAX_LABELS]; /* commands over all steps */
  double *sec;
  size_t nl, steps;
  double busy, span; /* totals: sum of command times; first start to last end */
} profile;

/* Folds the commands recorded during step k into p and releases them. */
static void profile_take(profile *p, size_t k) {
  cl_ulong first = 0, last = 0;
  for (size_t i = 0; i < prof.n; i++) {
    cl_ulong s = 0, e = 0;
    clGetEventProfilingInfo(prof.v[i].ev, CL_PROFILING_COMMAND_START, sizeof s,
                            &s, NULL);
    clGetEventProfilingInfo(prof.v[i].ev, CL_PROFILING_COMMAND_END, sizeof e,
                            &e, NULL);
    clReleaseEvent(prof.v[i].ev);
    if (!first || s < first) first = s;
    if (e > last) last = e;
    size_t t = 0;
    while (t < p->nl && p->label[t] != prof.v[i].label) t++;
    if (t == MAX_LABELS) continue;
    if (t == p->nl) p->label[p->nl++] = prof.v[i].label;
    p->count[t] += 1;
    p->sec[t * p->steps + k] += 1e-9 * (double)(e - s);
    p->busy += 1e-9 * (double)(e - s);
  }
  p->span += 1e-9 * (double)(last - first);
  prof.n = 0;
}

/* ------------------------------------------------------------- jobs */

typedef enum mode {
  TRAIN, /* gather + op + optimizer (AdamW), as `cltrain train` */
  PEER,  /* op + optimizer (SGD), X resident, as peers.py's step */
  OP     /* the op alone */
} mode;

typedef struct job {
  clt_context *ctx;
  mode mode;
  int composition;
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
  if (!j->composition)
    return clt_linear_loss_grad(j->ctx, &j->loss, &j->reg, j->X, j->y, j->W,
                                j->b, &j->value, j->dW, j->db);
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
    CLT_TRY(clt_gather_rows_unchecked(j->X, j->src, j->perm, j->first));
    CLT_TRY(clt_gather_rows_unchecked(j->y, j->ysrc, j->perm, j->first));
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

/* The op's loss, dW and db against the composition's on the same inputs
   (the op first: both start from the same W). Tolerance: float32 sums of
   up to N*D terms in different orders. */
static int validate(job *j) {
  size_t dc = j->W->rows * j->W->cols, c = j->W->cols;
  float *g[2][2];
  double v[2];
  int rc = 0;
  for (int k = 0; k < 2; k++) {
    j->composition = k;
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
  for (int q = 0; q < 2 && !rc; q++) {
    size_t m = q ? c : dc;
    double scale = 0, err = 0;
    for (size_t i = 0; i < m; i++) {
      scale = fmax(scale, fabs(g[1][q][i]));
      err = fmax(err, fabs((double)g[0][q][i] - g[1][q][i]));
    }
    if (err > 1e-4 * scale + 1e-7) {
      fprintf(stderr, "bench_step: %s of the op and of the composition differ "
              "by %g (max |value| %g)\n", q ? "db" : "dW", err, scale);
      rc = 1;
    }
  }
  if (!rc && !(fabs(v[0] - v[1]) <= 1e-5 * fabs(v[1]) + 1e-6)) {
    fprintf(stderr, "bench_step: loss %.9g (op) vs %.9g (composition)\n", v[0],
            v[1]);
    rc = 1;
  }
  for (int k = 0; k < 2; k++) free(g[k][0]), free(g[k][1]);
  j->composition = 0;
  return rc;
}

typedef struct sum_arg {
  const float *a;
  size_t n;
  double s;
} sum_arg;

static int omp_sum(void *p) {
  sum_arg *x = p;
  double s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
  for (size_t i = 0; i < x->n; i++) s += x->a[i];
  x->s = s;
  return 0;
}

/* The fused forward pass as plain C (OpenMP over rows, gcc's vectorizer
   over D): scores of each row against W transposed (C,D), softmax
   cross-entropy and dS = (p - onehot)/N. What POCL is compared with. */
typedef struct cfwd {
  const float *x, *wt;
  const int32_t *y;
  float *ds;
  size_t n, d, c;
  double loss;
} cfwd;

static int c_fused_forward(void *p) {
  cfwd *a = p;
  size_t n = a->n, d = a->d, c = a->c;
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (size_t i = 0; i < n; i++) {
    const float *restrict xr = a->x + i * d;
    float s[64] = {0}, m = -INFINITY, z = 0;
    for (size_t k = 0; k < c; k++) {
      const float *restrict wr = a->wt + k * d;
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (size_t q = 0; q < d; q++) acc += xr[q] * wr[q];
      s[k] = acc;
      m = fmaxf(m, acc);
    }
    for (size_t k = 0; k < c; k++) z += expf(s[k] - m);
    float lz = logf(z);
    total += (double)(m + lz - s[a->y[i]]);
    for (size_t k = 0; k < c; k++)
      a->ds[i * c + k] =
          (expf(s[k] - m - lz) - (k == (size_t)a->y[i] ? 1.0f : 0.0f)) / (float)n;
  }
  a->loss = total / (double)n;
  return 0;
}

/* ---------------------------------------------------------- reporting */

static const char *impl_name(int composition) {
  return composition ? "cltrain-composition" : "cltrain";
}

static const char *loss_name(clt_loss_kind k) {
  return k == CLT_LOSS_HINGE ? "hinge" : "softmax";
}

/* Profiles `steps` steps of j on its (profiling) context and prints and
   records the per-launch device times. */
static int profile_job(bu_report *r, job *j, size_t steps) {
  profile p = {.steps = steps, .sec = calloc(steps * MAX_LABELS, sizeof(double))};
  if (!p.sec) return 1;
  long l0 = prof.launches, s0 = prof.syncs;
  size_t iters = j->iters;
  j->iters = 1;
  int rc = 0;
  for (size_t k = 0; k < steps && !rc; k++) {
    prof.record = 1;
    rc = run(j);
    prof.record = 0;
    profile_take(&p, k);
  }
  j->iters = iters;
  double launches = (double)(prof.launches - l0) / (double)steps;
  double syncs = (double)(prof.syncs - s0) / (double)steps - 1; /* run's finish */
  if (!rc)
    printf("  %s, %s N=%zu D=%zu C=%zu: %.1f launches and fills, %.1f host "
           "syncs per step (besides the final finish)\n",
           impl_name(j->composition), loss_name(j->loss.kind), j->X->rows,
           j->X->cols, j->W->cols, launches, syncs);
  for (size_t t = 0; t < p.nl && !rc; t++) {
    double *v = p.sec + t * steps;
    char op[96];
    snprintf(op, sizeof op, "launch:%s", p.label[t]);
    bu_rec rec = {.suite = "step", .op = op, .impl = impl_name(j->composition),
                  .n = (long long)j->X->rows, .d = (long long)j->X->cols,
                  .c = (long long)j->W->cols};
    bu_stats s = bu_summarize(v, (int)steps);
    printf("    %-30s x%-4.3g median %9.1f us  [%.1f .. %.1f]\n", p.label[t],
           p.count[t] / (double)steps, 1e6 * s.median, 1e6 * s.min,
           1e6 * s.max);
    rc = bu_add(r, &rec, v, (int)steps);
  }
  if (!rc)
    printf("    device busy %.1f us, first start to last end %.1f us per "
           "step (means)\n",
           1e6 * p.busy / (double)steps, 1e6 * p.span / (double)steps);
  free(p.sec);
  return rc;
}

typedef struct env {
  bu_report *r;
  const bu_opts *o;
  clt_context *ctx, *pctx; /* plain and profiling contexts */
  double read_gbs;
  double *t;
} env;

/* Wall-times iters-step repetitions of j; t gets seconds per step. */
static int time_job(env *e, job *j) {
  if (bu_time(run, j, WARMUP, e->o->reps, e->t)) return 1;
  for (int i = 0; i < e->o->reps; i++) e->t[i] /= (double)j->iters;
  return 0;
}

/* Both impls of one loss at one shape and mode: validate, time, profile. */
static int bench_shape(env *e, const problem *pb, mode m, clt_loss_kind kind) {
  job j, pj;
  int rc = 1;
  size_t n = pb->n, d = pb->d, c = pb->c;
  size_t iters = n <= 1024 ? 50 : n <= 16384 ? 4 : 1;
  size_t psteps = e->o->quick ? 20 : 50;
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
  for (int comp = 0; comp < 2; comp++) {
    j.composition = pj.composition = comp;
    bu_rec rec = {.suite = "step", .impl = impl_name(comp), .n = (long long)n,
                  .d = (long long)d, .c = (long long)c};
    mode keep = j.mode;
    j.mode = OP;
    if (time_job(e, &j)) goto done;
    j.mode = keep;
    snprintf(opname, sizeof opname, "op_xread_%s", ln);
    rec.op = opname, rec.floor = "sum", rec.bytes = 2.0 * 4 * n * d;
    if (bu_add(e->r, &rec, e->t, e->o->reps)) goto done;
    double op_s = e->t[e->o->reps / 2];
    if (time_job(e, &j)) goto done;
    snprintf(opname, sizeof opname, m == TRAIN ? "train_step_%s" : "step_%s", ln);
    rec.op = opname, rec.floor = "step", rec.bytes = 0, rec.samples = (double)n;
    if (bu_add(e->r, &rec, e->t, e->o->reps)) goto done;
    printf("  => %s %s: X read (2 passes) at %.1f GB/s = %.0f %% of the "
           "measured read bandwidth (%.1f GB/s)\n",
           impl_name(comp), ln, 8.0 * n * d / op_s * 1e-9,
           100 * 8.0 * n * d / op_s * 1e-9 / e->read_gbs, e->read_gbs);
    if (WARMUP && run(&pj)) goto done;
    if (profile_job(e->r, &pj, psteps)) goto done;
  }
  rc = 0;
done:
  free_job(&j);
  free_job(&pj);
  return rc;
}

/* The fused forward loop as plain C at one shape. */
static int bench_c_forward(env *e, const problem *pb) {
  size_t n = pb->n, d = pb->d, c = pb->c;
  cfwd a = {pb->x, NULL, pb->y, malloc(n * c * sizeof(float)), n, d, c, 0};
  float *wt = malloc(c * d * sizeof *wt);
  int rc = 1;
  if (a.ds && wt) {
    for (size_t k = 0; k < c; k++)
      for (size_t q = 0; q < d; q++) wt[k * d + q] = pb->w[q * c + k];
    a.wt = wt;
    rc = bu_time(c_fused_forward, &a, WARMUP, e->o->reps, e->t);
  }
  if (!rc)
    rc = bu_add(e->r,
                &(bu_rec){.suite = "step", .op = "fwd_loss_xread",
                          .impl = "c-openmp", .floor = "sum",
                          .n = (long long)n, .d = (long long)d,
                          .c = (long long)c, .bytes = 4.0 * n * d},
                e->t, e->o->reps);
  free(a.ds);
  free(wt);
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

/* The read bandwidth the X-read figures are fractions of: a read-only
   OpenMP sum over 256 MiB, as bench_floors' "sum". */
static int measure_read(env *e) {
  size_t n = (size_t)64 << 20;
  float *a = malloc(n * sizeof *a);
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
  return rc;
}

int main(int argc, char **argv) {
  bu_opts o;
  int rc = bu_parse(argc, argv,
                    "One training step (clt_linear_loss_grad and the "
                    "composition of the separate ops), launch by launch.",
                    &o);
  if (rc >= 0) return rc;
  env e = {.o = &o, .t = malloc((size_t)o.reps * sizeof(double))};
  clt_status st = clt_context_create(&(clt_context_options){o.device}, &e.ctx);
  prof.profile_queues = 1;
  if (st == CLT_OK)
    st = clt_context_create(&(clt_context_options){o.device}, &e.pctx);
  prof.profile_queues = 0;
  if (st != CLT_OK || clt_context_is_reference(e.ctx) || !e.t) {
    fprintf(stderr, "bench_step: needs an OpenCL device: %s\n",
            st != CLT_OK ? clt_last_error(NULL) : "got the reference backend");
    clt_context_destroy(e.ctx);
    clt_context_destroy(e.pctx);
    free(e.t);
    return 1;
  }
  e.r = bu_report_create("bench_step", &o);
  rc = !e.r;
  if (!rc) {
    bu_note(e.r, "device", "%s", clt_context_device_name(e.ctx));
    bu_note(e.r, "threads", "OpenMP %d", omp_get_max_threads());
    rc = measure_read(&e);
  }
  static const clt_loss_kind kinds[] = {CLT_LOSS_CROSS_ENTROPY, CLT_LOSS_HINGE};
  problem pb;
  if (!rc) {
    printf("# the trainer's step: N=256 gathered from 60000 x 784, C=10, AdamW\n");
    rc = make_problem(&pb, 256, 784, 10, 60000);
    for (size_t k = 0; k < LEN(kinds) && !rc; k++)
      rc = bench_shape(&e, &pb, TRAIN, kinds[k]);
    free_problem(&pb);
  }
  static const size_t ns[] = {4096, 16384, 65536}, ds[] = {784, 3072},
                      cs[] = {10, 32};
  for (size_t ci = 0; ci < (o.quick ? 1u : 2u) && !rc; ci++)
    for (size_t di = 0; di < (o.quick ? 1u : 2u) && !rc; di++)
      for (size_t ni = 0; ni < (o.quick ? 2u : 3u) && !rc; ni++) {
        printf("# peers' step: N=%zu D=%zu C=%zu, X resident, SGD, l2 2e-4\n",
               ns[ni], ds[di], cs[ci]);
        rc = make_problem(&pb, ns[ni], ds[di], cs[ci], 0);
        for (size_t k = 0; k < LEN(kinds) && !rc; k++)
          rc = bench_shape(&e, &pb, PEER, kinds[k]);
        if (!rc) rc = bench_c_forward(&e, &pb);
        free_problem(&pb);
      }
  clt_context_destroy(e.ctx);
  clt_context_destroy(e.pctx);
  free(e.t);
  int frc = e.r ? bu_report_finish(e.r) : 1;
  return rc ? 1 : frc;
}
