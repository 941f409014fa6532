/* Optimizer updates with PyTorch's torch.optim semantics. The per-element
 * formulas of every kind are written next to clt_optim_kind in cltrain.h
 * (source: torch/optim/<kind>.py, _single_tensor_<kind>; NAdam as in
 * PyTorch >= 2.0; LARS: You, Gitman, Ginsburg 2017; LAMB: You et al. 2019);
 * host/ref/ref_optim.c is their double-precision specification.
 *
 * One work-item per element, one pass per step: each kernel reads p, g and
 * the state once and writes p and the state once. Scalars that are the same
 * for every element come from the host, reciprocals included: on a CPU an
 * Adam step is nearly as much arithmetic as memory traffic, so the kernels
 * multiply by 1 / bc where PyTorch divides by bc (the results differ in the
 * last bit, not in the formula).
 *
 * Shape of the code, for POCL's sake (it vectorizes across work-items): no
 * run-time branch on a uniform flag (amsgrad, centered, momentum: kernel
 * variants instead, two to five times faster), and no bound check in the
 * main kernels: a load below a branch is no longer hoisted, and POCL then
 * loads it lane by lane. The host launches the main kernel over whole
 * work-groups only; a tensor whose size is not a multiple of the work-group
 * gets its last partial group from the "_tail" variant (bound-checked) in a
 * second launch. A parameter group's tensors are padded to whole units, so
 * a group is always one launch; its padding is updated too, harmlessly: it
 * starts at zero, only ever holds what zeros become (NaN at worst, with
 * eps 0) and nothing reads it but these updates (the reductions skip it).
 *
 * The leading arguments (CLT_OPT_HEAD) are shared:
 *   p, p_off / g, g_off  parameters (updated in place) and gradients
 *   aux    [0] skip flag of the non-finite guard, [1] gradient scale (the
 *          clipping coefficient, negated with maximize), [2] gradient
 *          norm, [4 + s] trust ratio of tensor s (1 unless LARS / LAMB
 *          wrote it): written by clt_optim_stats and clt_optim_ratios, so
 *          a step never waits for the host
 *   units  one word per CLT_OPT_UNIT-element unit (kernels/contract.h):
 *          option bits, elements in use, tensor index. A work-group is
 *          1/gpu of a unit,
 *          so everything read from it is uniform over the group.
 *   wd     coupled decay (g += wd p); decay: decoupled decay (p *= decay,
 *          1 when unused); neither on tensors with no_weight_decay.
 * A skipped step (the guard) stores back the values it read.
 */
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double clt_opt_acc; /* norms and sums of the reductions */
#define CLT_OPT_TINY 1e-6       /* clip_grad_norm_'s guard */
#else
typedef float clt_opt_acc;
#define CLT_OPT_TINY 1e-6f
#endif

/* restrict on the optimizers' buffers (they never alias). Oclgrind 21.10
   cannot run the llvm.experimental.noalias.scope.decl calls that inlining
   restrict arguments leaves in its LLVM: tests/oclgrind.sh builds with
   -DCLT_RESTRICT= (plain pointers, the same results). */
#ifndef CLT_RESTRICT
#define CLT_RESTRICT restrict
#endif

#define CLT_OPT_HEAD                                                          \
  __global float *CLT_RESTRICT p, ulong p_off, __global const float *CLT_RESTRICT g, \
      ulong g_off, __global const float *CLT_RESTRICT aux,                        \
      __global const uint *CLT_RESTRICT units, uint gpu, float wd, float decay
#define CLT_OPT_HEAD_ARGS p, p_off, g, g_off, aux, units, gpu, wd, decay

/* Bodies are inlined into each variant with constant flags. */
#define CLT_OPT_BODY inline __attribute__((always_inline)) void

/* Index of this work-group in the whole range (tail launches are offset). */
inline size_t clt_opt_group(void) {
  return get_global_offset(0) / get_local_size(0) + get_group_id(0);
}

/* First element past this group's part of its tensor. */
inline ulong clt_opt_end(uint word, size_t grp, uint gpu) {
  return (ulong)(grp / gpu) * gpu * get_local_size(0) + ((word >> CLT_OPT_USED_SHIFT) & CLT_OPT_USED_MASK);
}

/* Declares i, word, skip, scale (aux[1]), ratio (the tensor's trust ratio),
   wd_t and decay_t (the tensor's coupled and decoupled decay), all loaded
   before any branch; the tail variant (checked) returns past the tensor. */
#define CLT_OPT_INDEX(checked)                                                \
  const size_t grp = clt_opt_group();                                         \
  const uint word = units[grp / gpu];                                         \
  const float skip_f = aux[0], scale = aux[1];                                \
  const float ratio = aux[4 + (word >> CLT_OPT_SEG_SHIFT)];                                  \
  const float wd_t = (word & CLT_OPT_NO_WD) ? 0.0f : wd;                                 \
  const float decay_t = (word & CLT_OPT_NO_WD) ? 1.0f : decay;                           \
  const size_t i = get_global_id(0);                                          \
  if (checked && i >= clt_opt_end(word, grp, gpu)) return;                    \
  const bool skip = skip_f != 0.0f;

