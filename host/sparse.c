/* Sparse matrices (CSR): creation with validation, views, gathers, reads,
   and the sparse linear products' validation and dispatch. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "loss_impl.h"
#include "sparse.h"

typedef struct csr_entry {
  int32_t col;
  float val;
} csr_entry;

static int entry_order(const void *a, const void *b) {
  int32_t x = ((const csr_entry *)a)->col, y = ((const csr_entry *)b)->col;
  return (x > y) - (x < y);
}

clt_status clt_csr_check(clt_context *ctx, size_t rows, size_t cols, const int64_t *indptr,
                         const int32_t *indices, bool *sorted) {
  if (indptr[0] != 0)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "csr_create: indptr[0] is %lld, not 0",
                    (long long)indptr[0]);
  for (size_t r = 0; r < rows; r++)
    if (indptr[r + 1] < indptr[r])
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "csr_create: indptr decreases at row %zu (%lld after %lld)", r,
                      (long long)indptr[r + 1], (long long)indptr[r]);
  *sorted = true;
  for (size_t r = 0; r < rows; r++)
    for (int64_t k = indptr[r]; k < indptr[r + 1]; k++) {
      int32_t c = indices[k];
      if (c < 0 || (size_t)c >= cols)
        return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                        "csr_create: row %zu has column %d, outside [0, %zu)", r, c, cols);
      if (k > indptr[r] && c <= indices[k - 1]) {
        if (c == indices[k - 1])
          return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                          "csr_create: row %zu has column %d twice", r, c);
        *sorted = false;
      }
    }
  return CLT_OK;
}

/* The entries sorted by column within each row, into fresh arrays. */
static clt_status sort_rows(clt_context *ctx, size_t rows, const int64_t *indptr,
                            const int32_t *indices, const float *values, int32_t **col_out,
                            float **val_out) {
  size_t nnz = (size_t)indptr[rows];
  int32_t *col = malloc(nnz * sizeof *col);
  float *val = malloc(nnz * sizeof *val);
  csr_entry *row = NULL;
  size_t cap = 0;
  clt_status st = CLT_OK;
  if (!col || !val) {
    st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr_create: cannot sort %zu entries", nnz);
    goto out;
  }
  for (size_t r = 0; r < rows; r++) {
    size_t a = (size_t)indptr[r], n = (size_t)indptr[r + 1] - a;
    if (n > cap) {
      csr_entry *grown = realloc(row, n * sizeof *row);
      if (!grown) {
        st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr_create: cannot sort row %zu", r);
        goto out;
      }
      row = grown, cap = n;
    }
    for (size_t k = 0; k < n; k++) row[k] = (csr_entry){indices[a + k], values[a + k]};
    if (n > 1) qsort(row, n, sizeof *row, entry_order);
    for (size_t k = 0; k < n; k++) {
      if (k > 0 && row[k].col == row[k - 1].col) {
        st = clt_fail(ctx, CLT_ERR_INVALID_ARG, "csr_create: row %zu has column %d twice",
                      r, row[k].col);
        goto out;
      }
      col[a + k] = row[k].col, val[a + k] = row[k].val;
    }
  }
out:
  free(row);
  if (st != CLT_OK) {
    free(col), free(val);
    return st;
  }
  *col_out = col, *val_out = val;
  return CLT_OK;
}

static void csr_free(clt_csr *X) {
  clt_tensor_destroy(X->ptr);
  clt_tensor_destroy(X->col);
  clt_tensor_destroy(X->val);
  if (X->index && --X->index->refs == 0) free(X->index);
  free(X);
}

/* A matrix of rows x cols with nnz entries, its tensors allocated and its
   offsets ptr (rows + 1 values) copied to the host index and the device;
   the entries are left to the caller. */
