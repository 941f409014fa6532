/* Checkpoint files: writing version 4, reading versions 1 to 4, and the
   model's parameters to and from them (docs/CHECKPOINT.md). */
#include "checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "internal.h"
#include "loss_impl.h"

static const char MAGIC[8] = {'C', 'L', 'T', 'C', 'K', 'P', 'T', 0};

void clt_checkpoint_free(clt_checkpoint *ck) {
  clt_prep_free(&ck->prep);
  clt_labels_free(&ck->labels);
  free(ck->class_weight);
  for (size_t i = 0; i < ck->ntensors; i++) free(ck->tensor[i].data);
  free(ck->file);
  memset(ck, 0, sizeof *ck);
}

bool clt_checkpoint_has(const clt_checkpoint *ck, const char *name) {
  for (size_t i = 0; i < ck->ntensors; i++)
    if (strcmp(ck->tensor[i].name, name) == 0) return true;
  return false;
}

/* ------------------------------------------------------------- writing */

static void put_name(clt_wbuf *w, const char *name) {
  clt_wbuf_u32(w, (uint32_t)strlen(name));
  clt_wbuf_bytes(w, name, strlen(name));
}

/* Version 3's settings and class labels, and version 4's variant. */
static void put_settings(clt_wbuf *w, const clt_checkpoint *ck) {
  const clt_loss_desc *l = &ck->loss_desc;
  clt_wbuf_u32(w, (uint32_t)l->reduction);
  clt_wbuf_f64(w, l->margin);
  clt_wbuf_u32(w, (uint32_t)l->p);
  clt_wbuf_f64(w, l->label_smoothing);
  clt_wbuf_u32(w, (uint32_t)l->ignore_index);
  clt_wbuf_f64(w, l->huber_delta);
  clt_wbuf_u32(w, (uint32_t)l->log_target);
  clt_wbuf_u32(w, ck->class_weight ? (uint32_t)ck->c : 0);
  for (size_t k = 0; ck->class_weight && k < ck->c; k++) clt_wbuf_f64(w, ck->class_weight[k]);
  clt_wbuf_f64(w, ck->reg.l1);
  clt_wbuf_f64(w, ck->reg.l2);
  const clt_schedule *s = &ck->schedule;
  clt_wbuf_u32(w, (uint32_t)s->kind);
  clt_wbuf_f64(w, s->base_lr);
  clt_wbuf_u64(w, s->warmup_steps);
  clt_wbuf_u64(w, s->step_size);
  clt_wbuf_f64(w, s->gamma);
  clt_wbuf_u64(w, s->total_steps);
  clt_wbuf_f64(w, s->min_lr);
  clt_wbuf_u64(w, ck->epochs_target);
  clt_wbuf_u64(w, ck->seed);
  clt_wbuf_f64(w, ck->init_std);
  clt_wbuf_u32(w, ck->svmlight_base ? (uint32_t)(ck->svmlight_base - '0' + 1) : 0);
  clt_wbuf_u32(w, (uint32_t)ck->labels.n);
  for (size_t k = 0; k < ck->labels.n; k++) put_name(w, ck->labels.name[k]);
  put_name(w, ck->variant);
  clt_wbuf_u64(w, ck->shards ? ck->shards : 1);
  clt_wbuf_u32(w, ck->world_size ? ck->world_size : 1);
}