/* CLT_OPT_INDEX, then p0 (as stored), pi (after decoupled decay) and gi
   (scaled, with coupled decay). */
#define CLT_OPT_BEGIN(checked)                                                \
  CLT_OPT_INDEX(checked)                                                      \
  const float p0 = p[p_off + i];                                              \
  const float pi = p0 * decay_t;                                              \
  const float gi = scale * g[g_off + i] + wd_t * pi;

/* Stores the new value of x[j], or its old one when skipping. */
#define CLT_OPT_PUT(x, j, old, new) (x)[j] = skip ? (old) : (new)

/* The main kernel and its bound-checked tail variant. call is the body's
   call in parentheses, with the shared arguments (CLT_OPT_HEAD_ARGS), the
   kernel's own and checked, which is 0 in the main kernel and 1 in the
   tail (no variadic macros: OpenCL C 1.2 has none, and NVIDIA's compiler
   refuses them). */
#define CLT_OPT_PAIR(name, params, call)                                      \
  __kernel void name(CLT_OPT_HEAD, params) {                                  \
    const int checked = 0;                                                    \
    call;                                                                     \
  }                                                                           \
  __kernel void name##_tail(CLT_OPT_HEAD, params) {                           \
    const int checked = 1;                                                    \
    call;                                                                     \
  }

/* torch.maximum / torch.amax: NaN wins. */
inline float clt_opt_nan_max(float a, float b) {
  return a >= b || isnan(a) ? a : b;
}

/* SGD and LARS (ratio: LARS's trust ratio, 1 for SGD). b = mb b +
   damp1 d: the host passes mb = 0, damp1 = 1 on SGD's first step (b is
   then d, as PyTorch clones it). mn: Nesterov's momentum. */
CLT_OPT_BODY clt_opt_sgd(CLT_OPT_HEAD, __global float *CLT_RESTRICT buf, float lr,
                         float mb, float damp1, float mn, const int momentum,
                         const int nesterov, const int checked) {
  CLT_OPT_BEGIN(checked)
  float d = ratio * gi;
  if (momentum) {
    float b0 = buf[i], b = mb * b0 + damp1 * d;
    CLT_OPT_PUT(buf, i, b0, b);
    d = nesterov ? d + mn * b : b;
  }
  CLT_OPT_PUT(p, p_off + i, p0, pi - lr * d);
}

#define CLT_OPT_SGD_PARAMS                                                    \
  __global float *CLT_RESTRICT buf, float lr, float mb, float damp1, float mn
CLT_OPT_PAIR(clt_optim_sgd, CLT_OPT_SGD_PARAMS,
             (clt_opt_sgd(CLT_OPT_HEAD_ARGS, buf, lr, mb, damp1, mn, 0, 0,
                 checked)))
CLT_OPT_PAIR(clt_optim_sgd_momentum, CLT_OPT_SGD_PARAMS,
             (clt_opt_sgd(CLT_OPT_HEAD_ARGS, buf, lr, mb, damp1, mn, 1, 0,
                 checked)))
CLT_OPT_PAIR(clt_optim_sgd_nesterov, CLT_OPT_SGD_PARAMS,
             (clt_opt_sgd(CLT_OPT_HEAD_ARGS, buf, lr, mb, damp1, mn, 1, 1,
                 checked)))

CLT_OPT_BODY clt_opt_adagrad(CLT_OPT_HEAD, __global float *CLT_RESTRICT sum,
                             float clr, float eps, const int checked) {
  CLT_OPT_BEGIN(checked)
  float s0 = sum[i], s = s0 + gi * gi;
  CLT_OPT_PUT(sum, i, s0, s);
  CLT_OPT_PUT(p, p_off + i, p0, pi - clr * (gi / (sqrt(s) + eps)));
}

#define CLT_OPT_ADAGRAD_PARAMS __global float *CLT_RESTRICT sum, float clr, float eps
CLT_OPT_PAIR(clt_optim_adagrad, CLT_OPT_ADAGRAD_PARAMS,
             (clt_opt_adagrad(CLT_OPT_HEAD_ARGS, sum, clr, eps, checked)))

CLT_OPT_BODY clt_opt_rmsprop(CLT_OPT_HEAD, __global float *CLT_RESTRICT sq,
                             __global float *CLT_RESTRICT buf,
                             __global float *CLT_RESTRICT avg, float lr,
                             float alpha, float one_minus_alpha, float eps,
                             float momentum, const int centered,
                             const int with_momentum, const int checked) {
  CLT_OPT_BEGIN(checked)
  float a0 = sq[i], a = alpha * a0 + one_minus_alpha * (gi * gi);
  CLT_OPT_PUT(sq, i, a0, a);
  float den;
  if (centered) {
    float c0 = avg[i], c = alpha * c0 + one_minus_alpha * gi;
    CLT_OPT_PUT(avg, i, c0, c);
    den = sqrt(a - c * c) + eps;
  } else {
    den = sqrt(a) + eps;
  }
  if (with_momentum) {
    float b0 = buf[i], b = momentum * b0 + gi / den;
    CLT_OPT_PUT(buf, i, b0, b);
    CLT_OPT_PUT(p, p_off + i, p0, pi - lr * b);
  } else {
    CLT_OPT_PUT(p, p_off + i, p0, pi - lr * (gi / den));
  }
}

