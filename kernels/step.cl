/* The fused training step of a linear classifier with few classes
 * (C <= CLT_STEP_MAX_C): the loss of S = X W + b against labels y, plus
 * reg(W), and its gradient
 *
 *   dS = k dl/dS (N,C), dW = X^T dS + l1 sign(W) + l2 W (D,C), db = colsum dS
 *
 * for softmax cross-entropy (F.cross_entropy with class weights, label
 * smoothing and ignore_index) and the Weston-Watkins hinge (C x
 * F.multi_margin_loss), with exactly clt_loss's formulas (kernels/loss.cl,
 * reference host/ref/ref_loss.c) and clt_regularize's penalty
 * (kernels/reg.cl). X is read twice and S is never stored. The host
 * (host/fused.c) enqueues, on one scratch buffer scr laid out as clt_loss's
 * (scr[0..8) info, scr[8..8+N) one loss per row), then Wt, dS, partials:
 *
 *   1. clt_step_prep, one work-group: clt_loss_check (the label and
 *      class-weight checks and the MEAN denominator); Wt = W^T for the
 *      float16 loops; the penalty l1 sum|W| + 0.5 l2 sum W^2.
 *   2. clt_step_fwd_c<CB>: RB rows per work-item, their scores accumulated
 *      as in clt_lin_fwd (kernels/linear.cl) but kept in private memory;
 *      then each row's loss and dS, the row's classes as float16 lanes (one
 *      vector exp per 16 classes: scalar exps would cost as much as the
 *      pass over X on POCL).
 *   3. clt_step_dw_c<CB>: partial dW over row blocks by clt_lin_dw, plus
 *      one work-item per block for the block's column sums of dS (db) and
 *      one for the loss: the sum of the row losses over the MEAN divisor.
 *   4. clt_step_finish (skipped when one row block wrote dW and db
 *      directly and there is no regularization): the blocks summed in
 *      order, plus the penalty's gradient.
 * Every kernel leaves at once when step 1 flagged a bad label or weight,
 * so dW and db stay untouched; every sum runs in an order fixed by the
 * shapes. The host reads info[2..8) once (24 bytes).
 */
#define CLT_STEP_MAX_C 32
#define CLT_STEP_I_PEN 6 /* info slot of the penalty */
#define CLT_STEP_I_BAD 7 /* info slot of a bad label or weight */
/* Software prefetch into L2 where the compiler has it (clang on x86:
   prefetcht1); OpenCL's prefetch() is a no-op in POCL 3.1's kernel
   library, and the hardware prefetchers lose track of rows of a few KB
   read a few at a time. */
#if defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define CLT_STEP_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#endif
#endif
#ifndef CLT_STEP_PREFETCH
#define CLT_STEP_PREFETCH(p)
#endif
/* Row blocks ahead that the forward pass prefetches. */
#define CLT_STEP_AHEAD 2
#define CLT_IOTA16                                                            \
  ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* One work-group: clt_loss_check (labels, class weights, denominators),
   then Wt (C,D) at scr + wt_off and the penalty when l1 or l2 is non-zero.
   The value behind a flag goes to info[CLT_STEP_I_BAD]: the bad weight's,
   else the bad label's, so that one read-back can report it. */
