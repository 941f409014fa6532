/* Optimizer updates with PyTorch's torch.optim semantics. The per-element
 * formulas of every kind are written next to clt_optim_kind in cltrain.h
 * (source: torch/optim/<kind>.py, _single_tensor_<kind>; NAdam as in
 * PyTorch >= 2.0; LARS: You, Gitman, Ginsburg 2017; LAMB: You et al. 2019);
 * host/ref/ref_optim.c is their double-precision specification.
 *
 * One work-item per element, one launch per step: each kernel reads p, g
 * and the state once and writes p and the state once. Scalars that are the
 * same for every element come from the host. The leading arguments
 * (CLT_OPT_HEAD) are shared:
 *   p, p_off / g, g_off  parameters (updated in place) and gradients
 *   aux    [0] skip flag of the non-finite guard, [1] clipping coefficient,
 *          [2] gradient norm, [4 + s] trust ratio of tensor s (1 unless
 *          LARS / LAMB wrote it): written by clt_optim_stats and
 *          clt_optim_ratios, so a step never waits for the host
 *   units  one word per 256-element unit (host/optim_impl.h): option bits,
 *          elements in use, tensor index. A work-group is 1/gpu of a unit,
 *          so everything read from it is uniform over the group.
 *   sgn    -1 with maximize; wd coupled decay (g += wd p); decay decoupled
 *          decay (p *= decay, 1 when unused).
 */
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double clt_opt_acc; /* norms and sums of the reductions */
#define CLT_OPT_TINY 1e-6       /* clip_grad_norm_'s guard */
#else
typedef float clt_opt_acc;
#define CLT_OPT_TINY 1e-6f
#endif

#define CLT_OPT_HEAD                                                          \
  __global float *restrict p, ulong p_off, __global const float *restrict g, \
      ulong g_off, __global const float *restrict aux,                        \
      __global const uint *restrict units, uint gpu, float sgn, float wd,     \
      float decay

/* First elements past this group's part of its tensor (0 when the guard
   says skip). Loaded before any branch so the loads stay uniform. */
inline ulong clt_opt_end(__global const float *aux, uint word, uint gpu) {
  ulong unit = get_group_id(0) / gpu;
  return aux[0] != 0.0f ? 0
                        : unit * gpu * get_local_size(0) + ((word >> 2) & 511u);
}

/* Declares i, word, coef (clipping), ratio (trust ratio) and wd_on for
   this element; returns for elements outside the tensor or when skipping. */
#define CLT_OPT_INDEX                                                         \
  const uint word = units[get_group_id(0) / gpu];                             \
  const ulong end = clt_opt_end(aux, word, gpu);                              \
  const float coef = aux[1];                                                  \
  const float ratio = aux[4 + (word >> 11)];                                  \
  const size_t i = get_global_id(0);                                          \
  if (i >= end) return;                                                       \
  const bool wd_on = (word & 1u) == 0;

/* CLT_OPT_INDEX, then pi (after decoupled decay) and gi (clipped, signed,
   with coupled decay). */
#define CLT_OPT_BEGIN                                                         \
  CLT_OPT_INDEX                                                               \
  float pi = p[p_off + i] * (wd_on ? decay : 1.0f);                           \
  float gi = sgn * (coef * g[g_off + i]);                                     \
  if (wd_on && wd != 0.0f) gi = gi + wd * pi;

/* torch.maximum / torch.amax: NaN wins. */
inline float clt_opt_nan_max(float a, float b) {
  return a >= b || isnan(a) ? a : b;
}

/* SGD and LARS (ratio is LARS's trust ratio, 1 for SGD); buf may be NULL
   when momentum is 0. */
__kernel void clt_optim_sgd(CLT_OPT_HEAD, __global float *restrict buf,
                            float lr, float momentum, float damp1,
                            int nesterov, int first) {
  CLT_OPT_BEGIN
  float d = ratio * gi;
  if (momentum != 0.0f) {
    float b = first ? d : momentum * buf[i] + damp1 * d;
    buf[i] = b;
    d = nesterov ? d + momentum * b : b;
  }
  p[p_off + i] = pi - lr * d;
}

