/* The model interface (internal API): what training, evaluation and
   prediction ask of a model. A model is a kind (its functions, below) and
   named parameter tensors, held in one optimizer group when it trains so
   that a step is one launch; the trainer, `cltrain predict` and the
   checkpoints see only this interface. linear (host/model_linear.c) is the
   first kind: S = X W + b. */
#ifndef CLT_MODEL_H
#define CLT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "cltrain.h"

#define CLT_MODEL_MAX_PARAMS 8
#define CLT_MODEL_NAME_LEN 16

typedef struct clt_model clt_model;

/* One parameter tensor: its name (the checkpoint's record), shape and
   optimizer options. */
typedef struct clt_model_param {
  char name[CLT_MODEL_NAME_LEN];
  size_t rows, cols;
  clt_param_options options;
} clt_model_param;

/* A data set's features on the device: dense rows (an (N,d) tensor) or
   sparse ones (CSR); exactly one is set. */
typedef struct clt_features {
  const clt_tensor *dense;
  const clt_csr *csr;
} clt_features;

static inline size_t clt_features_rows(clt_features X) {
  return X.dense ? clt_tensor_rows(X.dense) : clt_csr_rows(X.csr);
}

/* A minibatch: the rows idx[first .. first+n) of the data set X with its
   targets (labels (N,1) or values (N,C)), and room (yb: n rows; Xb: n
   rows, dense features only) where a model gathers them when it needs
   them in one piece. */
typedef struct clt_model_batch {
  clt_features X;
  const clt_tensor *targets, *idx;
  size_t first;
  clt_tensor *Xb, *yb;
  struct clt_loss_slot *defer; /* NULL, or where the loss may stay on the device */
} clt_model_batch;

/* A kind of model. */
typedef struct clt_model_kind {
  const char *name; /* "linear": how checkpoints name it */
  /* Its parameters for d features and c outputs, with or without a bias,
     into out (at most CLT_MODEL_MAX_PARAMS); their count. */
  size_t (*params)(size_t d, size_t c, bool bias, clt_model_param *out);
  /* Initial parameter values from seed (the parameters start at zero). */
  clt_status (*init)(clt_model *m, uint64_t seed, double init_std);
  /* S (N,c) = the scores of X (N,d). */
  clt_status (*forward)(clt_model *m, clt_features X, clt_tensor *S);
  /* *value = the loss of the batch (plus reg's penalty) and every
     parameter's gradient into m->grad; or, where b->defer is set and the
     path can, the loss left in its slot (clt_loss_slot). */
  clt_status (*loss_grad)(clt_model *m, const clt_loss_desc *loss,
                          const clt_reg_desc *reg, const clt_model_batch *b,
                          double *value);
} clt_model_kind;

struct clt_model {
  const clt_model_kind *kind;
  clt_context *ctx;
  size_t d, c, nparams;
  clt_model_param param[CLT_MODEL_MAX_PARAMS];
  clt_tensor *value[CLT_MODEL_MAX_PARAMS];
  clt_tensor *grad[CLT_MODEL_MAX_PARAMS]; /* NULL when made for inference */
  clt_tensor *scores; /* evaluation scratch, grown on demand */
};

/* The kind called name, or NULL. */
const clt_model_kind *clt_model_kind_named(const char *name);
extern const clt_model_kind clt_model_linear; /* host/model_linear.c */

/* A model of kind with zero parameters: in one group of opt (with their
   gradients) when opt is given, else plain tensors for inference. */
clt_status clt_model_create(clt_context *ctx, const clt_model_kind *kind,
                            size_t d, size_t c, bool bias, clt_optimizer *opt,
                            clt_model **out);
void clt_model_destroy(clt_model *m);

/* The parameter called name, or NULL. */
clt_tensor *clt_model_param_named(const clt_model *m, const char *name);

/* The scores of every row of X (N,d) into out (N*c floats, row-major, on
   the host), computed a chunk at a time. */
clt_status clt_model_scores(clt_model *m, clt_features X, float *out);

/* Loss and correct predictions over X (N,d) in chunks of scores: labels
   (N,1) give the accuracy (NULL: none counted); the loss compares the scores with targets
   (labels or (N,c) values; NULL: *loss is NaN) under the loss's own
   reduction over all of X, as PyTorch's: MEAN divides by the weight of
   the cross-entropy rows not ignored (class weights, ignore_index), by N
   for the other row losses, by N*c for the elementwise ones. *normaliser
   (NULL: not wanted) gets that divisor (1 for SUM), so that evaluations
   of parts of a set can be combined. */
clt_status clt_model_evaluate(clt_model *m, const clt_loss_desc *loss,
                              clt_features X, const clt_tensor *labels,
                              const clt_tensor *targets, double *loss_value,
                              size_t *correct, double *normaliser);

#endif /* CLT_MODEL_H */
