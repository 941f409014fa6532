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
#define CLT_NONE 0xffffffffu
#define CLT_INFO 8          /* partials start here */
#define CLT_I_DEN 0         /* MEAN denominator of cross-entropy */
#define CLT_I_WSUM 1        /* sum of the class weights */
#define CLT_I_BAD_LABEL 2   /* as_uint: first bad row, CLT_NONE if none */
#define CLT_I_BAD_CW 3      /* as_uint: first bad class_weight index */
#define CLT_I_BAD_PW 4      /* as_uint: first bad pos_weight index */
#define CLT_I_LOSS 5

inline bool clt_loss_bad(__global const float *scr) {
  return (as_uint(scr[CLT_I_BAD_LABEL]) & as_uint(scr[CLT_I_BAD_CW]) &
          as_uint(scr[CLT_I_BAD_PW])) != CLT_NONE;
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

/* Tree reduction of wg (a power of two) floats in tmp; all items call it. */
inline float clt_group_sum(__local float *tmp, float x) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  tmp[lid] = x;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h) tmp[lid] += tmp[lid + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = tmp[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

inline uint clt_group_min(__local uint *tmp, uint x) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  tmp[lid] = x;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h) tmp[lid] = min(tmp[lid], tmp[lid + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  uint r = tmp[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* First index j < c with w[j] negative or not finite, CLT_NONE if none;
   *sum: sum of the w[j] (c if absent). One work-group. */
inline uint clt_check_weights(__global const float *w, ulong off, int has,
                              ulong c, float *sum) {
  float s = 0.0f, comp = 0.0f;
  uint bad = CLT_NONE;
  for (size_t j = get_local_id(0); j < c; j += get_local_size(0)) {
    float x = CLT_W(has, w, off, j);
    if (!(x >= 0.0f) || isinf(x)) bad = min(bad, (uint)j);
    clt_kahan(&s, &comp, x);
  }
  *sum = s;
  return bad;
}

__kernel void clt_loss_check(__global const int *y, ulong y_off, ulong n,
                             int has_labels, int use_ignore, int ignore,
                             ulong c, __global const float *cw, ulong cw_off,
                             int has_cw, __global const float *pw,
                             ulong pw_off, int has_pw, __global float *scr,
                             __local float *ftmp, __local uint *utmp) {
  float den = 0.0f, comp = 0.0f;
  uint bad_row = CLT_NONE;
  for (size_t i = get_local_id(0); has_labels && i < n;
       i += get_local_size(0)) {
    int yi = y[y_off + i];
    if (use_ignore && yi == ignore) continue;
    if (yi < 0 || (ulong)yi >= c) {
      bad_row = min(bad_row, (uint)i);
      continue;
    }
    clt_kahan(&den, &comp, CLT_W(has_cw, cw, cw_off, yi));
  }
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
    scr[CLT_I_BAD_LABEL] = as_float(bad_row);
    scr[CLT_I_BAD_CW] = as_float(bad_cw);
    scr[CLT_I_BAD_PW] = as_float(bad_pw);
  }
}

/* scr[CLT_I_LOSS] = (sum of the m partials) / div, div = the MEAN
   denominator when use_den. Skipped when checked and step 1 flagged bad
   input (clt_regularize, which has no step 1, passes checked = 0). */
__kernel void clt_loss_finish(__global float *scr, ulong m, float div,
                              int use_den, int checked, __local float *tmp) {
  if (checked && clt_loss_bad(scr)) return;
  float s = 0.0f, comp = 0.0f;
  for (size_t k = get_local_id(0); k < m; k += get_local_size(0))
    clt_kahan(&s, &comp, scr[CLT_INFO + k]);
  s = clt_group_sum(tmp, s);
  if (get_local_id(0) == 0)
    scr[CLT_I_LOSS] = s / (use_den ? scr[CLT_I_DEN] : div);
}

/* ------------------------------------------------ row losses: softmax, SVM */

/* Rows are processed by one work-item each, eight lanes at a time
   (explicit vectors are what POCL turns into SIMD code), then a scalar
   tail. */
#define CLT_IOTA8 ((int8)(0, 1, 2, 3, 4, 5, 6, 7))

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

/* NaN in a row makes the sum of exponentials NaN, so fmax dropping NaN
   here does not hide it. */
inline float clt_row_max(__global const float *s, size_t c) {
  float8 m8 = (float8)(-INFINITY);
  size_t j = 0;
  for (; j + 8 <= c; j += 8) m8 = fmax(m8, vload8(0, s + j));
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

/* Cross-entropy with labels. Row loss (unscaled):
   (1-eps) w_y (lse - s_y) + eps/C sum_j w_j (lse - s_j);
   dS_j = k [(1-eps) w_y (p_j - [j==y]) + eps/C (wsum p_j - w_j)], k = 1 or
   1/den for MEAN. Ignored rows: loss 0, dS 0, S not read. prm: eps;
   iprm: ignore_index. */
__kernel void clt_loss_ce(CLT_LOSS_PARAMS(int)) {
  CLT_LOSS_ROW(i, s, d);
  int yi = T[t_off + i], ignore = iprm;
  float eps = prm;
  if (yi == ignore) {
    for (size_t j = 0; has_dS && j < c; j++) d[j] = 0.0f;
    scr[CLT_INFO + i] = 0.0f;
    return;
  }
  if (use_den) k = 1.0f / scr[CLT_I_DEN];
  /* lse - x = (m - x) + log z and p = exp(x - m) / z: m - x is exact
     where it matters, while lse rounded to float would lose log z's digits
     next to logits of 1e4. */
  float m = clt_row_max(s, c), z = clt_row_sumexp(s, c, m);
  float logz = log(z), rz = 1.0f / z;
  float wy = CLT_W(has_cw, cw, cw_off, yi), wsum = scr[CLT_I_WSUM];
  float a = (1.0f - eps) * wy, b = eps / (float)c;
  float8 sm8 = 0.0f;
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    float8 x = vload8(0, s + j);
    float8 w = has_cw ? vload8(0, cw + cw_off + j) : (float8)(1.0f);
    sm8 += w * ((m - x) + logz);
    if (has_dS) {
      float8 p = exp(x - m) * rz;
      float8 hot = select((float8)(0.0f), (float8)(1.0f),
                          CLT_IOTA8 + (int)j == (int8)(yi));
      vstore8(k * (a * (p - hot) + b * (wsum * p - w)), 0, d + j);
    }
  }
  float sm = clt_hsum8(sm8);
  for (; j < c; j++) {
    float x = s[j], w = CLT_W(has_cw, cw, cw_off, j);
    sm += w * ((m - x) + logz);
    if (has_dS) {
      float p = exp(x - m) * rz;
      d[j] = k * (a * (p - (j == (size_t)yi ? 1.0f : 0.0f)) + b * (wsum * p - w));
    }
  }
  scr[CLT_INFO + i] = a * ((m - s[yi]) + logz) + b * sm;
}

/* Cross-entropy with soft targets T (N,C), t' = (1-eps) t + eps/C:
   loss sum_j w_j t'_j (lse - s_j); dS_j = k (p_j sum_l w_l t'_l - w_j t'_j).
   prm: eps. */
__kernel void clt_loss_ce_soft(CLT_LOSS_PARAMS(float)) {
  CLT_LOSS_ROW(i, s, d);
  __global const float *t = T + t_off + i * c;
  float eps = prm;
  float a = 1.0f - eps, b = eps / (float)c;
  float m = clt_row_max(s, c);
  float8 z8 = 0.0f, tw8 = 0.0f;
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    float8 w = has_cw ? vload8(0, cw + cw_off + j) : (float8)(1.0f);
    z8 += exp(vload8(0, s + j) - m);
    tw8 += w * (a * vload8(0, t + j) + b);
  }
  float z = clt_hsum8(z8), tw = clt_hsum8(tw8);
  for (; j < c; j++) {
    z += exp(s[j] - m);
    tw += CLT_W(has_cw, cw, cw_off, j) * (a * t[j] + b);
  }
  float logz = log(z), rz = 1.0f / z; /* as in clt_loss_ce */
  float8 l8 = 0.0f;
  for (j = 0; j + 8 <= c; j += 8) {
    float8 x = vload8(0, s + j);
    float8 w = has_cw ? vload8(0, cw + cw_off + j) : (float8)(1.0f);
    float8 wt = w * (a * vload8(0, t + j) + b);
    l8 += wt * ((m - x) + logz);
    if (has_dS) vstore8(k * (exp(x - m) * rz * tw - wt), 0, d + j);
  }
  float l = clt_hsum8(l8);
  for (; j < c; j++) {
    float x = s[j], wt = CLT_W(has_cw, cw, cw_off, j) * (a * t[j] + b);
    l += wt * ((m - x) + logz);
    if (has_dS) d[j] = k * (exp(x - m) * rz * tw - wt);
  }
  scr[CLT_INFO + i] = l;
}

/* Weston-Watkins hinge: loss w_y sum_{j != y} max(0, z_j)^p with
   z_j = s_j - s_y + margin; a term counts only when z_j > 0 (its NaN still
   reaches the loss); dS_j = k w_y h'(z_j), dS_y = -sum of the others.
   prm: margin; iprm: p. */
__kernel void clt_loss_hinge(CLT_LOSS_PARAMS(int)) {
  CLT_LOSS_ROW(i, s, d);
  int yi = T[t_off + i], p = iprm;
  float margin = prm;
  float wy = CLT_W(has_cw, cw, cw_off, yi), sy = s[yi], kw = k * wy;
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
    float z = s[j] - sy + margin, dz = 0.0f;
    if (z > 0.0f) {
      l += p == 1 ? z : z * z;
      dz = p == 1 ? 1.0f : 2.0f * z;
    } else if (isnan(z)) {
      l += z;
    }
    cnt += dz;
    if (has_dS) d[j] = kw * dz;
  }
  if (has_dS) d[yi] = -kw * cnt;
  scr[CLT_INFO + i] = wy * l;
}

/* ------------------------------------------------- elementwise losses */

/* One element: returns the loss of score s against target t and sets *g to
   its derivative. pw: pos_weight of the column; prm: huber_delta; flag:
   log_target. */
inline float clt_elem_bce(float s, float t, float pw, float prm, int flag,
                          float *g) {
  float lw = 1.0f + (pw - 1.0f) * t;
  *g = lw / (1.0f + exp(-s)) - pw * t;
  return (1.0f - t) * s + lw * (fmax(-s, 0.0f) + log1p(exp(-fabs(s))));
}
inline float clt_elem_mse(float s, float t, float pw, float prm, int flag,
                          float *g) {
  float e = s - t;
  *g = 2.0f * e;
  return e * e;
}
inline float clt_elem_l1(float s, float t, float pw, float prm, int flag,
                         float *g) {
  float e = s - t;
  *g = CLT_NSIGN(e);
  return fabs(e);
}
inline float clt_elem_huber(float s, float t, float pw, float prm, int flag,
                            float *g) {
  float e = s - t;
  if (fabs(e) < prm) {
    *g = e;
    return 0.5f * e * e;
  }
  *g = prm * CLT_NSIGN(e);
  return prm * (fabs(e) - 0.5f * prm);
}
inline float clt_elem_kl(float s, float t, float pw, float prm, int flag,
                         float *g) {
  if (flag) {
    float et = exp(t);
    *g = -et;
    return et * (t - s);
  }
  *g = -t;
  return (t == 0.0f ? 0.0f : t * log(t)) - t * s; /* xlogy(t, t) - t s */
}

/* One work-item per element of the flattened (N,C) arrays (n counts
   elements); each work-group of wg <= CLT_ELEM_WG items (a power of two)
   writes one partial loss. The column, for the weights, is only computed
   when a weight is present. dS = k g. prm: huber_delta; iprm: log_target. */
#define CLT_ELEM_WG 256
#define CLT_ELEM_KERNEL(NAME)                                                 \
  __kernel void clt_loss_##NAME(CLT_LOSS_PARAMS(float)) {                     \
    __local float tmp[CLT_ELEM_WG];                                           \
    if (clt_loss_bad(scr)) return;                                            \
    size_t e = get_global_id(0);                                              \
    float l = 0.0f;                                                           \
    if (e < n) {                                                              \
      size_t j = has_cw || has_pw ? e % c : 0;                                \
      float g, w = CLT_W(has_cw, cw, cw_off, j);                              \
      l = w * clt_elem_##NAME(S[s_off + e], T[t_off + e],                     \
                              CLT_W(has_pw, pw, pw_off, j), prm, iprm, &g);   \
      if (has_dS) dS[d_off + e] = k * w * g;                                  \
    }                                                                         \
    l = clt_group_sum(tmp, l);                                                \
    if (get_local_id(0) == 0) scr[CLT_INFO + get_group_id(0)] = l;            \
  }

CLT_ELEM_KERNEL(bce)
CLT_ELEM_KERNEL(mse)
CLT_ELEM_KERNEL(l1)
CLT_ELEM_KERNEL(huber)
CLT_ELEM_KERNEL(kl)
