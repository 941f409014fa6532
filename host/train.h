/* The training loop: a linear classifier trained on a device-resident data
   set by minibatch SGD-family optimizers (internal API, used by the CLI and
   the benchmarks).

   The training and test sets are uploaded once. Each epoch draws a seeded
   permutation (uploaded once per epoch, N*4 bytes), and every minibatch is
   taken on the device through it (the fused step reads X's rows through
   the permutation; other losses gather them), so a step moves nothing
   between host and device except its loss read-back. */
#ifndef CLT_TRAIN_H
#define CLT_TRAIN_H

#include <stdbool.h>

#include "cltrain.h"
#include "data.h"

typedef enum clt_preprocess {
  CLT_PREPROCESS_NONE,        /* features as given */
  CLT_PREPROCESS_CENTER,      /* subtract the training mean (CS231n) */
  CLT_PREPROCESS_STANDARDIZE  /* subtract the mean, divide by the std */
} clt_preprocess;

typedef struct clt_train_options {
  clt_loss_desc loss;
  clt_reg_desc reg;
  clt_optim_desc optim;
  clt_schedule schedule; /* base_lr is optim.lr; total steps filled in */
  size_t batch;          /* rows per step; 0 means the whole training set */
  size_t epochs;
  uint64_t seed;
  bool bias;             /* a separate bias vector b (1,C) */
  double init_std;       /* W ~ init_std * N(0, 1); 0: W = 0 */
  /* C weights of the classes for the loss (its class_weight, which the
     trainer uploads), or NULL; loss.class_weight itself is ignored. */
  const float *class_weight;
} clt_train_options;

typedef struct clt_epoch_stats {
  size_t epoch;           /* 1-based, counting resumed epochs */
  uint64_t step;          /* optimizer steps so far */
  double train_loss;      /* mean minibatch loss (with penalty) over the epoch */
  double test_loss, test_accuracy;
  double val_loss, val_accuracy; /* NaN without a validation set */
  double seconds;         /* this epoch, training and evaluation */
  double first_loss;      /* the run's first minibatch loss, before any
                             update (NaN when the run was resumed) */
  double samples_per_second;
} clt_epoch_stats;

/* Called every few steps inside an epoch: steps done in this epoch, steps
   per epoch, last minibatch loss. Return non-zero to stop early. */
typedef int (*clt_progress_fn)(void *user, size_t done, size_t total,
                               double loss);

typedef struct clt_trainer clt_trainer;

/* Uploads train and test (already preprocessed by the caller with
   clt_prep_apply) and initialises W (opt->init_std) and b = 0. test may
   be NULL: the epochs then report no test figures (NaN). */
clt_status clt_trainer_create(clt_context *ctx, const clt_train_options *opt,
                              const clt_dataset *train,
                              const clt_dataset *test, clt_trainer **out);
void clt_trainer_destroy(clt_trainer *tr);

/* One epoch: the steps, then evaluation on the test set. A non-finite loss
   stops at once with CLT_ERR_NONFINITE, clt_last_error naming the step and
   the learning rate, and the parameters as they were before that step's
   update is not guaranteed: keep checkpoints. */
clt_status clt_trainer_epoch(clt_trainer *tr, clt_progress_fn progress,
                             void *user, clt_epoch_stats *stats);
size_t clt_trainer_epochs_done(const clt_trainer *tr);
/* The trainer's optimizer: after clt_trainer_load, the hyper-parameters
   the checkpoint holds. */
const clt_optimizer *clt_trainer_optimizer(const clt_trainer *tr);

/* A validation set (preprocessed as the others) evaluated after every
   epoch into the stats' val_loss and val_accuracy. */
clt_status clt_trainer_set_validation(clt_trainer *tr, const clt_dataset *val);

/* Loss and accuracy of the current model on one of the sets it was made
   with (CLT_ERR_INVALID_ARG for a test or validation set it lacks). */
typedef enum clt_split { CLT_SPLIT_TRAIN, CLT_SPLIT_TEST, CLT_SPLIT_VAL } clt_split;
clt_status clt_trainer_evaluate_split(clt_trainer *tr, clt_split split, double *loss,
                                      double *accuracy);

/* Loss and accuracy of the current model on X (N,D) against labels y. */
clt_status clt_trainer_evaluate(clt_trainer *tr, const clt_tensor *X,
                                const clt_tensor *y, double *loss,
                                double *accuracy);

/* Checkpoints: weights, bias, optimizer state, schedule position, RNG
   state, preprocessing statistics; written atomically. Loading checks the
   data shape, loss and optimizer and refuses others with CLT_ERR_FORMAT. */
clt_status clt_trainer_save(clt_trainer *tr, const char *path);
clt_status clt_trainer_load(clt_trainer *tr, const char *path);

/* Preprocessing statistics travel with the model: computed from the
   training set, applied to both splits and stored in checkpoints. */
typedef struct clt_prep_stats {
  clt_preprocess mode;
  float scale;       /* applied first, e.g. 1/255 for pixels */
  size_t d;
  double *mean, *std; /* d each, owned; NULL for CLT_PREPROCESS_NONE */
} clt_prep_stats;

/* The statistics of train into out; CLT_ERR_OUT_OF_MEMORY with the
   thread's detail (clt_last_error(NULL)). */
clt_status clt_prep_fit(const clt_dataset *train, clt_preprocess mode,
                        float scale, clt_prep_stats *out);
void clt_prep_apply(const clt_prep_stats *st, clt_dataset *ds);
void clt_prep_free(clt_prep_stats *st);
void clt_trainer_set_prep(clt_trainer *tr, const clt_prep_stats *st);

/* What checkpoints record besides the state: the classes' original
   labels (copied) and how a svmlight training file was read ('0', '1',
   or 0 for other formats). Without labels, classes are named 0..C-1. */
clt_status clt_trainer_set_labels(clt_trainer *tr, const clt_labels *labels,
                                  char svmlight_base);

#endif
