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

/* A refusal of malformed content, or out of memory, with a detail that
   names the file and the output untouched. */
static void check_failure(clt_status rc, const clt_dataset *ds) {
  if (rc != CLT_ERR_FORMAT && rc != CLT_ERR_OUT_OF_MEMORY)
    abort();
  if (ds->x || ds->y || ds->n || !strstr(clt_last_error(NULL), g_path))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_fd < 0) g_fd = fuzz_temp("csv", &g_path);
  fuzz_put(g_fd, data, size);

  clt_dataset ds = {0};
  clt_status rc = clt_data_load_csv(g_path, 0, &ds);
  if (rc != CLT_OK) {
    check_failure(rc, &ds);
    return 0;
  }
  if (ds.n == 0 || ds.d == 0 || !ds.x || !ds.y || ds.classes == 0)
    abort();
  if (clt_data_check_labels(&ds, ds.classes, "fuzz"))
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
  rc = clt_data_load_csv(g_path, hint, &h);
  int want_ok = ds.classes <= hint;
  if (want_ok != (rc == CLT_OK))
    abort();
  if (rc == CLT_OK) {
    if (h.classes != hint || h.n != ds.n || h.d != ds.d)
      abort();
  } else {
    check_failure(rc, &h);
  }
  clt_dataset_free(&h);
  clt_dataset_free(&ds);
  return 0;
}
