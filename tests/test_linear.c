/* clt_linear_forward / clt_linear_backward: the OpenCL backend (both of its
   paths, the skinny-GEMM kernels and CLBlast) against the double-precision
   reference backend on random data at odd sizes, through row views with
   nonzero offsets; reproducibility, the CLBlast cache's hold on contexts,
   and bad input. PyTorch's own values are compared in test_linear_golden.c.

   Tolerance. Every output element is a float32 sum of K products (K = D
   for S, N for dW and db, C for dX) of inputs uniform in [-1,1) (W in
   [-0.5,0.5)); the reference accumulates in double and rounds once, so the
   difference is the device's float32 rounding. Summed in sequence, each of
   the K additions errs by up to 2^-24 (6e-8) of a running sum that grows
   like a random walk, and the errors have random signs: about 1e-8 K in
   all. Blocked and vectorized sums (our kernels, CLBlast) do better; the
   worst measured on POCL is 3.2e-5 at K = 1000 (CLBlast, dX) and 3.4e-5 at
   K = 4097 (kernels, dW). We allow |dev - ref| <= 1e-6 + 1e-7 K + 1e-5 |ref|:
   ten times the sequential estimate, three times the worst seen. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#if CLT_HAVE_OPENCL
#include "cl/cl_internal.h"
#endif

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 1234.5f
#define PAD_BEFORE 2 /* rows before every view */
#define PAD_AFTER 1

static double atol_for(size_t K) { return 1e-6 + 1e-7 * (double)K; }
#define RTOL 1e-5

static float *alloc_f(size_t n) {
  float *x = malloc((n ? n : 1) * sizeof *x);
  cr_assert_not_null(x);
  return x;
}

/* Host inputs of one problem. */
typedef struct problem {
  size_t n, d, c;
  float *X, *W, *b, *dS;
} problem;

static problem make_problem(size_t n, size_t d, size_t c, uint64_t seed) {
  problem p = {n, d, c, alloc_f(n * d), alloc_f(d * c), alloc_f(c),
               alloc_f(n * c)};
  tu_fill_uniform(p.X, n * d, seed, -1.0f, 1.0f);
  tu_fill_uniform(p.W, d * c, seed + 1, -0.5f, 0.5f);
  tu_fill_uniform(p.b, c, seed + 2, -1.0f, 1.0f);
  tu_fill_uniform(p.dS, n * c, seed + 3, -1.0f, 1.0f);
  return p;
}

static void free_problem(problem *p) {
  free(p->X);
  free(p->W);
  free(p->b);
  free(p->dS);
}

/* A (rows, cols) view at row PAD_BEFORE of a parent with sentinel rows
   around it; the view holds data, or NaN when data is NULL (an output:
   NaN catches any use of its old contents, as by a GEMM with beta != 0). */
typedef struct view {
  clt_tensor *parent, *t;
  size_t rows, cols;
} view;

static view make_view(clt_context *ctx, size_t rows, size_t cols,
                      const float *data) {
  size_t prow = rows + PAD_BEFORE + PAD_AFTER;
  float *h = alloc_f(prow * cols);
  for (size_t i = 0; i < prow * cols; i++) h[i] = SENTINEL;
  for (size_t i = 0; i < rows * cols; i++)
    h[PAD_BEFORE * cols + i] = data ? data[i] : NAN;
  view v = {tu_tensor(ctx, prow, cols, h), NULL, rows, cols};
  cr_assert_eq(clt_tensor_view_rows(v.parent, PAD_BEFORE, rows, &v.t), CLT_OK);
  free(h);
  return v;
}

/* The view's contents; asserts the rows around it still hold the sentinel. */
static float *read_view(const view *v, const char *what) {
  float *h = tu_read(v->parent);
  size_t before = PAD_BEFORE * v->cols, after = (PAD_BEFORE + v->rows) * v->cols;
  size_t total = (v->rows + PAD_BEFORE + PAD_AFTER) * v->cols;
  for (size_t i = 0; i < total; i++)
    if ((i < before || i >= after) && h[i] != SENTINEL)
      cr_assert_fail("%s: element %zu outside the view was written (%g)",
                     what, i, (double)h[i]);
  float *x = alloc_f(v->rows * v->cols);
  memcpy(x, h + before, v->rows * v->cols * sizeof *x);
  free(h);
  return x;
}

