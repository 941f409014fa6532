/* Regularization of a weight matrix W, one pass: penalty
 * l1 sum|w| + 0.5 l2 sum w^2 and its gradient l1 sign(w) + l2 w added into
 * dW (the l2 part is PyTorch's weight_decay = l2; sign(0) = 0 as
 * torch.sign). Reference: host/ref/ref_regularize.c.
 *
 * One work-item per element; each work-group of wg (a power of two) items
 * writes one partial penalty to scr[CLT_INFO + group], which
 * clt_loss_finish (kernels/loss.cl) sums in a fixed order.
 */
__kernel void clt_regularize(__global const float *W, ulong w_off,
                             __global float *dW, ulong d_off, int has_dW,
                             ulong n, float l1, float l2, int want_penalty,
                             __global float *scr, __local float *tmp) {
  size_t e = get_global_id(0);
  float pen = 0.0f;
  if (e < n) {
    float w = W[w_off + e];
    pen = l1 * fabs(w) + 0.5f * l2 * w * w;
    if (has_dW) dW[d_off + e] += l1 * CLT_NSIGN(w) + l2 * w;
  }
  if (!want_penalty) return;
  pen = clt_group_sum(tmp, pen);
  if (get_local_id(0) == 0) scr[CLT_INFO + get_group_id(0)] = pen;
}
