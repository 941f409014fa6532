/* The fused training step shaped for GPUs: the same problem, formulas and
 * outputs as kernels/step.cl (cross-entropy or hinge, C <= CLT_STEP_MAX_C,
 * rows read through idx, the penalty of l1 and l2), but with the work
 * spread over tens of thousands of work-items whose neighbours read
 * neighbouring addresses, instead of a few CPU threads each streaming a
 * block of rows. The host (host/cl/cl_fused.c) enqueues, on one scratch
 * buffer scr (info, then dS (N,C), the row losses, the partial dW blocks
 * and the penalty partials):
 *
 *   1. clt_gstep_check, one work-group: clt_step_check (labels, class
 *      weights, the MEAN denominator, the indices).
 *   2. clt_gstep_rows, one work-group per row: its work-items stride along
 *      the row with float4 loads (a warp reads 512 contiguous bytes of X),
 *      each keeps a partial score per class, the group adds them in a fixed
 *      tree in local memory, and its first work-item computes the row's
 *      loss and dS with clt_step_ce_row / clt_step_hinge_row (the CPU
 *      step's formulas) into dS and the row losses.
 *   3. clt_gstep_dw, the grid (D, row blocks of R): each work-group stages
 *      its block's rows of dS in local memory and each work-item one
 *      column d of X, so a warp reads a contiguous run of each row:
 *      part_k[d, c] = sum over the block of X[n,d] dS[n,c], in row order.
 *   4. clt_gstep_reduce: each element of dW summed over the blocks by a team
 *      of T work-items (block t, t+T, ...) then a tree of the T, in a fixed
 *      order; plus l1 sign(W) + l2 W; each work-group's penalty terms into
 *      one partial.
 *   5. clt_gstep_total, one work-group: the loss (the row losses over the
 *      MEAN divisor), the penalty, db = the column sums of dS.
 * Every kernel skips its work when step 1 flagged bad input, so dW and db
 * stay untouched; every sum runs in an order fixed by the shapes and the
 * launch geometry, so the same shapes give the same bits. The host reads
 * info once, as for the CPU step, or nothing when the loss goes to a
 * deferred step's slot.
 */

/* The per-class loops run to CLT_STEP_MAX_C, unrolled, with a test against
   C in their body, so that per-class values stay in registers (an array
   indexed at run time lives in memory). Stores go through
   CLT_GSTEP_STORE instead: under POCL 3.1 the unrolled "if (j < C) p[j] =
   acc[j]" wrote past p[C-1] and corrupted the heap. */
#define CLT_GSTEP_CLASSES(j)                                                  \
  _Pragma("unroll") for (int j = 0; j < CLT_STEP_MAX_C; j++)

/* p[j stride] = acc[j] for j < C, through a copy that a plain loop reads. */
#define CLT_GSTEP_STORE(p, stride, acc, C)                                    \
  do {                                                                        \
    float t_[CLT_STEP_MAX_C];                                                 \
    CLT_GSTEP_CLASSES(j_) t_[j_] = (acc)[j_];                                 \
    for (ulong j_ = 0; j_ < (C); j_++) (p)[j_ * (stride)] = t_[j_];           \
  } while (0)

/* One work-group: the checks of kernels/step.cl. */
__kernel void clt_gstep_check(__global const int *y, ulong y_off, ulong n,
                              int use_ignore, int ignore, ulong C,
                              __global const float *cw, ulong cw_off,
                              int has_cw, __global const int *idx,
                              ulong idx_off, int has_idx, ulong src_rows,
                              __global float *scr, __local float *ftmp,
                              __local uint *utmp) {
  clt_step_check(y, y_off, n, use_ignore, ignore, C, cw, cw_off, has_cw, idx,
                 idx_off, has_idx, src_rows, scr, ftmp, utmp);
}

/* The row x's scores x W without the bias (W (D, C), C <= CLT_STEP_MAX_C)
   by the work-group: its work-items stride along the row with float4
   loads, each keeping a partial sum per class, added in a fixed tree in
   red (C x wg floats); on return red[j wg] holds class j's score, for
   every work-item. */
inline void clt_gstep_scores(__global const float *x, __global const float *w, ulong D,
                             ulong C, __local float *red) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  float acc[CLT_STEP_MAX_C];
  CLT_GSTEP_CLASSES(j) acc[j] = 0.0f;
  ulong D4 = D / 4;
  for (ulong q = lid; q < D4; q += wg) {
    float4 xv = vload4(q, x);
    __global const float *w0 = w + 4 * q * C;
    CLT_GSTEP_CLASSES(j) if (j < C) {
      float a = fma(xv.x, w0[j], acc[j]);
      a = fma(xv.y, w0[C + j], a);
      a = fma(xv.z, w0[2 * C + j], a);
      acc[j] = fma(xv.w, w0[3 * C + j], a);
    }
  }
  for (ulong d = 4 * D4 + lid; d < D; d += wg) { /* the ragged end */
    float xd = x[d];
    CLT_GSTEP_CLASSES(j) if (j < C) acc[j] = fma(xd, w[d * C + j], acc[j]);
  }
  CLT_GSTEP_STORE(red + lid, wg, acc, C);
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h)
      for (size_t j = 0; j < C; j++) red[j * wg + lid] += red[j * wg + lid + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
}

