/* Sparse rows: the training step of plain SGD on sparse rows (the touched
   update: scores, loss, and the update of the weights the rows use), in
   bytes per second against the read-bandwidth floor ("sum"), at C = 2, 10
   and 50 on planted-model data (clt_data_synthetic_sparse: 2^18 features,
   about 100 entries a row).

   A step must read its rows' entries (4-byte column and 4-byte value) and
   row offsets (8 bytes a row) and read and write the weights of every
   column the rows hold (C floats each way); that is the floor's byte
   count. It is counted here for batches drawn as the trainer draws them
   (a seeded permutation), so the figure is the step's bytes over its
   time: an epoch of the public trainer, no test set, timed whole, which
   includes each step's loss read-back. Also reported: entries per second
   (the "nnz/s" notes), and a second floor, the host's random gathers
   ("host_gather"): an epoch of the minimal forward on the host, every
   core (OpenMP), each entry's weight row read at its column of a (D, C)
   W and summed into its row's scores, rows in the trainer's order. A step
   reads those rows at least once, at random; the byte floor streams
   them, so it ignores the misses, which on this machine cost more than
   the bytes. Its figure is the same byte count over its time. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "cltrain.h"
#include "data.h"
#include "rng.h"
#include "train.h"

#define FEATURES (1u << 18)
#define ROW_NNZ 100

/* 0, 1, ..., n-1 shuffled from seed (NULL when out of memory). */
static uint32_t *shuffled(size_t n, uint64_t seed) {
  uint32_t *perm = malloc(n * sizeof *perm);
  if (!perm) return NULL;
  for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(clt_splitmix64(&seed) % (i + 1));
    uint32_t t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  return perm;
}

/* Bytes the floor says an epoch of batches of B moves, rows in perm's
   order: the entries, the row offsets, and the touched weights read and
   written. */
static double epoch_bytes(const clt_dataset *ds, const uint32_t *perm, size_t B, size_t C) {
  size_t n = ds->n;
  uint32_t *mark = calloc(ds->d, sizeof *mark);
  if (!mark) return 0;
  double bytes = 0;
  for (size_t first = 0, batch = 1; first < n; first += B, batch++) {
    size_t touched = 0, end = first + B < n ? first + B : n;
    for (size_t r = first; r < end; r++)
      for (int64_t k = ds->ptr[perm[r]]; k < ds->ptr[perm[r] + 1]; k++) {
        bytes += 8;
        if (mark[ds->col[k]] != batch) mark[ds->col[k]] = (uint32_t)batch, touched++;
      }
    bytes += 8.0 * (double)(end - first) + 8.0 * (double)C * (double)touched;
  }
  free(mark);
  return bytes;
}

#define GATHER_MAX_C 64

/* The host gather floor's epoch: S's row i = the sum of row perm[i]'s
   entries times their weight rows of W (D, C). */
typedef struct gather_job {
  const clt_dataset *ds;
  const uint32_t *perm;
  const float *W;
  float *S;
  size_t C;
} gather_job;

static int host_gather(void *p) {
  const gather_job *g = p;
  const size_t C = g->C;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < g->ds->n; i++) {
    float acc[GATHER_MAX_C] = {0};
    for (int64_t k = g->ds->ptr[g->perm[i]]; k < g->ds->ptr[g->perm[i] + 1]; k++) {
      const float *w = g->W + (size_t)g->ds->col[k] * C, v = g->ds->val[k];
      for (size_t c = 0; c < C; c++) acc[c] += v * w[c];
    }
    memcpy(g->S + i * C, acc, C * sizeof *acc);
  }
  return 0;
}

typedef struct job {
  clt_trainer *tr;
} job;

static int one_epoch(void *p) {
  clt_epoch_stats es;
  return clt_trainer_epoch(((job *)p)->tr, NULL, NULL, &es) != CLT_OK;
}

