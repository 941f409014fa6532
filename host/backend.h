/* The backend interface: what a front end (the op files directly in
   host/) may ask of a device.

   Every backend fills one clt_backend with its functions (host/ref/ the
   double-precision reference, host/cl/ OpenCL) and context.c's registry
   picks one per context. Front ends validate their arguments (NULLs, dtypes,
   shapes, overlaps, descriptors) and then call ctx->be->op: a backend gets
   valid arguments, except data values it checks itself (labels, weights,
   gather indices). Optional entries are NULL where a backend lacks them. */
#ifndef CLT_BACKEND_H
#define CLT_BACKEND_H

#include "internal.h"

typedef struct clt_opt_entry clt_opt_entry;     /* host/optim_impl.h */
typedef struct clt_opt_scalars clt_opt_scalars; /* host/optim_impl.h */

/* What one optimizer step reports: either its outcome now (skipped by the
   non-finite guard, gradient norm or NaN when not computed), or pending:
   the device reports it later, through optim_settle. */
typedef struct clt_optim_outcome {
  bool pending, skipped;
  double norm;
} clt_optim_outcome;


typedef struct clt_backend clt_backend;

/* A device a backend found: its handle for open, and what users see. */
typedef struct clt_found_device {
  const clt_backend *be;
  void *id;
  clt_device_info info;
} clt_found_device;

struct clt_backend {
  const char *name;
  /* Computes in double and rounds only its outputs to float32: the gradient
     check then takes the analytic gradient in double from the reference. */
  bool double_precision;
  /* Ops complete before they return: with record_timings the front ends
     time them on the host (host/timing.c). Otherwise the backend records
     its commands' device times itself. */
  bool host_timed;

  /* ---- devices: the ones this backend drives into out (at most cap;
     optional: the reference has none to list), and ctx opened on one of
     them or, with device NULL, on the backend itself (the reference). On
     failure open leaves ctx->err set, and close releases what it got to.
     variant: NULL or clt_context_options.variant; cached: whether the
     tuning cache's variant applies (and a device it has never seen may be
     tuned while it opens), else the device class's defaults. */
  size_t (*discover)(clt_found_device *out, size_t cap);
  clt_status (*open)(clt_context *ctx, const clt_found_device *device, const char *variant,
                     bool cached);
  /* The name of ctx's tuning profile, and the whole of it as a variant
     (clt_context_variant). */
  const char *(*profile)(const clt_context *ctx);
  const char *(*variant)(const clt_context *ctx);
  /* Optional (backends with tunable devices): tunes ctx, opened on
     device, and keeps the result in the tuning cache, whose path goes to
     path (clt_tune); the cache's variant for a device it lists into
     variant, false if none (clt_device_tuned). */
  clt_status (*tune)(clt_context *ctx, const clt_device_info *device, bool verbose, char *path,
                     size_t len);
  bool (*tuned_variant)(const clt_device_info *device, char *variant, size_t len);
  /* Optional: whether ctx (opened with cached) is on a device nothing is
     known of, and then its first use: tuned on tuner, a context of its
     own on the same device, the result given to ctx (never a failure). */
  bool (*wants_tuning)(const clt_context *ctx);
  void (*first_use)(clt_context *tuner, clt_context *ctx, const clt_device_info *device);

  /* ---- storage: bytes of st (st->bytes set by the caller), released by
     release; transfers, fill and copy on a tensor's elements. */
  clt_status (*alloc)(clt_context *ctx, clt_storage *st);
  void (*release)(clt_storage *st);
  clt_status (*write)(clt_tensor *t, const void *host, size_t bytes);
  /* Optional (staging the host writes in place, clt_tensor_map_write):
     map_write makes *host point at t's elements for writing, their
     contents undefined, once *pending completes (the map is enqueued
     after everything before it); wait waits for a pending and releases
     it, from any thread, recording nothing; unmap hands the elements back
     to the device (enqueued). */
  clt_status (*map_write)(clt_tensor *t, void **host, void **pending);
  clt_status (*wait)(clt_context *ctx, void *pending);
  clt_status (*unmap)(clt_tensor *t, void *host);
  clt_status (*read)(const clt_tensor *t, void *host, size_t bytes);
  clt_status (*fill)(clt_tensor *t, double value); /* value fits t's dtype */
  clt_status (*copy)(clt_tensor *dst, const clt_tensor *src);
  /* dst's rows = src's rows idx[first ..]: with check, an index outside
     [0, src rows) is CLT_ERR_LABEL with dst untouched; without, such rows
     are skipped, never read. */
  clt_status (*gather_rows)(clt_tensor *dst, const clt_tensor *src,
                            const clt_tensor *idx, size_t first, bool check);
  /* Waits for everything enqueued. */
  clt_status (*finish)(clt_context *ctx);
  /* Releases the backend's state of ctx (after its last storage). */
  void (*close)(clt_context *ctx);