/* The GPU profile's skinny forward (clt_linear_forward, C <=
   CLT_STEP_MAX_C): row i = get_group_id(0) of X, S_i = x_i W + b, class j
   written by work-item j (red: C x wg floats). */
__kernel void clt_linear_fwd_rows(__global const float *X, ulong x_off,
                                  __global const float *W, ulong w_off,
                                  __global const float *b, ulong b_off, int has_b,
                                  __global float *S, ulong s_off, ulong D, ulong C,
                                  __local float *red) {
  size_t i = get_group_id(0), lid = get_local_id(0), wg = get_local_size(0);
  clt_gstep_scores(X + x_off + i * D, W + w_off, D, C, red);
  for (size_t j = lid; j < C; j += wg)
    S[s_off + i * C + j] = red[j * wg] + (has_b ? b[b_off + j] : 0.0f);
}

/* Row i = get_group_id(0) of the batch: S_i = x_i W + b (red: C x wg
   floats of local memory), then its loss into lp[i] and k dl/dS into
   dS[i, :]. hinge, prm, iprm, k, use_den as clt_step_block's. */
__kernel void clt_gstep_rows(
    __global const float *X, ulong x_off, __global const int *idx,
    ulong idx_off, int has_idx, __global const float *W, ulong w_off,
    __global const float *b, ulong b_off, int has_b, __global const int *y,
    ulong y_off, __global const float *cw, ulong cw_off, int has_cw,
    __global float *scr, ulong ds_off, ulong lp_off, ulong D, ulong C,
    int hinge, float prm, int iprm, float k, int use_den,
    __local float *red) {
  size_t i = get_group_id(0), lid = get_local_id(0), wg = get_local_size(0);
  if (clt_loss_bad(scr)) return;
  clt_gstep_scores(clt_step_row(X + x_off, idx + idx_off, has_idx, i, D), W + w_off, D, C, red);
  if (lid != 0) return;
  float sc[CLT_STEP_MAX_C];
  for (size_t j = 0; j < CLT_STEP_MAX_C; j++)
    sc[j] = j < C ? red[j * wg] + (has_b ? b[b_off + j] : 0.0f) : 0.0f;
  float16 s[CLT_STEP_MAX_C / 16], g[CLT_STEP_MAX_C / 16];
  size_t nq = (C + 15) / 16;
  for (size_t q = 0; q < nq; q++) s[q] = vload16(q, sc);
  if (use_den) k = 1.0f / scr[CLT_I_DEN];
  int yi = y[y_off + i];
  float l = hinge ? clt_step_hinge_row(s, yi, C, prm, iprm, k, cw, cw_off,
                                       has_cw, g)
                  : clt_step_ce_row(s, yi, C, prm, scr[CLT_I_WSUM], k, cw,
                                    cw_off, has_cw, iprm, g);
  for (size_t q = 0; q < nq; q++) vstore16(g[q], q, sc);
  __global float *d = scr + ds_off + i * C;
  for (size_t j = 0; j < C; j++) d[j] = sc[j];
  scr[lp_off + i] = l;
}

/* Block k = get_group_id(1), rows [k R, min(N, (k+1) R)), column d =
   get_global_id(0): part[(k D + d) C + c] = sum over the block's rows, in
   order, of X[n, d] dS[n, c] (dS: (N,C) rows from ds). lds: R C floats,
   the block's rows of dS. */
inline void clt_gstep_dw_block(__global const float *X, __global const int *idx,
                               int has_idx, __global const float *ds,
                               __global float *part, ulong N, ulong D, ulong C,
                               ulong R, __local float *lds) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  ulong d = get_global_id(0), kb = get_group_id(1), n0 = kb * R;
  ulong rows = min(R, N - n0);
  ds += n0 * C;
  for (size_t e = lid; e < rows * C; e += wg) lds[e] = ds[e];
  barrier(CLK_LOCAL_MEM_FENCE);
  if (d < D) {
    float acc[CLT_STEP_MAX_C];
    CLT_GSTEP_CLASSES(j) acc[j] = 0.0f;
    for (ulong r = 0; r < rows; r++) {
      float xd = clt_step_row(X, idx, has_idx, n0 + r, D)[d];
      __local const float *g = lds + r * C;
      CLT_GSTEP_CLASSES(j) if (j < C) acc[j] = fma(xd, g[j], acc[j]);
    }
    CLT_GSTEP_STORE(part + (kb * D + d) * C, 1, acc, C);
  }
}

