/* Device discovery and selection, context lifetime. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define MAX_DEVICES 64

/* The backend registry: every backend that lists devices, in the order
   auto prefers within a device type. The reference backend lists none: it
   is asked for by name ("ref") or taken when nothing else is found. */
static const clt_backend *const registry[] = {
#if CLT_HAVE_OPENCL
    &clt_cl_backend,
#endif
    NULL};

/* Every device of every backend of the registry, found once per process
   (pthread_once): the first context creations of several threads must not
   race through the platforms' initialisation (POCL 3.1 crashes in
   clGetDeviceInfo, or finds no device, when they do). */
static pthread_once_t discovered = PTHREAD_ONCE_INIT;
static clt_found_device found[MAX_DEVICES];
static size_t nfound;

static void discover_once(void) {
  for (size_t b = 0; registry[b]; b++)
    nfound += registry[b]->discover(found + nfound, MAX_DEVICES - nfound);
}

static size_t discover(clt_found_device *out, size_t cap) {
  pthread_once(&discovered, discover_once);
  size_t n = nfound < cap ? nfound : cap;
  memcpy(out, found, n * sizeof *out);
  return n;
}

clt_status clt_devices_list(clt_device_info *out, size_t cap, size_t *count) {
  if (!count || (cap > 0 && !out)) {
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_devices_list: NULL argument");
  }
  clt_found_device devs[MAX_DEVICES];
  size_t n = discover(devs, MAX_DEVICES);
  for (size_t i = 0; i < n && i < cap; i++) out[i] = devs[i].info;
  *count = n;
  return CLT_OK;
}

static bool contains_nocase(const char *hay, const char *needle) {
  size_t nl = strlen(needle);
  for (const char *h = hay; *h; h++) {
    size_t k = 0;
    while (k < nl && h[k] &&
           tolower((unsigned char)h[k]) == tolower((unsigned char)needle[k]))
      k++;
    if (k == nl) return true;
  }
  return nl == 0;
}

/* The request after CLT_DEVICE has replaced "auto"; NULL means auto. */
static const char *effective_spec(const char *spec) {
  if (!spec || !*spec || strcmp(spec, "auto") == 0) {
    const char *env = getenv("CLT_DEVICE");
    return env && *env && strcmp(env, "auto") != 0 ? env : NULL;
  }
  return spec;
}

/* Whether devs[i] is one spec asks for (not NULL, "ref" or "#N"). */
static bool matches(const char *spec, const clt_device_info *d) {
  bool gpu = strcmp(spec, "gpu") == 0, cpu = strcmp(spec, "cpu") == 0;
  return (gpu && d->is_gpu) || (cpu && d->is_cpu) ||
         (!gpu && !cpu && (contains_nocase(d->name, spec) || contains_nocase(d->platform, spec)));
}

/* Whether d is one spec asks for, or with spec NULL one of type ('g' GPU,
   'c' CPU). */
static bool keeps(const char *spec, int type, const clt_device_info *d) {
  return spec ? matches(spec, d) : type == 'g' ? d->is_gpu != 0 : d->is_cpu != 0;
}

/* The (nth modulo their count) of the devices of devs that spec (or type)
   keeps, in order; false if it keeps none. */
static bool nth_of(const clt_found_device *devs, size_t n, size_t nth, const char *spec,
                   int type, size_t *index) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++) count += keeps(spec, type, &devs[i].info);
  if (count == 0) return false;
  size_t want = nth % count;
  for (size_t i = 0; i < n; i++)
    if (keeps(spec, type, &devs[i].info) && want-- == 0) return *index = i, true;
  return false;
}

/* Resolves spec against devs, the nth of several that match (modulo
   their count): SIZE_MAX means the reference backend. */
static clt_status select_device(const char *spec, const clt_found_device *devs,
                                size_t n, size_t nth, size_t *index) {
  spec = effective_spec(spec);
  if (!spec) {
    if (nth_of(devs, n, nth, NULL, 'g', index) || nth_of(devs, n, nth, NULL, 'c', index))
      return CLT_OK;
    *index = n > 0 ? 0 : SIZE_MAX;
    return CLT_OK;
  }
  if (strcmp(spec, "ref") == 0) return *index = SIZE_MAX, CLT_OK;
  char *end;
  if (spec[0] == '#' && spec[1] >= '0' && spec[1] <= '9') { /* by position */
    unsigned long k = strtoul(spec + 1, &end, 10);
    if (!*end && k < n) return *index = k, CLT_OK;
  } else if (nth_of(devs, n, nth, spec, 0, index)) {
    return CLT_OK;
  }
  char msg[CLT_ERRLEN];
  int len = snprintf(msg, sizeof msg,
                     "no OpenCL device matches '%s' (available:", spec);
  for (size_t i = 0; i < n && len > 0 && (size_t)len < sizeof msg; i++)
    len += snprintf(msg + len, sizeof msg - (size_t)len, "%s '%s'",
                    i ? "," : "", devs[i].info.name);
  if (len > 0 && (size_t)len < sizeof msg)
    snprintf(msg + len, sizeof msg - (size_t)len, "%s; or 'ref')",
             n ? "" : " none");
  return clt_fail(NULL, CLT_ERR_NO_DEVICE, "%s", msg);
}

clt_status clt_device_select_nth(const char *spec, size_t nth, size_t *index) {
  if (!index) {
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_device_select: index is NULL");
  }
  clt_found_device devs[MAX_DEVICES];
  size_t n = discover(devs, MAX_DEVICES);
  return select_device(spec, devs, n, nth, index);
}

clt_status clt_device_select(const char *spec, size_t *index) {
  return clt_device_select_nth(spec, 0, index);
}