__kernel void clt_optim_adagrad(CLT_OPT_HEAD, __global float *restrict sum,
                                float clr, float eps) {
  CLT_OPT_BEGIN
  float s = sum[i] + gi * gi;
  sum[i] = s;
  p[p_off + i] = pi - clr * (gi / (sqrt(s) + eps));
}

/* buf NULL without momentum, avg NULL unless centered. */
__kernel void clt_optim_rmsprop(CLT_OPT_HEAD, __global float *restrict sq,
                                __global float *restrict buf,
                                __global float *restrict avg, float lr,
                                float alpha, float one_minus_alpha, float eps,
                                float momentum, int centered) {
  CLT_OPT_BEGIN
  float a = alpha * sq[i] + one_minus_alpha * (gi * gi);
  sq[i] = a;
  float den;
  if (centered) {
    float c = alpha * avg[i] + one_minus_alpha * gi;
    avg[i] = c;
    den = sqrt(a - c * c) + eps;
  } else {
    den = sqrt(a) + eps;
  }
  if (momentum > 0.0f) {
    float b = momentum * buf[i] + gi / den;
    buf[i] = b;
    p[p_off + i] = pi - lr * b;
  } else {
    p[p_off + i] = pi - lr * (gi / den);
  }
}

__kernel void clt_optim_adadelta(CLT_OPT_HEAD, __global float *restrict sq,
                                 __global float *restrict acc, float lr,
                                 float rho, float one_minus_rho, float eps) {
  CLT_OPT_BEGIN
  float a = rho * sq[i] + one_minus_rho * (gi * gi);
  float e = acc[i];
  float delta = sqrt(e + eps) / sqrt(a + eps) * gi;
  sq[i] = a;
  acc[i] = rho * e + one_minus_rho * (delta * delta);
  p[p_off + i] = pi - lr * delta;
}

/* Adam and AdamW (decay carries AdamW's decoupled decay); vmax NULL
   without amsgrad. */
__kernel void clt_optim_adam(CLT_OPT_HEAD, __global float *restrict m,
                             __global float *restrict v,
                             __global float *restrict vmax, float beta1,
                             float one_minus_beta1, float beta2,
                             float one_minus_beta2, float step_size,
                             float bc2_sqrt, float eps, int amsgrad) {
  CLT_OPT_BEGIN
  float mm = beta1 * m[i] + one_minus_beta1 * gi;
  float vv = beta2 * v[i] + one_minus_beta2 * (gi * gi);
  m[i] = mm;
  v[i] = vv;
  if (amsgrad) {
    vv = clt_opt_nan_max(vmax[i], vv);
    vmax[i] = vv;
  }
  p[p_off + i] = pi - step_size * (mm / (sqrt(vv) / bc2_sqrt + eps));
}

__kernel void clt_optim_adamax(CLT_OPT_HEAD, __global float *restrict m,
                               __global float *restrict u, float beta1,
                               float one_minus_beta1, float beta2, float clr,
                               float eps) {
  CLT_OPT_BEGIN
  float mm = beta1 * m[i] + one_minus_beta1 * gi;
  float uu = clt_opt_nan_max(beta2 * u[i], fabs(gi) + eps);
  m[i] = mm;
  u[i] = uu;
  p[p_off + i] = pi - clr * (mm / uu);
}

__kernel void clt_optim_nadam(CLT_OPT_HEAD, __global float *restrict m,
                              __global float *restrict v, float beta1,
                              float one_minus_beta1, float beta2,
                              float one_minus_beta2, float bc2, float c_grad,
                              float c_avg, float eps) {
  CLT_OPT_BEGIN
  float mm = beta1 * m[i] + one_minus_beta1 * gi;
  float vv = beta2 * v[i] + one_minus_beta2 * (gi * gi);
  m[i] = mm;
  v[i] = vv;
  float den = sqrt(vv / bc2) + eps;
  pi = pi - c_grad * (gi / den);
  p[p_off + i] = pi - c_avg * (mm / den);
}

