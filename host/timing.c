/* Timings a context records (clt_context_options.record_timings): one entry
   per name, added to by the backends (host/cl/: OpenCL profiling events,
   host/ref/: host time per op) and read by clt_context_timings. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

struct clt_timings {
  clt_timing *v;
  size_t n, cap;
};

double clt_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

clt_status clt_timings_init(clt_context *ctx) {
  ctx->timings = calloc(1, sizeof *ctx->timings);
  return ctx->timings ? CLT_OK
                      : clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "out of host memory");
}

void clt_timings_free(clt_context *ctx) {
  if (!ctx->timings) return;
  free(ctx->timings->v);
  free(ctx->timings);
  ctx->timings = NULL;
}

void clt_timing_add(clt_context *ctx, const char *name, clt_timing_kind kind,
                    uint64_t count, double seconds, uint64_t bytes,
                    uint64_t items) {
  struct clt_timings *t = ctx->timings;
  if (!t) return;
  size_t i = 0;
  while (i < t->n && t->v[i].name != name && strcmp(t->v[i].name, name) != 0) i++;
  if (i == t->n) {
    if (t->n == t->cap) {
      size_t cap = t->cap ? 2 * t->cap : 64;
      clt_timing *v = realloc(t->v, cap * sizeof *v);
      if (!v) return; /* a timing lost to memory is not worth failing an op */
      t->v = v, t->cap = cap;
    }
    t->v[t->n++] = (clt_timing){.name = name, .kind = kind};
  }
  t->v[i].count += count;
  t->v[i].seconds += seconds;
  t->v[i].bytes += bytes;
  t->v[i].items += items;
}

double clt_timing_start(const clt_context *ctx) {
  return ctx->timings && ctx->be->host_timed ? clt_now() : 0.0;
}

clt_status clt_timed(clt_context *ctx, const char *name, clt_timing_kind kind,
                     uint64_t bytes, double t0, clt_status st) {
  if (t0 > 0.0) clt_timing_add(ctx, name, kind, 1, clt_now() - t0, bytes, 0);
  return st;
}

static clt_status timed(clt_context *ctx, const char *fn) {
  if (!ctx) return CLT_ERR_INVALID_ARG;
  if (!ctx->timings)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "%s: the context was created without record_timings", fn);
  /* Everything enqueued so far finishes and lands in the table. */
  return ctx->be->finish(ctx);
}

clt_status clt_context_timings(clt_context *ctx, clt_timing *out, size_t cap,
                               size_t *count) {
  if (!count || (cap && !out))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "clt_context_timings: %s is NULL", count ? "out" : "count");
  CLT_TRY(timed(ctx, "clt_context_timings"));
  const struct clt_timings *t = ctx->timings;
  if (out) memcpy(out, t->v, (cap < t->n ? cap : t->n) * sizeof *out);
  *count = t->n;
  return CLT_OK;
}

clt_status clt_context_timings_reset(clt_context *ctx) {
  CLT_TRY(timed(ctx, "clt_context_timings_reset"));
  ctx->timings->n = 0;
  return CLT_OK;
}
