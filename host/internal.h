/* Internal structures and helpers shared by the op front ends in host/,
   the OpenCL backend (host/cl/) and the reference backend (host/ref/).
   Nothing here is exported from the shared library. */
#ifndef CLT_INTERNAL_H
#define CLT_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdarg.h>
#include <stdbool.h>

#include "cltrain.h"

#define CLT_ERRLEN 2048
#define CLT_MAX_KERNELS 96
#define CLT_WORK_SLOTS 4

/* Memory shared by a tensor and its views; freed with its last user. */
typedef struct clt_storage {
  long refs;
  cl_mem mem;  /* OpenCL backend */
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

typedef struct clt_kernel_slot {
  const char *name; /* static string */
  cl_kernel kernel;
} clt_kernel_slot;

struct clt_context {
  /* 1 for the user's handle plus 1 per live storage: the context outlives
     clt_context_destroy until its last tensor is destroyed. */
  long refs;
  const struct clt_backend *be; /* host/backend.h, chosen in context.c */
  char device_name[256];
  char err[CLT_ERRLEN];
  cl_device_id device;
  cl_context cl;
  cl_command_queue queue;
  cl_program program;
  size_t max_wg; /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
  clt_kernel_slot kernels[CLT_MAX_KERNELS];
  size_t nkernels;
  cl_mem scratch; /* reduction partials, grown on demand */
  size_t scratch_bytes;
  void *blas_state; /* owned by host/cl/blas.c, NULL until first GEMM */
  /* Reusable float32 buffers for intermediates of composite ops (e.g. the
     scores of the fused training step), grown on demand; they hold no
     reference on the context. */
  clt_storage *work[CLT_WORK_SLOTS];
};

void clt_context_release(clt_context *ctx);

/* ------------------------------------------------------------- errors */

/* Records a formatted detail in ctx (if non-NULL) and returns status. */
clt_status clt_fail(const clt_context *ctx, clt_status status, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
/* Detail of the last clt_context_create failure on this thread. */
void clt_set_create_error(const char *msg);
const char *clt_cl_error_name(cl_int err);
/* Maps an OpenCL error to a status and records "call: CL_NAME at file:line". */
clt_status clt_cl_fail(const clt_context *ctx, cl_int err, const char *call,
                       const char *file, int line);

#define CLT_CL_TRY(ctx, expr)                                                 \
  do {                                                                        \
    cl_int clt_e_ = (expr);                                                   \
    if (clt_e_ != CL_SUCCESS)                                                 \
      return clt_cl_fail((ctx), clt_e_, #expr, __FILE__, __LINE__);           \
  } while (0)

/* Same, but stores the status in st and jumps to label (cleanup paths). */
#define CLT_CL_CHECK(ctx, expr, st, label)                                    \
  do {                                                                        \
    cl_int clt_e_ = (expr);                                                   \
    if (clt_e_ != CL_SUCCESS) {                                               \
      (st) = clt_cl_fail((ctx), clt_e_, #expr, __FILE__, __LINE__);           \
      goto label;                                                             \
    }                                                                         \
  } while (0)

#define CLT_TRY(expr)                                                         \
  do {                                                                        \
    clt_status clt_s_ = (expr);                                               \
    if (clt_s_ != CLT_OK) return clt_s_;                                      \
  } while (0)

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

/* ---------------------------------------------------- OpenCL backend */

/* Live OpenCL objects created by the library (all contexts); for tests. */
long clt_cl_live_objects(void);
/* Counted wrappers: every cl_mem/kernel/program/queue/context the library
   creates goes through these so tests can prove nothing leaks. */
void clt_cl_count(long delta);

clt_status clt_cl_open(clt_context *ctx, cl_device_id device);
void clt_cl_close(clt_context *ctx);
/* Builds src for ctx's device; on failure records the build log.
   Exposed for the test hook that feeds a broken source. */
clt_status clt_cl_build(clt_context *ctx, const char *src, cl_program *out);
clt_status clt_cl_alloc(clt_context *ctx, size_t bytes, cl_mem *out);
void clt_cl_release_mem(cl_mem mem);
/* Kernel of the context's program by name, created on first use. */
clt_status clt_cl_kernel(clt_context *ctx, const char *name, cl_kernel *out);
/* Device scratch buffer of at least bytes (contents undefined). */
clt_status clt_cl_scratch(clt_context *ctx, size_t bytes, cl_mem *out);

typedef struct clt_karg {
  size_t size;
  const void *ptr; /* NULL with size > 0: __local memory of that size */
} clt_karg;
#define CLT_ARG(x) ((clt_karg){sizeof(x), &(x)})
#define CLT_LOCAL(bytes) ((clt_karg){(bytes), NULL})

/* Sets the arguments and enqueues name over global[dims] (rounded up to a
   multiple of local when local is non-NULL). Does not wait. */
clt_status clt_cl_launch(clt_context *ctx, const char *name, cl_uint dims,
                         const size_t *global, const size_t *local,
                         size_t nargs, const clt_karg *args);
#define CLT_LAUNCH(ctx, name, dims, global, local, ...)                       \
  clt_cl_launch((ctx), (name), (dims), (global), (local),                     \
                sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg),         \
                (clt_karg[]){__VA_ARGS__})

static inline size_t clt_round_up(size_t n, size_t m) {
  return (n + m - 1) / m * m;
}

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
clt_status clt_optimizer_deserialize(clt_optimizer *opt, const char *path,
                                     const unsigned char *data, size_t len);

/* Deterministic sum of n floats of mem starting at element offset, into
   *out (the result is read back: 8 bytes). Order depends only on n. */
clt_status clt_cl_sum(clt_context *ctx, cl_mem mem, size_t offset, size_t n,
                      double *out);

#endif /* CLT_INTERNAL_H */
