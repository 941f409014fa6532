/* Numerical gradient check (CS231n's grad_check_sparse): the analytic
   gradient of loss(X W + b) + reg(W) with respect to W and b against
   central differences of the double-precision reference loss. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "loss_impl.h"

/* Host copies of the problem in double, with S = X W + b. */
typedef struct gc_problem {
  size_t n, d, c;
  double *X, *W, *b, *S; /* (N,D) (D,C) (C) or NULL, (N,C) */
  int32_t *labels;       /* (N) or NULL */
  float *target, *cw, *pw;
  clt_ref_loss_in in;
  clt_reg_desc reg;
} gc_problem;

static void problem_free(gc_problem *p) {
  free(p->X);
  free(p->W);
  free(p->b);
  free(p->S);
  free(p->labels);
  free(p->target);
  free(p->cw);
  free(p->pw);
}

/* A malloc'd host copy of t (4-byte elements), or NULL for t NULL. */
static clt_status read_host(clt_context *ctx, const clt_tensor *t, void **out) {
  *out = NULL;
  if (!t) return CLT_OK;
  size_t bytes = clt_tensor_numel(t) * 4;
  void *h = malloc(bytes);
  if (!h)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "gradcheck: cannot allocate %zu bytes", bytes);
  clt_status st = clt_tensor_read(t, h, bytes);
  if (st != CLT_OK) {
    free(h);
    return st;
  }
  *out = h;
  return CLT_OK;
}

/* A double copy of float tensor t, or NULL for t NULL. */
static clt_status read_f64(clt_context *ctx, const clt_tensor *t,
                           double **out) {
  float *f;
  *out = NULL;
  CLT_TRY(read_host(ctx, t, (void **)&f));
  if (!f) return CLT_OK;
  size_t n = clt_tensor_numel(t);
  double *x = malloc(n * sizeof *x);
  if (x)
    for (size_t k = 0; k < n; k++) x[k] = f[k];
  free(f);
  if (!x)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "gradcheck: cannot allocate %zu doubles", n);
  *out = x;
  return CLT_OK;
}

static clt_status problem_load(clt_context *ctx, const clt_loss_desc *desc,
                               const clt_reg_desc *reg, const clt_tensor *X,
                               const clt_tensor *target, const clt_tensor *W,
                               const clt_tensor *b, gc_problem *p) {
  size_t n = X->rows, d = X->cols, c = W->cols;
  *p = (gc_problem){.n = n, .d = d, .c = c,
                    .reg = reg ? *reg : (clt_reg_desc){0.0f, 0.0f}};
  CLT_TRY(read_f64(ctx, X, &p->X));
  CLT_TRY(read_f64(ctx, W, &p->W));
  CLT_TRY(read_f64(ctx, b, &p->b));
  CLT_TRY(read_host(ctx, target->dtype == CLT_INT32 ? target : NULL,
                    (void **)&p->labels));
  CLT_TRY(read_host(ctx, target->dtype == CLT_FLOAT32 ? target : NULL,
                    (void **)&p->target));
  CLT_TRY(read_host(ctx, desc->class_weight, (void **)&p->cw));
  CLT_TRY(read_host(ctx, desc->pos_weight, (void **)&p->pw));
  p->S = malloc(n * c * sizeof *p->S);
  if (!p->S)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "gradcheck: cannot allocate %zu doubles", n * c);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < c; j++) {
      double s = p->b ? p->b[j] : 0.0;
      for (size_t k = 0; k < d; k++) s += p->X[i * d + k] * p->W[k * c + j];
      p->S[i * c + j] = s;
    }
  p->in = (clt_ref_loss_in){.desc = desc, .n = n, .c = c, .labels = p->labels,
                            .target = p->target, .class_weight = p->cw,
                            .pos_weight = p->pw};
  return clt_ref_loss_check(ctx, &p->in);
}

/* The reference backend's analytic gradient, in double throughout:
   dS from the reference loss, dW = X^T dS + reg'(W), db = colsum dS. */
