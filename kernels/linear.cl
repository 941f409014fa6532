/* Linear scores and their gradients.
 *
 *   forward:  S = X W + b             X (N,D), W (D,C), b (1,C), S (N,C)
 *   backward: dW = X^T dS (D,C), db[c] = sum_n dS[n,c] (1,C), dX = dS W^T (N,D)
 *
 * the affine map of torch.nn.functional.linear with weight = W^T
 * (https://pytorch.org/docs/stable/generated/torch.nn.functional.linear.html).
 * The host picks these kernels or CLBlast (host/cl/cl_linear.c). Built for
 * skinny C, where reading X is the whole cost and on POCL only explicit
 * vector types vectorize well (PERF-NOTES.md): rows of X are read as
 * float16, W is used transposed (Wt (C,D), rows contiguous in D), and each
 * work-item keeps CB x RB float16 accumulators in registers so every loaded
 * W vector serves RB rows. CB and RB must be compile-time constants for the
 * accumulators to stay in registers, hence one kernel per class-block width
 * CB = 1..8. Wider C is handled in blocks of CB classes by the same
 * work-item while its rows are still in cache, up to G classes per
 * work-item (a grid dimension covers the groups of G) so that the G rows of
 * Wt a work-group streams stay in L2. For C >= 64, dW has its own kernel,
 * clt_linear_dw_wide: register tiles of outer products over rows, with
 * classes as the vector lanes (see there).
 * Every reduction runs in a fixed order set by the shapes, so results are
 * reproducible.
 */

#define CLT_LIN_MAX_RB 4
#define CLT_LIN_MAX_SB 2

static inline float clt_lin_hsum16(float16 v) {
  float8 a = v.lo + v.hi;
  float4 b = a.lo + a.hi;
  float2 c = b.lo + b.hi;
  return c.x + c.y;
}

/* The first n (< 16) floats at p, zeros after: the ragged end of a row. */
static inline float16 clt_lin_load_part(__global const float *p, ulong n) {
  float t[16];
  for (uint i = 0; i < 16; i++) t[i] = i < n ? p[i] : 0.0f;
  return vload16(0, t);
}

/* Software prefetch into L2 where the device profile asks for it
   (CLT_PREFETCH, host/cl/cl_profile.c: CPUs) and the compiler has it on
   x86 (POCL's clang: prefetcht1); OpenCL's prefetch() is a no-op in POCL
   3.1's kernel library, and the hardware prefetchers lose track of rows of
   a few KB read a few at a time. Nowhere else: NVIDIA's compiler refuses a
   __global pointer for its generic one, and Oclgrind builds the call but
   cannot link llvm.prefetch. */
#if CLT_PREFETCH && defined(__x86_64__) && defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define CLT_LIN_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#endif
#endif
#ifndef CLT_LIN_PREFETCH
#define CLT_LIN_PREFETCH(p)
#endif

/* acc[r][j] = the 16-lane partial sums of x[r] . w[j] over D (whole
   vectors, then the ragged end), for RB rows and CB rows of Wt: each
   loaded W vector serves RB rows (clt_lin_hsum16 finishes the sums). With
   ahead, rows pf[0..RB) are prefetched into L2 while these stream (the
   fused step's next chunk, kernels/step.cl). */
__attribute__((always_inline)) static inline void clt_lin_dot_tile(
    __global const float *x[CLT_LIN_MAX_RB],
    __global const float *w[CLT_LIN_MAX_CB], ulong D,
    __global const float *pf[CLT_LIN_MAX_RB], bool ahead,
    float16 acc[CLT_LIN_MAX_RB][CLT_LIN_MAX_CB], const int CB, const int RB) {
#pragma unroll
  for (int r = 0; r < RB; r++)
#pragma unroll
    for (int j = 0; j < CB; j++) acc[r][j] = 0.0f;
  ulong dfull = D & ~(ulong)15;
  for (ulong d = 0; d < dfull; d += 16) {
    if (ahead) { /* unrolled by hand: a loop stayed a loop */
      CLT_LIN_PREFETCH(pf[0] + d);
      if (RB > 1) CLT_LIN_PREFETCH(pf[1] + d);
      if (RB > 2) CLT_LIN_PREFETCH(pf[2] + d);
      if (RB > 3) CLT_LIN_PREFETCH(pf[3] + d);
    }
    float16 xv[CLT_LIN_MAX_RB];
#pragma unroll
    for (int r = 0; r < RB; r++) xv[r] = vload16(0, x[r] + d);
#pragma unroll
    for (int j = 0; j < CB; j++) {
      float16 wv = vload16(0, w[j] + d);
#pragma unroll
      for (int r = 0; r < RB; r++) acc[r][j] = fma(xv[r], wv, acc[r][j]);
    }
  }
  if (dfull < D) {
    float16 xv[CLT_LIN_MAX_RB];
#pragma unroll
    for (int r = 0; r < RB; r++) xv[r] = clt_lin_load_part(x[r] + dfull, D - dfull);
#pragma unroll
    for (int j = 0; j < CB; j++) {
      float16 wv = clt_lin_load_part(w[j] + dfull, D - dfull);
#pragma unroll
      for (int r = 0; r < RB; r++) acc[r][j] = fma(xv[r], wv, acc[r][j]);
    }
  }
}

