/* The machine's floors, measured in the run that uses them: memory bandwidth
   (STREAM-style copy and triad, in-place axpy, read-only sum) on the host
   with OpenMP and through the OpenCL device, and OpenBLAS SGEMM on a large
   square and on the linear classifier's shapes (forward S = X W and weight
   gradient dW = X^T dS, N x D times D x C).

   Bytes counted per element, STREAM convention (write-allocate traffic not
   counted): copy b = a 8, triad a = b + s c 12, axpy y += s x 12 (the
   optimizers' pattern: read and write the same array), sum 4.
   Every kernel is checked against the expected values before it is timed;
   warm-up repetitions (first touch, program build, thread start) are not. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "cl/cl_internal.h"

#define WARMUP 2

/* ------------------------------------------------------------ memory */

typedef struct arrays {
  float *a, *b, *c;
  size_t n;
} arrays;

static const float SCALE = 3.0f;

static float pattern(size_t i) { return (float)(i % 1021) * 0.001f; }

static void check_value(const char *what, size_t i, float got, float want,
                        int *bad) {
  if (!*bad && fabsf(got - want) > 1e-5f * (1.0f + fabsf(want))) {
    fprintf(stderr, "bench_floors: %s wrong at %zu: %g, expected %g\n", what,
            i, got, want);
    *bad = 1;
  }
}

/* After copy (b = a) then triad (a = b + s c) then axpy (a += s b). */
static int check_arrays(const char *impl, const float *a, const float *b,
                        size_t n) {
  int bad = 0;
  for (size_t i = 0; i < n && !bad; i++) {
    float p = pattern(i), t = p + SCALE * 0.5f;
    check_value(impl, i, b[i], p, &bad);
    check_value(impl, i, a[i], t + SCALE * p, &bad);
  }
  return bad;
}

static double expected_sum(size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += pattern(i);
  return s;
}

static int check_sum(const char *impl, double got, double want) {
  if (fabs(got - want) > 1e-4 * fabs(want)) {
    fprintf(stderr, "bench_floors: %s sum %.9g, expected %.9g\n", impl, got,
            want);
    return 1;
  }
  return 0;
}

static int omp_copy(void *p) {
  arrays *x = p;
  float *restrict a = x->a, *restrict b = x->b;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < x->n; i++) b[i] = a[i];
  return 0;
}

static int omp_triad(void *p) {
  arrays *x = p;
  float *restrict a = x->a, *restrict b = x->b, *restrict c = x->c;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < x->n; i++) a[i] = b[i] + SCALE * c[i];
  return 0;
}

static int omp_axpy(void *p) {
  arrays *x = p;
  float *restrict a = x->a, *restrict b = x->b;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < x->n; i++) a[i] += SCALE * b[i];
  return 0;
}

static volatile double sum_sink;

static int omp_sum(void *p) {
  arrays *x = p;
  const float *restrict a = x->b;
  double s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
  for (size_t i = 0; i < x->n; i++) s += a[i];
  sum_sink = s;
  return 0;
}

/* The four memory figures of one implementation, recorded the same way. */
typedef struct mem_ops {
  const char *impl;
  bu_fn copy, triad, axpy, sum;
  void *arg;
} mem_ops;

static int time_mem(bu_report *r, const bu_opts *o, const mem_ops *m,
                    size_t n) {
  const struct {
    const char *op;
    bu_fn fn;
    double bytes_per_elem;
  } ops[] = {{"copy", m->copy, 8}, {"triad", m->triad, 12},
             {"axpy", m->axpy, 12}, {"sum", m->sum, 4}};
  double *t = malloc((size_t)o->reps * sizeof *t);
  if (!t) return 1;
  int rc = 0;
  for (size_t k = 0; k < sizeof ops / sizeof ops[0] && !rc; k++) {
    if (!ops[k].fn) continue;
    rc = bu_time(ops[k].fn, m->arg, WARMUP, o->reps, t);
    if (!rc)
      rc = bu_add(r,
                  &(bu_rec){.suite = "floors", .op = ops[k].op,
                            .impl = m->impl, .floor = ops[k].op,
                            .elems = (long long)n,
                            .bytes = ops[k].bytes_per_elem * (double)n},
                  t, o->reps);
  }
  free(t);
  return rc;
}

