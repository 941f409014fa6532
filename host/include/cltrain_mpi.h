/* cltrain's data-parallel component: one model trained by the ranks of an
   MPI communicator, each on its shards of the training rows, their
   gradients summed every step (libcltrain_mpi, built when CMake finds
   MPI; the core library stays free of MPI).

   The caller owns MPI_Init and MPI_Finalize. Nothing here aborts: the
   component duplicates the communicator with MPI_ERRORS_RETURN, and an MPI
   failure comes back as CLT_ERR_DISTRIBUTED with MPI's message in
   clt_last_error. */
#ifndef CLTRAIN_MPI_H
#define CLTRAIN_MPI_H

#include <mpi.h>

#include "cltrain.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clt_mpi clt_mpi;

/* A duplicate of comm (collective over comm). For tests of failure
   handling, CLT_DIST_FAULT=exit:R:S (or hang:R:S) in the environment makes
   rank R exit with status 3 (or stop answering) as step S begins; for
   tests of large gathers, CLT_DIST_CHUNK=B on rank 0 cuts the component's
   messages to at most B bytes (default and most: INT_MAX, MPI's largest
   count). */
CLT_API clt_status clt_mpi_create(MPI_Comm comm, clt_mpi **out);
CLT_API void clt_mpi_destroy(clt_mpi *mpi); /* NULL is fine; collective */
CLT_API int clt_mpi_rank(const clt_mpi *mpi);
CLT_API int clt_mpi_size(const clt_mpi *mpi);
/* The rank among those on its machine (MPI_COMM_TYPE_SHARED): which of
   the machine's devices it takes. */
CLT_API int clt_mpi_local_rank(const clt_mpi *mpi);
/* The watchdog: a rank that waits more than seconds (> 0; default 300)
   for another's part of a step's exchange gives up, and the trainer's call
   returns CLT_ERR_DISTRIBUTED naming the silent ranks (the caller then
   ends the job: MPI_Abort). */
CLT_API clt_status clt_mpi_set_timeout(clt_mpi *mpi, double seconds);
/* Seconds spent in the component's collectives so far. */
CLT_API double clt_mpi_seconds(const clt_mpi *mpi);

/* bytes of buf from rank 0 to every rank (collective). */
CLT_API clt_status clt_mpi_broadcast(clt_mpi *mpi, void *buf, size_t bytes);

/* n doubles mine summed over the ranks into sum in rank order: the same
   bits on every rank whatever MPI's reduction order (collective). */
CLT_API clt_status clt_mpi_sum(clt_mpi *mpi, const double *mine, double *sum, size_t n);

/* The training rows this rank holds of a set of n rows cut into shards
   (clt_train_options.shards; 0 counts as the ranks): rows [*first,
   *first + *count), the shards [rank S / K, (rank + 1) S / K) of K ranks. */
CLT_API void clt_mpi_rows(const clt_mpi *mpi, size_t n, size_t shards, size_t *first,
                          size_t *count);

/* clt_trainer_create for this rank: train holds its rows (clt_mpi_rows) of
   a training set of n rows (collective: every rank calls it with the same
   options and n; opt->shards 0 counts as the ranks). Each step sums the
   ranks' gradients, weighted by each one's share of the loss's normaliser,
   in rank order (a reduce-scatter: each rank sums a segment, and the sums
   are gathered), so every rank applies the same update
   to the same bits; the batches, and so the results to float rounding, are
   those of one process with the same shards. Every epoch the ranks'
   parameters are compared (a hash): a difference is CLT_ERR_DISTRIBUTED.
   test holds this rank's share of the test set's rows (any split, as
   clt_mpi_rows(mpi, n_test, 0, ...) gives; a rank may hold none), and so
   does a validation set given to clt_trainer_set_validation on every rank:
   their evaluations, and the training set's, sum the ranks' losses and
   correct rows in rank order. A rank that fails to make its part (a bad
   label in its rows) makes every rank fail, the others with
   CLT_ERR_DISTRIBUTED. The trainer's other calls are collective too
   (epochs, evaluation, clt_trainer_set_validation). mpi must outlive the
   trainer. */
CLT_API clt_status clt_mpi_trainer_create(clt_context *ctx, clt_mpi *mpi,
                                          const clt_train_options *opt,
                                          const clt_train_data *train, size_t n,
                                          const clt_train_data *test, clt_trainer **out);

#ifdef __cplusplus
}
#endif

#endif /* CLTRAIN_MPI_H */