/* buf unused without momentum, avg unless centered. */
#define CLT_OPT_RMSPROP_PARAMS                                                \
  __global float *CLT_RESTRICT sq, __global float *CLT_RESTRICT buf,                 \
      __global float *CLT_RESTRICT avg, float lr, float alpha,                    \
      float one_minus_alpha, float eps, float momentum
#define CLT_OPT_RMSPROP(name, C, M)                                           \
  CLT_OPT_PAIR(name, CLT_OPT_RMSPROP_PARAMS,                                  \
               (clt_opt_rmsprop(CLT_OPT_HEAD_ARGS, sq, buf, avg, lr, alpha,   \
                   one_minus_alpha, eps, momentum, C, M, checked)))
CLT_OPT_RMSPROP(clt_optim_rmsprop, 0, 0)
CLT_OPT_RMSPROP(clt_optim_rmsprop_momentum, 0, 1)
CLT_OPT_RMSPROP(clt_optim_rmsprop_centered, 1, 0)
CLT_OPT_RMSPROP(clt_optim_rmsprop_centered_momentum, 1, 1)

CLT_OPT_BODY clt_opt_adadelta(CLT_OPT_HEAD, __global float *CLT_RESTRICT sq,
                              __global float *CLT_RESTRICT acc, float lr,
                              float rho, float one_minus_rho, float eps,
                              const int checked) {
  CLT_OPT_BEGIN(checked)
  float a0 = sq[i], e0 = acc[i];
  float a = rho * a0 + one_minus_rho * (gi * gi);
  float delta = sqrt((e0 + eps) / (a + eps)) * gi;
  CLT_OPT_PUT(sq, i, a0, a);
  CLT_OPT_PUT(acc, i, e0, rho * e0 + one_minus_rho * (delta * delta));
  CLT_OPT_PUT(p, p_off + i, p0, pi - lr * delta);
}

#define CLT_OPT_ADADELTA_PARAMS                                               \
  __global float *CLT_RESTRICT sq, __global float *CLT_RESTRICT acc, float lr,       \
      float rho, float one_minus_rho, float eps
CLT_OPT_PAIR(clt_optim_adadelta, CLT_OPT_ADADELTA_PARAMS,
             (clt_opt_adadelta(CLT_OPT_HEAD_ARGS, sq, acc, lr, rho,
                 one_minus_rho, eps, checked)))

/* The first and second moments of the Adam family. */
#define CLT_OPT_MOMENTS                                                       \
  const float m0 = m[i], v0 = v[i];                                           \
  const float mm = beta1 * m0 + one_minus_beta1 * gi;                         \
  const float vv = beta2 * v0 + one_minus_beta2 * (gi * gi);                  \
  CLT_OPT_PUT(m, i, m0, mm);                                                  \
  CLT_OPT_PUT(v, i, v0, vv);

/* Adam and AdamW (decay carries AdamW's decoupled decay). */
CLT_OPT_BODY clt_opt_adam(CLT_OPT_HEAD, __global float *CLT_RESTRICT m,
                          __global float *CLT_RESTRICT v,
                          __global float *CLT_RESTRICT vmax, float beta1,
                          float one_minus_beta1, float beta2,
                          float one_minus_beta2, float step_size,
                          float inv_bc2_sqrt, float eps, const int amsgrad,
                          const int checked) {
  CLT_OPT_BEGIN(checked)
  CLT_OPT_MOMENTS
  float vd = vv;
  if (amsgrad) {
    float x0 = vmax[i];
    vd = clt_opt_nan_max(x0, vv);
    CLT_OPT_PUT(vmax, i, x0, vd);
  }
  CLT_OPT_PUT(p, p_off + i, p0,
              pi - step_size * (mm / (sqrt(vd) * inv_bc2_sqrt + eps)));
}

/* vmax unused without amsgrad. */
#define CLT_OPT_ADAM_PARAMS                                                   \
  __global float *CLT_RESTRICT m, __global float *CLT_RESTRICT v,                    \
      __global float *CLT_RESTRICT vmax, float beta1, float one_minus_beta1,      \
      float beta2, float one_minus_beta2, float step_size,                    \
      float inv_bc2_sqrt, float eps
#define CLT_OPT_ADAM(name, A)                                                 \
  CLT_OPT_PAIR(name, CLT_OPT_ADAM_PARAMS,                                     \
               (clt_opt_adam(CLT_OPT_HEAD_ARGS, m, v, vmax, beta1,            \
                   one_minus_beta1, beta2, one_minus_beta2, step_size,        \
                   inv_bc2_sqrt, eps, A, checked)))
