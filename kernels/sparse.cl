/* Sparse (CSR) rows against dense weights.
 *
 *   forward:  S = alpha X[rows] W + b    W (D,C), b (1,C), S (n,C)
 *   loss:     the forward, then the row loss of labels and dS = k dl/dS,
 *             in one kernel (S not stored)
 *   backward: dW = X[rows]^T dS (D,C)    (db: linear_colsum)
 *   sgd:      V -= step X[rows]^T dS on the rows' columns only, a term
 *             at a time, b -= lr_b colsum(dS)
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
 * in that bucket by binary search (columns are sorted): each entry is
 * added once per class, by the one work-item whose bucket holds its
 * column, at the cost of a search per row and bucket. The host picks the
 * bucket count so that the grid fills the device (host/cl/cl_sparse.c).
 * The update splits its weights the same way.
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
   M classes of their rows in ac: ac[col[k] * C + j] += val[k] * g[j], M a
   constant as in clt_csr_dot. */
static inline void clt_csr_scatter(__global const int *col, __global const float *val, long k,
                                   long e, __global float *ac, ulong C, const float *g,
                                   const int M) {
  for (; k < e; k++) {
    if (k + CLT_CSR_AHEAD < e) CLT_LIN_PREFETCH(ac + (ulong)col[k + CLT_CSR_AHEAD] * C);
    __global float *a = ac + (ulong)col[k] * C;
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
   [c0, c1) of their rows of out (clt_csr_scatter, in chunks of CLT_CSR_REG
   classes). */
static inline void clt_csr_add_row(__global const int *col, __global const float *val, long k,
                                   long e, __global const float *gr, __global float *out,
                                   ulong C, ulong c0, ulong c1) {
  for (ulong c = c0; c < c1; c += CLT_CSR_REG) {
    int m = (int)min((ulong)CLT_CSR_REG, c1 - c);
    float g[CLT_CSR_REG];
    for (int j = 0; j < CLT_CSR_REG; j++) g[j] = j < m ? gr[c + j] : 0.0f;
    CLT_CSR_FOR_M(m, clt_csr_scatter, col, val, k, e, out + c, C, g);
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

/* s[c] = b[c] + alpha * the sum of the entries [k, e)'s val[k] *
   W[col[k], c] for c in [c0, c1), summed in entry order (wc = W + w_off,
   bc = b + b_off or NULL). Up to 2 CLT_CSR_REG classes are summed in
   registers, a chunk of CLT_CSR_REG at a time; more in s, each entry's
   weight row read whole (walking the entries once per chunk lost to it at
   50 classes). */
static inline void clt_csr_scores(__global const int *col, __global const float *val, long k,
                                  long e, float alpha, __global const float *wc,
                                  __global const float *bc, __global float *s, ulong C,
                                  ulong c0, ulong c1) {
  if (c1 - c0 <= 2 * CLT_CSR_REG) {
    for (ulong c = c0; c < c1; c += CLT_CSR_REG) {
      float acc[CLT_CSR_REG];
      int m = (int)min((ulong)CLT_CSR_REG, c1 - c);
      CLT_CSR_FOR_M(m, clt_csr_dot, col, val, k, e, wc + c, C, acc);
      for (int j = 0; j < m; j++) s[c + j] = (bc ? bc[c + j] : 0.0f) + alpha * acc[j];
    }
    return;
  }
  for (ulong c = c0; c < c1; c++) s[c] = 0.0f;
  for (; k < e; k++) {
    if (k + CLT_CSR_AHEAD < e) CLT_LIN_PREFETCH(wc + (ulong)col[k + CLT_CSR_AHEAD] * C + c0);
    __global const float *w = wc + (ulong)col[k] * C;
    float v = val[k];
    for (ulong c = c0; c < c1; c++) s[c] += v * w[c];
  }
  for (ulong c = c0; c < c1; c++) s[c] = (bc ? bc[c] : 0.0f) + alpha * s[c];
}

/* S[r, c] = b[c] + alpha * the sum of the row's val[k] * W[col[k], c]
   (clt_csr_scores): grid (n, chunks). */
__kernel void clt_csr_fwd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, float alpha, __global const float *W,
                          ulong w_off, __global const float *b, ulong b_off, int has_b,
                          __global float *S, ulong s_off, ulong n, ulong C, ulong cw) {
  size_t r = get_global_id(0), c0 = get_global_id(1) * cw;
  if (r >= n || c0 >= C) return;
  long i = clt_csr_row(idx, first, has_idx, r, nrows);
  long k = i >= 0 ? ptr[pf + i] : 0, e = i >= 0 ? ptr[pf + i + 1] : 0;
  clt_csr_scores(col, val, k, e, alpha, W + w_off, has_b ? b + b_off : 0, S + s_off + r * C, C,
                 c0, min(C, c0 + cw));
}

/* The forward and a row loss in one pass, for few classes (the host's
   profile says how few): each row's scores computed as clt_csr_fwd's into
   its row of dS, then its loss against its label y[y_off + r] and its
   gradient there in place, k times d loss / dS, and the row's loss
   written to scr[CLT_INFO + r] for clt_loss_finish, as clt_loss's row
   kernels do, with their row functions (kernels/loss.cl): up to
   CLT_LANES_MAX_C classes eight rows a work-item, as vector lanes (POCL's
   scalar exp is slow: one row a work-item took 1.2 and 1.9 times the
   kernels apart at C = 2, batch 4096), else one row. The labels are not
   checked (the caller's are): cross-entropy without class weights (hinge:
   w_y = 1), with the smoothing term over C classes; a label equal to
   ignore_index gives loss 0 and a dS row of 0, any other outside [0, C)
   a NaN loss and a dS row of 0, never an out-of-bounds read. hinge 0:
   cross-entropy (prm eps, iprm ignore_index); 1: hinge (prm margin, iprm
   p). Grid (rows / the rows a work-item takes, rounded up). */
__kernel void clt_csr_loss(__global const long *ptr, ulong pf, __global const int *col,
                           __global const float *val, __global const int *idx, ulong first,
                           int has_idx, ulong nrows, float alpha, __global const float *W,
                           ulong w_off, __global const float *b, ulong b_off, int has_b,
                           __global const int *y, ulong y_off, int hinge, float prm, int iprm,
                           float k, __global float *dS, ulong ds_off, ulong n, ulong C,
                           __global float *scr) {
  const bool lanes = C <= CLT_LANES_MAX_C;
  const size_t per = lanes ? 8 : 1, r0 = get_global_id(0) * per;
  if (r0 >= n) return;
  /* The rows r0 .. r0+per (lanes past the last row repeat it) and their
     labels, those ignored or outside [0, C) replaced by 0 (an index) and
     their rows set to the losses of the rule above at the end. */
  __global float *d[8];
  int yv[8], ign[8], bad[8];
  for (size_t q = 0; q < per; q++) {
    size_t r = min(r0 + q, (size_t)n - 1);
    d[q] = dS + ds_off + r * C;
    yv[q] = y[y_off + r];
    ign[q] = !hinge && yv[q] == iprm;
    bad[q] = !ign[q] && (uint)yv[q] >= C;
    if (ign[q] || bad[q]) yv[q] = 0;
    if (r < r0 + q) continue; /* a repeat */
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    long kb = i >= 0 ? ptr[pf + i] : 0, e = i >= 0 ? ptr[pf + i + 1] : 0;
    clt_csr_scores(col, val, kb, e, alpha, W + w_off, has_b ? b + b_off : 0, d[q], C, 0, C);
  }
  float l[8];
  if (lanes) {
    __global const float *sc[8];
    for (size_t q = 0; q < 8; q++) sc[q] = d[q];
    int8 y8 = vload8(0, yv);
    vstore8(hinge ? clt_hinge_lanes(sc, d, 1, C, y8, prm, iprm, 1.0f, k)
                  : clt_ce_lanes(sc, d, 1, C, y8, iprm, prm, W, 0, 0, (float)C, k),
            0, l);
  } else
    l[0] = hinge ? clt_hinge_row(d[0], d[0], 1, C, yv[0], prm, iprm, 1.0f, k)
                 : clt_ce_row(d[0], d[0], 1, C, yv[0], prm, W, 0, 0, (float)C, k);
  for (size_t q = 0; q < per && r0 + q < n; q++) {
    if (ign[q] || bad[q])
      for (ulong c = 0; c < C; c++) d[q][c] = 0.0f;
    scr[CLT_INFO + r0 + q] = ign[q] ? 0.0f : bad[q] ? NAN : l[q];
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
  for (ulong j = lo; j < hi; j++)
    for (ulong c = c0; c < c1; c++) out[j * C + c] = 0.0f;
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    clt_csr_add_row(col, val, k, e, dS + ds_off + r * C, out, C, c0, c1);
  }
}

/* The entries [k, e) of a row whose dS row holds g[0 .. M) applied to the
   M classes of their weight rows in wc: w[col * C + j] -= step * val * g[j],
   entry by entry; chg[j] gains each weight's change of its square. M a
   constant as in clt_csr_dot. */
static inline void clt_csr_descend(__global const int *col, __global const float *val, long k,
                                   long e, __global float *wc, ulong C, const float *g,
                                   float step, float *chg, const int M) {
  for (; k < e; k++) {
    if (k + CLT_CSR_AHEAD < e) CLT_LIN_PREFETCH(wc + (ulong)col[k + CLT_CSR_AHEAD] * C);
    __global float *w = wc + (ulong)col[k] * C;
    float sv = step * val[k];
    for (int j = 0; j < M; j++) {
      float old = w[j], now = old - sv * g[j];
      w[j] = now;
      chg[j] += (now - old) * (now + old);
    }
  }
}

/* Plain SGD on the rows' gradient, touching only the weights of the
   columns the rows hold: V[j, c] -= step * val * dS[r, c] for each entry
   (r, j) of the rows, rows in order, entries in order, so a weight moves
   once for each row that holds its column (the same sum as one move by
   X[rows]^T dS, rounded at each term; the weights of no entry keep their
   bits). Work-item (g, q) owns its chunk of classes of the weights in
   bucket g (as clt_csr_dw), so no two work-items touch one weight; it
   writes the change of its weights' sum of squares to dn[q * buckets + g].
   With has_b, work-items (0, q) also move b by -lr_b times dS's column
   sums. Each entry's weight row is read and written once, at random:
   summing the gradient into a scratch first, then applying it, touched a
   row of the scratch for each entry and both rows again, and was slower
   at every shape timed (host/cl/cl_sparse.c). Grid (buckets, chunks). */
__kernel void clt_csr_sgd(__global const long *ptr, ulong pf, __global const int *col,
                          __global const float *val, __global const int *idx, ulong first,
                          int has_idx, ulong nrows, __global const float *dS, ulong ds_off,
                          __global float *V, ulong v_off, float step, __global float *b,
                          ulong b_off, int has_b, float lr_b, __global float *dn, ulong n,
                          ulong D, ulong C, ulong span, ulong buckets, ulong cw) {
  size_t g = get_global_id(0), q = get_global_id(1), c0 = q * cw;
  if (c0 >= C || g >= buckets) return;
  ulong lo = g * span, hi = min(D, lo + span), c1 = min(C, c0 + cw);
  float chg[CLT_CSR_REG];
  for (int j = 0; j < CLT_CSR_REG; j++) chg[j] = 0.0f;
  for (ulong r = 0; r < n; r++) {
    long i = clt_csr_row(idx, first, has_idx, r, nrows);
    if (i < 0) continue;
    long k = ptr[pf + i], e = clt_csr_bucket(col, &k, ptr[pf + i + 1], lo, hi);
    __global const float *gr = dS + ds_off + r * C;
    for (ulong c = c0; c < c1; c += CLT_CSR_REG) {
      int m = (int)min((ulong)CLT_CSR_REG, c1 - c);
      float gj[CLT_CSR_REG];
      for (int j = 0; j < CLT_CSR_REG; j++) gj[j] = j < m ? gr[c + j] : 0.0f;
      CLT_CSR_FOR_M(m, clt_csr_descend, col, val, k, e, V + v_off + c, C, gj, step, chg);
    }
  }
  float change = 0.0f;
  for (int j = 0; j < CLT_CSR_REG; j++) change += chg[j];
  dn[q * buckets + g] = change;
  if (has_b && g == 0) clt_csr_bias(dS + ds_off, n, C, c0, c1, b + b_off, lr_b);
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
