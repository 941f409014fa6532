/* Sparse data sets: the planted-model generator (data.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "internal.h"
#include "rng.h"

/* Zipf's exponent: a few features in most rows, most in few. */
#define ZIPF_S 1.1
/* The planted scores' scale: with unit rows and unit-variance weights the
   raw scores have variance about 1; 5 makes the labels mostly, not
   always, the argmax. */
#define SIGNAL 5.0
/* Draws of a feature already in the row before the next rank is taken. */
#define REDRAWS 64

/* w_jk, uniform in [-sqrt 3, sqrt 3) (variance 1), from a hash. */
static double planted_weight(uint64_t seed, size_t j, size_t k, size_t c) {
  uint64_t s = seed ^ (0xA0761D6478BD642Full * ((uint64_t)j * c + k + 1));
  double u = (double)(clt_splitmix64(&s) >> 11) * 0x1.0p-53;
  return (2.0 * u - 1.0) * 1.7320508075688772;
}

typedef struct entry {
  int32_t col;
  float val;
} entry;

static int by_col(const void *a, const void *b) {
  int32_t x = ((const entry *)a)->col, y = ((const entry *)b)->col;
  return (x > y) - (x < y);
}

/* The generator's state: the Zipf CDF over ranks and the rank-to-index
   permutation. */
typedef struct gen {
  size_t d, c, nnz;
  uint64_t seed;
  double *cdf;
  int32_t *feature;
  size_t *mark; /* rank r is in row i when mark[r] == i + 1 */
  clt_rng r;
} gen;

static size_t draw_rank(gen *g) {
  double u = clt_rng_uniform(&g->r) * g->cdf[g->d - 1];
  size_t lo = 0, hi = g->d - 1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (g->cdf[mid] <= u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* n rows into out (sparse, labelled). */
static clt_status gen_rows(gen *g, size_t n, clt_dataset *out) {
  size_t most = g->nnz + g->nnz / 2, cap;
  if (most > g->d) most = g->d;
  if (!clt_mul_size(n, most, &cap) || cap > SIZE_MAX / sizeof(entry))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "sparse synthetic: %zu rows overflow", n);
  clt_dataset ds = {.n = n, .d = g->d, .classes = g->c};
  ds.ptr = malloc((n + 1) * sizeof *ds.ptr);
  ds.col = malloc((cap ? cap : 1) * sizeof *ds.col);
  ds.val = malloc((cap ? cap : 1) * sizeof *ds.val);
  ds.y = malloc(n * sizeof *ds.y);
  entry *row = malloc(most * sizeof *row);
  double *score = malloc(g->c * sizeof *score);
  if (!ds.ptr || !ds.col || !ds.val || !ds.y || !row || !score) {
    free(row), free(score);
    clt_dataset_free(&ds);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "sparse synthetic: %zu rows", n);
  }
  size_t at = 0;
  ds.ptr[0] = 0;
  memset(g->mark, 0, g->d * sizeof *g->mark);
  for (size_t i = 0; i < n; i++) {
    size_t lo = g->nnz / 2, want = lo + (size_t)(clt_rng_uniform(&g->r) * (double)(g->nnz + 1));
    if (want < 1) want = 1;
    if (want > most) want = most;
    /* A feature drawn twice is drawn again, so that the row's features
       keep the power law (giving way to the next rank put the first 20
       ranks in every row of 100 entries, where the law puts rank 10 in
       about 60 %); after REDRAWS repeats in a row (rows nearly as wide as
       D) it gives way to the next rank not yet in the row. */
    for (size_t k = 0; k < want; k++) {
      size_t rank = draw_rank(g);
      for (int t = 0; t < REDRAWS && g->mark[rank] == i + 1; t++) rank = draw_rank(g);
      while (g->mark[rank] == i + 1) rank = rank + 1 < g->d ? rank + 1 : 0;
      g->mark[rank] = i + 1;
      row[k].col = g->feature[rank];
    }
    size_t k = want;
    double ss = 0;
    for (size_t j = 0; j < k; j++) {
      double v = 1.0 + fabs(clt_rng_normal(&g->r));
      row[j].val = (float)v;
      ss += v * v;
    }
    qsort(row, k, sizeof *row, by_col);
    for (size_t m = 0; m < g->c; m++) score[m] = 0;
    for (size_t j = 0; j < k; j++) {
      row[j].val = (float)(row[j].val / sqrt(ss));
      for (size_t m = 0; m < g->c; m++)
        score[m] += row[j].val * planted_weight(g->seed, (size_t)row[j].col, m, g->c);
      ds.col[at + j] = row[j].col;
      ds.val[at + j] = row[j].val;
    }
    size_t best = 0;
    double top = -INFINITY;
    for (size_t m = 0; m < g->c; m++) {
      double u = 1.0 - clt_rng_uniform(&g->r); /* (0, 1]: Gumbel noise */
      double s = SIGNAL * score[m] - log(-log(u) + 1e-300);
      if (s > top) top = s, best = m;
    }
    ds.y[i] = (int32_t)best;
    at += k;
    ds.ptr[i + 1] = (int64_t)at;
  }
  free(row), free(score);
  *out = ds;
  return CLT_OK;
}

clt_status clt_data_synthetic_sparse(size_t n, size_t d, size_t c, size_t nnz, uint64_t seed,
                                     clt_dataset *train, clt_dataset *test) {
  if (!train) return clt_fail(NULL, CLT_ERR_INVALID_ARG, "sparse synthetic: NULL train output");
  if (n == 0 || d == 0 || d > INT32_MAX || nnz == 0 || c < 2 || c > (size_t)INT32_MAX)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "sparse synthetic %zu,%zu,%zu,%zu: need N >= 1 rows, 1 <= D < 2^31 "
                    "features, 2 <= C <= 2^31-1 classes and NNZ >= 1 features per row",
                    n, d, c, nnz);
  gen g = {.d = d, .c = c, .nnz = nnz, .seed = seed, .r = {seed, 0, 0.0}};
  g.cdf = malloc(d * sizeof *g.cdf);
  g.feature = malloc(d * sizeof *g.feature);
  g.mark = malloc(d * sizeof *g.mark);
  clt_status st = CLT_OK;
  clt_dataset tr = {0}, te = {0};
  if (!g.cdf || !g.feature || !g.mark) {
    st = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "sparse synthetic: %zu features", d);
    goto out;
  }
  double sum = 0;
  for (size_t j = 0; j < d; j++) g.cdf[j] = sum += pow((double)(j + 1), -ZIPF_S);
  for (size_t j = 0; j < d; j++) g.feature[j] = (int32_t)j;
  for (size_t j = d - 1; j > 0; j--) {
    size_t k = (size_t)(clt_splitmix64(&g.r.s) % (j + 1));
    int32_t t = g.feature[j];
    g.feature[j] = g.feature[k], g.feature[k] = t;
  }
  st = gen_rows(&g, n, &tr);
  if (st == CLT_OK && test) st = gen_rows(&g, n / 5 ? n / 5 : 1, &te);
out:
  free(g.cdf);
  free(g.feature);
  free(g.mark);
  if (st != CLT_OK) {
    clt_dataset_free(&tr);
    clt_dataset_free(&te);
    return st;
  }
  *train = tr;
  if (test) *test = te;
  return CLT_OK;
}