static clt_status csr_new(clt_context *ctx, size_t rows, size_t cols, const int64_t *ptr,
                          clt_csr **out) {
  size_t nnz = (size_t)ptr[rows], ptr_bytes;
  if (!clt_mul_size(rows + 1, 8, &ptr_bytes) || nnz > SIZE_MAX / 4)
    return clt_fail(ctx, CLT_ERR_SHAPE, "csr: %zu rows, %zu entries overflow", rows, nnz);
  clt_csr *X = calloc(1, sizeof *X);
  if (!X) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr: out of host memory");
  *X = (clt_csr){.ctx = ctx, .rows = rows, .cols = cols, .nnz = nnz};
  X->index = malloc(sizeof *X->index + ptr_bytes);
  if (!X->index) {
    free(X);
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr: cannot hold %zu row offsets", rows + 1);
  }
  X->index->refs = 1;
  X->index->n = rows + 1;
  memcpy(X->index->ptr, ptr, ptr_bytes);
  size_t slots = nnz ? nnz : 1;
  clt_status st = clt_tensor_create(ctx, rows + 1, 2, CLT_INT32, &X->ptr);
  if (st == CLT_OK) st = clt_tensor_create(ctx, slots, 1, CLT_INT32, &X->col);
  if (st == CLT_OK) st = clt_tensor_create(ctx, slots, 1, CLT_FLOAT32, &X->val);
  if (st == CLT_OK) st = clt_tensor_write(X->ptr, ptr, ptr_bytes);
  if (st != CLT_OK) {
    csr_free(X);
    return st;
  }
  *out = X;
  return CLT_OK;
}

clt_status clt_csr_staging(clt_context *ctx, size_t rows, size_t cols, uint64_t nnz,
                           clt_csr **out) {
  int64_t *ptr = calloc(rows + 1, sizeof *ptr);
  if (!ptr) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr staging: %zu rows", rows);
  ptr[rows] = (int64_t)nnz;
  clt_status st = csr_new(ctx, rows, cols, ptr, out);
  free(ptr);
  return st;
}

/* Whether n rows of ptr[n] entries fit staging X (with a failure said). */
static clt_status stage_fits(clt_csr *X, size_t n, size_t nnz) {
  if (n == 0 || n + 1 > X->index->n || nnz > X->col->rows || X->first != 0)
    return clt_fail(X->ctx, CLT_ERR_SHAPE,
                    "csr_stage: %zu rows of %zu entries in room for %zu rows of %zu", n, nnz,
                    X->index->n - 1, X->col->rows);
  return CLT_OK;
}

/* X's host index and shape set to n rows at offsets ptr. */
static void stage_index(clt_csr *X, size_t n, const int64_t *ptr) {
  memcpy(X->index->ptr, ptr, (n + 1) * sizeof *ptr);
  X->rows = n;
  X->nnz = (uint64_t)ptr[n];
}

clt_status clt_csr_stage(clt_csr *X, size_t n, const int64_t *ptr, const int32_t *col,
                         const float *val) {
  size_t nnz = (size_t)ptr[n];
  CLT_TRY(stage_fits(X, n, nnz));
  clt_tensor *p = NULL, *c = NULL, *v = NULL;
  clt_status st = clt_tensor_view_rows(X->ptr, 0, n + 1, &p);
  if (st == CLT_OK) st = clt_tensor_write(p, ptr, (n + 1) * 8);
  if (st == CLT_OK && nnz) st = clt_tensor_view_rows(X->col, 0, nnz, &c);
  if (st == CLT_OK && nnz) st = clt_tensor_write(c, col, nnz * 4);
  if (st == CLT_OK && nnz) st = clt_tensor_view_rows(X->val, 0, nnz, &v);
  if (st == CLT_OK && nnz) st = clt_tensor_write(v, val, nnz * 4);
  clt_tensor_destroy(p), clt_tensor_destroy(c), clt_tensor_destroy(v);
  if (st != CLT_OK) return st;
  stage_index(X, n, ptr);
  return CLT_OK;
}

clt_status clt_csr_stage_map(clt_csr *X, int64_t **ptr, int32_t **col, float **val,
                             void *pending[3]) {
  clt_tensor *t[3] = {X->ptr, X->col, X->val};
  void **host[3] = {(void **)ptr, (void **)col, (void **)val};
  for (int i = 0; i < 3; i++) {
    clt_status st = clt_tensor_map_write(t[i], host[i], &pending[i]);
    if (st == CLT_OK) continue;
    for (int j = 0; j < i; j++) { /* none or all: the ones mapped go back */
      (void)clt_pending_wait(X->ctx, &pending[j]);
      (void)clt_tensor_unmap(t[j], *host[j]);
      *host[j] = NULL;
    }
    return st;
  }
  return CLT_OK;
}