clt_status clt_checkpoint_save(const clt_context *ctx, const char *path,
                               const clt_checkpoint *ck, const void *optim_state,
                               size_t optim_len) {
  clt_wbuf w = {0};
  clt_wbuf_bytes(&w, MAGIC, sizeof MAGIC);
  clt_wbuf_u32(&w, CLT_CHECKPOINT_VERSION);
  put_name(&w, ck->kind->name);
  clt_wbuf_u32(&w, (uint32_t)ck->d);
  clt_wbuf_u32(&w, (uint32_t)ck->c);
  clt_wbuf_u32(&w, (uint32_t)ck->loss);
  clt_wbuf_u32(&w, (uint32_t)ck->optim);
  clt_wbuf_u64(&w, ck->n);
  clt_wbuf_u64(&w, ck->batch);
  clt_wbuf_u64(&w, ck->epochs);
  clt_wbuf_u64(&w, ck->step);
  clt_wbuf_u64(&w, ck->rng);
  clt_wbuf_u32(&w, (uint32_t)ck->prep.mode);
  clt_wbuf_f64(&w, ck->prep.scale);
  if (ck->prep.mode != CLT_PREPROCESS_NONE)
    for (size_t j = 0; j < ck->d; j++) {
      clt_wbuf_f64(&w, ck->prep.mean[j]);
      clt_wbuf_f64(&w, ck->prep.std[j]);
    }
  put_settings(&w, ck);
  clt_wbuf_u32(&w, (uint32_t)ck->ntensors);
  for (size_t i = 0; i < ck->ntensors; i++) {
    const clt_ckpt_tensor *t = &ck->tensor[i];
    put_name(&w, t->name);
    clt_wbuf_u64(&w, t->rows);
    clt_wbuf_u64(&w, t->cols);
    clt_wbuf_f32s(&w, t->data, t->rows * t->cols);
  }
  clt_wbuf_u64(&w, optim_len);
  clt_wbuf_bytes(&w, optim_state, optim_len);
  clt_status st = clt_wbuf_commit(ctx, &w, path);
  clt_wbuf_free(&w);
  return st;
}

clt_status clt_checkpoint_take(clt_checkpoint *ck, const clt_model *m) {
  ck->kind = m->kind;
  for (size_t i = 0; i < m->nparams; i++) {
    clt_ckpt_tensor *t = &ck->tensor[i];
    size_t n = m->param[i].rows * m->param[i].cols;
    memcpy(t->name, m->param[i].name, sizeof t->name);
    t->rows = m->param[i].rows;
    t->cols = m->param[i].cols;
    t->data = malloc(n * sizeof *t->data);
    ck->ntensors = i + 1;
    if (!t->data) return clt_fail(m->ctx, CLT_ERR_OUT_OF_MEMORY, "checkpoint buffer");
    CLT_TRY(clt_tensor_read(m->value[i], t->data, n * 4));
  }
  return CLT_OK;
}

/* ------------------------------------------------------------- reading */

/* A tensor of rows x cols floats from r into t, named name; false when the
   file is too short for it. */
static bool get_tensor(clt_rbuf *r, const char *name, size_t rows, size_t cols,
                       clt_ckpt_tensor *t) {
  size_t n;
  if (!clt_mul_size(rows, cols, &n) || n > (r->len - r->pos) / 4) return false;
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rows = rows;
  t->cols = cols;
  t->data = malloc((n ? n : 1) * sizeof *t->data);
  if (t->data) clt_rbuf_f32s(r, t->data, n);
  return true;
}

/* Version 1: a linear model, "W" and with the bias flag "b". */
static clt_status parse_v1_model(const clt_context *ctx, const char *path,
                                 clt_rbuf *r, clt_checkpoint *ck, bool bias) {
  ck->kind = &clt_model_linear;
  bool whole = get_tensor(r, "W", ck->d, ck->c, &ck->tensor[0]);
  ck->ntensors = whole;
  if (whole && bias) ck->ntensors += whole = get_tensor(r, "b", 1, ck->c, &ck->tensor[1]);
  if (!whole) return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated checkpoint", path);
  for (size_t i = 0; i < ck->ntensors; i++)
    if (!ck->tensor[i].data)
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  return CLT_OK;
}

/* Version 2: the model's kind by name, then its named tensors. */
static clt_status parse_v2_tensors(const clt_context *ctx, const char *path,
                                   clt_rbuf *r, clt_checkpoint *ck) {
  uint32_t count = clt_rbuf_u32(r);
  if (r->short_read || count == 0 || count > CLT_MODEL_MAX_PARAMS)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: %u tensors (at most %d)", path, count,
                    CLT_MODEL_MAX_PARAMS);
  for (uint32_t i = 0; i < count; i++) {
    char name[CLT_MODEL_NAME_LEN] = "";
    uint32_t len = clt_rbuf_u32(r);
    if (r->short_read || len == 0 || len >= sizeof name)
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: tensor %u's name is %u bytes long",
                      path, i, len);
    clt_rbuf_bytes(r, name, len);
    size_t rows = (size_t)clt_rbuf_u64(r), cols = (size_t)clt_rbuf_u64(r);
    if (r->short_read || !get_tensor(r, name, rows, cols, &ck->tensor[i]))
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated checkpoint", path);
    ck->ntensors = i + 1;
    if (!ck->tensor[i].data)
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  return CLT_OK;
}

