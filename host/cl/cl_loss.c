/* Losses on the OpenCL backend: kernels/loss.cl (check, loss, finish) and
   one 24-byte read-back, or none when the loss is deferred to a slot. */
#include <string.h>

#include "cl_internal.h"



size_t clt_cl_group_size(const clt_context *ctx, size_t cap) {
  clt_cl_context *cl = clt_cl_of(ctx);
  size_t limit = cl->max_wg < cap ? cl->max_wg : cap, wg = 1;
  while (wg * 2 <= limit) wg *= 2;
  return wg;
}

clt_status clt_cl_loss_finish(clt_context *ctx, cl_mem scr, size_t partials,
                              float div, int use_den, int checked,
                              clt_loss_slot *defer, float *out, size_t bytes) {
  size_t wg = clt_cl_group_size(ctx, 256);
  cl_ulong m = partials;
  cl_int den = use_den, chk = checked, has_slot = defer != NULL;
  cl_mem slot = defer ? defer->losses->st->mem : scr;
  cl_ulong slot_off = defer ? defer->losses->offset + 2 * defer->index : 0;
  CLT_TRY(CLT_LAUNCH(ctx, CLT_K_loss_finish, 1, &wg, &wg, CLT_ARG(scr),
                     CLT_ARG(m), CLT_ARG(div), CLT_ARG(den), CLT_ARG(chk),
                     CLT_ARG(slot), CLT_ARG(slot_off), CLT_ARG(has_slot),
                     CLT_LOCAL(wg * sizeof(float))));
  if (defer) {
    defer->written = true;
    return CLT_OK;
  }
  return clt_cl_read(ctx, scr, 0, bytes, out, NULL);
}

static uint32_t info_index(const float *info, int slot) {
  uint32_t u;
  memcpy(&u, &info[slot], sizeof u);
  return u;
}

/* A tensor argument pair; an absent optional tensor is passed as the
   scratch buffer (never read: its has_ flag is 0). */
typedef struct targ {
  cl_mem mem;
  cl_ulong off;
} targ;

static targ arg_of(const clt_tensor *t, cl_mem dummy) {
  return t ? (targ){t->st->mem, t->offset} : (targ){dummy, 0};
}

/* Reads one 4-byte element of t for an error message. */
static clt_status read_elem(clt_context *ctx, const clt_tensor *t, size_t k,
                            void *out) {
  return clt_cl_read(ctx, t->st->mem, (t->offset + k) * 4, 4, out, NULL);
}

