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
 * Every kernel is deterministic: each output element belongs to one
 * work-item, which sums its terms in a fixed order (the row's entries for
 * S; the rows in order for dW and the update). dW needs no atomics and no
 * transposed copy: work-item (g, q) owns dW's chunk q of classes over the
 * column bucket g, [g*span, (g+1)*span) of D, and finds each row's entries
 * in that bucket
 * by binary search (columns are sorted): each entry is added once per
 * class, by the one work-item whose bucket holds its column, at the cost
 * of a search per row and bucket. The host picks the bucket count so that
 * the grid fills the device (host/cl/cl_sparse.c). From 16 classes, the
 * update's work-items that hold every class pack their bucket's gradient
 * in the order the rows first touch its columns (clt_csr_sgd_packed),
 * adding in the same order as the unpacked kernel.
 */

/* Entries ahead whose weight rows are prefetched (CPU profiles,
   CLT_LIN_PREFETCH of kernels/linear.cl): random rows of a large W miss
   the caches, and prefetching lets the misses overlap. */
#define CLT_CSR_AHEAD 8

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

/* Every kernel here gives a work-item the classes [q*cw, min(C, q*cw+cw))
   of its rows or columns, chunk q of ceil(C/cw): CPU profiles take all C
   in one work-item, whose loops over a weight row then read contiguous
   memory; GPU ones one class each (host/cl/cl_sparse.c). */

/* Classes a work-item sums in registers at once: a row's entries are
   walked once per CLT_CSR_REG of its classes. */
#define CLT_CSR_REG 8

/* acc[j] = the sum over the entries [k, e) of val[k] * wc[col[k] * C + j]
   for j < M, in entry order. M is a constant wherever this is inlined, so
   acc stays in registers (a masked loop would keep it in memory, and a
   masked store does not forward to the next entry's load). */
static inline void clt_csr_dot(__global const int *col, __global const float *val, long k,
                               long e, __global const float *wc, ulong C, float *acc,
                               const int M) {
  for (int j = 0; j < M; j++) acc[j] = 0.0f;
  for (; k < e; k++) {
    if (k + CLT_CSR_AHEAD < e) CLT_LIN_PREFETCH(wc + (ulong)col[k + CLT_CSR_AHEAD] * C);
    __global const float *w = wc + (ulong)col[k] * C;
    float v = val[k];
    for (int j = 0; j < M; j++) acc[j] += v * w[j];
  }
}

/* The entries [k, e) of a row whose dS row holds g[0 .. M) added to the
   M classes of their rows in ac: ac[row * C + j] += val[k] * g[j], M a
   constant as in clt_csr_dot. The row is the entry's column; or, with a
   slot map, the packed row lo + slot[column] - 1, the column's slot given
   (the next of *used, order[lo + slot - 1] = column) when it first comes. */
static inline void clt_csr_scatter(__global const int *col, __global const float *val, long k,
                                   long e, __global int *slot, __global int *order, ulong lo,
                                   ulong *used, __global float *ac, ulong C, const float *g,
                                   const int M) {
  for (; k < e; k++) {
    ulong row = (ulong)col[k];
    if (slot) {
      if (k + CLT_CSR_AHEAD < e) CLT_LIN_PREFETCH(slot + col[k + CLT_CSR_AHEAD]);
      int s = slot[row];
      if (s == 0) {
        s = (int)++*used;
        slot[row] = s;
        order[lo + (ulong)s - 1] = (int)row;
      }
      row = lo + (ulong)s - 1;
    } else if (k + CLT_CSR_AHEAD < e) {
      CLT_LIN_PREFETCH(ac + (ulong)col[k + CLT_CSR_AHEAD] * C);
    }
    __global float *a = ac + row * C;
    float v = val[k];
    for (int j = 0; j < M; j++) a[j] += v * g[j];
  }
}

/* F(..., M) with M the constant equal to m, for m in [1, CLT_CSR_REG]. */
#define CLT_CSR_FOR_M(m, F, ...)                                              \
  switch (m) {                                                                \
  case 1: F(__VA_ARGS__, 1); break;                                           \
  case 2: F(__VA_ARGS__, 2); break;                                           \
  case 3: F(__VA_ARGS__, 3); break;                                           \
  case 4: F(__VA_ARGS__, 4); break;                                           \
  case 5: F(__VA_ARGS__, 5); break;                                           \
  case 6: F(__VA_ARGS__, 6); break;                                           \
  case 7: F(__VA_ARGS__, 7); break;                                           \
  default: F(__VA_ARGS__, 8); break;                                          \
  }

/* The entries [k, e) of a row added, times its dS row gr, to the classes
   [c0, c1) of their rows of out (clt_csr_scatter, slot map and all, in
   chunks of CLT_CSR_REG classes). */
