/* libFuzzer harness for the svmlight and .npy readers and the format
 * recognition (see tests/fuzz/README.md). The input's first byte picks the
 * reader: even, svmlight (the next byte's low bits the index base and a
 * width to force); odd, .npy features and, after a 2-byte length, their
 * labels. A success must be a consistent data set; a refusal names the
 * file and leaves the output alone; a refused svmlight file's first row
 * is read alone as well. A parsed svmlight file's rows must be
 * counted as parsed, and a share of them read alone be the same rows
 * (width, base and labels the whole file's). It is also kept
 * in its binary cache, which must map back to the same rows, and then
 * with one byte changed must map to consistent rows, be refused as
 * damaged, or not be taken for the file's cache. */
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

static const char *g_x, *g_y, *g_cache;
static int g_fx = -1, g_fy = -1;

static void check_failure(clt_status rc, const clt_dataset *ds) {
  if (rc != CLT_ERR_FORMAT && rc != CLT_ERR_OUT_OF_MEMORY && rc != CLT_ERR_IO)
    abort();
  const char *e = clt_last_error(NULL);
  if (ds->x || ds->ptr || ds->y || ds->n || ds->names || (!strstr(e, g_x) && !strstr(e, g_y)))
    abort();
}

/* Sparse rows (svmlight) or dense ones (.npy): finite values, and for
   sparse ones offsets from 0 that never decrease and columns increasing
   along each row within [0, d). */
static void check_success(const clt_dataset *ds, bool labels) {
  if (ds->n == 0 || ds->d == 0 || !ds->x == !ds->ptr || (labels && (!ds->y || !ds->names)))
    abort();
  size_t values = ds->ptr ? (size_t)ds->ptr[ds->n] : ds->n * ds->d;
  for (size_t i = 0; i < values; i++)
    if (!isfinite(ds->ptr ? ds->val[i] : ds->x[i]))
      abort();
  for (size_t i = 0; ds->ptr && i < ds->n; i++) {
    if (ds->ptr[0] != 0 || ds->ptr[i + 1] < ds->ptr[i])
      abort();
    for (int64_t k = ds->ptr[i]; k < ds->ptr[i + 1]; k++)
      if (ds->col[k] < 0 || (size_t)ds->col[k] >= ds->d || (k > ds->ptr[i] && ds->col[k] <= ds->col[k - 1]))
        abort();
  }
  if (labels && clt_data_check_labels(ds, ds->classes, "fuzz"))
    abort();
  for (size_t k = 0; labels && k < ds->classes; k++)
    for (size_t j = 0; j < k; j++)
      if (strcmp(ds->names[j], ds->names[k]) == 0)
        abort();
}

/* ds (every row of g_x, read with o) counted, and its rows [n/3, +n/2)
   read alone equal to them. */
static void check_share(const clt_dataset *all, const clt_svmlight_options *o) {
  size_t n = 0;
  if (clt_data_count_rows(g_x, CLT_FORMAT_SVMLIGHT, NULL, &n) != CLT_OK || n != all->n)
    abort();
  const clt_data_rows keep = {n / 3, n / 2};
  clt_dataset ds = {0};
  if (clt_data_load_svmlight_rows(g_x, o, keep, &ds) != CLT_OK || ds.n != keep.count ||
      ds.d != all->d || ds.svmlight_base != all->svmlight_base || ds.classes != all->classes)
    abort();
  const int64_t from = all->ptr[keep.first];
  const size_t entries = (size_t)(all->ptr[keep.first + keep.count] - from);
  for (size_t i = 0; i <= ds.n; i++)
    if (ds.ptr[i] != all->ptr[keep.first + i] - from)
      abort();
  if ((entries && (memcmp(ds.col, all->col + from, entries * sizeof *ds.col) != 0 ||
                   memcmp(ds.val, all->val + from, entries * sizeof *ds.val) != 0)) ||
      (ds.n && memcmp(ds.y, all->y + keep.first, ds.n * sizeof *ds.y) != 0))
    abort();
  for (size_t k = 0; k < ds.classes; k++)
    if (strcmp(ds.names[k], all->names[k]) != 0)
      abort();
  clt_dataset_free(&ds);
}

/* ds (parsed from g_x with o) through its cache: the same rows back; then
   the cache with the byte at a place picked by salt changed. */
