/* Device profiles of the OpenCL backend (host/cl/cl_internal.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_internal.h"

/* CPU devices (POCL): the values measured on the 2-core machine
   (bench/RESULTS.md): the fused step up to 32 classes and C*D = 64K, two
   row blocks per core of at most 1024 rows, the linear kernels at every C
   (they beat CLBlast there), sparse kernels with every class in one
   work-item (its loops over a weight row read contiguous memory; on the
   Debian-descriptions set, C = 51, batch 256, this took the SGD update
   from 1.8 to 1.0 ms a step and the forward from 0.49 to 0.22, measured
   while another build ran) and one column bucket per core for dW and the
   update (each bucket's work-item searches every row of the batch: at C =
   2, batch 4096, 2^18 features, one per core took 7.6 ms a step, eight
   14.2; at C = 50 both 48.6), the sparse forward and the row loss in one
   kernel up to 64 classes (on the Debian descriptions, C = 51, batch 128:
   59.8 us a step against 76.8 for the forward, the label check and the
   loss apart; at 1000 classes, four alternated runs were 0.86 to 1.16
   times the kernels apart), and L2 prefetch of the rows X streams and of
   the weight rows the sparse kernels are about to read. */
static const clt_cl_profile cpu = {
    .name = "cpu",
    .fused_max_c = CLT_STEP_MAX_C,
    .fused_max_cd = 65536,
    .step_blocks_per_unit = 2,
    .step_max_rows = 1024,
    .linear_kernel_max_c = SIZE_MAX,
    .csr_classes_per_item = 0,
    .csr_lanes_per_unit = 1,
    .csr_loss_max_c = 64,
    .prefetch = 1,
};

/* GPUs: the GPU-shaped fused step up to 32 classes at any D (on an H200
   the CPU-shaped one lost 5.8x to the separate kernels at batch 16384 and
   1.25x at 256: bench/RESULTS.md, 2026-12-04), 128 work-items per row (at
   batch 256 and D = 784, 32 768 work-items, each reading one or two float4
   of the row) and 2^17 work-items in dW's pass (row blocks of 16 at batch
   256: 14 336 work-items; of 98 at 16 384: the partial sums C/98 of X),
   up to C*D = 2^20 (the partial sums of a step stay a few MB);
   CLBlast above 32 classes, sparse kernels with one class per work-item
   and 256 of them per unit (eight warps), the sparse forward and the
   loss apart (the kernel that does both takes a row or eight a
   work-item: a few hundred work-items at the batches timed), and a
   work-group per chunk of the elementwise kernels (coalesced, and as
   many work-items as elements). None of it measured on a GPU yet. Other
   devices (accelerators, unknown types) get the same values. */
#define CLT_NOT_CPU_VALUES                                                    \
  .fused_max_c = CLT_STEP_MAX_C, .fused_max_cd = (size_t)1 << 20,            \
  .step_blocks_per_unit = 2, .step_max_rows = 1024, .step_gpu = 1,            \
  .step_row_group = 128, .step_dw_items = (size_t)1 << 17,                    \
  .linear_kernel_max_c = 32, .csr_classes_per_item = 1,                       \
  .csr_lanes_per_unit = 256, .csr_loss_max_c = 0, .prefetch = 0, .elem_gpu = 1
static const clt_cl_profile gpu = {.name = "gpu", CLT_NOT_CPU_VALUES};
static const clt_cl_profile generic = {.name = "generic", CLT_NOT_CPU_VALUES};

const clt_cl_profile *clt_cl_profile_named(const char *name) {
  const clt_cl_profile *const all[] = {&cpu, &gpu, &generic};
  for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
    if (strcmp(all[i]->name, name) == 0) return all[i];
  return NULL;
}

/* Every field of a profile but its name, for variant strings: X(field,
   smallest, largest) with the values a parsed variant may hold (bounds
   far beyond any real choice that keep the launch arithmetic from
   overflowing: a tuning cache is a file anyone may edit). */
#define CLT_PROFILE_FIELDS(X)                                                 \
  X(fused_max_c, 0, CLT_STEP_MAX_C)                                           \
  X(fused_max_cd, 0, (size_t)1 << 30)                                         \
  X(step_blocks_per_unit, 1, 1024)                                            \
  X(step_max_rows, 1, (size_t)1 << 24)                                        \
  X(step_gpu, 0, 1)                                                           \
  X(step_row_group, 0, 4096)                                                  \
  X(step_dw_items, 0, (size_t)1 << 30)                                        \
  X(linear_kernel_max_c, 0, SIZE_MAX)                                         \
  X(csr_classes_per_item, 0, (size_t)1 << 20)                                 \
  X(csr_lanes_per_unit, 1, (size_t)1 << 16)                                   \
  X(csr_loss_max_c, 0, SIZE_MAX)                                              \
  X(prefetch, 0, 1)                                                           \
  X(elem_gpu, 0, 1)

