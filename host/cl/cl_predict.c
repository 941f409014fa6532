/* Prediction helpers on the OpenCL backend. */
#include "cl_internal.h"

clt_status clt_cl_argmax(clt_context *ctx, const clt_tensor *S,
                         clt_tensor *pred) {
  clt_cl_context *cl = clt_cl_of(ctx);
  cl_ulong s_off = S->offset, n = S->rows, c = S->cols, p_off = pred->offset;
  size_t g = S->rows, l = cl->max_wg < 64 ? cl->max_wg : 64;
  return CLT_LAUNCH(ctx, CLT_K_argmax, 1, &g, &l, CLT_ARG(S->st->mem),
                    CLT_ARG(s_off), CLT_ARG(n), CLT_ARG(c),
                    CLT_ARG(pred->st->mem), CLT_ARG(p_off));
}

/* Fixed launch shape: ACC_GROUPS power-of-two work-groups count strided
   slices of rows, one work-item adds the group counts in order, and the
   host reads back the two totals (correct rows, out-of-range labels). */
#define ACC_GROUPS 64
#define ACC_WG 256

clt_status clt_cl_accuracy(clt_context *ctx, const clt_tensor *S,
                           const clt_tensor *labels, size_t *correct) {
  size_t kmax, wg = 1;
  CLT_TRY(clt_cl_kernel_max_wg(ctx, CLT_K_accuracy_count, &kmax));
  while (wg * 2 <= ACC_WG && wg * 2 <= kmax) wg *= 2;
  cl_mem part;
  CLT_TRY(clt_cl_scratch(ctx, (2 * ACC_GROUPS + 2) * sizeof(cl_ulong), &part));
  cl_ulong s_off = S->offset, l_off = labels->offset, n = S->rows,
           c = S->cols, groups = ACC_GROUPS;
  size_t g1 = wg * ACC_GROUPS, one = 1;
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_accuracy_count, 1, &g1, &wg,
                     CLT_ARG(S->st->mem), CLT_ARG(s_off),
                     CLT_ARG(labels->st->mem), CLT_ARG(l_off), CLT_ARG(n),
                     CLT_ARG(c), CLT_ARG(part),
                     CLT_LOCAL(2 * wg * sizeof(cl_ulong))));
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_accuracy_total, 1, &one, &one, CLT_ARG(part),
                     CLT_ARG(groups)));
  cl_ulong total[2];
  CLT_TRY(clt_cl_read(ctx, part, 2 * ACC_GROUPS * sizeof(cl_ulong),
                      sizeof total, total, NULL));
  if (total[1] > 0)
    return clt_fail(ctx, CLT_ERR_LABEL,
                    "accuracy: %llu labels outside [0, %zu)",
                    (unsigned long long)total[1], S->cols);
  *correct = (size_t)total[0];
  return CLT_OK;
}