static inline void clt_csr_add_row(__global const int *col, __global const float *val, long k,
                                   long e, __global const float *gr, __global float *out,
                                   ulong C, ulong c0, ulong c1, __global int *slot,
                                   __global int *order, ulong lo, ulong *used) {
  for (ulong c = c0; c < c1; c += CLT_CSR_REG) {
    int m = (int)min((ulong)CLT_CSR_REG, c1 - c);
    float g[CLT_CSR_REG];
    for (int j = 0; j < CLT_CSR_REG; j++) g[j] = j < m ? gr[c + j] : 0.0f;
    CLT_CSR_FOR_M(m, clt_csr_scatter, col, val, k, e, slot, order, lo, used, out + c, C, g);
  }
}

/* b[c] -= lr_b times dS's column sum c (rows in order), for c in [c0, c1). */
static inline void clt_csr_bias(__global const float *dS, ulong n, ulong C, ulong c0, ulong c1,
                                __global float *b, float lr_b) {
  for (ulong c = c0; c < c1; c++) {
    float sum = 0.0f;
    for (ulong r = 0; r < n; r++) sum += dS[r * C + c];
    b[c] -= lr_b * sum;
  }
}

/* S[r, c] = b[c] + alpha * the sum of the row's val[k] * W[col[k], c],
   summed in entry order: grid (n, chunks). Up to 2 CLT_CSR_REG classes
   are summed in registers, a chunk of CLT_CSR_REG at a time; more in S's
   row, each entry's weight row read whole (walking the entries once per
   chunk lost to it at 50 classes). */
__kernel void clt_csr_fwd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, float alpha, __global const float *W,
                          ulong w_off, __global const float *b, ulong b_off, int has_b,
                          __global float *S, ulong s_off, ulong n, ulong C, ulong cw) {
  size_t r = get_global_id(0), c0 = get_global_id(1) * cw;
  if (r >= n || c0 >= C) return;
  ulong c1 = min(C, c0 + cw);
  __global float *s = S + s_off + r * C;
  long i = clt_csr_row(idx, first, has_idx, r, nrows);
  long k = i >= 0 ? ptr[pf + i] : 0, e = i >= 0 ? ptr[pf + i + 1] : 0;
  if (c1 - c0 <= 2 * CLT_CSR_REG)
    for (ulong c = c0; c < c1; c += CLT_CSR_REG) {
      __global const float *wc = W + w_off + c;
      float acc[CLT_CSR_REG];
      int m = (int)min((ulong)CLT_CSR_REG, c1 - c);
      CLT_CSR_FOR_M(m, clt_csr_dot, col, val, k, e, wc, C, acc);
      for (int j = 0; j < m; j++) s[c + j] = (has_b ? b[b_off + c + j] : 0.0f) + alpha * acc[j];
    }
  else {
    for (ulong c = c0; c < c1; c++) s[c] = 0.0f;
    for (; k < e; k++) {
      if (k + CLT_CSR_AHEAD < e) CLT_LIN_PREFETCH(W + w_off + (ulong)col[k + CLT_CSR_AHEAD] * C + c0);
      __global const float *w = W + w_off + (ulong)col[k] * C;
      float v = val[k];
      for (ulong c = c0; c < c1; c++) s[c] += v * w[c];
    }
    for (ulong c = c0; c < c1; c++) s[c] = (has_b ? b[b_off + c] : 0.0f) + alpha * s[c];
  }
}

/* dW[j, c] for j in bucket g = [g*span, min(D, (g+1)*span)): zeroed, then
   the rows' entries in the bucket added in row order. Grid (buckets,
   chunks). */
__kernel void clt_csr_dw(__global const long *ptr, ulong pf, __global const int *col,
                         __global const float *val, __global const int *idx, ulong first,
                         int has_idx, ulong nrows, __global const float *dS, ulong ds_off,
                         __global float *dW, ulong dw_off, ulong n, ulong D, ulong C,
                         ulong span, ulong cw) {
  size_t g = get_global_id(0), c0 = get_global_id(1) * cw;
  ulong lo = g * span;
  if (c0 >= C || lo >= D) return;
  ulong hi = min(D, lo + span), c1 = min(C, c0 + cw);
  __global float *out = dW + dw_off;
  ulong none = 0; /* no slot map: dW's rows are the columns */
  for (ulong j = lo; j < hi; j++)
    for (ulong c = c0; c < c1; c++) out[j * C + c] = 0.0f;
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    clt_csr_add_row(col, val, k, e, dS + ds_off + r * C, out, C, c0, c1, 0, 0, 0, &none);
  }
}

/* The gradient summed in g[0 .. n) applied to w[0 .. n) (w -= step g
   where g is not 0, w kept where it is), g zeroed; returns the change of
   w's sum of squares. Eight lanes at a time without a branch, the lanes'
   changes summed at the end in a fixed order, then the tail. */
static inline float clt_csr_apply(__global float *w, __global float *g, ulong n, float step) {
  float8 lanes = (float8)(0.0f);
  ulong a = 0;
  for (; a + 8 <= n; a += 8) {
    float8 gj = vload8(0, g + a), old = vload8(0, w + a);
    float8 now = select(old - step * gj, old, gj == (float8)(0.0f));
    vstore8(now, 0, w + a);
    vstore8((float8)(0.0f), 0, g + a);
    lanes += now * now - old * old;
  }
  float change = ((lanes.s0 + lanes.s1) + (lanes.s2 + lanes.s3)) +
                 ((lanes.s4 + lanes.s5) + (lanes.s6 + lanes.s7));
  for (; a < n; a++) {
    float gj = g[a], old = w[a], now = gj != 0.0f ? old - step * gj : old;
    w[a] = now;
    g[a] = 0.0f;
    change += now * now - old * old;
  }
  return change;
}