static void free_view(view *v) {
  clt_tensor_destroy(v->t);
  clt_tensor_destroy(v->parent);
}

/* Results of one problem on one backend. */
typedef struct result {
  float *S, *Sb, *dW, *db, *dX;
} result;

static void free_result(result *r) {
  free(r->S);
  free(r->Sb);
  free(r->dW);
  free(r->db);
  free(r->dX);
}

/* Runs forward (with and without b) and backward (with db and dX, and
   with neither) on ctx through views. path applies to OpenCL contexts. */
static result run(clt_context *ctx, const problem *p, tu_linear_path path) {
  view X = make_view(ctx, p->n, p->d, p->X), W = make_view(ctx, p->d, p->c, p->W);
  view b = make_view(ctx, 1, p->c, p->b), dS = make_view(ctx, p->n, p->c, p->dS);
  view S = make_view(ctx, p->n, p->c, NULL), Sb = make_view(ctx, p->n, p->c, NULL);
  view dW = make_view(ctx, p->d, p->c, NULL), dW2 = make_view(ctx, p->d, p->c, NULL);
  view db = make_view(ctx, 1, p->c, NULL), dX = make_view(ctx, p->n, p->d, NULL);
  clt_status st;
  st = tu_linear_forward(ctx, X.t, W.t, NULL, S.t, path);
  cr_assert_eq(st, CLT_OK, "forward: %s", clt_last_error(ctx));
  st = tu_linear_forward(ctx, X.t, W.t, b.t, Sb.t, path);
  cr_assert_eq(st, CLT_OK, "forward with b: %s", clt_last_error(ctx));
  st = tu_linear_backward(ctx, X.t, W.t, dS.t, dW.t, db.t, dX.t, path);
  cr_assert_eq(st, CLT_OK, "backward: %s", clt_last_error(ctx));
  st = tu_linear_backward(ctx, X.t, W.t, dS.t, dW2.t, NULL, NULL, path);
  cr_assert_eq(st, CLT_OK, "backward, dW only: %s", clt_last_error(ctx));
  result r = {read_view(&S, "S"), read_view(&Sb, "S with b"),
              read_view(&dW, "dW"), read_view(&db, "db"), read_view(&dX, "dX")};
  float *dw2 = read_view(&dW2, "dW alone");
  cr_expect_arr_eq(dw2, r.dW, p->d * p->c * sizeof *dw2,
                   "dW differs when db and dX are NULL");
  free(dw2);
  view *all[] = {&X, &W, &b, &dS, &S, &Sb, &dW, &dW2, &db, &dX};
  for (size_t i = 0; i < LEN(all); i++) free_view(all[i]);
  return r;
}

static void expect_result_close(const char *what, const problem *p,
                                const result *got, const result *want) {
  size_t n = p->n, d = p->d, c = p->c;
  double *w = malloc((n * d > d * c ? n * d : d * c) * sizeof *w + n * c * 8);
  cr_assert_not_null(w);
  char name[160];
#define CMP(field, count, K)                                                  \
  do {                                                                        \
    for (size_t i = 0; i < (count); i++) w[i] = want->field[i];              \
    snprintf(name, sizeof name, "%s N=%zu D=%zu C=%zu " #field, what, n, d,   \
             c);                                                              \
    tu_expect_close(name, got->field, w, (count), atol_for(K), RTOL);        \
  } while (0)
  CMP(S, n * c, d);
  CMP(Sb, n * c, d);
  CMP(dW, d * c, n);
  CMP(db, c, n);
  CMP(dX, n * d, c);
#undef CMP
  free(w);
}

