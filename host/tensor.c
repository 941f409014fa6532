/* Tensors: creation, transfers, views, fill and copy on both backends. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void storage_free(clt_storage *st) {
  if (st->mem) clt_cl_release_mem(st->mem);
  free(st->host);
  free(st);
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
  clt_tensor *t = calloc(1, sizeof *t);
  clt_storage *st = calloc(1, sizeof *st);
  if (!t || !st) {
    free(t);
    free(st);
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "tensor_create: out of host memory");
  }
  clt_status s = CLT_OK;
  if (ctx->ref) {
    st->host = malloc(bytes);
    if (!st->host)
      s = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                   "tensor_create: cannot allocate %zu bytes", bytes);
  } else {
    s = clt_cl_alloc(ctx, bytes, &st->mem);
  }
  if (s != CLT_OK) {
    free(t);
    free(st);
    return s;
  }
  st->refs = 1;
  st->bytes = bytes;
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
  if (t->ctx->ref) {
    memcpy(clt_ref_f32(t), host, bytes);
    return CLT_OK;
  }
  CLT_CL_TRY(t->ctx, clEnqueueWriteBuffer(t->ctx->queue, t->st->mem, CL_TRUE,
                                          t->offset * 4, bytes, host, 0, NULL,
                                          NULL));
  return CLT_OK;
}

clt_status clt_tensor_read(const clt_tensor *t, void *host, size_t bytes) {
  if (!t) return CLT_ERR_INVALID_ARG;
  CLT_TRY(check_bytes(t, host, bytes, "tensor_read"));
  if (t->ctx->ref) {
    memcpy(host, clt_ref_f32(t), bytes);
    return CLT_OK;
  }
  CLT_CL_TRY(t->ctx, clEnqueueReadBuffer(t->ctx->queue, t->st->mem, CL_TRUE,
                                         t->offset * 4, bytes, host, 0, NULL,
                                         NULL));
  return CLT_OK;
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
  storage_free(st);
  clt_context_release(ctx);
}

clt_status clt_tensor_fill(clt_tensor *t, double value) {
  if (!t) return CLT_ERR_INVALID_ARG;
  size_t n = clt_tensor_numel(t);
  if (t->dtype == CLT_FLOAT32) {
    float v = (float)value;
    if (t->ctx->ref) {
      float *p = clt_ref_f32(t);
      for (size_t i = 0; i < n; i++) p[i] = v;
      return CLT_OK;
    }
    CLT_CL_TRY(t->ctx, clEnqueueFillBuffer(t->ctx->queue, t->st->mem, &v, 4,
                                           t->offset * 4, n * 4, 0, NULL, NULL));
  } else {
    int32_t v = (int32_t)value;
    if (t->ctx->ref) {
      int32_t *p = clt_ref_i32(t);
      for (size_t i = 0; i < n; i++) p[i] = v;
      return CLT_OK;
    }
    CLT_CL_TRY(t->ctx, clEnqueueFillBuffer(t->ctx->queue, t->st->mem, &v, 4,
                                           t->offset * 4, n * 4, 0, NULL, NULL));
  }
  return CLT_OK;
}

clt_status clt_tensor_copy(clt_tensor *dst, const clt_tensor *src) {
  if (!dst) return CLT_ERR_INVALID_ARG;
  clt_context *ctx = dst->ctx;
  CLT_TRY(clt_check_tensor(ctx, src, dst->dtype, "tensor_copy: src"));
  CLT_TRY(clt_check_shape(ctx, src, dst->rows, dst->cols, "tensor_copy: src"));
  size_t bytes = clt_tensor_numel(dst) * 4;
  if (ctx->ref) {
    memmove(clt_ref_f32(dst), clt_ref_f32(src), bytes);
    return CLT_OK;
  }
  if (src->st == dst->st && src->offset == dst->offset) return CLT_OK;
  CLT_CL_TRY(ctx, clEnqueueCopyBuffer(ctx->queue, src->st->mem, dst->st->mem,
                                      src->offset * 4, dst->offset * 4, bytes,
                                      0, NULL, NULL));
  return CLT_OK;
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
  size_t rows = dst->rows;
  if (ctx->ref) {
    const int32_t *ix = clt_ref_i32(idx) + first;
    for (size_t r = 0; r < rows; r++)
      if (ix[r] < 0 || (size_t)ix[r] >= src->rows)
        return clt_fail(ctx, CLT_ERR_LABEL,
                        "gather_rows: idx[%zu] = %d outside [0, %zu)",
                        first + r, ix[r], src->rows);
    return clt_gather_rows_unchecked(dst, src, idx, first);
  }
  /* One 4-byte read validates the indices before dst is touched; the
     fused training step, whose permutations are in range by
     construction, calls clt_gather_rows_unchecked and skips that host
     round trip. */
  cl_ulong io = idx->offset + first, nr = rows, srows = src->rows;
  cl_mem bad;
  CLT_TRY(clt_cl_scratch(ctx, sizeof(cl_int), &bad));
  cl_int zero = 0;
  CLT_CL_TRY(ctx, clEnqueueFillBuffer(ctx->queue, bad, &zero, sizeof zero, 0,
                                      sizeof zero, 0, NULL, NULL));
  size_t g1 = rows;
  CLT_TRY(CLT_LAUNCH(ctx, "clt_check_index", 1, &g1, NULL,
                     CLT_ARG(idx->st->mem), CLT_ARG(io), CLT_ARG(nr),
                     CLT_ARG(srows), CLT_ARG(bad)));
  cl_int flag = 0;
  CLT_CL_TRY(ctx, clEnqueueReadBuffer(ctx->queue, bad, CL_TRUE, 0, sizeof flag,
                                      &flag, 0, NULL, NULL));
  if (flag)
    return clt_fail(ctx, CLT_ERR_LABEL,
                    "gather_rows: an index in idx[%zu, %zu) is outside "
                    "[0, %zu)",
                    first, first + rows, src->rows);
  return clt_gather_rows_unchecked(dst, src, idx, first);
}

