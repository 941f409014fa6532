/* cltrain devices [--json]: every OpenCL device and the one auto picks. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cltrain.h"

#define MAX_LISTED 64

int clt_cmd_devices(int argc, char **argv) {
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json = 1;
    } else if (strcmp(argv[i], "--help") == 0) {
      printf("usage: cltrain devices [--json]\n"
             "Lists every OpenCL platform and device and says which one\n"
             "'auto' picks (CLT_DEVICE in the environment overrides it).\n");
      return 0;
    } else {
      fprintf(stderr, "cltrain devices: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  clt_device_info devs[MAX_LISTED];
  size_t count = 0, pick = SIZE_MAX;
  if (clt_devices_list(devs, MAX_LISTED, &count) != CLT_OK) {
    fprintf(stderr, "cltrain devices: %s\n", clt_last_error(NULL));
    return 1;
  }
  if (count > MAX_LISTED) count = MAX_LISTED;
  clt_status st = clt_device_select(NULL, &pick);
  const char *auto_name =
      st != CLT_OK ? NULL
      : pick == SIZE_MAX ? "reference (CPU, double)"
                         : devs[pick].name;
  if (json) {
    printf("{\"devices\":[");
    for (size_t i = 0; i < count; i++) {
      const clt_device_info *d = &devs[i];
      printf("%s{\"index\":%zu,\"platform\":", i ? "," : "", i);
      clt_json_string(stdout, d->platform);
      printf(",\"name\":");
      clt_json_string(stdout, d->name);
      printf(",\"type\":\"%s\",\"compute_units\":%u,\"global_mem_bytes\":%llu,"
             "\"max_alloc_bytes\":%llu,\"max_work_group_size\":%zu,\"version\":",
             d->is_gpu ? "gpu" : d->is_cpu ? "cpu" : "other", d->compute_units,
             (unsigned long long)d->global_mem_bytes, (unsigned long long)d->max_alloc_bytes,
             d->max_work_group_size);
      clt_json_string(stdout, d->version);
      printf(",\"profile\":");
      const char *profile = clt_device_profile(d);
      if (profile) clt_json_string(stdout, profile);
      else printf("null");
      char variant[1024];
      printf(",\"tuned\":");
      if (clt_device_tuned(d, variant, sizeof variant)) clt_json_string(stdout, variant);
      else printf("null");
      printf(",\"auto\":%s}", i == pick ? "true" : "false");
    }
    printf("],\"auto\":");
    if (auto_name) clt_json_string(stdout, auto_name);
    else printf("null");
    printf("}\n");
  } else {
    if (count == 0) printf("no OpenCL device found\n");
    for (size_t i = 0; i < count; i++) {
      const clt_device_info *d = &devs[i];
      const char *profile = clt_device_profile(d);
      char variant[1024];
      bool tuned = clt_device_tuned(d, variant, sizeof variant);
      printf("[%zu] %s%s\n    platform: %s\n    type: %s, compute units: %u, "
             "global memory: %.1f GiB, largest allocation: %.1f GiB, max work-group: %zu\n"
             "    profile: %s, %s%s\n    %s, driver %s\n",
             i, d->name, i == pick ? "   <- auto" : "", d->platform,
             d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other", d->compute_units,
             (double)d->global_mem_bytes / (1u << 30), (double)d->max_alloc_bytes / (1u << 30),
             d->max_work_group_size,
             profile ? profile : "none (CLT_PROFILE is not cpu, gpu or generic)",
             tuned ? "tuned: " : "not tuned yet (cltrain tune)", tuned ? variant : "",
             d->version, d->driver);
    }
    printf("auto picks: %s\n",
           auto_name ? auto_name : clt_last_error(NULL));
  }
  return st == CLT_OK ? 0 : 1;
}
