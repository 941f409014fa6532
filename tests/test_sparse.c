/* Sparse (CSR) matrices: creation (sorting, validation), views, gathers,
   and the products S = X W + b and dW = X^T dS on every backend against
   sums in double computed here from the host arrays, at odd sizes with
   empty rows; bit-for-bit reproducibility; a gradient check of the
   sparse scores under cross-entropy against central differences in
   double.

   Tolerance. A score sums the row's entries (at most MAX_ROW = 24 here) and
   an element of dW the entries of its column over the rows (at most N);
   inputs are uniform in [-1,1) (W in [-0.5,0.5)). As in test_linear.c,
   float32 sums of K terms err by about 1e-8 K; we allow |dev - ref| <=
   1e-6 + 1e-7 K + 1e-5 |ref| with K the terms of the longest sum. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss_impl.h"
#include "rng.h"
#include "sparse.h"
#include "testutil.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ROW 24
#define RTOL 1e-5
static double atol_for(size_t K) { return 1e-6 + 1e-7 * (double)K; }

/* A host CSR matrix: rows with 0..MAX_ROW distinct random columns (a
   quarter of the rows empty), listed in random order. */
typedef struct host_csr {
  size_t n, d;
  int64_t *ptr;
  int32_t *col;
  float *val;
} host_csr;

static host_csr random_csr(size_t n, size_t d, uint64_t seed) {
  host_csr h = {n, d, calloc(n + 1, 8), NULL, NULL};
  uint64_t s = seed;
  size_t cap = n * (d < MAX_ROW ? d : MAX_ROW) + 1;
  h.col = malloc(cap * 4), h.val = malloc(cap * 4);
  cr_assert(h.ptr && h.col && h.val);
  for (size_t r = 0; r < n; r++) {
    size_t want = clt_splitmix64(&s) % 4 == 0 ? 0 : clt_splitmix64(&s) % (MAX_ROW + 1);
    if (want > d) want = d;
    size_t at = (size_t)h.ptr[r], k = 0;
    while (k < want) {
      int32_t c = (int32_t)(clt_splitmix64(&s) % d);
      bool seen = false;
      for (size_t j = 0; j < k; j++) seen |= h.col[at + j] == c;
      if (seen) continue;
      h.col[at + k] = c;
      h.val[at + k] = (float)((clt_splitmix64(&s) >> 40) * 0x1.0p-24) * 2.0f - 1.0f;
      k++;
    }
    h.ptr[r + 1] = (int64_t)(at + k);
  }
  return h;
}

static void free_host(host_csr *h) {
  free(h->ptr), free(h->col), free(h->val);
}

static clt_csr *upload(clt_context *ctx, const host_csr *h) {
  clt_csr *X = NULL;
  clt_status st = clt_csr_create(ctx, h->n, h->d, h->ptr, h->col, h->val, &X);
  cr_assert_eq(st, CLT_OK, "csr_create %zux%zu: %s", h->n, h->d, clt_last_error(ctx));
  return X;
}

/* S = X W + b and dW = X^T dS, db in double from the host arrays. */
static void expected(const host_csr *h, size_t C, const float *W, const float *b,
                     const float *dS, double *S, double *dW, double *db) {
  for (size_t r = 0; r < h->n; r++)
    for (size_t c = 0; c < C; c++) {
      double a = b[c];
      for (int64_t k = h->ptr[r]; k < h->ptr[r + 1]; k++)
        a += (double)h->val[k] * W[(size_t)h->col[k] * C + c];
      S[r * C + c] = a;
    }
  memset(dW, 0, h->d * C * sizeof *dW);
  memset(db, 0, C * sizeof *db);
  for (size_t r = 0; r < h->n; r++)
    for (size_t c = 0; c < C; c++) {
      for (int64_t k = h->ptr[r]; k < h->ptr[r + 1]; k++)
        dW[(size_t)h->col[k] * C + c] += (double)h->val[k] * dS[r * C + c];
      db[c] += dS[r * C + c];
    }
}

