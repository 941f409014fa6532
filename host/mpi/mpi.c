/* The data-parallel component (cltrain_mpi.h) over MPI: the trainer's
   ranks (host/train.h: clt_train_comm) as a duplicated communicator. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cltrain_mpi.h"
#include "internal.h"
#include "train.h"

struct clt_mpi {
  MPI_Comm comm;
  int rank, size, local_rank, local_size;
  bool share; /* whether ranks of one machine may sum in shared memory */
  double seconds, timeout;
  size_t chunk; /* the largest message of an exchange (MPI counts are ints) */
  clt_train_comm ranks;
  /* CLT_DIST_FAULT: 'x' exit or 'h' hang at fault_step, on this rank */
  char fault;
  uint64_t fault_step;
};

#define GATHER_TAG 7001

/* CLT_ERR_DISTRIBUTED with MPI's message for rc from call. */
static clt_status mpi_fail(const clt_context *ctx, int rc, const char *call) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return clt_fail(ctx, CLT_ERR_DISTRIBUTED, "%s failed: %s", call, msg);
}

/* The bytes of chunk p of a part of bytes cut into chunks of P. */
static size_t chunk_bytes(size_t bytes, size_t P, size_t p) {
  return bytes - p * P < P ? bytes - p * P : P;
}

/* Each rank's block for each other rank (send + rank * stride) to it, point to
   point, in messages of at most m->chunk bytes, waited for with a
   deadline: the ranks that sent nothing by then are named. Messages of one
   pair arrive in order (MPI's non-overtaking rule), so the chunks and
   successive exchanges never mix. */
static clt_status exchange(void *user, clt_context *ctx, const void *send, size_t stride,
                           void *all, size_t bytes) {
  clt_mpi *m = user;
  double t0 = MPI_Wtime();
  const size_t k = (size_t)m->size, me = (size_t)m->rank, P = m->chunk,
               parts = bytes ? (bytes + P - 1) / P : 1, slots = 2 * (k - 1) * parts + 1;
  size_t n = 0;
  const unsigned char *mine = send;
  MPI_Request *req = malloc(slots * sizeof *req);
  MPI_Status *stat = malloc(slots * sizeof *stat);
  int *from = malloc(slots * sizeof *from);
  if (!req || !stat || !from) {
    free(req);
    free(stat);
    free(from);
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "exchange requests");
  }
  int rc = MPI_SUCCESS;
  for (size_t r = 0; r < k && rc == MPI_SUCCESS; r++)
    for (size_t p = 0; r != me && p < parts && rc == MPI_SUCCESS; p++) {
      from[n] = (int)r;
      rc = MPI_Irecv((unsigned char *)all + r * bytes + p * P,
                     (int)chunk_bytes(bytes, P, p), MPI_BYTE, (int)r,
                     GATHER_TAG, m->comm, &req[n++]);
    }
  size_t nrecv = n;
  for (size_t r = 0; r < k && rc == MPI_SUCCESS; r++)
    for (size_t p = 0; r != me && p < parts && rc == MPI_SUCCESS; p++) {
      from[n] = -1;
      rc = MPI_Isend(mine + r * stride + p * P,
                     (int)chunk_bytes(bytes, P, p), MPI_BYTE, (int)r,
                     GATHER_TAG, m->comm, &req[n++]);
    }
  int done = 0;
  for (unsigned polls = 0; rc == MPI_SUCCESS && !done; polls++) {
    rc = MPI_Testall((int)n, req, &done, stat);
    if (done || rc != MPI_SUCCESS) break;
    if (MPI_Wtime() - t0 > m->timeout) break;
    if (polls > 1000) sched_yield(); /* past the fast path: let an oversubscribed peer run */
  }
  m->seconds += MPI_Wtime() - t0;
  clt_status st = CLT_OK;
  for (size_t i = 0; done && rc == MPI_SUCCESS && i < nrecv; i++) { /* the same collective */
    int count = 0;
    size_t want = chunk_bytes(bytes, P, i % parts);
    MPI_Get_count(&stat[i], MPI_BYTE, &count);
    if ((size_t)count != want)
      st = clt_fail(ctx, CLT_ERR_DISTRIBUTED,
                    "rank %d sent %d bytes where rank %d expected %zu: the ranks are not in "
                    "the same step",
                    from[i], count, m->rank, want);
  }
  if (rc != MPI_SUCCESS) {
    st = mpi_fail(ctx, rc, "the exchange");
  } else if (!done) {
    char names[256] = "";
    size_t used = 0;
    int named = -1;
    for (size_t i = 0; i < nrecv; i++) { /* a rank's chunks follow each other */
      int flag = 0;
      MPI_Test(&req[i], &flag, MPI_STATUS_IGNORE);
      if (!flag && from[i] != named && used < sizeof names - 16) {
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%d", used ? ", " : "",
                                 from[i]);
        named = from[i];
      }
    }
    st = clt_fail(ctx, CLT_ERR_DISTRIBUTED,
                  "rank %d waited %.0f s (--dist-timeout) for rank %s, which sent nothing: it "
                  "stopped, hung or died",
                  m->rank, m->timeout, used ? names : "?");
  }
  if (st != CLT_OK) /* nothing left to write into the caller's buffers later */
    for (size_t i = 0; i < n; i++)
      if (req[i] != MPI_REQUEST_NULL) {
        MPI_Cancel(&req[i]);
        MPI_Request_free(&req[i]);
      }
  free(req);
  free(stat);
  free(from);
  return st;
}

