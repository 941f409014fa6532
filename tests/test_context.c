/* Context creation, device selection, status table, error details. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#if CLT_HAVE_OPENCL
#include "cl/cl_internal.h"
#endif
#include "testutil.h"

Test(status, every_code_has_a_distinct_message_and_name) {
  const clt_status codes[] = {
#define X(name, msg) name,
      CLT_STATUS_TABLE(X)
#undef X
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq((size_t)codes[i], i, "codes are numbered in table order");
    cr_assert_str_neq(clt_status_str(codes[i]), "unknown status");
    for (size_t j = 0; j < i; j++) {
      cr_assert_str_neq(clt_status_str(codes[i]), clt_status_str(codes[j]));
      cr_assert_str_neq(clt_status_name(codes[i]), clt_status_name(codes[j]));
    }
  }
  cr_assert_str_eq(clt_status_name(CLT_ERR_SHAPE), "CLT_ERR_SHAPE");
  cr_assert_str_eq(clt_status_str((clt_status)9999), "unknown status");
  cr_assert_eq(CLT_OK, 0);
}

Test(version, macro_matches_library) {
  cr_assert_str_eq(clt_version(), CLT_VERSION_STRING);
}

Test(context, reference_backend_needs_no_opencl) {
  clt_context_options opt = {.device = "ref"};
  clt_context *ctx = NULL;
  cr_assert_eq(clt_context_create(&opt, &ctx), CLT_OK);
  cr_assert(clt_context_is_reference(ctx));
  cr_assert_str_eq(clt_context_device_name(ctx), "reference (CPU, double)");
  cr_assert_str_eq(clt_last_error(ctx), "");
  clt_context_destroy(ctx);
}

Test(context, environment_overrides_auto_only) {
  setenv("CLT_DEVICE", "ref", 1);
  clt_context *ctx = NULL;
  cr_assert_eq(clt_context_create(NULL, &ctx), CLT_OK);
  cr_assert(clt_context_is_reference(ctx));
  clt_context_destroy(ctx);
  clt_context_options opt = {.device = "auto"};
  cr_assert_eq(clt_context_create(&opt, &ctx), CLT_OK);
  cr_assert(clt_context_is_reference(ctx));
  clt_context_destroy(ctx);
  size_t index = 0;
  cr_assert_eq(clt_device_select(NULL, &index), CLT_OK);
  cr_assert_eq(index, SIZE_MAX);
  if (tu_have_opencl()) {
    /* An explicit request is not overridden. */
    opt.device = "cpu";
    if (clt_device_select("cpu", &index) == CLT_OK) {
      cr_assert_eq(clt_context_create(&opt, &ctx), CLT_OK);
      cr_assert_not(clt_context_is_reference(ctx));
      clt_context_destroy(ctx);
    }
  }
  unsetenv("CLT_DEVICE");
}

Test(context, auto_prefers_opencl_when_present) {
  unsetenv("CLT_DEVICE");
  clt_context *ctx = NULL;
  cr_assert_eq(clt_context_create(NULL, &ctx), CLT_OK);
  size_t count = 0;
  cr_assert_eq(clt_devices_list(NULL, 0, &count), CLT_OK);
  cr_assert_eq(clt_context_is_reference(ctx), count == 0);
  clt_context_destroy(ctx);
}

Test(context, unknown_device_names_the_request) {
  clt_context_options opt = {.device = "no-such-accelerator-xyz"};
  clt_context *ctx = (clt_context *)&opt; /* must stay untouched */
  cr_assert_eq(clt_context_create(&opt, &ctx), CLT_ERR_NO_DEVICE);
  cr_assert_eq(ctx, (clt_context *)&opt);
  cr_assert_not_null(strstr(clt_last_error(NULL), "no-such-accelerator-xyz"),
                     "%s", clt_last_error(NULL));
  size_t index = 7;
  cr_assert_eq(clt_device_select("no-such-accelerator-xyz", &index),
               CLT_ERR_NO_DEVICE);
  cr_assert_eq(index, 7);
}

