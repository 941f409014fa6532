/* libFuzzer harness for clt_data_load_idx (see tests/fuzz/README.md).
 *
 * Input layout: 2 bytes little-endian L, then L bytes of the images file,
 * then the labels file (the rest). L larger than what is left takes it all
 * (the labels file is then empty). Either file may be plain or gzip. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp, ftruncate, pwrite */
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "fuzz_file.h"

static const char *g_img, *g_lab;
static int g_fd_img = -1, g_fd_lab = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_fd_img < 0) {
    g_fd_img = fuzz_temp("img", &g_img);
    g_fd_lab = fuzz_temp("lab", &g_lab);
  }
  size_t li = 0;
  if (size >= 2) {
    li = (size_t)data[0] | ((size_t)data[1] << 8);
    data += 2;
    size -= 2;
  } else {
    data += size;
    size = 0;
  }
  if (li > size)
    li = size;
  fuzz_put(g_fd_img, data, li);
  fuzz_put(g_fd_lab, data + li, size - li);

  clt_dataset ds = {0};
  clt_status rc = clt_data_load_idx(g_img, g_lab, &ds);
  if (rc == CLT_OK) {
    /* touch everything the loader promised */
    if (ds.n == 0 || ds.d == 0 || !ds.x || !ds.y || ds.classes == 0 ||
        ds.classes > 256)
      abort();
    if (clt_data_check_labels(&ds, ds.classes, "fuzz"))
      abort();
    double acc = 0;
    for (size_t i = 0; i < ds.n * ds.d; i++) {
      if (!(ds.x[i] >= 0.0f && ds.x[i] <= 255.0f))
        abort();
      acc += ds.x[i];
    }
    (void)acc;
  } else {
    /* failures leave the output alone and name the file at fault */
    const char *err = clt_last_error(NULL);
    if ((rc != CLT_ERR_FORMAT && rc != CLT_ERR_OUT_OF_MEMORY) || ds.x || ds.y ||
        ds.n || !(strstr(err, g_img) || strstr(err, g_lab)))
      abort();
  }
  clt_dataset_free(&ds);
  return 0;
}
