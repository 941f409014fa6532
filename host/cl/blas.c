/* GEMM through CLBlast for the OpenCL backend. */
#include "internal.h"

void clt_blas_release(clt_context *ctx) { (void)ctx; }