static int host_floors(bu_report *r, const bu_opts *o, size_t n) {
  arrays x = {aligned_alloc(64, n * sizeof(float)),
              aligned_alloc(64, n * sizeof(float)),
              aligned_alloc(64, n * sizeof(float)), n};
  int rc = 1;
  if (!x.a || !x.b || !x.c) {
    fprintf(stderr, "bench_floors: out of memory (3 x %zu floats)\n", n);
    goto done;
  }
  /* First touch by the threads that use each page. */
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) x.a[i] = pattern(i), x.c[i] = 0.5f;
  omp_copy(&x), omp_triad(&x), omp_axpy(&x), omp_sum(&x);
  if (check_arrays("openmp", x.a, x.b, n) ||
      check_sum("openmp", sum_sink, expected_sum(n)))
    goto done;
  rc = time_mem(r, o, &(mem_ops){"openmp", omp_copy, omp_triad, omp_axpy,
                                 omp_sum, &x},
                n);
done:
  free(x.a), free(x.b), free(x.c);
  return rc;
}

/* ------------------------------------------------- through OpenCL */

/* float4 loads and stores: on POCL's CPU device explicit vectors beat
   scalar work-items. The sum comes twice: work-items striding over the
   whole array (neighbours read neighbouring addresses: what a GPU wants)
   and one contiguous block per work-item (what a CPU core wants). */
static const char *cl_source =
    "kernel void floor_copy(global const float4 *a, global float4 *b) {\n"
    "  size_t i = get_global_id(0); b[i] = a[i];\n"
    "}\n"
    "kernel void floor_triad(global float4 *a, global const float4 *b,\n"
    "                        global const float4 *c, float s) {\n"
    "  size_t i = get_global_id(0); a[i] = b[i] + s * c[i];\n"
    "}\n"
    "kernel void floor_axpy(global float4 *a, global const float4 *b,\n"
    "                       float s) {\n"
    "  size_t i = get_global_id(0); a[i] += s * b[i];\n"
    "}\n"
    "kernel void floor_sum(global const float4 *a, ulong n4,\n"
    "                      global float *part) {\n"
    "  size_t g = get_global_id(0), step = get_global_size(0);\n"
    "  float4 acc = 0;\n"
    "  for (ulong i = g; i < n4; i += step) acc += a[i];\n"
    "  part[g] = acc.x + acc.y + acc.z + acc.w;\n"
    "}\n"
    "kernel void floor_sum_blocked(global const float4 *a, ulong n4,\n"
    "                              global float *part) {\n"
    "  size_t g = get_global_id(0), parts = get_global_size(0);\n"
    "  ulong chunk = (n4 + parts - 1) / parts, lo = g * chunk;\n"
    "  ulong hi = min(lo + chunk, n4);\n"
    "  float4 acc = 0;\n"
    "  for (ulong i = lo; i < hi; i++) acc += a[i];\n"
    "  part[g] = acc.x + acc.y + acc.z + acc.w;\n"
    "}\n";

enum { K_COPY, K_TRIAD, K_AXPY, K_SUM, K_SUM_BLOCKED, NK };
static const char *kernel_names[NK] = {"floor_copy", "floor_triad",
                                       "floor_axpy", "floor_sum",
                                       "floor_sum_blocked"};

typedef struct cl_floor {
  clt_context *ctx;
  cl_program prog;
  cl_kernel k[NK];
  cl_mem a, b, c, part;
  size_t n, parts; /* parts: work-items (and partial sums) of the sums */
  int iters; /* launches per timed repetition, to amortize launch cost */
} cl_floor;

static int cl_report(const char *call, cl_int err) {
  fprintf(stderr, "bench_floors: %s failed: %s (%d)\n", call,
          clt_cl_error_name(err), (int)err);
  return 1;
}

static int cl_run(cl_floor *f, int k) {
  size_t g = k == K_SUM || k == K_SUM_BLOCKED ? f->parts : f->n / 4;
  for (int i = 0; i < f->iters; i++) {
    cl_int err = clEnqueueNDRangeKernel(clt_cl_of(f->ctx)->queue, f->k[k], 1, NULL, &g,
                                        NULL, 0, NULL, NULL);
    if (err) return cl_report(kernel_names[k], err);
  }
  cl_int err = clFinish(clt_cl_of(f->ctx)->queue);
  return err ? cl_report("clFinish", err) : 0;
}
static int cl_copy(void *p) { return cl_run(p, K_COPY); }
static int cl_triad(void *p) { return cl_run(p, K_TRIAD); }
static int cl_axpy(void *p) { return cl_run(p, K_AXPY); }
static int cl_sum(void *p) { return cl_run(p, K_SUM); }
static int cl_sum_blocked(void *p) { return cl_run(p, K_SUM_BLOCKED); }