/* Appends "key=v" to the variant at *at, after a comma unless it is the
   first. */
static void put_value(char **at, char *end, bool first, const char *key, size_t v) {
  const char *sep = first ? "" : ",";
  int n = v == SIZE_MAX ? snprintf(*at, (size_t)(end - *at), "%s%s=max", sep, key)
                        : snprintf(*at, (size_t)(end - *at), "%s%s=%zu", sep, key, v);
  *at += n > 0 && n < end - *at ? n : 0;
}

void clt_cl_variant_format(const clt_cl_profile *p, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s:", p->name);
  char *at = buf + (n > 0 && (size_t)n < len ? n : 0), *first = at;
#define CLT_PUT_FIELD(f, lo, hi) put_value(&at, buf + len, at == first, #f, (size_t)p->f);
  CLT_PROFILE_FIELDS(CLT_PUT_FIELD)
#undef CLT_PUT_FIELD
}

static bool in_range(size_t v, size_t lo, size_t hi) { return v >= lo && v <= hi; }

/* One "key=value" of a variant into p; false with why set if it is not. */
static bool set_field(clt_cl_profile *p, const char *item, size_t len, char *why,
                      size_t why_len) {
  const char *eq = memchr(item, '=', len);
  size_t klen = eq ? (size_t)(eq - item) : len;
  char value[32];
  size_t vlen = eq ? len - klen - 1 : 0;
  if (!eq || vlen == 0 || vlen >= sizeof value) {
    snprintf(why, why_len, "'%.*s' is not key=value", (int)len, item);
    return false;
  }
  memcpy(value, eq + 1, vlen);
  value[vlen] = '\0';
  size_t v = SIZE_MAX;
  if (strcmp(value, "max") != 0) {
    char *stop;
    errno = 0;
    unsigned long long u = strtoull(value, &stop, 10);
    if (*stop || value[0] == '-' || errno || u >= SIZE_MAX) {
      snprintf(why, why_len, "'%.*s' is not a number", (int)len, item);
      return false;
    }
    v = (size_t)u;
  }
#define CLT_SET_FIELD(f, lo, hi)                                              \
  if (klen == sizeof #f - 1 && memcmp(item, #f, klen) == 0) {                 \
    if (!in_range(v, (size_t)(lo), (size_t)(hi))) {                          \
      snprintf(why, why_len, "%s=%s is outside [%zu, %zu]", #f, value,         \
               (size_t)(lo), (size_t)(hi));                                   \
      return false;                                                           \
    }                                                                         \
    p->f = v;                                                                 \
    return true;                                                              \
  }
  CLT_PROFILE_FIELDS(CLT_SET_FIELD)
#undef CLT_SET_FIELD
  snprintf(why, why_len, "'%.*s' names no profile field", (int)klen, item);
  return false;
}

bool clt_cl_variant_parse(const char *s, clt_cl_profile *out, char *why, size_t why_len) {
  const char *colon = s ? strchr(s, ':') : NULL;
  char name[16];
  size_t nlen = colon ? (size_t)(colon - s) : 0;
  const clt_cl_profile *base = NULL;
  if (colon && nlen < sizeof name) {
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    base = clt_cl_profile_named(name);
  }
  if (!base) {
    snprintf(why, why_len, "it does not start with cpu:, gpu: or generic:");
    return false;
  }
  clt_cl_profile p = *base;
  for (const char *item = colon + 1; *item;) {
    size_t len = strcspn(item, ",");
    if (!set_field(&p, item, len, why, why_len)) return false;
    item += len + (item[len] == ',');
  }
  if (p.step_row_group & (p.step_row_group - 1)) {
    snprintf(why, why_len, "step_row_group=%zu is not a power of two", p.step_row_group);
    return false;
  }
  if (p.step_gpu && (p.step_row_group == 0 || p.step_dw_items == 0)) {
    snprintf(why, why_len, "step_gpu=1 needs step_row_group and step_dw_items");
    return false;
  }
  *out = p;
  return true;
}

/* No fast-math: softmax, log and inf masks need IEEE semantics. */
void clt_cl_build_options(const clt_cl_profile *p, char *buf, size_t len) {
  snprintf(buf, len, "-cl-std=CL1.2 -DCLT_PREFETCH=%d -DCLT_ELEM_GPU=%d", p->prefetch,
           p->elem_gpu);
}
