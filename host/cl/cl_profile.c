/* Device profiles of the OpenCL backend (host/cl/cl_internal.h). */
#include <stdint.h>
#include <stdio.h>

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
   14.2; at C = 50 both 48.6), and L2 prefetch of the rows X streams and
   of the weight rows the sparse kernels are about to read. */
static const clt_cl_profile cpu = {
    .name = "cpu",
    .fused_max_c = CLT_STEP_MAX_C,
    .fused_max_cd = 65536,
    .step_blocks_per_unit = 2,
    .step_max_rows = 1024,
    .linear_kernel_max_c = SIZE_MAX,
    .csr_classes_per_item = 0,
    .csr_lanes_per_unit = 1,
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
   and 256 of them per unit (eight warps), and a work-group per chunk of
   the elementwise kernels (coalesced, and as many work-items as
   elements). None of it measured on a GPU yet. Other devices (accelerators, unknown types) get the same
   values. */
#define CLT_NOT_CPU_VALUES                                                    \
  .fused_max_c = CLT_STEP_MAX_C, .fused_max_cd = (size_t)1 << 20,            \
  .step_blocks_per_unit = 2, .step_max_rows = 1024, .step_gpu = 1,            \
  .step_row_group = 128, .step_dw_items = (size_t)1 << 17,                    \
  .linear_kernel_max_c = 32, .csr_classes_per_item = 1,                       \
  .csr_lanes_per_unit = 256, .prefetch = 0, .elem_gpu = 1
static const clt_cl_profile gpu = {.name = "gpu", CLT_NOT_CPU_VALUES};
static const clt_cl_profile generic = {.name = "generic", CLT_NOT_CPU_VALUES};

const clt_cl_profile *clt_cl_profile_named(const char *name) {
  const clt_cl_profile *const all[] = {&cpu, &gpu, &generic};
  for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
    if (strcmp(all[i]->name, name) == 0) return all[i];
  return NULL;
}

/* No fast-math: softmax, log and inf masks need IEEE semantics. */
void clt_cl_build_options(const clt_cl_profile *p, char *buf, size_t len) {
  snprintf(buf, len, "-cl-std=CL1.2 -DCLT_PREFETCH=%d -DCLT_ELEM_GPU=%d", p->prefetch,
           p->elem_gpu);
}