static void check_products(clt_context *ctx, const char *dev, size_t n, size_t d, size_t C) {
  uint64_t seed = 7919 * n + 31 * d + C;
  host_csr h = random_csr(n, d, seed);
  float *W = malloc(d * C * 4), *b = malloc(C * 4), *dS = malloc(n * C * 4);
  double *S = malloc(n * C * 8), *dW = malloc(d * C * 8), *db = malloc(C * 8);
  cr_assert(W && b && dS && S && dW && db);
  tu_fill_uniform(W, d * C, seed + 1, -0.5f, 0.5f);
  tu_fill_uniform(b, C, seed + 2, -1.0f, 1.0f);
  tu_fill_uniform(dS, n * C, seed + 3, -1.0f, 1.0f);
  expected(&h, C, W, b, dS, S, dW, db);
  clt_csr *X = upload(ctx, &h);
  clt_tensor *tW = tu_tensor(ctx, d, C, W), *tb = tu_tensor(ctx, 1, C, b);
  clt_tensor *tdS = tu_tensor(ctx, n, C, dS), *tS, *tdW, *tdb;
  cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &tS), CLT_OK);
  cr_assert_eq(clt_tensor_create(ctx, d, C, CLT_FLOAT32, &tdW), CLT_OK);
  cr_assert_eq(clt_tensor_create(ctx, 1, C, CLT_FLOAT32, &tdb), CLT_OK);
  /* NaN in the outputs: every element must be written. */
  cr_assert_eq(clt_tensor_fill(tdW, NAN), CLT_OK);
  cr_assert_eq(clt_tensor_fill(tS, NAN), CLT_OK);
  cr_assert_eq(clt_csr_linear_forward(ctx, X, tW, tb, tS), CLT_OK, "%s", clt_last_error(ctx));
  cr_assert_eq(clt_csr_linear_backward(ctx, X, tdS, tdW, tdb), CLT_OK, "%s",
               clt_last_error(ctx));
  float *gS = tu_read(tS), *gdW = tu_read(tdW), *gdb = tu_read(tdb);
  char what[128];
  snprintf(what, sizeof what, "%s N=%zu D=%zu C=%zu S", dev, n, d, C);
  tu_expect_close(what, gS, S, n * C, atol_for(MAX_ROW), RTOL);
  snprintf(what, sizeof what, "%s N=%zu D=%zu C=%zu dW", dev, n, d, C);
  tu_expect_close(what, gdW, dW, d * C, atol_for(n), RTOL);
  snprintf(what, sizeof what, "%s N=%zu D=%zu C=%zu db", dev, n, d, C);
  tu_expect_close(what, gdb, db, C, atol_for(n), RTOL);
  /* Again, without b and db: the same dW bits, S without the bias. */
  cr_assert_eq(clt_csr_linear_forward(ctx, X, tW, NULL, tS), CLT_OK);
  cr_assert_eq(clt_csr_linear_backward(ctx, X, tdS, tdW, NULL), CLT_OK);
  float *gS2 = tu_read(tS), *gdW2 = tu_read(tdW);
  for (size_t i = 0; i < n * C; i++) S[i] -= b[i % C];
  snprintf(what, sizeof what, "%s N=%zu D=%zu C=%zu S without b", dev, n, d, C);
  tu_expect_close(what, gS2, S, n * C, atol_for(MAX_ROW), RTOL);
  cr_expect_arr_eq(gdW2, gdW, d * C * 4, "%s: dW changed bits on a second run", what);
  free(gS), free(gdW), free(gdb), free(gS2), free(gdW2);
  clt_tensor *all[] = {tW, tb, tdS, tS, tdW, tdb};
  for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
  clt_csr_destroy(X);
  free(W), free(b), free(dS), free(S), free(dW), free(db);
  free_host(&h);
}

static const size_t NS[] = {1, 7, 93, 1000, 4097};
static const size_t CS[] = {1, 2, 10, 1000};
static const size_t DS[] = {1, 37, 5003, 300007};

/* Every (N, C) with every D whose dW stays under 2^22 elements. */
Test(sparse, products_match_double_sums, .timeout = 600) {
  const char *specs[2];
  size_t ndev = tu_devices(specs), cases = 0;
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = tu_context(specs[v]);
    for (size_t i = 0; i < LEN(NS); i++)
      for (size_t j = 0; j < LEN(DS); j++)
        for (size_t k = 0; k < LEN(CS); k++) {
          if (DS[j] * CS[k] > (1u << 22)) continue;
          check_products(ctx, specs[v], NS[i], DS[j], CS[k]);
          cases++;
        }
    clt_context_destroy(ctx);
  }
  cr_expect_geq(cases, 70 * ndev);
}

/* Unsorted rows come back sorted with their values; views and gathers
   hold the rows they name; the products through them match. */
Test(sparse, sorting_views_and_gathers) {
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = tu_context(specs[v]);
    int64_t ptr[] = {0, 3, 3, 5, 6};
    int32_t col[] = {7, 2, 5, 9, 0, 4};
    float val[] = {1, 2, 3, 4, 5, 6};
    clt_csr *X, *V, *G;
    cr_assert_eq(clt_csr_create(ctx, 4, 10, ptr, col, val, &X), CLT_OK);
    cr_expect_eq(clt_csr_nnz(X), 6);
    int64_t p[5];
    int32_t c[6];
    float x[6];
    cr_assert_eq(clt_csr_read(X, p, c, x), CLT_OK);
    int32_t want_c[] = {2, 5, 7, 0, 9, 4};
    float want_x[] = {2, 3, 1, 5, 4, 6};
    cr_expect_arr_eq(p, ptr, sizeof ptr);
    cr_expect_arr_eq(c, want_c, sizeof want_c);
    cr_expect_arr_eq(x, want_x, sizeof want_x);
    /* Rows 1..3: the empty row, then {0, 9}, then {4}. */
    cr_assert_eq(clt_csr_view_rows(X, 1, 3, &V), CLT_OK);
    cr_expect_eq(clt_csr_rows(V), 3);
    cr_expect_eq(clt_csr_nnz(V), 3);
    cr_assert_eq(clt_csr_read(V, p, c, x), CLT_OK);
    int64_t want_vp[] = {0, 0, 2, 3};
    cr_expect_arr_eq(p, want_vp, sizeof want_vp);
    cr_expect_arr_eq(c, want_c + 3, 3 * 4);
    /* Gather rows 3, 0, 1 of the view: X's rows... of V: {4}, {}, {0, 9}
       from idx[1..4) of a longer index. */
    int32_t ix[] = {9, 2, 0, 1};
    clt_tensor *idx = tu_labels(ctx, 4, ix);
    cr_assert_eq(clt_csr_gather_rows(V, idx, 1, 3, &G), CLT_OK, "%s", clt_last_error(ctx));
    cr_assert_eq(clt_csr_read(G, p, c, x), CLT_OK);
    int64_t want_gp[] = {0, 1, 1, 3};
    int32_t want_gc[] = {4, 0, 9};
    float want_gx[] = {6, 5, 4};
    cr_expect_arr_eq(p, want_gp, sizeof want_gp);
    cr_expect_arr_eq(c, want_gc, sizeof want_gc);
    cr_expect_arr_eq(x, want_gx, sizeof want_gx);
    /* S through the view and the gather, W[j] = j + 1 (C = 1), b = 0.5. */
    float w[10], bias = 0.5f;
    for (int j = 0; j < 10; j++) w[j] = (float)(j + 1);
    clt_tensor *tW = tu_tensor(ctx, 10, 1, w), *tb = tu_tensor(ctx, 1, 1, &bias), *S;
    cr_assert_eq(clt_tensor_create(ctx, 3, 1, CLT_FLOAT32, &S), CLT_OK);
    cr_assert_eq(clt_csr_linear_forward(ctx, V, tW, tb, S), CLT_OK);
    float s[3], want_v[] = {0.5f, 0.5f + 5 * 1 + 4 * 10, 0.5f + 6 * 5};
    cr_assert_eq(clt_tensor_read(S, s, sizeof s), CLT_OK);
    cr_expect_arr_eq(s, want_v, sizeof s, "%s: scores through a view", specs[v]);
    cr_assert_eq(clt_csr_linear_forward(ctx, G, tW, tb, S), CLT_OK);
    float want_g[] = {want_v[2], want_v[0], want_v[1]};
    cr_assert_eq(clt_tensor_read(S, s, sizeof s), CLT_OK);
    cr_expect_arr_eq(s, want_g, sizeof s, "%s: scores through a gather", specs[v]);
    /* The view outlives its parent. */
    clt_csr_destroy(X);
    cr_assert_eq(clt_csr_linear_forward(ctx, V, tW, tb, S), CLT_OK);
    clt_csr_destroy(V), clt_csr_destroy(G);
    clt_tensor_destroy(tW), clt_tensor_destroy(tb), clt_tensor_destroy(S);
    clt_tensor_destroy(idx);
    clt_context_destroy(ctx);
  }
}

