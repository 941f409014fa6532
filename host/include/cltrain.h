/*
 * cltrain — training linear classifiers on OpenCL devices.
 *
 * One public header. Every fallible function returns a clt_status; the
 * context keeps a one-line detail of the last failure (clt_last_error). The
 * library never prints, exits or aborts, and on failure leaves its outputs and
 * the caller's data untouched.
 *
 * Threading: a context and everything created from it is used by one thread
 * at a time. Separate contexts may be used from separate threads.
 */
#ifndef CLTRAIN_H
#define CLTRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CLT_STATIC_DEFINE)
#define CLT_API
#elif defined(_WIN32)
#ifdef CLT_BUILDING
#define CLT_API __declspec(dllexport)
#else
#define CLT_API __declspec(dllimport)
#endif
#else
#define CLT_API __attribute__((visibility("default")))
#endif

#define CLT_VERSION_MAJOR 0
#define CLT_VERSION_MINOR 2
#define CLT_VERSION_PATCH 0
#define CLT_VERSION_STRING "0.2.0"
/* The version of the library actually linked, "MAJOR.MINOR.PATCH". */
CLT_API const char *clt_version(void);

/* ------------------------------------------------------------------ status */

/* (name, message). New codes are appended, never renumbered. */
#define CLT_STATUS_TABLE(X)                                                   \
  X(CLT_OK, "success")                                                        \
  X(CLT_ERR_INVALID_ARG, "invalid argument")                                  \
  X(CLT_ERR_SHAPE, "shape or size mismatch")                                  \
  X(CLT_ERR_LABEL, "label outside [0, classes)")                              \
  X(CLT_ERR_NONFINITE, "non-finite value")                                    \
  X(CLT_ERR_NO_DEVICE, "no matching device")                                  \
  X(CLT_ERR_OUT_OF_MEMORY, "out of memory")                                   \
  X(CLT_ERR_BUILD, "kernel build failed")                                     \
  X(CLT_ERR_OPENCL, "OpenCL call failed")                                     \
  X(CLT_ERR_IO, "input/output error")                                         \
  X(CLT_ERR_FORMAT, "malformed or incompatible file")                         \
  X(CLT_ERR_DTYPE, "wrong element type")                                      \
  X(CLT_ERR_CONTEXT, "objects belong to different contexts")               \
  X(CLT_ERR_DISTRIBUTED, "a rank of a distributed run failed or disagreed")

typedef enum clt_status {
#define CLT_STATUS_ENUM_(name, msg) name,
  CLT_STATUS_TABLE(CLT_STATUS_ENUM_)
#undef CLT_STATUS_ENUM_
} clt_status;

/* Human-readable message; "unknown status" for values outside the table. */
CLT_API const char *clt_status_str(clt_status status);
/* The enumerator's name, e.g. "CLT_ERR_SHAPE". */
CLT_API const char *clt_status_name(clt_status status);

/* ----------------------------------------------------------------- context */

typedef struct clt_context clt_context;
typedef struct clt_tensor clt_tensor;

typedef struct clt_context_options {
  /* NULL or "auto": a GPU, else a CPU OpenCL device, else the reference
     backend; CLT_DEVICE in the environment replaces "auto". Also "gpu",
     "cpu" (OpenCL devices of that type only), "ref" (the double-precision
     C reference backend, needs no OpenCL), "#N" (the device at position N
     of clt_devices_list), or a case-insensitive substring of an OpenCL
     device or platform name. */
  const char *device;
  /* Nonzero: the context records timings (clt_context_timings). On OpenCL
     its queue profiles every command, which can cost a little speed. */
  int record_timings;
  /* NULL: on an OpenCL device, the variant the tuning cache holds for it
     (clt_tune), the device tuned first (on a context of its own) if the
     cache has never seen it (at most 30 s, said on stderr; not when the
     cache cannot be written), else its profile's defaults. CLT_TUNE=off
     in the environment (no tuning, the cache ignored) and CLT_PROFILE
     (which forces a profile) give that profile's defaults. Otherwise a
     string clt_context_variant returned, which gives the kernels and
     launch shapes of the context it came from, so the same bits (a
     checkpoint records it); CLT_ERR_INVALID_ARG if this version cannot
     read it. The reference backend ignores it. */
  const char *variant;
} clt_context_options;

CLT_API clt_status clt_context_create(const clt_context_options *options,
                                      clt_context **out);
CLT_API void clt_context_destroy(clt_context *ctx); /* NULL is fine */
/* "reference (CPU, double)" or the OpenCL device name. */
CLT_API const char *clt_context_device_name(const clt_context *ctx);
/* The largest single tensor and all tensors together that ctx's device
   can hold, in bytes (CL_DEVICE_MAX_MEM_ALLOC_SIZE, CL_DEVICE_GLOBAL_MEM_SIZE);
   UINT64_MAX on the reference backend, which allocates host memory. */
CLT_API uint64_t clt_context_max_alloc_bytes(const clt_context *ctx);
CLT_API uint64_t clt_context_global_mem_bytes(const clt_context *ctx);
/* The name of the context's tuning profile ("cpu", "gpu", "generic": the
   device's class as clt_device_profile says, or the class of the variant
   asked for), or "reference". */
CLT_API const char *clt_context_profile(const clt_context *ctx);
/* The whole of its profile, tuned or not, as a variant string:
   "NAME:field=value,..." (every field, so that it stays valid when a later
   version changes a profile's defaults), or "reference". */
CLT_API const char *clt_context_variant(const clt_context *ctx);
/* 1 for the reference backend, 0 for OpenCL. */
CLT_API int clt_context_is_reference(const clt_context *ctx);
/* Detail of the context's last failure ("" if none). With ctx NULL, the
   detail of this thread's last failure outside a context: creating one,
   listing devices, and in the tool's internal API loading data, files and
   models. */
CLT_API const char *clt_last_error(const clt_context *ctx);
/* Wait for every queued operation of the context to finish. */
CLT_API clt_status clt_context_finish(clt_context *ctx);

/* What a context created with record_timings spent its time on, one entry
   per name, in the order of first use. */
typedef enum clt_timing_kind {
  CLT_TIMING_KERNEL,   /* a kernel (OpenCL: "clt_linear_fwd_c2", CLBlast:
                          "clblast_sgemm"); an op on the reference backend
                          ("linear_forward") */
  CLT_TIMING_TRANSFER, /* "write", "read", "fill", "copy" */
  CLT_TIMING_WAIT      /* "host wait": the host blocked on the device */
} clt_timing_kind;
typedef struct clt_timing {
  const char *name; /* static: valid as long as the library is loaded */
  clt_timing_kind kind;
  uint64_t count;   /* launches, transfers or waits */
  /* Device time from OpenCL profiling events; host time on the reference
     backend and for waits. */
  double seconds;
  uint64_t bytes;   /* transfers: bytes moved */
  uint64_t items;   /* OpenCL kernels: work-items launched (0: unknown) */
} clt_timing;