static clt_status analytic_ref(clt_context *ctx, gc_problem *p, double *dW,
                               double *db) {
  size_t n = p->n, d = p->d, c = p->c;
  double *dS = malloc(n * c * sizeof *dS);
  if (!dS)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "gradcheck: cannot allocate %zu doubles", n * c);
  clt_ref_loss_f64(&p->in, p->S, dS);
  for (size_t k = 0; k < d; k++)
    for (size_t j = 0; j < c; j++) {
      double g;
      clt_reg_term(&p->reg, p->W[k * c + j], &g);
      for (size_t i = 0; i < n; i++) g += p->X[i * d + k] * dS[i * c + j];
      dW[k * c + j] = g;
    }
  for (size_t j = 0; j < c; j++) {
    double g = 0.0;
    for (size_t i = 0; i < n; i++) g += dS[i * c + j];
    db[j] = g;
  }
  free(dS);
  return CLT_OK;
}

/* The OpenCL device's analytic gradient: the library's own ops in float32
   (linear forward, loss, linear backward, regularize). */
static clt_status analytic_device(clt_context *ctx, const clt_loss_desc *desc,
                                  const clt_reg_desc *reg,
                                  const clt_tensor *X,
                                  const clt_tensor *target,
                                  const clt_tensor *W, const clt_tensor *b,
                                  double *dW, double *db) {
  size_t n = X->rows, d = X->cols, c = W->cols;
  clt_tensor *S = NULL, *dS = NULL, *tdW = NULL, *tdb = NULL;
  double *hdW = NULL, *hdb = NULL;
  clt_status st;
  if ((st = clt_tensor_create(ctx, n, c, CLT_FLOAT32, &S)) != CLT_OK ||
      (st = clt_tensor_create(ctx, n, c, CLT_FLOAT32, &dS)) != CLT_OK ||
      (st = clt_tensor_create(ctx, d, c, CLT_FLOAT32, &tdW)) != CLT_OK ||
      (b && (st = clt_tensor_create(ctx, 1, c, CLT_FLOAT32, &tdb)) != CLT_OK) ||
      (st = clt_linear_forward(ctx, X, W, b, S)) != CLT_OK ||
      (st = clt_loss(ctx, desc, S, target, NULL, dS)) != CLT_OK ||
      (st = clt_linear_backward(ctx, X, W, dS, tdW, tdb, NULL)) != CLT_OK ||
      (reg && (st = clt_regularize(ctx, reg, W, NULL, tdW)) != CLT_OK) ||
      (st = read_f64(ctx, tdW, &hdW)) != CLT_OK ||
      (st = read_f64(ctx, tdb, &hdb)) != CLT_OK)
    goto done;
  memcpy(dW, hdW, d * c * sizeof *dW);
  if (hdb) memcpy(db, hdb, c * sizeof *db);
done:
  free(hdW);
  free(hdb);
  clt_tensor_destroy(S);
  clt_tensor_destroy(dS);
  clt_tensor_destroy(tdW);
  clt_tensor_destroy(tdb);
  return st;
}

/* The floor of the relative error's denominator, as a fraction of the
   gradient's scale G (the largest |numeric| coordinate checked): a
   coordinate much smaller than G is compared absolutely against floor G,
   since its own relative error is rounding noise (a float32 column sum
   that should cancel to 0 leaves ~1e-8 G). */
#define FLOOR 1e-2

#define BIAS ((size_t)-1) /* numeric()'s row for the bias */

/* Central difference of loss + reg in W[row, col] (row BIAS: b[col]). A
   coordinate of W or b only moves column col of S, by h X[:, row] or h,
   so each evaluation is O(N C); col_saved (N) restores it exactly. */
static double numeric(gc_problem *p, size_t row, size_t col, double h,
                      double *col_saved) {
  size_t n = p->n, c = p->c;
  double f[2];
  for (size_t i = 0; i < n; i++) col_saved[i] = p->S[i * c + col];
  for (int side = 0; side < 2; side++) {
    double step = side == 0 ? h : -h;
    for (size_t i = 0; i < n; i++)
      p->S[i * c + col] =
          col_saved[i] + step * (row == BIAS ? 1.0 : p->X[i * p->d + row]);
    f[side] = clt_ref_loss_f64(&p->in, p->S, NULL);
  }
  for (size_t i = 0; i < n; i++) p->S[i * c + col] = col_saved[i];
  double g = (f[0] - f[1]) / (2.0 * h);
  if (row != BIAS) {
    double w = p->W[row * c + col];
    g += (clt_reg_term(&p->reg, w + h, NULL) -
          clt_reg_term(&p->reg, w - h, NULL)) / (2.0 * h);
  }
  return g;
}

