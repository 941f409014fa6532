/* Linear scores and gradients on the OpenCL backend: the kernels of
   kernels/linear.cl or CLBlast (clt_linear_path). */
#include "cl_internal.h"

/* Rows per forward work-item for each class-block width (kernels/linear.cl). */
static const size_t fwd_rows[] = {4, 4, 4, 4, 4, 3, 3, 3};
#define DW_STRIP 32 /* columns per backward work-item: 16 * SB */
/* clt_linear_dw_wide's tile: CLT_LIN_DWT_KD rows of dW by DW_WIDE_C
   classes (CLT_LIN_DWT_CW in kernels/linear.cl); it takes C >= DW_WIDE_C,
   where it beats the skinny kernels (POCL, D=784: level at C=64..100, 1.2x
   at 128, 1.4x at 200-256, 2-2.5x at 1000) and needs no ragged class
   block. */
#define DW_WIDE_C 64

/* Class blocks: C in ceil(C/8) blocks of equal width CB <= 8. */
static size_t class_block(size_t C) {
  size_t nb = (C + CLT_LIN_MAX_CB - 1) / CLT_LIN_MAX_CB;
  return (C + nb - 1) / nb;
}

/* Classes per work-item: GROUP_BLOCKS class blocks, at most 128 classes,
   so that the rows of Wt (forward) or the strip of X (dW) a work-group
   reuses stay in L2: at C = 1000 this took the forward from ~30 to ~80-130
   GFLOP/s and dW from ~10 to ~30-50 on POCL (bench_linear). */
#define GROUP_BLOCKS 16
static size_t class_group(size_t C) { return GROUP_BLOCKS * class_block(C); }

/* Rows per block of a deterministic column sum or partial dW: enough
   blocks to keep every core busy, few enough that the partial sums stay a
   few percent of the data (32 rows per class of a group: the partials
   are at most 1/32 of X). */
static size_t row_block(size_t N, size_t C) {
  size_t G = class_group(C) < C ? class_group(C) : C;
  size_t R = 32 * G > 256 ? 32 * G : 256;
  return N < R ? N : R;
}

/* Launches kernel id over a 3-D grid (n0, n1, n2) (clt_cl_launch_grid);
   LAUNCH2 for 2-D grids. */
#define LAUNCH3(ctx, id, n0, n1, n2, ...)                                   \
  CLT_TRY(CLT_LAUNCH_GRID((ctx), (id), (n0), (n1), (n2), __VA_ARGS__))
#define LAUNCH2(ctx, id, n0, n1, ...) LAUNCH3(ctx, id, n0, n1, 1, __VA_ARGS__)

/* Wt (C,D) = W^T into scratch at element offset wt_off. */
static clt_status transpose(clt_context *ctx, const clt_tensor *W, cl_mem dst,
                            cl_ulong wt_off) {
  cl_ulong w_off = W->offset, D = W->rows, C = W->cols;
  LAUNCH2(ctx, CLT_K_linear_transpose, D, C, CLT_ARG(W->st->mem),
          CLT_ARG(w_off), CLT_ARG(D), CLT_ARG(C), CLT_ARG(dst),
          CLT_ARG(wt_off));
  return CLT_OK;
}

/* out (rows/R blocks, cols) = column sums of in over row blocks of R. */
static clt_status colsum(clt_context *ctx, cl_mem in, cl_ulong in_off,
                         cl_ulong rows, cl_ulong cols, cl_ulong R, cl_mem out,
                         cl_ulong out_off) {
  size_t blocks = (rows + R - 1) / R;
  LAUNCH2(ctx, CLT_K_linear_colsum, cols, blocks, CLT_ARG(in),
          CLT_ARG(in_off), CLT_ARG(rows), CLT_ARG(cols), CLT_ARG(R),
          CLT_ARG(out), CLT_ARG(out_off));
  return CLT_OK;
}

clt_status clt_cl_colsum(clt_context *ctx, const clt_tensor *dS,
                         clt_tensor *db) {
  size_t N = dS->rows, C = dS->cols, R = row_block(N, 1);
  size_t blocks = (N + R - 1) / R;
  if (blocks == 1)
    return colsum(ctx, dS->st->mem, dS->offset, N, C, N, db->st->mem,
                  db->offset);
  cl_mem part;
  CLT_TRY(clt_cl_scratch(ctx, blocks * C * sizeof(float), &part));
  CLT_TRY(colsum(ctx, dS->st->mem, dS->offset, N, C, R, part, 0));
  return colsum(ctx, part, 0, blocks, C, blocks, db->st->mem, db->offset);
}

/* AUTO: the kernels up to the profile's linear_kernel_max_c classes,
   CLBlast above (host/cl/cl_profile.c says why for each profile). */
static clt_status use_kernels(clt_context *ctx, size_t C,
                              clt_linear_path path, bool *out) {
  if (path != CLT_LINEAR_AUTO) {
    *out = path == CLT_LINEAR_KERNEL;
    return CLT_OK;
  }
  *out = C <= clt_cl_of(ctx)->profile.linear_kernel_max_c;
  return CLT_OK;
}