__kernel void clt_step_prep(__global const float *W, ulong w_off, ulong D,
                            ulong C, __global const int *y, ulong y_off,
                            ulong n, int use_ignore, int ignore,
                            __global const float *cw, ulong cw_off,
                            int has_cw, float l1, float l2,
                            __global float *scr, ulong wt_off,
                            __local float *ftmp, __local uint *utmp) {
  clt_loss_check(y, y_off, n, 1, use_ignore, ignore, C, cw, cw_off, has_cw,
                 cw, 0, 0, scr, ftmp, utmp);
  float pen = 0.0f, comp = 0.0f;
  bool reg = l1 != 0.0f || l2 != 0.0f;
  size_t i, end;
  for (clt_my_block(D, &i, &end); i < end; i++)
    for (size_t j = 0; j < C; j++) {
      float x = W[w_off + i * C + j];
      scr[wt_off + j * D + i] = x;
      if (reg) clt_kahan(&pen, &comp, l1 * fabs(x) + 0.5f * l2 * x * x);
    }
  pen = clt_group_sum(ftmp, pen);
  if (get_local_id(0) == 0) {
    scr[CLT_STEP_I_PEN] = pen;
    uint row = CLT_INFO_U(scr, CLT_I_BAD_LABEL), j = CLT_INFO_U(scr, CLT_I_BAD_CW);
    if (j != CLT_NONE)
      scr[CLT_STEP_I_BAD] = cw[cw_off + j];
    else if (row != CLT_NONE)
      CLT_INFO_U(scr, CLT_STEP_I_BAD) = (uint)y[y_off + row];
  }
}

inline float clt_step_hmax16(float16 v) {
  float8 a = fmax(v.lo, v.hi);
  float4 b = fmax(a.lo, a.hi);
  float2 c = fmax(b.lo, b.hi);
  return fmax(c.x, c.y);
}

/* Chunk q (16 classes) of an optional (1,C) weight tensor, 1 without one;
   lanes past C are 0. */
inline float16 clt_step_w16(__global const float *w, ulong off, int has,
                            ulong C, size_t q) {
  if (!has) return 1.0f;
  ulong j = 16 * q;
  return j + 16 <= C ? vload16(0, w + off + j) : clt_lin_load_part(w + off + j, C - j);
}

/* Writes the first C - 16 q lanes of v (at most 16) to d[16 q ..). */
inline void clt_step_store(__global float *d, ulong C, size_t q, float16 v) {
  ulong j = 16 * q;
  if (j + 16 <= C) {
    vstore16(v, 0, d + j);
    return;
  }
  float t[16];
  vstore16(v, 0, t);
  for (ulong l = 0; l < C - j; l++) d[j + l] = t[l];
}

/* Cross-entropy of one row with label yi, scores s (chunks of 16 classes,
   lanes past C unused), as clt_loss_ce: returns the row loss (unscaled)
   and writes dS = k * gradient to d (C). eps: label smoothing. */
inline float clt_step_ce_row(float16 *s, int yi, ulong C, float eps,
                             float wsum, float k, __global const float *cw,
                             ulong cw_off, int has_cw, int ignore,
                             __global float *d) {
  size_t nq = (C + 15) / 16;
  if (yi == ignore) {
    for (size_t q = 0; q < nq; q++) clt_step_store(d, C, q, 0.0f);
    return 0.0f;
  }
  float a = (1.0f - eps) * CLT_W(has_cw, cw, cw_off, yi), b = eps / (float)C;
  float16 m16 = -INFINITY;
  for (size_t q = 0; q < nq; q++) {
    int16 valid = CLT_IOTA16 + (int)(16 * q) < (int16)((int)C);
    m16 = fmax(m16, select((float16)(-INFINITY), s[q], valid));
  }
  float m = clt_step_hmax16(m16), sy = 0.0f;
  /* z = sum_j exp(s_j - m) and sm = sum_j w_j (m - s_j); s becomes the
     exponentials (one exp per element). */
  float16 z16 = 0.0f, sm16 = 0.0f;
  for (size_t q = 0; q < nq; q++) {
    int16 valid = CLT_IOTA16 + (int)(16 * q) < (int16)((int)C);
    if ((ulong)yi >= 16 * q && (ulong)yi < 16 * q + 16) {
      float t[16];
      vstore16(s[q], 0, t);
      sy = t[yi - 16 * q];
    }
    if (eps != 0.0f)
      sm16 += select((float16)(0.0f),
                     clt_step_w16(cw, cw_off, has_cw, C, q) * (m - s[q]), valid);
    s[q] = select((float16)(0.0f), exp(s[q] - m), valid);
    z16 += s[q];
  }
  float z = clt_lin_hsum16(z16), logz = log(z), rz = 1.0f / z;
  for (size_t q = 0; q < nq; q++) {
    float16 p = s[q] * rz;
    float16 hot = select((float16)(0.0f), (float16)(1.0f),
                         CLT_IOTA16 + (int)(16 * q) == (int16)(yi));
    float16 w = clt_step_w16(cw, cw_off, has_cw, C, q);
    clt_step_store(d, C, q, k * (a * (p - hot) + b * (wsum * p - w)));
  }
  return a * ((m - sy) + logz) + b * (clt_lin_hsum16(sm16) + wsum * logz);
}

