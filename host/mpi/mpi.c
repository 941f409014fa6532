/* The data-parallel component (cltrain_mpi.h) over MPI: the trainer's
   ranks (host/train.h: clt_train_comm) as a duplicated communicator. */
#include <limits.h>
#include <stdlib.h>

#include "cltrain_mpi.h"
#include "internal.h"
#include "train.h"

struct clt_mpi {
  MPI_Comm comm;
  int rank, size, local_rank;
  double seconds;
  clt_train_comm ranks;
};

/* CLT_ERR_DISTRIBUTED with MPI's message for rc from call. */
static clt_status mpi_fail(const clt_context *ctx, int rc, const char *call) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return clt_fail(ctx, CLT_ERR_DISTRIBUTED, "%s failed: %s", call, msg);
}

static clt_status gather(void *user, clt_context *ctx, const void *mine, void *all,
                         size_t bytes) {
  clt_mpi *m = user;
  if (bytes > INT_MAX)
    return clt_fail(ctx, CLT_ERR_DISTRIBUTED, "a gather of %zu bytes per rank: at most %d",
                    bytes, INT_MAX);
  double t0 = MPI_Wtime();
  int rc = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, m->comm);
  m->seconds += MPI_Wtime() - t0;
  return rc == MPI_SUCCESS ? CLT_OK : mpi_fail(ctx, rc, "MPI_Allgather");
}

clt_status clt_mpi_create(MPI_Comm comm, clt_mpi **out) {
  if (!out) return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_mpi_create: out is NULL");
  clt_mpi *m = calloc(1, sizeof *m);
  if (!m) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "clt_mpi_create: out of host memory");
  int rc = MPI_Comm_dup(comm, &m->comm);
  if (rc != MPI_SUCCESS) {
    free(m);
    return mpi_fail(NULL, rc, "MPI_Comm_dup");
  }
  MPI_Comm local = MPI_COMM_NULL;
  rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(m->comm, &m->rank);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(m->comm, &m->size);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL, &local);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(local, &m->local_rank);
  if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
  if (rc != MPI_SUCCESS) {
    clt_status st = mpi_fail(NULL, rc, "clt_mpi_create");
    MPI_Comm_free(&m->comm);
    free(m);
    return st;
  }
  m->ranks = (clt_train_comm){
      .rank = (size_t)m->rank, .size = (size_t)m->size, .allgather = gather, .user = m};
  *out = m;
  return CLT_OK;
}

void clt_mpi_destroy(clt_mpi *mpi) {
  if (!mpi) return;
  MPI_Comm_free(&mpi->comm);
  free(mpi);
}

int clt_mpi_rank(const clt_mpi *mpi) { return mpi ? mpi->rank : 0; }
int clt_mpi_size(const clt_mpi *mpi) { return mpi ? mpi->size : 1; }
int clt_mpi_local_rank(const clt_mpi *mpi) { return mpi ? mpi->local_rank : 0; }
double clt_mpi_seconds(const clt_mpi *mpi) { return mpi ? mpi->seconds : 0; }

clt_status clt_mpi_broadcast(clt_mpi *mpi, void *buf, size_t bytes) {
  if (!mpi) return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_mpi_broadcast: mpi is NULL");
  double t0 = MPI_Wtime();
  int rc = MPI_SUCCESS;
  for (size_t at = 0; rc == MPI_SUCCESS && at < bytes;) { /* counts are ints */
    size_t part = bytes - at < (size_t)INT_MAX ? bytes - at : (size_t)INT_MAX;
    rc = MPI_Bcast((unsigned char *)buf + at, (int)part, MPI_BYTE, 0, mpi->comm);
    at += part;
  }
  mpi->seconds += MPI_Wtime() - t0;
  return rc == MPI_SUCCESS ? CLT_OK : mpi_fail(NULL, rc, "MPI_Bcast");
}

void clt_mpi_rows(const clt_mpi *mpi, size_t n, size_t shards, size_t *first, size_t *count) {
  size_t size = (size_t)clt_mpi_size(mpi);
  clt_shard_rows(n, shards ? shards : size, (size_t)clt_mpi_rank(mpi), size, first, count);
}

clt_status clt_mpi_trainer_create(clt_context *ctx, clt_mpi *mpi,
                                  const clt_train_options *opt,
                                  const clt_train_data *train, size_t n,
                                  const clt_train_data *test, clt_trainer **out) {
  if (!mpi || !opt) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "clt_mpi_trainer_create: NULL");
  clt_train_options o = *opt;
  if (o.shards == 0) o.shards = (size_t)mpi->size;
  return clt_trainer_create_ranked(ctx, &o, train, n, test, &mpi->ranks, out);
}