static int cl_setup(cl_floor *f) {
  clt_context *ctx = f->ctx;
  if (clt_cl_build(ctx, cl_source, &f->prog) != CLT_OK) {
    fprintf(stderr, "bench_floors: %s\n", clt_last_error(ctx));
    return 1;
  }
  cl_int err;
  for (int k = 0; k < NK; k++) {
    f->k[k] = clCreateKernel(f->prog, kernel_names[k], &err);
    if (err) return cl_report("clCreateKernel", err);
  }
  size_t bytes = f->n * sizeof(float);
  if (clt_cl_alloc(ctx, bytes, &f->a) || clt_cl_alloc(ctx, bytes, &f->b) ||
      clt_cl_alloc(ctx, bytes, &f->c) ||
      clt_cl_alloc(ctx, f->parts * sizeof(float), &f->part)) {
    fprintf(stderr, "bench_floors: %s\n", clt_last_error(ctx));
    return 1;
  }
  cl_float s = SCALE;
  cl_ulong n4 = f->n / 4;
  const struct {
    int k;
    cl_uint i;
    size_t size;
    const void *v;
  } args[] = {{K_COPY, 0, sizeof(cl_mem), &f->a},
              {K_COPY, 1, sizeof(cl_mem), &f->b},
              {K_TRIAD, 0, sizeof(cl_mem), &f->a},
              {K_TRIAD, 1, sizeof(cl_mem), &f->b},
              {K_TRIAD, 2, sizeof(cl_mem), &f->c},
              {K_TRIAD, 3, sizeof s, &s},
              {K_AXPY, 0, sizeof(cl_mem), &f->a},
              {K_AXPY, 1, sizeof(cl_mem), &f->b},
              {K_AXPY, 2, sizeof s, &s},
              {K_SUM, 0, sizeof(cl_mem), &f->b},
              {K_SUM, 1, sizeof n4, &n4},
              {K_SUM, 2, sizeof(cl_mem), &f->part},
              {K_SUM_BLOCKED, 0, sizeof(cl_mem), &f->b},
              {K_SUM_BLOCKED, 1, sizeof n4, &n4},
              {K_SUM_BLOCKED, 2, sizeof(cl_mem), &f->part}};
  for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
    err = clSetKernelArg(f->k[args[i].k], args[i].i, args[i].size, args[i].v);
    if (err) return cl_report("clSetKernelArg", err);
  }
  return 0;
}

static int cl_read(cl_floor *f, cl_mem m, size_t count, float *out) {
  cl_int err = clEnqueueReadBuffer(clt_cl_of(f->ctx)->queue, m, CL_TRUE, 0,
                                   count * sizeof *out, out, 0, NULL, NULL);
  return err ? cl_report("clEnqueueReadBuffer", err) : 0;
}

/* Fills a and c, runs each kernel once (iters is still 1) and checks the
   results. */
