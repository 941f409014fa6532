/* libFuzzer harness for clt_data_load_csv (see tests/fuzz/README.md).
 * The input is the CSV file (plain, or gzip when it starts like one). A
 * successful load is also pushed through the label check and the
 * preprocessing functions, and reloaded with a class-count hint. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp, ftruncate, pwrite */
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "fuzz_file.h"

static const char *g_path;
static int g_fd = -1;

static void check_failure(int rc, const clt_dataset *ds, const char *err,
                          size_t errlen) {
  if (rc != CLT_DATA_ERR && rc != CLT_DATA_ERR_NOMEM)
    abort();
  if (ds->x || ds->y || ds->n || err[0] == '\0' || !memchr(err, '\0', errlen))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_fd < 0) g_fd = fuzz_temp("csv", &g_path);
  fuzz_put(g_fd, data, size);

  char err[256];
  clt_dataset ds = {0};
  int rc = clt_data_load_csv(g_path, 0, &ds, err, sizeof err);
  if (rc != CLT_DATA_OK) {
    check_failure(rc, &ds, err, sizeof err);
    return 0;
  }
  if (ds.n == 0 || ds.d == 0 || !ds.x || !ds.y || ds.classes == 0)
    abort();
  if (clt_data_check_labels(&ds, ds.classes, "fuzz", err, sizeof err))
    abort();
  for (size_t i = 0; i < ds.n * ds.d; i++)
    if (!isfinite(ds.x[i]))
      abort();

  double *mean = malloc(ds.d * sizeof *mean), *sd = malloc(ds.d * sizeof *sd);
  if (mean && sd) {
    clt_data_mean(&ds, mean);
    clt_data_std(&ds, mean, sd);
    clt_data_normalize(&ds, mean, sd);
    clt_data_scale(&ds, 0.5f);
  }
  free(mean);
  free(sd);

  /* same file with a hint: fails exactly when a label reaches the hint */
  size_t hint = 1 + (size % 8);
  clt_dataset h = {0};
  rc = clt_data_load_csv(g_path, hint, &h, err, sizeof err);
  int want_ok = ds.classes <= hint;
  if (want_ok != (rc == CLT_DATA_OK))
    abort();
  if (rc == CLT_DATA_OK) {
    if (h.classes != hint || h.n != ds.n || h.d != ds.d)
      abort();
  } else {
    check_failure(rc, &h, err, sizeof err);
  }
  clt_dataset_free(&h);
  clt_dataset_free(&ds);
  return 0;
}
