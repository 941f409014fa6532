/* The training loop's internal side: a linear classifier trained on a
   device-resident data set by minibatch SGD-family optimizers. Its public
   part (create, epoch, parameters) is in cltrain.h; here are what the tool
   adds: preprocessing statistics, class labels, checkpoints, evaluations.

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

/* Besides the public trainer (cltrain.h): */

/* The staging minibatches of a streamed training set (opt.stream): the
   host gathers step t + 1's rows into the one that step t - 2's kernels
   read, done by then, while steps t - 1 and t compute. */
#define CLT_STREAM_STAGES 3

/* ------------------------------------------------------ data parallel */

/* Ranks that train one model together (host/mpi/: cltrain_mpi.h), as the
   trainer sees them: this rank of size, and an exchange of blocks of bytes
   between every pair of ranks (collective, with a failure's detail in
   ctx): this rank's block for rank q != rank is at send + q * stride
   (stride 0: one block for all, a gather), and rank q's block for this
   rank lands at recv + q * bytes (recv + rank * bytes is not written). */
typedef struct clt_train_comm {
  size_t rank, size;
  clt_status (*exchange)(void *user, clt_context *ctx, const void *send, size_t stride,
                         void *recv, size_t bytes);
  void *user;
  /* Optional: called as each step (0-based, counting resumed ones) starts. */
  void (*step_begins)(void *user, uint64_t step);
  /* Optional (collective): *base set to bytes of zeroed memory that every
     rank maps, one object for all (ranks on one machine), or NULL on every
     rank where they cannot share it; a status only for a failed exchange.
     unshare releases a mapping share made. */
  clt_status (*share)(void *user, clt_context *ctx, size_t bytes, void **base);
  void (*unshare)(void *user, void *base, size_t bytes);
} clt_train_comm;

/* Every rank's bytes of mine into all (size * bytes, in rank order;
   collective). */
clt_status clt_comm_gather(const clt_train_comm *comm, clt_context *ctx, const void *mine,
                           void *all, size_t bytes);

/* Sums n doubles mine over comm's ranks into sum in rank order: the same
   bits on every rank, whatever the transport's own reduction order
   (collective). */
clt_status clt_comm_sum(const clt_train_comm *comm, clt_context *ctx, const double *mine,
                        double *sum, size_t n);

/* The training rows of a run of n_all rows cut into shards (at least 1)
   of consecutive rows, shard s holding [s n_all / shards, (s+1) n_all /
   shards); rank of size owns shards [rank shards / size, (rank+1) shards
   / size): its rows [*first, *first + *count). */
void clt_shard_rows(size_t n_all, size_t shards, size_t rank, size_t size, size_t *first,
                    size_t *count);
/* Whether shards of a run of n_all rows give each of size ranks a shard
   and each shard a row. */
bool clt_shards_cover(size_t shards, size_t n_all, size_t size);

/* The steps of an epoch of n_all rows in shards (0: 1) at batch rows: as
   many as the shard that needs the most. */
size_t clt_shard_steps(size_t n_all, size_t shards, size_t batch);

/* clt_trainer_create for this rank of comm (NULL: one process, rank 0 of
   1): train holds its rows (clt_shard_rows) of a training set of n_all
   rows. Every shard has its own permutation per epoch and gives
   opt->batch / shards rows (the first batch % shards shards one more) to
   every step's batch, in shard order; so the steps' batches, and the
   results to float rounding, depend on the shards but not on the ranks.
   With comm, each step's gradient is summed over the ranks, weighted by
   each rank's share of the loss's normaliser (rows, or class weights of
   the rows not ignored): the losses and shares in one small gather, the
   gradient as a reduce-scatter (each rank sums its segment of every
   rank's gradient, in rank order) and a gather of the sums, the
   penalty's gradient added once
   after it, and every rank applies the same update. With comm, test (and
   a validation set) holds this rank's share of its set's rows (any split;
   a rank may hold none, and every rank gives the same classes), and every
   evaluation, the training set's too, sums the ranks' losses and correct
   rows in rank order. Creating one ends with one small agreement of the
   ranks: when a rank fails (a bad label in its share, a device error),
   every rank fails, the others with CLT_ERR_DISTRIBUTED, rather than wait
   for it in their first step; clt_trainer_set_validation does the same.
   A progress callback's request to
   stop is ignored with comm (every rank must run every step). The sparse SGD that updates only
   touched weights is not taken with comm (the dense update is). */
clt_status clt_trainer_create_ranked(clt_context *ctx, const clt_train_options *opt,
                                     const clt_train_data *train, size_t n_all,
                                     const clt_train_data *test, const clt_train_comm *comm,
                                     clt_trainer **out);
/* Where a ranked trainer's steps spent their time, summed over the steps
   (zeros without comm): the local loss and gradient until the device is
   done; the gradient read back and the sum written back; the
   communication (the small gather of the losses and shares, then the
   gradient's reduce-scatter, this rank's sums and their gather); and of
   it, the wait for slower ranks (the small gather, which ends when the
   last rank is ready). */
typedef struct clt_rank_seconds {
  double compute, staging, gather, wait;
} clt_rank_seconds;
clt_rank_seconds clt_trainer_rank_seconds(const clt_trainer *tr);
/* A hash of the parameters' bits, which replicas compare. */
clt_status clt_trainer_params_hash(clt_trainer *tr, uint64_t *hash);

