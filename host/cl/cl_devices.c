/* OpenCL device discovery for the backend registry (host/context.c). */
#include <stdio.h>
#include <string.h>

#include "cl_internal.h"

#define MAX_PER_PLATFORM 64

static void get_string(cl_device_id d, cl_device_info what, char *buf,
                       size_t len) {
  buf[0] = '\0';
  if (clGetDeviceInfo(d, what, len, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
  buf[len - 1] = '\0';
}

/* No platform at all (the ICD loader reports CL_PLATFORM_NOT_FOUND_KHR)
   is zero devices. */
size_t clt_cl_discover(clt_found_device *out, size_t cap) {
  cl_platform_id platforms[16];
  cl_uint np = 0;
  if (clGetPlatformIDs(16, platforms, &np) != CL_SUCCESS) return 0;
  size_t n = 0;
  for (cl_uint p = 0; p < np && p < 16; p++) {
    char pname[128] = "";
    clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME, sizeof pname, pname,
                      NULL);
    pname[sizeof pname - 1] = '\0';
    cl_device_id ids[MAX_PER_PLATFORM];
    cl_uint nd = 0;
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_PER_PLATFORM, ids,
                       &nd) != CL_SUCCESS)
      continue;
    for (cl_uint i = 0; i < nd && i < MAX_PER_PLATFORM && n < cap; i++, n++) {
      clt_found_device *f = &out[n];
      memset(f, 0, sizeof *f);
      f->be = &clt_cl_backend;
      f->id = ids[i];
      snprintf(f->info.platform, sizeof f->info.platform, "%s", pname);
      get_string(ids[i], CL_DEVICE_NAME, f->info.name, sizeof f->info.name);
      get_string(ids[i], CL_DEVICE_VERSION, f->info.version,
                 sizeof f->info.version);
      get_string(ids[i], CL_DRIVER_VERSION, f->info.driver, sizeof f->info.driver);
      cl_device_type type = 0;
      cl_uint cu = 0;
      cl_ulong mem = 0, alloc = 0;
      size_t wg = 0;
      clGetDeviceInfo(ids[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
      clGetDeviceInfo(ids[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu,
                      NULL);
      clGetDeviceInfo(ids[i], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem,
                      NULL);
      clGetDeviceInfo(ids[i], CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg,
                      NULL);
      clGetDeviceInfo(ids[i], CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
      f->info.is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
      f->info.is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
      f->info.compute_units = cu;
      f->info.global_mem_bytes = mem;
      f->info.max_work_group_size = wg;
      f->info.max_alloc_bytes = alloc;
    }
  }
  return n;
}
