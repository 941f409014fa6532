/* Sparse (CSR) rows against dense weights.
 *
 *   forward:  S = alpha X[rows] W + b    W (D,C), b (1,C), S (n,C)
 *   backward: dW = X[rows]^T dS (D,C)    (db: linear_colsum)
 *   sgd:      V -= step X[rows]^T dS on the rows' columns only,
 *             b -= lr_b colsum(dS)
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

/* The entries [*k, e) of a row's sorted columns that fall in [lo, hi):
   *k moves to the first (binary search); returns the end. */
static inline long clt_csr_bucket(__global const int *col, long *k, long e, ulong lo, ulong hi) {
  long a = *k, top = e;
  while (a < top) {
    long m = a + (top - a) / 2;
    if ((ulong)col[m] < lo) a = m + 1;
    else top = m;
  }
  *k = a;
  while (top < e && (ulong)col[top] < hi) top++;
  return top;
}

/* S[r, c] = b[c] + alpha * the sum of the row's val[k] * W[col[k], c]:
   grid (C, n). */
__kernel void clt_csr_fwd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, float alpha, __global const float *W,
                          ulong w_off,
                          __global const float *b, ulong b_off, int has_b,
                          __global float *S, ulong s_off, ulong n, ulong C) {
  size_t c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= n) return;
  float acc = 0.0f;
  long i = clt_csr_row(idx, first, has_idx, r, nrows);
  if (i >= 0) {
    __global const float *w = W + w_off + c;
    for (long k = ptr[pf + i], e = ptr[pf + i + 1]; k < e; k++)
      acc += val[k] * w[(ulong)col[k] * C];
  }
  S[s_off + r * C + c] = (has_b ? b[b_off + c] : 0.0f) + alpha * acc;
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
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    float gr = dS[ds_off + r * C + c];
    for (; k < e; k++) out[(ulong)col[k] * C] += val[k] * gr;
  }
}

/* Plain SGD on the rows' gradient, touching only the weights of the
   columns the rows hold: V[j, c] -= step * (X[rows]^T dS)[j, c], summed
   first into G (zero outside a call, zeroed again as it is applied), in
   row order. Work-item (c, g) owns column c of the weights in bucket g (as
   clt_csr_dw), so no two work-items touch one weight; it writes the change
   of its weights' sum of squares to dn[c * buckets + g]. With has_b,
   work-item (c, 0) also moves b[c] by -lr_b times dS's column sum. Grid
   (C, buckets). */
__kernel void clt_csr_sgd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, __global const float *dS, ulong ds_off,
                          __global float *V, ulong v_off, __global float *G, ulong g_off,
                          float step, __global float *b, ulong b_off, int has_b, float lr_b,
                          __global float *dn, ulong n, ulong D, ulong C, ulong span,
                          ulong buckets) {
  size_t c = get_global_id(0), g = get_global_id(1);
  ulong lo = g * span;
  if (c >= C || g >= buckets) return;
  float change = 0.0f;
  ulong hi = min(D, lo + span);
  __global float *w = V + v_off + c, *acc = G + g_off + c;
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    float gr = dS[ds_off + r * C + c];
    for (; k < e; k++) acc[(ulong)col[k] * C] += val[k] * gr;
  }
  for (ulong r = 0; r < n; r++) { /* each touched weight once: its G is then 0 */
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    for (; k < e; k++) {
      ulong at = (ulong)col[k] * C;
      float gj = acc[at];
      if (gj == 0.0f) continue;
      float old = w[at], now = old - step * gj;
      w[at] = now;
      acc[at] = 0.0f;
      change += now * now - old * old;
    }
  }
  dn[c * buckets + g] = change;
  if (has_b && g == 0) {
    float sum = 0.0f;
    for (ulong r = 0; r < n; r++) sum += dS[ds_off + r * C + c];
    b[b_off + c] -= lr_b * sum;
  }
}

/* t[off .. off+n) *= alpha: grid (n). */
__kernel void clt_scale(__global float *t, ulong off, ulong n, float alpha) {
  size_t i = get_global_id(0);
  if (i < n) t[off + i] *= alpha;
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
