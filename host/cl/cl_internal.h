/* The OpenCL backend's own interface, shared by the files of host/cl/ (and
   the tests and benchmarks that reach into it): the OpenCL state of a
   context, launches, buffers, and each op family's OpenCL entry points.
   The only header of the library that includes OpenCL's. */
#ifndef CLT_CL_INTERNAL_H
#define CLT_CL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "../backend.h"
#include "../linear.h"
#include "../loss_impl.h"
#include "../optim_impl.h"
#include "cl_kernels.h"
#include "contract.h"

/* How the contract's numbers fit together (kernels/contract.h). */
_Static_assert(CLT_STEP_I_BAD < CLT_INFO && CLT_I_LOSS < CLT_STEP_I_PEN,
               "the info slots fit before the partials");
_Static_assert(CLT_ELEM_CHUNK % 8 == 0, "elementwise chunks are whole float8s");
_Static_assert(CLT_OPT_UNIT == CLT_ELEM_CHUNK,
               "optimizer units launch as elementwise chunks (clt_cl_launch_chunks)");
_Static_assert(CLT_OPT_UNIT <= CLT_OPT_USED_MASK &&
                   (CLT_OPT_NO_WD | CLT_OPT_NO_TRUST) < (1u << CLT_OPT_USED_SHIFT) &&
                   (CLT_OPT_USED_MASK << CLT_OPT_USED_SHIFT) < (1u << CLT_OPT_SEG_SHIFT),
               "a unit word holds its option bits, its count and its tensor");
_Static_assert(CLT_OPT_MAX_SEGS - 1 <= 0xffffffffu >> CLT_OPT_SEG_SHIFT,
               "every tensor index of a group fits a unit word");

/* A device profile: the tuning constants of the OpenCL backend for a class
   of devices (host/cl/cl_profile.c), chosen when a context is opened
   (clt_device_profile) and passed to the kernels as build options. */
typedef struct clt_cl_profile {
  const char *name; /* "cpu", "gpu", "generic" */
  /* The fused step (kernels/step.cl) takes C <= fused_max_c (0: never; at
     most CLT_STEP_MAX_C) and C*D <= fused_max_cd; its row blocks: at least
     step_blocks_per_unit per compute unit, at most step_max_rows rows. */
  size_t fused_max_c, fused_max_cd, step_blocks_per_unit, step_max_rows;
  /* Which fused step: 0 the CPU-shaped kernels/step.cl (a block of rows
     per work-item), 1 the GPU-shaped kernels/step_gpu.cl, whose work-groups
     take step_row_group work-items per row (a power of two, at most the
     kernel's limit) and whose dW pass gets row blocks of 16 to 128 rows,
     as few as give it step_dw_items work-items. */
  int step_gpu;
  size_t step_row_group, step_dw_items;
  /* The linear ops run the kernels of kernels/linear.cl up to this many
     classes and CLBlast above (SIZE_MAX: the kernels always). */
  size_t linear_kernel_max_c;
  /* The sparse kernels (kernels/sparse.cl): classes per work-item (0: all
     of them), and work-items per compute unit of dW and the SGD update,
     whose grid is the class chunks by enough column buckets to reach this
     many (at least one). */
  size_t csr_classes_per_item, csr_lanes_per_unit;
  /* The sparse forward and the row loss of labels in one kernel
     (clt_csr_loss) up to this many classes (0: never). */
  size_t csr_loss_max_c;
  /* Kernels prefetch the rows they stream into L2 (-DCLT_PREFETCH=1). */
  int prefetch;
  /* The elementwise losses and clt_regularize (-DCLT_ELEM_GPU): 0, a
     work-item per chunk of CLT_ELEM_CHUNK consecutive elements; 1, a
     work-group per chunk, one element per work-item at a time. */
  int elem_gpu;
} clt_cl_profile;

/* The profile named name, or NULL. */
const clt_cl_profile *clt_cl_profile_named(const char *name);
/* The program's build options for profile p into buf. */
void clt_cl_build_options(const clt_cl_profile *p, char *buf, size_t len);

/* A variant: a profile written out whole, "NAME:field=value,...", the
   value "max" for SIZE_MAX (clt_context_variant). Every field is there, so
   a variant gives the same kernels and launch shapes, hence the same bits,
   in later versions whose profiles' defaults have changed. */