  /* ---- ops (semantics in cltrain.h) */
  clt_status (*linear_forward)(clt_context *ctx, const clt_tensor *X,
                               const clt_tensor *W, const clt_tensor *b,
                               clt_tensor *S);
  clt_status (*linear_backward)(clt_context *ctx, const clt_tensor *X,
                                const clt_tensor *W, const clt_tensor *dS,
                                clt_tensor *dW, clt_tensor *db,
                                clt_tensor *dX);
  clt_status (*argmax)(clt_context *ctx, const clt_tensor *S,
                       clt_tensor *pred);
  clt_status (*accuracy)(clt_context *ctx, const clt_tensor *S,
                         const clt_tensor *labels, size_t *correct);
  /* *loss never NULL; the front end reports a non-finite value. With
     defer (NULL from the public op), a backend may leave the loss in its
     slot instead (clt_loss_slot; the reference never does). */
  clt_status (*loss)(clt_context *ctx, const clt_loss_desc *desc,
                     const clt_tensor *S, const clt_tensor *target,
                     clt_loss_slot *defer, double *loss, clt_tensor *dS);
  /* *penalty (may be NULL) = the penalty; dW (may be NULL) += its
     gradient. */
  clt_status (*regularize)(clt_context *ctx, const clt_reg_desc *reg,
                           const clt_tensor *W, double *penalty,
                           clt_tensor *dW);

  /* ---- sparse rows (CSR): S = alpha X[rows] W + b (b may be NULL); dW =
     X[rows]^T dS (overwritten) and db = its column sums (NULL: none); the
     rows are X's rows first..first+n, or X's rows idx[first..first+n),
     whose indices a backend skips when out of range. gather copies src's
     rows idx[first..] into dst, whose ptr (host and device) the front end
     has already written. */
  clt_status (*csr_forward)(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                            float alpha, const clt_tensor *W, const clt_tensor *b,
                            clt_tensor *S);
  clt_status (*csr_backward)(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                             const clt_tensor *dS, clt_tensor *dW, clt_tensor *db);
  clt_status (*csr_gather)(clt_csr *dst, const clt_csr *src, const clt_tensor *idx,
                           size_t first);
  /* Plain SGD on the rows' gradient, touching only the weights of the
     columns the rows hold: V (D,C) -= step (X[rows]^T dS) there, a term
     at a time or summed first (the backend's choice; the same bits for the
     same inputs); b -= lr_b colsum(dS) (b NULL: none). The change of V's
     sum of squares goes to element at of the float32 tensor change (NULL:
     not asked), which is left on the device: no wait. scale: t *= alpha. */
  clt_status (*csr_sgd)(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                        const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                        float lr_b, clt_tensor *change, size_t at);
  clt_status (*scale)(clt_tensor *t, float alpha);
  /* The scores of sparse rows, their loss against labels y (int32, (n,1))
     and dS in one pass (optional): whether it takes the problem, and the
     op, which gives what csr_forward then loss give, S not kept, and does
     not check its arguments: the caller vouches that each label is in [0,
     C) (one outside gives a NaN loss and a dS row of 0). *value and defer
     as loss's. */
  bool (*csr_loss_supports)(const clt_context *ctx, const clt_loss_desc *desc,
                            const clt_tensor *y, size_t c);
  clt_status (*csr_loss)(clt_context *ctx, const clt_csr *X, clt_batch_rows rows, float alpha,
                         const clt_tensor *W, const clt_tensor *b, const clt_loss_desc *desc,
                         const clt_tensor *y, clt_loss_slot *defer, double *value,
                         clt_tensor *dS);

  /* ---- optimizers: per-entry state beyond the state tensors (optional),
     one step, and the collection of a pending outcome (optional: a backend
     without it never reports pending). settle waits when wait, else takes
     the outcome only if the device is done; *had false: nothing taken. */
  clt_status (*optim_entry_init)(clt_optimizer *opt, clt_opt_entry *e);
  void (*optim_entry_free)(clt_opt_entry *e);
  clt_status (*optim_step)(clt_optimizer *opt, clt_opt_entry *e,
                           const clt_tensor *grad, const clt_opt_scalars *sc,
                           clt_optim_outcome *out);
  clt_status (*optim_settle)(clt_optimizer *opt, clt_opt_entry *e, bool wait,
                             bool *had, bool *skipped, double *norm);

  /* ---- the fused loss-and-gradient step (optional): whether it takes the
     problem (y: the batch's targets), and the step itself, which writes dW,
     db and *value = the loss (+ the penalty when with_pen), the same
     results as the composition of the ops on the gathered rows; with
     defer, the loss and penalty go to its slot instead, nothing is read
     back and defer->written is set. */
  bool (*fused_supports)(const clt_context *ctx, const clt_loss_desc *desc,
                         const clt_tensor *y, size_t n, size_t d, size_t c);
  clt_status (*fused_loss_grad)(clt_context *ctx, const clt_loss_desc *desc,
                                const clt_reg_desc *reg, const clt_tensor *X,
                                clt_batch_rows rows, const clt_tensor *y,
                                const clt_tensor *W, const clt_tensor *b,
                                clt_tensor *dW, clt_tensor *db, bool with_pen,
                                clt_loss_slot *defer, double *value);
};

/* With record_timings on a host-timed backend: t0 for clt_timed (else 0),
   and st returned after adding the host time since t0 under name. */
double clt_timing_start(const clt_context *ctx);
clt_status clt_timed(clt_context *ctx, const char *name, clt_timing_kind kind,
                     uint64_t bytes, double t0, clt_status st);

extern const clt_backend clt_ref_backend; /* host/ref/ref_backend.c */
extern const clt_backend clt_cl_backend;  /* host/cl/cl_backend.c */

#endif /* CLT_BACKEND_H */