/* Compares the OpenCL device (path) with the reference on (n, d, c). */
static void check_shape(clt_context *ref, clt_context *cl, size_t n, size_t d,
                        size_t c, tu_linear_path path, const char *what) {
  problem p = make_problem(n, d, c, 1000 * n + 10 * d + c);
  result want = run(ref, &p, TU_LINEAR_AUTO);
  result got = run(cl, &p, path);
  expect_result_close(what, &p, &got, &want);
  free_result(&want);
  free_result(&got);
  free_problem(&p);
}

static const size_t NS[] = {1, 7, 93, 1000, 4097};
static const size_t DS[] = {1, 13, 784};
static const size_t CS[] = {1, 2, 10, 1000};

/* Every (N, D, C) of the grid whose N*D*C stays under 1e8 products: the
   biggest combinations (C=1000 with D=784 beyond 93 rows) only cost time;
   each size still appears with every other. */
Test(linear, opencl_matches_reference, .timeout = 600) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device (or CLT_TEST_DEVICES excludes it)");
  clt_context *ref = tu_context("ref"), *cl = tu_context("cl");
  size_t cases = 0;
  for (size_t i = 0; i < LEN(NS); i++)
    for (size_t j = 0; j < LEN(DS); j++)
      for (size_t k = 0; k < LEN(CS); k++) {
        if ((double)NS[i] * DS[j] * CS[k] > 1e8) continue;
        check_shape(ref, cl, NS[i], DS[j], CS[k], TU_LINEAR_AUTO, "auto");
        cases++;
      }
  cr_expect_geq(cases, 55);
  clt_context_destroy(ref);
  clt_context_destroy(cl);
}

/* Both OpenCL paths at shapes the automatic choice sends to the other:
   the kernels at wide C (several class blocks, uneven last block), CLBlast
   at skinny C. */
Test(linear, both_paths_match_reference, .timeout = 600) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device (or CLT_TEST_DEVICES excludes it)");
  clt_context *ref = tu_context("ref"), *cl = tu_context("cl");
  static const size_t kc[] = {9, 17, 33, 100, 1000};
  for (size_t k = 0; k < LEN(kc); k++) {
    check_shape(ref, cl, 93, 784, kc[k], TU_LINEAR_KERNEL, "kernels");
    check_shape(ref, cl, 1000, 13, kc[k], TU_LINEAR_KERNEL, "kernels");
  }
  static const size_t bc[] = {1, 2, 10};
  for (size_t k = 0; k < LEN(bc); k++) {
    check_shape(ref, cl, 7, 784, bc[k], TU_LINEAR_CLBLAST, "clblast");
    check_shape(ref, cl, 1000, 13, bc[k], TU_LINEAR_CLBLAST, "clblast");
  }
  clt_context_destroy(ref);
  clt_context_destroy(cl);
}

/* The kernels' wide-C dW (clt_linear_dw_wide, C >= 64: tiles of 6 columns
   of X by 64 classes over blocks of 512 rows or more) at its edges: C just
   below, at and above the tile width (the last tile moved back inside by 1
   to 63 classes), D below, at and just above the tile height, N of one row,
   of one block, and of several blocks with a last block of a single row.
   Same tolerance as everywhere here. */
Test(linear, wide_dw_edges_match_reference, .timeout = 600) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device (or CLT_TEST_DEVICES excludes it)");
  clt_context *ref = tu_context("ref"), *cl = tu_context("cl");
  static const size_t shapes[][3] = {
      {1, 1, 64},    {7, 5, 63},    {513, 5, 65},  {1025, 6, 127},
      {700, 7, 128}, {64, 13, 200}, {93, 37, 1000}, {1537, 12, 96}};
  for (size_t k = 0; k < LEN(shapes); k++)
    check_shape(ref, cl, shapes[k][0], shapes[k][1], shapes[k][2],
                TU_LINEAR_KERNEL, "kernels");
  clt_context_destroy(ref);
  clt_context_destroy(cl);
}

