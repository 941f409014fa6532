/* Losses: value and gradient dS in one pass over the scores S (N,C), with
 * PyTorch's semantics (torch.nn.functional cross_entropy, multi_margin_loss
 * x C, binary_cross_entropy_with_logits, mse_loss, l1_loss, huber_loss,
 * kl_div). Formulas: host/include/cltrain.h; executable specification:
 * host/ref/ref_loss.c.
 *
 * One call is three launches on the in-order queue, all sharing a scratch
 * buffer scr: scr[0..8) info, scr[8..) one partial loss per row or group.
 *   1. clt_loss_check, one work-group: finds the first label outside [0,C)
 *      and the first bad weight, and sums the MEAN denominator of
 *      cross-entropy (the weight of the rows not ignored) in a fixed order.
 *   2. clt_loss_<kind>: if step 1 flagged nothing, writes dS and the
 *      partial losses; otherwise writes nothing (outputs stay untouched).
 *   3. clt_loss_finish, one work-group: sums the partials in a fixed order.
 * The host then reads scr[0..6): 24 bytes.
 */
/* The info slots (CLT_INFO, CLT_I_*) and CLT_NONE: kernels/contract.h. */

/* The uint slots, read and written as uint: a float store of an index's
   bit pattern could be flushed (a denormal) or canonicalized (a NaN). */
#define CLT_INFO_U(scr, slot) (((__global uint *)(scr))[slot])

inline bool clt_loss_bad(__global float *scr) {
  return (CLT_INFO_U(scr, CLT_I_BAD_LABEL) & CLT_INFO_U(scr, CLT_I_BAD_CW) &
          CLT_INFO_U(scr, CLT_I_BAD_PW)) != CLT_NONE;
}

/* Kahan-compensated accumulation. */
inline void clt_kahan(float *s, float *comp, float x) {
  float y = x - *comp, t = *s + y;
  *comp = (t - *s) - y;
  *s = t;
}

/* NaN-propagating sign (OpenCL's sign maps NaN to 0, torch.sign keeps it). */
#define CLT_NSIGN(x) select(sign(x), (x), isnan(x))

/* Weight j of an optional (1,C) tensor. */
#define CLT_W(has, w, off, j) ((has) ? (w)[(off) + (j)] : 1.0f)

inline float clt_hmax8(float8 v) {
  float4 a = fmax(v.lo, v.hi);
  float2 b = fmax(a.lo, a.hi);
  return fmax(b.lo, b.hi);
}
inline float clt_hsum8(float8 v) {
  float4 a = v.lo + v.hi;
  float2 b = a.lo + a.hi;
  return b.lo + b.hi;
}

/* Tree reductions of wg (a power of two) values in tmp, combined by
   COMBINE in a fixed order; all items call them and get the result. */
#define CLT_GROUP_REDUCE(NAME, T, COMBINE)                                    \
  inline T NAME(__local T *tmp, T x) {                                        \
    size_t lid = get_local_id(0), wg = get_local_size(0);                     \
    tmp[lid] = x;                                                             \
    barrier(CLK_LOCAL_MEM_FENCE);                                             \
    for (size_t h = wg / 2; h > 0; h /= 2) {                                  \
      if (lid < h) tmp[lid] = COMBINE(tmp[lid], tmp[lid + h]);                \
      barrier(CLK_LOCAL_MEM_FENCE);                                           \
    }                                                                         \
    T r = tmp[0];                                                             \
    barrier(CLK_LOCAL_MEM_FENCE);                                             \
    return r;                                                                 \
  }
#define CLT_ADD(a, b) ((a) + (b))
CLT_GROUP_REDUCE(clt_group_sum, float, CLT_ADD)
CLT_GROUP_REDUCE(clt_group_min, uint, min)
CLT_GROUP_REDUCE(clt_group_max, float, fmax)

/* This work-item's contiguous block [*b, *e) of m items shared by the
   work-group: contiguous blocks, not a stride of the group size, keep each
   work-item's reads sequential (POCL runs a work-group as a loop over its
   items on one core). */
inline void clt_my_block(size_t m, size_t *b, size_t *e) {
  size_t per = (m + get_local_size(0) - 1) / get_local_size(0);
  *b = min(get_local_id(0) * per, m);
  *e = min(*b + per, m);
}

/* First index j < c with w[j] negative or not finite, CLT_NONE if none;
   *sum: sum of the w[j] (c if absent). One work-group. */
inline uint clt_check_weights(__global const float *w, ulong off, int has,
                              ulong c, float *sum) {
  float s = 0.0f, comp = 0.0f;
  uint bad = CLT_NONE;
  size_t j, end;
  for (clt_my_block(c, &j, &end); j < end; j++) {
    float x = CLT_W(has, w, off, j);
    if (!(x >= 0.0f) || isinf(x)) bad = min(bad, (uint)j);
    clt_kahan(&s, &comp, x);
  }
  *sum = s;
  return bad;
}

/* Rows [i, end) of the labels y: the first row whose label is outside
   [0,c) and not ignored (CLT_NONE if none), and the MEAN denominator: the
   number of rows not ignored, or with class weights the sum of their
   weights. Without weights, sixteen labels at a time and an exact integer
   count (a scalar loop with compensated float sums made this pass, on one
   core, take longer than the loss kernel at C = 10). */