/* Waits for the context's queued work, then fills up to cap entries (out
   may be NULL when cap is 0) and sets *count to the number recorded.
   CLT_ERR_INVALID_ARG when ctx was created without record_timings. */
CLT_API clt_status clt_context_timings(clt_context *ctx, clt_timing *out,
                                       size_t cap, size_t *count);
/* Forgets what was recorded (e.g. after warm-up). */
CLT_API clt_status clt_context_timings_reset(clt_context *ctx);

/* One OpenCL device as seen by discovery. */
typedef struct clt_device_info {
  char platform[128];
  char name[256];
  char version[128]; /* CL_DEVICE_VERSION, e.g. "OpenCL 3.0 PoCL ..." */
  int is_gpu, is_cpu;
  unsigned compute_units;
  uint64_t global_mem_bytes;
  size_t max_work_group_size;
  uint64_t max_alloc_bytes; /* the largest single buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE) */
  char driver[128];         /* CL_DRIVER_VERSION */
} clt_device_info;

/* Fills up to cap entries (out may be NULL when cap is 0) and sets *count
   to the number of OpenCL devices found (0 with no platform at all). */
CLT_API clt_status clt_devices_list(clt_device_info *out, size_t cap,
                                    size_t *count);
/* What clt_context_create would pick for spec (NULL: "auto", honouring
   CLT_DEVICE): *index is the device's position in clt_devices_list, or
   SIZE_MAX for the reference backend. CLT_ERR_NO_DEVICE if none matches. */
CLT_API clt_status clt_device_select(const char *spec, size_t *index);
/* The same, taking the nth (modulo their count) of the devices spec
   matches instead of the first: how the ranks on one machine of a
   data-parallel run share its devices (nth: the local rank). */
CLT_API clt_status clt_device_select_nth(const char *spec, size_t nth, size_t *index);

/* The tuning profile a context on device gets: "cpu" for CPU devices,
   "gpu" for GPUs, "generic" for the others; CLT_PROFILE=cpu|gpu|generic in
   the environment forces one (for testing one device's variants on
   another). NULL when CLT_PROFILE holds anything else: creating a context
   on an OpenCL device then fails with CLT_ERR_INVALID_ARG. */
CLT_API const char *clt_device_profile(const clt_device_info *device);

/* Tunes the OpenCL device spec picks (as clt_device_select): times a
   bounded set of variants (the fused step's shape, the composed ops, the
   linear kernels against CLBlast) on representative shapes, each checked
   against the reference backend first, for at most 30 s, and keeps the
   fastest in the tuning cache, $XDG_CACHE_HOME/cltrain/tune (else
   ~/.cache/cltrain/tune), one line per device keyed by its platform,
   name and driver version, this version of cltrain and its kernels'
   source, replaced atomically. With verbose, every candidate's times on
   stderr. The variant into variant (len bytes; may be NULL) and the
   cache's path into path (may be NULL). CLT_ERR_INVALID_ARG for the
   reference backend, CLT_ERR_IO when the cache cannot be written. */
CLT_API clt_status clt_tune(const char *spec, int verbose, char *variant, size_t len,
                            char *path, size_t path_len);
/* 1 and the cache's variant for device into variant (may be NULL) if the
   tuning cache holds one that this version can read, else 0. */
CLT_API int clt_device_tuned(const clt_device_info *device, char *variant, size_t len);

/* ----------------------------------------------------------------- tensors */

typedef enum clt_dtype { CLT_FLOAT32, CLT_INT32 } clt_dtype;

/* rows x cols, row-major, uninitialised. rows*cols*4 must fit in size_t. */
CLT_API clt_status clt_tensor_create(clt_context *ctx, size_t rows, size_t cols,
                                     clt_dtype dtype, clt_tensor **out);
/* bytes must equal rows*cols*4 exactly. Blocking. */
CLT_API clt_status clt_tensor_write(clt_tensor *t, const void *host,
                                    size_t bytes);
CLT_API clt_status clt_tensor_read(const clt_tensor *t, void *host,
                                   size_t bytes);
/* A view of rows [first, first+count) sharing t's memory. The memory lives
   until the last tensor using it is destroyed, in any order. */
CLT_API clt_status clt_tensor_view_rows(clt_tensor *t, size_t first,
                                        size_t count, clt_tensor **out);
/* dst row r = src row idx[first + r] for r < dst rows: a minibatch taken
   on the device through a permutation. idx is (M,1) int32 with values in
   [0, src rows) (else CLT_ERR_LABEL, dst untouched); dst and src have the
   same dtype and columns. */
CLT_API clt_status clt_tensor_gather_rows(clt_tensor *dst,
                                          const clt_tensor *src,
                                          const clt_tensor *idx, size_t first);
/* Every element set to value (float32) or (int32_t)value (int32). */
CLT_API clt_status clt_tensor_fill(clt_tensor *t, double value);
/* dst = src; same shape and dtype. */
CLT_API clt_status clt_tensor_copy(clt_tensor *dst, const clt_tensor *src);
CLT_API void clt_tensor_destroy(clt_tensor *t); /* NULL is fine */
CLT_API size_t clt_tensor_rows(const clt_tensor *t);
CLT_API size_t clt_tensor_cols(const clt_tensor *t);
CLT_API clt_dtype clt_tensor_dtype(const clt_tensor *t);
CLT_API clt_context *clt_tensor_context(const clt_tensor *t);


/* ------------------------------------------------------ linear scores */

/* X: (N,D) W: (D,C) b: (1,C) or NULL, S: (N,C).   S = X W + b
   (torch.nn.functional.linear(X, W^T, b)). Sums are float32 on OpenCL
   devices, in a fixed order: the same inputs give the same bits. An
   output may not share memory with an input or with another output
   (CLT_ERR_INVALID_ARG); row views of one buffer that do not overlap are
   fine. */
CLT_API clt_status clt_linear_forward(clt_context *ctx, const clt_tensor *X,
                                      const clt_tensor *W, const clt_tensor *b,
                                      clt_tensor *S);
/* dS: (N,C). dW = X^T dS (D,C); db = column sums of dS (1,C), or NULL;
   dX = dS W^T (N,D), or NULL. Outputs are overwritten, not accumulated. */
CLT_API clt_status clt_linear_backward(clt_context *ctx, const clt_tensor *X,
                                       const clt_tensor *W,
                                       const clt_tensor *dS, clt_tensor *dW,
                                       clt_tensor *db, clt_tensor *dX);