/* Weston-Watkins hinge of one row, as clt_loss_hinge: a term counts when
   z_j = s_j - s_y + margin > 0 (its NaN reaches the loss); dS_j =
   k w_y h'(z_j), dS_y = -(sum of the others). p: 1 or 2. */
inline float clt_step_hinge_row(float16 *s, int yi, ulong C, float margin,
                                int p, float k, __global const float *cw,
                                ulong cw_off, int has_cw, __global float *d) {
  size_t nq = (C + 15) / 16;
  float wy = CLT_W(has_cw, cw, cw_off, yi), kw = k * wy, sy = 0.0f;
  float t[16];
  vstore16(s[yi / 16], 0, t);
  sy = t[yi % 16];
  float16 l16 = 0.0f, n16 = 0.0f, g[CLT_STEP_MAX_C / 16];
  for (size_t q = 0; q < nq; q++) {
    int16 lane = CLT_IOTA16 + (int)(16 * q);
    int16 other = (lane != (int16)(yi)) & (lane < (int16)((int)C));
    float16 z = s[q] - sy + margin;
    int16 on = other & (z > 0.0f);
    float16 dz = select((float16)(0.0f), p == 1 ? (float16)(1.0f) : 2.0f * z, on);
    l16 += select(select((float16)(0.0f), p == 1 ? z : z * z, on), z,
                  other & isnan(z));
    n16 += dz;
    g[q] = kw * dz;
  }
  float cnt = clt_lin_hsum16(n16);
  for (size_t q = 0; q < nq; q++) {
    g[q] = select(g[q], (float16)(-kw * cnt),
                  CLT_IOTA16 + (int)(16 * q) == (int16)(yi));
    clt_step_store(d, C, q, g[q]);
  }
  return wy * clt_lin_hsum16(l16);
}

/* Rows [r0, r0+RB): scores as clt_lin_fwd computes them (rows past N read
   row N-1 and are dropped), then each row's loss into scr[CLT_INFO + i]
   and its dS row into scr + ds_off. hinge: 0 cross-entropy, 1 hinge; prm,
   iprm: smoothing and ignore_index, or margin and p; dS scale k, or 1/den
   (use_den). */