/* Version 3's settings and labels, and version 4's variant, each value
   checked as training would check it. */
static clt_status parse_settings(const clt_context *ctx, const char *path, clt_rbuf *r,
                                 clt_checkpoint *ck) {
  clt_loss_desc *l = &ck->loss_desc;
  *l = clt_loss_defaults(ck->loss);
  l->reduction = (clt_reduction)clt_rbuf_u32(r);
  l->margin = (float)clt_rbuf_f64(r);
  l->p = (int)clt_rbuf_u32(r);
  l->label_smoothing = (float)clt_rbuf_f64(r);
  l->ignore_index = (int)(int32_t)clt_rbuf_u32(r);
  l->huber_delta = (float)clt_rbuf_f64(r);
  l->log_target = (int)clt_rbuf_u32(r);
  uint32_t nw = clt_rbuf_u32(r);
  bool ok = !r->short_read && (nw == 0 || nw == ck->c) && nw <= (r->len - r->pos) / 8;
  if (ok && nw) {
    if (!(ck->class_weight = malloc(nw * sizeof *ck->class_weight)))
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (uint32_t k = 0; k < nw; k++) {
      double v = clt_rbuf_f64(r);
      ok = ok && isfinite(v) && v >= 0;
      ck->class_weight[k] = (float)v;
    }
  }
  ck->reg.l1 = (float)clt_rbuf_f64(r);
  ck->reg.l2 = (float)clt_rbuf_f64(r);
  clt_schedule *s = &ck->schedule;
  s->kind = (clt_schedule_kind)clt_rbuf_u32(r);
  s->base_lr = clt_rbuf_f64(r);
  s->warmup_steps = clt_rbuf_u64(r);
  s->step_size = clt_rbuf_u64(r);
  s->gamma = clt_rbuf_f64(r);
  s->total_steps = clt_rbuf_u64(r);
  s->min_lr = clt_rbuf_f64(r);
  ck->epochs_target = clt_rbuf_u64(r);
  ck->seed = clt_rbuf_u64(r);
  ck->init_std = clt_rbuf_f64(r);
  uint32_t base = clt_rbuf_u32(r);
  ck->svmlight_base = base ? (char)('0' + base - 1) : 0;
  uint32_t nl = clt_rbuf_u32(r);
  ok = ok && !r->short_read && base <= 2 && nl == ck->c && nl <= (r->len - r->pos) / 4 &&
       ck->epochs_target >= 1 && isfinite(ck->init_std) && ck->init_std >= 0 &&
       isfinite(ck->reg.l1) && ck->reg.l1 >= 0 && isfinite(ck->reg.l2) && ck->reg.l2 >= 0 &&
       isfinite(clt_schedule_lr(s, 0)) && clt_loss_check_desc(NULL, l) == CLT_OK;
  if (!ok)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated or inconsistent training settings",
                    path);
  ck->labels.name = calloc(nl ? nl : 1, sizeof *ck->labels.name);
  if (!ck->labels.name) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  for (uint32_t k = 0; k < nl; k++) {
    uint32_t len = clt_rbuf_u32(r);
    if (r->short_read || len == 0 || len > CLT_CHECKPOINT_LABEL_MAX || len > r->len - r->pos)
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: class %u's label is truncated", path, k);
    if (!(ck->labels.name[k] = malloc(len + 1)))
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    ck->labels.n = k + 1;
    clt_rbuf_bytes(r, ck->labels.name[k], len);
    ck->labels.name[k][len] = '\0';
  }
  if (ck->version >= 4) {
    uint32_t len = clt_rbuf_u32(r);
    if (r->short_read || len > CLT_CHECKPOINT_VARIANT_MAX || len > r->len - r->pos)
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: the variant is truncated", path);
    clt_rbuf_bytes(r, ck->variant, len);
    ck->variant[len] = '\0';
    for (uint32_t k = 0; k < len; k++)
      if (ck->variant[k] < 0x21 || ck->variant[k] > 0x7e)
        return clt_fail(ctx, CLT_ERR_FORMAT, "%s: the variant holds byte 0x%02x", path,
                        (unsigned char)ck->variant[k]);
    ck->shards = clt_rbuf_u64(r);
    ck->world_size = clt_rbuf_u32(r);
    if (r->short_read || ck->shards == 0 || ck->shards > ck->n || ck->world_size == 0 ||
        ck->world_size > ck->shards)
      return clt_fail(ctx, CLT_ERR_FORMAT,
                      "%s: %llu shards of %llu rows trained by %u ranks: inconsistent", path,
                      (unsigned long long)ck->shards, (unsigned long long)ck->n, ck->world_size);
  }
  ck->has_settings = true;
  return CLT_OK;
}