#define CLT_VARIANT_LEN 512
void clt_cl_variant_format(const clt_cl_profile *p, char *buf, size_t len);
/* The profile s describes: NAME's defaults with the fields s names
   replaced. False with why set if s is not a variant (an unknown profile
   or field, a value out of its range). */
bool clt_cl_variant_parse(const char *s, clt_cl_profile *out, char *why, size_t why_len);

/* A context's OpenCL state (clt_context.impl), from clt_cl_open. */
typedef struct clt_cl_context {
  clt_cl_profile profile;       /* a class's defaults, tuned, or a variant's */
  char variant[CLT_VARIANT_LEN]; /* the profile written out */
  bool tuned;                   /* the profile came from the tuning cache */
  bool tune_pending;            /* the device is not tuned: clt_cl_wants_tuning */
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
  cl_program program;
  size_t max_wg;  /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
  unsigned units; /* CL_DEVICE_MAX_COMPUTE_UNITS */
  cl_kernel kernels[CLT_K_COUNT]; /* created on first use */
  cl_mem scratch; /* reduction partials, grown on demand */
  size_t scratch_bytes;
  void *blas_state; /* owned by host/cl/blas.c, NULL until first GEMM */
  /* With record_timings: the queue profiles, and the events of commands
     whose device time is not read yet wait here (host/cl/cl_core.c). */
  struct clt_cl_timed *timed;
  size_t ntimed, cap_timed;
} clt_cl_context;

static inline clt_cl_context *clt_cl_of(const clt_context *ctx) {
  return (clt_cl_context *)ctx->impl;
}

/* ------------------------------------------------------------- errors */

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

/* ------------------------------------------------- devices and core */

/* Every OpenCL device of every platform into out (at most cap), in
   platform order; ids are cl_device_id. No platform at all is zero. */
size_t clt_cl_discover(clt_found_device *out, size_t cap);

/* Live OpenCL objects created by the library (all contexts); for tests. */
long clt_cl_live_objects(void);
/* Counted wrappers: every cl_mem/kernel/program/queue/context the library
   creates goes through these so tests can prove nothing leaks. */
void clt_cl_count(long delta);

/* Opens ctx on the device (its id a cl_device_id from clt_cl_discover):
   its profile, context, queue and program; clt_cl_close releases what it
   got to. The profile: variant's when it is not NULL; else the device
   class's (clt_device_profile), replaced, with cached and unless
   CLT_PROFILE forces a class or CLT_TUNE=off, by the tuning cache's
   variant for the device (none: clt_cl_wants_tuning). */
clt_status clt_cl_open(clt_context *ctx, const clt_found_device *device, const char *variant,
                       bool cached);
const char *clt_cl_profile_name(const clt_context *ctx);
const char *clt_cl_variant(const clt_context *ctx);
/* A hash of the kernels' source, for the tuning cache's key. */
uint64_t clt_cl_source_hash(void);

/* ---------------------------------------------- the tuner (cl_tune.c) */

/* The automatic first use's budget: at most 30 s with the setup. */
#define CLT_TUNE_BUDGET_S 25.0
/* What is known of a device's tuning: a variant (from this process's
   memory or the cache), none, or none to look for (a tuning this process
   could not keep, or that failed). */
typedef enum clt_cl_tune_found { CLT_TUNE_HIT, CLT_TUNE_MISS, CLT_TUNE_SKIP } clt_cl_tune_found;
clt_cl_tune_found clt_cl_tune_lookup(const clt_device_info *device, clt_cl_profile *out);
/* Times the candidates on ctx (each checked against the reference first)
   for at most budget seconds and makes the winners ctx's profile; with
   verbose, every candidate's times on stderr. */
clt_status clt_cl_tune(clt_context *ctx, double budget, bool verbose);
/* clt_cl_tune within CLT_TUNE_BUDGET_S, then ctx's variant kept in the
   tuning cache as device's, atomically; the file's path into path. */
clt_status clt_cl_tune_device(clt_context *ctx, const clt_device_info *device, bool verbose,
                              char *path, size_t len);
/* The cache's variant for device into variant; false if none. */
bool clt_cl_tuned_variant(const clt_device_info *device, char *variant, size_t len);
/* Whether ctx opened on a device nothing is known of (clt_cl_open). */
bool clt_cl_wants_tuning(const clt_context *ctx);
/* ctx's device tuned on bench (a context of its own on the same device,
   so that a failing candidate cannot harm ctx), said on stderr and kept
   in the cache, and ctx given the result; or, when the cache cannot be
   written, nothing tried and the reason said. A failure is said on stderr
   and leaves ctx's profile as it was; either is remembered for the
   process, which does not try again. */
