/* The model interface's common part: creation in an optimizer group or for
   inference, lookups, and the evaluation loop shared by training and
   prediction. */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "loss_impl.h"

/* Rows of scores computed at once by an evaluation. */
#define EVAL_CHUNK 8192

static const clt_model_kind *const kinds[] = {&clt_model_linear};

const clt_model_kind *clt_model_kind_named(const char *name) {
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
    if (strcmp(kinds[k]->name, name) == 0) return kinds[k];
  return NULL;
}

void clt_model_destroy(clt_model *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nparams; i++) {
    clt_tensor_destroy(m->value[i]);
    clt_tensor_destroy(m->grad[i]);
  }
  clt_tensor_destroy(m->scores);
  free(m);
}

clt_status clt_model_create(clt_context *ctx, const clt_model_kind *kind,
                            size_t d, size_t c, bool bias, clt_optimizer *opt,
                            clt_model **out) {
  clt_model *m = calloc(1, sizeof *m);
  if (!m) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "out of host memory");
  *m = (clt_model){.kind = kind, .ctx = ctx, .d = d, .c = c};
  m->nparams = kind->params(d, c, bias, m->param);
  size_t rows[CLT_MODEL_MAX_PARAMS], cols[CLT_MODEL_MAX_PARAMS];
  clt_param_options options[CLT_MODEL_MAX_PARAMS];
  for (size_t i = 0; i < m->nparams; i++) {
    rows[i] = m->param[i].rows;
    cols[i] = m->param[i].cols;
    options[i] = m->param[i].options;
  }
  clt_status st = CLT_OK;
  if (opt) {
    st = clt_optimizer_add_group(opt, m->nparams, rows, cols, options, m->value,
                                 m->grad);
  } else {
    for (size_t i = 0; i < m->nparams && st == CLT_OK; i++) {
      st = clt_tensor_create(ctx, rows[i], cols[i], CLT_FLOAT32, &m->value[i]);
      if (st == CLT_OK) st = clt_tensor_fill(m->value[i], 0.0);
    }
  }
  if (st != CLT_OK) {
    clt_model_destroy(m);
    return st;
  }
  *out = m;
  return CLT_OK;
}

clt_tensor *clt_model_param_named(const clt_model *m, const char *name) {
  for (size_t i = 0; i < m->nparams; i++)
    if (strcmp(m->param[i].name, name) == 0) return m->value[i];
  return NULL;
}

/* Scores of rows [first, first+rows) of X into the scratch, as sv. */
static clt_status chunk_scores(clt_model *m, clt_features X, size_t first,
                               size_t rows, clt_tensor **sv) {
  size_t n = clt_features_rows(X), want = n < EVAL_CHUNK ? n : EVAL_CHUNK;
  if (!m->scores || clt_tensor_rows(m->scores) < want) {
    clt_tensor_destroy(m->scores);
    m->scores = NULL;
    CLT_TRY(clt_tensor_create(m->ctx, want, m->c, CLT_FLOAT32, &m->scores));
  }
  clt_tensor *xv = NULL;
  clt_csr *cv = NULL;
  clt_status st = X.dense ? clt_tensor_view_rows((clt_tensor *)X.dense, first, rows, &xv)
                          : clt_csr_view_rows((clt_csr *)X.csr, first, rows, &cv);
  if (st == CLT_OK) st = clt_tensor_view_rows(m->scores, 0, rows, sv);
  if (st == CLT_OK) st = m->kind->forward(m, (clt_features){xv, cv}, *sv);
  clt_tensor_destroy(xv);
  clt_csr_destroy(cv);
  return st;
}

clt_status clt_model_scores(clt_model *m, clt_features X, float *out) {
  size_t n = clt_features_rows(X);
  for (size_t first = 0; first < n; first += EVAL_CHUNK) {
    size_t rows = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
    clt_tensor *sv = NULL;
    clt_status st = chunk_scores(m, X, first, rows, &sv);
    if (st == CLT_OK) st = clt_tensor_read(sv, out + first * m->c, rows * m->c * 4);
    clt_tensor_destroy(sv);
    CLT_TRY(st);
  }
  return CLT_OK;
}

/* The class weights of loss (c floats, malloc'd; NULL without them) and
   room for a chunk's labels where its normaliser needs them
   (cross-entropy against labels: the weight of the rows not ignored). */
static clt_status normaliser_inputs(const clt_model *m, const clt_loss_desc *loss,
                                    const clt_tensor *targets, float **cw, int32_t **lab) {
  *cw = NULL, *lab = NULL;
  if (!targets || loss->kind != CLT_LOSS_CROSS_ENTROPY ||
      clt_tensor_dtype(targets) != CLT_INT32 || loss->reduction != CLT_REDUCTION_MEAN)
    return CLT_OK;
  *lab = malloc(EVAL_CHUNK * sizeof **lab);
  if (*lab && loss->class_weight) *cw = malloc(m->c * sizeof **cw);
  if (!*lab || (loss->class_weight && !*cw)) {
    free(*lab), free(*cw);
    *lab = NULL, *cw = NULL;
    return clt_fail(m->ctx, CLT_ERR_OUT_OF_MEMORY, "evaluation: labels");
  }
  clt_status st = loss->class_weight ? clt_tensor_read(loss->class_weight, *cw, m->c * 4) : CLT_OK;
  if (st != CLT_OK) free(*lab), free(*cw), *lab = NULL, *cw = NULL;
  return st;
}

clt_status clt_model_evaluate(clt_model *m, const clt_loss_desc *loss,
                              clt_features X, const clt_tensor *labels,
                              const clt_tensor *targets, double *loss_value,
                              size_t *correct, double *normaliser) {
  size_t n = clt_features_rows(X);
  double total = 0, den = 0;
  *correct = 0;
  clt_loss_desc ld = *loss;
  ld.reduction = CLT_REDUCTION_SUM;
  float *cw;
  int32_t *lab;
  CLT_TRY(normaliser_inputs(m, loss, targets, &cw, &lab));
  clt_status st = CLT_OK;
  for (size_t first = 0; st == CLT_OK && first < n; first += EVAL_CHUNK) {
    size_t rows = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
    clt_tensor *sv = NULL, *yv = NULL, *tv = NULL;
    st = chunk_scores(m, X, first, rows, &sv);
    if (st == CLT_OK && labels)
      st = clt_tensor_view_rows((clt_tensor *)labels, first, rows, &yv);
    if (st == CLT_OK && targets)
      st = clt_tensor_view_rows((clt_tensor *)targets, first, rows, &tv);
    double l = 0;
    size_t ok = 0;
    if (st == CLT_OK && tv) st = clt_loss(m->ctx, &ld, sv, tv, &l, NULL);
    if (st == CLT_OK && yv) st = clt_accuracy(m->ctx, sv, yv, &ok);
    if (st == CLT_OK && lab) st = clt_tensor_read(tv, lab, rows * sizeof *lab);
    /* the chunk's part of what the loss's own reduction divides by */
    const clt_ref_loss_in in = {
        .desc = loss, .n = rows, .c = m->c, .labels = lab, .class_weight = cw};
    den += clt_ref_loss_denominator(&in);
    clt_tensor_destroy(sv);
    clt_tensor_destroy(yv);
    clt_tensor_destroy(tv);
    total += l;
    *correct += ok;
  }
  free(cw);
  free(lab);
  CLT_TRY(st);
  if (loss->reduction == CLT_REDUCTION_SUM) den = 1;
  *loss_value = targets ? total / den : NAN;
  if (normaliser) *normaliser = targets ? den : NAN;
  return CLT_OK;
}
