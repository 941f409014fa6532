/* Shared test helpers: which backends to run, random data, comparisons. */
#ifndef CLT_TESTUTIL_H
#define CLT_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cltrain.h"

/* Device specs to test: "ref" and, when an OpenCL device exists, "cl"
   (auto-selected OpenCL device). CLT_TEST_DEVICES=ref,cl narrows it. */
size_t tu_devices(const char *specs[2]);
/* Context for a spec from tu_devices; fails the test on error. */
clt_context *tu_context(const char *spec);
/* Same, with the other options of opt (its device is replaced). */
clt_context *tu_context_with(const char *spec, clt_context_options opt);
/* True when an OpenCL device is available and allowed. */
bool tu_have_opencl(void);

/* Runs the shell command cmd, its output (what it sends to stdout) into
   out (len bytes, NUL-terminated); the exit status. Fails the test if it
   does not exit normally. */
int tu_shell(const char *cmd, char *out, size_t len);

/* OpenCL objects the library holds (0 without the OpenCL backend). */
long tu_live_objects(void);

/* Which implementation of the linear products an OpenCL context runs
   (the reference backend has one). */
typedef enum tu_linear_path { TU_LINEAR_AUTO, TU_LINEAR_KERNEL, TU_LINEAR_CLBLAST } tu_linear_path;
/* clt_linear_forward / clt_linear_backward, through path on OpenCL. */
clt_status tu_linear_forward(clt_context *ctx, const clt_tensor *X, const clt_tensor *W,
                             const clt_tensor *b, clt_tensor *S, tu_linear_path path);
clt_status tu_linear_backward(clt_context *ctx, const clt_tensor *X, const clt_tensor *W,
                              const clt_tensor *dS, clt_tensor *dW, clt_tensor *db,
                              clt_tensor *dX, tu_linear_path path);

/* Deterministic uniform floats in [lo, hi) from seed. */
void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);
void tu_fill_labels(int32_t *y, size_t n, uint64_t seed, int32_t classes);

/* Float32 tensor with the given contents (fails the test on error). */
clt_tensor *tu_tensor(clt_context *ctx, size_t rows, size_t cols,
                      const float *data);
clt_tensor *tu_labels(clt_context *ctx, size_t n, const int32_t *y);
/* Removes path and, for a directory, everything under it (symbolic links
   themselves, never what they name); a missing path is no error. */
void tu_rm_tree(const char *path);

/* Reads a float32 tensor into a fresh malloc'd array. */
float *tu_read(const clt_tensor *t);

/* Asserts |got - want| <= atol + rtol*|want| elementwise; reports the first
   failing index with both values. */
void tu_expect_close(const char *what, const float *got, const double *want,
                     size_t n, double atol, double rtol);
void tu_expect_close_f(const char *what, const float *got, const float *want,
                       size_t n, double atol, double rtol);

#endif