clt_status clt_gather_rows_unchecked(clt_tensor *dst, const clt_tensor *src,
                                     const clt_tensor *idx, size_t first) {
  clt_context *ctx = dst->ctx;
  if (ctx->ref) {
    const int32_t *ix = clt_ref_i32(idx) + first;
    const uint32_t *s = (const uint32_t *)clt_ref_f32(src);
    uint32_t *d = (uint32_t *)clt_ref_f32(dst);
    for (size_t r = 0; r < dst->rows; r++)
      if (ix[r] >= 0 && (size_t)ix[r] < src->rows)
        memcpy(d + r * dst->cols, s + (size_t)ix[r] * dst->cols, dst->cols * 4);
    return CLT_OK;
  }
  cl_ulong so = src->offset, io = idx->offset + first, dof = dst->offset,
           nr = dst->rows, nc = dst->cols, srows = src->rows;
  size_t g[2] = {(dst->cols + 15) / 16, dst->rows};
  return CLT_LAUNCH(ctx, "clt_gather_rows", 2, g, NULL, CLT_ARG(src->st->mem),
                    CLT_ARG(so), CLT_ARG(idx->st->mem), CLT_ARG(io),
                    CLT_ARG(dst->st->mem), CLT_ARG(dof), CLT_ARG(nr),
                    CLT_ARG(nc), CLT_ARG(srows));
}

clt_status clt_workspace(clt_context *ctx, int slot, size_t rows, size_t cols,
                         clt_tensor **out) {
  size_t numel, bytes;
  if (!clt_mul_size(rows, cols, &numel) || !clt_mul_size(numel, 4, &bytes))
    return clt_fail(ctx, CLT_ERR_SHAPE, "workspace %zux%zu overflows", rows,
                    cols);
  clt_storage *st = ctx->work[slot];
  if (!st || st->bytes < bytes) {
    clt_storage *grown = calloc(1, sizeof *grown);
    if (!grown) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "workspace");
    clt_status s = CLT_OK;
    if (ctx->ref) {
      grown->host = malloc(bytes);
      if (!grown->host)
        s = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY,
                     "workspace: cannot allocate %zu bytes", bytes);
    } else {
      s = clt_cl_alloc(ctx, bytes, &grown->mem);
    }
    if (s != CLT_OK) {
      free(grown);
      return s;
    }
    grown->refs = 1; /* the context's own reference */
    grown->bytes = bytes;
    if (st) storage_free(st);
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
    if (ctx->work[i]) storage_free(ctx->work[i]);
    ctx->work[i] = NULL;
  }
}

size_t clt_tensor_rows(const clt_tensor *t) { return t ? t->rows : 0; }
size_t clt_tensor_cols(const clt_tensor *t) { return t ? t->cols : 0; }
clt_dtype clt_tensor_dtype(const clt_tensor *t) {
  return t ? t->dtype : CLT_FLOAT32;
}
clt_context *clt_tensor_context(const clt_tensor *t) {
  return t ? t->ctx : NULL;
}