Test(sparse, bad_input_is_refused) {
  clt_context *ctx = tu_context("ref"), *other = tu_context("ref");
  int64_t ptr[] = {0, 2, 3};
  int32_t col[] = {1, 3, 0};
  float val[] = {1, 2, 3};
  clt_csr *X = NULL;
#define REFUSED(status, rows, cols, p, c, v, text)                                       \
  do {                                                                                    \
    cr_expect_eq(clt_csr_create(ctx, rows, cols, p, c, v, &X), status, "%s", text);     \
    cr_expect_null(X);                                                                    \
  } while (0)
  REFUSED(CLT_ERR_SHAPE, 0, 4, ptr, col, val, "no rows");
  REFUSED(CLT_ERR_SHAPE, 2, 0, ptr, col, val, "no columns");
  REFUSED(CLT_ERR_SHAPE, 2, (size_t)INT32_MAX + 1, ptr, col, val, "too many columns");
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, NULL, col, val, "NULL indptr");
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, ptr, NULL, val, "NULL indices");
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, ptr, col, NULL, "NULL values");
  REFUSED(CLT_ERR_INVALID_ARG, 2, 3, ptr, col, val, "column 3 of 3");
  cr_expect(strstr(clt_last_error(ctx), "row 0 has column 3, outside [0, 3)"), "%s",
            clt_last_error(ctx));
  int32_t neg[] = {1, -1, 0};
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, ptr, neg, val, "negative column");
  int32_t twice[] = {1, 1, 0};
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, ptr, twice, val, "a column twice");
  int64_t ptr3[] = {0, 3, 3};
  int32_t twice_unsorted[] = {2, 0, 2};
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, ptr3, twice_unsorted, val, "a column twice, unsorted");
  cr_expect(strstr(clt_last_error(ctx), "row 0 has column 2 twice"), "%s", clt_last_error(ctx));
  int64_t down[] = {0, 2, 1};
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, down, col, val, "decreasing indptr");
  int64_t late[] = {1, 2, 3};
  REFUSED(CLT_ERR_INVALID_ARG, 2, 4, late, col, val, "indptr[0] = 1");
  /* Rows with no entries at all, and NULL arrays with them. */
  int64_t empty[] = {0, 0, 0};
  cr_assert_eq(clt_csr_create(ctx, 2, 4, empty, NULL, NULL, &X), CLT_OK);
  cr_expect_eq(clt_csr_nnz(X), 0);
  clt_csr_destroy(X);

  cr_assert_eq(clt_csr_create(ctx, 2, 4, ptr, col, val, &X), CLT_OK);
  clt_tensor *W, *S, *Wo, *idx;
  cr_assert_eq(clt_tensor_create(ctx, 4, 3, CLT_FLOAT32, &W), CLT_OK);
  cr_assert_eq(clt_tensor_create(ctx, 2, 3, CLT_FLOAT32, &S), CLT_OK);
  cr_assert_eq(clt_tensor_create(other, 4, 3, CLT_FLOAT32, &Wo), CLT_OK);
  cr_expect_eq(clt_csr_linear_forward(ctx, X, Wo, NULL, S), CLT_ERR_CONTEXT);
  cr_expect_eq(clt_csr_linear_forward(other, X, Wo, NULL, S), CLT_ERR_CONTEXT);
  cr_expect_eq(clt_csr_linear_forward(ctx, X, W, NULL, W), CLT_ERR_SHAPE);
  cr_expect_eq(clt_csr_linear_forward(ctx, NULL, W, NULL, S), CLT_ERR_INVALID_ARG);
  cr_expect_eq(clt_csr_linear_backward(ctx, X, S, S, NULL), CLT_ERR_SHAPE);
  clt_tensor *dW, *Sv;
  cr_assert_eq(clt_tensor_create(ctx, 4, 3, CLT_FLOAT32, &dW), CLT_OK);
  cr_assert_eq(clt_tensor_view_rows(dW, 0, 2, &Sv), CLT_OK);
  cr_expect_eq(clt_csr_linear_backward(ctx, X, Sv, dW, NULL), CLT_ERR_INVALID_ARG,
               "dS overlapping dW");
  int32_t out_of_range[] = {0, 2};
  idx = tu_labels(ctx, 2, out_of_range);
  clt_csr *G = NULL;
  cr_expect_eq(clt_csr_gather_rows(X, idx, 0, 2, &G), CLT_ERR_LABEL);
  cr_expect(strstr(clt_last_error(ctx), "idx[1] = 2 outside [0, 2)"), "%s", clt_last_error(ctx));
  cr_expect_eq(clt_csr_gather_rows(X, idx, 1, 2, &G), CLT_ERR_SHAPE);
  cr_expect_null(G);
  cr_expect_eq(clt_csr_view_rows(X, 1, 2, &G), CLT_ERR_SHAPE);
  clt_tensor *all[] = {W, S, Wo, idx, Sv, dW};
  for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
  clt_csr_destroy(X);
  clt_context_destroy(ctx);
  clt_context_destroy(other);
}