void clt_cl_tune_first_use(clt_context *bench, clt_context *ctx, const clt_device_info *device);
void clt_cl_close(clt_context *ctx);
/* Builds src for ctx's device with its profile's options; on failure
   records the build log.
   Exposed for the test hook that feeds a broken source. */
clt_status clt_cl_build(clt_context *ctx, const char *src, cl_program *out);
clt_status clt_cl_alloc(clt_context *ctx, size_t bytes, cl_mem *out);
void clt_cl_release_mem(cl_mem mem);
/* Kernel id of the context's program, created on first use. */
clt_status clt_cl_kernel(clt_context *ctx, clt_kid id, cl_kernel *out);
/* The largest work-group kernel id runs in on the context's device (at
   least 1). */
clt_status clt_cl_kernel_max_wg(clt_context *ctx, clt_kid id, size_t *out);
/* *mem, of *have bytes (0 and NULL: none yet), replaced by a buffer of
   bytes when smaller (zero-filled with zero), the old one released. */
clt_status clt_cl_grown(clt_context *ctx, cl_mem *mem, size_t *have, size_t bytes, bool zero);
/* Device scratch buffer of at least bytes (contents undefined). */
clt_status clt_cl_scratch(clt_context *ctx, size_t bytes, cl_mem *out);

typedef struct clt_karg {
  size_t size;
  const void *ptr; /* NULL with size > 0: __local memory of that size */
} clt_karg;
#define CLT_ARG(x) ((clt_karg){sizeof(x), &(x)})
#define CLT_LOCAL(bytes) ((clt_karg){(bytes), NULL})

/* Every launch of the library: sets the arguments and enqueues kernel id
   over global[dims] (rounded up to a multiple of local when local is
   non-NULL) from offset[dims] (NULL: zero). Does not wait. */
clt_status clt_cl_launch(clt_context *ctx, clt_kid id, cl_uint dims,
                         const size_t *offset, const size_t *global,
                         const size_t *local, size_t nargs,
                         const clt_karg *args);
#define CLT_LAUNCH(ctx, id, dims, global, local, ...)                         \
  clt_cl_launch((ctx), (id), (dims), NULL, (global), (local),                 \
                sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg),         \
                (clt_karg[]){__VA_ARGS__})

/* Launches kernel id over a grid of n0 x n1 x n2 work-items in work-groups
   of CLT_CL_GRID_LOCAL (or as many as the kernel allows, if fewer) along
   dimension 0. The shape is fixed rather than fitted to the grid: POCL
   compiles a kernel once per work-group shape. */
#define CLT_CL_GRID_LOCAL 32
clt_status clt_cl_launch_grid(clt_context *ctx, clt_kid id, size_t n0, size_t n1, size_t n2,
                              size_t nargs, const clt_karg *args);
#define CLT_LAUNCH_GRID(ctx, id, n0, n1, n2, ...)                             \
  clt_cl_launch_grid((ctx), (id), (n0), (n1), (n2),                           \
                     sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg),    \
                     (clt_karg[]){__VA_ARGS__})

/* Launches kernel id over chunks chunks of CLT_ELEM_CHUNK elements as the
   profile's elem_gpu says: a work-item per chunk, or a work-group of up to
   CLT_ELEM_CHUNK work-items per chunk. */
clt_status clt_cl_launch_chunks(clt_context *ctx, clt_kid id, size_t chunks, size_t nargs,
                                const clt_karg *args);
#define CLT_LAUNCH_CHUNKS(ctx, id, chunks, ...)                               \
  clt_cl_launch_chunks((ctx), (id), (chunks),                                 \
                       sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg),  \
                       (clt_karg[]){__VA_ARGS__})

/* Transfers and waits: every one of the library goes through these (and
   every launch through clt_cl_launch), so that a context with
   record_timings times them all. Offsets and sizes in bytes. */
clt_status clt_cl_write(clt_context *ctx, cl_mem mem, size_t offset,
                        size_t bytes, const void *host); /* blocking */
/* The bytes of mem from offset mapped for the host to write (their
   contents undefined) at *host once *done completes (the caller waits for
   it and releases it); enqueued, not waited for. */
clt_status clt_cl_map_write(clt_context *ctx, cl_mem mem, size_t offset, size_t bytes,
                            void **host, cl_event *done);
