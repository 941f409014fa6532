/* clt_linear_forward (S = X W + b) and clt_linear_backward (dW = X^T dS and
   db; dX not asked for, as in training) on the cltrain device, through each
   OpenCL path: the automatic choice ("cltrain"), the skinny-GEMM kernels
   ("cltrain-kernels") and CLBlast ("cltrain-clblast"). GFLOP/s count 2NDC
   per call (the SGEMM floor and OpenBLAS at the same shapes come from
   bench_floors); for skinny C the same calls are also reported as X-read
   GB/s (N*D*4 bytes per call, floor "sum"), since reading X is their cost.

   Every path is checked against a double-precision probe of the result
   before it is timed; the warm-up call (program builds, CLBlast's kernel
   compilation) is not timed. Shapes: N in {4096, 16384, 65536}, D in
   {784, 3072}, C in {10, 100, 1000} on the automatic path, each path at
   N = 16384; without --quick a sweep over C at D = 784 also shows where
   the kernels stop beating CLBlast (the device profile's
   linear_kernel_max_c).

   --shape N,D,C (repeatable) times only those shapes, on the kernels and
   on OpenBLAS's SGEMM with the same operands ("openblas", right after the
   device so both see the same machine load): for quick A/B runs while
   tuning the kernels. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchutil.h"
#include "cl/cl_internal.h"

/* Class counts whose records also give the X read rate (skinny shapes). */
#define SKINNY_MAX_C 32

#define WARMUP 1

typedef struct job {
  clt_context *ctx;
  clt_tensor *X, *W, *b, *S, *dS, *dW, *db;
  clt_linear_path path;
  int backward;
  const float *x, *w, *g; /* host operands for OpenBLAS */
  float *out;
} job;

/* The same product with OpenBLAS on the host (no bias: forward is X W). */
static int run_openblas(void *p) {
  job *j = p;
  int n = (int)j->X->rows, d = (int)j->X->cols, c = (int)j->W->cols;
  if (j->backward)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, c, n, 1, j->x, d,
                j->g, c, 0, j->out, c);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, c, d, 1, j->x,
                d, j->w, c, 0, j->out, c);
  return 0;
}

static int run(void *p) {
  job *j = p;
  clt_status st =
      j->backward
          ? clt_cl_linear_backward(j->ctx, j->X, j->W, j->dS, j->dW, j->db,
                                   NULL, j->path)
          : clt_cl_linear_forward(j->ctx, j->X, j->W, j->b, j->S, j->path);
  if (st == CLT_OK) st = clt_context_finish(j->ctx);
  if (st != CLT_OK) {
    fprintf(stderr, "bench_linear: %s: %s\n", clt_status_str(st),
            clt_last_error(j->ctx));
    return 1;
  }
  return 0;
}

static void fill(float *v, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    uint64_t z = (i + seed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    v[i] = (float)((z >> 40) * 0x1p-24) * 2.0f - 1.0f;
  }
}

/* Probes a few elements of S (forward) or dW (backward) in double. */
static int check(const job *j, const float *x, const float *w,
                 const float *b, const float *g, size_t n, size_t d,
                 size_t c) {
  size_t rows = j->backward ? d : n, inner = j->backward ? n : d;
  const clt_tensor *out = j->backward ? j->dW : j->S;
  float *got = malloc(rows * c * sizeof *got);
  if (!got || clt_tensor_read(out, got, rows * c * sizeof *got) != CLT_OK) {
    free(got);
    fprintf(stderr, "bench_linear: cannot read the result back\n");
    return 1;
  }
  const size_t probes[][2] = {{0, 0}, {rows - 1, c - 1}, {rows / 2, c / 2}};
  int bad = 0;
  for (int k = 0; k < 3 && !bad; k++) {
    size_t i = probes[k][0], q = probes[k][1];
    double want = j->backward ? 0.0 : b[q], mag = 0;
    for (size_t l = 0; l < inner; l++) {
      double t = j->backward ? (double)x[l * d + i] * g[l * c + q]
                             : (double)x[i * d + l] * w[l * c + q];
      want += t, mag += fabs(t);
    }
    if (fabs(got[i * c + q] - want) > 1e-5 * mag + 1e-5) {
      fprintf(stderr, "bench_linear: %s N=%zu D=%zu C=%zu wrong at (%zu,%zu): "
              "%g vs %g\n", j->backward ? "backward" : "forward", n, d, c, i,
              q, (double)got[i * c + q], want);
      bad = 1;
    }
  }
  free(got);
  return bad;
}