/* ---------------------------------------------------- sparse matrices */

/* A rows x cols matrix in CSR form (compressed sparse rows) owned by a
   context, for sparse features: row i holds the values val[k] at columns
   col[k] for k in [indptr[i], indptr[i+1]). Entry offsets are 64-bit, so
   a matrix may hold more than 2^31 entries; columns are int32. */
typedef struct clt_csr clt_csr;

/* Uploads a CSR matrix. indptr: rows+1 values, indptr[0] = 0, never
   decreasing; indices and values: indptr[rows] entries each (NULL when
   that is 0). A row's columns may come in any order (they are sorted,
   with their values, on the way in) but must be distinct and in [0, cols).
   A bad indptr, a repeated or out-of-range column is CLT_ERR_INVALID_ARG
   naming the row; rows or cols 0 (or cols beyond INT32_MAX) is
   CLT_ERR_SHAPE. Rows without entries are fine. */
CLT_API clt_status clt_csr_create(clt_context *ctx, size_t rows, size_t cols,
                                  const int64_t *indptr, const int32_t *indices,
                                  const float *values, clt_csr **out);
/* Rows [first, first+count) of X sharing its memory, as tensor views. */
CLT_API clt_status clt_csr_view_rows(clt_csr *X, size_t first, size_t count,
                                     clt_csr **out);
/* A new matrix of count rows: row r = row idx[first + r] of src. idx is
   (M,1) int32 with values in [0, src rows) (else CLT_ERR_LABEL). */
CLT_API clt_status clt_csr_gather_rows(const clt_csr *src, const clt_tensor *idx,
                                       size_t first, size_t count, clt_csr **out);
/* The matrix back in host memory: indptr (rows+1 values, from 0),
   indices and values (nnz each; either may be NULL to skip it). */
CLT_API clt_status clt_csr_read(const clt_csr *X, int64_t *indptr, int32_t *indices,
                                float *values);
CLT_API void clt_csr_destroy(clt_csr *X); /* NULL is fine */
CLT_API size_t clt_csr_rows(const clt_csr *X);
CLT_API size_t clt_csr_cols(const clt_csr *X);
CLT_API uint64_t clt_csr_nnz(const clt_csr *X);

/* S = X W + b with X sparse (N,D): W (D,C), b (1,C) or NULL, S (N,C).
   Each score is a float32 sum over the row's entries in column order. */
CLT_API clt_status clt_csr_linear_forward(clt_context *ctx, const clt_csr *X,
                                          const clt_tensor *W, const clt_tensor *b,
                                          clt_tensor *S);
/* dW = X^T dS (D,C), overwritten; db = column sums of dS (1,C), or NULL.
   Deterministic: each element of dW sums its column's entries in row
   order, with no atomics, so the same inputs give the same bits. */
CLT_API clt_status clt_csr_linear_backward(clt_context *ctx, const clt_csr *X,
                                           const clt_tensor *dS, clt_tensor *dW,
                                           clt_tensor *db);

/* ------------------------------------------------------------- losses */

/* Loss functions with PyTorch's semantics and defaults, so values compare
   line by line with torch.nn.functional. S: scores (N,C), row i = sample i.

   CLT_LOSS_CROSS_ENTROPY  F.cross_entropy(S, target, weight=class_weight,
     ignore_index, label_smoothing=eps). With labels y (N,1) int32, w_c the
     class weights (1 without class_weight), lse_i = log sum_c exp(S_ic):
       l_i = (1-eps) w_{y_i} (lse_i - S_{i,y_i})
             + (eps/C) sum_c w_c (lse_i - S_ic),
     rows with y_i == ignore_index contribute 0 (and get a zero gradient);
     MEAN divides the sum by sum of w_{y_i} over the rows not ignored (as
     PyTorch does, the smoothing term too). If that sum is 0 (every row
     ignored, or only zero-weight classes present) the mean is NaN as in
     PyTorch: CLT_ERR_NONFINITE, see below. With soft targets T (N,C)
     float32 (class probabilities): T' = (1-eps) T + eps/C,
       l_i = sum_c w_c T'_ic (lse_i - S_ic), MEAN divides by N; ignore_index
     does not apply. lse uses the row maximum, so logits of +-1e4 give a
     finite loss and gradient.
   CLT_LOSS_HINGE  multiclass SVM of Weston and Watkins (CS231n), labels
     (N,1) int32: l_i = w_{y_i} sum_{j != y_i} max(0, S_ij - S_{i,y_i} + margin)^p,
     p = 1 or 2; MEAN divides by N. This is exactly
     C * F.multi_margin_loss(S, y, p, margin, weight=class_weight) for both
     reductions (PyTorch also divides each row by C). The gradient takes the
     subgradient 0 at the kink (a term counts only when its margin > 0), as
     multi_margin_loss does; unlike it, a NaN term reaches the loss (and
     CLT_ERR_NONFINITE) instead of being skipped.
   CLT_LOSS_BCE_LOGITS  F.binary_cross_entropy_with_logits(S, T,
     weight=class_weight broadcast over rows, pos_weight), T (N,C) float32 in
     [0,1]: l_ic = w_c [(1-T) S + (1 + (pw_c - 1) T) softplus(-S)], with the
     stable softplus(-s) = max(-s,0) + log1p(exp(-|s|)); MEAN divides by N*C.
   CLT_LOSS_MSE   (S - T)^2;       MEAN divides by N*C (F.mse_loss).
   CLT_LOSS_L1    |S - T|, gradient sign(S - T) with sign(0) = 0 (F.l1_loss).
   CLT_LOSS_HUBER d = S - T: 0.5 d^2 if |d| < huber_delta, else
                  huber_delta (|d| - 0.5 huber_delta) (F.huber_loss).
   CLT_LOSS_KL_DIV  F.kl_div(input=S as log-probabilities, target=T,
     log_target): T (log T - S) with 0 log 0 = 0, or exp(T) (T - S) with
     log_target; MEAN divides by N*C, BATCHMEAN by N (the mathematically
     correct KL mean), SUM not at all.

   Errors, besides those of every function (NULL, dtype, shape, context):
   CLT_ERR_INVALID_ARG for a bad kind or reduction (BATCHMEAN is for KL
   only), hinge p not 1 or 2, a negative or non-finite margin, smoothing
   outside [0,1], huber_delta not > 0, class_weight or pos_weight given to
   a loss that does not use them (class_weight: cross-entropy, hinge, BCE;
   pos_weight: BCE) or holding a negative or non-finite value.
   Hyper-parameter fields a kind does not use are ignored.
   CLT_ERR_LABEL for a label outside [0,C) that is not ignore_index (and for
   ignore_index itself with hinge, which has no ignore_index). Both leave
   *loss and dS untouched; on the OpenCL backend the labels and weights are
   checked by a device pass before dS is written, and no kernel reads out
   of bounds.
   CLT_ERR_NONFINITE when the loss is NaN or infinite: S or T holds NaN or
   inf, a term overflowed, or the MEAN denominator is 0. The one exception
   to the untouched-outputs rule: the loss and dS have already been
   computed in the same pass (checking S first would read it twice), so
   *loss holds the non-finite value and dS has been written, with NaN or
   inf in the affected rows (zero in ignored rows).

   clt_loss waits for the device: besides dS it reads back 24 bytes (the
   loss and the label check), also when loss is NULL. */