CLT_OPT_ADAM(clt_optim_adam, 0)
CLT_OPT_ADAM(clt_optim_adam_amsgrad, 1)

CLT_OPT_BODY clt_opt_adamax(CLT_OPT_HEAD, __global float *CLT_RESTRICT m,
                            __global float *CLT_RESTRICT u, float beta1,
                            float one_minus_beta1, float beta2, float clr,
                            float eps, const int checked) {
  CLT_OPT_BEGIN(checked)
  float m0 = m[i], u0 = u[i];
  float mm = beta1 * m0 + one_minus_beta1 * gi;
  float uu = clt_opt_nan_max(beta2 * u0, fabs(gi) + eps);
  CLT_OPT_PUT(m, i, m0, mm);
  CLT_OPT_PUT(u, i, u0, uu);
  CLT_OPT_PUT(p, p_off + i, p0, pi - clr * (mm / uu));
}

#define CLT_OPT_ADAMAX_PARAMS                                                 \
  __global float *CLT_RESTRICT m, __global float *CLT_RESTRICT u, float beta1,       \
      float one_minus_beta1, float beta2, float clr, float eps
CLT_OPT_PAIR(clt_optim_adamax, CLT_OPT_ADAMAX_PARAMS,
             (clt_opt_adamax(CLT_OPT_HEAD_ARGS, m, u, beta1, one_minus_beta1,
                 beta2, clr, eps, checked)))

CLT_OPT_BODY clt_opt_nadam(CLT_OPT_HEAD, __global float *CLT_RESTRICT m,
                           __global float *CLT_RESTRICT v, float beta1,
                           float one_minus_beta1, float beta2,
                           float one_minus_beta2, float inv_bc2, float c_grad,
                           float c_avg, float eps, const int checked) {
  CLT_OPT_BEGIN(checked)
  CLT_OPT_MOMENTS
  float r = 1.0f / (sqrt(vv * inv_bc2) + eps);
  float q = pi - c_grad * (gi * r);
  CLT_OPT_PUT(p, p_off + i, p0, q - c_avg * (mm * r));
}

#define CLT_OPT_NADAM_PARAMS                                                  \
  __global float *CLT_RESTRICT m, __global float *CLT_RESTRICT v, float beta1,       \
      float one_minus_beta1, float beta2, float one_minus_beta2,              \
      float inv_bc2, float c_grad, float c_avg, float eps
CLT_OPT_PAIR(clt_optim_nadam, CLT_OPT_NADAM_PARAMS,
             (clt_opt_nadam(CLT_OPT_HEAD_ARGS, m, v, beta1, one_minus_beta1,
                 beta2, one_minus_beta2, inv_bc2, c_grad, c_avg, eps, checked)))

/* rect: the variance is tractable (rho_t > 5): p -= c m / (sqrt(v) + eps)
   with c = lr r sqrt(1 - b2^t) / (1 - b1^t) (r the rectification); else
   p -= c m with c = lr / (1 - b1^t). */
CLT_OPT_BODY clt_opt_radam(CLT_OPT_HEAD, __global float *CLT_RESTRICT m,
                           __global float *CLT_RESTRICT v, float beta1,
                           float one_minus_beta1, float beta2,
                           float one_minus_beta2, float c, float eps,
                           const int rect, const int checked) {
  CLT_OPT_BEGIN(checked)
  CLT_OPT_MOMENTS
  CLT_OPT_PUT(p, p_off + i, p0,
              rect ? pi - c * (mm / (sqrt(vv) + eps)) : pi - c * mm);
}

#define CLT_OPT_RADAM_PARAMS                                                  \
  __global float *CLT_RESTRICT m, __global float *CLT_RESTRICT v, float beta1,       \
      float one_minus_beta1, float beta2, float one_minus_beta2, float c,     \
      float eps
#define CLT_OPT_RADAM(name, R)                                                \
  CLT_OPT_PAIR(name, CLT_OPT_RADAM_PARAMS,                                    \
               (clt_opt_radam(CLT_OPT_HEAD_ARGS, m, v, beta1,                 \
                   one_minus_beta1, beta2, one_minus_beta2, c, eps, R,        \
                   checked)))
CLT_OPT_RADAM(clt_optim_radam, 1)
CLT_OPT_RADAM(clt_optim_radam_unrectified, 0)

/* ------------------------------------------------------------ reductions */

/* Reductions are per unit: one work-item sums the squares of a unit's
   elements in use with explicit 16-wide float vectors (POCL runs
   barrier-and-tree reductions an order of magnitude slower than this, and
   converting every element to double made LAMB's first pass ~30% slower),
   each lane adding at most 16 squares in float, then the lanes in
   clt_opt_acc (double where the device has it). A square can overflow float
   where the reference's double sum does not: a unit whose float sum is not
   finite is summed again element by element in clt_opt_acc. The partial
   sums of unit u go to part[u] (||p||^2) and part[nunits + u] (||g||^2,
   or ||u||^2 for LAMB), and the gradient pass's non-finite flag to
   part[2 nunits + u]. The order of additions is fixed. */
