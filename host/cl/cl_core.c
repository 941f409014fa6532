/* OpenCL backend core: context and queue, the program built once per
   context from the embedded kernels, kernel cache, launches, reductions. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt_kernels.h" /* generated: clt_kernel_source */
#include "cl_internal.h"

static _Atomic long live_objects;

void clt_cl_count(long delta) { atomic_fetch_add(&live_objects, delta); }
long clt_cl_live_objects(void) { return atomic_load(&live_objects); }

const char *clt_cl_error_name(cl_int err) {
  switch (err) {
#define N(e)                                                                  \
  case e:                                                                     \
    return #e;
    N(CL_SUCCESS) N(CL_DEVICE_NOT_FOUND) N(CL_DEVICE_NOT_AVAILABLE)
    N(CL_COMPILER_NOT_AVAILABLE) N(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    N(CL_OUT_OF_RESOURCES) N(CL_OUT_OF_HOST_MEMORY)
    N(CL_PROFILING_INFO_NOT_AVAILABLE) N(CL_MEM_COPY_OVERLAP)
    N(CL_IMAGE_FORMAT_MISMATCH) N(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    N(CL_BUILD_PROGRAM_FAILURE) N(CL_MAP_FAILURE)
    N(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    N(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    N(CL_COMPILE_PROGRAM_FAILURE) N(CL_LINKER_NOT_AVAILABLE)
    N(CL_LINK_PROGRAM_FAILURE) N(CL_DEVICE_PARTITION_FAILED)
    N(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) N(CL_INVALID_VALUE)
    N(CL_INVALID_DEVICE_TYPE) N(CL_INVALID_PLATFORM) N(CL_INVALID_DEVICE)
    N(CL_INVALID_CONTEXT) N(CL_INVALID_QUEUE_PROPERTIES)
    N(CL_INVALID_COMMAND_QUEUE) N(CL_INVALID_HOST_PTR)
    N(CL_INVALID_MEM_OBJECT) N(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    N(CL_INVALID_IMAGE_SIZE) N(CL_INVALID_SAMPLER) N(CL_INVALID_BINARY)
    N(CL_INVALID_BUILD_OPTIONS) N(CL_INVALID_PROGRAM)
    N(CL_INVALID_PROGRAM_EXECUTABLE) N(CL_INVALID_KERNEL_NAME)
    N(CL_INVALID_KERNEL_DEFINITION) N(CL_INVALID_KERNEL)
    N(CL_INVALID_ARG_INDEX) N(CL_INVALID_ARG_VALUE) N(CL_INVALID_ARG_SIZE)
    N(CL_INVALID_KERNEL_ARGS) N(CL_INVALID_WORK_DIMENSION)
    N(CL_INVALID_WORK_GROUP_SIZE) N(CL_INVALID_WORK_ITEM_SIZE)
    N(CL_INVALID_GLOBAL_OFFSET) N(CL_INVALID_EVENT_WAIT_LIST)
    N(CL_INVALID_EVENT) N(CL_INVALID_OPERATION) N(CL_INVALID_GL_OBJECT)
    N(CL_INVALID_BUFFER_SIZE) N(CL_INVALID_MIP_LEVEL)
    N(CL_INVALID_GLOBAL_WORK_SIZE) N(CL_INVALID_PROPERTY)
    N(CL_INVALID_IMAGE_DESCRIPTOR) N(CL_INVALID_COMPILER_OPTIONS)
    N(CL_INVALID_LINKER_OPTIONS) N(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef N
  case -1001:
    return "CL_PLATFORM_NOT_FOUND_KHR";
  }
  return "CL_UNKNOWN_ERROR";
}

clt_status clt_cl_fail(const clt_context *ctx, cl_int err, const char *call,
                       const char *file, int line) {
  clt_status st = CLT_ERR_OPENCL;
  if (err == CL_OUT_OF_HOST_MEMORY || err == CL_OUT_OF_RESOURCES ||
      err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_INVALID_BUFFER_SIZE)
    st = CLT_ERR_OUT_OF_MEMORY;
  else if (err == CL_BUILD_PROGRAM_FAILURE)
    st = CLT_ERR_BUILD;
  const char *base = strrchr(file, '/');
  return clt_fail(ctx, st, "%s failed: %s (%d) at %s:%d", call,
                  clt_cl_error_name(err), (int)err, base ? base + 1 : file,
                  line);
}


clt_status clt_cl_build(clt_context *ctx, const char *src, cl_program *out) {
  clt_cl_context *cl = clt_cl_of(ctx);
  cl_int err;
  const char *srcs[] = {src};
  cl_program prog = clCreateProgramWithSource(cl->context, 1, srcs, NULL, &err);
  if (err != CL_SUCCESS)
    return clt_cl_fail(ctx, err, "clCreateProgramWithSource", __FILE__,
                       __LINE__);
  clt_cl_count(1);
  char options[256];
  clt_cl_build_options(&cl->profile, options, sizeof options);
  err = clBuildProgram(prog, 1, &cl->device, options, NULL, NULL);
  if (err == CL_SUCCESS) {
    *out = prog;
    return CLT_OK;
  }
  clt_status st =
      clt_cl_fail(ctx, err, "clBuildProgram", __FILE__, __LINE__);
  size_t len = 0;
  if (clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                            &len) == CL_SUCCESS &&
      len > 1) {
    char *log = malloc(len);
    if (log && clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG,
                                     len, log, NULL) == CL_SUCCESS) {
      size_t used = strlen(ctx->err);
      snprintf(ctx->err + used, CLT_ERRLEN - used, "; build log: %s", log);
    }
    free(log);
  }
  clReleaseProgram(prog);
  clt_cl_count(-1);
  return st;
}

/* ------------------------------------------------------------ timings */

/* A command whose device time is read once it completed. */
struct clt_cl_timed {
  cl_event ev; /* a reference held here */
  const char *name;
  clt_timing_kind kind;
  size_t bytes, items;
};
/* Kept events before a wait collects them, bounding what is held. */
#define MAX_TIMED 4096

cl_event *clt_cl_event_slot(clt_context *ctx, cl_event *slot) {
  return ctx->timings ? slot : NULL;
}

/* Adds the device time of every kept event to ctx's timings and lets them
   go; call only when the queue is idle (after a blocking command). */
static void collect(clt_context *ctx) {
  clt_cl_context *cl = clt_cl_of(ctx);
  for (size_t i = 0; i < cl->ntimed; i++) {
    struct clt_cl_timed *t = &cl->timed[i];
    cl_ulong start = 0, end = 0;
    if (clGetEventProfilingInfo(t->ev, CL_PROFILING_COMMAND_START, sizeof start,
                                &start, NULL) == CL_SUCCESS &&
        clGetEventProfilingInfo(t->ev, CL_PROFILING_COMMAND_END, sizeof end,
                                &end, NULL) == CL_SUCCESS &&
        end >= start)
      clt_timing_add(ctx, t->name, t->kind, 1, 1e-9 * (double)(end - start),
                     t->bytes, t->items);
    clReleaseEvent(t->ev);
  }
  cl->ntimed = 0;
}

/* The host's time blocked since t0, then the device times. */
static void waited(clt_context *ctx, double t0) {
  clt_timing_add(ctx, "host wait", CLT_TIMING_WAIT, 1, clt_now() - t0, 0, 0);
  collect(ctx);
}

void clt_cl_timed(clt_context *ctx, cl_event ev, const char *name,
                  clt_timing_kind kind, size_t bytes, size_t items) {
  clt_cl_context *cl = clt_cl_of(ctx);
  if (!ev) return;
  if (cl->ntimed == cl->cap_timed) {
    if (cl->ntimed == MAX_TIMED) {
      double t0 = clt_now();
      clFinish(cl->queue);
      waited(ctx, t0);
    } else {
      size_t cap = cl->cap_timed ? 2 * cl->cap_timed : 256;
      struct clt_cl_timed *v = realloc(cl->timed, cap * sizeof *v);
      if (!v) {
        clReleaseEvent(ev); /* lose one timing rather than fail the op */
        return;
      }
      cl->timed = v, cl->cap_timed = cap;
    }
  }
  cl->timed[cl->ntimed++] = (struct clt_cl_timed){ev, name, kind, bytes, items};
}

clt_status clt_cl_write(clt_context *ctx, cl_mem mem, size_t offset,
                        size_t bytes, const void *host) {
  cl_event ev = NULL;
  double t0 = clt_now();
  CLT_CL_TRY(ctx, clEnqueueWriteBuffer(clt_cl_of(ctx)->queue, mem, CL_TRUE,
                                       offset, bytes, host, 0, NULL,
                                       clt_cl_event_slot(ctx, &ev)));
  clt_cl_timed(ctx, ev, "write", CLT_TIMING_TRANSFER, bytes, 0);
  if (ev) waited(ctx, t0);
  return CLT_OK;
}

clt_status clt_cl_map_write(clt_context *ctx, cl_mem mem, size_t offset, size_t bytes,
                            void **host, cl_event *done) {
  cl_int err = CL_SUCCESS;
  *host = clEnqueueMapBuffer(clt_cl_of(ctx)->queue, mem, CL_FALSE,
                             CL_MAP_WRITE_INVALIDATE_REGION, offset, bytes, 0, NULL, done,
                             &err);
  return err == CL_SUCCESS ? CLT_OK
                           : clt_cl_fail(ctx, err, "clEnqueueMapBuffer", __FILE__, __LINE__);
}

clt_status clt_cl_unmap(clt_context *ctx, cl_mem mem, void *host, size_t bytes) {
  cl_event ev = NULL;
  CLT_CL_TRY(ctx, clEnqueueUnmapMemObject(clt_cl_of(ctx)->queue, mem, host, 0, NULL,
                                          clt_cl_event_slot(ctx, &ev)));
  clt_cl_timed(ctx, ev, "unmap", CLT_TIMING_TRANSFER, bytes, 0);
  return CLT_OK;
}

clt_status clt_cl_read(clt_context *ctx, cl_mem mem, size_t offset,
                       size_t bytes, void *host, cl_event *done) {
  cl_event ev = NULL;
  double t0 = clt_now();
  CLT_CL_TRY(ctx, clEnqueueReadBuffer(clt_cl_of(ctx)->queue, mem,
                                      done ? CL_FALSE : CL_TRUE, offset, bytes,
                                      host, 0, NULL,
                                      done ? done : clt_cl_event_slot(ctx, &ev)));
  if (done && ctx->timings && clRetainEvent(*done) == CL_SUCCESS) ev = *done;
  clt_cl_timed(ctx, ev, "read", CLT_TIMING_TRANSFER, bytes, 0);
  if (ev && !done) waited(ctx, t0);
  return CLT_OK;
}

clt_status clt_cl_fill(clt_context *ctx, cl_mem mem, const void *pattern,
                       size_t pattern_size, size_t offset, size_t bytes) {
  cl_event ev = NULL;
  CLT_CL_TRY(ctx, clEnqueueFillBuffer(clt_cl_of(ctx)->queue, mem, pattern,
                                      pattern_size, offset, bytes, 0, NULL,
                                      clt_cl_event_slot(ctx, &ev)));
  clt_cl_timed(ctx, ev, "fill", CLT_TIMING_TRANSFER, bytes, 0);
  return CLT_OK;
}

clt_status clt_cl_copy(clt_context *ctx, cl_mem src, size_t src_offset,
                       cl_mem dst, size_t dst_offset, size_t bytes) {
  cl_event ev = NULL;
  CLT_CL_TRY(ctx, clEnqueueCopyBuffer(clt_cl_of(ctx)->queue, src, dst,
                                      src_offset, dst_offset, bytes, 0, NULL,
                                      clt_cl_event_slot(ctx, &ev)));
  clt_cl_timed(ctx, ev, "copy", CLT_TIMING_TRANSFER, bytes, 0);
  return CLT_OK;
}

/* A finish with nothing timed in flight waited for nothing: it is not
   recorded (clt_context_timings itself finishes). */
clt_status clt_cl_finish(clt_context *ctx) {
  bool busy = clt_cl_of(ctx)->ntimed > 0;
  double t0 = clt_now();
  CLT_CL_TRY(ctx, clFinish(clt_cl_of(ctx)->queue));
  if (busy) waited(ctx, t0);
  return CLT_OK;
}

clt_status clt_cl_wait(clt_context *ctx, cl_event ev) {
  double t0 = clt_now();
  CLT_CL_TRY(ctx, clWaitForEvents(1, &ev));
  if (ctx->timings)
    clt_timing_add(ctx, "host wait", CLT_TIMING_WAIT, 1, clt_now() - t0, 0, 0);
  return CLT_OK;
}

/* Process-wide cache of the embedded program's binary per device and
   profile (its build options), so programs that create many contexts pay
   for compilation once. Not on PoCL (its platform's name), which compiles
   each kernel for its work-group size at its first launch: asked for the
   binary, it compiles all of them at once, 65 s of a first run's 77 here
   with its disk cache cold (the main job's first run: 66 s, 14 s
   without), while a build from source with that cache warm costs 20-30
   ms a context (test_hygiene's 1000 contexts: 38 s with the binary, 58-72
   s without). */
#define MAX_BINARIES 16
static pthread_mutex_t binary_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  cl_device_id device;
  char options[256];
  unsigned char *data;
  size_t size;
} binaries[MAX_BINARIES];
static size_t nbinaries;

static void remember_binary(const clt_cl_context *cl) {
  cl_program prog = cl->program;
  size_t size = 0;
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size,
                       NULL) != CL_SUCCESS ||
      size == 0)
    return;
  unsigned char *data = malloc(size);
  unsigned char *ptrs[1] = {data};
  if (!data || clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs,
                                NULL) != CL_SUCCESS) {
    free(data);
    return;
  }
  pthread_mutex_lock(&binary_lock);
  if (nbinaries < MAX_BINARIES) {
    binaries[nbinaries].device = cl->device;
    clt_cl_build_options(&cl->profile, binaries[nbinaries].options,
                         sizeof binaries[nbinaries].options);
    binaries[nbinaries].data = data;
    binaries[nbinaries].size = size;
    nbinaries++;
    data = NULL;
  }
  pthread_mutex_unlock(&binary_lock);
  free(data);
}

