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
/* The forward, then the loss of S against the labels or targets y and
   dS (clt_loss_deferred with defer, NULL: none): one pass where the
   backend's csr_loss takes the problem (host/backend.h), the arguments
   unchecked (the caller vouches for them: each label in [0, C)) and S
   unused; otherwise the two ops, with S (n, C) the scores. */
clt_status clt_csr_loss_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                             float alpha, const clt_tensor *W, const clt_tensor *b,
                             const clt_loss_desc *desc, const clt_tensor *y, clt_tensor *S,
                             clt_loss_slot *defer, double *loss, clt_tensor *dS);
/* dW = X[rows]^T dS, db = its column sums (NULL: none). */
clt_status clt_csr_backward_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                 const clt_tensor *dS, clt_tensor *dW, clt_tensor *db);
/* Plain SGD on the rows' gradient, touching only the weights of the
   columns the rows hold (the backend's csr_sgd, host/backend.h). */
clt_status clt_csr_sgd_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                            const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                            float lr_b, clt_tensor *change, size_t at);
/* Checks CSR arrays as clt_csr_create does (CLT_ERR_INVALID_ARG naming the
   row); *sorted false when some row's columns are out of order (repeats
   then show only once sorted). */
clt_status clt_csr_check(clt_context *ctx, size_t rows, size_t cols, const int64_t *indptr,
                         const int32_t *indices, bool *sorted);
/* A matrix with room for rows rows of nnz entries (none yet), whose rows
   clt_csr_stage replaces: the staging buffer of a streamed minibatch. */
clt_status clt_csr_staging(clt_context *ctx, size_t rows, size_t cols, uint64_t nnz,
                           clt_csr **out);
/* X's rows replaced by n rows from host arrays (ptr from 0, sorted
   distinct columns: the caller's rows of a checked matrix), uploaded. */
clt_status clt_csr_stage(clt_csr *X, size_t n, const int64_t *ptr, const int32_t *col,
                         const float *val);
/* X's offsets, columns and values mapped for the host's writes, in place
   of clt_csr_stage's uploads (backends that map, clt_tensor_mappable):
   the three maps' pendings as clt_tensor_map_write's, each to be waited
   for before its array is written. On a failure none stays mapped. */
clt_status clt_csr_stage_map(clt_csr *X, int64_t **ptr, int32_t **col, float **val,
                             void *pending[3]);
/* The rows written into a mapped X (n rows at offsets ptr from 0, as
   clt_csr_stage's) handed back to the device: X holds them (n 0: X's rows
   unchanged, the maps ended). The arrays are unmapped even when the rows
   do not fit. */
clt_status clt_csr_stage_unmap(clt_csr *X, size_t n, int64_t *ptr, int32_t *col, float *val);
/* t *= alpha. */
clt_status clt_scale_tensor(clt_tensor *t, float alpha);

#endif /* CLT_SPARSE_H */
