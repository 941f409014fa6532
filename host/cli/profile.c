/* cltrain train --profile: the timings the context recorded, as a table or
   a JSON object. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cltrain.h"

static int longest_first(const void *a, const void *b) {
  double x = ((const clt_timing *)a)->seconds, y = ((const clt_timing *)b)->seconds;
  return (x < y) - (x > y);
}

static const char *const kind_names[] = {
    [CLT_TIMING_KERNEL] = "kernel", [CLT_TIMING_TRANSFER] = "transfer",
    [CLT_TIMING_WAIT] = "wait"};

/* The recorded timings, longest first, into a malloc'd array. */
static clt_timing *sorted(clt_context *ctx, size_t *n) {
  size_t count = 0;
  clt_timing *v = NULL;
  clt_status st = clt_context_timings(ctx, NULL, 0, &count);
  if (st == CLT_OK && count && !(v = malloc(count * sizeof *v))) st = CLT_ERR_OUT_OF_MEMORY;
  if (st == CLT_OK && count) st = clt_context_timings(ctx, v, count, &count);
  if (st != CLT_OK) {
    fprintf(stderr, "cltrain train: --profile: %s\n",
            *clt_last_error(ctx) ? clt_last_error(ctx) : clt_status_str(st));
    free(v);
    return NULL;
  }
  qsort(v, count, sizeof *v, longest_first);
  *n = count;
  return v ? v : calloc(1, sizeof *v);
}

int clt_cli_print_timings(FILE *f, clt_context *ctx) {
  size_t n;
  clt_timing *v = sorted(ctx, &n);
  if (!v) return -1;
  double device = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].kind != CLT_TIMING_WAIT) device += v[i].seconds;
  fprintf(f, "profile: %s time on %s, longest first\n",
          clt_context_is_reference(ctx) ? "host" : "device",
          clt_context_device_name(ctx));
  fprintf(f, "  %-38s %-8s %9s %11s %10s %7s %9s %12s\n", "name", "kind",
          "count", "total ms", "mean us", "share", "GB/s", "items/launch");
  for (size_t i = 0; i < n; i++) {
    const clt_timing *t = &v[i];
    fprintf(f, "  %-38s %-8s %9llu %11.3f %10.2f", t->name, kind_names[t->kind],
            (unsigned long long)t->count, 1e3 * t->seconds,
            t->count ? 1e6 * t->seconds / (double)t->count : 0.0);
    if (t->kind == CLT_TIMING_WAIT)
      fprintf(f, " %7s", "-");
    else
      fprintf(f, " %6.1f%%", device > 0 ? 100 * t->seconds / device : 0.0);
    if (t->bytes && t->seconds > 0)
      fprintf(f, " %9.2f", 1e-9 * (double)t->bytes / t->seconds);
    else if (t->items)
      fprintf(f, " %9s", "");
    if (t->items && t->count)
      fprintf(f, " %12.0f", (double)t->items / (double)t->count);
    fputc('\n', f);
  }
  free(v);
  return 0;
}

int clt_cli_json_timings(FILE *f, clt_context *ctx) {
  size_t n;
  clt_timing *v = sorted(ctx, &n);
  if (!v) {
    fputs("null", f);
    return -1;
  }
  fputc('{', f);
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', f);
    clt_json_string(f, v[i].name);
    fprintf(f,
            ":{\"kind\":\"%s\",\"count\":%llu,\"seconds\":%.9g,\"bytes\":%llu,"
            "\"items\":%llu}",
            kind_names[v[i].kind], (unsigned long long)v[i].count, v[i].seconds,
            (unsigned long long)v[i].bytes, (unsigned long long)v[i].items);
  }
  fputc('}', f);
  free(v);
  return 0;
}