clt_status clt_cl_loss(clt_context *ctx, const clt_loss_desc *desc,
                       const clt_tensor *S, const clt_tensor *target,
                       clt_loss_slot *defer, double *loss, clt_tensor *dS) {
  size_t n = S->rows, c = S->cols, numel = n * c;
  if (n >= CLT_NONE)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "loss: %zu rows, the OpenCL backend takes fewer than 2^32-1",
                    n);
  clt_loss_kind kind = desc->kind;
  bool rows = kind == CLT_LOSS_CROSS_ENTROPY || kind == CLT_LOSS_HINGE;
  bool labels = target->dtype == CLT_INT32;
  size_t partials = rows ? n : clt_round_up(numel, CLT_ELEM_CHUNK) / CLT_ELEM_CHUNK;
  cl_mem scr;
  CLT_TRY(clt_cl_scratch(ctx, (CLT_INFO + partials) * sizeof(float), &scr));

  targ s = arg_of(S, scr), t = arg_of(target, scr), d = arg_of(dS, scr);
  targ cw = arg_of(desc->class_weight, scr), pw = arg_of(desc->pos_weight, scr);
  cl_int has_dS = dS != NULL, has_cw = desc->class_weight != NULL,
         has_pw = desc->pos_weight != NULL, has_labels = labels,
         use_ignore = kind == CLT_LOSS_CROSS_ENTROPY,
         ignore = desc->ignore_index;
  cl_ulong cn = n, cc = c;

  if (labels || has_cw || has_pw) {
    size_t wg = clt_cl_group_size(ctx, 256);
    CLT_TRY(CLT_LAUNCH(ctx, CLT_K_loss_check, 1, &wg, &wg, CLT_ARG(t.mem),
                       CLT_ARG(t.off), CLT_ARG(cn), CLT_ARG(has_labels),
                       CLT_ARG(use_ignore), CLT_ARG(ignore), CLT_ARG(cc),
                       CLT_ARG(cw.mem), CLT_ARG(cw.off), CLT_ARG(has_cw),
                       CLT_ARG(pw.mem), CLT_ARG(pw.off), CLT_ARG(has_pw),
                       CLT_ARG(scr), CLT_LOCAL(wg * sizeof(float)),
                       CLT_LOCAL(wg * sizeof(cl_uint))));
  } else {
    /* Nothing to check: info all ones flags nothing (the denominators are
       not read by these kernels). */
    cl_uint ones = CLT_NONE;
    CLT_TRY(clt_cl_fill(ctx, scr, &ones, sizeof ones, 0,
                        CLT_INFO * sizeof(float)));
  }

  /* The MEAN divisor and the matching dS scale k. */
  bool mean = desc->reduction == CLT_REDUCTION_MEAN;
  double div = 1.0;
  if (desc->reduction == CLT_REDUCTION_BATCHMEAN || (mean && rows))
    div = (double)n;
  else if (mean)
    div = (double)numel;
  float fdiv = (float)div, k = (float)(1.0 / div);
  cl_int use_den = kind == CLT_LOSS_CROSS_ENTROPY && labels && mean;

  /* prm, iprm: see the kernels in kernels/loss.cl. */
  static const clt_kid kernels[] = {
      [CLT_LOSS_CROSS_ENTROPY] = CLT_K_loss_ce, [CLT_LOSS_HINGE] = CLT_K_loss_hinge,
      [CLT_LOSS_BCE_LOGITS] = CLT_K_loss_bce, [CLT_LOSS_MSE] = CLT_K_loss_mse,
      [CLT_LOSS_L1] = CLT_K_loss_l1, [CLT_LOSS_HUBER] = CLT_K_loss_huber,
      [CLT_LOSS_KL_DIV] = CLT_K_loss_kl};
  /* Few classes: the row kernels' variant with eight rows per work-item. */
  bool lanes = rows && c <= CLT_LANES_MAX_C;
  clt_kid id = !labels && rows ? (lanes ? CLT_K_loss_ce_soft_lanes : CLT_K_loss_ce_soft)
                : lanes && kind == CLT_LOSS_CROSS_ENTROPY ? CLT_K_loss_ce_lanes
                : lanes                                   ? CLT_K_loss_hinge_lanes
                                                          : kernels[kind];
  size_t global = lanes ? (n + 7) / 8 : partials;
  float prm = kind == CLT_LOSS_CROSS_ENTROPY ? desc->label_smoothing
              : kind == CLT_LOSS_HINGE       ? desc->margin
                                             : desc->huber_delta;
  cl_int iprm = kind == CLT_LOSS_CROSS_ENTROPY ? desc->ignore_index
                : kind == CLT_LOSS_HINGE       ? desc->p
                                               : desc->log_target != 0;
  cl_ulong count = rows ? n : numel;
  const clt_karg args[] = {
      CLT_ARG(s.mem),   CLT_ARG(s.off),  CLT_ARG(t.mem),  CLT_ARG(t.off),
      CLT_ARG(d.mem),   CLT_ARG(d.off),  CLT_ARG(has_dS), CLT_ARG(count),
      CLT_ARG(cc),      CLT_ARG(cw.mem), CLT_ARG(cw.off), CLT_ARG(has_cw),
      CLT_ARG(pw.mem),  CLT_ARG(pw.off), CLT_ARG(has_pw), CLT_ARG(prm),
      CLT_ARG(iprm),    CLT_ARG(k),      CLT_ARG(use_den), CLT_ARG(scr)};
  const size_t nargs = sizeof args / sizeof args[0];
  /* Elementwise kernels: chunks. Row kernels: a work-item per row or
     eight, except clt_loss_ce, clt_loss_ce_soft and clt_loss_hinge,
     launched as chunks of a row each (a work-group per row on GPU
     profiles, kernels/loss.cl). */
  bool per_row = id == CLT_K_loss_ce || id == CLT_K_loss_ce_soft || id == CLT_K_loss_hinge;
  CLT_TRY(rows && !per_row ? clt_cl_launch(ctx, id, 1, NULL, &global, NULL, nargs, args)
                           : clt_cl_launch_chunks(ctx, id, partials, nargs, args));

  float info[CLT_I_LOSS + 1];
  CLT_TRY(clt_cl_loss_finish(ctx, scr, partials, fdiv, use_den, 1, defer, info,
                             sizeof info));
  if (defer) return CLT_OK;
  /* Reported in the reference's order: weights, then labels. */
  static const struct {
    int slot;
    const char *name;
  } weights[] = {{CLT_I_BAD_CW, "class_weight"}, {CLT_I_BAD_PW, "pos_weight"}};
  for (size_t w = 0; w < 2; w++) {
    uint32_t j = info_index(info, weights[w].slot);
    if (j == CLT_NONE) continue;
    float value;
    CLT_TRY(read_elem(ctx, w == 0 ? desc->class_weight : desc->pos_weight, j,
                      &value));
    return clt_loss_bad_weight(ctx, weights[w].name, j, value);
  }
  uint32_t row = info_index(info, CLT_I_BAD_LABEL);
  if (row != CLT_NONE) {
    int32_t label;
    CLT_TRY(read_elem(ctx, target, row, &label));
    return clt_loss_bad_label(ctx, row, label, c);
  }
  *loss = info[CLT_I_LOSS];
  return CLT_OK;
}
