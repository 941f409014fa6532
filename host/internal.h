/* Internal structures and helpers shared by the op front ends in host/,
   the OpenCL backend (host/cl/) and the reference backend (host/ref/).
   Nothing here is exported from the shared library, and nothing here needs
   a backend's headers: OpenCL's are included under host/cl/ only. */
#ifndef CLT_INTERNAL_H
#define CLT_INTERNAL_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "cltrain.h"

#define CLT_ERRLEN 2048
#define CLT_WORK_SLOTS 4

/* Memory shared by a tensor and its views; freed with its last user. */
typedef struct clt_storage {
  long refs;
  void *mem;   /* OpenCL backend: its cl_mem */
  void *host;  /* reference backend */
  size_t bytes;
} clt_storage;

struct clt_tensor {
  clt_context *ctx;
  clt_storage *st;
  size_t offset; /* in elements, from the start of st */
  size_t rows, cols;
  clt_dtype dtype;
};

struct clt_context {
  /* 1 for the user's handle plus 1 per live storage: the context outlives
     clt_context_destroy until its last tensor is destroyed. */
  long refs;
  const struct clt_backend *be; /* host/backend.h, chosen in context.c */
  char device_name[256];
  uint64_t max_alloc_bytes, global_mem_bytes; /* the device's; UINT64_MAX: ref */
  char err[CLT_ERRLEN];
  void *impl; /* the backend's own state of this context */
  /* Reusable float32 buffers for intermediates of composite ops (e.g. the
     scores of the fused training step), grown on demand; they hold no
     reference on the context. */
  clt_storage *work[CLT_WORK_SLOTS];
  /* What clt_context_timings reports; NULL unless record_timings. */
  struct clt_timings *timings;
};

void clt_context_release(clt_context *ctx);

/* The host's copy of a CSR matrix's entry offsets, shared by its views
   (gathers read it instead of the device's copy). */
typedef struct clt_csr_index {
  long refs;
  size_t n; /* rows + 1 of the matrix first created */
  int64_t ptr[];
} clt_csr_index;

/* A CSR matrix (cltrain.h): its row r's entries are the elements
   [ptr[first + r], ptr[first + r + 1]) of col and val. A view shares the
   tensors' storage and the index, with its own first and rows. */
struct clt_csr {
  clt_context *ctx;
  size_t rows, cols, first;
  uint64_t nnz;     /* entries of these rows */
  clt_tensor *ptr;  /* the int64 offsets, as (total rows + 1) x 2 int32 */
  clt_tensor *col;  /* int32 columns, (total entries or 1) x 1 */
  clt_tensor *val;  /* float32 values, likewise */
  clt_csr_index *index;
};

/* The rows of X an op reads: rows first .. first+n (idx NULL; the fused
   step is then given all of them), or rows idx[first .. first+n). */
typedef struct clt_batch_rows {
  const clt_tensor *idx;
  size_t first, n;
} clt_batch_rows;

/* Where a step may leave its loss on the device instead of reading it
   back: row index of losses (rows, 2) float32 gets the loss and the
   penalty (0 when not asked for), and written says the step did so (then
   its *loss is untouched); paths that cannot read the loss back as usual
   and leave written false. The caller vouches for the batch: labels in
   range and indices inside X (a step that finds them bad writes NaN). */
typedef struct clt_loss_slot {
  clt_tensor *losses;
  size_t index;
  bool written;
} clt_loss_slot;

/* Row r's first entry and end. */
static inline int64_t clt_csr_begin(const clt_csr *X, size_t r) {
  return X->index->ptr[X->first + r];
}
static inline int64_t clt_csr_end(const clt_csr *X, size_t r) {
  return X->index->ptr[X->first + r + 1];
}



/* ------------------------------------------------------------ timings */

/* Adds count, seconds, bytes and work-items to the entry name (a static
   string) of kind; nothing when ctx records no timings. Backends call it. */
void clt_timing_add(clt_context *ctx, const char *name, clt_timing_kind kind,
                    uint64_t count, double seconds, uint64_t bytes,
                    uint64_t items);
/* Seconds of a monotonic clock, for host-side timings. */
double clt_now(void);
/* Creates the table (record_timings) or frees it. */
clt_status clt_timings_init(clt_context *ctx);
void clt_timings_free(clt_context *ctx);

/* ------------------------------------------------------------- errors */

/* The one error convention of the library: a fallible function returns a
   clt_status and records a formatted detail with clt_fail, in ctx, or with
   ctx NULL (no context: data, files, models, context creation) in the
   thread's; clt_last_error(ctx or NULL) reads it. Returns status. */
