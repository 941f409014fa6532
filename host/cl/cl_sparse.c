/* Sparse (CSR) products and gathers on the OpenCL backend: the kernels of
   kernels/sparse.cl, db through the dense column sum. */

#include "cl_internal.h"

/* The rows' kernel arguments: idx (a NULL buffer without one), its first
   row, whether there is one, and X's rows (the bound on idx's values). */
typedef struct rows_args {
  cl_mem idx;
  cl_ulong first, nrows;
  cl_int has_idx;
} rows_args;

static rows_args rows_of(const clt_csr *X, clt_batch_rows rows) {
  return (rows_args){rows.idx ? rows.idx->st->mem : NULL,
                     rows.idx ? rows.idx->offset + rows.first : rows.first, X->rows,
                     rows.idx != NULL};
}

/* How the sparse kernels split the classes: cw per work-item, in chunks. */
static size_t class_chunks(const clt_context *ctx, size_t C, cl_ulong *cw) {
  size_t per = clt_cl_of(ctx)->profile.csr_classes_per_item;
  *cw = per && per < C ? per : C;
  return (C + *cw - 1) / *cw;
}

/* Column buckets of the dW and SGD kernels: enough for the profile's
   work-items over the class chunks, at most D; *span columns each. */
static size_t column_buckets(const clt_context *ctx, size_t D, size_t chunks, cl_ulong *span) {
  const clt_cl_context *cl = clt_cl_of(ctx);
  size_t lanes = cl->profile.csr_lanes_per_unit * (cl->units ? cl->units : 1);
  size_t buckets = (lanes + chunks - 1) / chunks;
  if (buckets > D) buckets = D;
  *span = (D + buckets - 1) / buckets;
  return (D + *span - 1) / *span;
}

/* Launches the dW or update kernel id over its grid (buckets, chunks) in
   work-groups of the profile's lanes per unit along the buckets (the
   largest power of two the kernel runs in), so that a CPU profile's
   buckets, one a core, are as many work-groups, each on its own core. */
static clt_status launch_buckets(clt_context *ctx, clt_kid id, size_t buckets, size_t chunks,
                                 size_t nargs, const clt_karg *args) {
  size_t wg;
  CLT_TRY(clt_cl_kernel_group(ctx, id, clt_cl_of(ctx)->profile.csr_lanes_per_unit, &wg));
  const size_t global[2] = {buckets, chunks}, local[2] = {wg, 1};
  return clt_cl_launch(ctx, id, 2, NULL, global, local, nargs, args);
}
#define LAUNCH_BUCKETS(ctx, id, buckets, chunks, ...)                                       \
  launch_buckets((ctx), (id), (buckets), (chunks),                                          \
                 sizeof((clt_karg[]){__VA_ARGS__}) / sizeof(clt_karg), (clt_karg[]){__VA_ARGS__})

clt_status clt_cl_csr_forward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                              float alpha, const clt_tensor *W, const clt_tensor *b, clt_tensor *S) {
  rows_args ra = rows_of(X, rows);
  cl_ulong cw, pf = X->first, w_off = W->offset, b_off = b ? b->offset : 0, s_off = S->offset,
               n = rows.n, C = W->cols;
  size_t chunks = class_chunks(ctx, C, &cw);
  cl_mem bmem = b ? b->st->mem : NULL;
  cl_int has_b = b != NULL;
  return CLT_LAUNCH_GRID(ctx, CLT_K_csr_fwd, rows.n, chunks, 1, CLT_ARG(X->ptr->st->mem),
                         CLT_ARG(pf), CLT_ARG(X->col->st->mem), CLT_ARG(X->val->st->mem),
                         CLT_ARG(ra.idx), CLT_ARG(ra.first), CLT_ARG(ra.has_idx),
                         CLT_ARG(ra.nrows), CLT_ARG(alpha), CLT_ARG(W->st->mem), CLT_ARG(w_off),
                         CLT_ARG(bmem), CLT_ARG(b_off), CLT_ARG(has_b), CLT_ARG(S->st->mem),
                         CLT_ARG(s_off), CLT_ARG(n), CLT_ARG(C), CLT_ARG(cw));
}