/* GPU profiles run the linear kernels for C up to CLT_STEP_MAX_C as the
   GPU step does (kernels/step_gpu.cl): the forward a work-group per row of
   X; dW a work-item per column of X, so a warp reads contiguous runs of
   each row, the block's rows of dS in local memory. */
static bool gpu_shaped(const clt_context *ctx, size_t C) {
  return clt_cl_of(ctx)->profile.step_gpu && C <= CLT_STEP_MAX_C;
}

clt_status clt_cl_linear_forward(clt_context *ctx, const clt_tensor *X,
                                 const clt_tensor *W, const clt_tensor *b,
                                 clt_tensor *S, clt_linear_path path) {
  size_t N = X->rows, D = X->cols, C = W->cols;
  bool kernels = false;
  CLT_TRY(use_kernels(ctx, C, path, &kernels));
  if (!kernels) {
    if (b) {
      cl_ulong b_off = b->offset, s_off = S->offset, n = N, c = C;
      LAUNCH2(ctx, CLT_K_linear_bias_rows, C, N, CLT_ARG(b->st->mem),
              CLT_ARG(b_off), CLT_ARG(S->st->mem), CLT_ARG(s_off), CLT_ARG(n),
              CLT_ARG(c));
    }
    return clt_blas_sgemm(ctx, false, false, N, C, D, X, W, b ? 1.0f : 0.0f,
                          S);
  }
  if (gpu_shaped(ctx, C)) {
    const clt_cl_profile *prof = &clt_cl_of(ctx)->profile;
    /* GPU-shaped: a work-group of the step's row size per row of X
       (kernels/step_gpu.cl), reading W as it is */
    size_t wg;
    CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_linear_fwd_rows, prof->step_row_group, &wg));
    size_t grid = N * wg;
    cl_ulong x_off = X->offset, w_off = W->offset, b_off = b ? b->offset : 0,
             s_off = S->offset, d = D, c = C;
    cl_int has_b = b != NULL;
    cl_mem bmem = b ? b->st->mem : W->st->mem; /* read only with has_b */
    return CLT_LAUNCH(ctx, CLT_K_linear_fwd_rows, 1, &grid, &wg, CLT_ARG(X->st->mem),
                      CLT_ARG(x_off), CLT_ARG(W->st->mem), CLT_ARG(w_off),
                      CLT_ARG(bmem), CLT_ARG(b_off), CLT_ARG(has_b),
                      CLT_ARG(S->st->mem), CLT_ARG(s_off), CLT_ARG(d), CLT_ARG(c),
                      CLT_LOCAL(C * wg * sizeof(float)));
  }
  cl_mem wt;
  CLT_TRY(clt_cl_scratch(ctx, C * D * sizeof(float), &wt));
  CLT_TRY(transpose(ctx, W, wt, 0));
  size_t cb = class_block(C), rb = fwd_rows[cb - 1];
  clt_kid id = (clt_kid)(CLT_K_linear_fwd_c1 + cb - 1);
  cl_ulong x_off = X->offset, zero = 0, b_off = b ? b->offset : 0,
           s_off = S->offset, n = N, d = D, c = C;
  cl_mem bmem = b ? b->st->mem : NULL;
  cl_int has_b = b != NULL;
  cl_ulong g = class_group(C);
  LAUNCH2(ctx, id, (N + rb - 1) / rb, (C + g - 1) / g, CLT_ARG(X->st->mem),
          CLT_ARG(x_off), CLT_ARG(wt), CLT_ARG(zero), CLT_ARG(bmem),
          CLT_ARG(b_off), CLT_ARG(has_b), CLT_ARG(S->st->mem), CLT_ARG(s_off),
          CLT_ARG(n), CLT_ARG(d), CLT_ARG(c), CLT_ARG(g));
  return CLT_OK;
}

/* Rows per block of partial dW. GPU-shaped: clt_cl_gpu_dw_rows. Skinny C: row_block. Wide C (the tiles of
   clt_linear_dw_wide): 512 rows, so that the block's slice of dS that a
   work-group shares (512 x 64 floats, 128 KiB) stays in L2 (POCL at
   N=16384, D=784..3072, C=1000: 256 to 1024 rows within noise of each
   other, 2048 at half speed); more where D*C/(D+C) is larger, so that the
   partial sums never outgrow X and dS together. */
static size_t dw_rows(const clt_context *ctx, size_t N, size_t D, size_t C) {
  if (gpu_shaped(ctx, C)) return clt_cl_gpu_dw_rows(ctx, N, D);
  if (C < DW_WIDE_C) return row_block(N, C);
  size_t R = D * C / (D + C);
  if (R < 512) R = 512;
  return N < R ? N : R;
}

/* dW = X^T dS with the kernels: partial sums over row blocks in scratch at
   element offset part_off (unused with a single block), added in order. */