#ifdef cl_khr_fp64
typedef double8 clt_opt_acc8;
#define clt_opt_to_acc8 convert_double8
#else
typedef float8 clt_opt_acc8;
#define clt_opt_to_acc8(x) (x)
#endif

inline clt_opt_acc clt_opt_sum8(clt_opt_acc8 x) {
  return ((x.s0 + x.s1) + (x.s2 + x.s3)) + ((x.s4 + x.s5) + (x.s6 + x.s7));
}

/* The lanes of x and a scalar rest t. */
inline clt_opt_acc clt_opt_sum16(float16 x, float t) {
  return clt_opt_sum8(clt_opt_to_acc8(x.lo) + clt_opt_to_acc8(x.hi)) + t;
}

/* Sum of x[0..n) squared, element by element in clt_opt_acc. */
inline clt_opt_acc clt_opt_sumsq_acc(__global const float *x, uint n) {
  clt_opt_acc s = 0;
  for (uint k = 0; k < n; k++) s += (clt_opt_acc)x[k] * x[k];
  return s;
}

/* Sum of x[0..n) squared from its float lanes s and rest t, or again
   element by element when that overflowed (the scheme above). */
inline clt_opt_acc clt_opt_sumsq(float16 s, float t, __global const float *x,
                                 uint n) {
  clt_opt_acc r = clt_opt_sum16(s, t);
  return isfinite(r) ? r : clt_opt_sumsq_acc(x, n);
}

/* 1 if x[0..n) holds a NaN or an infinity, else 0. */
inline clt_opt_acc clt_opt_nonfinite(__global const float *x, uint n) {
  for (uint k = 0; k < n; k++)
    if (!isfinite(x[k])) return 1;
  return 0;
}

/* Sum of x[k0..k1) in order, eight at a time. */
inline clt_opt_acc clt_opt_sum_range(__global const clt_opt_acc *x, ulong k0,
                                     ulong k1) {
  clt_opt_acc8 s8 = 0;
  ulong k = k0;
  for (; k + 8 <= k1; k += 8) s8 += vload8(0, x + k);
  clt_opt_acc s = clt_opt_sum8(s8);
  for (; k < k1; k++) s += x[k];
  return s;
}

/* Sum of x[k0..k1) over the work-group into tmp[0]: work-item lid sums
   its contiguous share, then a tree. Every work-item must call it; tmp
   holds the work-group size. */
inline void clt_opt_group_sum(__global const clt_opt_acc *x, ulong k0,
                              ulong k1, __local clt_opt_acc *tmp) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  ulong share = (k1 - k0 + wg - 1) / wg, a = k0 + lid * share;
  ulong b = a + share < k1 ? a + share : k1;
  tmp[lid] = a < b ? clt_opt_sum_range(x, a, b) : 0;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h) tmp[lid] += tmp[lid + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
}

/* One work-item per unit: sum g^2 and the non-finite flag over the raw
   gradient (before clipping and sign), and sum p^2 when with_param, in
   one loop (two loops over the unit, one per array, ran ~25% slower at
   64M parameters on POCL). */
CLT_OPT_BODY clt_opt_gradstat(__global const float *CLT_RESTRICT p, ulong p_off,
                              __global const float *CLT_RESTRICT g, ulong g_off,
                              __global const uint *CLT_RESTRICT units,
                              ulong nunits,
                              __global clt_opt_acc *CLT_RESTRICT part,
                              const int with_param) {
  const size_t u = get_global_id(0);
  if (u >= nunits) return;
  const uint used = (units[u] >> CLT_OPT_USED_SHIFT) & CLT_OPT_USED_MASK;
  __global const float *gu = g + g_off + u * CLT_OPT_UNIT, *pu = p + p_off + u * CLT_OPT_UNIT;
  float16 s = 0, sp = 0;
  uint k = 0;
  for (; k + 16 <= used; k += 16) {
    float16 a = vload16(0, gu + k);
    s += a * a;
    if (with_param) {
      float16 b = vload16(0, pu + k);
      sp += b * b;
    }
  }
  float t = 0, tp = 0;
  for (; k < used; k++) {
    t += gu[k] * gu[k];
    if (with_param) tp += pu[k] * pu[k];
  }
  clt_opt_acc sg = clt_opt_sumsq(s, t, gu, used);
  if (with_param) part[u] = clt_opt_sumsq(sp, tp, pu, used);
  part[nunits + u] = sg;
  part[2 * nunits + u] = isfinite(sg) ? 0 : clt_opt_nonfinite(gu, used);
}