/* The embedded program from the binary cache; false if not cached or the
   binary is refused (then the caller builds from source). */
static bool build_from_binary(clt_context *ctx, cl_program *out) {
  clt_cl_context *cl = clt_cl_of(ctx);
  const unsigned char *data = NULL;
  size_t size = 0;
  char options[256];
  clt_cl_build_options(&cl->profile, options, sizeof options);
  pthread_mutex_lock(&binary_lock);
  for (size_t i = 0; i < nbinaries; i++)
    if (binaries[i].device == cl->device && strcmp(binaries[i].options, options) == 0) {
      data = binaries[i].data;
      size = binaries[i].size;
    }
  pthread_mutex_unlock(&binary_lock);
  if (!data) return false;
  cl_int err, bin_status;
  cl_program prog = clCreateProgramWithBinary(cl->context, 1, &cl->device, &size,
                                              &data, &bin_status, &err);
  if (err != CL_SUCCESS) return false;
  if (clBuildProgram(prog, 1, &cl->device, options, NULL, NULL) != CL_SUCCESS) {
    clReleaseProgram(prog);
    return false;
  }
  clt_cl_count(1);
  *out = prog;
  return true;
}

uint64_t clt_cl_source_hash(void) {
  return clt_fnv1a(CLT_FNV1A_BASIS, clt_kernel_source, strlen(clt_kernel_source));
}