/* A context on spec whose OpenCL profile takes the one-pass kernel at every
   C, recording timings. */
static clt_context *one_pass_context(const char *spec) {
  clt_context *ctx = tu_context(spec);
  char variant[64];
  snprintf(variant, sizeof variant, "%s:csr_loss_max_c=max", clt_context_profile(ctx));
  bool cl = strcmp(spec, "cl") == 0;
  clt_context_destroy(ctx);
  return tu_context_with(spec, (clt_context_options){.record_timings = 1,
                                                     .variant = cl ? variant : NULL});
}

/* Whether ctx launched the kernel name (its timings). */
static bool launched(clt_context *ctx, const char *name) {
  clt_timing v[128];
  size_t n = 0;
  cr_assert_eq(clt_context_timings(ctx, v, LEN(v), &n), CLT_OK);
  for (size_t i = 0; i < n && i < LEN(v); i++)
    if (strcmp(v[i].name, name) == 0) return true;
  return false;
}

/* Cross-entropy of S = X W + b in double, for the central differences. */
static double ce_loss(const host_csr *h, size_t C, const double *W, const double *b,
                      const int32_t *y) {
  double total = 0;
  for (size_t r = 0; r < h->n; r++) {
    double s[16], m = -INFINITY, z = 0;
    for (size_t c = 0; c < C; c++) {
      s[c] = b[c];
      for (int64_t k = h->ptr[r]; k < h->ptr[r + 1]; k++)
        s[c] += h->val[k] * W[(size_t)h->col[k] * C + c];
      m = fmax(m, s[c]);
    }
    for (size_t c = 0; c < C; c++) z += exp(s[c] - m);
    total += m + log(z) - s[y[r]];
  }
  return total / (double)h->n;
}

/* The analytic gradient (sparse forward, clt_loss, sparse backward; and
   the forward and the loss in one, clt_csr_loss_rows, then the backward)
   against central differences of the cross-entropy in double, at every W
   element some row touches and at every bias. */
Test(sparse, gradient_matches_central_differences) {
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  const size_t n = 33, d = 40, C = 5;
  host_csr h = random_csr(n, d, 99);
  float W[40 * 5], b[5];
  int32_t y[33];
  tu_fill_uniform(W, d * C, 5, -0.5f, 0.5f);
  tu_fill_uniform(b, C, 6, -0.5f, 0.5f);
  tu_fill_labels(y, n, 7, (int32_t)C);
  double Wd[40 * 5], bd[5];
  for (size_t i = 0; i < d * C; i++) Wd[i] = W[i];
  for (size_t c = 0; c < C; c++) bd[c] = b[c];
  for (size_t run = 0; run < 2 * ndev; run++) {
    const size_t v = run / 2;
    const bool one_pass = run % 2; /* the forward and the loss in one */
    clt_context *ctx = one_pass ? one_pass_context(specs[v]) : tu_context(specs[v]);
    clt_csr *X = upload(ctx, &h);
    clt_tensor *tW = tu_tensor(ctx, d, C, W), *tb = tu_tensor(ctx, 1, C, b);
    clt_tensor *ty = tu_labels(ctx, n, y), *S, *dS, *dW, *db;
    cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &S), CLT_OK);
    cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &dS), CLT_OK);
    cr_assert_eq(clt_tensor_create(ctx, d, C, CLT_FLOAT32, &dW), CLT_OK);
    cr_assert_eq(clt_tensor_create(ctx, 1, C, CLT_FLOAT32, &db), CLT_OK);
    clt_loss_desc desc = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
    double loss;
    if (one_pass) {
      cr_assert_eq(clt_csr_loss_rows(ctx, X, (clt_batch_rows){NULL, 0, n}, 1.0f, tW, tb, &desc,
                                     ty, S, NULL, &loss, dS),
                   CLT_OK, "%s", clt_last_error(ctx));
    } else {
      cr_assert_eq(clt_csr_linear_forward(ctx, X, tW, tb, S), CLT_OK);
      cr_assert_eq(clt_loss(ctx, &desc, S, ty, &loss, dS), CLT_OK);
    }
    cr_assert_eq(clt_csr_linear_backward(ctx, X, dS, dW, db), CLT_OK);
    if (one_pass && strcmp(specs[v], "cl") == 0)
      cr_expect(launched(ctx, "clt_csr_loss"), "the one-pass kernel did not run");
    float *gW = tu_read(dW), *gb = tu_read(db);
    cr_expect(fabs(loss - ce_loss(&h, C, Wd, bd, y)) < 1e-5, "%s, one pass %d: loss %g",
              specs[v], one_pass, loss);
    const double eps = 1e-5;
    size_t checked = 0;
    for (size_t i = 0; i < d * C + C; i++) {
      double *p = i < d * C ? &Wd[i] : &bd[i - d * C], keep = *p;
      *p = keep + eps;
      double up = ce_loss(&h, C, Wd, bd, y);
      *p = keep - eps;
      double down = ce_loss(&h, C, Wd, bd, y);
      *p = keep;
      double num = (up - down) / (2 * eps), got = i < d * C ? gW[i] : gb[i - d * C];
      cr_expect(fabs(got - num) <= 1e-6 + 1e-4 * fabs(num),
                "%s, one pass %d: gradient %zu: analytic %.9g, central difference %.9g",
                specs[v], one_pass, i, got, num);
      checked += num != 0;
    }
    cr_expect_gt(checked, d * C / 2, "only %zu nonzero gradients", checked);
    free(gW), free(gb);
    clt_tensor *all[] = {tW, tb, ty, S, dS, dW, db};
    for (size_t i = 0; i < LEN(all); i++) clt_tensor_destroy(all[i]);
    clt_csr_destroy(X);
    clt_context_destroy(ctx);
  }
  free_host(&h);
}