/* The reference on a case small enough to do by hand:
   X = [1 2; 3 4; 5 6], W = [1 0 -1; 2 1 0], b = [0.5 0 -0.5], dS = [1 0 2; 0 1 0; -1 1 1]. */
Test(linear, reference_by_hand) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  float X[] = {1, 2, 3, 4, 5, 6}, W[] = {1, 0, -1, 2, 1, 0}, b[] = {0.5f, 0, -0.5f};
  float dSv[] = {1, 0, 2, 0, 1, 0, -1, 1, 1};
  double S[] = {5.5, 2, -1.5, 11.5, 4, -3.5, 17.5, 6, -5.5};
  double dW[] = {-4, 8, 7, -4, 10, 10};          /* X^T dS */
  double db[] = {0, 2, 3};                        /* column sums of dS */
  double dX[] = {-1, 2, 0, 1, -2, -1};            /* dS W^T */
  for (size_t v = 0; v < nd; v++) {
    clt_context *ctx = tu_context(devs[v]);
    clt_tensor *tX = tu_tensor(ctx, 3, 2, X), *tW = tu_tensor(ctx, 2, 3, W);
    clt_tensor *tb = tu_tensor(ctx, 1, 3, b), *tdS = tu_tensor(ctx, 3, 3, dSv);
    clt_tensor *tS = tu_tensor(ctx, 3, 3, NULL), *tdW = tu_tensor(ctx, 2, 3, NULL);
    clt_tensor *tdb = tu_tensor(ctx, 1, 3, NULL), *tdX = tu_tensor(ctx, 3, 2, NULL);
    cr_assert_eq(clt_linear_forward(ctx, tX, tW, tb, tS), CLT_OK);
    cr_assert_eq(clt_linear_backward(ctx, tX, tW, tdS, tdW, tdb, tdX), CLT_OK);
    float *s = tu_read(tS), *dw = tu_read(tdW), *dbv = tu_read(tdb), *dx = tu_read(tdX);
    tu_expect_close("S", s, S, 9, 0, 0);
    tu_expect_close("dW", dw, dW, 6, 0, 0);
    tu_expect_close("db", dbv, db, 3, 0, 0);
    tu_expect_close("dX", dx, dX, 6, 0, 0);
    free(s);
    free(dw);
    free(dbv);
    free(dx);
    clt_tensor *all[] = {tX, tW, tb, tdS, tS, tdW, tdb, tdX};
    for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
    clt_context_destroy(ctx);
  }
}

/* Same inputs, same bits: every reduction has a fixed order. */
Test(linear, opencl_results_are_reproducible, .timeout = 300) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device (or CLT_TEST_DEVICES excludes it)");
  clt_context *cl = tu_context("cl");
  static const size_t cs[] = {10, 1000};
  for (size_t k = 0; k < LEN(cs); k++) {
    problem p = make_problem(cs[k] > 100 ? 1000 : 4097, 784, cs[k], 77);
    result a = run(cl, &p, TU_LINEAR_AUTO), b = run(cl, &p, TU_LINEAR_AUTO);
    cr_expect_arr_eq(a.Sb, b.Sb, p.n * p.c * sizeof(float), "S, C=%zu", cs[k]);
    cr_expect_arr_eq(a.dW, b.dW, p.d * p.c * sizeof(float), "dW, C=%zu", cs[k]);
    cr_expect_arr_eq(a.db, b.db, p.c * sizeof(float), "db, C=%zu", cs[k]);
    cr_expect_arr_eq(a.dX, b.dX, p.n * p.d * sizeof(float), "dX, C=%zu", cs[k]);
    free_result(&a);
    free_result(&b);
    free_problem(&p);
  }
  clt_context_destroy(cl);
}

#if CLT_HAVE_OPENCL
/* CLBlast caches programs per cl_context and each holds a reference to the
   context; destroying ours must leave no reference behind (blas.c). */
