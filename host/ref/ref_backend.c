/* The reference backend: host memory, plain loops in double, and the table
   of its functions (host/backend.h). */
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "../linear.h"
#include "../loss_impl.h"
#include "../optim_impl.h"

static clt_status ref_alloc(clt_context *ctx, clt_storage *st) {
  st->host = malloc(st->bytes);
  if (!st->host)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of host memory",
                    st->bytes);
  return CLT_OK;
}

static void ref_release(clt_storage *st) { free(st->host); }

static clt_status ref_write(clt_tensor *t, const void *host, size_t bytes) {
  memcpy(clt_ref_f32(t), host, bytes);
  return CLT_OK;
}

static clt_status ref_read(const clt_tensor *t, void *host, size_t bytes) {
  memcpy(host, clt_ref_f32(t), bytes);
  return CLT_OK;
}

static clt_status ref_fill(clt_tensor *t, double value) {
  size_t n = clt_tensor_numel(t);
  if (t->dtype == CLT_FLOAT32) {
    float v = (float)value, *p = clt_ref_f32(t);
    for (size_t i = 0; i < n; i++) p[i] = v;
  } else {
    int32_t v = (int32_t)value, *p = clt_ref_i32(t);
    for (size_t i = 0; i < n; i++) p[i] = v;
  }
  return CLT_OK;
}

static clt_status ref_copy(clt_tensor *dst, const clt_tensor *src) {
  memmove(clt_ref_f32(dst), clt_ref_f32(src), clt_tensor_numel(dst) * 4);
  return CLT_OK;
}

static clt_status ref_gather_rows(clt_tensor *dst, const clt_tensor *src,
                                  const clt_tensor *idx, size_t first, bool check) {
  const int32_t *ix = clt_ref_i32(idx) + first;
  if (check)
    for (size_t r = 0; r < dst->rows; r++)
      if (ix[r] < 0 || (size_t)ix[r] >= src->rows)
        return clt_fail(dst->ctx, CLT_ERR_LABEL,
                        "gather_rows: idx[%zu] = %d outside [0, %zu)", first + r, ix[r],
                        src->rows);
  const uint32_t *s = (const uint32_t *)clt_ref_f32(src);
  uint32_t *d = (uint32_t *)clt_ref_f32(dst);
  for (size_t r = 0; r < dst->rows; r++)
    if (ix[r] >= 0 && (size_t)ix[r] < src->rows)
      memcpy(d + r * dst->cols, s + (size_t)ix[r] * dst->cols, dst->cols * 4);
  return CLT_OK;
}

static clt_status ref_scale(clt_tensor *t, float alpha) {
  float *v = clt_ref_f32(t);
  for (size_t i = 0, n = clt_tensor_numel(t); i < n; i++) v[i] *= alpha;
  return CLT_OK;
}

static clt_status ref_open(clt_context *ctx, const clt_found_device *device,
                           const char *variant, bool cached) {
  (void)ctx, (void)device, (void)variant, (void)cached;
  return CLT_OK;
}

static const char *ref_profile(const clt_context *ctx) {
  (void)ctx;
  return "reference";
}

static clt_status ref_finish(clt_context *ctx) {
  (void)ctx;
  return CLT_OK;
}

static void ref_close(clt_context *ctx) { (void)ctx; }

const clt_backend clt_ref_backend = {
    .name = "reference",
    .double_precision = true,
    .host_timed = true,
    .open = ref_open,
    .profile = ref_profile,
    .variant = ref_profile,
    .alloc = ref_alloc,
    .release = ref_release,
    .write = ref_write,
    .read = ref_read,
    .fill = ref_fill,
    .copy = ref_copy,
    .gather_rows = ref_gather_rows,
    .finish = ref_finish,
    .close = ref_close,
    .linear_forward = clt_ref_linear_forward,
    .linear_backward = clt_ref_linear_backward,
    .argmax = clt_ref_argmax,
    .accuracy = clt_ref_accuracy,
    .loss = clt_ref_loss,
    .regularize = clt_ref_regularize,
    .csr_forward = clt_ref_csr_forward,
    .csr_backward = clt_ref_csr_backward,
    .csr_gather = clt_ref_csr_gather,
    .csr_sgd = clt_ref_csr_sgd,
    .scale = ref_scale,
    .optim_step = clt_ref_optim_step,
};