static int bench(bu_report *r, const bu_opts *o, clt_context *ctx, size_t n, size_t C, size_t B) {
  clt_dataset ds = {0};
  if (clt_data_synthetic_sparse(n, FEATURES, C, ROW_NNZ, 7, &ds, NULL) != CLT_OK) {
    fprintf(stderr, "bench_sparse: %s\n", clt_last_error(NULL));
    return 1;
  }
  clt_train_options opt = {.loss = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY),
                           .optim = clt_optim_defaults(CLT_OPTIM_SGD), .batch = B,
                           .epochs = 1000, .seed = 3, .bias = 1, .init_std = 0.001};
  opt.optim.lr = 0.5f;
  opt.reg.l2 = 1e-6f;
  opt.schedule = (clt_schedule){.kind = CLT_SCHEDULE_CONSTANT, .base_lr = 0.5};
  const clt_train_data data = clt_train_data_of(&ds);
  job j = {0};
  int rc = 0;
  if (clt_trainer_create(ctx, &opt, &data, NULL, &j.tr) != CLT_OK) {
    fprintf(stderr, "bench_sparse: %s\n", clt_last_error(ctx));
    rc = 1;
  }
  double *times = malloc((size_t)o->reps * sizeof *times);
  if (!rc && (!times || bu_time(one_epoch, &j, 1, o->reps, times))) {
    fprintf(stderr, "bench_sparse: %s\n", times ? clt_last_error(ctx) : "out of memory");
    rc = 1;
  }
  if (!rc && !clt_trainer_touched_updates(j.tr)) {
    fprintf(stderr, "bench_sparse: plain SGD did not take the touched update\n");
    rc = 1;
  }
  /* The trainer's own permutation stream starts from its seed; the bytes
     of epochs drawn from another seed differ by well under 1%. */
  uint32_t *perm = rc ? NULL : shuffled(n, 11);
  float *W = rc ? NULL : malloc((size_t)FEATURES * C * sizeof *W),
        *S = rc ? NULL : malloc(n * C * sizeof *S);
  double *gtimes = malloc((size_t)o->reps * sizeof *gtimes);
  if (!rc && (!perm || !W || !S || !gtimes || C > GATHER_MAX_C)) {
    fprintf(stderr, "bench_sparse: out of memory, or more than %d classes\n", GATHER_MAX_C);
    rc = 1;
  }
  if (!rc) {
    for (size_t i = 0; i < (size_t)FEATURES * C; i++) W[i] = 1e-3f * (float)(i % 1000);
    gather_job g = {&ds, perm, W, S, C};
    rc = bu_time(host_gather, &g, 1, o->reps, gtimes);
  }
  if (!rc) {
    bu_rec rec = {.suite = "sparse", .op = "sgd_step", .impl = "cltrain", .floor = "sum",
                  .n = (long long)n, .d = FEATURES, .c = (long long)C, .batch = (long long)B,
                  .elems = (long long)ds.ptr[n], .bytes = epoch_bytes(&ds, perm, B, C)};
    rc = bu_add(r, &rec, times, o->reps);
    bu_rec floor = rec;
    floor.op = "gather_floor", floor.impl = "host", floor.floor = NULL;
    if (!rc) rc = bu_add(r, &floor, gtimes, o->reps);
    bu_stats s = bu_summarize(times, o->reps), gs = bu_summarize(gtimes, o->reps);
    char key[64];
    snprintf(key, sizeof key, "nnz/s C=%zu B=%zu", C, B);
    bu_note(r, key, "%.3g entries/s, %.3g rows/s", (double)ds.ptr[n] / s.median,
            (double)n / s.median);
    snprintf(key, sizeof key, "of the host gather C=%zu B=%zu", C, B);
    bu_note(r, key, "%.3f (the step's time over the host's %d-thread gathers)",
            gs.median / s.median, omp_get_max_threads());
  }
  free(perm), free(W), free(S), free(gtimes);
  clt_trainer_destroy(j.tr);
  free(times);
  clt_dataset_free(&ds);
  return rc;
}

int main(int argc, char **argv) {
  bu_opts o;
  int rc = bu_parse(argc, argv,
                    "Plain SGD on sparse rows: a step's bytes per second vs the read "
                    "floor, C = 2, 10, 50",
                    &o);
  if (rc >= 0) return rc;
  clt_context *ctx = NULL;
  clt_context_options co = {.device = o.device};
  if (clt_context_create(&co, &ctx) != CLT_OK) {
    fprintf(stderr, "bench_sparse: %s\n", clt_last_error(NULL));
    return 1;
  }
  bu_report *r = bu_report_create("bench_sparse", &o);
  if (!r) {
    clt_context_destroy(ctx);
    return 1;
  }
  bu_note(r, "device", "%s", clt_context_device_name(ctx));
  bu_note(r, "data", "planted sparse rows, %u features, about %d entries a row", FEATURES,
          ROW_NNZ);
  const size_t n = o.quick ? 8192 : 65536, classes[] = {2, 10, 50}, batches[] = {256, 4096};
  rc = 0;
  for (size_t k = 0; k < 3 && !rc; k++)
    for (size_t b = 0; b < 2 && !rc; b++) {
      if (o.quick && batches[b] != 4096) continue;
      rc = bench(r, &o, ctx, n, classes[k], batches[b]);
    }
  clt_context_destroy(ctx);
  int frc = bu_report_finish(r);
  return rc ? rc : frc;
}