/* rect_on: the variance is tractable (rho_t > 5); lr_rect = lr * rect. */
__kernel void clt_optim_radam(CLT_OPT_HEAD, __global float *restrict m,
                              __global float *restrict v, float beta1,
                              float one_minus_beta1, float beta2,
                              float one_minus_beta2, float lr, float bc1,
                              float bc2_sqrt, float rect, int rect_on,
                              float eps) {
  CLT_OPT_BEGIN
  float mm = beta1 * m[i] + one_minus_beta1 * gi;
  float vv = beta2 * v[i] + one_minus_beta2 * (gi * gi);
  m[i] = mm;
  v[i] = vv;
  float mh = mm / bc1;
  p[p_off + i] = rect_on ? pi - mh * lr * (bc2_sqrt / (sqrt(vv) + eps)) * rect
                         : pi - mh * lr;
}

/* ------------------------------------------------------------ reductions */

/* Tree sum over the work-group of the k arrays tmp[j * wg + lid], each
   work-item having stored its values: the sums end in tmp[j * wg]. The
   order of additions depends only on the work-group size. Every work-item
   must call it. */
inline void clt_opt_tree(__local clt_opt_acc *tmp, uint k) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h)
      for (uint j = 0; j < k; j++) tmp[j * wg + lid] += tmp[j * wg + lid + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
}

/* Stores (a, b, c) summed over the work-group at out[3 * group + 0..2]. */
inline void clt_opt_group_sum3(clt_opt_acc a, clt_opt_acc b, clt_opt_acc c,
                               __local clt_opt_acc *tmp,
                               __global clt_opt_acc *out) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  tmp[lid] = a;
  tmp[wg + lid] = b;
  tmp[2 * wg + lid] = c;
  clt_opt_tree(tmp, 3);
  if (lid == 0) {
    size_t grp = get_group_id(0);
    out[3 * grp] = tmp[0];
    out[3 * grp + 1] = tmp[wg];
    out[3 * grp + 2] = tmp[2 * wg];
  }
}

/* Per group: (sum p^2 when with_param, sum g^2, count of non-finite g),
   over the raw gradient (before clipping and sign). */
__kernel void clt_optim_gradstat(__global const float *restrict p,
                                 ulong p_off, __global const float *restrict g,
                                 ulong g_off, __global const uint *restrict units,
                                 uint gpu, int with_param,
                                 __global clt_opt_acc *restrict part,
                                 __local clt_opt_acc *tmp) {
  const uint word = units[get_group_id(0) / gpu];
  const ulong end = (ulong)(get_group_id(0) / gpu) * gpu * get_local_size(0) +
                    ((word >> 2) & 511u);
  const size_t i = get_global_id(0);
  clt_opt_acc sp = 0, sg = 0, bad = 0;
  if (i < end) {
    clt_opt_acc x = g[g_off + i];
    sg = x * x;
    bad = isfinite(g[g_off + i]) ? 0 : 1;
    if (with_param) {
      clt_opt_acc w = p[p_off + i];
      sp = w * w;
    }
  }
  clt_opt_group_sum3(sp, sg, bad, tmp, part);
}

/* LAMB, first pass: the moments (stored) and per group (sum p^2, sum u^2)
   with u = (m / bc1) / (sqrt(v / bc2) + eps) + wd p. */
inline float clt_opt_lamb_u(float mm, float vv, float pi, float bc1, float bc2,
                            float eps, float wd) {
  return (mm / bc1) / (sqrt(vv / bc2) + eps) + wd * pi;
}

__kernel void clt_optim_lamb_moments(CLT_OPT_HEAD, __global float *restrict m,
                                     __global float *restrict v, float beta1,
                                     float one_minus_beta1, float beta2,
                                     float one_minus_beta2, float bc1,
                                     float bc2, float eps, float lamb_wd,
                                     __global clt_opt_acc *restrict part,
                                     __local clt_opt_acc *tmp) {
  const uint word = units[get_group_id(0) / gpu];
  const ulong end = clt_opt_end(aux, word, gpu);
  const float coef = aux[1];
  const size_t i = get_global_id(0);
  clt_opt_acc sp = 0, su = 0;
  if (i < end) {
    float pi = p[p_off + i];
    float gi = sgn * (coef * g[g_off + i]);
    float mm = beta1 * m[i] + one_minus_beta1 * gi;
    float vv = beta2 * v[i] + one_minus_beta2 * (gi * gi);
    m[i] = mm;
    v[i] = vv;
    float u = clt_opt_lamb_u(mm, vv, pi, bc1, bc2, eps,
                             (word & 1u) ? 0.0f : lamb_wd);
    sp = (clt_opt_acc)pi * pi;
    su = (clt_opt_acc)u * u;
  }
  clt_opt_group_sum3(sp, su, 0, tmp, part);
}

