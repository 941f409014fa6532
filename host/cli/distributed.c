/* cltrain train --distributed: the ranks of MPI_COMM_WORLD training one
   model (cltrain_mpi.h), each on its shards of the training rows. */
#include <stdbool.h>
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
  for (int k = 0; k < 3; k++) {
    free(r->indptr[k]);
    r->indptr[k] = NULL;
  }
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

void clt_cli_ranks_rows(const clt_cli_ranks *r, size_t n, size_t shards, size_t *first,
                        size_t *count) {
  *first = 0, *count = n;
#if CLT_HAVE_MPI
  if (r->on) clt_mpi_rows(r->mpi, n, shards, first, count);
#else
  (void)r, (void)shards;
#endif
}

clt_dataset clt_cli_ranks_view(const clt_cli_ranks *r, size_t shards, const clt_dataset *all) {
  size_t first, count;
  clt_cli_ranks_rows(r, all->n, shards, &first, &count);
  clt_dataset mine = *all;
  mine.n = count;
  if (all->x) mine.x = all->x + first * all->d;
  if (all->y) mine.y = all->y + first;
  if (all->ptr) mine.ptr = all->ptr + first;
  return mine;
}

clt_status clt_cli_ranks_sum(void *ranks, const double *mine, double *sum, size_t n) {
  clt_cli_ranks *r = ranks;
#if CLT_HAVE_MPI
  if (r->on) return clt_mpi_sum(r->mpi, mine, sum, n);
#else
  (void)r;
#endif
  memmove(sum, mine, n * sizeof *sum);
  return CLT_OK;
}

bool clt_cli_ranks_any(clt_cli_ranks *r, bool mine) {
#if CLT_HAVE_MPI
  int in = mine, any = in;
  if (r->on && MPI_Allreduce(&in, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD) != MPI_SUCCESS)
    return true;
  return any != 0;
#else
  (void)r;
  return mine;
#endif
}

#if CLT_HAVE_MPI
/* Set k's (0 training, 1 test, 2 validation) rows of this rank of all
   (shards 0: an even split over the ranks) into mine; sparse rows get
   offsets from 0, kept in r while a stream reads them. */
static clt_status slice(clt_cli_ranks *r, int k, size_t shards, const clt_train_data *all,
                        clt_train_data *mine) {
  size_t first = 0, count = 0;
  clt_mpi_rows(r->mpi, all->n, shards, &first, &count);
  *mine = *all;
  mine->n = count;
  if (all->x) mine->x = all->x + first * all->d;
  if (all->y) mine->y = all->y + first;
  if (all->t) mine->t = all->t + first * all->classes;
  if (all->indptr) {
    if (!(r->indptr[k] = malloc((count + 1) * sizeof *r->indptr[k])))
      return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "row offsets");
    for (size_t i = 0; i <= count; i++)
      r->indptr[k][i] = all->indptr[first + i] - all->indptr[first];
    mine->indptr = r->indptr[k];
    mine->indices = all->indices + all->indptr[first];
    mine->values = all->values + all->indptr[first];
  }
  return CLT_OK;
}
#endif

clt_status clt_cli_ranks_trainer(clt_cli_ranks *r, clt_context *ctx,
                                 const clt_train_options *opt, const clt_train_data *all,
                                 size_t n_all, const clt_train_data *test,
                                 const clt_train_data *val, clt_trainer **out) {
  if (!r->on) {
    CLT_TRY(clt_trainer_create(ctx, opt, all, test, out));
    clt_status st = val ? clt_trainer_set_validation(*out, val) : CLT_OK;
    if (st != CLT_OK) clt_trainer_destroy(*out), *out = NULL;
    return st;
  }
#if CLT_HAVE_MPI
  /* the training rows by shards (unless all holds only them: a read of
     this rank's rows); the test and validation sets' evenly */
  clt_train_data mine[3] = {*all};
  const clt_train_data *sets[3] = {n_all == all->n ? all : NULL, test, val};
  for (int k = 0; k < 3; k++)
    if (sets[k]) CLT_TRY(slice(r, k, k ? 0 : opt->shards, sets[k], &mine[k]));
  CLT_TRY(clt_mpi_trainer_create(ctx, r->mpi, opt, &mine[0], n_all, test ? &mine[1] : NULL,
                                 out));
  clt_status st = val ? clt_trainer_set_validation(*out, &mine[2]) : CLT_OK;
  if (st != CLT_OK) clt_trainer_destroy(*out), *out = NULL;
  return st;
#else
  (void)opt, (void)all, (void)n_all, (void)test, (void)val, (void)out;
  return clt_fail(ctx, CLT_ERR_INVALID_ARG, "built without MPI");
#endif
}