/* What a loss kind takes as its target: int32 class indices (N,1), float32
   values (N,C), or either (cross-entropy: indices or probabilities). */
#define CLT_TARGET_LABELS 1
#define CLT_TARGET_VALUES 2
#define CLT_TARGET_EITHER (CLT_TARGET_LABELS | CLT_TARGET_VALUES)

/* Every loss kind, one row each: X(kind, value, name, target). The enum,
   the names (clt_loss_kind_name) and the tool's --loss list are generated
   from it; the values are the ABI and never change. */
#define CLT_LOSS_KINDS(X)                                                     \
  /* softmax cross-entropy, F.cross_entropy */                                \
  X(CLT_LOSS_CROSS_ENTROPY, 0, "cross-entropy", CLT_TARGET_EITHER)            \
  /* multiclass SVM, Weston-Watkins (CS231n) */                               \
  X(CLT_LOSS_HINGE, 1, "hinge", CLT_TARGET_LABELS)                            \
  /* F.binary_cross_entropy_with_logits */                                    \
  X(CLT_LOSS_BCE_LOGITS, 2, "bce-logits", CLT_TARGET_VALUES)                  \
  X(CLT_LOSS_MSE, 3, "mse", CLT_TARGET_VALUES)     /* F.mse_loss */           \
  X(CLT_LOSS_L1, 4, "l1", CLT_TARGET_VALUES)       /* F.l1_loss (MAE) */      \
  X(CLT_LOSS_HUBER, 5, "huber", CLT_TARGET_VALUES) /* F.huber_loss */         \
  /* F.kl_div, input = log-probabilities */                                   \
  X(CLT_LOSS_KL_DIV, 6, "kl-div", CLT_TARGET_VALUES)

/* One enumerator of a kind table's row. */
#define CLT_KIND_ENUMERATOR(kind, value, ...) kind = value,

typedef enum clt_loss_kind { CLT_LOSS_KINDS(CLT_KIND_ENUMERATOR) } clt_loss_kind;

typedef enum clt_reduction {
  CLT_REDUCTION_MEAN,     /* default */
  CLT_REDUCTION_SUM,
  CLT_REDUCTION_BATCHMEAN /* kl-div only: sum / N */
} clt_reduction;

typedef struct clt_loss_desc {
  clt_loss_kind kind;
  clt_reduction reduction; /* CLT_REDUCTION_MEAN (default), _SUM; KL: _BATCHMEAN */
  float margin;            /* hinge: delta, default 1 */
  int p;                   /* hinge: 1 (default) or 2 (squared hinge) */
  float label_smoothing;   /* cross-entropy, default 0 */
  int ignore_index;        /* cross-entropy with labels, default -100 */
  float huber_delta;       /* huber, default 1 */
  int log_target;          /* kl_div, default 0 */
  /* Optional (1,C) float32, default NULL. class_weight: cross-entropy
     (weight), hinge (weight of the true class), BCE (weight per column);
     pos_weight: BCE only. */
  const clt_tensor *class_weight, *pos_weight;
} clt_loss_desc;

/* The documented (PyTorch) defaults for kind; every field is set, and the
   defaults are the same for every kind (only .kind differs). */
CLT_API clt_loss_desc clt_loss_defaults(clt_loss_kind kind);

/* The name of kind in CLT_LOSS_KINDS: "cross-entropy", "hinge",
   "bce-logits", "mse", "l1", "huber", "kl-div" ("unknown" outside the
   enum). */
CLT_API const char *clt_loss_kind_name(clt_loss_kind kind);
/* The kind named name: one of the names above or the CS231n aliases
   "softmax" (cross-entropy) and "svm" (hinge). CLT_ERR_INVALID_ARG (and
   *kind untouched) for anything else or NULL. */
CLT_API clt_status clt_loss_kind_from_name(const char *name,
                                           clt_loss_kind *kind);

/* Loss of scores S (N,C) against target and its gradient dS = d loss / d S
   (N,C) in one pass. target: labels (N,1) int32 for cross-entropy and
   hinge (or (N,C) float32 class probabilities for cross-entropy), values
   (N,C) float32 for the others. loss or dS may be NULL. */
CLT_API clt_status clt_loss(clt_context *ctx, const clt_loss_desc *desc,
                            const clt_tensor *S, const clt_tensor *target,
                            double *loss, clt_tensor *dS);

/* ----------------------------------------------------- regularization */

/* penalty = l1*sum|W| + 0.5*l2*sum W^2, so that its gradient l2*W is
   PyTorch's weight_decay = l2. */
typedef struct clt_reg_desc {
  float l1, l2;
} clt_reg_desc;

/* Adds the penalty to *penalty (if non-NULL) and its gradient
   l1 sign(W) + l2 W (sign(0) = 0, as torch.sign) to dW (if non-NULL, same
   shape as W) in one pass. Apply it to weights only: the bias is not
   regularized unless the caller passes it. l1 and l2 must be finite and
   >= 0 (CLT_ERR_INVALID_ARG); both 0 does nothing. CLT_ERR_NONFINITE when
   the penalty is asked for and is NaN or inf (W holds NaN or inf): *penalty
   then holds it and dW has been updated. On the OpenCL backend the penalty
   costs a 4-byte read-back; dW alone reads nothing back. */
CLT_API clt_status clt_regularize(clt_context *ctx, const clt_reg_desc *reg,
                                  const clt_tensor *W, double *penalty,
                                  clt_tensor *dW);

/* ------------------------------------------------------ prediction */

/* pred (N,1) int32 = argmax over each row of S (N,C), as torch.argmax on
   the CPU: the first maximum wins, and NaN counts as larger than any
   number, so a row holding NaN predicts its first NaN. */
CLT_API clt_status clt_argmax(clt_context *ctx, const clt_tensor *S,
                              clt_tensor *pred);
/* Number of rows of S whose argmax (as above) equals labels (N,1) int32,
   counted on the device: only the count is read back. A label outside
   [0, C) gives CLT_ERR_LABEL and leaves *correct untouched. */