inline uint clt_check_labels(__global const int *y, size_t i, size_t end,
                             int use_ignore, int ignore, ulong c,
                             __global const float *cw, ulong cw_off,
                             int has_cw, float *den) {
  uint bad_row = CLT_NONE, bound = (uint)min(c, (ulong)0x80000000u);
  if (has_cw) {
    float comp = 0.0f;
    for (*den = 0.0f; i < end; i++) {
      int yi = y[i];
      if (use_ignore && yi == ignore) continue;
      if ((uint)yi >= bound) {
        bad_row = min(bad_row, (uint)i);
        continue;
      }
      clt_kahan(den, &comp, cw[cw_off + yi]);
    }
    return bad_row;
  }
  /* Lanes: -1 per counted label; a negative label is a huge uint. */
  int16 cnt16 = 0;
  for (; i + 16 <= end; i += 16) {
    int16 v = vload16(0, y + i);
    int16 ign = use_ignore ? v == (int16)(ignore) : (int16)(0);
    int16 bad = as_int16(as_uint16(v) >= (uint16)(bound)) & ~ign;
    cnt16 += ~(ign | bad) & (int16)(1);
    if (bad_row == CLT_NONE && any(bad))
      for (size_t q = i; bad_row == CLT_NONE; q++)
        if (!(use_ignore && y[q] == ignore) && (uint)y[q] >= bound)
          bad_row = (uint)q;
  }
  int8 c8 = cnt16.lo + cnt16.hi;
  int4 c4 = c8.lo + c8.hi;
  uint cnt = (uint)(c4.x + c4.y + c4.z + c4.w);
  for (; i < end; i++) {
    int yi = y[i];
    if (use_ignore && yi == ignore) continue;
    if ((uint)yi >= bound)
      bad_row = min(bad_row, (uint)i);
    else
      cnt++;
  }
  *den = (float)cnt;
  return bad_row;
}

__kernel void clt_loss_check(__global const int *y, ulong y_off, ulong n,
                             int has_labels, int use_ignore, int ignore,
                             ulong c, __global const float *cw, ulong cw_off,
                             int has_cw, __global const float *pw,
                             ulong pw_off, int has_pw, __global float *scr,
                             __local float *ftmp, __local uint *utmp) {
  float den;
  size_t i, end;
  clt_my_block(has_labels ? n : 0, &i, &end);
  uint bad_row = clt_check_labels(y + y_off, i, end, use_ignore, ignore, c,
                                  cw, cw_off, has_cw, &den);
  float wsum, pwsum;
  uint bad_cw = clt_check_weights(cw, cw_off, has_cw, c, &wsum);
  uint bad_pw = clt_check_weights(pw, pw_off, has_pw, c, &pwsum);
  den = clt_group_sum(ftmp, den);
  wsum = clt_group_sum(ftmp, wsum);
  bad_row = clt_group_min(utmp, bad_row);
  bad_cw = clt_group_min(utmp, bad_cw);
  bad_pw = clt_group_min(utmp, bad_pw);
  if (get_local_id(0) == 0) {
    scr[CLT_I_DEN] = den;
    scr[CLT_I_WSUM] = wsum;
    CLT_INFO_U(scr, CLT_I_BAD_LABEL) = bad_row;
    CLT_INFO_U(scr, CLT_I_BAD_CW) = bad_cw;
    CLT_INFO_U(scr, CLT_I_BAD_PW) = bad_pw;
  }
}

/* A deferred step's loss and penalty (host/internal.h, clt_loss_slot). */
inline void clt_slot_put(__global float *slot, int has_slot, float loss, float pen) {
  if (!has_slot) return;
  slot[0] = loss;
  slot[1] = pen;
}

/* scr[CLT_I_LOSS] = (sum of the m partials) / div, div = the MEAN
   denominator when use_den. Skipped when checked and step 1 flagged bad
   input (clt_regularize, which has no step 1, passes checked = 0). Each
   work-item sums its block in eight compensated lanes. With has_slot,
   slot[0] = the loss (NaN for bad input) and slot[1] = 0 (a deferred
   step's, host/internal.h). */
__kernel void clt_loss_finish(__global float *scr, ulong m, float div,
                              int use_den, int checked, __global float *slot,
                              ulong slot_off, int has_slot,
                              __local float *tmp) {
  /* No early return: POCL 3.1 hung in a work-group that returned from a
     branch holding a work-item test before the group's barriers. */
  bool bad = checked && clt_loss_bad(scr);
  __global const float *part = scr + CLT_INFO;
  size_t k, end;
  clt_my_block(bad ? 0 : m, &k, &end);
  float8 s8 = 0.0f, c8 = 0.0f;
  for (; k + 8 <= end; k += 8) {
    float8 y = vload8(0, part + k) - c8, t = s8 + y;
    c8 = (t - s8) - y;
    s8 = t;
  }
  float s = clt_hsum8(s8) - clt_hsum8(c8), comp = 0.0f;
  for (; k < end; k++) clt_kahan(&s, &comp, part[k]);
  s = clt_group_sum(tmp, s);
  if (get_local_id(0) == 0) {
    if (!bad) scr[CLT_I_LOSS] = s / (use_den ? scr[CLT_I_DEN] : div);
    clt_slot_put(slot + slot_off, has_slot, bad ? NAN : scr[CLT_I_LOSS], 0.0f);
  }
}

/* ------------------------------------------------ row losses: softmax, SVM */

/* Rows are processed by one work-item each, eight lanes at a time
   (explicit vectors are what POCL turns into SIMD code), then a scalar
   tail. */
#define CLT_IOTA8 ((int8)(0, 1, 2, 3, 4, 5, 6, 7))

/* NaN in a row makes the sum of exponentials NaN, so dropping NaN here
   (as fmax does) does not hide it. */
