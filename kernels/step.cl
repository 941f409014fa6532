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
 * (kernels/reg.cl). S and dS are never stored, and X is read once from
 * memory: each work-item takes a block of rows in chunks of U rows small
 * enough to stay in cache, computes their scores, losses and dS, then adds
 * the chunk's X^T dS into its block's partial dW while the rows are still
 * in cache (a second pass over X would stream it from memory again: on
 * POCL, where reading X is the cost, that is twice the time). The host
 * (host/fused.c) enqueues, on one scratch buffer scr (scr[0..8) info as
 * clt_loss's, then Wt and the per-block partials):
 *
 *   1. clt_step_prep, one work-group: clt_loss_check (the label and
 *      class-weight checks and the MEAN denominator); Wt = W^T for the
 *      float16 loops; the penalty l1 sum|W| + 0.5 l2 sum W^2.
 *   2. clt_step_c<CB>, one work-item per row block: scores accumulated as
 *      in clt_lin_fwd (kernels/linear.cl), each row's loss and dS with the
 *      row's classes as float16 lanes (one vector exp per 16 classes:
 *      scalar exps would cost as much as the pass over X on POCL), and the
 *      block's partial dW (transposed, (C,D)), db and loss.
 *   3. clt_step_finish: the blocks summed in order, plus the penalty's
 *      gradient; the loss over the MEAN divisor.
 * Every kernel leaves at once when step 1 flagged a bad label or weight,
 * so dW and db stay untouched; every sum runs in an order fixed by the
 * shapes. The host reads info[2..8) once (24 bytes).
 */
/* CLT_STEP_MAX_C and the info slots CLT_STEP_I_*: kernels/contract.h. */
#define CLT_IOTA16                                                            \
  ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* The checks of a fused step, by all items of one work-group:
   clt_loss_check (labels, class weights, denominators), then, for indexed
   batches (has_idx: row i is X's row idx[i], and y holds the gathered
   labels), the first i with idx[i] outside [0, src_rows) goes to info's
   pos_weight slot, unused here, so that every kernel stops as for a bad
   label. The value behind a flag goes to info[CLT_STEP_I_BAD]: the bad
   index's, else the bad weight's, else the bad label's, so that one
   read-back can report it. */
inline void clt_step_check(__global const int *y, ulong y_off, ulong n,
                           int use_ignore, int ignore, ulong C,
                           __global const float *cw, ulong cw_off, int has_cw,
                           __global const int *idx, ulong idx_off, int has_idx,
                           ulong src_rows, __global float *scr,
                           __local float *ftmp, __local uint *utmp) {
  clt_loss_check(y, y_off, n, 1, use_ignore, ignore, C, cw, cw_off, has_cw,
                 cw, 0, 0, scr, ftmp, utmp);
  uint bad_idx = CLT_NONE;
  size_t i, end;
  for (clt_my_block(has_idx ? n : 0, &i, &end); i < end; i++) {
    int r = idx[idx_off + i];
    if (r < 0 || (ulong)r >= src_rows) bad_idx = min(bad_idx, (uint)i);
  }
  bad_idx = clt_group_min(utmp, bad_idx);
  if (get_local_id(0) == 0) {
    CLT_INFO_U(scr, CLT_I_BAD_PW) = bad_idx;
    uint row = CLT_INFO_U(scr, CLT_I_BAD_LABEL), j = CLT_INFO_U(scr, CLT_I_BAD_CW);
    if (bad_idx != CLT_NONE)
      CLT_INFO_U(scr, CLT_STEP_I_BAD) = (uint)idx[idx_off + bad_idx];
    else if (j != CLT_NONE)
      scr[CLT_STEP_I_BAD] = cw[cw_off + j];
    else if (row != CLT_NONE)
      CLT_INFO_U(scr, CLT_STEP_I_BAD) = (uint)y[y_off + row];
  }
}

