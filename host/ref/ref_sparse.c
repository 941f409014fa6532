/* Reference sparse (CSR) products: plain loops over the entries, double
   accumulation, rounded once. The specification host/cl/cl_sparse.c is
   tested against. */
#include <stdlib.h>
#include <string.h>

#include "../linear.h"

/* Row r of the rows: X's row index, or SIZE_MAX when idx holds one out of
   range (the row is skipped). */
static size_t row_of(const clt_csr *X, clt_batch_rows rows, size_t r) {
  if (!rows.idx) return rows.first + r;
  int32_t i = clt_ref_i32(rows.idx)[rows.first + r];
  return i >= 0 && (size_t)i < X->rows ? (size_t)i : SIZE_MAX;
}

clt_status clt_ref_csr_forward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                               float alpha, const clt_tensor *W, const clt_tensor *b, clt_tensor *S) {
  size_t C = W->cols;
  const int32_t *col = clt_ref_i32(X->col);
  const float *val = clt_ref_f32(X->val), *w = clt_ref_f32(W);
  const float *bias = b ? clt_ref_f32(b) : NULL;
  float *s = clt_ref_f32(S);
  double *acc = malloc(C * sizeof *acc);
  if (!acc) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr_forward: %zu doubles", C);
  for (size_t r = 0; r < rows.n; r++) {
    for (size_t c = 0; c < C; c++) acc[c] = 0.0;
    size_t i = row_of(X, rows, r);
    if (i != SIZE_MAX)
      for (int64_t k = clt_csr_begin(X, i); k < clt_csr_end(X, i); k++) {
        const float *wr = w + (size_t)col[k] * C;
        for (size_t c = 0; c < C; c++) acc[c] += (double)val[k] * wr[c];
      }
    for (size_t c = 0; c < C; c++)
      s[r * C + c] = (float)((bias ? bias[c] : 0.0) + alpha * acc[c]);
  }
  free(acc);
  return CLT_OK;
}

clt_status clt_ref_csr_backward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                const clt_tensor *dS, clt_tensor *dW, clt_tensor *db) {
  size_t D = X->cols, C = dS->cols;
  const int32_t *col = clt_ref_i32(X->col);
  const float *val = clt_ref_f32(X->val), *g = clt_ref_f32(dS);
  /* D*C + C fits: dW exists with D*C elements, and C < D*C + 1. */
  double *acc = calloc(D * C + C, sizeof *acc);
  if (!acc)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr_backward: %zu doubles", D * C + C);
  double *accb = acc + D * C;
  for (size_t r = 0; r < rows.n; r++) {
    const float *gr = g + r * C;
    size_t i = row_of(X, rows, r);
    if (i != SIZE_MAX)
      for (int64_t k = clt_csr_begin(X, i); k < clt_csr_end(X, i); k++) {
        double *ar = acc + (size_t)col[k] * C;
        for (size_t c = 0; c < C; c++) ar[c] += (double)val[k] * gr[c];
      }
    for (size_t c = 0; c < C; c++) accb[c] += gr[c];
  }
  float *dw = clt_ref_f32(dW);
  for (size_t e = 0; e < D * C; e++) dw[e] = (float)acc[e];
  if (db)
    for (size_t c = 0; c < C; c++) clt_ref_f32(db)[c] = (float)accb[c];
  free(acc);
  return CLT_OK;
}

clt_status clt_ref_csr_sgd(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                           const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                           float lr_b, clt_tensor *change_out, size_t at) {
  /* the gradient summed in double, then applied once */
  size_t D = X->cols, C = dS->cols;
  const int32_t *col = clt_ref_i32(X->col);
  const float *val = clt_ref_f32(X->val), *g = clt_ref_f32(dS);
  double *acc = calloc(D * C + C, sizeof *acc), change = 0;
  unsigned char *touched = calloc(D, 1);
  if (!acc || !touched) {
    free(acc), free(touched);
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr_sgd: %zu doubles", D * C + C);
  }
  double *accb = acc + D * C;
  for (size_t r = 0; r < rows.n; r++) {
    size_t i = row_of(X, rows, r);
    if (i != SIZE_MAX)
      for (int64_t k = clt_csr_begin(X, i); k < clt_csr_end(X, i); k++) {
        touched[col[k]] = 1;
        for (size_t c = 0; c < C; c++) acc[(size_t)col[k] * C + c] += (double)val[k] * g[r * C + c];
      }
    for (size_t c = 0; c < C; c++) accb[c] += g[r * C + c];
  }
  float *v = clt_ref_f32(V);
  for (size_t j = 0; j < D; j++)
    for (size_t c = 0; touched[j] && c < C; c++) {
      double old = v[j * C + c];
      v[j * C + c] = (float)(old - (double)step * acc[j * C + c]);
      change += (double)v[j * C + c] * v[j * C + c] - old * old;
    }
  for (size_t c = 0; b && c < C; c++)
    clt_ref_f32(b)[c] = (float)(clt_ref_f32(b)[c] - (double)lr_b * accb[c]);
  if (change_out) clt_ref_f32(change_out)[at] = (float)change;
  free(acc), free(touched);
  return CLT_OK;
}

clt_status clt_ref_csr_gather(clt_csr *dst, const clt_csr *src, const clt_tensor *idx,
                              size_t first) {
  const int32_t *ix = clt_ref_i32(idx) + first;
  for (size_t r = 0; r < dst->rows; r++) {
    size_t i = (size_t)ix[r], at = (size_t)clt_csr_begin(dst, r);
    size_t from = (size_t)clt_csr_begin(src, i), n = (size_t)clt_csr_end(src, i) - from;
    memcpy(clt_ref_i32(dst->col) + at, clt_ref_i32(src->col) + from, n * 4);
    memcpy(clt_ref_f32(dst->val) + at, clt_ref_f32(src->val) + from, n * 4);
  }
  return CLT_OK;
}