/* Plain SGD on the rows' gradient, touching only the weights of the
   columns the rows hold: V[j, c] -= step * (X[rows]^T dS)[j, c], summed
   first into G (zero outside a call, zeroed again as it is applied), in
   row order. Work-item (g, q) owns its chunk of classes of the weights in
   bucket g (as clt_csr_dw), so no two work-items touch one weight; it
   writes the change of its weights' sum of squares to dn[q * buckets + g].
   With has_b, work-items (0, q) also move b by -lr_b times dS's column
   sums. The second pass finds the touched weights again through the rows
   (random rows of G and W: a miss each when they are large), or with
   sweep walks the bucket's whole slice of G and W in order (the host
   chooses it when the rows' entries are that many). Grid (buckets,
   chunks). */
__kernel void clt_csr_sgd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, __global const float *dS, ulong ds_off,
                          __global float *V, ulong v_off, __global float *G, ulong g_off,
                          float step, __global float *b, ulong b_off, int has_b, float lr_b,
                          __global float *dn, ulong n, ulong D, ulong C, ulong span,
                          ulong buckets, ulong cw, int sweep) {
  size_t g = get_global_id(0), q = get_global_id(1), c0 = q * cw;
  if (c0 >= C || g >= buckets) return;
  ulong lo = g * span, hi = min(D, lo + span), c1 = min(C, c0 + cw);
  float change = 0.0f;
  __global float *w = V + v_off, *acc = G + g_off;
  ulong none = 0; /* no slot map: G's rows are the columns */
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    clt_csr_add_row(col, val, k, e, dS + ds_off + r * C, acc, C, c0, c1, 0, 0, 0, &none);
  }
  if (sweep && c1 - c0 == C) change = clt_csr_apply(w + lo * C, acc + lo * C, (hi - lo) * C, step);
  for (ulong j = lo; sweep && c1 - c0 < C && j < hi; j++)
    change += clt_csr_apply(w + j * C + c0, acc + j * C + c0, c1 - c0, step);
  for (ulong r = 0; !sweep && r < n; r++) { /* each touched weight once: its G is then 0 */
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    for (; k < e; k++) {
      if (k + CLT_CSR_AHEAD < e) {
        CLT_LIN_PREFETCH(acc + (ulong)col[k + CLT_CSR_AHEAD] * C + c0);
        CLT_LIN_PREFETCH(w + (ulong)col[k + CLT_CSR_AHEAD] * C + c0);
      }
      change += clt_csr_apply(w + (ulong)col[k] * C + c0, acc + (ulong)col[k] * C + c0, c1 - c0, step);
    }
  }
  dn[q * buckets + g] = change;
  if (has_b && g == 0) clt_csr_bias(dS + ds_off, n, C, c0, c1, b + b_off, lr_b);
}

/* clt_csr_sgd for one work-item per bucket holding every class, with the
   bucket's gradient packed: the columns the rows hold take G's rows lo,
   lo + 1, ... in the order the rows first touch them (map: slot + 1 of
   each column, zero outside a call, then the columns in slot order), so
   the sums stay in a few cached rows and each touched weight row is read
   and written once, in that order, whatever the batch. The map is left
   all zero, the order too, so the next call may have another D. Grid
   (buckets). */
__kernel void clt_csr_sgd_packed(__global const long *ptr, ulong pf, __global const int *col,
                                 __global const float *val, __global const int *idx,
                                 ulong first, int has_idx, ulong nrows,
                                 __global const float *dS, ulong ds_off, __global float *V,
                                 ulong v_off, __global float *G, ulong g_off,
                                 __global int *map, float step, __global float *b,
                                 ulong b_off, int has_b, float lr_b, __global float *dn,
                                 ulong n, ulong D, ulong C, ulong span, ulong buckets) {
  size_t g = get_global_id(0);
  if (g >= buckets) return;
  ulong lo = g * span, hi = min(D, lo + span), used = 0;
  __global float *w = V + v_off, *acc = G + g_off;
  __global int *slot = map, *order = map + D;
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    clt_csr_add_row(col, val, k, e, dS + ds_off + r * C, acc, C, 0, C, slot, order, lo, &used);
  }
  float change = 0.0f;
  for (ulong s = 0; s < used; s++) {
    if (s + CLT_CSR_AHEAD < used) CLT_LIN_PREFETCH(w + (ulong)order[lo + s + CLT_CSR_AHEAD] * C);
    ulong j = (ulong)order[lo + s];
    slot[j] = order[lo + s] = 0;
    change += clt_csr_apply(w + j * C, acc + (lo + s) * C, C, step);
  }
  dn[g] = change;
  if (has_b && g == 0) clt_csr_bias(dS + ds_off, n, C, 0, C, b + b_off, lr_b);
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