/* A context on dev (NULL: the reference backend) with options (NULL:
   none); with cached, the tuning cache applies (the backend's open). */
static clt_status open_on(const clt_found_device *dev, const clt_context_options *options,
                          bool cached, clt_context **out) {
  clt_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "clt_context_create: out of host memory");
  }
  ctx->refs = 1;
  ctx->be = dev ? dev->be : &clt_ref_backend;
  snprintf(ctx->device_name, sizeof ctx->device_name, "%s",
           dev ? dev->info.name : "reference (CPU, double)");
  ctx->max_alloc_bytes = dev ? dev->info.max_alloc_bytes : UINT64_MAX;
  ctx->global_mem_bytes = dev ? dev->info.global_mem_bytes : UINT64_MAX;
  clt_status st = CLT_OK;
  if (options && options->record_timings) st = clt_timings_init(ctx);
  if (st == CLT_OK) st = ctx->be->open(ctx, dev, options ? options->variant : NULL, cached);
  if (st != CLT_OK) {
    clt_fail(NULL, st, "%s", ctx->err);
    ctx->be->close(ctx);
    clt_timings_free(ctx);
    free(ctx);
    return st;
  }
  /* A device nothing is known of is tuned at its first use, on a context
     of its own, so that a failing candidate cannot harm this one. */
  if (dev && ctx->be->wants_tuning && ctx->be->wants_tuning(ctx)) {
    clt_context *tuner = NULL;
    if (open_on(dev, NULL, false, &tuner) == CLT_OK) {
      ctx->be->first_use(tuner, ctx, &dev->info);
      clt_context_destroy(tuner);
    }
  }
  *out = ctx;
  return CLT_OK;
}

/* clt_context_create; with cached, the tuning cache applies. The
   device's discovery record into *device when it is not NULL (untouched
   for the reference). */
static clt_status create(const clt_context_options *options, bool cached,
                         clt_found_device *device, clt_context **out) {
  /* The reference backend never touches OpenCL, so it works (and stays
     clean under the sanitizers) on machines without any ICD. */
  const char *spec = effective_spec(options ? options->device : NULL);
  clt_found_device devs[MAX_DEVICES];
  size_t n = spec && strcmp(spec, "ref") == 0 ? 0 : discover(devs, MAX_DEVICES);
  size_t index;
  clt_status st = select_device(spec, devs, n, 0, &index);
  if (st != CLT_OK) return st;
  const clt_found_device *dev = index == SIZE_MAX ? NULL : &devs[index];
  CLT_TRY(open_on(dev, options, cached, out));
  if (device && dev) *device = *dev;
  return CLT_OK;
}

clt_status clt_context_create(const clt_context_options *options,
                              clt_context **out) {
  if (!out) {
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_context_create: out is NULL");
  }
  return create(options, true, NULL, out);
}

clt_status clt_tune(const char *spec, int verbose, char *variant, size_t len, char *path,
                    size_t path_len) {
  clt_found_device dev = {0};
  clt_context *ctx = NULL;
  clt_context_options opt = {.device = spec};
  CLT_TRY(create(&opt, false, &dev, &ctx));
  clt_status st = CLT_OK;
  char where[4096] = "";
  if (!ctx->be->tune)
    st = clt_fail(NULL, CLT_ERR_INVALID_ARG, "the %s backend has nothing to tune",
                  ctx->be->name);
  else if ((st = ctx->be->tune(ctx, &dev.info, verbose != 0, where, sizeof where)) != CLT_OK)
    clt_fail(NULL, st, "%s", ctx->err);
  if (st == CLT_OK && variant) snprintf(variant, len, "%s", clt_context_variant(ctx));
  if (st == CLT_OK && path) snprintf(path, path_len, "%s", where);
  clt_context_destroy(ctx);
  return st;
}

int clt_device_tuned(const clt_device_info *device, char *variant, size_t len) {
  for (size_t b = 0; device && registry[b]; b++)
    if (registry[b]->tuned_variant && registry[b]->tuned_variant(device, variant, len)) return 1;
  return 0;
}

void clt_context_release(clt_context *ctx) {
  if (--ctx->refs > 0) return;
  clt_workspace_release(ctx);
  ctx->be->close(ctx);
  clt_timings_free(ctx);
  free(ctx);
}

void clt_context_destroy(clt_context *ctx) {
  if (ctx) clt_context_release(ctx);
}

const char *clt_device_profile(const clt_device_info *device) {
  const char *env = getenv("CLT_PROFILE");
  if (env && *env) {
    static const char *const names[] = {"cpu", "gpu", "generic"};
    size_t k = clt_kind_lookup(names, 3, env);
    return k < 3 ? names[k] : NULL;
  }
  return !device ? NULL : device->is_cpu ? "cpu" : device->is_gpu ? "gpu" : "generic";
}

const char *clt_context_profile(const clt_context *ctx) {
  return ctx ? ctx->be->profile(ctx) : "";
}

const char *clt_context_variant(const clt_context *ctx) {
  return ctx ? ctx->be->variant(ctx) : "";
}

const char *clt_context_device_name(const clt_context *ctx) {
  return ctx ? ctx->device_name : "";
}

uint64_t clt_context_max_alloc_bytes(const clt_context *ctx) {
  return ctx ? ctx->max_alloc_bytes : 0;
}

uint64_t clt_context_global_mem_bytes(const clt_context *ctx) {
  return ctx ? ctx->global_mem_bytes : 0;
}

int clt_context_is_reference(const clt_context *ctx) {
  return ctx && ctx->be == &clt_ref_backend;
}

clt_status clt_context_finish(clt_context *ctx) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  return ctx->be->finish(ctx);
}