/* The tensors are the kind's parameters for d, c and the bias the file
   has: same names, order and shapes. */
static clt_status check_params(const clt_context *ctx, const char *path,
                               const clt_checkpoint *ck) {
  clt_model_param want[CLT_MODEL_MAX_PARAMS];
  size_t n = ck->kind->params(ck->d, ck->c, clt_checkpoint_has(ck, "b"), want);
  if (n != ck->ntensors)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: %zu tensors, a %s model has %zu", path,
                    ck->ntensors, ck->kind->name, n);
  for (size_t i = 0; i < n; i++) {
    const clt_ckpt_tensor *t = &ck->tensor[i];
    if (strcmp(t->name, want[i].name) != 0 || t->rows != want[i].rows ||
        t->cols != want[i].cols)
      return clt_fail(ctx, CLT_ERR_FORMAT,
                      "%s: tensor %zu is '%s' (%zux%zu), a %s model's is '%s' (%zux%zu)",
                      path, i, t->name, t->rows, t->cols, ck->kind->name, want[i].name,
                      want[i].rows, want[i].cols);
  }
  return CLT_OK;
}

/* A CRC-valid file can still hold values no training writes: refused
   here rather than run into NaN scores. */
static clt_status check_values(const clt_context *ctx, const char *path,
                               const clt_checkpoint *ck) {
  if (!(isfinite(ck->prep.scale) && ck->prep.scale > 0))
    return clt_fail(ctx, CLT_ERR_FORMAT,
                    "%s: preprocessing scale %g is not a positive number", path,
                    (double)ck->prep.scale);
  for (size_t j = 0; ck->prep.mean && j < ck->d; j++)
    if (!isfinite(ck->prep.mean[j]) ||
        !(isfinite(ck->prep.std[j]) && ck->prep.std[j] >= 0))
      return clt_fail(ctx, CLT_ERR_FORMAT,
                      "%s: feature %zu's statistics (mean %g, std %g) are not finite",
                      path, j, ck->prep.mean[j], ck->prep.std[j]);
  for (size_t i = 0; i < ck->ntensors; i++) {
    const clt_ckpt_tensor *t = &ck->tensor[i];
    for (size_t k = 0; k < t->rows * t->cols; k++)
      if (!isfinite(t->data[k]))
        return clt_fail(ctx, CLT_ERR_FORMAT, "%s: %s[%zu] = %g is not finite", path,
                        t->name, k, (double)t->data[k]);
  }
  return CLT_OK;
}