static clt_status dw_kernels(clt_context *ctx, const clt_tensor *X,
                             const clt_tensor *dS, clt_tensor *dW,
                             cl_mem scratch, cl_ulong part_off) {
  size_t N = X->rows, D = X->cols, C = dS->cols;
  cl_ulong R = dw_rows(ctx, N, D, C), blocks = (N + R - 1) / R;
  cl_mem out = blocks == 1 ? dW->st->mem : scratch;
  cl_ulong out_off = blocks == 1 ? dW->offset : part_off;
  cl_ulong x_off = X->offset, ds_off = dS->offset, n = N, d = D, c = C,
           g = class_group(C);
  if (gpu_shaped(ctx, C)) {
    size_t wd;
    CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_linear_dw_rows, 128, &wd));
    size_t grid[2] = {clt_round_up(D, wd), blocks}, local[2] = {wd, 1};
    CLT_TRY(CLT_LAUNCH(ctx, CLT_K_linear_dw_rows, 2, grid, local, CLT_ARG(X->st->mem),
                       CLT_ARG(x_off), CLT_ARG(dS->st->mem), CLT_ARG(ds_off), CLT_ARG(out),
                       CLT_ARG(out_off), CLT_ARG(n), CLT_ARG(d), CLT_ARG(c), CLT_ARG(R),
                       CLT_LOCAL(R * C * sizeof(float))));
  } else if (C >= DW_WIDE_C)
    LAUNCH3(ctx, CLT_K_linear_dw_wide, (D + CLT_LIN_DWT_KD - 1) / CLT_LIN_DWT_KD,
            (C + DW_WIDE_C - 1) / DW_WIDE_C, blocks, CLT_ARG(X->st->mem),
            CLT_ARG(x_off), CLT_ARG(dS->st->mem), CLT_ARG(ds_off),
            CLT_ARG(out), CLT_ARG(out_off), CLT_ARG(n), CLT_ARG(d),
            CLT_ARG(c), CLT_ARG(R));
  else
    LAUNCH3(ctx, (clt_kid)(CLT_K_linear_dw_c1 + class_block(C) - 1), (D + DW_STRIP - 1) / DW_STRIP,
            blocks, (C + g - 1) / g, CLT_ARG(X->st->mem), CLT_ARG(x_off),
            CLT_ARG(dS->st->mem), CLT_ARG(ds_off), CLT_ARG(out),
            CLT_ARG(out_off), CLT_ARG(n), CLT_ARG(d), CLT_ARG(c), CLT_ARG(R),
            CLT_ARG(g));
  if (blocks == 1) return CLT_OK;
  return colsum(ctx, scratch, part_off, blocks, D * C, blocks, dW->st->mem,
                dW->offset);
}

/* dX = dS W^T with the kernels; Wt (C,D) in scratch at element offset 0. */
static clt_status dx_kernels(clt_context *ctx, const clt_tensor *W,
                             const clt_tensor *dS, clt_tensor *dX,
                             cl_mem scratch) {
  size_t N = dS->rows, D = W->rows, C = W->cols;
  CLT_TRY(transpose(ctx, W, scratch, 0));
  cl_ulong ds_off = dS->offset, zero = 0, dx_off = dX->offset, n = N, d = D,
           c = C;
  LAUNCH2(ctx, CLT_K_linear_dx, (D + 15) / 16, (N + CLT_LIN_DX_RB - 1) / CLT_LIN_DX_RB,
          CLT_ARG(dS->st->mem), CLT_ARG(ds_off), CLT_ARG(scratch),
          CLT_ARG(zero), CLT_ARG(dX->st->mem), CLT_ARG(dx_off), CLT_ARG(n),
          CLT_ARG(d), CLT_ARG(c));
  return CLT_OK;
}

clt_status clt_cl_linear_backward(clt_context *ctx, const clt_tensor *X,
                                  const clt_tensor *W, const clt_tensor *dS,
                                  clt_tensor *dW, clt_tensor *db,
                                  clt_tensor *dX, clt_linear_path path) {
  size_t N = X->rows, D = X->cols, C = W->cols;
  bool kernels = false;
  CLT_TRY(use_kernels(ctx, C, path, &kernels));
  if (kernels) {
    /* Scratch: Wt (C*D) for dX, then the partial dW blocks. */
    size_t R = dw_rows(ctx, N, D, C), blocks = (N + R - 1) / R;
    size_t wt = dX ? C * D : 0, part = blocks > 1 ? blocks * D * C : 0;
    cl_mem scratch = NULL;
    if (wt + part > 0)
      CLT_TRY(clt_cl_scratch(ctx, (wt + part) * sizeof(float), &scratch));
    if (dX) CLT_TRY(dx_kernels(ctx, W, dS, dX, scratch));
    CLT_TRY(dw_kernels(ctx, X, dS, dW, scratch, wt));
  } else {
    CLT_TRY(clt_blas_sgemm(ctx, true, false, D, C, N, X, dS, 0.0f, dW));
    if (dX) CLT_TRY(clt_blas_sgemm(ctx, false, true, N, D, C, dS, W, 0.0f, dX));
  }
  /* After the products: the column sum may reuse the scratch. */
  return db ? clt_cl_colsum(ctx, dS, db) : CLT_OK;
}
