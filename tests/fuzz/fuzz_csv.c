/* libFuzzer harness for clt_data_load_csv (see tests/fuzz/README.md).
 * The input is the CSV file (plain, or gzip when it starts like one). A
 * successful load is also pushed through the label check, the class
 * unification and the preprocessing functions; its rows must be counted
 * as loaded, and a share of them (clt_data_load_csv_rows) be the same
 * rows; and the file is reloaded without a label column. A refused
 * file's first row is read alone as well. */
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

/* all's rows counted as read with opt, and its rows [n/3, +n/2) read
   alone equal to them, labels and their names included. */
static void check_share(const clt_text_options *opt, const clt_dataset *all) {
  size_t n = 0;
  if (clt_data_count_rows(g_path, CLT_FORMAT_TEXT, opt, &n) != CLT_OK || n != all->n)
    abort();
  const clt_data_rows keep = {n / 3, n / 2};
  clt_dataset ds = {0};
  if (clt_data_load_csv_rows(g_path, opt, keep, &ds) != CLT_OK || ds.n != keep.count ||
      ds.d != all->d || ds.classes != all->classes ||
      (ds.n && (!ds.y != !all->y ||
                memcmp(ds.x, all->x + keep.first * all->d, ds.n * ds.d * sizeof *ds.x) != 0 ||
                (ds.y && memcmp(ds.y, all->y + keep.first, ds.n * sizeof *ds.y) != 0))))
    abort();
  for (size_t k = 0; k < ds.classes; k++)
    if (strcmp(ds.names[k], all->names[k]) != 0)
      abort();
  clt_dataset_free(&ds);
}

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
  clt_status rc = clt_data_load_csv(g_path, NULL, &ds);
  if (rc != CLT_OK) {
    check_failure(rc, &ds);
    /* the first row alone (the cells after it unparsed): one labelled row,
       or refused as any load is */
    rc = clt_data_load_csv_rows(g_path, NULL, (clt_data_rows){0, 1}, &ds);
    if (rc != CLT_OK)
      check_failure(rc, &ds);
    else if (ds.n != 1 || !ds.x || !ds.y || clt_data_check_labels(&ds, ds.classes, "fuzz"))
      abort();
    clt_dataset_free(&ds);
    return 0;
  }
  if (ds.n == 0 || ds.d == 0 || !ds.x || !ds.y || ds.classes == 0 || !ds.names)
    abort();
  if (clt_data_check_labels(&ds, ds.classes, "fuzz"))
    abort();
  check_share(NULL, &ds);
  /* every class named once, and unified into the same number of classes */
  for (size_t k = 0; k < ds.classes; k++)
    for (size_t j = 0; j < k; j++)
      if (strcmp(ds.names[j], ds.names[k]) == 0)
        abort();
  size_t classes = ds.classes;
  clt_labels all;
  clt_dataset *sets[] = {&ds};
  if (clt_data_unify_labels(sets, 1, &all) == CLT_OK) {
    if (all.n != classes || ds.names || ds.classes != classes ||
        clt_data_check_labels(&ds, classes, "fuzz"))
      abort();
    clt_labels_free(&all);
  }
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

  /* the same file without labels: every column a feature */
  clt_text_options none = {.label = CLT_LABEL_NONE};
  clt_dataset h = {0};
  rc = clt_data_load_csv(g_path, &none, &h);
  if (rc == CLT_OK) {
    if (h.y || h.names || h.classes != 0 || h.n == 0 || h.d == 0)
      abort();
    check_share(&none, &h);
  } else {
    check_failure(rc, &h);
  }
  clt_dataset_free(&h);
  clt_dataset_free(&ds);
  return 0;
}