clt_status clt_csr_stage_unmap(clt_csr *X, size_t n, int64_t *ptr, int32_t *col, float *val) {
  clt_status st = n ? stage_fits(X, n, (size_t)ptr[n]) : CLT_OK;
  if (st == CLT_OK && n) stage_index(X, n, ptr);
  clt_tensor *t[3] = {X->ptr, X->col, X->val};
  void *host[3] = {ptr, col, val};
  for (int i = 0; i < 3; i++) {
    clt_status u = clt_tensor_unmap(t[i], host[i]);
    if (st == CLT_OK) st = u;
  }
  return st;
}

clt_status clt_csr_create(clt_context *ctx, size_t rows, size_t cols, const int64_t *indptr,
                          const int32_t *indices, const float *values, clt_csr **out) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!out || !indptr)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "csr_create: %s is NULL",
                    out ? "indptr" : "out");
  if (rows == 0 || cols == 0 || cols > INT32_MAX || rows == SIZE_MAX)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "csr_create: %zux%zu: rows and columns must be in [1, 2^31)", rows, cols);
  if (indptr[rows] > 0 && (!indices || !values))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "csr_create: %s is NULL with %lld entries",
                    indices ? "values" : "indices", (long long)indptr[rows]);
  bool sorted = true;
  CLT_TRY(clt_csr_check(ctx, rows, cols, indptr, indices, &sorted));
  int32_t *col_sorted = NULL;
  float *val_sorted = NULL;
  if (!sorted) {
    CLT_TRY(sort_rows(ctx, rows, indptr, indices, values, &col_sorted, &val_sorted));
    indices = col_sorted, values = val_sorted;
  }
  clt_csr *X;
  clt_status st = csr_new(ctx, rows, cols, indptr, &X);
  size_t nnz = (size_t)indptr[rows];
  if (st == CLT_OK && nnz > 0) {
    st = clt_tensor_write(X->col, indices, nnz * 4);
    if (st == CLT_OK) st = clt_tensor_write(X->val, values, nnz * 4);
    if (st != CLT_OK) csr_free(X);
  }
  free(col_sorted);
  free(val_sorted);
  if (st == CLT_OK) *out = X;
  return st;
}

/* A tensor sharing all of t's memory. */
static clt_status share(clt_tensor *t, clt_tensor **out) {
  return clt_tensor_view_rows(t, 0, t->rows, out);
}

clt_status clt_csr_view_rows(clt_csr *X, size_t first, size_t count, clt_csr **out) {
  if (!X) return CLT_ERR_INVALID_ARG;
  if (!out) return clt_fail(X->ctx, CLT_ERR_INVALID_ARG, "csr_view_rows: out is NULL");
  if (count == 0 || first >= X->rows || count > X->rows - first)
    return clt_fail(X->ctx, CLT_ERR_SHAPE,
                    "csr_view_rows: rows [%zu, %zu+%zu) outside a matrix of %zu rows", first,
                    first, count, X->rows);
  clt_csr *v = calloc(1, sizeof *v);
  if (!v) return clt_fail(X->ctx, CLT_ERR_OUT_OF_MEMORY, "csr_view_rows: out of host memory");
  *v = (clt_csr){.ctx = X->ctx, .rows = count, .cols = X->cols, .first = X->first + first};
  clt_status st = share(X->ptr, &v->ptr);
  if (st == CLT_OK) st = share(X->col, &v->col);
  if (st == CLT_OK) st = share(X->val, &v->val);
  if (st != CLT_OK) {
    csr_free(v);
    return st;
  }
  v->index = X->index;
  v->index->refs++;
  v->nnz = (uint64_t)(clt_csr_end(v, count - 1) - clt_csr_begin(v, 0));
  *out = v;
  return CLT_OK;
}

