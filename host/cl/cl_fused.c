/* The fused training step on OpenCL devices: on CPUs kernels/step.cl,
   three launches that read X once from memory and store neither S nor dS;
   on GPUs kernels/step_gpu.cl, five launches shaped for thousands of
   work-items (the device profile's step_gpu). Either ends in one 24-byte
   read-back, or none when the loss is deferred to a slot; host/fused.c
   sends the problems they support here and everything else to the
   composition of the separate ops. */
#include <math.h>
#include <string.h>

#include "cl_internal.h"


/* Rows per score block (RB in kernels/step.cl) for each class-block
   width; a chunk is 4 of them. */
static const size_t block_rows[] = {4, 4, 4, 4, 4, 3, 3, 3};
#define PREP_WG 64

/* Whether the fused kernels take this problem: the profile's class and
   C*D limits (cpu: W^T and a block's partial dW, 8 C D bytes, stay in a
   core's L2 while rows stream through; bench_step on POCL: 1.3-2.5x the
   composition up to C*D = 30K, ~10% behind it at C = 32, D = 3072),
   cross-entropy or hinge with well-formed labels and valid
   hyper-parameters. Anything else goes to the composition, whose ops
   report what is wrong with it. */
bool clt_cl_fused_supports(const clt_context *ctx, const clt_loss_desc *d,
                           const clt_tensor *y, size_t n, size_t dim, size_t c) {
  const clt_cl_profile *p = &clt_cl_of(ctx)->profile;
  if (c > p->fused_max_c || c > CLT_STEP_MAX_C || c * dim > p->fused_max_cd || n >= CLT_NONE)
    return false;
  if (d->kind != CLT_LOSS_CROSS_ENTROPY && d->kind != CLT_LOSS_HINGE)
    return false;
  if (!y || y->ctx != ctx || y->dtype != CLT_INT32 || y->rows != n ||
      y->cols != 1)
    return false;
  if (d->reduction != CLT_REDUCTION_MEAN && d->reduction != CLT_REDUCTION_SUM)
    return false;
  const clt_tensor *w = d->class_weight;
  if (d->pos_weight ||
      (w && (w->ctx != ctx || w->dtype != CLT_FLOAT32 || w->rows != 1 ||
             w->cols != c)))
    return false;
  if (d->kind == CLT_LOSS_CROSS_ENTROPY)
    return d->label_smoothing >= 0.0f && d->label_smoothing <= 1.0f;
  return (d->p == 1 || d->p == 2) && d->margin >= 0.0f && isfinite(d->margin);
}

/* Class blocks of width CB <= 8, as kernels/linear.cl's. */
static size_t class_block(size_t c) {
  size_t nb = (c + 7) / 8;
  return (c + nb - 1) / nb;
}

/* Rows per work-item of the step kernel, a multiple of the chunk: the
   profile's step_blocks_per_unit work-items per compute unit at least (cpu:
   two, so a minibatch of 256 rows keeps both cores of the POCL machine
   busy), and above step_max_rows rows (cpu: 1024) as many as it takes:
   every block adds a C x D partial to write and sum again, at most 1/32 of
   X then, and more blocks than units balance the load. */
static size_t block_size(const clt_context *ctx, size_t n, size_t chunk) {
  const clt_cl_context *cl = clt_cl_of(ctx);
  size_t blocks = cl->profile.step_blocks_per_unit * (cl->units ? cl->units : 1);
  size_t per = (n + blocks - 1) / blocks;
  if (per > cl->profile.step_max_rows) per = cl->profile.step_max_rows;
  return clt_round_up(per ? per : 1, chunk);
}

/* What both steps give their kernels: the loss's flags and
   hyper-parameters, the MEAN divisor (hinge: N; cross-entropy: the weight
   of the rows not ignored, from the check kernel) and the matching dS
   scale, the penalty, and the optional buffers (scr standing in for an
   absent one) with the offsets. */