/* Rows [r0, r0+RB) of S, classes [g0, g0+G) in blocks of CB. Reads of rows past N
 * are clamped to row N-1 (valid memory, results dropped); classes past C
 * read Wt row C-1 and are dropped the same way. */
__attribute__((always_inline)) static inline void clt_lin_fwd(__global const float *X, ulong x_off,
                 __global const float *Wt, ulong wt_off,
                 __global const float *b, ulong b_off, int has_b,
                 __global float *S, ulong s_off, ulong N, ulong D, ulong C,
                 ulong G, const int CB, const int RB) {
  ulong r0 = get_global_id(0) * RB, g0 = get_global_id(1) * G;
  if (r0 >= N || g0 >= C) return;
  ulong g1 = min(C, g0 + G);
  __global const float *x[CLT_LIN_MAX_RB];
#pragma unroll
  for (int r = 0; r < RB; r++) x[r] = X + x_off + min(r0 + r, N - 1) * D;
  for (ulong c0 = g0; c0 < g1; c0 += CB) {
    __global const float *w[CLT_LIN_MAX_CB];
#pragma unroll
    for (int j = 0; j < CB; j++) w[j] = Wt + wt_off + min(c0 + j, C - 1) * D;
    float16 acc[CLT_LIN_MAX_RB][CLT_LIN_MAX_CB];
    clt_lin_dot_tile(x, w, D, x, false, acc, CB, RB);
#pragma unroll
    for (int r = 0; r < RB; r++)
#pragma unroll
      for (int j = 0; j < CB; j++)
        if (r0 + r < N && c0 + j < C)
          S[s_off + (r0 + r) * C + c0 + j] =
              clt_lin_hsum16(acc[r][j]) + (has_b ? b[b_off + c0 + j] : 0.0f);
  }
}

/* Partial dW over rows [k*R, min(N, (k+1)*R)) for columns
 * [d0, d0 + 16*SB) and classes [g0, g0+G) in blocks of CB:
 * out[(k*D + d)*C + c] = sum_n X[n,d] dS[n,c]. With one row block out is
 * dW itself; otherwise clt_linear_colsum adds the blocks in order. */
__attribute__((always_inline)) static inline void clt_lin_dw(__global const float *X, ulong x_off,
                __global const float *dS, ulong ds_off,
                __global float *out, ulong out_off, ulong N, ulong D, ulong C,
                ulong R, ulong G, const int CB, const int SB) {
  ulong d0 = get_global_id(0) * 16 * SB, k = get_global_id(1);
  ulong n0 = k * R, g0 = get_global_id(2) * G;
  if (d0 >= D || n0 >= N || g0 >= C) return;
  ulong n1 = min(N, n0 + R), g1 = min(C, g0 + G);
  bool full = d0 + 16 * SB <= D;
  for (ulong c0 = g0; c0 < g1; c0 += CB) {
    float16 acc[CLT_LIN_MAX_SB][CLT_LIN_MAX_CB];
#pragma unroll
    for (int s = 0; s < SB; s++)
#pragma unroll
      for (int j = 0; j < CB; j++) acc[s][j] = 0.0f;
    for (ulong n = n0; n < n1; n++) {
      __global const float *xr = X + x_off + n * D + d0;
      __global const float *g = dS + ds_off + n * C;
      float16 xv[CLT_LIN_MAX_SB];
      if (full) {
#pragma unroll
        for (int s = 0; s < SB; s++) xv[s] = vload16(s, xr);
      } else {
#pragma unroll
        for (int s = 0; s < SB; s++) {
          ulong d = d0 + 16 * s;
          xv[s] = d < D ? clt_lin_load_part(xr + 16 * s, min(D - d, (ulong)16))
                        : (float16)0.0f;
        }
      }
#pragma unroll
      for (int j = 0; j < CB; j++) {
        float gj = g[min(c0 + j, C - 1)];
#pragma unroll
        for (int s = 0; s < SB; s++) acc[s][j] = fma(xv[s], (float16)gj, acc[s][j]);
      }
    }
    __global float *o = out + out_off + k * D * C;
#pragma unroll
    for (int s = 0; s < SB; s++) {
      float a[16 * CLT_LIN_MAX_CB];
#pragma unroll
      for (int j = 0; j < CB; j++) vstore16(acc[s][j], j, a);
      ulong d = d0 + 16 * s;
      ulong nd = d < D ? min(D - d, (ulong)16) : 0;
      for (ulong t = 0; t < nd; t++)
#pragma unroll
        for (int j = 0; j < CB; j++)
          if (c0 + j < C) o[(d + t) * C + c0 + j] = a[16 * j + t];
    }
  }
}