__attribute__((always_inline)) static inline void clt_step_fwd(
    __global const float *X, ulong x_off, __global const float *b,
    ulong b_off, int has_b, __global const int *y, ulong y_off,
    __global const float *cw, ulong cw_off, int has_cw, __global float *scr,
    ulong wt_off, ulong ds_off, ulong N, ulong D, ulong C, int hinge,
    float prm, int iprm, float k, int use_den, const int CB, const int RB) {
  ulong r0 = get_global_id(0) * RB;
  if (r0 >= N || clt_loss_bad(scr)) return;
  __global const float *Wt = scr + wt_off;
  __global const float *x[CLT_LIN_MAX_RB];
#pragma unroll
  for (int r = 0; r < RB; r++) x[r] = X + x_off + min(r0 + r, N - 1) * D;
  ulong ahead = r0 + CLT_STEP_AHEAD * RB;
  __global const float *pf = ahead + RB <= N ? X + x_off + ahead * D : 0;
  /* Scores; the lanes of the last 16-class chunk past C stay 0. */
  float sc[CLT_LIN_MAX_RB][CLT_STEP_MAX_C];
#pragma unroll
  for (int r = 0; r < RB; r++)
    for (ulong j = C & ~(ulong)15; j < CLT_STEP_MAX_C; j++) sc[r][j] = 0.0f;
  ulong dfull = D & ~(ulong)15;
  for (ulong c0 = 0; c0 < C; c0 += CB) {
    __global const float *w[CLT_LIN_MAX_CB];
#pragma unroll
    for (int j = 0; j < CB; j++) w[j] = Wt + min(c0 + j, C - 1) * D;
    float16 acc[CLT_LIN_MAX_RB][CLT_LIN_MAX_CB];
#pragma unroll
    for (int r = 0; r < RB; r++)
#pragma unroll
      for (int j = 0; j < CB; j++) acc[r][j] = 0.0f;
    for (ulong d = 0; d < dfull; d += 16) {
      /* The RB rows CLT_STEP_AHEAD blocks on, contiguous, RB lines per
         step while the first class block streams this block. */
      if (c0 == 0 && pf) { /* unrolled by hand: a loop stayed a loop */
        __global const float *p = pf + RB * d;
        CLT_STEP_PREFETCH(p);
        if (RB > 1) CLT_STEP_PREFETCH(p + 16);
        if (RB > 2) CLT_STEP_PREFETCH(p + 32);
        if (RB > 3) CLT_STEP_PREFETCH(p + 48);
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
#pragma unroll
    for (int r = 0; r < RB; r++)
#pragma unroll
      for (int j = 0; j < CB; j++)
        if (c0 + j < C)
          sc[r][c0 + j] =
              clt_lin_hsum16(acc[r][j]) + (has_b ? b[b_off + c0 + j] : 0.0f);
  }
  if (use_den) k = 1.0f / scr[CLT_I_DEN];
  float wsum = scr[CLT_I_WSUM];
  for (int r = 0; r < RB && r0 + r < N; r++) {
    ulong i = r0 + r;
    float16 s[CLT_STEP_MAX_C / 16];
    for (size_t q = 0; q < (C + 15) / 16; q++) s[q] = vload16(q, sc[r]);
    int yi = y[y_off + i];
    __global float *d = scr + ds_off + i * C;
    scr[CLT_INFO + i] =
        hinge ? clt_step_hinge_row(s, yi, C, prm, iprm, k, cw, cw_off, has_cw, d)
              : clt_step_ce_row(s, yi, C, prm, wsum, k, cw, cw_off, has_cw,
                                iprm, d);
  }
}

/* Partial dW of row block k (clt_lin_dw) for the work-items of dimension
   0 below nstrips; item nstrips: the block's column sums of dS into
   dbp + dbp_off + k*C (has_db); item nstrips + 1 of block 0: the loss,
   (sum of the N row losses) / (div, or the MEAN denominator if use_den),
   into info (compensated: one work-item, but N adds are nothing next to
   the pass over X). */
__attribute__((always_inline)) static inline void clt_step_dw(
    __global const float *X, ulong x_off, __global float *scr, ulong ds_off,
    __global float *out, ulong out_off, __global float *dbp, ulong dbp_off,
    int has_db, ulong N, ulong D, ulong C, ulong R, ulong nstrips, float div,
    int use_den, const int CB, const int SB) {
  if (clt_loss_bad(scr)) return;
  ulong s = get_global_id(0), k = get_global_id(1);
  if (s < nstrips) {
    clt_lin_dw(X, x_off, scr, ds_off, out, out_off, N, D, C, R, C, CB, SB);
  } else if (s == nstrips && has_db && k * R < N) {
    __global const float *g = scr + ds_off;
    ulong n1 = min(N, (k + 1) * R);
    for (ulong j = 0; j < C; j++) {
      float t = 0.0f;
      for (ulong n = k * R; n < n1; n++) t += g[n * C + j];
      dbp[dbp_off + k * C + j] = t;
    }
  } else if (s == nstrips + 1 && k == 0) {
    float sum = 0.0f, comp = 0.0f;
    for (ulong i = 0; i < N; i++) clt_kahan(&sum, &comp, scr[CLT_INFO + i]);
    scr[CLT_I_LOSS] = sum / (use_den ? scr[CLT_I_DEN] : div);
  }
}

#define CLT_STEP_KERNELS(CB, RB, SB)                                          \
  __kernel void clt_step_fwd_c##CB(                                           \
      __global const float *X, ulong x_off, __global const float *b,          \
      ulong b_off, int has_b, __global const int *y, ulong y_off,             \
      __global const float *cw, ulong cw_off, int has_cw,                     \
      __global float *scr, ulong wt_off, ulong ds_off, ulong N, ulong D,      \
      ulong C, int hinge, float prm, int iprm, float k, int use_den) {        \
    clt_step_fwd(X, x_off, b, b_off, has_b, y, y_off, cw, cw_off, has_cw,     \
                 scr, wt_off, ds_off, N, D, C, hinge, prm, iprm, k, use_den,  \
                 CB, RB);                                                     \
  }                                                                           \
  __kernel void clt_step_dw_c##CB(                                            \
      __global const float *X, ulong x_off, __global float *scr,              \
      ulong ds_off, __global float *out, ulong out_off,                       \
      __global float *dbp, ulong dbp_off, int has_db, ulong N, ulong D,       \
      ulong C, ulong R, ulong nstrips, float div, int use_den) {              \
    clt_step_dw(X, x_off, scr, ds_off, out, out_off, dbp, dbp_off, has_db, N, \
                D, C, R, nstrips, div, use_den, CB, SB);                      \
  }

