/* Reference linear scores and gradients: plain loops, double accumulation.
   This is the specification the OpenCL kernels are tested against. */
#include <stdlib.h>

#include "linear.h"

/* X (N,D), W (D,C), b (1,C) or NULL -> S (N,C):
   S[n,c] = b[c] + sum_d X[n,d] W[d,c]. */
clt_status clt_ref_linear_forward(clt_context *ctx, const clt_tensor *X,
                                  const clt_tensor *W, const clt_tensor *b,
                                  clt_tensor *S) {
  size_t N = X->rows, D = X->cols, C = W->cols;
  const float *x = clt_ref_f32(X), *w = clt_ref_f32(W);
  const float *bias = b ? clt_ref_f32(b) : NULL;
  float *s = clt_ref_f32(S);
  double *acc = malloc(C * sizeof *acc);
  if (!acc)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "linear_forward: cannot allocate %zu doubles", C);
  for (size_t n = 0; n < N; n++) {
    for (size_t c = 0; c < C; c++) acc[c] = bias ? bias[c] : 0.0;
    /* Row-major W: the inner loop walks a row of W, contiguous in c. */
    for (size_t d = 0; d < D; d++) {
      double xv = x[n * D + d];
      const float *wr = w + d * C;
      for (size_t c = 0; c < C; c++) acc[c] += xv * wr[c];
    }
    for (size_t c = 0; c < C; c++) s[n * C + c] = (float)acc[c];
  }
  free(acc);
  return CLT_OK;
}

/* X (N,D), W (D,C), dS (N,C) -> dW (D,C) = X^T dS, db (1,C) = sum_n dS[n,:]
   (or NULL), dX (N,D) = dS W^T (or NULL). */
clt_status clt_ref_linear_backward(clt_context *ctx, const clt_tensor *X,
                                   const clt_tensor *W, const clt_tensor *dS,
                                   clt_tensor *dW, clt_tensor *db,
                                   clt_tensor *dX) {
  size_t N = X->rows, D = X->cols, C = W->cols;
  const float *x = clt_ref_f32(X), *w = clt_ref_f32(W), *g = clt_ref_f32(dS);
  /* D*C fits: dW exists with that many elements. */
  double *acc = calloc(D * C + C, sizeof *acc);
  if (!acc)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                    "linear_backward: cannot allocate %zu doubles", D * C + C);
  double *accb = acc + D * C;
  for (size_t n = 0; n < N; n++) {
    const float *gr = g + n * C;
    for (size_t d = 0; d < D; d++) {
      double xv = x[n * D + d];
      double *ar = acc + d * C;
      for (size_t c = 0; c < C; c++) ar[c] += xv * gr[c];
    }
    for (size_t c = 0; c < C; c++) accb[c] += gr[c];
  }
  float *dw = clt_ref_f32(dW);
  for (size_t i = 0; i < D * C; i++) dw[i] = (float)acc[i];
  if (db) {
    float *dbp = clt_ref_f32(db);
    for (size_t c = 0; c < C; c++) dbp[c] = (float)accb[c];
  }
  free(acc);
  if (dX) {
    float *dx = clt_ref_f32(dX);
    for (size_t n = 0; n < N; n++)
      for (size_t d = 0; d < D; d++) {
        double a = 0.0;
        for (size_t c = 0; c < C; c++) a += (double)g[n * C + c] * w[d * C + c];
        dx[n * D + d] = (float)a;
      }
  }
  return CLT_OK;
}
