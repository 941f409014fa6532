/* Tensors: creation, transfers, views, fill and copy on both backends. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
  if (st->mem) clt_cl_release_mem(st->mem);
  free(st->host);
  free(st);
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

size_t clt_tensor_rows(const clt_tensor *t) { return t ? t->rows : 0; }
size_t clt_tensor_cols(const clt_tensor *t) { return t ? t->cols : 0; }
clt_dtype clt_tensor_dtype(const clt_tensor *t) {
  return t ? t->dtype : CLT_FLOAT32;
}
clt_context *clt_tensor_context(const clt_tensor *t) {
  return t ? t->ctx : NULL;
}
