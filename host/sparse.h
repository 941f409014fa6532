/* The sparse (CSR) ops over rows of X read through an index, for the
   trainer and the composed gradient (internal; host/sparse.c): the
   backend's, timed, for callers whose arguments are already valid. */
#ifndef CLT_SPARSE_H
#define CLT_SPARSE_H

#include "internal.h"

/* S = alpha X[rows] W + b (b may be NULL). */
clt_status clt_csr_forward_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                float alpha, const clt_tensor *W, const clt_tensor *b,
                                clt_tensor *S);
/* dW = X[rows]^T dS, db = its column sums (NULL: none). */
clt_status clt_csr_backward_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                 const clt_tensor *dS, clt_tensor *dW, clt_tensor *db);
/* Plain SGD on the rows' gradient, touching only the weights of the
   columns the rows hold (the backend's csr_sgd, host/backend.h). */
clt_status clt_csr_sgd_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                            const clt_tensor *dS, clt_tensor *V, clt_tensor *G, float step,
                            clt_tensor *b, float lr_b, double *dnorm);
/* t *= alpha. */
clt_status clt_scale_tensor(clt_tensor *t, float alpha);

#endif /* CLT_SPARSE_H */