/* The trainer's optimizer: after clt_trainer_load, the hyper-parameters
   the checkpoint holds. */
const clt_optimizer *clt_trainer_optimizer(const clt_trainer *tr);

/* Whether a step updates only the weights its rows use (plain SGD on
   sparse rows; see touched_updates in train.c) rather than all of them. */
bool clt_trainer_touched_updates(const clt_trainer *tr);
/* Whether a ranked trainer's steps have summed the gradients in memory
   the ranks share (clt_train_comm.share) rather than through messages. */
bool clt_trainer_shares_memory(const clt_trainer *tr);

/* Loss and accuracy of the current model on one of the sets it was made
   with (CLT_ERR_INVALID_ARG for a test or validation set it lacks). */
typedef enum clt_split { CLT_SPLIT_TRAIN, CLT_SPLIT_TEST, CLT_SPLIT_VAL } clt_split;
clt_status clt_trainer_evaluate_split(clt_trainer *tr, clt_split split, double *loss,
                                      double *accuracy);

/* Loss and accuracy of the current model on X (N,D) against labels y. */
clt_status clt_trainer_evaluate(clt_trainer *tr, const clt_tensor *X,
                                const clt_tensor *y, double *loss,
                                double *accuracy);

/* A data set of the loaders (data.h) as the trainer takes it. */
static inline clt_train_data clt_train_data_of(const clt_dataset *ds) {
  return (clt_train_data){.n = ds->n, .d = ds->d, .classes = ds->classes, .x = ds->x,
                          .y = ds->y, .indptr = ds->ptr, .indices = ds->col,
                          .values = ds->val};
}

/* Checkpoints: weights, bias, optimizer state, schedule position, RNG
   state, preprocessing statistics; written atomically. Loading checks the
   data shape, loss and optimizer and refuses others with CLT_ERR_FORMAT. */
clt_status clt_trainer_save(clt_trainer *tr, const char *path);
clt_status clt_trainer_load(clt_trainer *tr, const char *path);
/* The same from a checkpoint already read (path: what messages call it). */
struct clt_checkpoint;
clt_status clt_trainer_restore(clt_trainer *tr, const struct clt_checkpoint *ck,
                               const char *path);

/* Preprocessing statistics travel with the model: computed from the
   training set, applied to both splits and stored in checkpoints. */
typedef struct clt_prep_stats {
  clt_preprocess mode;
  float scale;       /* applied first, e.g. 1/255 for pixels */
  size_t d;
  double *mean, *std; /* d each, owned; NULL for CLT_PREPROCESS_NONE */
} clt_prep_stats;

/* The statistics of train into out; CLT_ERR_OUT_OF_MEMORY with the
   thread's detail (clt_last_error(NULL)), CLT_ERR_INVALID_ARG for
   CLT_PREPROCESS_CENTER of sparse rows. */
clt_status clt_prep_fit(const clt_dataset *train, clt_preprocess mode,
                        float scale, clt_prep_stats *out);
/* Adds n doubles mine over the ranks of a run into sum, the same bits on
   every rank (clt_comm_sum, clt_mpi_sum). */
typedef clt_status (*clt_sum_fn)(void *user, const double *mine, double *sum, size_t n);
/* v (n doubles) replaced by its sum over the ranks through sum (NULL:
   one process, v as it is). */
clt_status clt_sum_in_place(clt_sum_fn sum, void *user, double *v, size_t n);
/* clt_prep_fit over a training set of n_all rows split over the ranks,
   train holding this rank's: the statistics' sums go through sum (NULL:
   one process), so every rank gets the same statistics, equal to one
   process's to float rounding. Collective with sum. */
clt_status clt_prep_fit_ranked(const clt_dataset *train, size_t n_all, clt_preprocess mode,
                               float scale, clt_sum_fn sum, void *user, clt_prep_stats *out);
/* Sparse rows stay sparse (their statistics have a zero mean: scaled, not
   centered), except under the nonzero mean of a model trained on dense
   rows, which makes them dense first (CLT_ERR_OUT_OF_MEMORY or
   CLT_ERR_FORMAT as clt_data_densify). */
clt_status clt_prep_apply(const clt_prep_stats *st, clt_dataset *ds);
void clt_prep_free(clt_prep_stats *st);
void clt_trainer_set_prep(clt_trainer *tr, const clt_prep_stats *st);
/* The streamed dense training rows are as read, not yet through the
   preprocessing of clt_trainer_set_prep: every row a step gathers goes
   through it on the way (clt_data_prep_row: the bits of rows prepared in
   place first), so the caller's rows (a mapped file) are never written.
   CLT_ERR_INVALID_ARG unless the trainer streams dense rows. */
clt_status clt_trainer_stream_raw(clt_trainer *tr);

/* What checkpoints record besides the state: the classes' original
   labels (copied) and how a svmlight training file was read ('0', '1',
   or 0 for other formats). Without labels, classes are named 0..C-1. */
clt_status clt_trainer_set_labels(clt_trainer *tr, const clt_labels *labels,
                                  char svmlight_base);

#endif
