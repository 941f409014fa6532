/* Regularization of a weight matrix W, one pass: penalty
 * l1 sum|w| + 0.5 l2 sum w^2 and its gradient l1 sign(w) + l2 w added into
 * dW (the l2 part is PyTorch's weight_decay = l2; sign(0) = 0 as
 * torch.sign). Reference: host/ref/ref_regularize.c.
 *
 * Each work-item takes CLT_ELEM_CHUNK consecutive elements, eight lanes at
 * a time, and writes one partial penalty to scr[CLT_INFO + item], which
 * clt_loss_finish (kernels/loss.cl) sums in a fixed order; no barriers (see
 * the elementwise losses). GPU profiles (CLT_ELEM_GPU): a work-group per
 * chunk, as the elementwise losses.
 */
#if CLT_ELEM_GPU
__kernel void clt_regularize(__global const float *W, ulong w_off,
                             __global float *dW, ulong d_off, int has_dW,
                             ulong n, float l1, float l2, int want_penalty,
                             __global float *scr) {
  __local float tmp[CLT_ELEM_CHUNK];
  size_t part = get_group_id(0), e0 = part * CLT_ELEM_CHUNK;
  size_t end = min(e0 + CLT_ELEM_CHUNK, (size_t)n);
  float pen = 0.0f;
  for (size_t e = e0 + get_local_id(0); e < end; e += get_local_size(0)) {
    float x = W[w_off + e];
    pen += l1 * fabs(x) + 0.5f * l2 * x * x;
    if (has_dW) dW[d_off + e] += l1 * CLT_NSIGN(x) + l2 * x;
  }
  if (!want_penalty) return;
  pen = clt_group_sum(tmp, pen);
  if (get_local_id(0) == 0) scr[CLT_INFO + part] = pen;
}
#else
__kernel void clt_regularize(__global const float *W, ulong w_off,
                             __global float *dW, ulong d_off, int has_dW,
                             ulong n, float l1, float l2, int want_penalty,
                             __global float *scr) {
  size_t part = get_global_id(0), e = part * CLT_ELEM_CHUNK;
  if (e >= n) return;
  size_t end = min(e + CLT_ELEM_CHUNK, (size_t)n);
  __global const float *w = W + w_off;
  __global float *d = dW + d_off;
  float8 p8 = 0.0f;
  for (; e + 8 <= end; e += 8) {
    float8 x = vload8(0, w + e);
    p8 += l1 * fabs(x) + 0.5f * l2 * x * x;
    if (has_dW) vstore8(vload8(0, d + e) + l1 * CLT_NSIGN(x) + l2 * x, 0, d + e);
  }
  float pen = clt_hsum8(p8);
  for (; e < end; e++) {
    float x = w[e];
    pen += l1 * fabs(x) + 0.5f * l2 * x * x;
    if (has_dW) d[e] += l1 * CLT_NSIGN(x) + l2 * x;
  }
  if (want_penalty) scr[CLT_INFO + part] = pen;
}
#endif
