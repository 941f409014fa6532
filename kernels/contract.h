/* The host-kernel contract: the numbers the kernels (kernels/, .cl) and
   host/cl/ must agree on. cmake/embed_kernels.cmake places this file ahead of the
   kernels, and host/cl/cl_internal.h includes it (with _Static_asserts on
   how the numbers fit together), so both sides compile against the same
   values. Plain #defines, valid OpenCL C and C11. */
#ifndef CLT_CONTRACT_H
#define CLT_CONTRACT_H

/* ---- loss and fused-step scratch: CLT_INFO info floats, then one partial
   per row or group (kernels/loss.cl, kernels/step.cl) */
#define CLT_INFO 8
#define CLT_NONE 0xffffffffu /* "no bad index" in a uint slot */
#define CLT_I_DEN 0          /* MEAN denominator of cross-entropy */
#define CLT_I_WSUM 1         /* sum of the class weights */
#define CLT_I_BAD_LABEL 2    /* uint: first bad row */
#define CLT_I_BAD_CW 3       /* uint: first bad class_weight index */
#define CLT_I_BAD_PW 4       /* uint: first bad pos_weight index (step: bad idx) */
#define CLT_I_LOSS 5         /* the loss (regularize: the penalty) */
#define CLT_STEP_I_PEN 6     /* fused step: the penalty */
#define CLT_STEP_I_BAD 7     /* fused step: the bad label or weight's value */

/* ---- loss kernels */
#define CLT_LANES_MAX_C 15  /* row losses with C <= this: one row per lane */
#define CLT_ELEM_CHUNK 256  /* elements per work-item, elementwise kernels */

/* ---- the fused step: classes it takes at most */
#define CLT_STEP_MAX_C 32

/* ---- optimizer units: one 32-bit word per CLT_OPT_UNIT elements, bits
   0-1 the option bits, 2-10 the elements of the unit in use, 11-31 the
   tensor's index */
#define CLT_OPT_UNIT 256
#define CLT_OPT_NO_WD 1u
#define CLT_OPT_NO_TRUST 2u
#define CLT_OPT_USED_SHIFT 2
#define CLT_OPT_USED_MASK 511u
#define CLT_OPT_SEG_SHIFT 11

/* ---- linear kernels: class-block width, dX rows per work-item, and the
   wide dW tile's rows */
#define CLT_LIN_MAX_CB 8
#define CLT_LIN_DX_RB 4
#define CLT_LIN_DWT_KD 6

#endif /* CLT_CONTRACT_H */
