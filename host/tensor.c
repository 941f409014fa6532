/* Tensors: creation, transfers, views, fill and copy: validation, then
   the context's backend. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static void storage_free(const clt_context *ctx, clt_storage *st) {
  ctx->be->release(st);
  free(st);
}

/* A new storage of bytes on ctx's backend (refs 1), or NULL after recording
   why. */
static clt_storage *storage_new(clt_context *ctx, size_t bytes, clt_status *st) {
  clt_storage *s = calloc(1, sizeof *s);
  if (!s) {
    *st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "out of host memory");
    return NULL;
  }
  s->refs = 1;
  s->bytes = bytes;
  if ((*st = ctx->be->alloc(ctx, s)) != CLT_OK) {
    free(s);
    return NULL;
  }
  return s;
}

clt_status clt_tensor_create(clt_context *ctx, size_t rows, size_t cols,
                             clt_dtype dtype, clt_tensor **out) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!out) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "tensor_create: out is NULL");
  if (dtype != CLT_FLOAT32 && dtype != CLT_INT32)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "tensor_create: bad dtype %d",
                    (int)dtype);
  size_t numel, bytes;
  if (rows == 0 || cols == 0)
    return clt_fail(ctx, CLT_ERR_SHAPE, "tensor_create: %zux%zu is empty",
                    rows, cols);
  if (!clt_mul_size(rows, cols, &numel) || !clt_mul_size(numel, 4, &bytes))
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "tensor_create: %zux%zu x 4 bytes overflows size_t", rows,
                    cols);
  clt_tensor *t = malloc(sizeof *t);
  if (!t) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "tensor_create: out of host memory");
  clt_status s;
  clt_storage *st = storage_new(ctx, bytes, &s);
  if (!st) {
    free(t);
    return s;
  }
  ctx->refs++;
  *t = (clt_tensor){.ctx = ctx, .st = st, .rows = rows, .cols = cols,
                    .dtype = dtype};
  *out = t;
  return CLT_OK;
}

static clt_status check_bytes(const clt_tensor *t, const void *host,
                              size_t bytes, const char *fn) {
  if (!host) return clt_fail(t->ctx, CLT_ERR_INVALID_ARG, "%s: host pointer is NULL", fn);
  size_t want = clt_tensor_numel(t) * 4;
  if (bytes != want)
    return clt_fail(t->ctx, CLT_ERR_SHAPE,
                    "%s: %zu bytes given, the %zux%zu tensor holds %zu", fn,
                    bytes, t->rows, t->cols, want);
  return CLT_OK;
}

clt_status clt_tensor_write(clt_tensor *t, const void *host, size_t bytes) {
  if (!t) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_bytes(t, host, bytes, "tensor_write"));
  double t0 = clt_timing_start(t->ctx);
  return clt_timed(t->ctx, "write", CLT_TIMING_TRANSFER, bytes, t0,
                   t->ctx->be->write(t, host, bytes));
}

bool clt_tensor_mappable(const clt_context *ctx) { return ctx->be->map_write != NULL; }

clt_status clt_tensor_map_write(clt_tensor *t, void **host, void **pending) {
  if (!t->ctx->be->map_write)
    return clt_fail(t->ctx, CLT_ERR_INVALID_ARG, "tensor_map_write: not on this backend");
  *pending = NULL;
  return t->ctx->be->map_write(t, host, pending);
}

clt_status clt_tensor_unmap(clt_tensor *t, void *host) { return t->ctx->be->unmap(t, host); }

clt_status clt_pending_wait(clt_context *ctx, void **pending) {
  if (!*pending) return CLT_OK;
  clt_status st = ctx->be->wait(ctx, *pending);
  *pending = NULL;
  return st;
}

clt_status clt_tensor_read(const clt_tensor *t, void *host, size_t bytes) {
  if (!t) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_bytes(t, host, bytes, "tensor_read"));
  double t0 = clt_timing_start(t->ctx);
  return clt_timed(t->ctx, "read", CLT_TIMING_TRANSFER, bytes, t0,
                   t->ctx->be->read(t, host, bytes));
}

clt_status clt_tensor_view_rows(clt_tensor *t, size_t first, size_t count,
                                clt_tensor **out) {
  if (!t) return CLT_ERR_INVALID_ARG;
  if (!out) return clt_fail(t->ctx, CLT_ERR_INVALID_ARG, "tensor_view_rows: out is NULL");
  if (count == 0 || first >= t->rows || count > t->rows - first)
    return clt_fail(t->ctx, CLT_ERR_SHAPE,
                    "tensor_view_rows: rows [%zu, %zu+%zu) outside a tensor "
                    "of %zu rows",
                    first, first, count, t->rows);
  clt_tensor *v = malloc(sizeof *v);
  if (!v) return clt_fail(t->ctx, CLT_ERR_OUT_OF_MEMORY, "tensor_view_rows: out of host memory");
  *v = *t;
  v->offset = t->offset + first * t->cols;
  v->rows = count;
  v->st->refs++;
  *out = v;
  return CLT_OK;
}

void clt_tensor_destroy(clt_tensor *t) {
  if (!t) return;
  clt_storage *st = t->st;
  clt_context *ctx = t->ctx;
  free(t);
  if (--st->refs > 0) return;
  storage_free(ctx, st);
  clt_context_release(ctx);
}