typedef struct step_args {
  cl_mem cw, bm, im, slot;
  cl_ulong cw_off, b_off, idx_off, src_rows, x_off, y_off, w_off, slot_off;
  cl_int has_cw, has_b, has_idx, use_ignore, ignore, hinge, use_den, iprm,
      has_slot;
  float prm, div, k, l1, l2;
} step_args;

static step_args step_args_of(const clt_loss_desc *desc, const clt_reg_desc *reg,
                              const clt_tensor *X, clt_batch_rows rows,
                              const clt_tensor *y, const clt_tensor *W,
                              const clt_tensor *b, const clt_loss_slot *defer,
                              cl_mem scr) {
  bool ce = desc->kind == CLT_LOSS_CROSS_ENTROPY;
  bool mean = desc->reduction == CLT_REDUCTION_MEAN;
  bool regularize = clt_reg_active(reg);
  const clt_tensor *cwt = desc->class_weight;
  float div = mean ? (float)rows.n : 1.0f;
  return (step_args){
      .cw = cwt ? cwt->st->mem : scr,
      .bm = b ? b->st->mem : scr,
      .im = rows.idx ? rows.idx->st->mem : scr,
      .slot = defer ? defer->losses->st->mem : scr,
      .cw_off = cwt ? cwt->offset : 0,
      .b_off = b ? b->offset : 0,
      .idx_off = rows.idx ? rows.idx->offset + rows.first : 0,
      .src_rows = X->rows,
      .x_off = X->offset,
      .y_off = y->offset,
      .w_off = W->offset,
      .slot_off = defer ? defer->losses->offset + 2 * defer->index : 0,
      .has_cw = cwt != NULL,
      .has_b = b != NULL,
      .has_idx = rows.idx != NULL,
      .use_ignore = ce,
      .ignore = desc->ignore_index,
      .hinge = !ce,
      .use_den = ce && mean,
      .has_slot = defer != NULL,
      .iprm = ce ? desc->ignore_index : desc->p,
      .prm = ce ? desc->label_smoothing : desc->margin,
      .div = div,
      .k = (float)(1.0 / (double)div),
      .l1 = regularize ? reg->l1 : 0.0f,
      .l2 = regularize ? reg->l2 : 0.0f,
  };
}

/* Reads info of either step from scr (24 bytes) and reports a bad index,
   weight or label as the reference would; otherwise *value = the loss,
   plus the penalty when with_pen. A deferred step reads nothing: its
   kernels wrote the slot. */
static clt_status outcome(clt_context *ctx, cl_mem scr, clt_batch_rows rows,
                          size_t src_rows, size_t C, bool with_pen,
                          clt_loss_slot *defer, double *value) {
  if (defer) {
    defer->written = true;
    return CLT_OK;
  }
  float info[CLT_STEP_I_BAD + 1];
  CLT_TRY(clt_cl_read(ctx, scr, CLT_I_BAD_LABEL * sizeof(float),
                      (CLT_STEP_I_BAD + 1 - CLT_I_BAD_LABEL) * sizeof(float),
                      info + CLT_I_BAD_LABEL, NULL));
  uint32_t bad_idx, bad_cw, bad_row;
  int32_t value_at;
  memcpy(&bad_idx, &info[CLT_I_BAD_PW], sizeof bad_idx);
  memcpy(&bad_cw, &info[CLT_I_BAD_CW], sizeof bad_cw);
  memcpy(&bad_row, &info[CLT_I_BAD_LABEL], sizeof bad_row);
  memcpy(&value_at, &info[CLT_STEP_I_BAD], sizeof value_at);
  if (bad_idx != CLT_NONE)
    return clt_fail(ctx, CLT_ERR_LABEL,
                    "linear_loss_grad_rows: idx[%zu] = %d is outside [0, %zu)",
                    rows.first + bad_idx, (int)value_at, src_rows);
  /* the reference's order: weights, then labels */
  if (bad_cw != CLT_NONE) return clt_loss_bad_weight(ctx, "class_weight", bad_cw, info[CLT_STEP_I_BAD]);
  if (bad_row != CLT_NONE) return clt_loss_bad_label(ctx, bad_row, value_at, C);
  *value = (double)info[CLT_I_LOSS] + (with_pen ? (double)info[CLT_STEP_I_PEN] : 0.0);
  return CLT_OK;
}