/* clt_train_comm.share: rank 0 makes an anonymous shared-memory file
   (memfd: no name, so nothing outlives the job however it ends), and the
   others open it through /proc/PID/fd/FD, which its pid and descriptor,
   gathered to them with the file's device and inode, name; rank 0 keeps
   its descriptor until every rank has said whether it mapped that very
   file. Only where every rank is on this machine (and CLT_DIST_SHARED is
   not 0); any rank's failure (no memory for the file, rank 0's
   descriptors not open to the others: another user, a non-dumpable rank
   0, another PID namespace) gives NULL to all. */
static clt_status share_memory(void *user, clt_context *ctx, size_t bytes, void **base) {
  clt_mpi *m = user;
  *base = NULL;
  if (!m->share || m->size < 2 || m->local_size != m->size || bytes == 0) return CLT_OK;
  /* rank 0's pid, descriptor, and the file's device and inode */
  long long mine[4] = {-1, -1, -1, -1}, *where = malloc((size_t)m->size * sizeof mine);
  if (!where) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "shared memory");
  int fd = -1;
  struct stat at;
#ifdef MFD_CLOEXEC
  if (m->rank == 0) {
#ifdef MFD_NOEXEC_SEAL
    fd = memfd_create("cltrain-gradients", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL) /* a kernel before 6.3 */
#endif
      fd = memfd_create("cltrain-gradients", MFD_CLOEXEC);
    if (fd >= 0 && (posix_fallocate(fd, 0, (off_t)bytes) != 0 || fstat(fd, &at) != 0))
      close(fd), fd = -1;
    if (fd >= 0) {
      mine[0] = getpid(), mine[1] = fd;
      mine[2] = (long long)at.st_dev, mine[3] = (long long)at.st_ino;
    }
  }
#endif
  clt_status st = clt_comm_gather(&m->ranks, ctx, mine, where, sizeof mine);
  if (st == CLT_OK && m->rank != 0 && where[1] >= 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/fd/%lld", where[0], where[1]);
    fd = open(path, O_RDWR | O_CLOEXEC);
  }
  void *p = MAP_FAILED;
  if (fd >= 0 && fstat(fd, &at) == 0 && (size_t)at.st_size == bytes &&
      (long long)at.st_dev == where[2] && (long long)at.st_ino == where[3])
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  free(where);
  const double mapped = p != MAP_FAILED;
  double all = 0;
  if (st == CLT_OK) st = clt_comm_sum(&m->ranks, ctx, &mapped, &all, 1);
  if (fd >= 0) close(fd);
  if (st != CLT_OK || all != m->size) {
    if (p != MAP_FAILED) munmap(p, bytes);
    return st;
  }
  /* each rank maps the pages (zeros: fallocated) now, not in its steps */
  for (size_t i = 0; i < bytes; i += 4096) (void)((volatile unsigned char *)p)[i];
  *base = p;
  return CLT_OK;
}

