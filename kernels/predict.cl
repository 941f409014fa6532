/* Predictions from scores S (N,C): the arg-max of each row and the number
 * of rows whose arg-max equals the label.
 *
 * Like torch.argmax (https://pytorch.org/docs/stable/generated/torch.argmax.html)
 * the first maximum wins, and a NaN counts as larger than every number, so a
 * row holding NaN predicts its first NaN (PyTorch's CPU behaviour).
 */

int clt_pred_argmax_row(__global const float *s, ulong C) {
  float best = s[0];
  if (isnan(best)) return 0;
  int arg = 0;
  for (ulong c = 1; c < C; c++) {
    float v = s[c];
    if (isnan(v)) return (int)c;
    if (v > best) {
      best = v;
      arg = (int)c;
    }
  }
  return arg;
}

/* pred[n] = argmax_c S[n, c]. */
__kernel void clt_argmax(__global const float *S, ulong s_off, ulong N,
                         ulong C, __global int *pred, ulong p_off) {
  ulong n = get_global_id(0);
  if (n < N) pred[p_off + n] = clt_pred_argmax_row(S + s_off + n * C, C);
}

/* Per work-group counts over a strided slice of rows:
 * part[2g] = rows whose argmax equals the label, part[2g+1] = labels
 * outside [0, C) (never used as an index). Power-of-two work-groups. */
__kernel void clt_accuracy_count(__global const float *S, ulong s_off,
                                 __global const int *labels, ulong l_off,
                                 ulong N, ulong C, __global ulong *part,
                                 __local ulong *tmp) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  ulong ok = 0, bad = 0;
  for (ulong n = get_global_id(0); n < N; n += get_global_size(0)) {
    int y = labels[l_off + n];
    if (y < 0 || (ulong)y >= C)
      bad++;
    else
      ok += clt_pred_argmax_row(S + s_off + n * C, C) == y;
  }
  tmp[lid] = ok;
  tmp[wg + lid] = bad;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h) {
      tmp[lid] += tmp[lid + h];
      tmp[wg + lid] += tmp[wg + lid + h];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) {
    part[2 * get_group_id(0)] = tmp[0];
    part[2 * get_group_id(0) + 1] = tmp[wg];
  }
}

/* part[2G], part[2G+1] = the sums of the G group counts (one work-item). */
__kernel void clt_accuracy_total(__global ulong *part, ulong groups) {
  ulong ok = 0, bad = 0;
  for (ulong g = 0; g < groups; g++) {
    ok += part[2 * g];
    bad += part[2 * g + 1];
  }
  part[2 * groups] = ok;
  part[2 * groups + 1] = bad;
}