clt_status clt_csr_gather_rows(const clt_csr *src, const clt_tensor *idx, size_t first,
                               size_t count, clt_csr **out) {
  if (!src) return CLT_ERR_INVALID_ARG;
  clt_context *ctx = src->ctx;
  if (!out) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "csr_gather_rows: out is NULL");
  CLT_TRY(clt_check_tensor(ctx, idx, CLT_INT32, "csr_gather_rows: idx"));
  if (idx->cols != 1 || count == 0 || first > idx->rows || idx->rows - first < count)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "csr_gather_rows: %zu rows from row %zu of idx %zux%zu do not fit", count,
                    first, idx->rows, idx->cols);
  /* The new offsets come from the host index and the indices, read back. */
  int32_t *ix = malloc(count * sizeof *ix);
  int64_t *ptr = malloc((count + 1) * sizeof *ptr);
  clt_tensor *part = NULL;
  clt_csr *dst = NULL;
  clt_status st = CLT_OK;
  if (!ix || !ptr) {
    st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "csr_gather_rows: %zu rows", count);
    goto out;
  }
  st = clt_tensor_view_rows((clt_tensor *)idx, first, count, &part);
  if (st == CLT_OK) st = clt_tensor_read(part, ix, count * 4);
  if (st != CLT_OK) goto out;
  ptr[0] = 0;
  for (size_t r = 0; r < count; r++) {
    if (ix[r] < 0 || (size_t)ix[r] >= src->rows) {
      st = clt_fail(ctx, CLT_ERR_LABEL, "csr_gather_rows: idx[%zu] = %d outside [0, %zu)",
                    first + r, ix[r], src->rows);
      goto out;
    }
    ptr[r + 1] = ptr[r] + (clt_csr_end(src, (size_t)ix[r]) - clt_csr_begin(src, (size_t)ix[r]));
  }
  st = csr_new(ctx, count, src->cols, ptr, &dst);
  if (st != CLT_OK) goto out;
  double t0 = clt_timing_start(ctx);
  st = clt_timed(ctx, "csr_gather", CLT_TIMING_KERNEL, 0, t0,
                 ctx->be->csr_gather(dst, src, idx, first));
  if (st != CLT_OK) {
    csr_free(dst);
    goto out;
  }
  *out = dst;
out:
  clt_tensor_destroy(part);
  free(ix);
  free(ptr);
  return st;
}

clt_status clt_csr_read(const clt_csr *X, int64_t *indptr, int32_t *indices, float *values) {
  if (!X) return CLT_ERR_INVALID_ARG;
  if (!indptr) return clt_fail(X->ctx, CLT_ERR_INVALID_ARG, "csr_read: indptr is NULL");
  int64_t base = clt_csr_begin(X, 0);
  for (size_t r = 0; r <= X->rows; r++) indptr[r] = X->index->ptr[X->first + r] - base;
  if (X->nnz == 0) return CLT_OK;
  clt_tensor *tensors[2] = {X->col, X->val};
  void *hosts[2] = {indices, values};
  for (int i = 0; i < 2; i++) {
    if (!hosts[i]) continue;
    clt_tensor *part;
    CLT_TRY(clt_tensor_view_rows(tensors[i], (size_t)base, (size_t)X->nnz, &part));
    clt_status st = clt_tensor_read(part, hosts[i], (size_t)X->nnz * 4);
    clt_tensor_destroy(part);
    CLT_TRY(st);
  }
  return CLT_OK;
}

void clt_csr_destroy(clt_csr *X) {
  if (X) csr_free(X);
}

size_t clt_csr_rows(const clt_csr *X) { return X ? X->rows : 0; }
size_t clt_csr_cols(const clt_csr *X) { return X ? X->cols : 0; }
uint64_t clt_csr_nnz(const clt_csr *X) { return X ? X->nnz : 0; }

static clt_status check_csr(clt_context *ctx, const clt_csr *X, const char *name) {
  if (!X) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s is NULL", name);
  if (X->ctx != ctx) return clt_fail(ctx, CLT_ERR_CONTEXT, "%s belongs to another context", name);
  return CLT_OK;
}

/* Each pair of a, b and c (NULLs skipped) shares no memory. */
static clt_status check_apart(clt_context *ctx, const char *fn, const clt_tensor *a,
                              const char *an, const clt_tensor *b, const char *bn,
                              const clt_tensor *c, const char *cn) {
  if (clt_tensors_overlap(a, b))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s: %s overlaps %s in memory", fn, an, bn);
  if (clt_tensors_overlap(a, c) || clt_tensors_overlap(b, c))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s: %s overlaps %s in memory", fn, cn,
                    clt_tensors_overlap(a, c) ? an : bn);
  return CLT_OK;
}

