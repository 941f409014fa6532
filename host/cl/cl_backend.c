/* The OpenCL backend: device buffers, transfers and the table of its
   functions (host/backend.h). */
#include <string.h>

#include "cl_internal.h"

static clt_status cl_alloc(clt_context *ctx, clt_storage *st) {
  cl_mem mem;
  CLT_TRY(clt_cl_alloc(ctx, st->bytes, &mem));
  st->mem = mem;
  return CLT_OK;
}

static void cl_release(clt_storage *st) {
  if (st->mem) clt_cl_release_mem(st->mem);
}

static clt_status cl_write(clt_tensor *t, const void *host, size_t bytes) {
  return clt_cl_write(t->ctx, t->st->mem, t->offset * 4, bytes, host);
}

static clt_status cl_map_write(clt_tensor *t, void **host, void **pending) {
  cl_event ev = NULL;
  CLT_TRY(clt_cl_map_write(t->ctx, t->st->mem, t->offset * 4, clt_tensor_numel(t) * 4, host,
                           &ev));
  *pending = ev;
  return CLT_OK;
}

/* From any thread: a failure's detail goes to the calling thread's, not
   to ctx (which another thread may be using). */
static clt_status cl_wait(clt_context *ctx, void *pending) {
  (void)ctx;
  cl_int err = clWaitForEvents(1, (cl_event *)&pending);
  clReleaseEvent((cl_event)pending);
  return err == CL_SUCCESS ? CLT_OK
                           : clt_cl_fail(NULL, err, "clWaitForEvents", __FILE__, __LINE__);
}

static clt_status cl_unmap(clt_tensor *t, void *host) {
  return clt_cl_unmap(t->ctx, t->st->mem, host, clt_tensor_numel(t) * 4);
}

static clt_status cl_read(const clt_tensor *t, void *host, size_t bytes) {
  return clt_cl_read(t->ctx, t->st->mem, t->offset * 4, bytes, host, NULL);
}

static clt_status cl_fill(clt_tensor *t, double value) {
  float f = (float)value;
  int32_t i = t->dtype == CLT_INT32 ? (int32_t)value : 0;
  const void *pattern = t->dtype == CLT_FLOAT32 ? (const void *)&f : (const void *)&i;
  return clt_cl_fill(t->ctx, t->st->mem, pattern, 4, t->offset * 4,
                     clt_tensor_numel(t) * 4);
}

static clt_status cl_copy(clt_tensor *dst, const clt_tensor *src) {
  if (src->st == dst->st && src->offset == dst->offset) return CLT_OK;
  return clt_cl_copy(dst->ctx, src->st->mem, src->offset * 4, dst->st->mem,
                     dst->offset * 4, clt_tensor_numel(dst) * 4);
}

/* With check, one 4-byte read validates the indices before dst is touched;
   the fused training step, whose permutations are in range by
   construction, gathers without it and skips that host round trip. */
static clt_status cl_gather_rows(clt_tensor *dst, const clt_tensor *src,
                                 const clt_tensor *idx, size_t first, bool check) {
  clt_context *ctx = dst->ctx;
  size_t rows = dst->rows;
  if (check) {
    cl_ulong io = idx->offset + first, nr = rows, srows = src->rows;
    cl_mem bad;
    CLT_TRY(clt_cl_scratch(ctx, sizeof(cl_int), &bad));
    cl_int zero = 0;
    CLT_TRY(clt_cl_fill(ctx, bad, &zero, sizeof zero, 0, sizeof zero));
    size_t g1 = rows;
    CLT_TRY(CLT_LAUNCH(ctx, CLT_K_check_index, 1, &g1, NULL, CLT_ARG(idx->st->mem),
                       CLT_ARG(io), CLT_ARG(nr), CLT_ARG(srows), CLT_ARG(bad)));
    cl_int flag = 0;
    CLT_TRY(clt_cl_read(ctx, bad, 0, sizeof flag, &flag, NULL));
    if (flag)
      return clt_fail(ctx, CLT_ERR_LABEL,
                      "gather_rows: an index in idx[%zu, %zu) is outside [0, %zu)",
                      first, first + rows, src->rows);
  }
  cl_ulong so = src->offset, io = idx->offset + first, dof = dst->offset, nr = rows,
           nc = dst->cols, srows = src->rows;
  size_t g[2] = {(dst->cols + 15) / 16, rows};
  return CLT_LAUNCH(ctx, CLT_K_gather_rows, 2, g, NULL, CLT_ARG(src->st->mem),
                    CLT_ARG(so), CLT_ARG(idx->st->mem), CLT_ARG(io),
                    CLT_ARG(dst->st->mem), CLT_ARG(dof), CLT_ARG(nr), CLT_ARG(nc),
                    CLT_ARG(srows));
}


static clt_status cl_linear_forward(clt_context *ctx, const clt_tensor *X,
                                    const clt_tensor *W, const clt_tensor *b,
                                    clt_tensor *S) {
  return clt_cl_linear_forward(ctx, X, W, b, S, CLT_LINEAR_AUTO);
}

static clt_status cl_linear_backward(clt_context *ctx, const clt_tensor *X,
                                     const clt_tensor *W, const clt_tensor *dS,
                                     clt_tensor *dW, clt_tensor *db, clt_tensor *dX) {
  return clt_cl_linear_backward(ctx, X, W, dS, dW, db, dX, CLT_LINEAR_AUTO);
}

const clt_backend clt_cl_backend = {
    .name = "opencl",
    .double_precision = false,
    .discover = clt_cl_discover,
    .open = clt_cl_open,
    .profile = clt_cl_profile_name,
    .variant = clt_cl_variant,
    .tune = clt_cl_tune_device,
    .tuned_variant = clt_cl_tuned_variant,
    .wants_tuning = clt_cl_wants_tuning,
    .first_use = clt_cl_tune_first_use,
    .alloc = cl_alloc,
    .release = cl_release,
    .write = cl_write,
    .map_write = cl_map_write,
    .wait = cl_wait,
    .unmap = cl_unmap,
    .read = cl_read,
    .fill = cl_fill,
    .copy = cl_copy,
    .gather_rows = cl_gather_rows,
    .finish = clt_cl_finish,
    .close = clt_cl_close,
    .linear_forward = cl_linear_forward,
    .linear_backward = cl_linear_backward,
    .argmax = clt_cl_argmax,
    .accuracy = clt_cl_accuracy,
    .loss = clt_cl_loss,
    .regularize = clt_cl_regularize,
    .csr_forward = clt_cl_csr_forward,
    .csr_backward = clt_cl_csr_backward,
    .csr_gather = clt_cl_csr_gather,
    .csr_sgd = clt_cl_csr_sgd,
    .scale = clt_cl_scale,
    .csr_loss_supports = clt_cl_csr_loss_supports,
    .csr_loss = clt_cl_csr_loss,
    .optim_entry_init = clt_cl_optim_entry_init,
    .optim_entry_free = clt_cl_optim_entry_free,
    .optim_step = clt_cl_optim_step,
    .optim_settle = clt_cl_optim_settle,
    .fused_supports = clt_cl_fused_supports,
    .fused_loss_grad = clt_cl_fused_loss_grad,
};
