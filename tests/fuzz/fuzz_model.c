/* libFuzzer harness for the checkpoint and model loader,
 * clt_checkpoint_load (host/checkpoint.c; see tests/fuzz/README.md). The
 * input is a checkpoint's body: the harness appends its CRC-32, so that the
 * parser behind the checksum is what gets fuzzed. A successful load must
 * give what the loader promises (a known model kind whose parameters the
 * tensors are, finite values and statistics); anything else aborts (a
 * finding). */
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
#include "checkpoint.h"

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

  clt_checkpoint m;
  clt_status st = clt_checkpoint_load(NULL, g_path, &m);
  if (st != CLT_OK) {
    /* every refusal names the file and says why */
    if (!strstr(clt_last_error(NULL), g_path)) abort();
    return 0;
  }
  if (m.d == 0 || m.c == 0 || !m.kind || m.ntensors == 0) abort();
  clt_model_param want[CLT_MODEL_MAX_PARAMS];
  if (m.kind->params(m.d, m.c, clt_checkpoint_has(&m, "b"), want) != m.ntensors) abort();
  for (size_t i = 0; i < m.ntensors; i++) {
    const clt_ckpt_tensor *t = &m.tensor[i];
    if (strcmp(t->name, want[i].name) || t->rows != want[i].rows || t->cols != want[i].cols)
      abort();
    for (size_t k = 0; k < t->rows * t->cols; k++)
      if (!isfinite(t->data[k])) abort();
  }
  if (m.prep.mode != CLT_PREPROCESS_NONE)
    for (size_t j = 0; j < m.d; j++)
      if (!isfinite(m.prep.mean[j]) || !(m.prep.std[j] >= 0)) abort();
  clt_checkpoint_free(&m);
  return 0;
}