inline float clt_row_max(__global const float *s, size_t c) {
  float8 m8 = (float8)(-INFINITY);
  size_t j = 0;
  for (; j + 8 <= c; j += 8) { /* fmax without its NaN test: 2 ops, not 3 */
    float8 x = vload8(0, s + j);
    m8 = select(m8, x, x > m8);
  }
  float m = clt_hmax8(m8);
  for (; j < c; j++) m = fmax(m, s[j]);
  return m;
}

inline float clt_row_sumexp(__global const float *s, size_t c, float m) {
  float8 z8 = 0.0f;
  size_t j = 0;
  for (; j + 8 <= c; j += 8) z8 += exp(vload8(0, s + j) - m);
  float z = clt_hsum8(z8);
  for (; j < c; j++) z += exp(s[j] - m);
  return z;
}

/* The arguments of every loss kernel, in one order so that the host has
   one launch: T is the labels (TT int) or the targets (TT float); n counts
   rows for the row kernels, elements for the elementwise ones; prm, iprm:
   the kind's hyper-parameters; dS = k * gradient, or (use_den) dS =
   gradient / the MEAN denominator of step 1. */
#define CLT_LOSS_PARAMS(TT)                                                   \
  __global const float *S, ulong s_off, __global const TT *T, ulong t_off,    \
      __global float *dS, ulong d_off, int has_dS, ulong n, ulong c,          \
      __global const float *cw, ulong cw_off, int has_cw,                     \
      __global const float *pw, ulong pw_off, int has_pw, float prm,          \
      int iprm, float k, int use_den, __global float *scr

/* Row kernels: s, d = row i of S and dS; leaves the kernel when there is
   no row i or step 1 flagged bad input. */
#define CLT_LOSS_ROW(i, s, d)                                                 \
  size_t i = get_global_id(0);                                                \
  if (i >= n || clt_loss_bad(scr)) return;                                    \
  __global const float *s = S + s_off + i * c;                                \
  __global float *d = dS + d_off + i * c

#define CLT_W8(has, w, off, j)                                                \
  ((has) ? vload8(0, (w) + (off) + (j)) : (float8)(1.0f))

/* Both softmax kernels: lse - x = (m - x) + log z and p = exp(x - m) / z,
   m the row maximum. m - x is exact where it matters, while lse rounded to
   float would lose log z's digits next to logits of 1e4. Pass 2 keeps
   exp(x - m) in dS and pass 3 rescales it there (the row is still in
   cache), so each element costs one exp. */

/* Cross-entropy with labels. Row loss (unscaled):
   (1-eps) w_y (lse - s_y) + eps/C sum_j w_j (lse - s_j);
   dS_j = k [(1-eps) w_y (p_j - [j==y]) + eps/C (wsum p_j - w_j)], k = 1 or
   1/den for MEAN. Ignored rows: loss 0, dS 0, S not read. prm: eps;
   iprm: ignore_index. clt_ce_row: the row loss of a row s with label yi,
   and its dS in d when has_dS; wsum: the class weights' sum (C without
   them). d may be s's row (kernels/sparse.cl): s_y is read before d is
   written. */
inline float clt_ce_row(__global const float *s, __global float *d, int has_dS, size_t c,
                        int yi, float eps, __global const float *cw, ulong cw_off, int has_cw,
                        float wsum, float k) {
  float a = (1.0f - eps) * CLT_W(has_cw, cw, cw_off, yi), b = eps / (float)c;
  float m = clt_row_max(s, c), my = m - s[yi];
  /* Pass 2: z, and sum_j w_j (m - s_j) for the smoothing term. */
  float8 z8 = 0.0f, sm8 = 0.0f;
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    float8 x = vload8(0, s + j), e = exp(x - m);
    z8 += e;
    if (has_dS) vstore8(e, 0, d + j);
    if (eps != 0.0f) sm8 += CLT_W8(has_cw, cw, cw_off, j) * (m - x);
  }
  float z = clt_hsum8(z8), sm = clt_hsum8(sm8);
  for (; j < c; j++) {
    float x = s[j], e = exp(x - m);
    z += e;
    if (has_dS) d[j] = e;
    if (eps != 0.0f) sm += CLT_W(has_cw, cw, cw_off, j) * (m - x);
  }
  float logz = log(z), rz = 1.0f / z;
  float loss = a * (my + logz) + b * (sm + wsum * logz);
  if (!has_dS) return loss;
  /* Pass 3: dS_j = e_j ge - kb w_j from the kept exponentials e_j; the
     label's with the full formula (exactly 0 for p_y = 1). */
  float ge = k * rz * (a + b * wsum), kb = k * b, py = d[yi] * rz;
  if (has_cw && kb != 0.0f) {
    for (j = 0; j + 8 <= c; j += 8)
      vstore8(vload8(0, d + j) * ge - kb * vload8(0, cw + cw_off + j), 0, d + j);
    for (; j < c; j++) d[j] = d[j] * ge - kb * cw[cw_off + j];
  } else {
    for (j = 0; j + 8 <= c; j += 8) vstore8(vload8(0, d + j) * ge - kb, 0, d + j);
    for (; j < c; j++) d[j] = d[j] * ge - kb;
  }
  d[yi] = k * (a * (py - 1.0f) + b * (wsum * py - CLT_W(has_cw, cw, cw_off, yi)));
  return loss;
}

#if !CLT_ELEM_GPU
__kernel void clt_loss_ce(CLT_LOSS_PARAMS(int)) {
  CLT_LOSS_ROW(i, s, d);
  int yi = T[t_off + i];
  if (yi == iprm) {
    for (size_t j = 0; has_dS && j < c; j++) d[j] = 0.0f;
    scr[CLT_INFO + i] = 0.0f;
    return;
  }
  if (use_den) k = 1.0f / scr[CLT_I_DEN];
  scr[CLT_INFO + i] =
      clt_ce_row(s, d, has_dS, c, yi, prm, cw, cw_off, has_cw, scr[CLT_I_WSUM], k);
}
#endif

