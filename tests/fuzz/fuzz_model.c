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

#include "train.h"

static char g_path[512];
static int g_fd = -1;

static void cleanup(void) {
  if (g_fd >= 0) unlink(g_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_fd < 0) {
    const char *t = getenv("TMPDIR");
    if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_path, sizeof g_path, "%s/clt_fuzz_model_XXXXXX", t);
    g_fd = mkstemp(g_path);
    if (g_fd < 0) abort();
    atexit(cleanup);
  }
  unsigned char *file = malloc(size + 4);
  if (!file) return 0;
  memcpy(file, data, size);
  uint32_t crc = (uint32_t)crc32(0L, data, (uInt)size);
  for (int i = 0; i < 4; i++) file[size + (size_t)i] = (unsigned char)(crc >> (8 * i));
  if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, file, size + 4, 0) != (ssize_t)(size + 4))
    abort(); /* harness failure, not a finding */
  free(file);

  clt_model m;
  char err[256] = "";
  clt_status st = clt_model_load(g_path, &m, err, sizeof err);
  if (st != CLT_OK) {
    if (!err[0]) abort(); /* every refusal says why */
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