/* The touched SGD update (internal: the trainer's plain SGD on sparse
   rows) through a permutation, against the same update in double here:
   weights of columns no row holds keep their bits, b moves by the column
   sums, and the change of the sum of squares is left in the element of a
   tensor asked for, its neighbours kept. Tolerance as the products' (each
   weight moves by dW's terms, rounded at each). */
static void check_touched(clt_context *ctx, const char *dev, size_t n, size_t C) {
  size_t d = C >= 1000 ? 37 : 5003, N = n + 3;
  uint64_t seed = 31 * n + C;
  host_csr h = random_csr(N, d, seed);
  float *V = malloc(d * C * 4), *b = malloc(C * 4), *dS = malloc(n * C * 4);
  int32_t *perm = malloc(N * 4);
  cr_assert(V && b && dS && perm);
  tu_fill_uniform(V, d * C, seed + 1, -0.5f, 0.5f);
  tu_fill_uniform(b, C, seed + 2, -1.0f, 1.0f);
  tu_fill_uniform(dS, n * C, seed + 3, -1.0f, 1.0f);
  for (size_t r = 0; r < N; r++) perm[r] = (int32_t)((r * 7 + 2) % N); /* 7 and N coprime */
  /* the batch: rows perm[2 .. 2+n) */
  double *g = calloc(d * C + C, sizeof *g), want_change = 0;
  bool *touched = calloc(d, sizeof *touched);
  cr_assert(g && touched);
  for (size_t r = 0; r < n; r++) {
    size_t row = (size_t)perm[2 + r];
    for (int64_t e = h.ptr[row]; e < h.ptr[row + 1]; e++) {
      touched[h.col[e]] = true;
      for (size_t c = 0; c < C; c++) g[(size_t)h.col[e] * C + c] += (double)h.val[e] * dS[r * C + c];
    }
    for (size_t c = 0; c < C; c++) g[d * C + c] += dS[r * C + c];
  }
  const float step = 0.25f, lr_b = 0.5f;
  double *want = malloc((d * C + C) * sizeof *want);
  cr_assert_not_null(want);
  for (size_t e = 0; e < d * C; e++) {
    want[e] = touched[e / C] ? V[e] - (double)step * g[e] : V[e];
    want_change += want[e] * want[e] - (double)V[e] * V[e];
  }
  for (size_t c = 0; c < C; c++) want[d * C + c] = b[c] - (double)lr_b * g[d * C + c];
  clt_csr *X = upload(ctx, &h);
  clt_tensor *tV = tu_tensor(ctx, d, C, V), *tb = tu_tensor(ctx, 1, C, b);
  clt_tensor *tdS = tu_tensor(ctx, n, C, dS), *idx = tu_labels(ctx, N, perm);
  const float nans[3] = {NAN, NAN, NAN};
  clt_tensor *tchange = tu_tensor(ctx, 3, 1, nans);
  cr_assert_eq(
      clt_csr_sgd_rows(ctx, X, (clt_batch_rows){idx, 2, n}, tdS, tV, step, tb, lr_b, tchange, 1),
      CLT_OK, "%s", clt_last_error(ctx));
  float *gotV = tu_read(tV), *gotb = tu_read(tb), *gotc = tu_read(tchange);
  const double change = gotc[1];
  cr_assert(isnan(gotc[0]) && isnan(gotc[2]), "%s: the change written at %g, %g", dev,
            (double)gotc[0], (double)gotc[2]);
  char what[128];
  snprintf(what, sizeof what, "%s N=%zu D=%zu C=%zu V", dev, n, d, C);
  tu_expect_close(what, gotV, want, d * C, atol_for(n), RTOL);
  for (size_t e = 0; e < d * C; e++)
    if (!touched[e / C])
      cr_assert_eq(memcmp(&gotV[e], &V[e], 4), 0, "%s: untouched weight %zu changed", what, e);
  snprintf(what, sizeof what, "%s N=%zu D=%zu C=%zu b", dev, n, d, C);
  tu_expect_close(what, gotb, want + d * C, C, atol_for(n), RTOL);
  cr_expect(fabs(change - want_change) <= 1e-4 * (1 + fabs(want_change)) + 1e-6 * (double)(d * C),
            "%s: change of the sum of squares %g, want %g", what, change, want_change);
  free(gotV), free(gotb), free(gotc);
  clt_tensor *all[] = {tV, tb, tdS, idx, tchange};
  for (size_t t = 0; t < LEN(all); t++) clt_tensor_destroy(all[t]);
  clt_csr_destroy(X);
  free(V), free(b), free(dS), free(perm), free(g), free(touched), free(want);
  free_host(&h);
}

Test(sparse, touched_sgd_update_matches_double_sums, .timeout = 600) {
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = tu_context(specs[v]);
    for (size_t i = 0; i < LEN(NS); i++)
      for (size_t k = 0; k < LEN(CS); k++) check_touched(ctx, specs[v], NS[i], CS[k]);
    clt_context_destroy(ctx);
  }
}