/* Cross-entropy with soft targets T (N,C), t' = (1-eps) t + eps/C:
   loss sum_j w_j t'_j (lse - s_j); dS_j = k (p_j sum_l w_l t'_l - w_j t'_j).
   prm: eps. */
#if !CLT_ELEM_GPU
__kernel void clt_loss_ce_soft(CLT_LOSS_PARAMS(float)) {
  CLT_LOSS_ROW(i, s, d);
  __global const float *t = T + t_off + i * c;
  float a = 1.0f - prm, b = prm / (float)c;
  float m = clt_row_max(s, c);
  /* Pass 2: z, tw = sum_j w_j t'_j and sum_j w_j t'_j (m - s_j). */
  float8 z8 = 0.0f, tw8 = 0.0f, l8 = 0.0f;
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    float8 x = vload8(0, s + j), e = exp(x - m);
    float8 wt = CLT_W8(has_cw, cw, cw_off, j) * (a * vload8(0, t + j) + b);
    z8 += e;
    tw8 += wt;
    l8 += wt * (m - x);
    if (has_dS) vstore8(e, 0, d + j);
  }
  float z = clt_hsum8(z8), tw = clt_hsum8(tw8), l = clt_hsum8(l8);
  for (; j < c; j++) {
    float x = s[j], e = exp(x - m);
    float wt = CLT_W(has_cw, cw, cw_off, j) * (a * t[j] + b);
    z += e;
    tw += wt;
    l += wt * (m - x);
    if (has_dS) d[j] = e;
  }
  float logz = log(z), rz = 1.0f / z;
  scr[CLT_INFO + i] = l + tw * logz;
  if (!has_dS) return;
  float rztw = rz * tw;
  for (j = 0; j + 8 <= c; j += 8) {
    float8 wt = CLT_W8(has_cw, cw, cw_off, j) * (a * vload8(0, t + j) + b);
    vstore8(k * (vload8(0, d + j) * rztw - wt), 0, d + j);
  }
  for (; j < c; j++) {
    float wt = CLT_W(has_cw, cw, cw_off, j) * (a * t[j] + b);
    d[j] = k * (d[j] * rztw - wt);
  }
}
#endif

/* One term of the hinge below, z = s_j - s_y + margin: its loss added to
   *l (a NaN too), and h'(z) returned. */
inline float clt_hinge_term(float z, int p, float *l) {
  if (z > 0.0f) {
    *l += p == 1 ? z : z * z;
    return p == 1 ? 1.0f : 2.0f * z;
  }
  if (isnan(z)) *l += z;
  return 0.0f;
}

/* Weston-Watkins hinge: loss w_y sum_{j != y} max(0, z_j)^p with
   z_j = s_j - s_y + margin; a term counts only when z_j > 0 (its NaN still
   reaches the loss); dS_j = k w_y h'(z_j), dS_y = -sum of the others.
   prm: margin; iprm: p. clt_hinge_row: the row loss of a row s with label
   yi (w_y times the sum), and its dS in d when has_dS. d may be s's row:
   s_y is read first, every other element before it is written. */
inline float clt_hinge_row(__global const float *s, __global float *d, int has_dS, size_t c,
                           int yi, float margin, int p, float wy, float k) {
  float sy = s[yi], kw = k * wy;
  float8 l8 = 0.0f, n8 = 0.0f;
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    float8 z = vload8(0, s + j) - sy + margin;
    int8 other = CLT_IOTA8 + (int)j != (int8)(yi);
    int8 on = other & (z > 0.0f);
    float8 dz = select((float8)(0.0f), p == 1 ? (float8)(1.0f) : 2.0f * z, on);
    l8 += select(select((float8)(0.0f), p == 1 ? z : z * z, on), z,
                 other & isnan(z));
    n8 += dz;
    if (has_dS) vstore8(kw * dz, 0, d + j);
  }
  float l = clt_hsum8(l8), cnt = clt_hsum8(n8);
  for (; j < c; j++) {
    if (j == (size_t)yi) {
      if (has_dS) d[j] = 0.0f;
      continue;
    }
    float dz = clt_hinge_term(s[j] - sy + margin, p, &l);
    cnt += dz;
    if (has_dS) d[j] = kw * dz;
  }
  if (has_dS) d[yi] = -kw * cnt;
  return wy * l;
}

#if !CLT_ELEM_GPU
__kernel void clt_loss_hinge(CLT_LOSS_PARAMS(int)) {
  CLT_LOSS_ROW(i, s, d);
  int yi = T[t_off + i];
  scr[CLT_INFO + i] =
      clt_hinge_row(s, d, has_dS, c, yi, prm, iprm, CLT_W(has_cw, cw, cw_off, yi), k);
}
#endif

#if CLT_ELEM_GPU
/* GPU profiles: clt_loss_ce, clt_loss_ce_soft and clt_loss_hinge with a
   work-group per row (the host launches one per row), work-item l taking
   classes l, l + G, ... (neighbours read neighbours), the row's maximum
   and sums in fixed trees in local memory, the same formulas. No early
   return with a store before the barriers (clt_loss_finish says why): an
   ignored row runs the sums and writes zeros. */