/* The class-block widths and register blockings of kernels/linear.cl. */
CLT_STEP_KERNELS(1, 4, 2)
CLT_STEP_KERNELS(2, 4, 2)
CLT_STEP_KERNELS(3, 4, 2)
CLT_STEP_KERNELS(4, 4, 2)
CLT_STEP_KERNELS(5, 4, 2)
CLT_STEP_KERNELS(6, 3, 2)
CLT_STEP_KERNELS(7, 3, 2)
CLT_STEP_KERNELS(8, 3, 2)

/* dW[j] = sum over the row blocks of part[k*D*C + j] + l1 sign(W[j]) +
   l2 W[j] for j < D*C, sixteen consecutive j per work-item (scalar
   work-items made POCL spend more on the loop than on the sums);
   work-item D*C/16 the ragged end; D*C/16 + 1: db[c] = sum of the blocks of dbp (has_db). */
__kernel void clt_step_finish(__global const float *scr, ulong part_off,
                              ulong dbp_off, ulong blocks, ulong D, ulong C,
                              __global const float *W, ulong w_off, float l1,
                              float l2, __global float *dW, ulong dw_off,
                              __global float *db, ulong db_off, int has_db) {
  ulong j = 16 * get_global_id(0), dc = D * C;
  if (clt_loss_bad((__global float *)scr)) return;
  bool reg = l1 != 0.0f || l2 != 0.0f;
  if (j + 16 <= dc) {
    float16 t = 0.0f;
    for (ulong k = 0; k < blocks; k++) t += vload16(0, scr + part_off + k * dc + j);
    if (reg) {
      float16 w = vload16(0, W + w_off + j);
      t += l1 * CLT_NSIGN(w) + l2 * w;
    }
    vstore16(t, 0, dW + dw_off + j);
    return;
  }
  for (ulong e = j; e < dc; e++) { /* the ragged end */
    float t = 0.0f;
    for (ulong k = 0; k < blocks; k++) t += scr[part_off + k * dc + e];
    if (reg) {
      float w = W[w_off + e];
      t += l1 * CLT_NSIGN(w) + l2 * w;
    }
    dW[dw_off + e] = t;
  }
  if (has_db && get_global_id(0) == dc / 16 + 1)
    for (ulong c = 0; c < C; c++) {
      float t = 0.0f;
      for (ulong k = 0; k < blocks; k++) t += scr[dbp_off + k * C + c];
      db[db_off + c] = t;
    }
}