CLT_API clt_status clt_accuracy(clt_context *ctx, const clt_tensor *S,
                                const clt_tensor *labels, size_t *correct);

/* ------------------------------------------- fused training-step op */

/* The whole gradient of a linear classifier: loss(X W + b, y) + reg(W),
   dW (D,C) and db (1,C, may be NULL when b is NULL) in the fewest passes
   over X. reg may be NULL. loss may be NULL (the penalty is then not
   computed). Arguments, targets and results are those of clt_loss,
   clt_linear_backward and clt_regularize, and the two paths below give the
   same results to float rounding.

   Paths. On OpenCL devices, cross-entropy and hinge with integer labels,
   C <= 32 and C*D <= 65536 take fused kernels: the scores, the loss and dS
   are computed while each row of X is read once, S and dS are never
   stored, and dW, db and the penalty follow from the same pass; three
   launches and one blocking 24-byte read-back (the loss, the penalty and
   the label checks). Everything else (more classes or features, the other
   losses, soft targets, the reference backend) is the composition of
   clt_linear_forward, clt_loss, clt_linear_backward and clt_regularize
   over workspaces the context keeps between calls.

   Errors. NULL, dtype, shape and descriptor errors return before anything
   runs. A label outside [0, C) gives CLT_ERR_LABEL and a bad class weight
   CLT_ERR_INVALID_ARG, with dW and db untouched. A non-finite loss (NaN or
   inf in X, W or b, an overflowing term, or a mean over zero weight) is
   found after the gradient is written: CLT_ERR_NONFINITE, *loss holds the
   value and dW and db hold the gradient computed from the same inputs, as
   clt_loss does. */
CLT_API clt_status clt_linear_loss_grad(clt_context *ctx,
                                        const clt_loss_desc *desc,
                                        const clt_reg_desc *reg,
                                        const clt_tensor *X,
                                        const clt_tensor *y,
                                        const clt_tensor *W,
                                        const clt_tensor *b, double *loss,
                                        clt_tensor *dW, clt_tensor *db);

/* ------------------------------------------- numerical gradient check */

typedef struct clt_gradcheck_result {
  double max_rel_error_W, max_rel_error_b; /* see clt_gradcheck; b: 0 without b */
  size_t checked_W, checked_b;             /* coordinates compared */
} clt_gradcheck_result;

/* Analytic gradient of loss(X W + b) + reg(W) w.r.t. W and b on ctx's
   device, compared with central differences (step h > 0) of the
   double-precision reference loss and penalty, over all coordinates
   (samples 0) or `samples` random ones per parameter drawn with
   replacement from seed (CS231n grad_check_sparse). b and reg may be NULL.
   X (N,D) float32, W (D,C), b (1,C), target as for clt_loss.

   The analytic gradient: on OpenCL, the library's own float32 ops
   (clt_linear_forward, clt_loss, clt_linear_backward, clt_regularize); on
   the reference backend, the reference's formulas evaluated in double
   (clt_loss's dS before its float32 storage), which is what reaches 1e-7.
   The relative error of a coordinate is |a - n| / max(|a|, |n|, 1e-2 G),
   G the largest |n| over all coordinates checked (W's and b's): a
   coordinate under 1% of the gradient's scale is compared absolutely
   against that floor, since its own relative error is rounding noise (a
   float32 column sum that should cancel to 0 leaves ~1e-8 G); a real
   derivative bug still shows up far above the 1e-4 the command accepts.
   Near a kink (hinge, l1, huber, l1 penalty at 0) one-sided differences
   disagree with the subgradient: expect large errors there.
   Argument errors are those of the ops above plus CLT_ERR_INVALID_ARG for
   a NULL result or a bad h; *result is written only on success. */
CLT_API clt_status clt_gradcheck(clt_context *ctx, const clt_loss_desc *desc,
                                 const clt_reg_desc *reg, const clt_tensor *X,
                                 const clt_tensor *target, const clt_tensor *W,
                                 const clt_tensor *b, size_t samples,
                                 uint64_t seed, double h,
                                 clt_gradcheck_result *result);

/* ---------------------------------------------------------- optimizers */