__kernel void clt_loss_ce(CLT_LOSS_PARAMS(int)) {
  __local float tmp[CLT_ELEM_CHUNK];
  size_t i = get_group_id(0), lid = get_local_id(0), G = get_local_size(0);
  if (i >= n || clt_loss_bad(scr)) return;
  __global const float *s = S + s_off + i * c;
  __global float *d = dS + d_off + i * c;
  int yi = T[t_off + i];
  bool ign = yi == iprm;
  int y = ign ? 0 : yi;
  if (use_den) k = 1.0f / scr[CLT_I_DEN];
  float eps = prm, wsum = scr[CLT_I_WSUM];
  float a = (1.0f - eps) * CLT_W(has_cw, cw, cw_off, y), b = eps / (float)c;
  float m = -INFINITY;
  for (size_t j = lid; j < c; j += G) m = fmax(m, s[j]);
  m = clt_group_max(tmp, m);
  float z = 0.0f, sm = 0.0f;
  for (size_t j = lid; j < c; j += G) {
    float x = s[j];
    z += exp(x - m);
    if (eps != 0.0f) sm += CLT_W(has_cw, cw, cw_off, j) * (m - x);
  }
  z = clt_group_sum(tmp, z);
  sm = clt_group_sum(tmp, sm);
  float logz = log(z), rz = 1.0f / z, ge = k * rz * (a + b * wsum), kb = k * b;
  for (size_t j = lid; has_dS && j < c; j += G) {
    float w = CLT_W(has_cw, cw, cw_off, j), e = exp(s[j] - m), p = e * rz;
    float g = j == (size_t)y ? k * (a * (p - 1.0f) + b * (wsum * p - w)) : e * ge - kb * w;
    d[j] = ign ? 0.0f : g;
  }
  if (lid == 0)
    scr[CLT_INFO + i] = ign ? 0.0f : a * ((m - s[y]) + logz) + b * (sm + wsum * logz);
}

__kernel void clt_loss_ce_soft(CLT_LOSS_PARAMS(float)) {
  __local float tmp[CLT_ELEM_CHUNK];
  size_t i = get_group_id(0), lid = get_local_id(0), G = get_local_size(0);
  if (i >= n || clt_loss_bad(scr)) return;
  __global const float *s = S + s_off + i * c, *t = T + t_off + i * c;
  __global float *d = dS + d_off + i * c;
  float a = 1.0f - prm, b = prm / (float)c;
  float m = -INFINITY;
  for (size_t j = lid; j < c; j += G) m = fmax(m, s[j]);
  m = clt_group_max(tmp, m);
  float z = 0.0f, tw = 0.0f, l = 0.0f;
  for (size_t j = lid; j < c; j += G) {
    float x = s[j], wt = CLT_W(has_cw, cw, cw_off, j) * (a * t[j] + b);
    z += exp(x - m);
    tw += wt;
    l += wt * (m - x);
  }
  z = clt_group_sum(tmp, z);
  tw = clt_group_sum(tmp, tw);
  l = clt_group_sum(tmp, l);
  float rztw = (1.0f / z) * tw;
  for (size_t j = lid; has_dS && j < c; j += G) {
    float wt = CLT_W(has_cw, cw, cw_off, j) * (a * t[j] + b);
    d[j] = k * (exp(s[j] - m) * rztw - wt);
  }
  if (lid == 0) scr[CLT_INFO + i] = l + tw * log(z);
}

__kernel void clt_loss_hinge(CLT_LOSS_PARAMS(int)) {
  __local float tmp[CLT_ELEM_CHUNK];
  size_t i = get_group_id(0), lid = get_local_id(0), G = get_local_size(0);
  if (i >= n || clt_loss_bad(scr)) return;
  __global const float *s = S + s_off + i * c;
  __global float *d = dS + d_off + i * c;
  int yi = T[t_off + i], p = iprm;
  float wy = CLT_W(has_cw, cw, cw_off, yi), sy = s[yi], kw = k * wy;
  float l = 0.0f, cnt = 0.0f;
  for (size_t j = lid; j < c; j += G) {
    if (j == (size_t)yi) continue;
    float dz = clt_hinge_term(s[j] - sy + prm, p, &l);
    cnt += dz;
    if (has_dS) d[j] = kw * dz;
  }
  l = clt_group_sum(tmp, l);
  cnt = clt_group_sum(tmp, cnt);
  if (lid != 0) return;
  if (has_dS) d[yi] = -kw * cnt;
  scr[CLT_INFO + i] = wy * l;
}
#endif

/* Few classes (C < 16): eight rows per work-item, one row per vector lane,
   so that every exp and every per-row sum is an eight-wide operation
   (along a row of 10 there is one vector and two scalar tails: 3x slower
   on POCL). Rows are reached through eight pointers (vector offsets made
   POCL extract lanes on every access, 2x slower). Lanes past the last row
   repeat it; they compute and store the same values, and only real rows
   write a partial. */
#define CLT_GATHER8(p, j)                                                     \
  ((float8)((p)[0][j], (p)[1][j], (p)[2][j], (p)[3][j], (p)[4][j],            \
            (p)[5][j], (p)[6][j], (p)[7][j]))
#define CLT_SCATTER8(p, j, v)                                                 \
  do {                                                                        \
    float8 v_ = (v);                                                          \
    (p)[0][j] = v_.s0, (p)[1][j] = v_.s1, (p)[2][j] = v_.s2;                  \
    (p)[3][j] = v_.s3, (p)[4][j] = v_.s4, (p)[5][j] = v_.s5;                  \
    (p)[6][j] = v_.s6, (p)[7][j] = v_.s7;                                     \
  } while (0)