static int cl_validate(cl_floor *f) {
  size_t n = f->n;
  float *h = malloc(n * sizeof *h), *hb = malloc(n * sizeof *hb);
  float *part = malloc(f->parts * sizeof *part);
  int rc = 1;
  if (!h || !hb || !part) {
    fprintf(stderr, "bench_floors: out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < n; i++) h[i] = pattern(i);
  cl_float half = 0.5f;
  cl_command_queue q = clt_cl_of(f->ctx)->queue;
  cl_int err = clEnqueueWriteBuffer(q, f->a, CL_TRUE, 0, n * sizeof *h, h, 0,
                                    NULL, NULL);
  if (!err)
    err = clEnqueueFillBuffer(q, f->c, &half, sizeof half, 0, n * sizeof *h,
                              0, NULL, NULL);
  if (err) {
    rc = cl_report("initializing buffers", err);
    goto done;
  }
  rc = cl_copy(f) || cl_triad(f) || cl_axpy(f) || cl_read(f, f->a, n, h) ||
       cl_read(f, f->b, n, hb) || check_arrays("opencl", h, hb, n);
  double want = expected_sum(n);
  for (int k = K_SUM; k <= K_SUM_BLOCKED && !rc; k++) {
    rc = cl_run(f, k) || cl_read(f, f->part, f->parts, part);
    double got = 0;
    for (size_t g = 0; g < f->parts && !rc; g++) got += part[g];
    rc = rc || check_sum(kernel_names[k], got, want);
  }
done:
  free(h), free(hb), free(part);
  return rc;
}

/* Enough back-to-back launches per repetition that launch overhead is
   under ~1% of it (matters on a GPU, where one pass takes ~0.1 ms). */
static int cl_calibrate(cl_floor *f) {
  f->iters = 1;
  double t0 = bu_now();
  if (cl_copy(f)) return 1;
  double t = bu_now() - t0;
  f->iters = t >= 0.01 ? 1 : (int)(0.01 / (t > 1e-6 ? t : 1e-6)) + 1;
  return 0;
}

static void cl_teardown(cl_floor *f) {
  for (int k = 0; k < NK; k++)
    if (f->k[k]) clReleaseKernel(f->k[k]);
  if (f->prog) clReleaseProgram(f->prog), clt_cl_count(-1);
  cl_mem *mems[] = {&f->a, &f->b, &f->c, &f->part};
  for (size_t i = 0; i < 4; i++)
    if (*mems[i]) clt_cl_release_mem(*mems[i]);
}

static int device_floors(bu_report *r, const bu_opts *o, clt_context *ctx,
                         size_t n) {
  cl_uint units = 1;
  clGetDeviceInfo(clt_cl_of(ctx)->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units,
                  &units, NULL);
  cl_floor f = {.ctx = ctx, .n = n, .iters = 1,
                .parts = (units * 8 > 64 ? units * 8 : 64) * (size_t)256};
  int rc = cl_setup(&f) || cl_validate(&f) || cl_calibrate(&f);
  if (!rc) {
    bu_note(r, "opencl_launches_per_rep", "%d", f.iters);
    rc = time_mem(r, o, &(mem_ops){"opencl", cl_copy, cl_triad, cl_axpy,
                                   cl_sum, &f},
                  n) ||
         time_mem(r, o, &(mem_ops){"opencl-blocked", .sum = cl_sum_blocked,
                                   .arg = &f},
                  n);
  }
  cl_teardown(&f);
  return rc;
}

/* ---------------------------------------------------------- SGEMM */

typedef struct gemm {
  const float *x, *w;
  float *s;
  int n, d, c, backward;
} gemm;

/* forward S (n x c) = X (n x d) W (d x c); backward dW (d x c) = X^T dS,
   with dS (n x c) in w's place and dW in s's. */
static int run_gemm(void *p) {
  gemm *g = p;
  if (g->backward)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->d, g->c, g->n, 1,
                g->x, g->d, g->w, g->c, 0, g->s, g->c);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->c, g->d,
                1, g->x, g->d, g->w, g->c, 0, g->s, g->c);
  return 0;
}

static int check_gemm(const gemm *g) {
  int rows = g->backward ? g->d : g->n;
  int inner = g->backward ? g->n : g->d;
  const int probes[][2] = {{0, 0}, {rows - 1, g->c - 1}, {rows / 2, g->c / 2}};
  for (int k = 0; k < 3; k++) {
    int i = probes[k][0], j = probes[k][1];
    double want = 0, mag = 0;
    for (int l = 0; l < inner; l++) {
      double xv = g->backward ? g->x[(size_t)l * g->d + i]
                              : g->x[(size_t)i * g->d + l];
      double t = xv * g->w[(size_t)l * g->c + j];
      want += t, mag += fabs(t);
    }
    double got = g->s[(size_t)i * g->c + j];
    if (fabs(got - want) > 2e-4 * mag + 1e-6) {
      fprintf(stderr, "bench_floors: sgemm %s %dx%dx%d wrong at (%d,%d): %g "
              "vs %g\n", g->backward ? "backward" : "forward", g->n, g->d,
              g->c, i, j, got, want);
      return 1;
    }
  }
  return 0;
}

static void fill_random(float *v, size_t n, uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    uint64_t z = (i + seed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    v[i] = (float)((z >> 40) * 0x1p-24) * 2.0f - 1.0f;
  }
}

static int time_gemm(bu_report *r, const bu_opts *o, gemm *g, double *t,
                     const char *op) {
  if (run_gemm(g) || check_gemm(g)) return 1;
  if (bu_time(run_gemm, g, WARMUP - 1, o->reps, t)) return 1;
  return bu_add(r,
                &(bu_rec){.suite = "floors", .op = op, .impl = "openblas",
                          .floor = "sgemm", .n = g->n, .d = g->d, .c = g->c,
                          .flops = 2.0 * g->n * g->d * g->c},
                t, o->reps);
}