/* Parameter updates with PyTorch's torch.optim semantics and defaults, so a
   run can be reproduced step for step. Every update is one fused kernel
   launch that reads each parameter, its gradient and its state once and
   writes the parameter and its state once (a tensor stepped on its own
   whose size is not a multiple of 256 gets its last partial block of 256
   from a second, bound-checked launch); scalars that are the same for
   every element (bias corrections, mu products, step sizes) are computed on
   the host in double and passed to the kernel.

   Per element, with g the gradient after clipping and (maximize) negation,
   p the parameter, lr the learning rate, wd weight_decay and t the 1-based
   step count of the tensor. "Coupled" decay means g <- g + wd p first.

   CLT_OPTIM_SGD (torch.optim.SGD; coupled decay; momentum, dampening,
     nesterov, maximize): b = g on the first step, else
     b = momentum b + (1 - dampening) g; d = nesterov ? g + momentum b : b;
     p -= lr d (no buffer when momentum is 0). CS231n writes momentum as
     v = mu v - lr dx; x += v: the same trajectory with v = -lr b while lr is
     constant; when lr changes PyTorch's form rescales the whole velocity by
     the new lr, CS231n's only the newest gradient. PyTorch has no default lr
     for SGD; clt_optim_defaults uses 1e-3.
   CLT_OPTIM_ADAGRAD (coupled decay, lr_decay, initial_accumulator_value,
     eps outside the root): s += g^2; p -= lr / (1 + (t-1) lr_decay) *
     g / (sqrt(s) + eps). State "sum" starts at initial_accumulator_value.
   CLT_OPTIM_RMSPROP (coupled decay, alpha, eps, centered, momentum):
     a = alpha a + (1-alpha) g^2; centered: c = alpha c + (1-alpha) g,
     den = sqrt(a - c^2) + eps, else den = sqrt(a) + eps; momentum > 0:
     b = momentum b + g / den, p -= lr b; else p -= lr g / den.
   CLT_OPTIM_ADADELTA (coupled decay, rho, eps inside both roots, lr a
     multiplier): a = rho a + (1-rho) g^2; d = sqrt(e + eps) / sqrt(a + eps) g;
     e = rho e + (1-rho) d^2; p -= lr d.
   CLT_OPTIM_ADAM, CLT_OPTIM_ADAMW (beta1, beta2, eps, amsgrad; ADAM coupled
     decay, ADAMW p *= 1 - lr wd first): m = b1 m + (1-b1) g;
     v = b2 v + (1-b2) g^2; amsgrad: vm = max(vm, v) replaces v below;
     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
   CLT_OPTIM_ADAMAX (coupled decay): m = b1 m + (1-b1) g;
     u = max(b2 u, |g| + eps); p -= lr / (1 - b1^t) * m / u.
   CLT_OPTIM_NADAM (coupled decay, or decoupled p *= 1 - lr wd with
     decoupled_weight_decay; momentum_decay psi): mu_t = b1 (1 - 0.5 *
     0.96^(t psi)); P_t = prod_{k<=t} mu_k (the running mu product);
     m, v as Adam; den = sqrt(v / (1 - b2^t)) + eps;
     p -= lr (1 - mu_t) / (1 - P_t) g / den + lr mu_{t+1} / (1 - P_t mu_{t+1})
     m / den. This is PyTorch >= 2.0 and 1.13's foreach path; 1.13's default
     single-tensor path multiplied mu_t into the last product twice, a bug
     fixed upstream (pytorch/pytorch#92699).
   CLT_OPTIM_RADAM (coupled or decoupled decay as NAdam): m, v as Adam;
     rho_inf = 2 / (1 - b2) - 1; rho_t = rho_inf - 2 t b2^t / (1 - b2^t);
     mh = m / (1 - b1^t); rho_t > 5: p -= lr r sqrt(1 - b2^t) mh / (sqrt(v)
     + eps) with r = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)
     (rho_inf-2) rho_t)); else p -= lr mh.
   CLT_OPTIM_LARS (You et al. 2017, "Large Batch Training of Convolutional
     Networks"; momentum, trust_coefficient eta): d = g + wd p;
     trust = eta ||p|| / (||g|| + wd ||p||) when ||p|| > 0 and ||g|| > 0,
     else 1; b = momentum b + trust d (b starts at 0); p -= lr b.
     Defaults: lr 1, momentum 0.9, weight_decay 0, eta 1e-3.
   CLT_OPTIM_LAMB (You et al. 2019, "Large Batch Optimization for Deep
     Learning"; beta1, beta2, eps): m, v as Adam; u = (m / (1 - b1^t)) /
     (sqrt(v / (1 - b2^t)) + eps) + wd p; r = ||p|| / ||u|| when both norms
     are > 0, else 1; p -= lr r u. Defaults: lr 1e-3, betas 0.9/0.999,
     eps 1e-6, weight_decay 0 (trust_coefficient is not used).
   Norms are per parameter tensor (||p|| before the update), reduced on the
   device in a fixed order (reproducible), and consumed on the device: a
   step never waits for the host.

   Options of every kind:
   - maximize: g <- -g (PyTorch's maximize).
   - max_grad_norm > 0: torch.nn.utils.clip_grad_norm_ before the update:
     N = ||all gradients of the step||_2, g *= min(1, max_grad_norm /
     (N + 1e-6)). Unlike PyTorch the gradient tensor itself is not modified.
   - skip_nonfinite: a step whose gradient holds a NaN or an infinity leaves
     parameters and every state (and the step count) untouched and counts a
     skipped step (clt_optimizer_stats). The test runs on the device and the
     update consults its result there; the host learns it asynchronously.
   With clipping, the guard, or LARS, a step makes one extra read pass over
   the gradients (and LARS the parameters) before the update; LAMB updates
   its moments and reduces the norms in a first pass, then applies p -= lr r
   u in a second (40 bytes per parameter against Adam's 28).

   Fields a kind does not use are ignored, but every float must be finite
   and every field within its range: lr, weight_decay, momentum, eps,
   alpha, lr_decay, initial_accumulator_value, momentum_decay,
   trust_coefficient, max_grad_norm >= 0; beta1, beta2 in [0, 1); rho in
   [0, 1]; SGD nesterov needs momentum > 0 and dampening 0 — otherwise
   CLT_ERR_INVALID_ARG naming the field. */

/* Every optimizer kind, one row each: X(kind, value, name, stats), stats 1
   where every step first reduces the gradient (LARS: its norms), before
   clipping or the non-finite guard ask for it. The enum, the names
   (clt_optim_kind_name) and the tool's --optim list are generated from it;
   the values are the ABI and never change. */
#define CLT_OPTIM_KINDS(X)                                                    \
  X(CLT_OPTIM_SGD, 0, "sgd", 0)                                               \
  X(CLT_OPTIM_ADAGRAD, 1, "adagrad", 0)                                       \
  X(CLT_OPTIM_RMSPROP, 2, "rmsprop", 0)                                       \
  X(CLT_OPTIM_ADADELTA, 3, "adadelta", 0)                                     \
  X(CLT_OPTIM_ADAM, 4, "adam", 0)                                             \
  X(CLT_OPTIM_ADAMW, 5, "adamw", 0)                                           \
  X(CLT_OPTIM_ADAMAX, 6, "adamax", 0)                                         \
  X(CLT_OPTIM_NADAM, 7, "nadam", 0)                                           \
  X(CLT_OPTIM_RADAM, 8, "radam", 0)                                           \
  X(CLT_OPTIM_LARS, 9, "lars", 1)                                             \
  X(CLT_OPTIM_LAMB, 10, "lamb", 0)

typedef enum clt_optim_kind { CLT_OPTIM_KINDS(CLT_KIND_ENUMERATOR) } clt_optim_kind;

typedef struct clt_optim_desc {
  clt_optim_kind kind;
  float lr, weight_decay;
  float momentum, dampening; int nesterov, maximize; /* sgd, rmsprop, lars */
  float beta1, beta2, eps; int amsgrad;              /* adam family, lamb */
  float alpha; int centered;                         /* rmsprop */
  float rho;                                         /* adadelta */
  float lr_decay, initial_accumulator_value;         /* adagrad */
  float momentum_decay; int decoupled_weight_decay;  /* nadam, radam */
  float trust_coefficient;                           /* lars */
  float max_grad_norm;                               /* 0: no clipping */
  int skip_nonfinite; /* 1: skip steps with a non-finite gradient; default 0
                         (PyTorch has no such guard) */
} clt_optim_desc;

/* PyTorch's defaults for kind (LARS, LAMB: see above); fields the kind does
   not use are 0. SGD lr 1e-3; Adagrad lr 1e-2, eps 1e-10; RMSprop lr 1e-2,
   alpha 0.99, eps 1e-8; Adadelta lr 1, rho 0.9, eps 1e-6; Adam lr 1e-3,
   betas 0.9/0.999, eps 1e-8; AdamW the same with weight_decay 1e-2; Adamax
   lr 2e-3; NAdam lr 2e-3, momentum_decay 4e-3; RAdam lr 1e-3. An unknown
   kind gives SGD's defaults with that kind, which create rejects. */