/* Element y.sq of row q, for each lane q. */
#define CLT_PICK8(p, y)                                                       \
  ((float8)((p)[0][(y).s0], (p)[1][(y).s1], (p)[2][(y).s2], (p)[3][(y).s3],   \
            (p)[4][(y).s4], (p)[5][(y).s5], (p)[6][(y).s6], (p)[7][(y).s7]))

/* Rows i0..i0+7 (clamped to n-1): pointers s, d into S and dS and t into
   T (TT *, rows of ts elements). Leaves the kernel when there is no row i0
   or step 1 flagged bad input. */
#define CLT_LOSS_LANES(i0, s, d, TT, t, ts)                                   \
  size_t i0 = get_global_id(0) * 8;                                           \
  if (i0 >= n || clt_loss_bad(scr)) return;                                   \
  __global const float *s[8];                                                 \
  __global float *d[8];                                                       \
  __global const TT *t[8];                                                    \
  for (size_t q = 0; q < 8; q++) {                                            \
    size_t r = min(i0 + q, (size_t)n - 1);                                    \
    s[q] = S + s_off + r * c;                                                 \
    d[q] = dS + d_off + r * c;                                                \
    t[q] = T + t_off + r * (ts);                                              \
  }
/* The labels of the eight rows. */
#define CLT_LABELS8(t)                                                        \
  ((int8)(*(t)[0], *(t)[1], *(t)[2], *(t)[3], *(t)[4], *(t)[5], *(t)[6],      \
          *(t)[7]))

/* The eight row losses l to their partials. */
inline void clt_lanes_out(__global float *scr, size_t i0, ulong n, float8 l) {
  float v[8];
  vstore8(l, 0, v);
  for (size_t q = 0; q < 8 && i0 + q < n; q++) scr[CLT_INFO + i0 + q] = v[q];
}

/* Class weights of the eight labels. */
inline float8 clt_lanes_weight(__global const float *cw, ulong cw_off,
                               int has_cw, int8 y) {
  if (!has_cw) return 1.0f;
  cw += cw_off;
  return (float8)(cw[y.s0], cw[y.s1], cw[y.s2], cw[y.s3], cw[y.s4], cw[y.s5],
                  cw[y.s6], cw[y.s7]);
}

/* clt_loss_ce with rows as lanes: the eight rows s[q] with labels y, their
   losses returned and their dS in d[q] when has_dS. d[q] may be s[q]:
   every element of s is read before d is written. */
inline float8 clt_ce_lanes(__global const float **s, __global float **d, int has_dS, size_t c,
                           int8 y, int ignore, float eps, __global const float *cw,
                           ulong cw_off, int has_cw, float wsum, float k) {
  int8 ign = y == (int8)(ignore);
  y = select(y, (int8)(0), ign); /* an index even when ignored */
  float b = eps / (float)c;
  float8 a = (1.0f - eps) * clt_lanes_weight(cw, cw_off, has_cw, y);
  /* The columns stay in x: one gather per element, and the exponentials
     replace them. */
  float8 x[CLT_LANES_MAX_C], m = -INFINITY, z = 0.0f, sm = 0.0f;
  for (size_t j = 0; j < c; j++) m = fmax(m, x[j] = CLT_GATHER8(s, j));
  for (size_t j = 0; j < c; j++) {
    if (eps != 0.0f) sm += CLT_W(has_cw, cw, cw_off, j) * (m - x[j]);
    x[j] = exp(x[j] - m);
    z += x[j];
  }
  float8 logz = log(z), rz = 1.0f / z;
  float8 l = a * ((m - CLT_PICK8(s, y)) + logz) + b * (sm + wsum * logz);
  /* dS_j = e_j ge - kb w_j, the label's in full (as clt_loss_ce). */
  float8 ge = k * rz * (a + b * wsum);
  float kb = k * b;
  for (size_t j = 0; has_dS && j < c; j++) {
    float w = CLT_W(has_cw, cw, cw_off, j);
    float8 g = x[j] * ge - kb * w, p = x[j] * rz;
    g = select(g, k * (a * (p - 1.0f) + b * (wsum * p - w)), y == (int8)((int)j));
    CLT_SCATTER8(d, j, select(g, (float8)(0.0f), ign));
  }
  return select(l, (float8)(0.0f), ign);
}

__kernel void clt_loss_ce_lanes(CLT_LOSS_PARAMS(int)) {
  CLT_LOSS_LANES(i0, s, d, int, yp, 1);
  if (use_den) k = 1.0f / scr[CLT_I_DEN];
  clt_lanes_out(scr, i0, n,
                clt_ce_lanes(s, d, has_dS, c, CLT_LABELS8(yp), iprm, prm, cw, cw_off, has_cw,
                             scr[CLT_I_WSUM], k));
}

/* clt_loss_ce_soft with rows as lanes. */
__kernel void clt_loss_ce_soft_lanes(CLT_LOSS_PARAMS(float)) {
  CLT_LOSS_LANES(i0, s, d, float, t, c);
  float a = 1.0f - prm, b = prm / (float)c;
  /* x: the columns, then their exponentials; wt: w_j t'_j. */
  float8 x[CLT_LANES_MAX_C], wt[CLT_LANES_MAX_C], m = -INFINITY;
  for (size_t j = 0; j < c; j++) m = fmax(m, x[j] = CLT_GATHER8(s, j));
  float8 z = 0.0f, tw = 0.0f, l = 0.0f;
  for (size_t j = 0; j < c; j++) {
    wt[j] = CLT_W(has_cw, cw, cw_off, j) * (a * CLT_GATHER8(t, j) + b);
    tw += wt[j];
    l += wt[j] * (m - x[j]);
    x[j] = exp(x[j] - m);
    z += x[j];
  }
  float8 logz = log(z), rztw = tw / z;
  clt_lanes_out(scr, i0, n, l + tw * logz);
  for (size_t j = 0; has_dS && j < c; j++)
    CLT_SCATTER8(d, j, k * (x[j] * rztw - wt[j]));
}