size_t clt_cl_gpu_dw_rows(const clt_context *ctx, size_t N, size_t D) {
  size_t items = clt_cl_of(ctx)->profile.step_dw_items;
  size_t R = (N * D + (items ? items : 1) - 1) / (items ? items : 1);
  R = R < 16 ? 16 : R > 128 ? 128 : R;
  return R > N ? N : R;
}

/* The GPU-shaped step (kernels/step_gpu.cl); arguments as
   clt_cl_fused_loss_grad's. */
static clt_status fused_gpu(clt_context *ctx, const clt_loss_desc *desc,
                            const clt_reg_desc *reg, const clt_tensor *X,
                            clt_batch_rows rows, const clt_tensor *y,
                            const clt_tensor *W, const clt_tensor *b,
                            clt_tensor *dW, clt_tensor *db, bool with_pen,
                            clt_loss_slot *defer, double *value) {
  const clt_cl_profile *prof = &clt_cl_of(ctx)->profile;
  size_t N = rows.n, D = X->cols, C = W->cols, DC = D * C;
  size_t R = clt_cl_gpu_dw_rows(ctx, N, D), nb = (N + R - 1) / R;
  size_t wg_red, wg, wt, wr, wd;
  CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_gstep_reduce, 256, &wg_red));
  CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_gstep_check, 256, &wg));
  CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_gstep_total, 256, &wt));
  CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_gstep_rows, prof->step_row_group, &wr));
  CLT_TRY(clt_cl_kernel_group(ctx, CLT_K_gstep_dw, 128, &wd));
  size_t el = wg_red < 32 ? wg_red : 32;
  size_t groups = (DC + el - 1) / el;
  /* scr: info, dS (N,C), the row losses, the dW blocks, the penalties. */
  size_t o_ds = clt_round_up(CLT_INFO, 16), o_lp = clt_round_up(o_ds + N * C, 16);
  size_t o_part = clt_round_up(o_lp + N, 16), o_pen = clt_round_up(o_part + nb * DC, 16);
  cl_mem scr;
  CLT_TRY(clt_cl_scratch(ctx, (o_pen + groups) * sizeof(float), &scr));

  step_args a = step_args_of(desc, reg, X, rows, y, W, b, defer, scr);
  cl_ulong n = N, d = D, c = C, dc = DC, r = R, nbl = nb, elu = el,
           ds_off = o_ds, lp_off = o_lp, part_off = o_part, pen_off = o_pen;

  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_gstep_check, 1, &wg, &wg, CLT_ARG(y->st->mem),
                     CLT_ARG(a.y_off), CLT_ARG(n), CLT_ARG(a.use_ignore),
                     CLT_ARG(a.ignore), CLT_ARG(c), CLT_ARG(a.cw),
                     CLT_ARG(a.cw_off), CLT_ARG(a.has_cw), CLT_ARG(a.im),
                     CLT_ARG(a.idx_off), CLT_ARG(a.has_idx),
                     CLT_ARG(a.src_rows), CLT_ARG(scr),
                     CLT_LOCAL(wg * sizeof(float)),
                     CLT_LOCAL(wg * sizeof(cl_uint))));

  size_t grid_rows = N * wr;
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_gstep_rows, 1, &grid_rows, &wr,
                     CLT_ARG(X->st->mem), CLT_ARG(a.x_off), CLT_ARG(a.im),
                     CLT_ARG(a.idx_off), CLT_ARG(a.has_idx),
                     CLT_ARG(W->st->mem), CLT_ARG(a.w_off), CLT_ARG(a.bm),
                     CLT_ARG(a.b_off), CLT_ARG(a.has_b), CLT_ARG(y->st->mem),
                     CLT_ARG(a.y_off), CLT_ARG(a.cw), CLT_ARG(a.cw_off),
                     CLT_ARG(a.has_cw), CLT_ARG(scr), CLT_ARG(ds_off),
                     CLT_ARG(lp_off), CLT_ARG(d), CLT_ARG(c), CLT_ARG(a.hinge),
                     CLT_ARG(a.prm), CLT_ARG(a.iprm), CLT_ARG(a.k),
                     CLT_ARG(a.use_den), CLT_LOCAL(C * wr * sizeof(float))));

  size_t grid_dw[2] = {clt_round_up(D, wd), nb}, local_dw[2] = {wd, 1};
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_gstep_dw, 2, grid_dw, local_dw,
                     CLT_ARG(X->st->mem), CLT_ARG(a.x_off), CLT_ARG(a.im),
                     CLT_ARG(a.idx_off), CLT_ARG(a.has_idx), CLT_ARG(scr),
                     CLT_ARG(ds_off), CLT_ARG(part_off), CLT_ARG(n),
                     CLT_ARG(d), CLT_ARG(c), CLT_ARG(r),
                     CLT_LOCAL(R * C * sizeof(float))));

  cl_int pen = with_pen && clt_reg_active(reg);
  cl_ulong dw_off = dW->offset;
  size_t grid_red = groups * wg_red;
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_gstep_reduce, 1, &grid_red, &wg_red,
                     CLT_ARG(scr), CLT_ARG(part_off), CLT_ARG(nbl),
                     CLT_ARG(dc), CLT_ARG(elu), CLT_ARG(W->st->mem),
                     CLT_ARG(a.w_off), CLT_ARG(a.l1), CLT_ARG(a.l2),
                     CLT_ARG(dW->st->mem), CLT_ARG(dw_off), CLT_ARG(pen),
                     CLT_ARG(pen_off), CLT_LOCAL(wg_red * sizeof(float))));

  cl_ulong np = pen ? groups : 0, db_off = b ? db->offset : 0;
  cl_mem dbm = b ? db->st->mem : scr;
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_gstep_total, 1, &wt, &wt, CLT_ARG(scr),
                     CLT_ARG(ds_off), CLT_ARG(lp_off), CLT_ARG(n), CLT_ARG(c),
                     CLT_ARG(pen_off), CLT_ARG(np), CLT_ARG(dbm),
                     CLT_ARG(db_off), CLT_ARG(a.has_b), CLT_ARG(a.div),
                     CLT_ARG(a.use_den), CLT_ARG(a.slot), CLT_ARG(a.slot_off),
                     CLT_ARG(a.has_slot), CLT_LOCAL(wt * sizeof(float))));
  return outcome(ctx, scr, rows, X->rows, C, with_pen, defer, value);
}

