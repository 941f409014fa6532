/* Status messages, error recording and argument validation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *clt_version(void) { return CLT_VERSION_STRING; }

const char *clt_status_str(clt_status status) {
  switch (status) {
#define CLT_STATUS_MSG_(name, msg)                                            \
  case name:                                                                  \
    return msg;
    CLT_STATUS_TABLE(CLT_STATUS_MSG_)
#undef CLT_STATUS_MSG_
  }
  return "unknown status";
}

const char *clt_status_name(clt_status status) {
  switch (status) {
#define CLT_STATUS_NAME_(name, msg)                                           \
  case name:                                                                  \
    return #name;
    CLT_STATUS_TABLE(CLT_STATUS_NAME_)
#undef CLT_STATUS_NAME_
  }
  return "CLT_UNKNOWN";
}

/* The detail of failures outside a context, per thread. */
static _Thread_local char thread_error[CLT_ERRLEN];

const char *clt_last_error(const clt_context *ctx) {
  return ctx ? ctx->err : thread_error;
}

clt_status clt_fail(const clt_context *ctx, clt_status status, const char *fmt,
                    ...) {
  /* The detail is diagnostic state, not part of the object's value. */
  char *err = ctx ? ((clt_context *)ctx)->err : thread_error;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, CLT_ERRLEN, fmt, ap);
  va_end(ap);
  return status;
}

bool clt_mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
}

size_t clt_tensor_numel(const clt_tensor *t) { return t->rows * t->cols; }

static const char *dtype_name(clt_dtype d) {
  return d == CLT_FLOAT32 ? "float32" : d == CLT_INT32 ? "int32" : "?";
}

clt_status clt_check_tensor(const clt_context *ctx, const clt_tensor *t,
                            clt_dtype dtype, const char *name) {
  if (!t) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s is NULL", name);
  if (t->ctx != ctx)
    return clt_fail(ctx, CLT_ERR_CONTEXT,
                    "%s belongs to another context", name);
  if (t->dtype != dtype)
    return clt_fail(ctx, CLT_ERR_DTYPE, "%s is %s, expected %s", name,
                    dtype_name(t->dtype), dtype_name(dtype));
  return CLT_OK;
}

clt_status clt_check_shape(const clt_context *ctx, const clt_tensor *t,
                           size_t rows, size_t cols, const char *name) {
  if (t->rows != rows || t->cols != cols)
    return clt_fail(ctx, CLT_ERR_SHAPE, "%s is %zux%zu, expected %zux%zu",
                    name, t->rows, t->cols, rows, cols);
  return CLT_OK;
}