/* clt_loss_hinge with rows as lanes: the eight rows s[q] with labels y
   and weights wy, their losses returned and their dS in d[q] when has_dS.
   d[q] may be s[q]: s_y is read first, every other element before it is
   written. */
inline float8 clt_hinge_lanes(__global const float **s, __global float **d, int has_dS,
                              size_t c, int8 y, float margin, int p, float8 wy, float k) {
  float8 sy = CLT_PICK8(s, y), kw = k * wy, l = 0.0f, cnt = 0.0f;
  for (size_t j = 0; j < c; j++) {
    float8 z = CLT_GATHER8(s, j) - sy + margin;
    int8 other = y != (int8)((int)j), on = other & (z > 0.0f);
    float8 dz = select((float8)(0.0f), p == 1 ? (float8)(1.0f) : 2.0f * z, on);
    l += select(select((float8)(0.0f), p == 1 ? z : z * z, on), z,
                other & isnan(z));
    cnt += dz;
    if (has_dS) CLT_SCATTER8(d, j, kw * dz);
  }
  if (has_dS) {
    float8 gy = -kw * cnt;
    d[0][y.s0] = gy.s0, d[1][y.s1] = gy.s1, d[2][y.s2] = gy.s2;
    d[3][y.s3] = gy.s3, d[4][y.s4] = gy.s4, d[5][y.s5] = gy.s5;
    d[6][y.s6] = gy.s6, d[7][y.s7] = gy.s7;
  }
  return wy * l;
}

__kernel void clt_loss_hinge_lanes(CLT_LOSS_PARAMS(int)) {
  CLT_LOSS_LANES(i0, s, d, int, yp, 1);
  int8 y = CLT_LABELS8(yp);
  clt_lanes_out(scr, i0, n,
                clt_hinge_lanes(s, d, has_dS, c, y, prm, iprm,
                                clt_lanes_weight(cw, cw_off, has_cw, y), k));
}

/* ------------------------------------------------- elementwise losses */

/* One element, for T = float and float8 (one body: select and the
   builtins work on both): returns the loss of score s against target t and
   sets *g to its derivative. pw: pos_weight; prm: huber_delta; flag:
   log_target. */
#define CLT_ELEM_FUNCS(T, IT, SFX)                                            \
  /* 2 atanh(z) for |z| <= 1/3 by its series to z^15: log1p(q) for q in  \
     [0, 1] given z = q / (2 + q), within 4 ulp for normal q, and 2x       \
     faster on POCL than its log1p (whose log costs ~9 exps). */           \
  inline T clt_log1p01##SFX(T z) {                                           \
    T z2 = z * z, p = 1.0f / 15.0f;                                           \
    p = p * z2 + 1.0f / 13.0f;                                                \
    p = p * z2 + 1.0f / 11.0f;                                                \
    p = p * z2 + 1.0f / 9.0f;                                                 \
    p = p * z2 + 1.0f / 7.0f;                                                 \
    p = p * z2 + 1.0f / 5.0f;                                                 \
    p = p * z2 + 1.0f / 3.0f;                                                 \
    return 2.0f * z * (p * z2 + 1.0f);                                        \
  }                                                                           \
  /* log x = e ln 2 + log1p(f) for x = 2^e (1 + f), 1 + f in [sqrt(1/2),   \
     sqrt(2)): log1p(f) = 2 atanh(f / (2 + f)), |f / (2 + f)| < 0.18, by   \
     the series above; ln 2 in two parts. Within 2 ulp (a sweep of 2M     \
     floats from denormals up); t log t 1.3x faster than with POCL's log. \
     Denormals scaled first; log 0 = -inf, log of a negative NaN,         \
     log inf = inf, NaN kept. */                                          \
  inline T clt_log##SFX(T x) {                                               \
    T xs = select(x, x * 0x1p23f, x < 0x1p-126f);                             \
    IT ix = as_##IT(xs);                                                      \
    T m = as_##T((ix & 0x007fffff) | 0x3f800000);                             \
    T e = convert_##T((ix >> 23) & 0xff) -                                    \
          select((T)(127.0f), (T)(150.0f), x < 0x1p-126f);                    \
    T big = select((T)(0.0f), (T)(1.0f), m > 1.41421356f);                    \
    m = m * (1.0f - 0.5f * big);                                              \
    e += big;                                                                 \
    T f = m - 1.0f;                                                           \
    T y = e * 0.693145751953125f +                                            \
          (e * 1.428606765330187045e-06f + clt_log1p01##SFX(f / (2.0f + f)));  \
    y = select(y, (T)(-INFINITY), x == 0.0f);                                 \
    y = select(y, x, isinf(x) | isnan(x));                                    \
    return select(y, (T)(NAN), x < 0.0f);                                     \
  }                                                                           \
  inline T clt_elem_bce##SFX(T s, T t, T pw, float prm, int flag, T *g) {     \
    /* sigmoid(s) and softplus(-s) from one exp(-|s|) and one division:     \
       r = 1 / ((1 + q)(2 + q)) gives 1 / (1 + q) and q / (2 + q). */       \
    T q = exp(-fabs(s)), lw = 1.0f + (pw - 1.0f) * t;                         \
    T r = 1.0f / ((1.0f + q) * (2.0f + q));                                   \
    *g = lw * select(q, (T)(1.0f), s >= 0.0f) * ((2.0f + q) * r) - pw * t;    \
    return (1.0f - t) * s +                                                   \
           lw * (fmax(-s, 0.0f) + clt_log1p01##SFX(q * (1.0f + q) * r));      \
  }                                                                           \
  inline T clt_elem_mse##SFX(T s, T t, T pw, float prm, int flag, T *g) {     \
    T e = s - t;                                                              \
    *g = 2.0f * e;                                                            \
    return e * e;                                                             \
  }                                                                           \
  inline T clt_elem_l1##SFX(T s, T t, T pw, float prm, int flag, T *g) {      \
    T e = s - t;                                                              \
    *g = CLT_NSIGN(e);                                                        \
    return fabs(e);                                                           \
  }                                                                           \
  inline T clt_elem_huber##SFX(T s, T t, T pw, float prm, int flag, T *g) {   \
    T e = s - t, ae = fabs(e);                                                \
    *g = select(prm * CLT_NSIGN(e), e, ae < prm);                             \
    return select(prm * (ae - 0.5f * prm), 0.5f * e * e, ae < prm);           \
  }                                                                           \
  inline T clt_elem_kl##SFX(T s, T t, T pw, float prm, int flag, T *g) {      \
    if (flag) {                                                               \
      T et = exp(t);                                                          \
      *g = -et;                                                               \
      return et * (t - s);                                                    \
    }                                                                         \
    *g = -t;                                                                  \
    return select(t * clt_log##SFX(t), (T)(0.0f), t == 0.0f) - t * s; /* xlogy */ \
  }