/* The step's dS (in scr) against its rows of X. */
__kernel void clt_gstep_dw(__global const float *X, ulong x_off,
                           __global const int *idx, ulong idx_off, int has_idx,
                           __global float *scr, ulong ds_off, ulong part_off,
                           ulong N, ulong D, ulong C, ulong R,
                           __local float *lds) {
  if (clt_loss_bad(scr)) return;
  clt_gstep_dw_block(X + x_off, idx + idx_off, has_idx, scr + ds_off, scr + part_off, N, D,
                     C, R, lds);
}

/* GPU profiles' dW = X^T dS of the composed backward for C up to
   CLT_STEP_MAX_C (host/cl/cl_linear.c): the blocks' partial sums into
   out (the caller adds them in block order), or dW itself for one block. */
__kernel void clt_linear_dw_rows(__global const float *X, ulong x_off,
                                 __global const float *dS, ulong ds_off,
                                 __global float *out, ulong out_off, ulong N,
                                 ulong D, ulong C, ulong R, __local float *lds) {
  /* no index: has_idx 0, so the pointer given for it is never read */
  clt_gstep_dw_block(X + x_off, (__global const int *)X, 0, dS + ds_off, out + out_off, N, D,
                     C, R, lds);
}

/* Element e = get_group_id(0) EL + lid % EL of dW (D C elements), summed
   over the nb blocks by the T = wg / EL work-items of its team (team
   member t takes blocks t, t+T, ... in order), then over the team in a
   fixed tree (red: wg floats); plus l1 sign(W) + l2 W. The work-group's
   penalty terms l1 |w| + 0.5 l2 w^2, added in element order, go to
   pen[get_group_id(0)] (with_pen). */
__kernel void clt_gstep_reduce(__global float *scr, ulong part_off, ulong nb,
                               ulong DC, ulong EL, __global const float *W,
                               ulong w_off, float l1, float l2,
                               __global float *dW, ulong dw_off, int with_pen,
                               ulong pen_off, __local float *red) {
  if (clt_loss_bad(scr)) return;
  size_t lid = get_local_id(0), wg = get_local_size(0), T = wg / EL;
  size_t el = lid % EL, t = lid / EL;
  ulong e = get_group_id(0) * EL + el;
  float s = 0.0f;
  if (e < DC)
    for (ulong kb = t; kb < nb; kb += T) s += scr[part_off + kb * DC + e];
  red[lid] = s;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = T / 2; h > 0; h /= 2) {
    if (t < h) red[lid] += red[lid + h * EL];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  bool reg = l1 != 0.0f || l2 != 0.0f;
  if (t == 0) {
    float v = red[el], p = 0.0f;
    if (e < DC && reg) {
      float w = W[w_off + e];
      v += l1 * CLT_NSIGN(w) + l2 * w;
      p = l1 * fabs(w) + 0.5f * l2 * w * w;
    }
    if (e < DC) dW[dw_off + e] = v;
    red[el] = p;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  if (with_pen && lid == 0) {
    float p = 0.0f;
    for (size_t j = 0; j < EL; j++) p += red[j];
    scr[pen_off + get_group_id(0)] = p;
  }
}

/* One work-group: info[CLT_I_LOSS] = (sum of the n row losses) / (div, or
   the MEAN denominator if use_den); info[CLT_STEP_I_PEN] = the sum of the
   np penalty partials (0 without); both into slot too (has_slot); db[c] =
   sum of dS[:, c] (has_db). */
__kernel void clt_gstep_total(__global float *scr, ulong ds_off, ulong lp_off,
                              ulong n, ulong C, ulong pen_off, ulong np,
                              __global float *db, ulong db_off, int has_db,
                              float div, int use_den, __global float *slot,
                              ulong slot_off, int has_slot,
                              __local float *tmp) {
  /* No early return (clt_loss_finish says why): bad input sums nothing
     and writes only the slot's NaN. */
  bool bad = clt_loss_bad(scr);
  size_t i, end;
  float s = 0.0f, comp = 0.0f;
  for (clt_my_block(bad ? 0 : n, &i, &end); i < end; i++) clt_kahan(&s, &comp, scr[lp_off + i]);
  s = clt_group_sum(tmp, s);
  float p = 0.0f;
  comp = 0.0f;
  for (clt_my_block(bad ? 0 : np, &i, &end); i < end; i++) clt_kahan(&p, &comp, scr[pen_off + i]);
  p = clt_group_sum(tmp, p);
  if (get_local_id(0) == 0) {
    if (!bad) {
      scr[CLT_I_LOSS] = s / (use_den ? scr[CLT_I_DEN] : div);
      scr[CLT_STEP_I_PEN] = p;
    }
    clt_slot_put(slot + slot_off, has_slot, bad ? NAN : scr[CLT_I_LOSS], p);
  }
  for (ulong c = 0; !bad && has_db && c < C; c++) {
    float t = 0.0f;
    for (clt_my_block(n, &i, &end); i < end; i++) t += scr[ds_off + i * C + c];
    t = clt_group_sum(tmp, t);
    if (get_local_id(0) == 0) db[db_off + c] = t;
  }
}
