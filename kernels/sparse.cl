/* Sparse (CSR) rows against dense weights.
 *
 *   forward:  S = X[rows] W + b          W (D,C), b (1,C), S (n,C)
 *   backward: dW = X[rows]^T dS (D,C)    (db: linear_colsum)
 *
 * X's row r has the entries [ptr[pf + r], ptr[pf + r + 1]) of col and val
 * (pf: the first row of a view), columns sorted within the row. The rows a
 * call reads are X's rows first + r, or with has_idx its rows idx[first +
 * r]; an index outside [0, nrows) is skipped, never read.
 *
 * Both products are deterministic: every output element belongs to one
 * work-item, which sums its terms in a fixed order (the row's entries for
 * S; the rows in order for dW). dW needs no atomics and no transposed
 * copy: work-item (c, g) owns dW's column c over the column bucket g,
 * [g*span, (g+1)*span) of D, and finds each row's entries in that bucket
 * by binary search (columns are sorted): each entry is added once per
 * class, by the one work-item whose bucket holds its column, at the cost
 * of a search per row and bucket. The host picks the bucket count so that
 * the grid fills the device (host/cl/cl_sparse.c).
 */

/* X's row for the call's row r, or -1 when idx holds an index outside
   [0, nrows). */
static inline long clt_csr_row(__global const int *idx, ulong first, int has_idx, ulong r,
                               ulong nrows) {
  if (!has_idx) return (long)(first + r);
  int i = idx[first + r];
  return i >= 0 && (ulong)i < nrows ? (long)i : -1;
}

/* S[r, c] = b[c] + sum of the row's val[k] * W[col[k], c]: grid (C, n). */
__kernel void clt_csr_fwd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, __global const float *W, ulong w_off,
                          __global const float *b, ulong b_off, int has_b,
                          __global float *S, ulong s_off, ulong n, ulong C) {
  size_t c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= n) return;
  float acc = has_b ? b[b_off + c] : 0.0f;
  long i = clt_csr_row(idx, first, has_idx, r, nrows);
  if (i >= 0) {
    __global const float *w = W + w_off + c;
    for (long k = ptr[pf + i], e = ptr[pf + i + 1]; k < e; k++)
      acc += val[k] * w[(ulong)col[k] * C];
  }
  S[s_off + r * C + c] = acc;
}

/* dW[j, c] for j in bucket g = [g*span, min(D, (g+1)*span)): zeroed, then
   the rows' entries in the bucket added in row order. Grid (C, buckets). */
__kernel void clt_csr_dw(__global const long *ptr, ulong pf, __global const int *col,
                         __global const float *val, __global const int *idx, ulong first,
                         int has_idx, ulong nrows, __global const float *dS, ulong ds_off,
                         __global float *dW, ulong dw_off, ulong n, ulong D, ulong C,
                         ulong span) {
  size_t c = get_global_id(0), g = get_global_id(1);
  ulong lo = g * span;
  if (c >= C || lo >= D) return;
  ulong hi = min(D, lo + span);
  __global float *out = dW + dw_off + c;
  for (ulong j = lo; j < hi; j++) out[j * C] = 0.0f;
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = ptr[pf + i + 1], top = e;
    while (k < top) { /* the first entry at a column >= lo */
      long m = k + (top - k) / 2;
      if ((ulong)col[m] < lo) k = m + 1;
      else top = m;
    }
    if (k == e || (ulong)col[k] >= hi) continue;
    float gr = dS[ds_off + r * C + c];
    for (; k < e && (ulong)col[k] < hi; k++) out[(ulong)col[k] * C] += val[k] * gr;
  }
}

/* dst's row r = src's row idx[first + r] (dst's offsets dptr written by
   the host): grid (n). */
__kernel void clt_csr_gather(__global const long *sptr, ulong spf, __global const int *scol,
                             __global const float *sval, __global const int *idx, ulong first,
                             ulong nrows, __global const long *dptr, __global int *dcol,
                             __global float *dval, ulong n) {
  size_t r = get_global_id(0);
  if (r >= n) return;
  long i = clt_csr_row(idx, first, 1, r, nrows);
  if (i < 0) return;
  long from = sptr[spf + i], len = sptr[spf + i + 1] - from, at = dptr[r];
  for (long k = 0; k < len; k++) {
    dcol[at + k] = scol[from + k];
    dval[at + k] = sval[from + k];
  }
}