Test(linear, clblast_releases_the_context, .timeout = 300) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device (or CLT_TEST_DEVICES excludes it)");
  long live = tu_live_objects();
  for (int round = 0; round < 2; round++) {
    clt_context *ctx = tu_context("cl");
    problem p = make_problem(64, 33, 40, 5);
    result r = run(ctx, &p, TU_LINEAR_CLBLAST);
    free_result(&r);
    free_problem(&p);
    cl_context raw = clt_cl_of(ctx)->context;
    cr_assert_eq(clRetainContext(raw), CL_SUCCESS);
    clt_context_destroy(ctx);
    /* The runtime may finish its own bookkeeping of completed commands a
       moment later; a reference held by a cache never goes away. */
    cl_uint refs = 0;
    for (int wait = 0; wait < 200; wait++) {
      cr_assert_eq(clGetContextInfo(raw, CL_CONTEXT_REFERENCE_COUNT,
                                    sizeof refs, &refs, NULL),
                   CL_SUCCESS);
      if (refs == 1) break;
      nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    cr_expect_eq(refs, 1, "round %d: %u references to a destroyed context",
                 round, refs);
    clReleaseContext(raw);
    cr_expect_eq(tu_live_objects(), live);
  }
}
#endif

/* ------------------------------------------------------------ bad input */

typedef struct fixture {
  clt_context *ctx, *other;
  clt_tensor *X, *W, *b, *S, *dS, *dW, *db, *dX, *labels, *wide, *otherX;
} fixture;

static fixture fixture_make(const char *dev) {
  fixture f = {.ctx = tu_context(dev), .other = tu_context(dev)};
  float x[7 * 5];
  tu_fill_uniform(x, LEN(x), 3, -1, 1);
  f.X = tu_tensor(f.ctx, 7, 5, x);
  f.W = tu_tensor(f.ctx, 5, 3, x);
  f.b = tu_tensor(f.ctx, 1, 3, x);
  f.dS = tu_tensor(f.ctx, 7, 3, x);
  f.wide = tu_tensor(f.ctx, 7, 5, x);
  f.otherX = tu_tensor(f.other, 7, 5, x);
  int32_t y[7] = {0};
  f.labels = tu_labels(f.ctx, 7, y);
  clt_tensor **outs[] = {&f.S, &f.dW, &f.db, &f.dX};
  size_t rows[] = {7, 5, 1, 7}, cols[] = {3, 3, 3, 5};
  for (size_t i = 0; i < LEN(outs); i++) {
    *outs[i] = tu_tensor(f.ctx, rows[i], cols[i], NULL);
    cr_assert_eq(clt_tensor_fill(*outs[i], SENTINEL), CLT_OK);
  }
  return f;
}

static void fixture_free(fixture *f) {
  clt_tensor *all[] = {f->X, f->W, f->b, f->S, f->dS, f->dW, f->db, f->dX,
                       f->labels, f->wide, f->otherX};
  for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
  clt_context_destroy(f->ctx);
  clt_context_destroy(f->other);
}

static void expect_outputs_untouched(const fixture *f, const char *what) {
  const clt_tensor *outs[] = {f->S, f->dW, f->db, f->dX};
  for (size_t i = 0; i < LEN(outs); i++) {
    float *x = tu_read(outs[i]);
    size_t n = clt_tensor_rows(outs[i]) * clt_tensor_cols(outs[i]);
    for (size_t k = 0; k < n; k++)
      if (x[k] != SENTINEL)
        cr_assert_fail("%s: output %zu element %zu was written", what, i, k);
    free(x);
  }
}