/* GPU profiles (CLT_ELEM_GPU): a work-group per unit, work-item l taking
   its elements l, l + G, ... (neighbours read neighbours), squares summed
   in clt_opt_acc and each element tested for the flag, then the group's
   sums in a fixed tree in tmp (3 G values). */
CLT_OPT_BODY clt_opt_gradstat_group(__global const float *CLT_RESTRICT p, ulong p_off,
                                    __global const float *CLT_RESTRICT g, ulong g_off,
                                    __global const uint *CLT_RESTRICT units,
                                    ulong nunits,
                                    __global clt_opt_acc *CLT_RESTRICT part,
                                    const int with_param, __local clt_opt_acc *tmp) {
  const size_t u = get_group_id(0), lid = get_local_id(0), G = get_local_size(0);
  if (u >= nunits) return;
  const uint used = (units[u] >> CLT_OPT_USED_SHIFT) & CLT_OPT_USED_MASK;
  __global const float *gu = g + g_off + u * CLT_OPT_UNIT, *pu = p + p_off + u * CLT_OPT_UNIT;
  clt_opt_acc sg = 0, sp = 0, bad = 0;
  for (uint k = lid; k < used; k += G) {
    float a = gu[k];
    sg += (clt_opt_acc)a * a;
    if (!isfinite(a)) bad = 1;
    if (with_param) sp += (clt_opt_acc)pu[k] * pu[k];
  }
  tmp[lid] = sg, tmp[G + lid] = sp, tmp[2 * G + lid] = bad;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = G / 2; h > 0; h /= 2) {
    if (lid < h) {
      tmp[lid] += tmp[lid + h];
      tmp[G + lid] += tmp[G + lid + h];
      tmp[2 * G + lid] = fmax(tmp[2 * G + lid], tmp[2 * G + lid + h]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid != 0) return;
  if (with_param) part[u] = tmp[G];
  part[nunits + u] = tmp[0];
  part[2 * nunits + u] = tmp[2 * G];
}

#if CLT_ELEM_GPU
#define CLT_OPT_GRADSTAT(p, p_off, g, g_off, units, nunits, part, with_param)  \
  __local clt_opt_acc tmp[3 * CLT_OPT_UNIT];                                  \
  clt_opt_gradstat_group(p, p_off, g, g_off, units, nunits, part, with_param, tmp)
#else
#define CLT_OPT_GRADSTAT clt_opt_gradstat
#endif

__kernel void clt_optim_gradstat(__global const float *CLT_RESTRICT g,
                                 ulong g_off,
                                 __global const uint *CLT_RESTRICT units,
                                 ulong nunits,
                                 __global clt_opt_acc *CLT_RESTRICT part) {
  CLT_OPT_GRADSTAT(g, g_off, g, g_off, units, nunits, part, 0);
}

/* LARS: with the sums of p^2. */
__kernel void clt_optim_gradstat_param(
    __global const float *CLT_RESTRICT p, ulong p_off,
    __global const float *CLT_RESTRICT g, ulong g_off,
    __global const uint *CLT_RESTRICT units, ulong nunits,
    __global clt_opt_acc *CLT_RESTRICT part) {
  CLT_OPT_GRADSTAT(p, p_off, g, g_off, units, nunits, part, 1);
}

/* LAMB: u = (m / bc1) / (sqrt(v / bc2) + eps) + wd p. */
inline float clt_opt_lamb_u(float mm, float vv, float pi, float inv_bc1,
                            float inv_bc2, float eps, float wd) {
  return mm * inv_bc1 / (sqrt(vv * inv_bc2) + eps) + wd * pi;
}
inline float16 clt_opt_lamb_u16(float16 mm, float16 vv, float16 pi,
                                float inv_bc1, float inv_bc2, float eps,
                                float wd) {
  return mm * inv_bc1 / (sqrt(vv * inv_bc2) + eps) + wd * pi;
}
/* LAMB's moments of element k of a unit from its gradient gi, stored, and
   its u. */
inline float clt_opt_lamb_elem(__global float *CLT_RESTRICT mu,
                               __global float *CLT_RESTRICT vu, uint k,
                               float pi, float gi, float beta1,
                               float one_minus_beta1, float beta2,
                               float one_minus_beta2, float inv_bc1,
                               float inv_bc2, float eps, float wd) {
  float mm = beta1 * mu[k] + one_minus_beta1 * gi;
  float vv = beta2 * vu[k] + one_minus_beta2 * (gi * gi);
  mu[k] = mm;
  vu[k] = vv;
  return clt_opt_lamb_u(mm, vv, pi, inv_bc1, inv_bc2, eps, wd);
}

/* LAMB, first pass: the moments (stored unless the guard says skip) and
   the sums of p^2 and u^2 of each unit. */
#define CLT_OPT_LAMB_MOMENTS_PARAMS                                             \
  __global const float *CLT_RESTRICT p, ulong p_off,                          \
      __global const float *CLT_RESTRICT g, ulong g_off,                      \
      __global const float *CLT_RESTRICT aux,                                 \
      __global const uint *CLT_RESTRICT units, ulong nunits,                  \
      __global float *CLT_RESTRICT m, __global float *CLT_RESTRICT v,         \
      float beta1, float one_minus_beta1, float beta2, float one_minus_beta2, \
      float inv_bc1, float inv_bc2, float eps, float lamb_wd,                 \
      __global clt_opt_acc *CLT_RESTRICT part
#define CLT_OPT_LAMB_MOMENTS_ARGS                                              \
  p, p_off, g, g_off, aux, units, nunits, m, v, beta1, one_minus_beta1, beta2, \
      one_minus_beta2, inv_bc1, inv_bc2, eps, lamb_wd, part

/* One work-item per unit. */
CLT_OPT_BODY clt_opt_lamb_moments(CLT_OPT_LAMB_MOMENTS_PARAMS) {
  const size_t u = get_global_id(0), base = u * CLT_OPT_UNIT;
  if (u >= nunits) return;
  const uint word = units[u], used = (word >> CLT_OPT_USED_SHIFT) & CLT_OPT_USED_MASK;
  const float scale = aux[1], wd_u = (word & CLT_OPT_NO_WD) ? 0.0f : lamb_wd;
  if (aux[0] != 0.0f) { /* skipped: the ratios are not used */
    part[u] = part[nunits + u] = 0;
    return;
  }
  __global const float *gu = g + g_off + base, *pu = p + p_off + base;
  __global float *mu = m + base, *vu = v + base;
  float16 sp = 0, su = 0;
  uint k = 0;
  for (; k + 16 <= used; k += 16) {
    float16 pi = vload16(0, pu + k), gi = scale * vload16(0, gu + k);
    float16 mm = beta1 * vload16(0, mu + k) + one_minus_beta1 * gi;
    float16 vv = beta2 * vload16(0, vu + k) + one_minus_beta2 * (gi * gi);
    vstore16(mm, 0, mu + k);
    vstore16(vv, 0, vu + k);
    float16 x = clt_opt_lamb_u16(mm, vv, pi, inv_bc1, inv_bc2, eps, wd_u);
    sp += pi * pi;
    su += x * x;
  }
  float tp = 0, tu = 0;
  for (; k < used; k++) {
    float pi = pu[k];
    float x = clt_opt_lamb_elem(mu, vu, k, pi, scale * gu[k], beta1, one_minus_beta1, beta2,
                                one_minus_beta2, inv_bc1, inv_bc2, eps, wd_u);
    tp += pi * pi;
    tu += x * x;
  }
  clt_opt_acc sum_p = clt_opt_sumsq(sp, tp, pu, used);
  clt_opt_acc sum_u = clt_opt_sum16(su, tu);
  if (!isfinite(sum_u)) { /* again from the stored moments */
    sum_u = 0;
    for (k = 0; k < used; k++) {
      clt_opt_acc x = clt_opt_lamb_u(mu[k], vu[k], pu[k], inv_bc1, inv_bc2,
                                     eps, wd_u);
      sum_u += x * x;
    }
  }
  part[u] = sum_p;
  part[nunits + u] = sum_u;
}

/* GPU profiles (CLT_ELEM_GPU): a work-group per unit, work-item l taking
   its elements l, l + G, ... (neighbours read neighbours), the squares
   summed in clt_opt_acc, then the group's sums in a fixed tree in tmp (2
   G values). A skipped step (the guard) runs no element and writes zeros:
   no store before the barriers and an early return (POCL, as
   clt_loss_finish in kernels/loss.cl says). */
CLT_OPT_BODY clt_opt_lamb_moments_group(CLT_OPT_LAMB_MOMENTS_PARAMS,
                                        __local clt_opt_acc *tmp) {
  const size_t u = get_group_id(0), lid = get_local_id(0), G = get_local_size(0);
  if (u >= nunits) return;
  const uint word = units[u], used = (word >> CLT_OPT_USED_SHIFT) & CLT_OPT_USED_MASK;
  const float scale = aux[1], wd_u = (word & CLT_OPT_NO_WD) ? 0.0f : lamb_wd;
  const uint run = aux[0] != 0.0f ? 0 : used; /* skipped: the ratios are not used */
  const size_t base = u * CLT_OPT_UNIT;
  __global const float *gu = g + g_off + base, *pu = p + p_off + base;
  __global float *mu = m + base, *vu = v + base;
  clt_opt_acc sp = 0, su = 0;
  for (uint k = lid; k < run; k += G) {
    float pi = pu[k];
    clt_opt_acc x = clt_opt_lamb_elem(mu, vu, k, pi, scale * gu[k], beta1, one_minus_beta1,
                                      beta2, one_minus_beta2, inv_bc1, inv_bc2, eps, wd_u);
    sp += (clt_opt_acc)pi * pi;
    su += x * x;
  }
  tmp[lid] = sp, tmp[G + lid] = su;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = G / 2; h > 0; h /= 2) {
    if (lid < h) {
      tmp[lid] += tmp[lid + h];
      tmp[G + lid] += tmp[G + lid + h];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid != 0) return;
  part[u] = tmp[0];
  part[nunits + u] = tmp[G];
}

__kernel void clt_optim_lamb_moments(CLT_OPT_LAMB_MOMENTS_PARAMS) {
#if CLT_ELEM_GPU
  __local clt_opt_acc tmp[2 * CLT_OPT_UNIT];
  clt_opt_lamb_moments_group(CLT_OPT_LAMB_MOMENTS_ARGS, tmp);
#else
  clt_opt_lamb_moments(CLT_OPT_LAMB_MOMENTS_ARGS);
#endif
}

/* LAMB, second pass: p -= lr r u with r from clt_optim_ratios (the
   gradient is not read again). */
CLT_OPT_BODY clt_opt_lamb_apply(CLT_OPT_HEAD, __global const float *CLT_RESTRICT m,
                                __global const float *CLT_RESTRICT v, float lr,
                                float inv_bc1, float inv_bc2, float eps,
                                float lamb_wd, const int checked) {
  CLT_OPT_INDEX(checked)
  const float p0 = p[p_off + i];
  float u = clt_opt_lamb_u(m[i], v[i], p0, inv_bc1, inv_bc2, eps,
                           (word & CLT_OPT_NO_WD) ? 0.0f : lamb_wd);
  CLT_OPT_PUT(p, p_off + i, p0, p0 - (lr * ratio) * u);
}

#define CLT_OPT_LAMB_APPLY_PARAMS                                             \
  __global const float *CLT_RESTRICT m, __global const float *CLT_RESTRICT v,        \
      float lr, float inv_bc1, float inv_bc2, float eps, float lamb_wd
CLT_OPT_PAIR(clt_optim_lamb_apply, CLT_OPT_LAMB_APPLY_PARAMS,
             (clt_opt_lamb_apply(CLT_OPT_HEAD_ARGS, m, v, lr, inv_bc1,
                 inv_bc2, eps, lamb_wd, checked)))

/* One work-group: from the gradstat sums of every unit, the gradient norm
   N, aux[0] = guard and a non-finite gradient, aux[1] = sgn times the
   clipping coefficient min(1, max_norm / (N + 1e-6)) (1 without clipping:
   max_norm 0), aux[2] = N. tmp: the work-group size. */
__kernel void clt_optim_stats(__global const clt_opt_acc *CLT_RESTRICT part,
                              ulong nunits, __global float *CLT_RESTRICT aux,
                              float max_norm, int guard, float sgn,
                              __local clt_opt_acc *tmp) {
  clt_opt_group_sum(part + nunits, 0, nunits, tmp);
  clt_opt_acc ss = tmp[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  clt_opt_group_sum(part + 2 * nunits, 0, nunits, tmp);
  if (get_local_id(0) == 0) {
    clt_opt_acc norm = sqrt(ss), coef = 1;
    if (max_norm > 0) {
      clt_opt_acc c = max_norm / (norm + CLT_OPT_TINY);
      coef = c > 1 ? 1 : c; /* NaN stays NaN, as torch.clamp */
    }
    aux[0] = guard && tmp[0] > 0 ? 1.0f : 0.0f;
    aux[1] = sgn * (float)coef;
    aux[2] = (float)norm;
  }
}

/* One work-group per tensor s: its trust ratio into aux[4 + s] from the
   sums of its units (||p||^2, and ||g||^2 for LARS, ||u||^2 for LAMB).
   segtab: the tensors' first units (nseg + 1), then their option bits.
   LARS scales ||g|| by the clipping coefficient |aux[1]|. tmp: the
   work-group size. */
__kernel void clt_optim_ratios(__global const clt_opt_acc *CLT_RESTRICT part,
                               ulong nunits,
                               __global const uint *CLT_RESTRICT segtab,
                               uint nseg, __global float *CLT_RESTRICT aux,
                               int lars, float eta, float wd,
                               __local clt_opt_acc *tmp) {
  uint s = get_group_id(0);
  ulong u0 = segtab[s], u1 = segtab[s + 1];
  clt_opt_group_sum(part, u0, u1, tmp);
  clt_opt_acc sw = tmp[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  clt_opt_group_sum(part + nunits, u0, u1, tmp);
  if (get_local_id(0) == 0) {
    clt_opt_acc wn = sqrt(sw), xn = sqrt(tmp[0]), r = 1;
    uint flags = segtab[nseg + 1 + s];
    if (lars) {
      xn *= fabs(aux[1]);
      clt_opt_acc wds = (flags & CLT_OPT_NO_WD) ? 0 : wd;
      if (!(flags & CLT_OPT_NO_TRUST) && wn > 0 && xn > 0) r = eta * wn / (xn + wds * wn);
    } else if (!(flags & CLT_OPT_NO_TRUST) && wn > 0 && xn > 0) {
      r = wn / xn;
    }
    aux[4 + s] = (float)r;
  }
}