Test(context, null_arguments) {
  cr_assert_eq(clt_context_create(NULL, NULL), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_devices_list(NULL, 1, &(size_t){0}), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_devices_list(NULL, 0, NULL), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_device_select(NULL, NULL), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_context_finish(NULL), CLT_ERR_INVALID_ARG);
  clt_context_destroy(NULL);
  cr_assert_str_eq(clt_context_device_name(NULL), "");
}

Test(context, opencl_devices_are_described) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device");
  clt_device_info info[8];
  size_t count = 0;
  cr_assert_eq(clt_devices_list(info, 8, &count), CLT_OK);
  cr_assert_gt(count, 0);
  cr_assert_gt(strlen(info[0].name), 0);
  cr_assert_gt(info[0].compute_units, 0);
  cr_assert_gt(info[0].global_mem_bytes, 0);
  cr_assert_gt(info[0].max_work_group_size, 0);
  cr_assert_not_null(strstr(info[0].version, "OpenCL"));
  /* A case-insensitive substring of the name selects that device. */
  char part[8] = {0};
  for (size_t i = 0; i < 4 && info[0].name[i]; i++) {
    char c = info[0].name[i];
    part[i] = (char)(islower((unsigned char)c) ? toupper((unsigned char)c)
                                               : tolower((unsigned char)c));
  }
  size_t index = SIZE_MAX;
  cr_assert_eq(clt_device_select(part, &index), CLT_OK, "%s", part);
  cr_assert_lt(index, count);
  clt_context_options opt = {.device = part};
  clt_context *ctx = NULL;
  cr_assert_eq(clt_context_create(&opt, &ctx), CLT_OK);
  cr_assert_str_eq(clt_context_device_name(ctx), info[index].name);
  cr_assert_eq(clt_context_finish(ctx), CLT_OK);
  clt_context_destroy(ctx);
}

#if CLT_HAVE_OPENCL
Test(context, broken_kernel_source_reports_build_log) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device");
  clt_context *ctx = tu_context("cl");
  long live = tu_live_objects();
  cl_program prog = NULL;
  clt_status st = clt_cl_build(
      ctx, "__kernel void broken(__global float *x) { x[0] = undeclared_y; }",
      &prog);
  cr_assert_eq(st, CLT_ERR_BUILD);
  cr_assert_null(prog);
  const char *err = clt_last_error(ctx);
  cr_assert_not_null(strstr(err, "clBuildProgram"), "%s", err);
  cr_assert_not_null(strstr(err, "CL_BUILD_PROGRAM_FAILURE"), "%s", err);
  cr_assert_not_null(strstr(err, "build log"), "%s", err);
  cr_assert_not_null(strstr(err, "undeclared_y"), "%s", err);
  cr_assert_eq(tu_live_objects(), live, "failed build leaks nothing");
  clt_context_destroy(ctx);
}

/* The kernel table (host/cl/cl_kernels.h) and the built program hold the
   same kernels: every id creates its kernel, and the program has no kernel
   the table lacks. */
Test(context, kernel_table_matches_the_program) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device");
  clt_context *ctx = tu_context("cl");
  clt_cl_context *cl = clt_cl_of(ctx);
  for (size_t id = 0; id < CLT_K_COUNT; id++) {
    cl_kernel k = NULL;
    cr_assert_eq(clt_cl_kernel(ctx, (clt_kid)id, &k), CLT_OK, "%s: %s",
                 clt_cl_kernel_names[id], clt_last_error(ctx));
    char name[128];
    cr_assert_eq(clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name,
                                 name, NULL), CL_SUCCESS);
    cr_assert_str_eq(name, clt_cl_kernel_names[id]);
  }
  size_t count = 0;
  cr_assert_eq(clGetProgramInfo(cl->program, CL_PROGRAM_NUM_KERNELS,
                                sizeof count, &count, NULL), CL_SUCCESS);
  cr_assert_eq(count, (size_t)CLT_K_COUNT, "program %zu kernels, table %d",
               count, (int)CLT_K_COUNT);
  clt_context_destroy(ctx);
}
#endif

/* Profiles follow the device type unless CLT_PROFILE forces one; a bad
   CLT_PROFILE is refused on OpenCL devices, naming the variable, and
   ignored by the reference backend. */