CLT_API clt_optim_desc clt_optim_defaults(clt_optim_kind kind);

/* The name of kind in CLT_OPTIM_KINDS ("unknown" outside the enum), and the
   kind of such a name (CLT_ERR_INVALID_ARG, *kind untouched, for anything
   else or NULL). */
CLT_API const char *clt_optim_kind_name(clt_optim_kind kind);
CLT_API clt_status clt_optim_kind_from_name(const char *name,
                                            clt_optim_kind *kind);

typedef struct clt_optimizer clt_optimizer;

/* An optimizer for tensors of ctx; desc is copied. */
CLT_API clt_status clt_optimizer_create(clt_context *ctx,
                                        const clt_optim_desc *desc,
                                        clt_optimizer **out);
/* Releases the optimizer and its state (not the caller's tensors, not the
   tensors handed out by clt_optimizer_add_group, which stay valid until
   destroyed). NULL is fine. */
CLT_API void clt_optimizer_destroy(clt_optimizer *opt);

/* Per-tensor options. Zero-initialised (or NULL) means the defaults. */
typedef struct clt_param_options {
  int no_weight_decay; /* 1: weight decay 0 for this tensor (biases) */
  int no_trust_ratio;  /* 1: LARS/LAMB trust ratio fixed at 1 (biases) */
} clt_param_options;

/* The simple form: one update of param (float32) from grad (same shape),
   one launch. A tensor seen for the first time is registered with the
   default options and gets fresh state (PyTorch's lazy state). param and
   grad must not overlap. A tensor of a group (clt_optimizer_add_group) is
   rejected: groups step together through clt_optimizer_step_all. */
CLT_API clt_status clt_optimizer_step(clt_optimizer *opt, clt_tensor *param,
                                      const clt_tensor *grad);
/* Registers param with options before its first step (needed for per-tensor
   options, and before clt_optimizer_load for tensors stepped one at a time).
   The optimizer keeps param's memory alive until it is destroyed. Errors:
   already registered or overlapping a registered tensor: INVALID_ARG. */
CLT_API clt_status clt_optimizer_add_param(clt_optimizer *opt,
                                           clt_tensor *param,
                                           const clt_param_options *options);
/* Many tensors, one launch: allocates count parameter tensors
   (rows[i] x cols[i], zero-filled) and their gradient tensors in one flat
   buffer each and returns them in params[i] and grads[i] (views: use them as
   any tensor, destroy them when done). clt_optimizer_step_all then updates
   every tensor of the group from its gradient in one kernel launch (LARS and
   LAMB: plus their norm reductions), with options[i] (options NULL: all
   defaults). Gradient clipping and the non-finite guard then cover the whole
   group. May be called more than once: each call makes one group. */
CLT_API clt_status clt_optimizer_add_group(clt_optimizer *opt, size_t count,
                                           const size_t *rows,
                                           const size_t *cols,
                                           const clt_param_options *options,
                                           clt_tensor **params,
                                           clt_tensor **grads);
/* One step of every group (one launch each). INVALID_ARG without a group. */
CLT_API clt_status clt_optimizer_step_all(clt_optimizer *opt);

/* Learning rate of the following steps (schedules); finite, >= 0. */
CLT_API clt_status clt_optimizer_set_lr(clt_optimizer *opt, double lr);
/* The current hyper-parameters (NULL for NULL). */
CLT_API const clt_optim_desc *clt_optimizer_desc(const clt_optimizer *opt);

typedef struct clt_optim_stats {
  uint64_t steps;   /* updates applied (PyTorch's state['step']) */
  uint64_t skipped; /* steps skipped by the non-finite guard */
  double mu_product;      /* NAdam's running mu product (1 before a step) */
  double last_grad_norm;  /* ||g|| before clipping of the last step; NaN if
                             neither clipping, the guard nor LARS ran */
} clt_optim_stats;
/* Counts for param's tensor (or its group); param NULL: the sums of steps
   and skipped over all tensors and groups (mu_product, last_grad_norm of
   the most recent step). Waits for the device if a guarded step is still
   running. INVALID_ARG for a tensor the optimizer does not own. */
CLT_API clt_status clt_optimizer_stats(clt_optimizer *opt,
                                       const clt_tensor *param,
                                       clt_optim_stats *out);
/* Copies param's part of the state buffer called name (PyTorch's state-dict
   key: momentum_buffer, sum, square_avg, grad_avg, acc_delta, exp_avg,
   exp_avg_sq, max_exp_avg_sq, exp_inf) into host; bytes must be
   rows*cols*4. INVALID_ARG for a tensor the optimizer does not own or a name
   the optimizer does not keep. */
CLT_API clt_status clt_optimizer_read_state(clt_optimizer *opt,
                                            const clt_tensor *param,
                                            const char *name, float *host,
                                            size_t bytes);

/* Checkpoints: the hyper-parameters, every registered tensor's shape and
   options, step counts and every state buffer (not the parameters: save
   them with the model). The format is documented in host/optim_io.c:
   versioned, little-endian, CRC-32 checked, written atomically (temporary
   file in the same directory, fsync, rename, fsync of the directory).
   Load needs an optimizer with the same kind and the same tensors
   registered in the same order with the same shapes and options (and the
   same state buffers, e.g. amsgrad); it restores the hyper-parameters and
   the state, so continuing is bit-identical to never stopping. A file of
   another kind, shape or layout, truncated or corrupted: CLT_ERR_FORMAT and
   the optimizer is unchanged; unreadable: CLT_ERR_IO. */
CLT_API clt_status clt_optimizer_save(clt_optimizer *opt, const char *path);
CLT_API clt_status clt_optimizer_load(clt_optimizer *opt, const char *path);

/* ------------------------------------------------ learning-rate schedules */

typedef enum clt_schedule_kind {
  CLT_SCHEDULE_CONSTANT,    /* base_lr                                    */
  CLT_SCHEDULE_STEP,        /* base_lr gamma^floor(s / step_size) (StepLR) */
  CLT_SCHEDULE_EXPONENTIAL, /* base_lr gamma^s (ExponentialLR)            */
  CLT_SCHEDULE_COSINE       /* min_lr + (base_lr - min_lr)(1 + cos(pi s / T))/2
                               for s < T = total_steps - warmup_steps, then
                               min_lr (CosineAnnealingLR's closed form, held
                               at the end instead of rising again)         */
} clt_schedule_kind;

/* Learning rate per step, evaluated on the host in double (a new value is
   only a kernel argument: nothing is rebuilt). With warmup_steps W > 0 the
   rate first rises linearly (Goyal et al. 2017, gradual warm-up for the
   linear scaling rule): lr = base_lr (step + 1) / (W + 1) for step < W;
   then the schedule above runs on s = step - W. */