/* ctx's profile before its program is built: variant's, or the device
   class's or, with cached, the tuning cache's; *may_tune whether the
   tuner may still replace it. */
static clt_status pick_profile(clt_context *ctx, const clt_device_info *info,
                               const char *variant, bool cached, bool *may_tune) {
  clt_cl_context *cl = clt_cl_of(ctx);
  *may_tune = false;
  if (variant) {
    char why[160];
    if (!clt_cl_variant_parse(variant, &cl->profile, why, sizeof why))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "variant '%s' is not one this version of cltrain knows: %s", variant,
                      why);
    return CLT_OK;
  }
  const char *name = clt_device_profile(info);
  if (!name)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "CLT_PROFILE='%s' is not a device profile: expected cpu, gpu or generic",
                    getenv("CLT_PROFILE"));
  cl->profile = *clt_cl_profile_named(name);
  const char *forced = getenv("CLT_PROFILE"), *tune = getenv("CLT_TUNE");
  if (!cached || (forced && *forced) || (tune && strcmp(tune, "off") == 0)) return CLT_OK;
  clt_cl_tune_found f = clt_cl_tune_lookup(info, &cl->profile);
  cl->tuned = f == CLT_TUNE_HIT;
  *may_tune = f == CLT_TUNE_MISS;
  return CLT_OK;
}