/* One work-group: clt_step_check, then Wt (C,D) at scr + wt_off and the
   penalty when l1 or l2 is non-zero. */
__kernel void clt_step_prep(__global const float *W, ulong w_off, ulong D,
                            ulong C, __global const int *y, ulong y_off,
                            ulong n, int use_ignore, int ignore,
                            __global const float *cw, ulong cw_off,
                            int has_cw, __global const int *idx,
                            ulong idx_off, int has_idx, ulong src_rows,
                            float l1, float l2, __global float *scr,
                            ulong wt_off, __local float *ftmp,
                            __local uint *utmp) {
  clt_step_check(y, y_off, n, use_ignore, ignore, C, cw, cw_off, has_cw, idx,
                 idx_off, has_idx, src_rows, scr, ftmp, utmp);
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
  if (get_local_id(0) == 0) scr[CLT_STEP_I_PEN] = pen;
}

/* Row i of the batch: X's row idx[i] for indexed batches, else row i. */
inline __global const float *clt_step_row(__global const float *X,
                                          __global const int *idx,
                                          int has_idx, ulong i, ulong D) {
  return X + (has_idx ? (ulong)idx[i] : i) * D;
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

/* Cross-entropy of one row with label yi, scores s (chunks of 16 classes,
   lanes past C unused), as clt_loss_ce: returns the row loss (unscaled)
   and sets g to dS = k * gradient (lanes past C 0). eps: label smoothing. */
inline float clt_step_ce_row(float16 *s, int yi, ulong C, float eps,
                             float wsum, float k, __global const float *cw,
                             ulong cw_off, int has_cw, int ignore,
                             float16 *g) {
  size_t nq = (C + 15) / 16;
  if (yi == ignore) {
    for (size_t q = 0; q < nq; q++) g[q] = 0.0f;
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
    int16 valid = CLT_IOTA16 + (int)(16 * q) < (int16)((int)C);
    float16 w = clt_step_w16(cw, cw_off, has_cw, C, q);
    g[q] = select((float16)(0.0f), k * (a * (p - hot) + b * (wsum * p - w)),
                  valid);
  }
  return a * ((m - sy) + logz) + b * (clt_lin_hsum16(sm16) + wsum * logz);
}

/* Weston-Watkins hinge of one row, as clt_loss_hinge: a term counts when
   z_j = s_j - s_y + margin > 0 (its NaN reaches the loss); dS_j =
   k w_y h'(z_j), dS_y = -(sum of the others). p: 1 or 2. */
inline float clt_step_hinge_row(float16 *s, int yi, ulong C, float margin,
                                int p, float k, __global const float *cw,
                                ulong cw_off, int has_cw, float16 *g) {
  size_t nq = (C + 15) / 16;
  float wy = CLT_W(has_cw, cw, cw_off, yi), kw = k * wy, sy = 0.0f;
  float t[16];
  vstore16(s[yi / 16], 0, t);
  sy = t[yi % 16];
  float16 l16 = 0.0f, n16 = 0.0f;
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
  for (size_t q = 0; q < nq; q++)
    g[q] = select(g[q], (float16)(-kw * cnt),
                  CLT_IOTA16 + (int)(16 * q) == (int16)(yi));
  return wy * clt_lin_hsum16(l16);
}

/* Scores of batch rows r0 .. r0+RB (rows from n1 on read row n1-1; their
   scores are dropped by the caller) as clt_lin_fwd accumulates them, plus
   b, into sc[r][0..C); lanes from C to the end of the last 16-class chunk
   are 0. Prefetches batch rows pf .. pf+RB (if pf + RB <= n1) into L2
   while streaming these. X: the tensor's first element. */
__attribute__((always_inline)) static inline void clt_step_scores(
    __global const float *X, __global const int *idx, int has_idx, ulong r0,
    ulong n1, ulong pf, ulong D, __global const float *Wt, ulong C,
    __global const float *b, int has_b,
    float sc[CLT_LIN_MAX_RB][CLT_STEP_MAX_C], const int CB, const int RB) {
  __global const float *x[CLT_LIN_MAX_RB], *p[CLT_LIN_MAX_RB];
  bool ahead = pf + RB <= n1;
#pragma unroll
  for (int r = 0; r < RB; r++) {
    x[r] = clt_step_row(X, idx, has_idx, min(r0 + r, n1 - 1), D);
    p[r] = clt_step_row(X, idx, has_idx, min(pf + r, n1 - 1), D);
    for (ulong j = C & ~(ulong)15; j < CLT_STEP_MAX_C; j++) sc[r][j] = 0.0f;
  }
  for (ulong c0 = 0; c0 < C; c0 += CB) {
    __global const float *w[CLT_LIN_MAX_CB];
#pragma unroll
    for (int j = 0; j < CB; j++) w[j] = Wt + min(c0 + j, C - 1) * D;
    float16 acc[CLT_LIN_MAX_RB][CLT_LIN_MAX_CB];
    clt_lin_dot_tile(x, w, D, p, c0 == 0 && ahead, acc, CB, RB);
#pragma unroll
    for (int r = 0; r < RB; r++)
#pragma unroll
      for (int j = 0; j < CB; j++)
        if (c0 + j < C)
          sc[r][c0 + j] = clt_lin_hsum16(acc[r][j]) + (has_b ? b[c0 + j] : 0.0f);
  }
}

/* o[c Dp ..+16) += sum_u xv[u] ds[u][c] for c < C: 16 columns of the
   chunk's dWt. A macro, not a function: xv must stay in registers. Four
   partial sums break the chain of U dependent FMAs. */
#define CLT_STEP_DWT_ADD(xv, ds, o, Dp, C, U)                                 \
  for (ulong c_ = 0; c_ < (C); c_++) {                                        \
    __global float *oc_ = (o) + c_ * (Dp);                                    \
    float16 a0_ = vload16(0, oc_), a1_ = 0.0f, a2_ = 0.0f, a3_ = 0.0f;        \
    _Pragma("unroll") for (int u_ = 0; u_ < (U); u_ += 4) {                   \
      a0_ = fma(xv[u_], (float16)ds[u_][c_], a0_);                            \
      a1_ = fma(xv[u_ + 1], (float16)ds[u_ + 1][c_], a1_);                    \
      a2_ = fma(xv[u_ + 2], (float16)ds[u_ + 2][c_], a2_);                    \
      a3_ = fma(xv[u_ + 3], (float16)ds[u_ + 3][c_], a3_);                    \
    }                                                                         \
    vstore16((a0_ + a1_) + (a2_ + a3_), 0, oc_);                              \
  }

/* The partial sums of row block k = get_global_id(0), rows
   [k R, min(N, (k+1) R)), in chunks of U = 4 RB rows:
     dWt_k (C, Dp) = sum over the block of dS_i^T x_i, at part + k C Dp
       (Dp: D rounded up to 16, so the ragged end is whole vectors),
     db_k = sum of dS_i at dbp + k CLT_STEP_MAX_C (has_b),
     loss_k = sum of the row losses, compensated, at lp + k.
   hinge: 0 cross-entropy, 1 hinge; prm, iprm: smoothing and ignore_index,
   or margin and p; dS scale k, or 1/den (use_den). */
__attribute__((always_inline)) static inline void clt_step_block(
    __global const float *X, __global const int *idx, int has_idx,
    __global const float *b, int has_b,
    __global const int *y, __global const float *cw, ulong cw_off,
    int has_cw, __global float *scr, __global const float *Wt,
    __global float *part, __global float *dbp, __global float *lp, ulong N,
    ulong D, ulong Dp, ulong C, ulong R, int hinge, float prm, int iprm,
    float ks, int use_den, const int CB, const int RB) {
  const int U = 4 * RB;
  ulong k = get_global_id(0), n0 = k * R;
  if (n0 >= N || clt_loss_bad(scr)) return;
  ulong n1 = min(N, n0 + R);
  __global float *dWt = part + k * C * Dp;
  for (ulong e = 0; e < C * Dp; e += 16) vstore16((float16)(0.0f), 0, dWt + e);
  if (use_den) ks = 1.0f / scr[CLT_I_DEN];
  float wsum = scr[CLT_I_WSUM], lsum = 0.0f, lcomp = 0.0f;
  size_t nq = (C + 15) / 16;
  float16 db16[CLT_STEP_MAX_C / 16] = {0.0f, 0.0f};
  float ds[4 * CLT_LIN_MAX_RB][CLT_STEP_MAX_C]; /* the chunk's dS */
  for (ulong u0 = n0; u0 < n1; u0 += U) {
    for (int gi = 0; gi < 4; gi++) {
      ulong r0 = u0 + gi * RB;
      if (r0 >= n1) {
        for (int r = 0; r < RB; r++)
          for (size_t q = 0; q < nq; q++) vstore16((float16)(0.0f), q, ds[gi * RB + r]);
        continue;
      }
      /* Prefetch one chunk ahead: streamed in while this chunk's dW is
         added up. */
      float sc[CLT_LIN_MAX_RB][CLT_STEP_MAX_C];
      clt_step_scores(X, idx, has_idx, r0, n1, r0 + U, D, Wt, C, b, has_b,
                      sc, CB, RB);
      for (int r = 0; r < RB; r++) {
        float16 s[CLT_STEP_MAX_C / 16], g[CLT_STEP_MAX_C / 16];
        for (size_t q = 0; q < nq; q++) s[q] = vload16(q, sc[r]);
        if (r0 + r < n1) {
          int yi = y[r0 + r];
          float l = hinge ? clt_step_hinge_row(s, yi, C, prm, iprm, ks, cw,
                                               cw_off, has_cw, g)
                          : clt_step_ce_row(s, yi, C, prm, wsum, ks, cw,
                                            cw_off, has_cw, iprm, g);
          clt_kahan(&lsum, &lcomp, l);
        } else {
          for (size_t q = 0; q < nq; q++) g[q] = 0.0f;
        }
        for (size_t q = 0; q < nq; q++) {
          db16[q] += g[q];
          vstore16(g[q], q, ds[gi * RB + r]);
        }
      }
    }
    /* dWt += dS_chunk^T X_chunk, the chunk's rows (clamped; their dS 0)
       still in cache. */
    __global const float *x[4 * CLT_LIN_MAX_RB];
#pragma unroll
    for (int u = 0; u < U; u++) x[u] = clt_step_row(X, idx, has_idx, min(u0 + u, n1 - 1), D);
    ulong dfull = D & ~(ulong)15;
    for (ulong d = 0; d < dfull; d += 16) {
      float16 xv[4 * CLT_LIN_MAX_RB];
#pragma unroll
      for (int u = 0; u < U; u++) xv[u] = vload16(0, x[u] + d);
      CLT_STEP_DWT_ADD(xv, ds, dWt + d, Dp, C, U);
    }
    if (dfull < D) {
      float16 xv[4 * CLT_LIN_MAX_RB];
#pragma unroll
      for (int u = 0; u < U; u++) xv[u] = clt_lin_load_part(x[u] + dfull, D - dfull);
      CLT_STEP_DWT_ADD(xv, ds, dWt + dfull, Dp, C, U);
    }
  }
  for (size_t q = 0; has_b && q < nq; q++)
    vstore16(db16[q], q, dbp + k * CLT_STEP_MAX_C);
  lp[k] = lsum;
}

#define CLT_STEP_KERNEL(CB, RB)                                               \
  __kernel void clt_step_c##CB(                                               \
      __global const float *X, ulong x_off, __global const int *idx,          \
      ulong idx_off, int has_idx, __global const float *b,                    \
      ulong b_off, int has_b, __global const int *y, ulong y_off,             \
      __global const float *cw, ulong cw_off, int has_cw,                     \
      __global float *scr, ulong wt_off, ulong part_off, ulong dbp_off,       \
      ulong lp_off, ulong N, ulong D, ulong Dp, ulong C, ulong R, int hinge,  \
      float prm, int iprm, float k, int use_den) {                            \
    clt_step_block(X + x_off, idx + idx_off, has_idx, b + b_off, has_b,       \
                   y + y_off, cw, cw_off,                                     \
                   has_cw, scr, scr + wt_off, scr + part_off, scr + dbp_off,  \
                   scr + lp_off, N, D, Dp, C, R, hinge, prm, iprm, k,         \
                   use_den, CB, RB);                                          \
  }