typedef struct clt_schedule {
  clt_schedule_kind kind;
  double base_lr;        /* >= 0 */
  uint64_t warmup_steps; /* 0: none */
  uint64_t step_size;    /* STEP: >= 1 */
  double gamma;          /* STEP, EXPONENTIAL: > 0 */
  uint64_t total_steps;  /* COSINE: > warmup_steps (counts the warm-up) */
  double min_lr;         /* COSINE: >= 0 */
} clt_schedule;

/* The learning rate of 0-based step; NaN for a NULL or invalid schedule. */
CLT_API double clt_schedule_lr(const clt_schedule *schedule, uint64_t step);
/* clt_optimizer_set_lr(opt, clt_schedule_lr(schedule, step)), with
   CLT_ERR_INVALID_ARG naming the bad field of an invalid schedule. */
CLT_API clt_status clt_optimizer_apply_schedule(clt_optimizer *opt,
                                                const clt_schedule *schedule,
                                                uint64_t step);

/* ---------------------------------------------------------- training */
/* The trainer of `cltrain train`: a linear classifier S = X W + b fitted by
   minibatch epochs of an optimizer on a data set uploaded to the device
   once. Each epoch draws a seeded permutation and takes every minibatch
   through it on the device, so a step moves nothing between host and
   device but its loss. The same options, data and device give the same
   bits. */
typedef struct clt_trainer clt_trainer;

/* A data set in host memory, read only during the call it is given to:
   labels for a classifier, or target values for the losses that compare
   scores with values (regression: mse, l1, huber). */
typedef struct clt_train_data {
  size_t n, d;        /* rows, features */
  size_t classes;     /* the model's outputs: labels are in [0, classes) */
  const float *x;     /* n*d, row-major */
  const int32_t *y;   /* n class ids; NULL with t (then no accuracy: NaN) */
  const float *t;     /* n*classes target values for a loss that takes
                         values; NULL: the one-hot rows of y */
  /* Sparse features instead of x (x NULL): the rows in CSR form, as
     clt_csr_create takes them (indptr: n+1 offsets from 0; indices in
     [0, d), distinct within a row; values); streamed (stream), a row's
     indices must also increase (they are read in place, never sorted). */
  const int64_t *indptr;
  const int32_t *indices;
  const float *values;
} clt_train_data;

typedef struct clt_train_options {
  clt_loss_desc loss;    /* its class_weight and pos_weight are ignored */
  clt_reg_desc reg;      /* applied to W only */
  clt_optim_desc optim;
  clt_schedule schedule; /* of the learning rate per step (base_lr >= 0) */
  size_t batch;          /* rows per step; 0 or more than n: all of them */
  size_t epochs;         /* >= 1: the run's length, for the caller's loop */
  uint64_t seed;         /* the permutations' and W's initialisation */
  int bias;              /* nonzero: a separate bias vector b (1, C) */
  double init_std;       /* W ~ init_std * N(0, 1); 0: W = 0 */
  const float *class_weight; /* classes weights for the loss, or NULL */
  int stream;            /* nonzero: the training rows stay in host memory
                            and each minibatch is gathered there and
                            uploaded (for data larger than the device);
                            train's arrays must then stay valid and
                            unchanged until clt_trainer_destroy, and a
                            sparse row's indices increasing (refused
                            otherwise). The same results as without, bit
                            for bit. */
  size_t shards;         /* 0 or 1: every epoch one permutation of all the
                            rows, cut into batches. S: the rows cut into S
                            shards of consecutive rows, each with its own
                            permutation and giving batch/S rows (the first
                            batch % S shards one more) to every batch; how
                            data-parallel runs split the data
                            (cltrain_mpi.h), and the same batches in one
                            process. At most the rows, at most batch. */
} clt_train_options;

typedef struct clt_epoch_stats {
  size_t epoch;          /* 1-based, counting resumed epochs */
  uint64_t step;         /* optimizer steps so far */
  double train_loss;     /* mean minibatch loss (with penalty) over the epoch */
  double test_loss, test_accuracy; /* NaN without a test set */
  double val_loss, val_accuracy;   /* NaN without a validation set */
  double seconds;        /* this epoch, training and evaluation */
  double first_loss;     /* the run's first minibatch loss, before any
                            update (NaN when the run was resumed) */
  double samples_per_second;
} clt_epoch_stats;

/* Called every few steps inside an epoch: steps done in this epoch, steps
   per epoch, last minibatch loss. Return non-zero to stop the epoch. */
typedef int (*clt_progress_fn)(void *user, size_t done, size_t total, double loss);

/* Uploads train (with opt->stream, only its labels or targets: its rows
   stay in the caller's arrays) and test (NULL: none; always uploaded), and
   initialises W (init_std) and b = 0. CLT_ERR_SHAPE when the sets' features differ, CLT_ERR_LABEL for a
   label outside [0, classes), CLT_ERR_INVALID_ARG for bad options. */
CLT_API clt_status clt_trainer_create(clt_context *ctx, const clt_train_options *opt,
                                      const clt_train_data *train,
                                      const clt_train_data *test, clt_trainer **out);
CLT_API void clt_trainer_destroy(clt_trainer *tr);
/* A validation set evaluated after every epoch into val_loss and
   val_accuracy. */
CLT_API clt_status clt_trainer_set_validation(clt_trainer *tr, const clt_train_data *val);
/* One epoch: the steps, then the test and validation sets' evaluation. A
   non-finite loss stops it with CLT_ERR_NONFINITE, the detail naming the
   step and the learning rate. On OpenCL devices the steps' losses stay on
   the device and are read sixteen steps at a time (and at the epoch's
   end), so the steps after the one that diverged, up to that read, have
   run too: the parameters then hold their updates (not finite).
   progress (called every sixteen steps and at the end) may be NULL. */
CLT_API clt_status clt_trainer_epoch(clt_trainer *tr, clt_progress_fn progress, void *user,
                                     clt_epoch_stats *stats);
CLT_API size_t clt_trainer_epochs_done(const clt_trainer *tr);
/* The model's parameters now: W (d x classes, row-major) and, with a
   bias, b (classes values; may be NULL without one). */
CLT_API clt_status clt_trainer_params(clt_trainer *tr, float *W, float *b);
/* Sets the parameters (W d x classes; b classes values, ignored without a
   bias, NULL: zeros), e.g. to continue a model on new data; the
   optimizer's state is not touched. */
CLT_API clt_status clt_trainer_set_params(clt_trainer *tr, const float *W, const float *b);

#ifdef __cplusplus
}
#endif
#endif /* CLTRAIN_H */