clt_status clt_cl_open(clt_context *ctx, const clt_found_device *found, const char *variant,
                       bool cached) {
  cl_device_id device = found->id;
  clt_cl_context *cl = calloc(1, sizeof *cl);
  if (!cl) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "out of host memory");
  ctx->impl = cl;
  bool may_tune;
  CLT_TRY(pick_profile(ctx, &found->info, variant, cached, &may_tune));
  cl_int err;
  cl->device = device;
  cl->context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
  if (err != CL_SUCCESS)
    return clt_cl_fail(ctx, err, "clCreateContext", __FILE__, __LINE__);
  clt_cl_count(1);
  cl->queue = clCreateCommandQueue(
      cl->context, device, ctx->timings ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
  if (err != CL_SUCCESS)
    return clt_cl_fail(ctx, err, "clCreateCommandQueue", __FILE__, __LINE__);
  clt_cl_count(1);
  cl->max_wg = found->info.max_work_group_size; /* as discovery read them */
  cl->units = found->info.compute_units;
  if (cl->max_wg == 0)
    return clt_fail(ctx, CLT_ERR_OPENCL, "%s reports no maximum work-group size",
                    found->info.name);
  if (!build_from_binary(ctx, &cl->program)) {
    CLT_TRY(clt_cl_build(ctx, clt_kernel_source, &cl->program));
    if (strcmp(found->info.platform, "Portable Computing Language") != 0) remember_binary(cl);
  }
  clt_cl_variant_format(&cl->profile, cl->variant, sizeof cl->variant);
  cl->tune_pending = may_tune;
  return CLT_OK;
}