static const char *impl_name(clt_linear_path p) {
  return p == CLT_LINEAR_KERNEL    ? "cltrain-kernels"
         : p == CLT_LINEAR_CLBLAST ? "cltrain-clblast"
                                   : "cltrain";
}

/* Times forward and backward at (n, d, c) on every path in paths, then on
   OpenBLAS if openblas is set. */
static int shape(bu_report *r, const bu_opts *o, clt_context *ctx, size_t n,
                 size_t d, size_t c, const clt_linear_path *paths,
                 size_t npaths, int openblas) {
  float *x = malloc(n * d * sizeof *x), *w = malloc(d * c * sizeof *w);
  float *b = malloc(c * sizeof *b), *g = malloc(n * c * sizeof *g);
  float *out = openblas ? malloc((n > d ? n : d) * c * sizeof *out) : NULL;
  double *t = malloc((size_t)o->reps * sizeof *t);
  job j = {.ctx = ctx, .x = x, .w = w, .g = g, .out = out};
  clt_tensor **ts[] = {&j.X, &j.W, &j.b, &j.S, &j.dS, &j.dW, &j.db};
  const size_t rows[] = {n, d, 1, n, n, d, 1}, cols[] = {d, c, c, c, c, c, c};
  const float *init[] = {x, w, b, NULL, g, NULL, NULL};
  int rc = 1;
  if (!x || !w || !b || !g || !t || (openblas && !out)) {
    fprintf(stderr, "bench_linear: out of host memory\n");
    goto done;
  }
  fill(x, n * d, 1), fill(w, d * c, 2), fill(b, c, 3), fill(g, n * c, 4);
  for (size_t i = 0; i < 7; i++) {
    clt_status st = clt_tensor_create(ctx, rows[i], cols[i], CLT_FLOAT32, ts[i]);
    if (st == CLT_OK && init[i])
      st = clt_tensor_write(*ts[i], init[i], rows[i] * cols[i] * sizeof(float));
    if (st != CLT_OK) {
      fprintf(stderr, "bench_linear: tensors: %s\n", clt_last_error(ctx));
      goto done;
    }
  }
  for (size_t p = 0; p < npaths; p++)
    for (int bw = 0; bw < 2; bw++) {
      j.path = paths[p];
      j.backward = bw;
      if (run(&j) || check(&j, x, w, b, g, n, d, c) ||
          bu_time(run, &j, WARMUP, o->reps, t))
        goto done;
      const char *op = bw ? "linear_backward" : "linear_forward";
      bu_rec rec = {.suite = "linear", .op = op, .impl = impl_name(paths[p]),
                    .floor = "sgemm", .n = (long long)n, .d = (long long)d,
                    .c = (long long)c, .flops = 2.0 * n * d * c};
      if (bu_add(r, &rec, t, o->reps)) goto done;
      if (c <= SKINNY_MAX_C) {
        rec.op = bw ? "linear_backward_xread" : "linear_forward_xread";
        rec.floor = "sum";
        rec.flops = 0;
        rec.bytes = 4.0 * n * d;
        if (bu_add(r, &rec, t, o->reps)) goto done;
      }
    }
  for (int bw = 0; bw < 2 && openblas; bw++) {
    j.backward = bw;
    if (bu_time(run_openblas, &j, WARMUP, o->reps, t)) goto done;
    bu_rec rec = {.suite = "linear", .op = bw ? "linear_backward" : "linear_forward",
                  .impl = "openblas", .floor = "sgemm", .n = (long long)n,
                  .d = (long long)d, .c = (long long)c, .flops = 2.0 * n * d * c};
    if (bu_add(r, &rec, t, o->reps)) goto done;
  }
  rc = 0;
done:
  for (size_t i = 0; i < 7; i++) clt_tensor_destroy(*ts[i]);
  free(x), free(w), free(b), free(g), free(out), free(t);
  return rc;
}

#define MAX_SHAPES 16

/* Takes the --shape N,D,C flags out of argv (the rest go to bu_parse).
   Returns -1 to go on, else 2 after a bad value (message printed). */