CLT_ELEM_FUNCS(float, int, 1)
CLT_ELEM_FUNCS(float8, int8, 8)

/* CPU profiles: each work-item takes CLT_ELEM_CHUNK consecutive elements
   of the flattened (N,C) arrays (n counts elements) and writes one partial
   loss: no barriers (a work-group tree reduction per element made POCL
   50x slower). With a weight, a scalar loop that tracks the column;
   without, eight lanes at a time. dS = k w g. CLT_ELEM_CHUNK:
   kernels/contract.h.
   GPU profiles (CLT_ELEM_GPU, host/cl/cl_profile.c): a work-group per
   chunk, work-item l taking elements l, l + G, ... of it (neighbours read
   neighbours), the group's sum in a fixed tree: partials of the same
   chunks (not the same bits as the CPU bodies'), from
   as many work-items as elements. */
#if CLT_ELEM_GPU
#define CLT_ELEM_KERNEL(NAME)                                                 \
  __kernel void clt_loss_##NAME(CLT_LOSS_PARAMS(float)) {                     \
    __local float tmp[CLT_ELEM_CHUNK];                                        \
    size_t part = get_group_id(0), e0 = part * CLT_ELEM_CHUNK;                \
    if (clt_loss_bad(scr)) return;                                            \
    size_t end = min(e0 + CLT_ELEM_CHUNK, (size_t)n);                         \
    float l = 0.0f, g;                                                        \
    for (size_t e = e0 + get_local_id(0); e < end; e += get_local_size(0)) {  \
      size_t j = e % c;                                                       \
      float w = CLT_W(has_cw, cw, cw_off, j);                                 \
      l += w * clt_elem_##NAME##1(S[s_off + e], T[t_off + e],                 \
                                  CLT_W(has_pw, pw, pw_off, j), prm, iprm,    \
                                  &g);                                        \
      if (has_dS) dS[d_off + e] = k * w * g;                                  \
    }                                                                         \
    l = clt_group_sum(tmp, l);                                                \
    if (get_local_id(0) == 0) scr[CLT_INFO + part] = l;                       \
  }
#else
#define CLT_ELEM_KERNEL(NAME)                                                 \
  __kernel void clt_loss_##NAME(CLT_LOSS_PARAMS(float)) {                     \
    size_t part = get_global_id(0), e = part * CLT_ELEM_CHUNK;                \
    if (e >= n || clt_loss_bad(scr)) return;                                  \
    size_t end = min(e + CLT_ELEM_CHUNK, (size_t)n);                          \
    __global const float *s = S + s_off, *t = T + t_off;                      \
    __global float *d = dS + d_off;                                           \
    float l = 0.0f, g;                                                        \
    if (has_cw || has_pw) {                                                   \
      for (size_t j = e % c; e < end; e++, j = j + 1 == c ? 0 : j + 1) {      \
        float w = CLT_W(has_cw, cw, cw_off, j);                               \
        l += w * clt_elem_##NAME##1(s[e], t[e], CLT_W(has_pw, pw, pw_off, j), \
                                    prm, iprm, &g);                           \
        if (has_dS) d[e] = k * w * g;                                         \
      }                                                                       \
    } else {                                                                  \
      float8 l8 = 0.0f, g8;                                                   \
      for (; e + 8 <= end; e += 8) {                                          \
        l8 += clt_elem_##NAME##8(vload8(0, s + e), vload8(0, t + e),          \
                                 (float8)(1.0f), prm, iprm, &g8);             \
        if (has_dS) vstore8(k * g8, 0, d + e);                                \
      }                                                                       \
      for (l = clt_hsum8(l8); e < end; e++) {                                 \
        l += clt_elem_##NAME##1(s[e], t[e], 1.0f, prm, iprm, &g);             \
        if (has_dS) d[e] = k * g;                                             \
      }                                                                       \
    }                                                                         \
    scr[CLT_INFO + part] = l;                                                 \
  }
#endif

CLT_ELEM_KERNEL(bce)
CLT_ELEM_KERNEL(mse)
CLT_ELEM_KERNEL(l1)
CLT_ELEM_KERNEL(huber)
CLT_ELEM_KERNEL(kl)