#define CLT_LIN_KERNELS(CB, RB, SB)                                           \
  __kernel void clt_linear_fwd_c##CB(                                         \
      __global const float *X, ulong x_off, __global const float *Wt,         \
      ulong wt_off, __global const float *b, ulong b_off, int has_b,          \
      __global float *S, ulong s_off, ulong N, ulong D, ulong C, ulong G) {   \
    clt_lin_fwd(X, x_off, Wt, wt_off, b, b_off, has_b, S, s_off, N, D, C, G,  \
                CB, RB);                                                      \
  }                                                                           \
  __kernel void clt_linear_dw_c##CB(                                          \
      __global const float *X, ulong x_off, __global const float *dS,         \
      ulong ds_off, __global float *out, ulong out_off, ulong N, ulong D,     \
      ulong C, ulong R, ulong G) {                                            \
    clt_lin_dw(X, x_off, dS, ds_off, out, out_off, N, D, C, R, G, CB, SB);    \
  }

/* (CB, RB, SB): RB*CB forward and SB*CB backward accumulators plus the
 * loaded vectors fit the 32 vector registers of AVX-512. */
CLT_LIN_KERNELS(1, 4, 2)
CLT_LIN_KERNELS(2, 4, 2)
CLT_LIN_KERNELS(3, 4, 2)
CLT_LIN_KERNELS(4, 4, 2)
CLT_LIN_KERNELS(5, 4, 2)
CLT_LIN_KERNELS(6, 3, 2)
CLT_LIN_KERNELS(7, 3, 2)
CLT_LIN_KERNELS(8, 3, 2)

/* Wide C: partial dW over rows [k*R, min(N, (k+1)*R)) for a tile of
 * CLT_LIN_DWT_KD rows of dW (columns of X) by CLT_LIN_DWT_CW classes:
 * out[(k*D + d)*C + c] = sum_n X[n,d] dS[n,c]. The tile is KD x M float16
 * accumulators over classes, and each row n adds the outer product of KD
 * scalars X[n, d..d+KD) and M vectors dS[n, c..c+16M): rows of dS are
 * contiguous in C, so nothing is transposed, and each loaded vector serves
 * KD FMAs (6 x 4 = 24 accumulators, 4 loads and 6 broadcasts per 24 FMAs:
 * the inner loop compiles to exactly that on POCL, no spills). The grid is
 * (d tiles, c tiles, row blocks), work-groups along d: consecutive
 * work-items share the block's R x 64 slice of dS, which must stay in L2
 * (R of a few hundred rows: bench_linear). A tile that would cross the
 * edge of D or C is moved back inside (it recomputes part of its
 * neighbour's tile, in the same order) and stores only its own elements;
 * needs C >= CLT_LIN_DWT_CW, and D < KD reads column D-1 for the missing
 * ones. One pass per element, rows in order: reproducible. */
