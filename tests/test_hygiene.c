/* Resource hygiene: contexts and tensors created and destroyed in loops
   leave no OpenCL object alive and do not grow resident memory. */
#include <stdio.h>
#include <unistd.h>

#include "internal.h"
#if CLT_HAVE_OPENCL
#include "cl/cl_internal.h"
#endif
#include "testutil.h"

/* Resident set size in MiB, from /proc/self/statm. */
static double rss_mib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  cr_assert_not_null(f);
  cr_assert_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

/* Growth allowed over a loop after warm-up: allocator slack, not leaks
   (a leaked 64-byte tensor header per iteration alone would be 6 MiB over
   100000 tensors; a leaked OpenCL context is far more). */
#define RSS_BOUND_MIB 8.0

/* AddressSanitizer quarantines freed memory (up to 256 MiB), so resident
   size says nothing there; its leak checker does the proving instead. */
#if defined(__SANITIZE_ADDRESS__)
#define expect_rss_growth_bounded(grown, ...) (void)(grown)
#else
#define expect_rss_growth_bounded(grown, ...)                                 \
  cr_assert_leq((grown), RSS_BOUND_MIB, __VA_ARGS__)
#endif

static void one_context(const char *spec, int launch) {
  clt_context *ctx = tu_context(spec);
  clt_tensor *t = tu_tensor(ctx, 64, 3, NULL);
  cr_assert_eq(clt_tensor_fill(t, 1.0), CLT_OK);
#if CLT_HAVE_OPENCL
  if (launch && !clt_context_is_reference(ctx)) {
    double sum = 0;
    cr_assert_eq(clt_cl_sum(ctx, t->st->mem, t->offset, 192, &sum), CLT_OK,
                 "%s", clt_last_error(ctx));
    cr_assert_eq(sum, 192.0);
  }
#else
  (void)launch;
#endif
  clt_tensor_destroy(t);
  clt_context_destroy(ctx);
}

Test(hygiene, thousand_contexts) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    for (int i = 0; i < 20; i++) one_context(specs[d], 1);
    cr_assert_eq(tu_live_objects(), 0);
    double before = rss_mib();
    for (int i = 0; i < 1000; i++) one_context(specs[d], i % 10 == 0);
    double after = rss_mib();
    cr_assert_eq(tu_live_objects(), 0, "%ld OpenCL objects alive",
                 tu_live_objects());
    expect_rss_growth_bounded(after - before,
                              "%s: RSS grew %.1f MiB over 1000 contexts",
                              specs[d], after - before);
  }
}

Test(hygiene, hundred_thousand_tensors) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    long live = tu_live_objects();
    clt_tensor *keep = tu_tensor(ctx, 1000, 10, NULL);
    for (int i = 0; i < 1000; i++) {
      clt_tensor *t = tu_tensor(ctx, 1 + i % 97, 1 + i % 13, NULL);
      clt_tensor_destroy(t);
    }
    double before = rss_mib();
    for (int i = 0; i < 100000; i++) {
      clt_tensor *t = tu_tensor(ctx, 1 + i % 97, 1 + i % 13, NULL), *v = NULL;
      cr_assert_eq(clt_tensor_view_rows(keep, (size_t)i % 1000, 1, &v), CLT_OK);
      clt_tensor_destroy(t);
      clt_tensor_destroy(v);
    }
    double after = rss_mib();
    clt_tensor_destroy(keep);
    cr_assert_eq(tu_live_objects(), live, "%ld OpenCL objects alive",
                 tu_live_objects() - live);
    expect_rss_growth_bounded(after - before,
                              "%s: RSS grew %.1f MiB over 100000 tensors",
                              specs[d], after - before);
    clt_context_destroy(ctx);
    cr_assert_eq(tu_live_objects(), 0);
  }
}