/* The class-block widths and rows per score block of kernels/linear.cl. */
CLT_STEP_KERNEL(1, 4)
CLT_STEP_KERNEL(2, 4)
CLT_STEP_KERNEL(3, 4)
CLT_STEP_KERNEL(4, 4)
CLT_STEP_KERNEL(5, 4)
CLT_STEP_KERNEL(6, 3)
CLT_STEP_KERNEL(7, 3)
CLT_STEP_KERNEL(8, 3)

/* Over the blocks k < nb, in order: work-items below ceil(D/16) C take
   class c and 16 consecutive d: dW[d, c] = sum_k dWt_k[c, d] + l1 sign(W)
   + l2 W; the next one db[c] = sum_k db_k[c] (has_db); the next the loss,
   (sum_k loss_k) / (div, or the MEAN denominator if use_den), into info,
   and with has_slot into slot[0] with the penalty (or 0 without with_pen)
   into slot[1] (clt_slot_put). */
__kernel void clt_step_finish(__global float *scr, ulong part_off,
                              ulong dbp_off, ulong lp_off, ulong nb, ulong D,
                              ulong Dp, ulong C, __global const float *W,
                              ulong w_off, float l1, float l2,
                              __global float *dW, ulong dw_off,
                              __global float *db, ulong db_off, int has_db,
                              float div, int use_den, __global float *slot,
                              ulong slot_off, int has_slot, int with_pen) {
  ulong i = get_global_id(0), items = (D + 15) / 16 * C;
  if (clt_loss_bad(scr)) {
    if (i == items + 1) clt_slot_put(slot + slot_off, has_slot, NAN, 0.0f);
    return;
  }
  if (i < items) {
    ulong c = i % C, d0 = 16 * (i / C);
    float16 t = 0.0f;
    for (ulong k = 0; k < nb; k++) t += vload16(0, scr + part_off + (k * C + c) * Dp + d0);
    float v[16];
    vstore16(t, 0, v);
    for (ulong l = 0; l < min((ulong)16, D - d0); l++) {
      ulong e = (d0 + l) * C + c;
      if (l1 != 0.0f || l2 != 0.0f) {
        float w = W[w_off + e];
        v[l] += l1 * CLT_NSIGN(w) + l2 * w;
      }
      dW[dw_off + e] = v[l];
    }
  } else if (i == items && has_db) {
    for (ulong c = 0; c < C; c++) {
      float t = 0.0f;
      for (ulong k = 0; k < nb; k++) t += scr[dbp_off + k * CLT_STEP_MAX_C + c];
      db[db_off + c] = t;
    }
  } else if (i == items + 1) {
    float t = 0.0f, comp = 0.0f;
    for (ulong k = 0; k < nb; k++) clt_kahan(&t, &comp, scr[lp_off + k]);
    scr[CLT_I_LOSS] = t / (use_den ? scr[CLT_I_DEN] : div);
    clt_slot_put(slot + slot_off, has_slot, scr[CLT_I_LOSS],
                  with_pen ? scr[CLT_STEP_I_PEN] : 0.0f);
  }
}