/* The fused path (kernels/step.cl, or step_gpu.cl under a profile with
   step_gpu) over the rows of rows of X with their
   labels y (one per batch row); *value: the loss, plus the penalty when
   with_pen. */
clt_status clt_cl_fused_loss_grad(clt_context *ctx, const clt_loss_desc *desc,
                                  const clt_reg_desc *reg, const clt_tensor *X,
                                  clt_batch_rows rows, const clt_tensor *y,
                                  const clt_tensor *W, const clt_tensor *b,
                                  clt_tensor *dW, clt_tensor *db, bool with_pen,
                                  clt_loss_slot *defer, double *value) {
  if (clt_cl_of(ctx)->profile.step_gpu)
    return fused_gpu(ctx, desc, reg, X, rows, y, W, b, dW, db, with_pen, defer, value);
  size_t N = rows.n, D = X->cols, C = W->cols, cb = class_block(C);
  size_t R = block_size(ctx, N, 4 * block_rows[cb - 1]);
  size_t blocks = (N + R - 1) / R, Dp = clt_round_up(D, 16);
  /* scr: info, Wt (C,D), then per block the partial dW^T (C,Dp), db (up
     to 32 classes) and loss. */
  size_t o_wt = clt_round_up(CLT_INFO, 16);
  size_t o_part = clt_round_up(o_wt + C * D, 16);
  size_t o_dbp = o_part + blocks * C * Dp, o_lp = o_dbp + blocks * CLT_STEP_MAX_C;
  cl_mem scr;
  CLT_TRY(clt_cl_scratch(ctx, (o_lp + blocks) * sizeof(float), &scr));

  step_args a = step_args_of(desc, reg, X, rows, y, W, b, defer, scr);
  cl_ulong n = N, d = D, dp = Dp, c = C, rb = R, nb = blocks, wt_off = o_wt,
           part_off = o_part, dbp_off = o_dbp, lp_off = o_lp;

  size_t wg = clt_cl_group_size(ctx, PREP_WG);
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_step_prep, 1, &wg, &wg, CLT_ARG(W->st->mem),
                     CLT_ARG(a.w_off), CLT_ARG(d), CLT_ARG(c),
                     CLT_ARG(y->st->mem), CLT_ARG(a.y_off), CLT_ARG(n),
                     CLT_ARG(a.use_ignore), CLT_ARG(a.ignore), CLT_ARG(a.cw),
                     CLT_ARG(a.cw_off), CLT_ARG(a.has_cw), CLT_ARG(a.im),
                     CLT_ARG(a.idx_off), CLT_ARG(a.has_idx),
                     CLT_ARG(a.src_rows), CLT_ARG(a.l1), CLT_ARG(a.l2),
                     CLT_ARG(scr), CLT_ARG(wt_off),
                     CLT_LOCAL(wg * sizeof(float)),
                     CLT_LOCAL(wg * sizeof(cl_uint))));

  size_t one = 1;
  CLT_TRY(CLT_LAUNCH(ctx, (clt_kid)(CLT_K_step_c1 + cb - 1), 1, &blocks, &one,
                     CLT_ARG(X->st->mem), CLT_ARG(a.x_off), CLT_ARG(a.im),
                     CLT_ARG(a.idx_off), CLT_ARG(a.has_idx), CLT_ARG(a.bm),
                     CLT_ARG(a.b_off), CLT_ARG(a.has_b), CLT_ARG(y->st->mem),
                     CLT_ARG(a.y_off), CLT_ARG(a.cw), CLT_ARG(a.cw_off),
                     CLT_ARG(a.has_cw), CLT_ARG(scr), CLT_ARG(wt_off),
                     CLT_ARG(part_off), CLT_ARG(dbp_off), CLT_ARG(lp_off),
                     CLT_ARG(n), CLT_ARG(d), CLT_ARG(dp), CLT_ARG(c),
                     CLT_ARG(rb), CLT_ARG(a.hinge), CLT_ARG(a.prm),
                     CLT_ARG(a.iprm), CLT_ARG(a.k), CLT_ARG(a.use_den)));

  cl_ulong dw_off = dW->offset, db_off = b ? db->offset : 0;
  cl_mem dbm = b ? db->st->mem : scr;
  cl_int with_pen_arg = with_pen;
  size_t items = (D + 15) / 16 * C + 2;
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_step_finish, 1, &items, NULL, CLT_ARG(scr),
                     CLT_ARG(part_off), CLT_ARG(dbp_off), CLT_ARG(lp_off),
                     CLT_ARG(nb), CLT_ARG(d), CLT_ARG(dp), CLT_ARG(c),
                     CLT_ARG(W->st->mem), CLT_ARG(a.w_off), CLT_ARG(a.l1),
                     CLT_ARG(a.l2), CLT_ARG(dW->st->mem), CLT_ARG(dw_off),
                     CLT_ARG(dbm), CLT_ARG(db_off), CLT_ARG(a.has_b),
                     CLT_ARG(a.div), CLT_ARG(a.use_den), CLT_ARG(a.slot),
                     CLT_ARG(a.slot_off), CLT_ARG(a.has_slot),
                     CLT_ARG(with_pen_arg)));

  return outcome(ctx, scr, rows, X->rows, C, with_pen, defer, value);
}