clt_status clt_fail(const clt_context *ctx, clt_status status, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
#define CLT_TRY(expr)                                                         \
  do {                                                                        \
    clt_status clt_s_ = (expr);                                               \
    if (clt_s_ != CLT_OK) return clt_s_;                                      \
  } while (0)

/* A loss or penalty past float32's range is infinite, as on a float32
   device: the reference backend, which sums in double, then reports the
   same non-finite value. */
static inline double clt_float_range(double v) {
  return isfinite(v) && fabs(v) > 3.4028234663852886e38 ? copysign(INFINITY, v) : v;
}

/* FNV-1a (64-bit): h extended by the n bytes at p; start from
   CLT_FNV1A_BASIS. The library's one non-cryptographic hash (label
   interning, the tuning cache's keys, replicas' parameters). */
#define CLT_FNV1A_BASIS 0xcbf29ce484222325ull
static inline uint64_t clt_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

/* ------------------------------------------------------ kind tables */

/* Columns of the kind tables of cltrain.h (CLT_LOSS_KINDS,
   CLT_OPTIM_KINDS) as designated initializers indexed by value: the name,
   or the one property column. */
#define CLT_KIND_NAME(kind, value, name, ...) [value] = name,
#define CLT_KIND_PROP(kind, value, name, prop) [value] = prop,

/* The index of name among names[0..n), or n. */
static inline size_t clt_kind_lookup(const char *const *names, size_t n,
                                     const char *name) {
  size_t k = 0;
  while (k < n && strcmp(names[k], name) != 0) k++;
  return k;
}

/* ------------------------------------------------------- validation */

/* t non-NULL, of ctx, of dtype; name is used in the message. */
clt_status clt_check_tensor(const clt_context *ctx, const clt_tensor *t,
                            clt_dtype dtype, const char *name);
/* t has rows x cols. */
clt_status clt_check_shape(const clt_context *ctx, const clt_tensor *t,
                           size_t rows, size_t cols, const char *name);
/* a*b without overflow into *out; false on overflow. */
bool clt_mul_size(size_t a, size_t b, size_t *out);
size_t clt_tensor_numel(const clt_tensor *t);
/* Whether a and b share elements (same storage, intersecting ranges);
   false when either is NULL. */
bool clt_tensors_overlap(const clt_tensor *a, const clt_tensor *b);

/* ------------------------------------------------- reference backend */

static inline float *clt_ref_f32(const clt_tensor *t) {
  return (float *)t->st->host + t->offset;
}
static inline int32_t *clt_ref_i32(const clt_tensor *t) {
  return (int32_t *)t->st->host + t->offset;
}

/* A rows x cols float32 tensor over the context's workspace slot (contents
   undefined). Destroy it before the next call for the same slot. */
clt_status clt_workspace(clt_context *ctx, int slot, size_t rows, size_t cols,
                         clt_tensor **out);
void clt_workspace_release(clt_context *ctx);

static inline size_t clt_round_up(size_t n, size_t m) {
  return (n + m - 1) / m * m;
}

/* Staging the host writes in place, where the backend can
   (clt_tensor_mappable; OpenCL: a buffer map, no copy on a CPU device):
   clt_tensor_map_write makes *host point at t's elements, for writing
   only, once *pending completes (enqueued after everything before it, not
   waited for); clt_pending_wait waits for it (from any thread; NULL:
   nothing to wait for) and sets *pending NULL; clt_tensor_unmap hands
   the elements back to the device (enqueued: the ops after it see them). */
bool clt_tensor_mappable(const clt_context *ctx);
clt_status clt_tensor_map_write(clt_tensor *t, void **host, void **pending);
clt_status clt_pending_wait(clt_context *ctx, void **pending);
clt_status clt_tensor_unmap(clt_tensor *t, void *host);

/* clt_tensor_gather_rows without the index validation (and its host round
   trip), for callers whose indices are in range by construction; shapes
   must already be checked. Out-of-range rows are skipped, never read. */
clt_status clt_gather_rows_unchecked(clt_tensor *dst, const clt_tensor *src,
                                     const clt_tensor *idx, size_t first);

/* The optimizer's state record (the body of its checkpoint file, see
   host/optim_io.c) appended to b, and read back from memory; for files that
   embed it (the trainer's checkpoints). Deserialize changes nothing on
   failure; path names the source in its messages. */
struct clt_wbuf;
clt_status clt_optimizer_serialize(clt_optimizer *opt, struct clt_wbuf *b);
/* The hyper-parameters an optimizer record holds (a checkpoint's), into
   *out; CLT_ERR_FORMAT (no detail) when the record's header is not one. */
clt_status clt_optimizer_record_desc(const void *data, size_t len, clt_optim_desc *out);
clt_status clt_optimizer_deserialize(clt_optimizer *opt, const char *path,
                                     const unsigned char *data, size_t len);

#endif /* CLT_INTERNAL_H */