/* LAMB, second pass: p -= lr r u with r from clt_optim_ratios (the
   gradient is not read again). */
__kernel void clt_optim_lamb_apply(CLT_OPT_HEAD, __global const float *restrict m,
                                   __global const float *restrict v, float lr,
                                   float bc1, float bc2, float eps,
                                   float lamb_wd) {
  CLT_OPT_INDEX
  float pi = p[p_off + i];
  float u = clt_opt_lamb_u(m[i], v[i], pi, bc1, bc2, eps,
                           wd_on ? lamb_wd : 0.0f);
  p[p_off + i] = pi - (lr * ratio) * u;
}

/* One work-group: from the gradstat sums of every group, the gradient norm
   N, aux[0] = guard and a non-finite gradient, aux[1] = the clipping
   coefficient min(1, max_norm / (N + 1e-6)) (1 without clipping: max_norm
   0), aux[2] = N. */
__kernel void clt_optim_stats(__global const clt_opt_acc *restrict part,
                              ulong ngroups, __global float *restrict aux,
                              float max_norm, int guard,
                              __local clt_opt_acc *tmp) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  clt_opt_acc ss = 0, bad = 0;
  for (ulong k = lid; k < ngroups; k += wg) {
    ss += part[3 * k + 1];
    bad += part[3 * k + 2];
  }
  tmp[lid] = ss;
  tmp[wg + lid] = bad;
  clt_opt_tree(tmp, 2);
  if (lid == 0) {
    clt_opt_acc norm = sqrt(tmp[0]), coef = 1;
    if (max_norm > 0) {
      clt_opt_acc c = max_norm / (norm + CLT_OPT_TINY);
      coef = c > 1 ? 1 : c; /* NaN stays NaN, as torch.clamp */
    }
    aux[0] = guard && tmp[wg] > 0 ? 1.0f : 0.0f;
    aux[1] = (float)coef;
    aux[2] = (float)norm;
  }
}

/* One work-group per tensor s: its trust ratio into aux[4 + s] from the
   sums of its groups (slot 0: ||p||^2; slot 1: ||g||^2 for LARS, ||u||^2
   for LAMB). segtab: the tensors' first units (nseg + 1), then their option
   bits. LARS scales ||g|| by the clipping coefficient aux[1]. */
__kernel void clt_optim_ratios(__global const clt_opt_acc *restrict part,
                               ulong ngroups,
                               __global const uint *restrict segtab,
                               uint nseg, uint gpu,
                               __global float *restrict aux, int lars,
                               float eta, float wd,
                               __local clt_opt_acc *tmp) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  uint s = get_group_id(0);
  ulong g0 = (ulong)segtab[s] * gpu, g1 = (ulong)segtab[s + 1] * gpu;
  if (g1 > ngroups) g1 = ngroups;
  clt_opt_acc sw = 0, sx = 0;
  for (ulong k = g0 + lid; k < g1; k += wg) {
    sw += part[3 * k];
    sx += part[3 * k + 1];
  }
  tmp[lid] = sw;
  tmp[wg + lid] = sx;
  clt_opt_tree(tmp, 2);
  if (lid == 0) {
    clt_opt_acc wn = sqrt(tmp[0]), xn = sqrt(tmp[wg]), r = 1;
    uint flags = segtab[nseg + 1 + s];
    if (lars) {
      xn *= aux[1];
      clt_opt_acc wds = (flags & 1u) ? 0 : wd;
      if (!(flags & 2u) && wn > 0 && xn > 0) r = eta * wn / (xn + wds * wn);
    } else if (!(flags & 2u) && wn > 0 && xn > 0) {
      r = wn / xn;
    }
    aux[4 + s] = (float)r;
  }
}