static clt_status parse(const clt_context *ctx, const char *path, size_t len,
                        clt_checkpoint *ck) {
  clt_rbuf r = {.data = ck->file, .len = len};
  ck->shards = ck->world_size = 1; /* before version 4 */
  char magic[8];
  clt_rbuf_bytes(&r, magic, 8);
  if (memcmp(magic, MAGIC, 8) != 0)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: not a cltrain checkpoint (bad magic)",
                    path);
  ck->version = clt_rbuf_u32(&r);
  if (ck->version < 1 || ck->version > CLT_CHECKPOINT_VERSION)
    return clt_fail(ctx, CLT_ERR_FORMAT,
                    "%s: checkpoint version %u, this build reads 1 to %d", path,
                    ck->version, CLT_CHECKPOINT_VERSION);
  if (ck->version >= 2) {
    char kind[CLT_MODEL_NAME_LEN] = "";
    uint32_t len_kind = clt_rbuf_u32(&r);
    if (r.short_read || len_kind >= sizeof kind)
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated or inconsistent checkpoint header",
                      path);
    clt_rbuf_bytes(&r, kind, len_kind);
    if (!(ck->kind = clt_model_kind_named(kind)))
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: model kind '%s' is not one this build knows",
                      path, kind);
  }
  ck->d = clt_rbuf_u32(&r);
  ck->c = clt_rbuf_u32(&r);
  uint32_t loss = clt_rbuf_u32(&r), optim = clt_rbuf_u32(&r);
  uint32_t bias = ck->version == 1 ? clt_rbuf_u32(&r) : 0;
  ck->loss = (clt_loss_kind)loss;
  ck->optim = (clt_optim_kind)optim;
  ck->n = clt_rbuf_u64(&r);
  ck->batch = clt_rbuf_u64(&r);
  ck->epochs = clt_rbuf_u64(&r);
  ck->step = clt_rbuf_u64(&r);
  ck->rng = clt_rbuf_u64(&r);
  ck->prep.mode = (clt_preprocess)clt_rbuf_u32(&r);
  ck->prep.scale = (float)clt_rbuf_f64(&r);
  ck->prep.d = ck->d;
  if (r.short_read || ck->d == 0 || ck->c == 0 || bias > 1 ||
      ck->prep.mode > CLT_PREPROCESS_STANDARDIZE ||
      strcmp(clt_loss_kind_name(ck->loss), "unknown") == 0 ||
      strcmp(clt_optim_kind_name(ck->optim), "unknown") == 0 ||
      (ck->prep.mode != CLT_PREPROCESS_NONE && ck->d > (len - r.pos) / 16))
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated or inconsistent checkpoint header",
                    path);
  if (ck->prep.mode != CLT_PREPROCESS_NONE) {
    ck->prep.mean = malloc(ck->d * sizeof(double));
    ck->prep.std = malloc(ck->d * sizeof(double));
    if (!ck->prep.mean || !ck->prep.std)
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (size_t j = 0; j < ck->d; j++) {
      ck->prep.mean[j] = clt_rbuf_f64(&r);
      ck->prep.std[j] = clt_rbuf_f64(&r);
    }
  }
  if (ck->version >= 3) CLT_TRY(parse_settings(ctx, path, &r, ck));
  CLT_TRY(ck->version == 1 ? parse_v1_model(ctx, path, &r, ck, bias)
                           : parse_v2_tensors(ctx, path, &r, ck));
  ck->optim_len = (size_t)clt_rbuf_u64(&r);
  if (r.short_read || ck->optim_len != len - r.pos)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated checkpoint", path);
  ck->optim_state = ck->file + r.pos;
  CLT_TRY(check_params(ctx, path, ck));
  /* Older versions name their classes by number: C is known to be the
     tensors' (which the file holds) only now. */
  if (ck->version < 3 && clt_labels_identity(ck->c, &ck->labels) != CLT_OK)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  return check_values(ctx, path, ck);
}

clt_status clt_checkpoint_from_bytes(const clt_context *ctx, const char *name,
                                     unsigned char *file, size_t len, clt_checkpoint *out) {
  clt_checkpoint ck = {.file = file, .file_len = len};
  clt_status st = parse(ctx, name, len, &ck);
  if (st != CLT_OK) {
    clt_checkpoint_free(&ck);
    return st;
  }
  *out = ck;
  return CLT_OK;
}

clt_status clt_checkpoint_load(const clt_context *ctx, const char *path,
                               clt_checkpoint *out) {
  unsigned char *file = NULL;
  size_t len;
  CLT_TRY(clt_file_load(ctx, path, &file, &len));
  return clt_checkpoint_from_bytes(ctx, path, file, len, out);
}

clt_status clt_checkpoint_fits(const clt_checkpoint *ck, const clt_model *m,
                               const char *path) {
  bool same = ck->kind == m->kind && ck->ntensors == m->nparams;
  for (size_t i = 0; same && i < m->nparams; i++)
    same = strcmp(ck->tensor[i].name, m->param[i].name) == 0 &&
           ck->tensor[i].rows == m->param[i].rows && ck->tensor[i].cols == m->param[i].cols;
  if (!same)
    return clt_fail(m->ctx, CLT_ERR_FORMAT,
                    "%s holds a %s model of %zu tensors, not this %s model's %zu "
                    "(with or without a bias, other sizes)",
                    path, ck->kind->name, ck->ntensors, m->kind->name, m->nparams);
  return CLT_OK;
}

clt_status clt_checkpoint_apply(const clt_checkpoint *ck, clt_model *m,
                                const char *path) {
  CLT_TRY(clt_checkpoint_fits(ck, m, path));
  for (size_t i = 0; i < m->nparams; i++)
    CLT_TRY(clt_tensor_write(m->value[i], ck->tensor[i].data,
                             ck->tensor[i].rows * ck->tensor[i].cols * 4));
  return CLT_OK;
}