clt_status clt_cl_csr_backward(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                               const clt_tensor *dS, clt_tensor *dW, clt_tensor *db) {
  size_t D = X->cols, C = dS->cols;
  cl_ulong cw, span;
  size_t chunks = class_chunks(ctx, C, &cw), buckets = column_buckets(ctx, D, chunks, &span);
  rows_args ra = rows_of(X, rows);
  cl_ulong pf = X->first, ds_off = dS->offset, dw_off = dW->offset, n = rows.n, d = D, c = C;
  CLT_TRY(LAUNCH_BUCKETS(ctx, CLT_K_csr_dw, buckets, chunks, CLT_ARG(X->ptr->st->mem),
                          CLT_ARG(pf), CLT_ARG(X->col->st->mem), CLT_ARG(X->val->st->mem),
                          CLT_ARG(ra.idx), CLT_ARG(ra.first), CLT_ARG(ra.has_idx),
                          CLT_ARG(ra.nrows), CLT_ARG(dS->st->mem), CLT_ARG(ds_off),
                          CLT_ARG(dW->st->mem), CLT_ARG(dw_off), CLT_ARG(n), CLT_ARG(d),
                          CLT_ARG(c), CLT_ARG(span), CLT_ARG(cw)));
  return db ? clt_cl_colsum(ctx, dS, db) : CLT_OK;
}

clt_status clt_cl_csr_sgd(clt_context *ctx, const clt_csr *X, clt_batch_rows rows,
                          const clt_tensor *dS, clt_tensor *V, float step, clt_tensor *b,
                          float lr_b, clt_tensor *change, size_t at) {
  size_t D = X->cols, C = dS->cols;
  cl_ulong cw, span;
  size_t chunks = class_chunks(ctx, C, &cw), buckets = column_buckets(ctx, D, chunks, &span);
  size_t parts = chunks * buckets;
  cl_mem dn;
  CLT_TRY(clt_cl_scratch(ctx, parts * sizeof(float), &dn));
  rows_args ra = rows_of(X, rows);
  cl_ulong pf = X->first, ds_off = dS->offset, v_off = V->offset, b_off = b ? b->offset : 0,
           n = rows.n, d = D, c = C, nb = buckets;
  cl_mem bmem = b ? b->st->mem : NULL;
  cl_int has_b = b != NULL;
  /* Each entry applied to its weights at once (kernels/sparse.cl). Kernel
     time a step against summing into a scratch first, then applying it
     (walking the rows again, or sweeping the scratch and W whole, or from
     16 classes with the scratch packed in the order the rows touch it),
     as a ratio to the forward's time in the same run (this machine is
     noisy), 2^18 features, about 100 entries a row, two runs each: 2
     classes at batch 4096 1.21-1.32 against 1.58-1.85, at batch 256
     0.80-1.09 against 1.13-1.34; 10 classes at 256 0.63-1.06 against
     1.52-1.62, at 4096 1.02-1.51 against 1.56-1.60; 20 classes at 256
     0.45-0.49 against 0.79-0.80 packed; 50 classes at 256 0.66-0.97
     against 0.98-1.05 packed, at 4096 1.20-1.31 against 1.67-1.80. */
  CLT_TRY(LAUNCH_BUCKETS(ctx, CLT_K_csr_sgd, buckets, chunks, CLT_ARG(X->ptr->st->mem),
                          CLT_ARG(pf), CLT_ARG(X->col->st->mem), CLT_ARG(X->val->st->mem),
                          CLT_ARG(ra.idx), CLT_ARG(ra.first), CLT_ARG(ra.has_idx),
                          CLT_ARG(ra.nrows), CLT_ARG(dS->st->mem), CLT_ARG(ds_off),
                          CLT_ARG(V->st->mem), CLT_ARG(v_off), CLT_ARG(step), CLT_ARG(bmem),
                          CLT_ARG(b_off), CLT_ARG(has_b), CLT_ARG(lr_b), CLT_ARG(dn),
                          CLT_ARG(n), CLT_ARG(d), CLT_ARG(c), CLT_ARG(span), CLT_ARG(nb),
                          CLT_ARG(cw)));
  return change ? clt_cl_sum_to(ctx, dn, 0, parts, change->st->mem, change->offset + at)
                : CLT_OK;
}

/* Work-items a work-group of clt_csr_loss with eight rows each: a work-
   group runs on one core of a CPU, and at batch 256 the grid's local size
   (32) left one of two cores idle: the kernel took 1.5 and 1.6 times the
   forward and the loss kernels apart at C = 10. */
#define LANES_LOCAL 4

/* The forward and the loss in one kernel (clt_csr_loss): labels with
   cross-entropy or hinge, no class weights, up to the profile's
   csr_loss_max_c classes and, for cross-entropy's mean, an ignore_index
   outside [0, C), so that no label the caller vouches for is ignored and
   the mean's denominator is the batch's rows: the labels need no pass of
   their own (clt_loss_check). */