const char *clt_cl_profile_name(const clt_context *ctx) {
  return clt_cl_of(ctx)->profile.name;
}

const char *clt_cl_variant(const clt_context *ctx) { return clt_cl_of(ctx)->variant; }

/* Releases whatever clt_cl_open got to; safe on a half-open context. */
void clt_cl_close(clt_context *ctx) {
  clt_cl_context *cl = clt_cl_of(ctx);
  if (!cl) return;
  clt_blas_release(ctx);
  /* Everything enqueued ends before its objects go: POCL compiles a
     kernel on worker threads at its first launch, and a process that
     exits while one compiles crashed in its teardown (a cold kernel
     cache, tests that create a context and destroy it at once). */
  if (cl->queue) clFinish(cl->queue);
  collect(ctx);
  free(cl->timed);
  for (size_t i = 0; i < CLT_K_COUNT; i++)
    if (cl->kernels[i]) clReleaseKernel(cl->kernels[i]), clt_cl_count(-1);
  if (cl->scratch) clt_cl_release_mem(cl->scratch);
  if (cl->program) clReleaseProgram(cl->program), clt_cl_count(-1);
  if (cl->queue) clReleaseCommandQueue(cl->queue), clt_cl_count(-1);
  if (cl->context) clReleaseContext(cl->context), clt_cl_count(-1);
  free(cl);
  ctx->impl = NULL;
}

