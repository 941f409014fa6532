/* libFuzzer harness for the checkpoint and model loader, clt_model_load
 * (host/train.c; see tests/fuzz/README.md). The input is a checkpoint's
 * body: the harness appends its CRC-32, so that the parser behind the
 * checksum is what gets fuzzed. A successful load must give a model the
 * loader promises (sizes, finite weights and statistics); anything else
 * aborts (a finding). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp, ftruncate, pwrite */
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz_file.h"
#include "train.h"

static const char *g_path;
static int g_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_fd < 0) g_fd = fuzz_temp("model", &g_path);
  unsigned char *file = malloc(size + 4);
  if (!file) return 0;
  memcpy(file, data, size);
  uint32_t crc = (uint32_t)crc32(0L, data, (uInt)size);
  for (int i = 0; i < 4; i++) file[size + (size_t)i] = (unsigned char)(crc >> (8 * i));
  fuzz_put(g_fd, file, size + 4);
  free(file);

  clt_model m;
  clt_status st = clt_model_load(g_path, &m);
  if (st != CLT_OK) {
    /* every refusal names the file and says why */
    if (!strstr(clt_last_error(NULL), g_path)) abort();
    return 0;
  }
  if (m.d == 0 || m.c == 0 || !m.W || !m.b) abort();
  for (size_t k = 0; k < m.d * m.c; k++)
    if (!isfinite(m.W[k])) abort();
  for (size_t k = 0; k < m.c; k++)
    if (!isfinite(m.b[k])) abort();
  if (m.prep.mode != CLT_PREPROCESS_NONE)
    for (size_t j = 0; j < m.d; j++)
      if (!isfinite(m.prep.mean[j]) || !(m.prep.std[j] >= 0)) abort();
  clt_model_free(&m);
  return 0;
}