bool clt_cl_csr_loss_supports(const clt_context *ctx, const clt_loss_desc *desc,
                              const clt_tensor *y, size_t c) {
  bool ce = desc->kind == CLT_LOSS_CROSS_ENTROPY;
  if (!(ce || desc->kind == CLT_LOSS_HINGE) || y->dtype != CLT_INT32 || desc->class_weight ||
      c > clt_cl_of(ctx)->profile.csr_loss_max_c)
    return false;
  bool ignorable = desc->ignore_index >= 0 && (size_t)desc->ignore_index < c;
  return !(ce && desc->reduction == CLT_REDUCTION_MEAN && ignorable);
}

clt_status clt_cl_csr_loss(clt_context *ctx, const clt_csr *X, clt_batch_rows rows, float alpha,
                           const clt_tensor *W, const clt_tensor *b, const clt_loss_desc *desc,
                           const clt_tensor *y, clt_loss_slot *defer, double *value,
                           clt_tensor *dS) {
  size_t n = rows.n;
  cl_mem scr;
  CLT_TRY(clt_cl_scratch(ctx, (CLT_INFO + n) * sizeof(float), &scr));
  rows_args ra = rows_of(X, rows);
  cl_ulong pf = X->first, w_off = W->offset, b_off = b ? b->offset : 0, y_off = y->offset,
           ds_off = dS->offset, cn = n, C = W->cols;
  cl_mem bmem = b ? b->st->mem : NULL;
  cl_int has_b = b != NULL, hinge = desc->kind == CLT_LOSS_HINGE;
  float prm = hinge ? desc->margin : desc->label_smoothing;
  cl_int iprm = hinge ? desc->p : desc->ignore_index;
  /* the mean over the rows, as clt_cl_loss's for the row losses */
  float div = desc->reduction == CLT_REDUCTION_MEAN ? (float)n : 1.0f;
  float k = (float)(1.0 / div);
  const clt_karg args[] = {
      CLT_ARG(X->ptr->st->mem), CLT_ARG(pf),          CLT_ARG(X->col->st->mem),
      CLT_ARG(X->val->st->mem), CLT_ARG(ra.idx),      CLT_ARG(ra.first),
      CLT_ARG(ra.has_idx),      CLT_ARG(ra.nrows),    CLT_ARG(alpha),
      CLT_ARG(W->st->mem),      CLT_ARG(w_off),       CLT_ARG(bmem),
      CLT_ARG(b_off),           CLT_ARG(has_b),       CLT_ARG(y->st->mem),
      CLT_ARG(y_off),           CLT_ARG(hinge),       CLT_ARG(prm),
      CLT_ARG(iprm),            CLT_ARG(k),           CLT_ARG(dS->st->mem),
      CLT_ARG(ds_off),          CLT_ARG(cn),          CLT_ARG(C),
      CLT_ARG(scr)};
  const size_t nargs = sizeof args / sizeof args[0];
  if (C > CLT_LANES_MAX_C) { /* a row a work-item, as the forward's */
    CLT_TRY(clt_cl_launch_grid(ctx, CLT_K_csr_loss, n, 1, 1, nargs, args));
  } else { /* eight rows a work-item, in work-groups of LANES_LOCAL */
    size_t local = LANES_LOCAL, global = clt_round_up((n + 7) / 8, local);
    CLT_TRY(clt_cl_launch(ctx, CLT_K_csr_loss, 1, NULL, &global, &local, nargs, args));
  }
  float info[CLT_I_LOSS + 1];
  CLT_TRY(clt_cl_loss_finish(ctx, scr, n, div, 0, 0, defer, info, sizeof info));
  if (!defer) *value = info[CLT_I_LOSS];
  return CLT_OK;
}

clt_status clt_cl_scale(clt_tensor *t, float alpha) {
  cl_ulong off = t->offset, n = clt_tensor_numel(t);
  return CLT_LAUNCH_GRID(t->ctx, CLT_K_scale, n, 1, 1, CLT_ARG(t->st->mem), CLT_ARG(off), CLT_ARG(n),
                         CLT_ARG(alpha));
}

clt_status clt_cl_csr_gather(clt_csr *dst, const clt_csr *src, const clt_tensor *idx,
                             size_t first) {
  cl_ulong spf = src->first, at = idx->offset + first, nrows = src->rows, n = dst->rows;
  return CLT_LAUNCH_GRID(dst->ctx, CLT_K_csr_gather, dst->rows, 1, 1, CLT_ARG(src->ptr->st->mem),
                         CLT_ARG(spf), CLT_ARG(src->col->st->mem), CLT_ARG(src->val->st->mem),
                         CLT_ARG(idx->st->mem), CLT_ARG(at), CLT_ARG(nrows),
                         CLT_ARG(dst->ptr->st->mem), CLT_ARG(dst->col->st->mem),
                         CLT_ARG(dst->val->st->mem), CLT_ARG(n));
}