/* host (of clt_cl_map_write on mem, bytes long) back to the device: enqueued. */
clt_status clt_cl_unmap(clt_context *ctx, cl_mem mem, void *host, size_t bytes);
/* Blocking with done NULL; else enqueued only, and *done (the caller
   releases it) completes when host holds the bytes. */
clt_status clt_cl_read(clt_context *ctx, cl_mem mem, size_t offset,
                       size_t bytes, void *host, cl_event *done);
clt_status clt_cl_fill(clt_context *ctx, cl_mem mem, const void *pattern,
                       size_t pattern_size, size_t offset, size_t bytes);
clt_status clt_cl_copy(clt_context *ctx, cl_mem src, size_t src_offset,
                       cl_mem dst, size_t dst_offset, size_t bytes);
/* Waits for everything enqueued, or for event ev only. */
clt_status clt_cl_finish(clt_context *ctx);
clt_status clt_cl_wait(clt_context *ctx, cl_event ev);
/* An event pointer for a command enqueued outside these functions (by
   CLBlast), NULL when nothing is timed; pass what it pointed to, after a
   successful enqueue, to clt_cl_timed (bytes: a transfer's; items: a
   kernel's work-items, 0 if unknown). */
cl_event *clt_cl_event_slot(clt_context *ctx, cl_event *slot);
void clt_cl_timed(clt_context *ctx, cl_event ev, const char *name,
                  clt_timing_kind kind, size_t bytes, size_t items);

/* Deterministic sum of n floats of mem starting at element offset, into
   *out (the result is read back: 8 bytes). Order depends only on n. */
clt_status clt_cl_sum(clt_context *ctx, cl_mem mem, size_t offset, size_t n,
                      double *out);
/* A deterministic sum left on the device, at element out_off of out (no
   wait): one work-group's pass, for a kernel's partial sums (thousands,
   not millions). */
clt_status clt_cl_sum_to(clt_context *ctx, cl_mem mem, size_t offset, size_t n, cl_mem out,
                         size_t out_off);

/* ------------------------------------------------------------- linear */

/* Which implementation computes the products: the kernels of
   kernels/linear.cl, CLBlast, or the automatic choice (what the public API
   uses): the kernels up to the profile's linear_kernel_max_c classes.
   Tests and benchmarks force one path to check and time both. */
typedef enum clt_linear_path {
  CLT_LINEAR_AUTO,
  CLT_LINEAR_KERNEL,
  CLT_LINEAR_CLBLAST
} clt_linear_path;

clt_status clt_cl_linear_forward(clt_context *ctx, const clt_tensor *X,
                                 const clt_tensor *W, const clt_tensor *b,
                                 clt_tensor *S, clt_linear_path path);
clt_status clt_cl_linear_backward(clt_context *ctx, const clt_tensor *X,
                                  const clt_tensor *W, const clt_tensor *dS,
                                  clt_tensor *dW, clt_tensor *db,
                                  clt_tensor *dX, clt_linear_path path);
clt_status clt_cl_argmax(clt_context *ctx, const clt_tensor *S,
                         clt_tensor *pred);
clt_status clt_cl_accuracy(clt_context *ctx, const clt_tensor *S,
                           const clt_tensor *labels, size_t *correct);

/* db (1,C) = column sums of dS (N,C), deterministic (fixed row blocks). */
clt_status clt_cl_colsum(clt_context *ctx, const clt_tensor *dS,
                         clt_tensor *db);

/* C = op(A) op(B) + beta C through CLBlast, row-major, with the tensors'
   element offsets; op transposes when ta / tb is set. m x n is C's shape,
   k the inner dimension. Marks the context as holding CLBlast programs. */
clt_status clt_blas_sgemm(clt_context *ctx, bool ta, bool tb, size_t m,
                          size_t n, size_t k, const clt_tensor *A,
                          const clt_tensor *B, float beta, clt_tensor *C);
/* Drops what CLBlast keeps for ctx (called from clt_cl_close). */
void clt_blas_release(clt_context *ctx);

/* ------------------------------------------------- loss, regularization */

clt_status clt_cl_loss(clt_context *ctx, const clt_loss_desc *desc,
                       const clt_tensor *S, const clt_tensor *target,
                       clt_loss_slot *defer, double *loss, clt_tensor *dS);

/* OpenCL helpers shared by host/cl/cl_loss.c and cl_regularize.c. The
   scratch buffer holds CLT_INFO floats of info (kernels/contract.h; the
   loss or penalty lands in info[CLT_I_LOSS]), then partials. */