Test(context, device_profiles_follow_type_and_clt_profile) {
  const clt_device_info cpu = {.is_cpu = 1}, gpu = {.is_gpu = 1}, other = {0};
  unsetenv("CLT_PROFILE");
  cr_assert_str_eq(clt_device_profile(&cpu), "cpu");
  cr_assert_str_eq(clt_device_profile(&gpu), "gpu");
  cr_assert_str_eq(clt_device_profile(&other), "generic");
  setenv("CLT_PROFILE", "gpu", 1);
  cr_assert_str_eq(clt_device_profile(&cpu), "gpu");
  setenv("CLT_PROFILE", "fast", 1);
  cr_assert_null(clt_device_profile(&cpu));
  clt_context *ref = tu_context("ref");
  cr_assert_str_eq(clt_context_profile(ref), "reference");
  clt_context_destroy(ref);
  if (tu_have_opencl()) {
    clt_context_options opt = {.device = "cpu"};
    size_t index;
    if (clt_device_select("cpu", &index) != CLT_OK) opt.device = "gpu";
    clt_context *ctx = NULL;
    cr_assert_eq(clt_context_create(&opt, &ctx), CLT_ERR_INVALID_ARG);
    cr_assert_null(ctx);
    cr_assert_not_null(strstr(clt_last_error(NULL), "CLT_PROFILE='fast'"), "%s",
                       clt_last_error(NULL));
    setenv("CLT_PROFILE", "gpu", 1);
    cr_assert_eq(clt_context_create(&opt, &ctx), CLT_OK, "%s", clt_last_error(NULL));
    cr_assert_str_eq(clt_context_profile(ctx), "gpu");
    clt_context_destroy(ctx);
    unsetenv("CLT_PROFILE");
    cr_assert_eq(clt_context_create(&opt, &ctx), CLT_OK, "%s", clt_last_error(NULL));
    cr_assert_str_eq(clt_context_profile(ctx), strcmp(opt.device, "cpu") == 0 ? "cpu" : "gpu");
    clt_context_destroy(ctx);
  }
  unsetenv("CLT_PROFILE");
}

Test(context, outlives_destroy_until_last_tensor) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    float x[3] = {1, 2, 3}, y[3];
    clt_tensor *t = tu_tensor(ctx, 1, 3, x);
    clt_context_destroy(ctx); /* the tensor keeps it alive */
    cr_assert_eq(clt_tensor_read(t, y, sizeof y), CLT_OK);
    cr_assert_arr_eq(x, y, sizeof x);
    clt_tensor_destroy(t);
  }
}

/* "#N" names a device by position; the nth of the devices a request
   matches goes round them (how the ranks of a machine share them). */
Test(context, devices_by_position_and_by_rank) {
  size_t count = 0, index = 99;
  cr_assert_eq(clt_devices_list(NULL, 0, &count), CLT_OK);
  cr_assert_eq(clt_device_select_nth("ref", 3, &index), CLT_OK);
  cr_assert_eq(index, SIZE_MAX);
  char spec[32];
  snprintf(spec, sizeof spec, "#%zu", count);
  cr_assert_eq(clt_device_select(spec, &index), CLT_ERR_NO_DEVICE);
  if (!tu_have_opencl()) return;
  cr_assert_eq(clt_device_select("#0", &index), CLT_OK);
  cr_assert_eq(index, 0);
  size_t first = 0;
  cr_assert_eq(clt_device_select("cpu", &first), CLT_OK);
  size_t cpus = 0;
  clt_device_info devs[64];
  cr_assert_eq(clt_devices_list(devs, 64, &count), CLT_OK);
  for (size_t i = 0; i < count && i < 64; i++) cpus += devs[i].is_cpu != 0;
  for (size_t nth = 0; nth < 2 * cpus; nth++) {
    cr_assert_eq(clt_device_select_nth("cpu", nth, &index), CLT_OK);
    cr_assert(devs[index].is_cpu);
    if (nth % cpus == 0) cr_assert_eq(index, first, "the nth wraps round the matches");
  }
}
