/* cltrain train --distributed: the ranks of MPI_COMM_WORLD training one
   model (cltrain_mpi.h), each on its shards of the training rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "internal.h"
#include "train.h"
#if CLT_HAVE_MPI
#include "cltrain_mpi.h"
#endif

/* The size of the job this process was started in by mpirun or mpiexec
   (Open MPI, MPICH, Slurm), 1 outside one. */
static long launched_ranks(void) {
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && atol(v) > 1) return atol(v);
  }
  return 1;
}

int clt_cli_ranks_start(bool want, double timeout, clt_cli_ranks *r) {
  memset(r, 0, sizeof *r);
  r->size = 1;
  long launched = launched_ranks();
  if (!want) {
    if (launched <= 1) return 0;
    fprintf(stderr,
            "cltrain train: started as one of %ld ranks (mpirun) without --distributed: "
            "each would train alone on the whole set; add --distributed\n",
            launched);
    return 2;
  }
#if CLT_HAVE_MPI
  int provided = 0;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "cltrain train: --distributed: MPI_Init failed\n");
    return 1;
  }
  clt_mpi *mpi = NULL;
  if (clt_mpi_create(MPI_COMM_WORLD, &mpi) != CLT_OK) {
    fprintf(stderr, "cltrain train: --distributed: %s\n", clt_last_error(NULL));
    MPI_Finalize();
    return 1;
  }
  if (timeout > 0) clt_mpi_set_timeout(mpi, timeout);
  r->on = true;
  r->mpi = mpi;
  r->rank = clt_mpi_rank(mpi);
  r->size = clt_mpi_size(mpi);
  r->local_rank = clt_mpi_local_rank(mpi);
  return 0;
#else
  (void)timeout;
  fprintf(stderr, "cltrain train: --distributed: this cltrain was built without MPI (install "
                  "Open MPI, libopenmpi-dev, and build again)\n");
  return 2;
#endif
}

void clt_cli_ranks_end(clt_cli_ranks *r, int rc) {
  free(r->indptr);
  r->indptr = NULL;
#if CLT_HAVE_MPI
  if (!r->on) return;
  /* A rank that fails brings the job down rather than leave the others
     waiting in a collective. */
  if (rc != 0 && r->size > 1) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, rc);
  }
  clt_mpi_destroy(r->mpi);
  MPI_Finalize();
#else
  (void)rc;
#endif
  r->on = false;
}

double clt_cli_ranks_seconds(const clt_cli_ranks *r) {
#if CLT_HAVE_MPI
  return r->on ? clt_mpi_seconds(r->mpi) : 0;
#else
  (void)r;
  return 0;
#endif
}

clt_status clt_cli_ranks_share(clt_cli_ranks *r, char *buf, size_t len) {
#if CLT_HAVE_MPI
  if (r->on) CLT_TRY(clt_mpi_broadcast(r->mpi, buf, len));
  buf[len - 1] = '\0';
#else
  (void)r, (void)buf, (void)len;
#endif
  return CLT_OK;
}

clt_status clt_cli_ranks_checkpoint(clt_cli_ranks *r, const char *path, clt_checkpoint *ck) {
  if (!r->on) return clt_checkpoint_load(NULL, path, ck);
#if CLT_HAVE_MPI
  uint64_t head[2] = {0, 0}; /* rank 0's status and the file's length */
  if (r->rank == 0) {
    clt_status st = clt_checkpoint_load(NULL, path, ck);
    head[0] = (uint64_t)st;
    head[1] = st == CLT_OK ? ck->file_len : 0;
  }
  CLT_TRY(clt_mpi_broadcast(r->mpi, head, sizeof head));
  if (head[0] != CLT_OK)
    return r->rank == 0 ? (clt_status)head[0]
                        : clt_fail(NULL, (clt_status)head[0], "%s: rank 0 could not read it",
                                   path);
  if (r->rank == 0) return clt_mpi_broadcast(r->mpi, ck->file, ck->file_len);
  unsigned char *file = malloc(head[1] ? head[1] : 1);
  if (!file) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  clt_status st = clt_mpi_broadcast(r->mpi, file, head[1]);
  if (st != CLT_OK) {
    free(file);
    return st;
  }
  return clt_checkpoint_from_bytes(NULL, path, file, head[1], ck);
#else
  (void)path, (void)ck;
  return CLT_ERR_INVALID_ARG;
#endif
}

clt_status clt_cli_ranks_trainer(clt_cli_ranks *r, clt_context *ctx,
                                 const clt_train_options *opt, const clt_train_data *all,
                                 const clt_train_data *test, clt_trainer **out) {
  if (!r->on) return clt_trainer_create(ctx, opt, all, test, out);
#if CLT_HAVE_MPI
  size_t first = 0, count = 0;
  clt_mpi_rows(r->mpi, all->n, opt->shards, &first, &count);
  clt_train_data mine = *all;
  mine.n = count;
  if (all->x) mine.x = all->x + first * all->d;
  if (all->y) mine.y = all->y + first;
  if (all->t) mine.t = all->t + first * all->classes;
  if (all->indptr) { /* the rows' offsets from 0; kept while a stream reads them */
    if (!(r->indptr = malloc((count + 1) * sizeof *r->indptr)))
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "row offsets");
    for (size_t i = 0; i <= count; i++)
      r->indptr[i] = all->indptr[first + i] - all->indptr[first];
    mine.indptr = r->indptr;
    mine.indices = all->indices + all->indptr[first];
    mine.values = all->values + all->indptr[first];
  }
  return clt_mpi_trainer_create(ctx, r->mpi, opt, &mine, all->n, test, out);
#else
  (void)opt, (void)all, (void)test, (void)out;
  return clt_fail(ctx, CLT_ERR_INVALID_ARG, "built without MPI");
#endif
}