static void check_cache(const clt_dataset *ds, const clt_svmlight_options *o, uint8_t salt) {
  clt_dataset got = {0};
  bool found = false;
  const size_t nnz = (size_t)ds->ptr[ds->n]; /* none: no column or value arrays */
  unlink(g_cache); /* the last input's changed cache is not one to replace */
  if (clt_data_svmlight_cache_write(ds, g_x, o, g_cache) != CLT_OK) abort();
  if (clt_data_svmlight_cache_load(g_cache, g_x, o, CLT_DATA_ALL_ROWS, &got, &found) != CLT_OK ||
      !found || got.n != ds->n || got.d != ds->d || got.classes != ds->classes ||
      memcmp(got.ptr, ds->ptr, (ds->n + 1) * sizeof *ds->ptr) != 0 ||
      (nnz && memcmp(got.col, ds->col, nnz * sizeof *ds->col) != 0) ||
      (nnz && memcmp(got.val, ds->val, nnz * sizeof *ds->val) != 0) ||
      memcmp(got.y, ds->y, ds->n * sizeof *ds->y) != 0)
    abort();
  clt_dataset_free(&got);
  FILE *f = fopen(g_cache, "r+b");
  if (!f || fseek(f, 0, SEEK_END) != 0) abort();
  long size = ftell(f), at = (long)((uint32_t)salt * 2654435761u % (uint32_t)size);
  unsigned char byte = 0;
  if (fseek(f, at, SEEK_SET) != 0 || fread(&byte, 1, 1, f) != 1) abort();
  byte ^= (unsigned char)(1u << (salt % 8));
  if (fseek(f, at, SEEK_SET) != 0 || fwrite(&byte, 1, 1, f) != 1 || fclose(f) != 0) abort();
  /* some of the rows, from a row picked by salt */
  const clt_data_rows keep = {salt % ds->n, (salt / 2) % (ds->n - salt % ds->n + 1)};
  clt_status rc = clt_data_svmlight_cache_load(g_cache, g_x, o, keep, &got, &found);
  if (rc == CLT_OK && found) { /* consistent rows, labels within the classes */
    if (got.n) check_success(&got, false);
    if (got.y && clt_data_check_labels(&got, got.classes, "fuzz")) abort();
  } else if (found || (rc != CLT_OK && rc != CLT_ERR_FORMAT && rc != CLT_ERR_INVALID_ARG)) {
    abort(); /* INVALID_ARG: the rows kept are beyond a changed header's */
  }
  clt_dataset_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_fx < 0) {
    g_fx = fuzz_temp("fmt_x", &g_x);
    g_fy = fuzz_temp("fmt_y", &g_y);
    close(fuzz_temp("fmt_cache", &g_cache)); /* a name only: the first cache makes the file */
    unlink(g_cache);
  }
  if (size < 2)
    return 0;
  clt_dataset ds = {0};
  clt_status rc;
  clt_data_format f;
  if (data[0] % 2 == 0) {
    fuzz_put(g_fx, data + 2, size - 2);
    clt_svmlight_options o = {.zero_based = (data[1] & 3) == 3 ? -1 : (data[1] & 1),
                              .features = (size_t)(data[1] >> 2)};
    rc = clt_data_load_svmlight(g_x, &o, &ds);
    if (rc == CLT_OK) {
      check_success(&ds, true);
      if (o.features && ds.d != o.features)
        abort();
      if (ds.svmlight_base != '0' && ds.svmlight_base != '1')
        abort();
      check_share(&ds, &o);
      check_cache(&ds, &o, data[1]);
    } else {
      /* the first row alone (the values after it unread): consistent, or
         refused as any load is */
      check_failure(rc, &ds);
      rc = clt_data_load_svmlight_rows(g_x, &o, (clt_data_rows){0, 1}, &ds);
      if (rc == CLT_OK) {
        check_success(&ds, true);
        if (ds.n != 1)
          abort();
        clt_dataset_free(&ds);
      }
    }
  } else {
    if (size < 4)
      return 0;
    size_t xlen = (size_t)data[2] | (size_t)data[3] << 8;
    if (xlen > size - 4)
      xlen = size - 4;
    fuzz_put(g_fx, data + 4, xlen);
    fuzz_put(g_fy, data + 4 + xlen, size - 4 - xlen);
    bool labels = data[1] & 1;
    rc = clt_data_load_npy(g_x, labels ? g_y : NULL, &ds);
    if (rc == CLT_OK)
      check_success(&ds, labels);
    size_t n, d;
    bool known;
    if (clt_data_shape(g_x, 0, &n, &d, &known) == CLT_OK && rc == CLT_OK &&
        (!known || n != ds.n || d != ds.d))
      abort();
  }
  if (rc != CLT_OK)
    check_failure(rc, &ds);
  clt_dataset_free(&ds);
  /* recognition reads the start only: it fails just for a corrupt gzip
     stream, naming the file */
  rc = clt_data_sniff(g_x, &f);
  if (rc != CLT_OK && (rc != CLT_ERR_FORMAT || !strstr(clt_last_error(NULL), g_x)))
    abort();
  return 0;
}