clt_status clt_csr_linear_forward(clt_context *ctx, const clt_csr *X, const clt_tensor *W,
                                  const clt_tensor *b, clt_tensor *S) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_csr(ctx, X, "csr_linear_forward: X"));
  CLT_TRY(clt_check_tensor(ctx, W, CLT_FLOAT32, "csr_linear_forward: W"));
  if (b) CLT_TRY(clt_check_tensor(ctx, b, CLT_FLOAT32, "csr_linear_forward: b"));
  CLT_TRY(clt_check_tensor(ctx, S, CLT_FLOAT32, "csr_linear_forward: S"));
  size_t C = W->cols;
  CLT_TRY(clt_check_shape(ctx, W, X->cols, C, "csr_linear_forward: W"));
  if (b) CLT_TRY(clt_check_shape(ctx, b, 1, C, "csr_linear_forward: b"));
  CLT_TRY(clt_check_shape(ctx, S, X->rows, C, "csr_linear_forward: S"));
  CLT_TRY(check_apart(ctx, "csr_linear_forward", W, "W", b, "b", S, "S"));
  return clt_csr_forward_rows(ctx, X, (clt_batch_rows){NULL, 0, X->rows}, 1.0f, W, b, S);
}

clt_status clt_csr_forward_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                float alpha, const clt_tensor *W, const clt_tensor *b,
                                clt_tensor *S) {
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "csr_linear_forward", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->csr_forward(ctx, X, rows, alpha, W, b, S));
}

clt_status clt_csr_loss_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                             float alpha, const clt_tensor *W, const clt_tensor *b,
                             const clt_loss_desc *desc, const clt_tensor *y, clt_tensor *S,
                             clt_loss_slot *defer, double *loss, clt_tensor *dS) {
  const clt_backend *be = ctx->be;
  if (!be->csr_loss || !be->csr_loss_supports(ctx, desc, y, W->cols)) {
    CLT_TRY(clt_csr_forward_rows(ctx, X, rows, alpha, W, b, S));
    return clt_loss_deferred(ctx, desc, S, y, defer, loss, dS);
  }
  double value = 0, t0 = clt_timing_start(ctx);
  CLT_TRY(clt_timed(ctx, "csr_loss", CLT_TIMING_KERNEL, 0, t0,
                    be->csr_loss(ctx, X, rows, alpha, W, b, desc, y, defer, &value, dS)));
  return defer && defer->written ? CLT_OK : clt_loss_report(ctx, desc, value, loss);
}

clt_status clt_csr_backward_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                                 const clt_tensor *dS, clt_tensor *dW, clt_tensor *db) {
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "csr_linear_backward", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->csr_backward(ctx, X, rows, dS, dW, db));
}

clt_status clt_csr_sgd_rows(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                            const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                            float lr_b, clt_tensor *change, size_t at) {
  if (change) {
    CLT_TRY(clt_check_tensor(ctx, change, CLT_FLOAT32, "csr_sgd: change"));
    if (at >= clt_tensor_numel(change))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "csr_sgd: the change's element %zu is beyond its %zu", at,
                      clt_tensor_numel(change));
  }
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "csr_sgd", CLT_TIMING_KERNEL, 0, t0,
                   ctx->be->csr_sgd(ctx, X, rows, dS, V, step, b, lr_b, change, at));
}

clt_status clt_scale_tensor(clt_tensor *t, float alpha) {
  double t0 = clt_timing_start(t->ctx);
  return clt_timed(t->ctx, "scale", CLT_TIMING_KERNEL, 0, t0, t->ctx->be->scale(t, alpha));
}

clt_status clt_csr_linear_backward(clt_context *ctx, const clt_csr *X, const clt_tensor *dS,
                                   clt_tensor *dW, clt_tensor *db) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_csr(ctx, X, "csr_linear_backward: X"));
  CLT_TRY(clt_check_tensor(ctx, dS, CLT_FLOAT32, "csr_linear_backward: dS"));
  CLT_TRY(clt_check_tensor(ctx, dW, CLT_FLOAT32, "csr_linear_backward: dW"));
  if (db) CLT_TRY(clt_check_tensor(ctx, db, CLT_FLOAT32, "csr_linear_backward: db"));
  size_t C = dS->cols;
  CLT_TRY(clt_check_shape(ctx, dS, X->rows, C, "csr_linear_backward: dS"));
  CLT_TRY(clt_check_shape(ctx, dW, X->cols, C, "csr_linear_backward: dW"));
  if (db) CLT_TRY(clt_check_shape(ctx, db, 1, C, "csr_linear_backward: db"));
  CLT_TRY(check_apart(ctx, "csr_linear_backward", dS, "dS", dW, "dW", db, "db"));
  return clt_csr_backward_rows(ctx, X, (clt_batch_rows){NULL, 0, X->rows}, dS, dW, db);
}
