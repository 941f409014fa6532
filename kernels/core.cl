/* Core kernels: deterministic reductions and row gathers.
 *
 * clt_reduce_sum: out[out_off + group] = sum of in[in_off + i] for the i in
 * this group's strided slice. Each work-item accumulates its stride with
 * Kahan compensation, then the group combines in a fixed tree: the order of
 * additions depends only on n and the launch shape, never on timing.
 */
__kernel void clt_reduce_sum(__global const float *in, ulong in_off, ulong n,
                             __global float *out, ulong out_off,
                             __local float *tmp) {
  size_t lid = get_local_id(0), wg = get_local_size(0);
  size_t stride = get_global_size(0);
  float s = 0.0f, c = 0.0f;
  for (size_t i = get_global_id(0); i < n; i += stride) {
    float y = in[in_off + i] - c;
    float t = s + y;
    c = (t - s) - y;
    s = t;
  }
  tmp[lid] = s;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = wg / 2; h > 0; h /= 2) {
    if (lid < h) tmp[lid] += tmp[lid + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) out[out_off + get_group_id(0)] = tmp[0];
}

/* dst[r, :] = src[idx[r], :] for r < rows: a minibatch taken on the device
 * from a device-resident data set through a permutation. Moved as uint so
 * float32 and int32 tensors are copied bit for bit. Work-item (k, r) moves
 * the 16 words from column 16k of row r (fewer at the row's end): one
 * vector load and store instead of sixteen launches' worth of work-items,
 * and neighbours in dimension 0 still read neighbouring memory. */
__kernel void clt_gather_rows(__global const uint *src, ulong src_off,
                              __global const int *idx, ulong idx_off,
                              __global uint *dst, ulong dst_off, ulong rows,
                              ulong cols, ulong src_rows) {
  size_t c = 16 * get_global_id(0), r = get_global_id(1);
  if (c >= cols || r >= rows) return;
  int i = idx[idx_off + r];
  if (i < 0 || (ulong)i >= src_rows) return; /* never read out of bounds */
  __global const uint *s = src + src_off + (size_t)i * cols + c;
  __global uint *d = dst + dst_off + r * cols + c;
  if (c + 16 <= cols) {
    vstore16(vload16(0, s), 0, d);
  } else {
    for (size_t k = 0; k < cols - c; k++) d[k] = s[k];
  }
}

/* *bad = 1 if any idx[r], r < n, lies outside [0, limit). */
__kernel void clt_check_index(__global const int *idx, ulong idx_off, ulong n,
                              ulong limit, __global int *bad) {
  size_t r = get_global_id(0);
  if (r >= n) return;
  int i = idx[idx_off + r];
  if (i < 0 || (ulong)i >= limit) *bad = 1;
}