/* The kernels sum up to 8 classes of a row at once in registers, with
   code for each count from 1 to 8 (kernels/sparse.cl, CLT_CSR_FOR_M):
   every count, alone and after a chunk of 8, in the products and the
   touched update. */
Test(sparse, every_register_width, .timeout = 600) {
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = tu_context(specs[v]);
    for (size_t C = 1; C <= 17; C++) {
      check_products(ctx, specs[v], 93, 37, C);
      check_touched(ctx, specs[v], 93, C);
    }
    check_touched(ctx, specs[v], 93, 1000);
    clt_context_destroy(ctx);
  }
}

/* ---- the forward and the loss in one (clt_csr_loss_rows, internal: the
   trainer's touched step), on OpenCL with the one-pass kernel forced at
   every C (its profile's csr_loss_max_c raised by a variant) and seen to
   run, against S = alpha X[rows] W + b in double and clt_ref_loss_f64 on
   it. A score errs as the products' do (atol_for(MAX_ROW)), and the loss
   and dS by as much times their slope in the scores, at most 2 for a row
   (hinge with p = 2 and scores near 1: 4) times k = 1/N for the mean: we
   allow |dev - ref| <= 4 k atol_for(MAX_ROW) + 1e-5 |ref| for dS and the
   loss's mean, the loss's sum N times that. */
typedef struct loss_case {
  const char *name;
  clt_loss_kind kind;
  float prm; /* label smoothing or margin */
  int p, ignore;
  clt_reduction reduction;
  bool bias;
} loss_case;

static const loss_case LOSS_CASES[] = {
    {"cross-entropy", CLT_LOSS_CROSS_ENTROPY, 0.0f, 1, -100, CLT_REDUCTION_MEAN, true},
    {"smoothed, no bias", CLT_LOSS_CROSS_ENTROPY, 0.1f, 1, -100, CLT_REDUCTION_MEAN, false},
    {"summed, label 1 ignored", CLT_LOSS_CROSS_ENTROPY, 0.05f, 1, 1, CLT_REDUCTION_SUM, true},
    {"hinge", CLT_LOSS_HINGE, 1.0f, 1, 0, CLT_REDUCTION_MEAN, true},
    {"squared hinge, summed", CLT_LOSS_HINGE, 0.5f, 2, 0, CLT_REDUCTION_SUM, false},
};

static clt_loss_desc desc_of(const loss_case *lc) {
  clt_loss_desc d = clt_loss_defaults(lc->kind);
  d.reduction = lc->reduction;
  if (lc->kind == CLT_LOSS_HINGE) {
    d.margin = lc->prm;
    d.p = lc->p;
  } else {
    d.label_smoothing = lc->prm;
    d.ignore_index = lc->ignore;
  }
  return d;
}

