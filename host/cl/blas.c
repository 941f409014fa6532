/* GEMM through CLBlast for the OpenCL backend.
 *
 * CLBlast keeps two process-wide caches: compiled binaries per device name,
 * and cl_program objects keyed by (cl_context, device, precision, routine).
 * Each cached program holds an OpenCL reference to our cl_context, so after
 * clt_cl_close released the context it would stay alive inside the OpenCL
 * runtime, with every CLBlast program built for it, until the process ends.
 * CLBlast's C API offers no way to drop one context's entries (the cache's
 * per-key removal is internal C++), so a context that has called CLBlast
 * clears the whole cache when it is closed: CLBlastClearCache releases the
 * programs and with them the last references to the context. Other live
 * contexts lose only their cached programs; their next GEMM rebuilds them
 * (from POCL's kernel cache on disk: ~0.1 s instead of ~5.5 s cold).
 * tests/test_linear.c (clblast_releases_the_context) retains a context,
 * runs CLBlast on it, destroys it and checks that only its own reference
 * is left.
 */
#include <clblast_c.h>

#include "cl_internal.h"

/* clt_cl_of(ctx)->blas_state is this marker once the context has called CLBlast. */
static char used_marker;

static const char *clblast_name(CLBlastStatusCode s) {
  switch (s) {
#define N(e)                                                                  \
  case e:                                                                     \
    return #e;
    N(CLBlastSuccess) N(CLBlastOpenCLCompilerNotAvailable)
    N(CLBlastTempBufferAllocFailure) N(CLBlastOpenCLOutOfResources)
    N(CLBlastOpenCLOutOfHostMemory) N(CLBlastOpenCLBuildProgramFailure)
    N(CLBlastInvalidValue) N(CLBlastInvalidCommandQueue)
    N(CLBlastInvalidMemObject) N(CLBlastInvalidBinary)
    N(CLBlastInvalidBuildOptions) N(CLBlastInvalidProgram)
    N(CLBlastInvalidProgramExecutable) N(CLBlastInvalidKernelName)
    N(CLBlastInvalidKernelDefinition) N(CLBlastInvalidKernel)
    N(CLBlastInvalidArgIndex) N(CLBlastInvalidArgValue)
    N(CLBlastInvalidArgSize) N(CLBlastInvalidKernelArgs)
    N(CLBlastInvalidLocalNumDimensions) N(CLBlastInvalidLocalThreadsTotal)
    N(CLBlastInvalidLocalThreadsDim) N(CLBlastInvalidGlobalOffset)
    N(CLBlastInvalidEventWaitList) N(CLBlastInvalidEvent)
    N(CLBlastInvalidOperation) N(CLBlastInvalidBufferSize)
    N(CLBlastInvalidGlobalWorkSize) N(CLBlastNotImplemented)
    N(CLBlastInvalidMatrixA) N(CLBlastInvalidMatrixB)
    N(CLBlastInvalidMatrixC) N(CLBlastInvalidVectorX)
    N(CLBlastInvalidVectorY) N(CLBlastInvalidDimension)
    N(CLBlastInvalidLeadDimA) N(CLBlastInvalidLeadDimB)
    N(CLBlastInvalidLeadDimC) N(CLBlastInvalidIncrementX)
    N(CLBlastInvalidIncrementY) N(CLBlastInsufficientMemoryA)
    N(CLBlastInsufficientMemoryB) N(CLBlastInsufficientMemoryC)
    N(CLBlastInsufficientMemoryX) N(CLBlastInsufficientMemoryY)
    N(CLBlastInsufficientMemoryTemp) N(CLBlastInvalidBatchCount)
    N(CLBlastInvalidOverrideKernel) N(CLBlastMissingOverrideParameter)
    N(CLBlastInvalidLocalMemUsage) N(CLBlastNoHalfPrecision)
    N(CLBlastNoDoublePrecision) N(CLBlastInvalidVectorScalar)
    N(CLBlastInsufficientMemoryScalar) N(CLBlastDatabaseError)
    N(CLBlastUnknownError) N(CLBlastUnexpectedError)
#undef N
  }
  return "CLBlast status unknown";
}

static clt_status clblast_status(CLBlastStatusCode s) {
  switch (s) {
  case CLBlastTempBufferAllocFailure:
  case CLBlastOpenCLOutOfResources:
  case CLBlastOpenCLOutOfHostMemory:
  case CLBlastInvalidBufferSize:
  case CLBlastInsufficientMemoryTemp:
    return CLT_ERR_OUT_OF_MEMORY;
  case CLBlastOpenCLBuildProgramFailure:
  case CLBlastOpenCLCompilerNotAvailable:
    return CLT_ERR_BUILD;
  case CLBlastInvalidDimension:
  case CLBlastInvalidLeadDimA:
  case CLBlastInvalidLeadDimB:
  case CLBlastInvalidLeadDimC:
  case CLBlastInsufficientMemoryA:
  case CLBlastInsufficientMemoryB:
  case CLBlastInsufficientMemoryC:
    return CLT_ERR_SHAPE;
  default:
    return CLT_ERR_OPENCL;
  }
}

clt_status clt_blas_sgemm(clt_context *ctx, bool ta, bool tb, size_t m,
                          size_t n, size_t k, const clt_tensor *A,
                          const clt_tensor *B, float beta, clt_tensor *C) {
  clt_cl_context *cl = clt_cl_of(ctx);
  cl->blas_state = &used_marker;
  cl_event ev = NULL;
  CLBlastStatusCode s = CLBlastSgemm(
      CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
      tb ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, 1.0f,
      A->st->mem, A->offset, A->cols, B->st->mem, B->offset, B->cols, beta,
      C->st->mem, C->offset, C->cols, &cl->queue, clt_cl_event_slot(ctx, &ev));
  if (s != CLBlastSuccess)
    return clt_fail(ctx, clblast_status(s),
                    "CLBlastSgemm(%s%s, m=%zu n=%zu k=%zu) failed: %s (%d)",
                    ta ? "T" : "N", tb ? "T" : "N", m, n, k, clblast_name(s),
                    (int)s);
  clt_cl_timed(ctx, ev, "clblast_sgemm", CLT_TIMING_KERNEL, 0, 0);
  return CLT_OK;
}

void clt_blas_release(clt_context *ctx) {
  clt_cl_context *cl = clt_cl_of(ctx);
  if (!cl->blas_state) return;
  /* Nothing to report to: clt_cl_close cannot fail. A failing clear leaves
     the context alive in the runtime, which the test above would catch. */
  (void)CLBlastClearCache();
  cl->blas_state = NULL;
}