#define EXPECT_FAIL(f, call, want)                                            \
  do {                                                                        \
    clt_status st_ = (call);                                                  \
    cr_expect_eq(st_, (want), "%s: got %s (%s)", #call, clt_status_name(st_), \
                 clt_last_error((f)->ctx));                                   \
    cr_expect_neq(clt_last_error((f)->ctx)[0], '\0', "%s: no message", #call);\
    expect_outputs_untouched((f), #call);                                     \
  } while (0)

Test(linear, bad_input_is_refused) {
  const char *devs[2];
  size_t nd = tu_devices(devs);
  for (size_t v = 0; v < nd; v++) {
    fixture f = fixture_make(devs[v]);
    clt_context *c = f.ctx;
    cr_expect_eq(clt_linear_forward(NULL, f.X, f.W, f.b, f.S), CLT_ERR_INVALID_ARG);
    cr_expect_eq(clt_linear_backward(NULL, f.X, f.W, f.dS, f.dW, f.db, f.dX),
                 CLT_ERR_INVALID_ARG);
    /* NULL tensors */
    EXPECT_FAIL(&f, clt_linear_forward(c, NULL, f.W, f.b, f.S), CLT_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, clt_linear_forward(c, f.X, NULL, f.b, f.S), CLT_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, clt_linear_forward(c, f.X, f.W, f.b, NULL), CLT_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, clt_linear_backward(c, NULL, f.W, f.dS, f.dW, f.db, f.dX), CLT_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, NULL, f.dS, f.dW, f.db, f.dX), CLT_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, NULL, f.dW, f.db, f.dX), CLT_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dS, NULL, f.db, f.dX), CLT_ERR_INVALID_ARG);
    /* wrong dtype */
    EXPECT_FAIL(&f, clt_linear_forward(c, f.labels, f.W, f.b, f.S), CLT_ERR_DTYPE);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.labels, f.dW, f.db, f.dX), CLT_ERR_DTYPE);
    /* another context */
    EXPECT_FAIL(&f, clt_linear_forward(c, f.otherX, f.W, f.b, f.S), CLT_ERR_CONTEXT);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.otherX, f.W, f.dS, f.dW, f.db, f.dX), CLT_ERR_CONTEXT);
    /* mismatched shapes: W rows != D, b not (1,C), S/dS/dW/db/dX wrong */
    EXPECT_FAIL(&f, clt_linear_forward(c, f.X, f.dS, f.b, f.S), CLT_ERR_SHAPE);
    EXPECT_FAIL(&f, clt_linear_forward(c, f.X, f.W, f.dS, f.S), CLT_ERR_SHAPE);
    EXPECT_FAIL(&f, clt_linear_forward(c, f.X, f.W, f.b, f.dW), CLT_ERR_SHAPE);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dW, f.S, f.db, f.dX), CLT_ERR_SHAPE);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dS, f.S, f.db, f.dX), CLT_ERR_SHAPE);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dS, f.dW, f.S, f.dX), CLT_ERR_SHAPE);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dS, f.dW, f.db, f.S), CLT_ERR_SHAPE);
    /* an output sharing memory with an input or another output */
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dS, f.dW, f.db, f.X), CLT_ERR_INVALID_ARG);
    clt_tensor *rows = tu_tensor(c, 12, 3, NULL), *dWv = NULL, *dbv = NULL, *Sv = NULL;
    cr_assert_eq(clt_tensor_view_rows(rows, 0, 5, &dWv), CLT_OK);
    cr_assert_eq(clt_tensor_view_rows(rows, 4, 1, &dbv), CLT_OK);
    cr_assert_eq(clt_tensor_view_rows(rows, 5, 7, &Sv), CLT_OK);
    EXPECT_FAIL(&f, clt_linear_backward(c, f.X, f.W, f.dS, dWv, dbv, NULL), CLT_ERR_INVALID_ARG);
    /* Adjacent views of one buffer do not overlap. */
    cr_assert_eq(clt_tensor_fill(Sv, 0.5), CLT_OK);
    cr_expect_eq(clt_linear_backward(c, f.X, f.W, Sv, dWv, NULL, NULL), CLT_OK,
                 "%s", clt_last_error(c));
    clt_tensor_destroy(dWv);
    clt_tensor_destroy(dbv);
    clt_tensor_destroy(Sv);
    clt_tensor_destroy(rows);
    fixture_free(&f);
  }
}
