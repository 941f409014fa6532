/* Data that cannot fit the device, refused with the sizes in words before
   the upload would fail with OpenCL's raw CL_INVALID_BUFFER_SIZE. */
#include <stdio.h>

#include "cli.h"

/* bytes in words, "12.3 MB" (powers of 1000). */
static void fmt_bytes(double bytes, char out[32]) {
  static const char *const unit[] = {"bytes", "KB", "MB", "GB", "TB"};
  size_t k = 0;
  while (bytes >= 1000 && k < 4) bytes /= 1000, k++;
  snprintf(out, 32, k ? "%.1f %s" : "%.0f %s", bytes, unit[k]);
}

/* Buffers of these sizes in bytes. */
static void add_buffers(clt_cli_mem_need *m, const double *bytes, size_t k) {
  for (size_t i = 0; i < k; i++) {
    if (bytes[i] > m->largest) m->largest = bytes[i];
    m->total += bytes[i];
  }
}

void clt_cli_mem_add(clt_cli_mem_need *m, size_t n, size_t d, size_t c) {
  const double rows = (double)n, b[] = {4 * rows * (double)d, 4 * rows * (double)c, 4 * rows};
  add_buffers(m, b, 3);
}

void clt_cli_mem_add_sparse(clt_cli_mem_need *m, size_t n, uint64_t nnz, size_t c) {
  const double rows = (double)n, e = 4.0 * (double)(nnz ? nnz : 1);
  const double b[] = {e, e, 8 * (rows + 1), 4 * rows * (double)c, 4 * rows};
  add_buffers(m, b, 5);
}

/* The largest allocation and the memory the data may use: the device's,
   each lowered to limit when that is lower; *by_limit when it was. */
static void limits(const clt_context *ctx, uint64_t limit, double *alloc, double *mem,
                   bool *by_limit) {
  *alloc = (double)clt_context_max_alloc_bytes(ctx);
  *mem = (double)clt_context_global_mem_bytes(ctx);
  *by_limit = false;
  if (limit && (double)limit < *alloc) *alloc = (double)limit, *by_limit = true;
  if (limit && (double)limit < *mem) *mem = (double)limit, *by_limit = true;
}

bool clt_cli_mem_fits(const clt_context *ctx, uint64_t limit, const clt_cli_mem_need *need) {
  double alloc, mem;
  bool by_limit;
  limits(ctx, limit, &alloc, &mem, &by_limit);
  return need->largest <= alloc && need->total <= mem;
}

int clt_cli_mem_check(const char *cmd, const clt_context *ctx, uint64_t limit,
                      const char *what, const clt_cli_mem_need *need) {
  double alloc, mem;
  bool limited;
  limits(ctx, limit, &alloc, &mem, &limited);
  const bool one = need->largest > alloc;
  if (!one && need->total <= mem) return 0;
  char needed[32], size[32], where[512];
  fmt_bytes(one ? need->largest : need->total, needed);
  fmt_bytes(one ? alloc : mem, size);
  if (limited)
    snprintf(where, sizeof where, "--device-memory-limit, %s", size);
  else
    snprintf(where, sizeof where, "%s of %s, %s (cltrain devices shows it)",
             one ? "the largest allocation" : "the memory", clt_context_device_name(ctx), size);
  fprintf(stderr,
          "cltrain %s: %s needs %s of %s, more than %s: use a device with more memory "
          "(--device ref uses host memory), or fewer rows or features\n",
          cmd, what, one ? "a device buffer" : "device memory", needed, where);
  return 2;
}