clt_status clt_cl_alloc(clt_context *ctx, size_t bytes, cl_mem *out) {
  cl_int err;
  cl_mem m = clCreateBuffer(clt_cl_of(ctx)->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
  if (err != CL_SUCCESS)
    return clt_fail(ctx,
                    err == CL_INVALID_BUFFER_SIZE ||
                            err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                            err == CL_OUT_OF_RESOURCES ||
                            err == CL_OUT_OF_HOST_MEMORY
                        ? CLT_ERR_OUT_OF_MEMORY
                        : CLT_ERR_OPENCL,
                    "clCreateBuffer(%zu bytes) failed: %s (%d)", bytes,
                    clt_cl_error_name(err), (int)err);
  clt_cl_count(1);
  *out = m;
  return CLT_OK;
}

void clt_cl_release_mem(cl_mem mem) {
  clReleaseMemObject(mem);
  clt_cl_count(-1);
}

clt_status clt_cl_grown(clt_context *ctx, cl_mem *mem, size_t *have, size_t bytes, bool zero) {
  if (*have < bytes) {
    cl_mem m = NULL;
    const cl_int nil = 0;
    CLT_TRY(clt_cl_alloc(ctx, bytes, &m));
    clt_status st = zero ? clt_cl_fill(ctx, m, &nil, sizeof nil, 0, bytes) : CLT_OK;
    if (st != CLT_OK) {
      clt_cl_release_mem(m);
      return st;
    }
    if (*mem) clt_cl_release_mem(*mem);
    *mem = m;
    *have = bytes;
  }
  return CLT_OK;
}

clt_status clt_cl_scratch(clt_context *ctx, size_t bytes, cl_mem *out) {
  clt_cl_context *cl = clt_cl_of(ctx);
  CLT_TRY(clt_cl_grown(ctx, &cl->scratch, &cl->scratch_bytes, bytes, false));
  *out = cl->scratch;
  return CLT_OK;
}

const char *const clt_cl_kernel_names[CLT_K_COUNT] = {
#define CLT_CL_NAME(name) "clt_" #name,
    CLT_CL_KERNELS(CLT_CL_NAME)
#undef CLT_CL_NAME
};

clt_status clt_cl_kernel(clt_context *ctx, clt_kid id, cl_kernel *out) {
  clt_cl_context *cl = clt_cl_of(ctx);
  if (!cl->kernels[id]) {
    cl_int err;
    cl_kernel k = clCreateKernel(cl->program, clt_cl_kernel_names[id], &err);
    if (err != CL_SUCCESS)
      return clt_fail(ctx, CLT_ERR_OPENCL, "clCreateKernel(%s) failed: %s (%d)",
                      clt_cl_kernel_names[id], clt_cl_error_name(err), (int)err);
    clt_cl_count(1);
    cl->kernels[id] = k;
  }
  *out = cl->kernels[id];
  return CLT_OK;
}

clt_status clt_cl_kernel_max_wg(clt_context *ctx, clt_kid id, size_t *out) {
  clt_cl_context *cl = clt_cl_of(ctx);
  cl_kernel k = NULL;
  CLT_TRY(clt_cl_kernel(ctx, id, &k));
  size_t kmax = 0;
  CLT_CL_TRY(ctx, clGetKernelWorkGroupInfo(k, cl->device, CL_KERNEL_WORK_GROUP_SIZE,
                                           sizeof kmax, &kmax, NULL));
  if (kmax > cl->max_wg) kmax = cl->max_wg;
  *out = kmax ? kmax : 1;
  return CLT_OK;
}

clt_status clt_cl_launch(clt_context *ctx, clt_kid id, cl_uint dims,
                         const size_t *offset, const size_t *global,
                         const size_t *local, size_t nargs,
                         const clt_karg *args) {
  const char *name = clt_cl_kernel_names[id];
  cl_kernel k = NULL;
  CLT_TRY(clt_cl_kernel(ctx, id, &k));
  for (size_t i = 0; i < nargs; i++) {
    cl_int err = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
    if (err != CL_SUCCESS)
      return clt_fail(ctx, CLT_ERR_OPENCL,
                      "clSetKernelArg(%s, %zu) failed: %s (%d)", name, i,
                      clt_cl_error_name(err), (int)err);
  }
  size_t g[3];
  for (cl_uint d = 0; d < dims; d++) {
    if (global[d] == 0) return CLT_OK; /* nothing to do */
    g[d] = local ? clt_round_up(global[d], local[d]) : global[d];
  }
  cl_event ev = NULL;
  cl_int err = clEnqueueNDRangeKernel(clt_cl_of(ctx)->queue, k, dims, offset,
                                      g, local, 0, NULL,
                                      clt_cl_event_slot(ctx, &ev));
  size_t items = 1;
  for (cl_uint d = 0; d < dims; d++) items *= g[d];
  if (err == CL_SUCCESS) clt_cl_timed(ctx, ev, name, CLT_TIMING_KERNEL, 0, items);
  if (err != CL_SUCCESS)
    return clt_fail(ctx,
                    err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
                            err == CL_MEM_OBJECT_ALLOCATION_FAILURE
                        ? CLT_ERR_OUT_OF_MEMORY
                        : CLT_ERR_OPENCL,
                    "clEnqueueNDRangeKernel(%s) failed: %s (%d)", name,
                    clt_cl_error_name(err), (int)err);
  return CLT_OK;
}

clt_status clt_cl_launch_grid(clt_context *ctx, clt_kid id, size_t n0, size_t n1, size_t n2,
                              size_t nargs, const clt_karg *args) {
  size_t kmax, g[3] = {n0, n1, n2}, l[3] = {CLT_CL_GRID_LOCAL, 1, 1};
  CLT_TRY(clt_cl_kernel_max_wg(ctx, id, &kmax));
  if (kmax < l[0]) l[0] = kmax;
  return clt_cl_launch(ctx, id, 3, NULL, g, l, nargs, args);
}

clt_status clt_cl_kernel_group(clt_context *ctx, clt_kid id, size_t cap, size_t *out) {
  size_t kmax = 1;
  CLT_TRY(clt_cl_kernel_max_wg(ctx, id, &kmax));
  *out = clt_cl_group_size(ctx, cap < kmax ? cap : kmax);
  return CLT_OK;
}

clt_status clt_cl_launch_chunks(clt_context *ctx, clt_kid id, size_t chunks, size_t nargs,
                                const clt_karg *args) {
  if (!clt_cl_of(ctx)->profile.elem_gpu)
    return clt_cl_launch(ctx, id, 1, NULL, &chunks, NULL, nargs, args);
  size_t wg;
  CLT_TRY(clt_cl_kernel_group(ctx, id, CLT_ELEM_CHUNK, &wg));
  size_t global = chunks * wg;
  return clt_cl_launch(ctx, id, 1, NULL, &global, &wg, nargs, args);
}

/* Two fixed-shape passes: REDUCE_GROUPS work-groups of REDUCE_WG each sum a
   strided slice into a partial, then one group sums the partials. The
   order of additions depends only on n, so results are reproducible. */
#define REDUCE_WG 256
#define REDUCE_GROUPS 64

/* clt_reduce_sum over n floats of mem from element offset in groups of
   wg (a power of two), the groups' sums written from out_off on. */
static clt_status reduce_pass(clt_context *ctx, cl_mem mem, size_t offset, size_t n,
                              size_t groups, cl_mem out, size_t out_off) {
  clt_cl_context *cl = clt_cl_of(ctx);
  size_t wg = cl->max_wg < REDUCE_WG ? cl->max_wg : REDUCE_WG, global = wg * groups;
  cl_ulong off = offset, count = n, dst = out_off;
  return CLT_LAUNCH(ctx, CLT_K_reduce_sum, 1, &global, &wg, CLT_ARG(mem), CLT_ARG(off),
                    CLT_ARG(count), CLT_ARG(out), CLT_ARG(dst), CLT_LOCAL(wg * sizeof(float)));
}

clt_status clt_cl_sum_to(clt_context *ctx, cl_mem mem, size_t offset, size_t n, cl_mem out,
                         size_t out_off) {
  return reduce_pass(ctx, mem, offset, n, 1, out, out_off);
}

clt_status clt_cl_sum(clt_context *ctx, cl_mem mem, size_t offset, size_t n,
                      double *out) {
  cl_mem part;
  CLT_TRY(clt_cl_scratch(ctx, (REDUCE_GROUPS + 1) * sizeof(float), &part));
  CLT_TRY(reduce_pass(ctx, mem, offset, n, REDUCE_GROUPS, part, 0));
  CLT_TRY(clt_cl_sum_to(ctx, part, 0, REDUCE_GROUPS, part, REDUCE_GROUPS));
  float r;
  CLT_TRY(clt_cl_read(ctx, part, REDUCE_GROUPS * sizeof(float), sizeof r, &r,
                      NULL));
  *out = r;
  return CLT_OK;
}