/* Largest power of two <= min(cap, the device's max work-group size). */
size_t clt_cl_group_size(const clt_context *ctx, size_t cap);
/* The largest power of two <= cap that kernel id runs in on this device
   (clt_cl_group_size within CL_KERNEL_WORK_GROUP_SIZE). */
clt_status clt_cl_kernel_group(clt_context *ctx, clt_kid id, size_t cap, size_t *out);
/* Rows per block of the GPU-shaped dW (kernels/step_gpu.cl: the fused
   step's and the composed backward's for C <= CLT_STEP_MAX_C): 16 to 128,
   as few as give the profile's step_dw_items work-items, at most N. */
size_t clt_cl_gpu_dw_rows(const clt_context *ctx, size_t N, size_t D);
/* Sums the partials of scr into info[CLT_I_LOSS] (divided by the MEAN denominator
   info[0] when use_den, else by div; skipped if checked and the check
   pass flagged bad input) and reads the first bytes of scr into out; with
   defer, writes the loss (NaN for bad input) and a zero penalty into its
   slot instead and reads nothing. */
clt_status clt_cl_loss_finish(clt_context *ctx, cl_mem scr, size_t partials,
                              float div, int use_den, int checked,
                              clt_loss_slot *defer, float *out, size_t bytes);

clt_status clt_cl_regularize(clt_context *ctx, const clt_reg_desc *reg,
                             const clt_tensor *W, double *penalty,
                             clt_tensor *dW);

/* --------------------------------------------------------- optimizers */

clt_status clt_cl_optim_entry_init(clt_optimizer *opt, clt_opt_entry *e);
void clt_cl_optim_entry_free(clt_opt_entry *e);
/* Enqueues one step; pending when the device reports the outcome (skip
   flag, norm) later, through clt_cl_optim_settle. */
clt_status clt_cl_optim_step(clt_optimizer *opt, clt_opt_entry *e,
                             const clt_tensor *grad,
                             const clt_opt_scalars *sc, clt_optim_outcome *out);
/* Collects the outcome of e's last step with a pending report: waits for
   it when wait, else only takes it if the device is already done. *had is
   false when nothing was collected. */
clt_status clt_cl_optim_settle(clt_optimizer *opt, clt_opt_entry *e,
                               bool wait, bool *had, bool *skipped,
                               double *norm);

/* ------------------------------------------------------ sparse rows */

/* The backend entries csr_forward, csr_backward, csr_sgd, scale,
   csr_loss_supports, csr_loss and csr_gather (host/backend.h) on
   kernels/sparse.cl. */
clt_status clt_cl_csr_forward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                              float alpha, const clt_tensor *W, const clt_tensor *b, clt_tensor *S);
clt_status clt_cl_csr_backward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                               const clt_tensor *dS, clt_tensor *dW, clt_tensor *db);
clt_status clt_cl_csr_sgd(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                          const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                          float lr_b, clt_tensor *change, size_t at);
clt_status clt_cl_scale(clt_tensor *t, float alpha);
bool clt_cl_csr_loss_supports(const clt_context *ctx, const clt_loss_desc *desc,
                              const clt_tensor *y, size_t c);
clt_status clt_cl_csr_loss(clt_context *ctx, const clt_csr *X, clt_batch_rows rows, float alpha,
                           const clt_tensor *W, const clt_tensor *b, const clt_loss_desc *desc,
                           const clt_tensor *y, clt_loss_slot *defer, double *value,
                           clt_tensor *dS);
clt_status clt_cl_csr_gather(clt_csr *dst, const clt_csr *src, const clt_tensor *idx,
                             size_t first);

/* ---------------------------------------------------------- fused step */

/* The fused step of kernels/step.cl (host/cl/cl_fused.c). */
bool clt_cl_fused_supports(const clt_context *ctx, const clt_loss_desc *d,
                           const clt_tensor *y, size_t n, size_t dim, size_t c);
clt_status clt_cl_fused_loss_grad(clt_context *ctx, const clt_loss_desc *desc,
                                  const clt_reg_desc *reg, const clt_tensor *X,
                                  clt_batch_rows rows, const clt_tensor *y,
                                  const clt_tensor *W, const clt_tensor *b,
                                  clt_tensor *dW, clt_tensor *db, bool with_pen,
                                  clt_loss_slot *defer, double *value);

#endif /* CLT_CL_INTERNAL_H */