#define CLT_LIN_DWT_M 4
#define CLT_LIN_DWT_CW (16 * CLT_LIN_DWT_M)
__kernel void clt_linear_dw_wide(__global const float *X, ulong x_off,
                                 __global const float *dS, ulong ds_off,
                                 __global float *out, ulong out_off, ulong N,
                                 ulong D, ulong C, ulong R) {
  const int KD = CLT_LIN_DWT_KD, M = CLT_LIN_DWT_M;
  ulong d0 = get_global_id(0) * KD, c0 = get_global_id(1) * CLT_LIN_DWT_CW;
  ulong k = get_global_id(2), n0 = k * R;
  if (d0 >= D || c0 >= C || n0 >= N) return;
  ulong n1 = min(N, n0 + R);
  ulong ds = D >= KD ? min(d0, D - KD) : 0, cs = min(c0, C - CLT_LIN_DWT_CW);
  ulong lastd = D - 1 - ds; /* >= KD - 1 unless D < KD */
  float16 acc[CLT_LIN_DWT_KD][CLT_LIN_DWT_M];
#pragma unroll
  for (int i = 0; i < KD; i++)
#pragma unroll
    for (int j = 0; j < M; j++) acc[i][j] = 0.0f;
  __global const float *x = X + x_off + n0 * D + ds;
  __global const float *g = dS + ds_off + n0 * C + cs;
  for (ulong n = n0; n < n1; n++, x += D, g += C) {
    float16 gv[CLT_LIN_DWT_M];
#pragma unroll
    for (int j = 0; j < M; j++) gv[j] = vload16(j, g);
#pragma unroll
    for (int i = 0; i < KD; i++) {
      float16 xi = (float16)x[min((ulong)i, lastd)];
#pragma unroll
      for (int j = 0; j < M; j++) acc[i][j] = fma(xi, gv[j], acc[i][j]);
    }
  }
  __global float *o = out + out_off + k * D * C;
#pragma unroll
  for (int i = 0; i < KD; i++) {
    ulong d = ds + i;
    if (d < d0 || d >= D) continue;
#pragma unroll
    for (int j = 0; j < M; j++) {
      ulong c = cs + 16 * j;
      if (c >= c0) {
        vstore16(acc[i][j], 0, o + d * C + c);
      } else {
        float a[16];
        vstore16(acc[i][j], 0, a);
        for (ulong t = c0 - c; t < 16; t++) o[d * C + c + t] = a[t];
      }
    }
  }
}

/* Wt[c, d] = W[d, c]: W (D,C) -> Wt (C,D). */
__kernel void clt_linear_transpose(__global const float *W, ulong w_off,
                                   ulong D, ulong C, __global float *Wt,
                                   ulong wt_off) {
  ulong d = get_global_id(0), c = get_global_id(1);
  if (d < D && c < C) Wt[wt_off + c * D + d] = W[w_off + d * C + c];
}

/* dX rows [r0, r0+RB), columns [d0, d0+16): dX[n, d] = sum_c dS[n,c] Wt[c,d],
 * one float16 accumulator per row, classes in a plain loop. */
__kernel void clt_linear_dx(__global const float *dS, ulong ds_off,
                            __global const float *Wt, ulong wt_off,
                            __global float *dX, ulong dx_off, ulong N,
                            ulong D, ulong C) {
  ulong d0 = get_global_id(0) * 16, r0 = get_global_id(1) * CLT_LIN_DX_RB;
  if (d0 >= D || r0 >= N) return;
  ulong nd = min(D - d0, (ulong)16);
  float16 acc[CLT_LIN_DX_RB];
#pragma unroll
  for (int r = 0; r < CLT_LIN_DX_RB; r++) acc[r] = 0.0f;
  for (ulong c = 0; c < C; c++) {
    __global const float *w = Wt + wt_off + c * D + d0;
    float16 wv = nd == 16 ? vload16(0, w) : clt_lin_load_part(w, nd);
#pragma unroll
    for (int r = 0; r < CLT_LIN_DX_RB; r++)
      acc[r] = fma((float16)dS[ds_off + min(r0 + r, N - 1) * C + c], wv, acc[r]);
  }
#pragma unroll
  for (int r = 0; r < CLT_LIN_DX_RB; r++) {
    if (r0 + r >= N) break;
    __global float *o = dX + dx_off + (r0 + r) * D + d0;
    if (nd == 16) {
      vstore16(acc[r], 0, o);
    } else {
      float a[16];
      vstore16(acc[r], 0, a);
      for (ulong t = 0; t < nd; t++) o[t] = a[t];
    }
  }
}

/* out[k*cols + j] = sum of in[n*cols + j] over the rows n of block k,
 * [k*R, min(rows, (k+1)*R)), in row order: column sums in fixed row blocks
 * (db from dS; the blocks of partial dW). */
__kernel void clt_linear_colsum(__global const float *in, ulong in_off,
                                ulong rows, ulong cols, ulong R,
                                __global float *out, ulong out_off) {
  ulong j = get_global_id(0), k = get_global_id(1);
  ulong n0 = k * R;
  if (j >= cols || n0 >= rows) return;
  ulong n1 = min(rows, n0 + R);
  float s = 0.0f;
  for (ulong n = n0; n < n1; n++) s += in[in_off + n * cols + j];
  out[out_off + k * cols + j] = s;
}

/* S[n, c] = b[c]: the bias as the initial value of a GEMM with beta = 1. */
__kernel void clt_linear_bias_rows(__global const float *b, ulong b_off,
                                   __global float *S, ulong s_off, ulong N,
                                   ulong C) {
  ulong c = get_global_id(0), n = get_global_id(1);
  if (c < C && n < N) S[s_off + n * C + c] = b[b_off + c];
}