clt_status clt_tensor_fill(clt_tensor *t, double value) {
  if (!t) return CLT_ERR_INVALID_ARG;
  if (t->dtype == CLT_INT32 && !(value >= INT32_MIN && value <= INT32_MAX))
    return clt_fail(t->ctx, CLT_ERR_INVALID_ARG,
                    "tensor_fill: %g does not fit an int32 tensor", value);
  double t0 = clt_timing_start(t->ctx);
  return clt_timed(t->ctx, "fill", CLT_TIMING_TRANSFER, clt_tensor_numel(t) * 4,
                   t0, t->ctx->be->fill(t, value));
}

clt_status clt_tensor_copy(clt_tensor *dst, const clt_tensor *src) {
  if (!dst) return CLT_ERR_INVALID_ARG;
  clt_context *ctx = dst->ctx;
  CLT_TRY(clt_check_tensor(ctx, src, dst->dtype, "tensor_copy: src"));
  CLT_TRY(clt_check_shape(ctx, src, dst->rows, dst->cols, "tensor_copy: src"));
  if (clt_tensors_overlap(dst, src) && dst->offset != src->offset)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "tensor_copy: dst and src overlap in memory (a copy onto itself is the only "
                    "overlap allowed)");
  double t0 = clt_timing_start(ctx);
  return clt_timed(ctx, "copy", CLT_TIMING_TRANSFER, clt_tensor_numel(dst) * 4,
                   t0, ctx->be->copy(dst, src));
}

static clt_status gather(clt_tensor *dst, const clt_tensor *src,
                         const clt_tensor *idx, size_t first, bool check) {
  double t0 = clt_timing_start(dst->ctx);
  return clt_timed(dst->ctx, "gather_rows", CLT_TIMING_KERNEL, 0, t0,
                   dst->ctx->be->gather_rows(dst, src, idx, first, check));
}

clt_status clt_tensor_gather_rows(clt_tensor *dst, const clt_tensor *src,
                                  const clt_tensor *idx, size_t first) {
  if (!dst) return CLT_ERR_INVALID_ARG;
  clt_context *ctx = dst->ctx;
  CLT_TRY(clt_check_tensor(ctx, src, dst->dtype, "gather_rows: src"));
  CLT_TRY(clt_check_tensor(ctx, idx, CLT_INT32, "gather_rows: idx"));
  if (src->cols != dst->cols || idx->cols != 1 || first > idx->rows ||
      idx->rows - first < dst->rows)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "gather_rows: dst %zux%zu, src %zux%zu, idx %zux%zu from "
                    "row %zu do not fit",
                    dst->rows, dst->cols, src->rows, src->cols, idx->rows,
                    idx->cols, first);
  if (clt_tensors_overlap(dst, src) || clt_tensors_overlap(dst, idx))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "gather_rows: dst overlaps %s in memory",
                    clt_tensors_overlap(dst, src) ? "src" : "idx");
  return gather(dst, src, idx, first, true);
}

clt_status clt_gather_rows_unchecked(clt_tensor *dst, const clt_tensor *src,
                                     const clt_tensor *idx, size_t first) {
  return gather(dst, src, idx, first, false);
}

clt_status clt_workspace(clt_context *ctx, int slot, size_t rows, size_t cols,
                         clt_tensor **out) {
  size_t numel, bytes;
  if (!clt_mul_size(rows, cols, &numel) || !clt_mul_size(numel, 4, &bytes))
    return clt_fail(ctx, CLT_ERR_SHAPE, "workspace %zux%zu overflows", rows,
                    cols);
  clt_storage *st = ctx->work[slot];
  if (!st || st->bytes < bytes) {
    clt_status s;
    clt_storage *grown = storage_new(ctx, bytes, &s); /* the context's reference */
    if (!grown) return s;
    if (st) storage_free(ctx, st);
    ctx->work[slot] = st = grown;
  }
  clt_tensor *t = malloc(sizeof *t);
  if (!t) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "workspace view");
  st->refs++;
  *t = (clt_tensor){.ctx = ctx, .st = st, .rows = rows, .cols = cols,
                    .dtype = CLT_FLOAT32};
  *out = t;
  return CLT_OK;
}

void clt_workspace_release(clt_context *ctx) {
  for (int i = 0; i < CLT_WORK_SLOTS; i++) {
    if (ctx->work[i]) storage_free(ctx, ctx->work[i]);
    ctx->work[i] = NULL;
  }
}

bool clt_tensors_overlap(const clt_tensor *a, const clt_tensor *b) {
  return a && b && a->st == b->st && a->offset < b->offset + clt_tensor_numel(b) &&
         b->offset < a->offset + clt_tensor_numel(a);
}

size_t clt_tensor_rows(const clt_tensor *t) { return t ? t->rows : 0; }
size_t clt_tensor_cols(const clt_tensor *t) { return t ? t->cols : 0; }
clt_dtype clt_tensor_dtype(const clt_tensor *t) {
  return t ? t->dtype : CLT_FLOAT32;
}
clt_context *clt_tensor_context(const clt_tensor *t) {
  return t ? t->ctx : NULL;
}