static void unshare_memory(void *user, void *base, size_t bytes) {
  (void)user;
  munmap(base, bytes);
}

static void step_begins(void *user, uint64_t step) {
  clt_mpi *m = user;
  if (!m->fault || step != m->fault_step) return;
  fprintf(stderr, "cltrain: CLT_DIST_FAULT: rank %d %s at step %llu\n", m->rank,
          m->fault == 'x' ? "exits" : "stops answering", (unsigned long long)step);
  if (m->fault == 'x') _exit(3);
  for (;;) pause();
}

/* CLT_DIST_FAULT=exit:R:S or hang:R:S, for this rank R. */
static void read_fault(clt_mpi *m) {
  const char *v = getenv("CLT_DIST_FAULT");
  char kind[8];
  int rank;
  unsigned long long step;
  if (v && sscanf(v, "%7[a-z]:%d:%llu", kind, &rank, &step) == 3 && rank == m->rank &&
      (strcmp(kind, "exit") == 0 || strcmp(kind, "hang") == 0)) {
    m->fault = kind[0] == 'e' ? 'x' : 'h';
    m->fault_step = step;
  }
}

clt_status clt_mpi_set_timeout(clt_mpi *mpi, double seconds) {
  if (!mpi || !(seconds > 0))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_mpi_set_timeout: %g seconds", seconds);
  mpi->timeout = seconds;
  return CLT_OK;
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
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(local, &m->local_size);
  if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
  if (rc != MPI_SUCCESS) {
    clt_status st = mpi_fail(NULL, rc, "clt_mpi_create");
    MPI_Comm_free(&m->comm);
    free(m);
    return st;
  }
  m->ranks = (clt_train_comm){.rank = (size_t)m->rank,
                              .size = (size_t)m->size,
                              .exchange = exchange,
                              .user = m,
                              .step_begins = step_begins,
                              .share = share_memory,
                              .unshare = unshare_memory};
  m->timeout = 300;
  /* rank 0's chunk and sharing for every rank: the ranks must cut
     messages and sum alike */
  long set[2] = {INT_MAX, 1};
  const char *env = getenv("CLT_DIST_CHUNK");
  if (env && atol(env) > 0 && atol(env) < INT_MAX) set[0] = atol(env);
  env = getenv("CLT_DIST_SHARED");
  if (env && strcmp(env, "0") == 0) set[1] = 0;
  rc = MPI_Bcast(set, 2, MPI_LONG, 0, m->comm);
  if (rc != MPI_SUCCESS) {
    clt_status st = mpi_fail(NULL, rc, "clt_mpi_create");
    MPI_Comm_free(&m->comm);
    free(m);
    return st;
  }
  m->chunk = (size_t)set[0];
  m->share = set[1] != 0;
  read_fault(m);
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
    size_t part = bytes - at < mpi->chunk ? bytes - at : mpi->chunk;
    rc = MPI_Bcast((unsigned char *)buf + at, (int)part, MPI_BYTE, 0, mpi->comm);
    at += part;
  }
  mpi->seconds += MPI_Wtime() - t0;
  return rc == MPI_SUCCESS ? CLT_OK : mpi_fail(NULL, rc, "MPI_Bcast");
}

clt_status clt_mpi_sum(clt_mpi *mpi, const double *mine, double *sum, size_t n) {
  if (!mpi || (n && (!mine || !sum)))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_mpi_sum: NULL argument");
  return clt_comm_sum(&mpi->ranks, NULL, mine, sum, n);
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