static int gemm_floors(bu_report *r, const bu_opts *o) {
  static const int full_n[] = {4096, 16384, 65536}, full_d[] = {784, 3072},
                   full_c[] = {10, 100, 1000};
  static const int quick_n[] = {16384}, quick_d[] = {784},
                   quick_c[] = {10, 1000};
  const int *ns = o->quick ? quick_n : full_n, *ds = o->quick ? quick_d : full_d,
            *cs = o->quick ? quick_c : full_c;
  int nn = o->quick ? 1 : 3, nd = o->quick ? 1 : 2, nc = o->quick ? 2 : 3;
  const int sq = o->quick ? 2048 : 4096; /* 2048^3 is within ~5% of it */
  size_t xmax = (size_t)ns[nn - 1] * (size_t)ds[nd - 1];
  size_t smax = (size_t)ns[nn - 1] * (size_t)cs[nc - 1];
  if (xmax < (size_t)sq * sq) xmax = (size_t)sq * sq;
  if (smax < (size_t)sq * sq) smax = (size_t)sq * sq;
  float *x = malloc(xmax * sizeof *x), *w = malloc(smax * sizeof *w);
  float *s = malloc(smax * sizeof *s);
  double *t = malloc((size_t)o->reps * sizeof *t);
  int rc = 1;
  if (!x || !w || !s || !t) {
    fprintf(stderr, "bench_floors: out of memory for SGEMM operands\n");
    goto done;
  }
  fill_random(x, xmax, 1);
  fill_random(w, smax, 2);
  fill_random(s, smax, 3);
  gemm g = {x, w, s, sq, sq, sq, 0};
  if (time_gemm(r, o, &g, t, "sgemm")) goto done;
  for (int k = 0; k < nc; k++)
    for (int j = 0; j < nd; j++)
      for (int i = 0; i < nn; i++)
        for (int b = 0; b < 2; b++) {
          g = (gemm){x, w, s, ns[i], ds[j], cs[k], b};
          if (time_gemm(r, o, &g, t,
                        b ? "linear_backward" : "linear_forward"))
            goto done;
        }
  rc = 0;
done:
  free(x), free(w), free(s), free(t);
  return rc;
}

int main(int argc, char **argv) {
  bu_opts o;
  int rc = bu_parse(argc, argv,
                    "Memory-bandwidth floors (host OpenMP and the OpenCL "
                    "device) and OpenBLAS SGEMM rates.",
                    &o);
  if (rc >= 0) return rc;
  /* 3 arrays of 256 MiB (64 MiB with --quick): far beyond the caches. */
  size_t n = (size_t)1 << (o.quick ? 24 : 26);
  bu_report *r = bu_report_create("bench_floors", &o);
  if (!r) return 1;
  const char *coretype = getenv("OPENBLAS_CORETYPE");
  bu_note(r, "threads", "OpenMP %d, OpenBLAS %d", omp_get_max_threads(),
          openblas_get_num_threads());
  bu_note(r, "openblas", "%s; core %s; OPENBLAS_CORETYPE %s",
          openblas_get_config(), openblas_get_corename(),
          coretype ? coretype : "unset");
  if (coretype)
    fprintf(stderr, "bench_floors: warning: OPENBLAS_CORETYPE=%s forces "
            "OpenBLAS's kernels for that core (about half speed here); "
            "scripts/bench unsets it\n", coretype);
  bu_note(r, "array_bytes", "%zu", n * sizeof(float));

  clt_context *ctx = NULL;
  clt_status st = clt_context_create(&(clt_context_options){.device = o.device}, &ctx);
  if (st != CLT_OK) {
    fprintf(stderr, "bench_floors: no cltrain context: %s (%s)\n",
            clt_status_str(st), clt_last_error(NULL));
    bu_report_finish(r);
    return 1;
  }
  bu_note(r, "device", "%s", clt_context_device_name(ctx));
  /* The device first: OpenMP's and OpenBLAS's idle threads must not be
     spinning while POCL's run. */
  rc = 0;
  if (clt_context_is_reference(ctx))
    bu_note(r, "opencl", "no OpenCL device: device floors skipped");
  else
    rc = device_floors(r, &o, ctx, n);
  clt_context_destroy(ctx);
  rc = rc || host_floors(r, &o, n) || gemm_floors(r, &o);
  int frc = bu_report_finish(r);
  return rc ? 1 : frc;
}