/* The coordinates of one parameter to compare: all count of them
   (samples 0 or >= count) or `samples` drawn with replacement; k (todo)
   receives their indices. Returns todo. */
static size_t pick(size_t count, size_t samples, uint64_t *rng, size_t *k) {
  bool all = samples == 0 || samples >= count;
  size_t todo = all ? count : samples;
  for (size_t t = 0; t < todo; t++)
    k[t] = all ? t : (size_t)(clt_splitmix64(rng) % count);
  return todo;
}

/* The largest relative error of analytic a against numeric num over m
   coordinates, with the floor of FLOOR g_scale. */
static double max_error(const double *a, const double *num, size_t m,
                        double g_scale) {
  double worst = 0.0, floor = FLOOR * g_scale > 0 ? FLOOR * g_scale : DBL_MIN;
  for (size_t t = 0; t < m; t++) {
    double err = fabs(a[t] - num[t]) / fmax(fmax(fabs(a[t]), fabs(num[t])), floor);
    if (!(err <= worst)) worst = err; /* NaN sticks */
  }
  return worst;
}

clt_status clt_gradcheck(clt_context *ctx, const clt_loss_desc *desc,
                         const clt_reg_desc *reg, const clt_tensor *X,
                         const clt_tensor *target, const clt_tensor *W,
                         const clt_tensor *b, size_t samples, uint64_t seed,
                         double h, clt_gradcheck_result *result) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!result)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "gradcheck: result is NULL");
  if (!(h > 0.0) || !isfinite(h))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "gradcheck: step h = %g is not a positive finite number", h);
  CLT_TRY(clt_check_tensor(ctx, X, CLT_FLOAT32, "gradcheck: X"));
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "gradcheck: W"));
  size_t d = X->cols, c = W->cols;
  double *dW = calloc(d * c, sizeof *dW), *db = calloc(c, sizeof *db);
  double *col = calloc(X->rows, sizeof *col);
  /* At most d*c + c coordinates (fewer with samples). */
  size_t most = d * c + c;
  if (samples && samples < d * c) most = samples + (samples < c ? samples : c);
  size_t *idx = calloc(most, sizeof *idx);
  double *an = calloc(most, sizeof *an), *num = calloc(most, sizeof *num);
  gc_problem p = {0};
  clt_status st = CLT_OK;
  if (!dW || !db || !col || !idx || !an || !num) {
    st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "gradcheck: out of host memory");
    goto done;
  }
  /* The device pass validates every argument (shapes, labels, desc, reg). */
  st = analytic_device(ctx, desc, reg, X, target, W, b, dW, db);
  if (st != CLT_OK) goto done;
  st = problem_load(ctx, desc, reg, X, target, W, b, &p);
  if (st != CLT_OK) goto done;
  if (ctx->be->double_precision && (st = analytic_ref(ctx, &p, dW, db)) != CLT_OK)
    goto done;
  /* Both parameters' picked coordinates in one list: W's, then b's. */
  uint64_t rng = seed;
  size_t mW = pick(d * c, samples, &rng, idx);
  size_t mb = b ? pick(c, samples, &rng, idx + mW) : 0;
  double scale = 0.0;
  for (size_t t = 0; t < mW + mb; t++) {
    bool bias = t >= mW;
    size_t k = idx[t];
    an[t] = bias ? db[k] : dW[k];
    num[t] = numeric(&p, bias ? BIAS : k / c, k % c, h, col);
    scale = fmax(scale, fabs(num[t]));
  }
  *result = (clt_gradcheck_result){
      .max_rel_error_W = max_error(an, num, mW, scale),
      .max_rel_error_b = max_error(an + mW, num + mW, mb, scale),
      .checked_W = mW,
      .checked_b = mb};
done:
  problem_free(&p);
  free(dW);
  free(db);
  free(col);
  free(idx);
  free(an);
  free(num);
  return st;
}