static void check_loss_rows(clt_context *ctx, const char *dev, size_t n, size_t C,
                            const loss_case *lc) {
  size_t d = C >= 1000 ? 37 : 5003, N = n + 3;
  uint64_t seed = 131 * n + C;
  host_csr h = random_csr(N, d, seed);
  float *W = malloc(d * C * 4), b[1000];
  int32_t *perm = malloc(N * 4), *y = malloc(n * 4);
  double *S = malloc(n * C * 8), *want = malloc(n * C * 8);
  cr_assert(W && perm && y && S && want);
  tu_fill_uniform(W, d * C, seed + 1, -1.0f, 1.0f);
  tu_fill_uniform(b, C, seed + 2, -1.0f, 1.0f);
  tu_fill_labels(y, n, seed + 3, (int32_t)C);
  for (size_t r = 0; r < N; r++) perm[r] = (int32_t)((r * 7 + 2) % N); /* 7 and N coprime */
  const float alpha = 0.75f;
  for (size_t r = 0; r < n; r++) { /* the batch: rows perm[2 .. 2+n) */
    size_t row = (size_t)perm[2 + r];
    for (size_t c = 0; c < C; c++) {
      double a = 0;
      for (int64_t e = h.ptr[row]; e < h.ptr[row + 1]; e++)
        a += (double)h.val[e] * W[(size_t)h.col[e] * C + c];
      S[r * C + c] = (lc->bias ? b[c] : 0.0) + alpha * a;
    }
  }
  clt_loss_desc desc = desc_of(lc);
  clt_ref_loss_in in = {.desc = &desc, .n = n, .c = C, .labels = y};
  const double want_loss = clt_ref_loss_f64(&in, S, want);
  cr_assert_eq(clt_context_timings_reset(ctx), CLT_OK); /* this case's kernels alone */
  clt_csr *X = upload(ctx, &h);
  clt_tensor *tW = tu_tensor(ctx, d, C, W), *tb = lc->bias ? tu_tensor(ctx, 1, C, b) : NULL;
  clt_tensor *ty = tu_labels(ctx, n, y), *idx = tu_labels(ctx, N, perm), *tS, *tdS;
  cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &tS), CLT_OK);
  cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &tdS), CLT_OK);
  cr_assert_eq(clt_tensor_fill(tdS, NAN), CLT_OK); /* every element must be written */
  double loss = NAN;
  cr_assert_eq(clt_csr_loss_rows(ctx, X, (clt_batch_rows){idx, 2, n}, alpha, tW, tb, &desc, ty,
                                 tS, NULL, &loss, tdS),
               CLT_OK, "%s %s N=%zu C=%zu: %s", dev, lc->name, n, C, clt_last_error(ctx));
  const double k = lc->reduction == CLT_REDUCTION_MEAN ? 1.0 / (double)n : 1.0;
  const double atol = 4 * k * atol_for(MAX_ROW), scale = k == 1.0 ? (double)n : 1.0;
  char what[160];
  snprintf(what, sizeof what, "%s %s N=%zu C=%zu", dev, lc->name, n, C);
  cr_expect(fabs(loss - want_loss) <= scale * atol + 1e-5 * fabs(want_loss),
            "%s: loss %.9g, want %.9g", what, loss, want_loss);
  float *got = tu_read(tdS);
  /* Hinge with p = 1 steps by k where z_j = s_j - s_y + margin crosses 0,
     so a z_j within the scores' error of 0 may take either side: dS_j by
     k, dS_y by k for each such j of its row. */
  size_t amb = 0;
  for (size_t r = 0; r < n && lc->kind == CLT_LOSS_HINGE && lc->p == 1; r++) {
    size_t yr = (size_t)y[r], near = 0;
    for (size_t c = 0; c < C; c++) {
      double z = S[r * C + c] - S[r * C + yr] + lc->prm;
      if (c == yr || fabs(z) > 4 * atol_for(MAX_ROW)) continue;
      near++;
      if (fabs(got[r * C + c] - want[r * C + c]) <= k * (1 + 1e-5))
        got[r * C + c] = (float)want[r * C + c];
    }
    if (near && fabs(got[r * C + yr] - want[r * C + yr]) <= k * (double)near * (1 + 1e-5))
      got[r * C + yr] = (float)want[r * C + yr];
    amb += near;
  }
  cr_expect_leq(amb, n * C / 1000 + 2, "%s: %zu scores near the hinge's kink", what, amb);
  tu_expect_close(what, got, want, n * C, atol, 1e-5);
  /* Deferred: the loss in its slot (elements 2 and 3 of 8), nothing read. */
  const float nans[8] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
  clt_tensor *losses = tu_tensor(ctx, 8, 1, nans);
  clt_loss_slot slot = {losses, 1, false};
  cr_assert_eq(clt_csr_loss_rows(ctx, X, (clt_batch_rows){idx, 2, n}, alpha, tW, tb, &desc, ty,
                                 tS, &slot, NULL, tdS),
               CLT_OK, "%s", clt_last_error(ctx));
  if (strcmp(dev, "cl") == 0) {
    cr_assert(slot.written, "%s: the loss was not deferred", what);
    float *v = tu_read(losses);
    cr_expect(fabs(v[2] - loss) <= 1e-6 * fabs(loss) && v[3] == 0.0f && isnan(v[1]) &&
                  isnan(v[4]),
              "%s: the slot holds %g, %g (loss %g)", what, (double)v[2], (double)v[3], loss);
    free(v);
    cr_expect(launched(ctx, "clt_csr_loss") && !launched(ctx, "clt_csr_fwd"),
              "%s: the one-pass kernel did not run alone", what);
  }
  free(got);
  clt_tensor *all[] = {tW, tb, ty, idx, tS, tdS, losses};
  for (size_t t = 0; t < LEN(all); t++) clt_tensor_destroy(all[t]);
  clt_csr_destroy(X);
  free(W), free(perm), free(y), free(S), free(want);
  free_host(&h);
}

Test(sparse, forward_and_loss_in_one_match_double_sums, .timeout = 600) {
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = one_pass_context(specs[v]);
    for (size_t i = 0; i < LEN(NS); i++)
      for (size_t k = 0; k < LEN(CS); k++)
        for (size_t c = 0; c < LEN(LOSS_CASES); c++)
          check_loss_rows(ctx, specs[v], NS[i], CS[k], &LOSS_CASES[c]);
    /* the eight-row lanes up to 15 classes, a row a work-item from 16 */
    for (size_t C = 14; C <= 17; C++) check_loss_rows(ctx, specs[v], 93, C, &LOSS_CASES[0]);
    clt_context_destroy(ctx);
  }
}

/* The one pass runs where the profile's csr_loss_max_c and the problem
   allow it (a CPU profile: labels up to 64 classes with cross-entropy or
   hinge, no class weights, for the mean an ignore_index outside [0, C)),
   the forward and the loss apart otherwise. */