static int take_shapes(int *argc, char **argv, size_t sh[][3], size_t *nsh) {
  int k = 1;
  *nsh = 0;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--shape") != 0) {
      argv[k++] = argv[i];
      continue;
    }
    unsigned long v[3];
    char tail;
    if (i + 1 >= *argc || *nsh == MAX_SHAPES ||
        sscanf(argv[i + 1], "%lu,%lu,%lu%c", &v[0], &v[1], &v[2], &tail) != 3 ||
        !v[0] || !v[1] || !v[2] || v[0] > 1u << 20 || v[1] > 1u << 16 ||
        v[2] > 1u << 16) {
      fprintf(stderr, "%s: --shape wants N,D,C (positive; at most %d shapes)\n",
              argv[0], MAX_SHAPES);
      return 2;
    }
    for (int q = 0; q < 3; q++) sh[*nsh][q] = v[q];
    ++*nsh, ++i;
  }
  *argc = k;
  return -1;
}

int main(int argc, char **argv) {
  bu_opts o;
  size_t shapes[MAX_SHAPES][3], nshapes;
  int rc = take_shapes(&argc, argv, shapes, &nshapes);
  if (rc >= 0) return rc;
  rc = bu_parse(argc, argv,
                    "clt_linear_forward / clt_linear_backward GFLOP/s and "
                    "X-read GB/s on each OpenCL path.\n"
                    "--shape N,D,C (repeatable): only these shapes, on the "
                    "kernels and OpenBLAS.",
                    &o);
  if (rc >= 0) return rc;
  clt_context *ctx = NULL;
  clt_status st = clt_context_create(&(clt_context_options){.device = o.device}, &ctx);
  if (st != CLT_OK || clt_context_is_reference(ctx)) {
    fprintf(stderr, "bench_linear: needs an OpenCL device: %s\n",
            st != CLT_OK ? clt_last_error(NULL) : "got the reference backend");
    clt_context_destroy(ctx);
    return 1;
  }
  bu_report *r = bu_report_create("bench_linear", &o);
  if (!r) {
    clt_context_destroy(ctx);
    return 1;
  }
  bu_note(r, "device", "%s", clt_context_device_name(ctx));
  bu_note(r, "profile", "%s", clt_context_profile(ctx));
  bu_note(r, "kernel_max_c", "%zu", clt_cl_of(ctx)->profile.linear_kernel_max_c);
  static const clt_linear_path both[] = {CLT_LINEAR_AUTO, CLT_LINEAR_KERNEL,
                                         CLT_LINEAR_CLBLAST};
  /* The grid (OpenBLAS at the same shapes: bench_floors) on the
     automatic path; at N = 16384 and C in {10, 1000} also each path by
     itself. Calls of over 1e11 FLOPs get 3 repetitions. --quick: N =
     16384, D = 784, C in {10, 1000}, the automatic path. */
  static const size_t ns[] = {4096, 16384, 65536}, ds[] = {784, 3072},
                      cs[] = {10, 100, 1000};
  rc = 0;
  for (size_t i = 0; i < nshapes && !rc; i++)
    rc = shape(r, &o, ctx, shapes[i][0], shapes[i][1], shapes[i][2], both + 1,
               1, 1);
  for (size_t a = 0; a < 3 && !nshapes && !rc; a++)
    for (size_t i = 0; i < 2 && !rc; i++)
      for (size_t k = 0; k < 3 && !rc; k++) {
        size_t n = ns[a], d = ds[i], c = cs[k];
        if (o.quick && (n != 16384 || d != 784 || c == 100)) continue;
        int each = !o.quick && n == 16384 && c != 100;
        bu_opts ok = o;
        if (2.0 * n * d * c > 1e11 && ok.reps > 3) ok.reps = 3;
        rc = shape(r, &ok, ctx, n, d, c, both, each ? 3 : 1, 0);
      }
  static const size_t sweep[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256};
  size_t nsweep = nshapes || o.quick ? 0 : sizeof sweep / sizeof *sweep;
  for (size_t k = 0; k < nsweep && !rc; k++)
    rc = shape(r, &o, ctx, 16384, 784, sweep[k], both + 1, 2, 0);
  clt_context_destroy(ctx);
  int frc = bu_report_finish(r);
  return rc ? 1 : frc;
}