Test(sparse, forward_and_loss_in_one_only_where_it_applies) {
  if (!tu_have_opencl()) return;
  static const struct {
    const char *name;
    clt_loss_kind kind;
    size_t c;
    bool weights, soft;
    int ignore;
    clt_reduction reduction;
    bool one_pass_on_cpu;
  } cases[] = {
      {"cross-entropy", CLT_LOSS_CROSS_ENTROPY, 10, false, false, -100, CLT_REDUCTION_MEAN, true},
      {"64 classes", CLT_LOSS_CROSS_ENTROPY, 64, false, false, -100, CLT_REDUCTION_MEAN, true},
      {"65 classes", CLT_LOSS_CROSS_ENTROPY, 65, false, false, -100, CLT_REDUCTION_MEAN, false},
      {"class weights", CLT_LOSS_CROSS_ENTROPY, 10, true, false, -100, CLT_REDUCTION_MEAN, false},
      {"mean, ignore_index 3", CLT_LOSS_CROSS_ENTROPY, 10, false, false, 3, CLT_REDUCTION_MEAN,
       false},
      {"sum, ignore_index 3", CLT_LOSS_CROSS_ENTROPY, 10, false, false, 3, CLT_REDUCTION_SUM,
       true},
      {"soft targets", CLT_LOSS_CROSS_ENTROPY, 10, false, true, -100, CLT_REDUCTION_MEAN, false},
      {"mse", CLT_LOSS_MSE, 10, false, true, -100, CLT_REDUCTION_MEAN, false},
      {"hinge", CLT_LOSS_HINGE, 10, false, false, -100, CLT_REDUCTION_MEAN, true},
      {"hinge, class weights", CLT_LOSS_HINGE, 10, true, false, -100, CLT_REDUCTION_MEAN, false},
  };
  const size_t n = 7, d = 37;
  host_csr h = random_csr(n, d, 5);
  float W[37 * 65], T[7 * 65], cw[65];
  int32_t y[7];
  tu_fill_uniform(W, d * 65, 1, -1.0f, 1.0f);
  tu_fill_uniform(T, n * 65, 2, 0.0f, 1.0f);
  tu_fill_uniform(cw, 65, 3, 0.5f, 2.0f);
  for (size_t k = 0; k < LEN(cases); k++) {
    clt_context *ctx = tu_context_with("cl", (clt_context_options){.record_timings = 1});
    const size_t C = cases[k].c;
    tu_fill_labels(y, n, k, (int32_t)C);
    clt_csr *X = upload(ctx, &h);
    clt_tensor *tW = tu_tensor(ctx, d, C, W), *tT = tu_tensor(ctx, n, C, T);
    clt_tensor *ty = tu_labels(ctx, n, y), *tcw = tu_tensor(ctx, 1, C, cw), *S, *dS;
    cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &S), CLT_OK);
    cr_assert_eq(clt_tensor_create(ctx, n, C, CLT_FLOAT32, &dS), CLT_OK);
    clt_loss_desc desc = clt_loss_defaults(cases[k].kind);
    desc.reduction = cases[k].reduction;
    if (cases[k].kind == CLT_LOSS_CROSS_ENTROPY) desc.ignore_index = cases[k].ignore;
    desc.class_weight = cases[k].weights ? tcw : NULL;
    double loss;
    cr_assert_eq(clt_csr_loss_rows(ctx, X, (clt_batch_rows){NULL, 0, n}, 1.0f, tW, NULL, &desc,
                                   cases[k].soft ? tT : ty, S, NULL, &loss, dS),
                 CLT_OK, "%s: %s", cases[k].name, clt_last_error(ctx));
    bool want = cases[k].one_pass_on_cpu && strcmp(clt_context_profile(ctx), "cpu") == 0;
    cr_expect_eq(launched(ctx, "clt_csr_loss"), want, "%s (%s profile)", cases[k].name,
                 clt_context_profile(ctx));
    cr_expect_eq(launched(ctx, "clt_csr_fwd"), !want, "%s (%s profile)", cases[k].name,
                 clt_context_profile(ctx));
    clt_tensor *all[] = {tW, tT, ty, tcw, S, dS};
    for (size_t t = 0; t < LEN(all); t++) clt_tensor_destroy(all[t]);
    clt_csr_destroy(X);
    clt_context_destroy(ctx);
  }
  free_host(&h);
}

/* Labels the one-pass kernel is not vouched for: outside [0, C) it gives a
   NaN loss and a dS row of 0 (no out-of-bounds read; -100, cross-entropy's
   ignore_index, a loss of 0 and a dS row of 0), the other rows a dS. */
Test(sparse, forward_and_loss_in_one_zero_rows_of_bad_labels) {
  if (!tu_have_opencl()) return;
  clt_context *ctx = one_pass_context("cl");
  for (size_t C = 3; C <= 20; C += 17) { /* eight-row lanes, then a row a work-item */
    host_csr h = random_csr(11, 50, C);
    float W[50 * 20];
    tu_fill_uniform(W, 50 * C, 1, -1.0f, 1.0f);
    int32_t y[11] = {0, 1, 2, (int32_t)C, 1, -5, 2, 0, -100, 1, 2};
    clt_csr *X = upload(ctx, &h);
    clt_tensor *tW = tu_tensor(ctx, 50, C, W), *ty = tu_labels(ctx, 11, y), *tS, *tdS;
    cr_assert_eq(clt_tensor_create(ctx, 11, C, CLT_FLOAT32, &tS), CLT_OK);
    cr_assert_eq(clt_tensor_create(ctx, 11, C, CLT_FLOAT32, &tdS), CLT_OK);
    for (int hinge = 0; hinge < 2; hinge++) {
      clt_loss_desc desc = clt_loss_defaults(hinge ? CLT_LOSS_HINGE : CLT_LOSS_CROSS_ENTROPY);
      desc.reduction = CLT_REDUCTION_SUM;
      cr_assert_eq(clt_tensor_fill(tdS, NAN), CLT_OK);
      double loss = 0;
      cr_expect_eq(clt_csr_loss_rows(ctx, X, (clt_batch_rows){NULL, 0, 11}, 1.0f, tW, NULL,
                                     &desc, ty, tS, NULL, &loss, tdS),
                   CLT_ERR_NONFINITE, "C=%zu hinge %d", C, hinge);
      cr_expect(isnan(loss), "C=%zu hinge %d: loss %g", C, hinge, loss);
      float *g = tu_read(tdS);
      for (size_t r = 0; r < 11; r++) {
        bool zero = r == 3 || r == 5 || r == 8;
        double sum = 0;
        for (size_t c = 0; c < C; c++) {
          cr_assert(isfinite(g[r * C + c]), "C=%zu hinge %d: dS[%zu][%zu] = %g", C, hinge, r, c,
                    (double)g[r * C + c]);
          sum += fabs(g[r * C + c]);
        }
        cr_expect_eq(sum == 0, zero, "C=%zu hinge %d row %zu (label %d): |dS| %g", C, hinge, r,
                     y[r], sum);
      }
      free(g);
    }
    clt_tensor *all[] = {tW, ty, tS, tdS};
    for (size_t t = 0; t < LEN(all); t++) clt_tensor_destroy(all[t]);
    clt_csr_destroy(X);
    free_host(&h);
  }
  clt_context_destroy(ctx);
}
