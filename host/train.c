/* The training loop on a device-resident data set (see train.h). */
#include "train.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fileio.h"
#include "internal.h"
#include "loss_impl.h"
#include "model.h"
#include "rng.h"
#include "sparse.h"

/* Losses are read back every this many steps for progress. */
#define PROGRESS_EVERY 16

/* A minibatch of streamed rows gathered in host memory: dense rows x, or
   sparse ones ptr (from 0), col, val. */
typedef struct host_batch {
  float *x, *val;
  int64_t *ptr;
  int32_t *col;
} host_batch;

/* The thread that gathers the next streamed minibatch while the device
   computes this one: a job is the rows perm[first .. first+n) into
   staging buffer buf, once its maps (pending: one for dense rows, three
   for sparse ones, NULL where none; the thread waits for them) complete;
   st the last job's. */
typedef struct prefetcher {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool started, job, done, quit;
  size_t first, n;
  int buf;
  void *pending[3];
  clt_status st;
} prefetcher;

/* A data set on the device: its features, dense (X) or sparse (Xs), its
   labels (NULL without), and for a loss that takes values the (N,C)
   targets (the caller's, or one-hot labels). All NULL: no such set. */
typedef struct dev_set {
  clt_tensor *X;
  clt_csr *Xs;
  clt_tensor *y, *T;
} dev_set;

struct clt_trainer {
  clt_context *ctx;
  clt_train_options opt;
  size_t n, d, c;
  bool label_target; /* cross-entropy and hinge take labels */
  dev_set train, test, val;       /* test and validation sets optional */
  /* The rows of the test and validation sets here ([0]: test), and over
     all ranks (ranked: each rank holds its share of them, maybe none):
     a set is evaluated when it has rows anywhere. */
  size_t held[2], held_all[2];
  clt_tensor *perm;               /* (N,1) this epoch's permutation */
  clt_tensor *Xb, *yb;            /* gathered minibatch (B rows; Xb: dense only) */
  clt_tensor *losses;             /* (PROGRESS_EVERY, 2): deferred steps' losses; rows
                                     PROGRESS_EVERY + i: touched step i's change of
                                     |V|^2 (column 0), with l2 */
  double pending_penalty[PROGRESS_EVERY]; /* a deferred touched step's penalty (host) */
  clt_tensor *class_weight;       /* (1,C) or NULL: opt.loss's */
  float *class_weight_host;       /* its values, for checkpoints */
  clt_model *model;               /* its parameters: one group of optim */
  clt_optimizer *optim;
  int32_t *perm_host;
  uint64_t rng;                   /* permutation stream state */
  uint64_t step;
  size_t epochs_done;
  double first_loss; /* of step 1, before any update; NaN if not seen */
  clt_prep_stats prep;            /* copy of the caller's, for checkpoints */
  clt_labels labels;              /* the classes' names, for checkpoints */
  char svmlight_base;
  /* Plain SGD on sparse rows updates only the weights its rows use
     (touched_step): W = wscale * the W tensor during an epoch (1 outside
     one), vnorm2 = the W tensor's sum of squares when l2 needs it. With
     l2, the steps i < norms_pending since the losses were last read left
     the change of that sum in losses; their wscale and rescale of vnorm2
     wait here (read_losses). */
  bool touched;
  double wscale, vnorm2;
  size_t norms_pending;
  double norm_wscale[PROGRESS_EVERY], norm_rescale[PROGRESS_EVERY];
  /* Streaming (opt.stream): the training rows stay in the caller's arrays
     (host); each step's rows are gathered into one of CLT_STREAM_STAGES
     host batches, the next step's by the prefetcher while this one
     computes. Where the backend maps (clt_tensor_mappable), the batches
     are the staging buffers themselves, dense Xstage[k] or sparse
     Cstage[k], hb[k] their mapping while the host writes (NULL when
     unmapped; mapping[k] the maps until they are waited for), so no copy
     is made on a CPU device and no step blocks: a buffer is mapped again
     a step before the prefetcher needs it, so that its map (behind its
     kernels in the queue) is done by then. Elsewhere hb[k] are host
     arrays written into Xstage[0] or Cstage[0]. The step's targets are
     gathered on the device into ystage, and the model reads the rows
     through ident (0, 1, ..., B-1). */
  bool stream;
  bool raw; /* the host rows are as read: a gathered row goes through prep */
  bool mapped;
  clt_train_data host;
  host_batch hb[CLT_STREAM_STAGES];
  prefetcher pf;
  clt_tensor *Xstage[CLT_STREAM_STAGES], *ystage, *ident;
  void *mapping[CLT_STREAM_STAGES][3];
  clt_csr *Cstage[CLT_STREAM_STAGES];
  /* Shards (clt_trainer_create_ranked): this trainer holds rows [row0,
     row0 + n) of the run's n_all, its shards [shard_lo, shard_hi) of
     shards; a step t of the steps of an epoch takes the rows
     perm[step_first[t], + step_rows[t]), which shuffle lays out shard by
     shard (scratch: a shard's permutation, a cursor per step). With comm
     (ranked), the ranks' gradients are reduced (ranked_step), using the
     labels y_host for the normaliser. */
  size_t shards, n_all, row0, shard_lo, shard_hi, steps;
  size_t rows_max; /* the most rows of a step here (the first step's): the staging's size */
  size_t *step_first, *step_rows, *step_cursor;
  int32_t *shard_perm, *y_host;
  bool ranked;
  clt_train_comm comm;
  clt_rank_seconds steps_seconds; /* ranked_step's parts, summed over the steps */
  /* ranked_step's host buffers, kept between steps (a fresh one faults
     its pages in every step), of size segments of seg floats. Where the
     ranks share memory (comm.share), one mapping of size + 1 such buffers
     (shared, shared_bytes): rank r's gradient in the r-th (P floats read
     straight from the device, then zeros), the summed one in the last,
     each rank writing its segment there. Else, this rank's own: its
     gradient, then the summed one (grad_host), and the other ranks' parts
     of its segment, which it sums (segs). And every rank's weighted loss
     and share of the normaliser (heads, 2 doubles a rank), what each
     rank's part weighs in the sum (weights) and where it is read (parts). */
  float *grad_host, *segs, *shared;
  size_t shared_bytes;
  double *heads, *weights;
  const float **parts;
  size_t seg;
};

static bool takes_labels(clt_loss_kind k) {
  return (clt_loss_target(k) & CLT_TARGET_LABELS) != 0;
}

/* One-hot (N,C) float targets for the losses that compare scores with
   values; for KL the one-hot rows are probability distributions. */
static float *one_hot(const clt_train_data *ds, size_t c) {
  float *t = calloc(ds->n * c, sizeof *t);
  if (t)
    for (size_t i = 0; i < ds->n; i++) t[i * c + (size_t)ds->y[i]] = 1.0f;
  return t;
}

static clt_features features_of(const dev_set *s) { return (clt_features){s->X, s->Xs}; }

static void free_set(dev_set *s) {
  clt_tensor_destroy(s->X);
  clt_csr_destroy(s->Xs);
  clt_tensor_destroy(s->y);
  clt_tensor_destroy(s->T);
  *s = (dev_set){0};
}

/* ds on the device into s (freed again on failure); without features,
   only its labels and targets (a streamed set). */
static clt_status upload(clt_context *ctx, const clt_train_data *ds, size_t c, bool labels,
                         bool features, dev_set *s) {
  clt_status st = CLT_OK;
  if (features && ds->x) {
    st = clt_tensor_create(ctx, ds->n, ds->d, CLT_FLOAT32, &s->X);
    if (st == CLT_OK) st = clt_tensor_write(s->X, ds->x, ds->n * ds->d * 4);
  } else if (features) {
    st = clt_csr_create(ctx, ds->n, ds->d, ds->indptr, ds->indices, ds->values, &s->Xs);
  }
  if (st == CLT_OK && ds->y) {
    st = clt_tensor_create(ctx, ds->n, 1, CLT_INT32, &s->y);
    if (st == CLT_OK) st = clt_tensor_write(s->y, ds->y, ds->n * 4);
  }
  if (st == CLT_OK && !labels) {
    float *t = ds->t ? NULL : one_hot(ds, c);
    if (!ds->t && !t) st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "one-hot targets");
    if (st == CLT_OK) st = clt_tensor_create(ctx, ds->n, c, CLT_FLOAT32, &s->T);
    if (st == CLT_OK) st = clt_tensor_write(s->T, ds->t ? ds->t : t, ds->n * c * 4);
    free(t);
  }
  if (st != CLT_OK) free_set(s);
  return st;
}

static clt_status unmap_stage(clt_trainer *tr, int b, size_t n);

void clt_trainer_destroy(clt_trainer *tr) {
  if (!tr) return;
  if (tr->pf.started) { /* first: a job may still read the permutation */
    pthread_mutex_lock(&tr->pf.mu);
    tr->pf.quit = true;
    pthread_cond_broadcast(&tr->pf.cv);
    pthread_mutex_unlock(&tr->pf.mu);
    pthread_join(tr->pf.thread, NULL);
    pthread_mutex_destroy(&tr->pf.mu);
    pthread_cond_destroy(&tr->pf.cv);
    for (int i = 0; i < 3; i++) /* a job it never took */
      (void)clt_pending_wait(tr->ctx, &tr->pf.pending[i]);
  }
  for (int k = 0; k < CLT_STREAM_STAGES && tr->mapped; k++) /* back to the device first */
    (void)unmap_stage(tr, k, 0);
  free_set(&tr->train);
  free_set(&tr->test);
  free_set(&tr->val);
  clt_tensor *all[] = {tr->perm, tr->Xb,    tr->yb,    tr->class_weight,
                       tr->ystage, tr->ident, tr->losses};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    clt_tensor_destroy(all[i]);
  clt_model_destroy(tr->model);
  clt_optimizer_destroy(tr->optim);
  clt_prep_free(&tr->prep);
  clt_labels_free(&tr->labels);
  free(tr->class_weight_host);
  free(tr->perm_host);
  for (int k = 0; k < CLT_STREAM_STAGES; k++) {
    clt_tensor_destroy(tr->Xstage[k]);
    clt_csr_destroy(tr->Cstage[k]);
    if (!tr->mapped)
      free(tr->hb[k].x), free(tr->hb[k].val), free(tr->hb[k].ptr), free(tr->hb[k].col);
  }
  free(tr->step_first);
  free(tr->step_rows);
  free(tr->step_cursor);
  free(tr->shard_perm);
  free(tr->y_host);
  free(tr->grad_host);
  free(tr->segs);
  if (tr->shared) tr->comm.unshare(tr->comm.user, tr->shared, tr->shared_bytes);
  free(tr->heads);
  free(tr->weights);
  free(tr->parts);
  free(tr);
}

static clt_status warm_up(clt_trainer *tr);

/* The staging of a streamed training set: host and device room for a
   minibatch (for sparse rows, as many entries as its B longest rows
   hold), the targets' room and the identity index. */
static clt_status stream_buffers(clt_trainer *tr) {
  clt_context *ctx = tr->ctx;
  const clt_train_data *h = &tr->host;
  size_t B = tr->rows_max;
  CLT_TRY(tr->label_target ? clt_tensor_create(ctx, B, 1, CLT_INT32, &tr->ystage)
                           : clt_tensor_create(ctx, B, tr->c, CLT_FLOAT32, &tr->ystage));
  CLT_TRY(clt_tensor_create(ctx, B, 1, CLT_INT32, &tr->ident));
  for (size_t i = 0; i < B; i++) tr->perm_host[i] = (int32_t)i;
  CLT_TRY(clt_tensor_write(tr->ident, tr->perm_host, B * 4));
  tr->mapped = clt_tensor_mappable(ctx);
  if (h->x) {
    for (int k = 0; k < CLT_STREAM_STAGES; k++)
      if (!tr->mapped && !(tr->hb[k].x = malloc(B * tr->d * sizeof(float))))
        return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "streaming: a minibatch's staging");
    for (int k = 0; k < (tr->mapped ? CLT_STREAM_STAGES : 1); k++)
      CLT_TRY(clt_tensor_create(ctx, B, tr->d, CLT_FLOAT32, &tr->Xstage[k]));
    return CLT_OK;
  }
  /* The B longest rows: a histogram of lengths from the longest down. */
  size_t longest = 0, nnz = 0, left = B;
  for (size_t i = 0; i < h->n; i++)
    if ((size_t)(h->indptr[i + 1] - h->indptr[i]) > longest) longest = (size_t)(h->indptr[i + 1] - h->indptr[i]);
  size_t *count = calloc(longest + 1, sizeof *count);
  if (!count) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "streaming: row lengths");
  for (size_t i = 0; i < h->n; i++) count[h->indptr[i + 1] - h->indptr[i]]++;
  for (size_t len = longest + 1; len-- > 0 && left;) {
    size_t take = count[len] < left ? count[len] : left;
    nnz += take * len, left -= take;
  }
  free(count);
  for (int k = 0; k < (tr->mapped ? CLT_STREAM_STAGES : 1); k++)
    CLT_TRY(clt_csr_staging(ctx, B, tr->d, nnz, &tr->Cstage[k]));
  for (int k = 0; k < CLT_STREAM_STAGES && !tr->mapped; k++) {
    host_batch *hb = &tr->hb[k];
    hb->ptr = malloc((B + 1) * sizeof *hb->ptr);
    hb->col = malloc((nnz ? nnz : 1) * sizeof *hb->col);
    hb->val = malloc((nnz ? nnz : 1) * sizeof *hb->val);
    if (!hb->ptr || !hb->col || !hb->val)
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "streaming: a minibatch's staging");
  }
  return CLT_OK;
}

/* Rows ahead of the one a gather copies whose bytes are prefetched: the
   rows lie at random in a set larger than the caches, and the misses of
   the rows ahead overlap the copy of this one. */
#define GATHER_AHEAD 2

/* The cache lines of [p, p + bytes) prefetched. */
static void prefetch_bytes(const void *p, size_t bytes) {
#if defined(__GNUC__)
  const char *c = p;
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o);
  if (bytes) __builtin_prefetch(c + bytes - 1);
#else
  (void)p, (void)bytes;
#endif
}

/* The rows order[first .. first+n) (order NULL: first + r) of the
   caller's arrays into hb. */
static void gather_host(const clt_trainer *tr, host_batch *hb, const int32_t *order,
                        size_t first, size_t n) {
  const clt_train_data *h = &tr->host;
  if (h->x) {
    const clt_prep_stats *p = &tr->prep;
    for (size_t r = 0; r < n; r++) {
      size_t i = order ? (size_t)order[first + r] : first + r;
      if (order && r + GATHER_AHEAD < n)
        prefetch_bytes(h->x + (size_t)order[first + r + GATHER_AHEAD] * tr->d,
                       tr->d * sizeof *h->x);
      if (tr->raw)
        clt_data_prep_row(h->x + i * tr->d, hb->x + r * tr->d, tr->d, p->scale, p->mean,
                          p->std);
      else
        memcpy(hb->x + r * tr->d, h->x + i * tr->d, tr->d * sizeof *hb->x);
    }
    return;
  }
  hb->ptr[0] = 0;
  for (size_t r = 0; r < n; r++) {
    size_t i = order ? (size_t)order[first + r] : first + r;
    size_t from = (size_t)h->indptr[i], len = (size_t)h->indptr[i + 1] - from;
    memcpy(hb->col + hb->ptr[r], h->indices + from, len * sizeof *hb->col);
    memcpy(hb->val + hb->ptr[r], h->values + from, len * sizeof *hb->val);
    hb->ptr[r + 1] = hb->ptr[r] + (int64_t)len;
  }
}

static void *prefetch_main(void *arg) {
  clt_trainer *tr = arg;
  prefetcher *pf = &tr->pf;
  pthread_mutex_lock(&pf->mu);
  for (;;) {
    while (!pf->job && !pf->quit) pthread_cond_wait(&pf->cv, &pf->mu);
    if (pf->quit) break;
    size_t first = pf->first, n = pf->n;
    int buf = pf->buf;
    void *pending[3] = {pf->pending[0], pf->pending[1], pf->pending[2]};
    pf->pending[0] = pf->pending[1] = pf->pending[2] = NULL;
    pthread_mutex_unlock(&pf->mu);
    clt_status st = CLT_OK;
    for (int i = 0; i < 3; i++) {
      clt_status w = clt_pending_wait(tr->ctx, &pending[i]);
      if (st == CLT_OK) st = w;
    }
    if (st == CLT_OK) gather_host(tr, &tr->hb[buf], tr->perm_host, first, n);
    pthread_mutex_lock(&pf->mu);
    pf->job = false, pf->done = true, pf->st = st;
    pthread_cond_broadcast(&pf->cv);
  }
  pthread_mutex_unlock(&pf->mu);
  return NULL;
}

/* Waits for the prefetcher's job; *hit: whether one had been given for
   the rows from first (then in buffer *buf). Any other is dropped. The
   job's status (its map's wait). */
static clt_status prefetched(clt_trainer *tr, size_t first, bool *hit, int *buf) {
  prefetcher *pf = &tr->pf;
  *hit = false;
  if (!pf->started) return CLT_OK;
  pthread_mutex_lock(&pf->mu);
  while (pf->job) pthread_cond_wait(&pf->cv, &pf->mu);
  clt_status st = pf->done ? pf->st : CLT_OK;
  *hit = pf->done && pf->first == first && st == CLT_OK;
  *buf = pf->buf;
  pf->done = false;
  pthread_mutex_unlock(&pf->mu);
  return st == CLT_OK ? CLT_OK
                      : clt_fail(tr->ctx, st, "streaming: a staging buffer's map failed");
}

/* Gives the prefetcher the rows perm[first .. first+n) for buffer buf,
   once pending[0 .. 3) complete (the prefetcher takes them over); started
   on first use. Without a thread nothing is prefetched (and pending stay). */
static void prefetch(clt_trainer *tr, size_t first, size_t n, int buf, void *pending[3]) {
  prefetcher *pf = &tr->pf;
  if (!pf->started) {
    if (pthread_mutex_init(&pf->mu, NULL)) return;
    if (pthread_cond_init(&pf->cv, NULL)) {
      pthread_mutex_destroy(&pf->mu);
      return;
    }
    if (pthread_create(&pf->thread, NULL, prefetch_main, tr)) {
      pthread_cond_destroy(&pf->cv);
      pthread_mutex_destroy(&pf->mu);
      return;
    }
    pf->started = true;
  }
  pthread_mutex_lock(&pf->mu);
  pf->first = first, pf->n = n, pf->buf = buf, pf->job = true, pf->done = false;
  for (int i = 0; i < 3; i++) pf->pending[i] = pending[i], pending[i] = NULL;
  pthread_cond_broadcast(&pf->cv);
  pthread_mutex_unlock(&pf->mu);
}

/* Staging buffer b mapped for the host's writes (unless it is): hb[b]
   once mapping[b] complete. */
static clt_status map_stage(clt_trainer *tr, int b) {
  host_batch *hb = &tr->hb[b];
  if (hb->x || hb->col) return CLT_OK;
  if (tr->host.x) {
    void *host = NULL;
    CLT_TRY(clt_tensor_map_write(tr->Xstage[b], &host, &tr->mapping[b][0]));
    hb->x = host;
    return CLT_OK;
  }
  return clt_csr_stage_map(tr->Cstage[b], &hb->ptr, &hb->col, &hb->val, tr->mapping[b]);
}

/* Waits for staging buffer b's maps. */
static clt_status mapped_stage(clt_trainer *tr, int b) {
  clt_status st = CLT_OK;
  for (int i = 0; i < 3; i++) {
    clt_status w = clt_pending_wait(tr->ctx, &tr->mapping[b][i]);
    if (st == CLT_OK) st = w;
  }
  return st;
}

/* Staging buffer b (when mapped) back to the device, holding its first n
   rows (sparse; n 0: rows not wanted, at the trainer's end), its maps
   waited for first. */
static clt_status unmap_stage(clt_trainer *tr, int b, size_t n) {
  host_batch *hb = &tr->hb[b];
  if (!hb->x && !hb->col) return CLT_OK;
  clt_status st = mapped_stage(tr, b), u;
  if (hb->x) u = clt_tensor_unmap(tr->Xstage[b], hb->x);
  else u = clt_csr_stage_unmap(tr->Cstage[b], n, hb->ptr, hb->col, hb->val);
  hb->x = hb->val = NULL, hb->ptr = NULL, hb->col = NULL;
  return st == CLT_OK ? u : st;
}

/* The streamed rows order[first .. first+n) (order NULL: first + r),
   gathered on the host (by the prefetcher when it had them) into a
   staging buffer, *X the staged features. Steps (order: the permutation)
   have the next step's rows gathered meanwhile into the next buffer.
   Mapped (on OpenCL), the gather writes the staging buffer in place and
   its unmap is enqueued before the step's kernels; the next buffer was
   mapped a step ago, and the one after it is mapped now, behind the
   previous step's kernels: no blocking call and no copy on a CPU
   device. Otherwise the rows are written (sparse: into Cstage[0]). */
static clt_status stage_rows(clt_trainer *tr, const int32_t *order, size_t first, size_t n,
                             clt_features *X) {
  /* Any job finished first (it writes a buffer), then its rows taken if
     they are these (an in-order read, order NULL, never is). */
  int buf = 0;
  bool hit;
  CLT_TRY(prefetched(tr, order ? first : SIZE_MAX, &hit, &buf));
  if (!hit) {
    buf = 0;
    if (tr->mapped) {
      CLT_TRY(map_stage(tr, 0));
      CLT_TRY(mapped_stage(tr, 0));
    }
    gather_host(tr, &tr->hb[0], order, first, n);
  }
  size_t next = first + n;
  if (order && next < tr->n) {
    /* the next buffer was mapped a step ago (the queue is in order: a
       map waits for every kernel before it), the one after it now */
    const int after = (buf + 1) % CLT_STREAM_STAGES;
    if (tr->mapped) {
      CLT_TRY(map_stage(tr, after));
      CLT_TRY(map_stage(tr, (buf + 2) % CLT_STREAM_STAGES));
    }
    prefetch(tr, next, tr->n - next < tr->rows_max ? tr->n - next : tr->rows_max, after,
             tr->mapping[after]);
  }
  host_batch *hb = &tr->hb[buf];
  if (tr->mapped) {
    *X = tr->host.x ? (clt_features){.dense = tr->Xstage[buf]}
                    : (clt_features){.csr = tr->Cstage[buf]};
    return unmap_stage(tr, buf, n);
  }
  if (tr->host.x) {
    clt_tensor *v = NULL;
    clt_status st = clt_tensor_view_rows(tr->Xstage[0], 0, n, &v);
    if (st == CLT_OK) st = clt_tensor_write(v, hb->x, n * tr->d * 4);
    clt_tensor_destroy(v);
    *X = (clt_features){.dense = tr->Xstage[0]};
    return st;
  }
  *X = (clt_features){.csr = tr->Cstage[0]};
  return clt_csr_stage(tr->Cstage[0], n, hb->ptr, hb->col, hb->val);
}

/* Whether plain SGD on sparse rows can update only the weights a step's
   rows use: L2 and weight decay shrink every weight each step, which the
   trainer keeps as one scale factor on W (scikit-learn's SGD keeps it as
   wscale); momentum's state, L1's shrinking towards zero, clipping's norm
   and the non-finite guard need every weight or the whole gradient, so
   those take the dense update. */
static bool touched_updates(const clt_train_options *o, const clt_train_data *train) {
  const clt_optim_desc *d = &o->optim;
  return !train->x && d->kind == CLT_OPTIM_SGD && d->momentum == 0 && d->max_grad_norm == 0 &&
         !d->skip_nonfinite && o->reg.l1 == 0;
}

/* What the loss needs is there (features, dense or sparse; labels, or
   values or labels to make them from), every label is in [0, c) and every
   value finite. The sparse arrays clt_csr_create checks. */
static clt_status check_data(clt_context *ctx, const clt_train_data *ds, size_t c,
                               bool label_target, const char *what) {
  if (!ds->x && !ds->indptr)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s set: no features (x or indptr)", what);
  if (ds->x && ds->indptr)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "%s set: both dense (x) and sparse (indptr) features", what);
  if (label_target ? !ds->y : !ds->y && !ds->t)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "%s set: no %s", what,
                    label_target ? "labels" : "labels or target values");
  for (size_t i = 0; !label_target && ds->t && i < ds->n * c; i++)
    if (!isfinite(ds->t[i]))
      return clt_fail(ctx, CLT_ERR_NONFINITE, "%s set: target value %zu (row %zu) is %g", what,
                      i % c, i / c, (double)ds->t[i]);
  for (size_t i = 0; ds->y && i < ds->n; i++)
    if (ds->y[i] < 0 || (size_t)ds->y[i] >= c)
      return clt_fail(ctx, CLT_ERR_LABEL, "%s set: label %ld at row %zu is outside [0, %zu)",
                      what, (long)ds->y[i], i, c);
  return CLT_OK;
}

/* Shard s's first row of n_all rows in shards. */
static size_t shard_start(size_t n_all, size_t shards, size_t s) {
  /* floor(n_all s / shards) without the product overflowing */
  return n_all / shards * s + n_all % shards * s / shards;
}

/* Shard s's rows, and the rows it gives to a batch of batch rows. */
static size_t shard_size(size_t n_all, size_t shards, size_t s) {
  return shard_start(n_all, shards, s + 1) - shard_start(n_all, shards, s);
}
static size_t shard_batch(size_t batch, size_t shards, size_t s) {
  return batch / shards + (s < batch % shards);
}

bool clt_shards_cover(size_t shards, size_t n_all, size_t size) {
  return size > 0 && shards >= size && shards <= n_all;
}

void clt_shard_rows(size_t n_all, size_t shards, size_t rank, size_t size, size_t *first,
                    size_t *count) {
  if (shards == 0) shards = 1;
  size_t lo = rank * shards / size, hi = (rank + 1) * shards / size;
  *first = shard_start(n_all, shards, lo);
  *count = shard_start(n_all, shards, hi) - *first;
}

/* Rows shard s gives to step t's batch. */
static size_t shard_take(const clt_trainer *tr, size_t s, size_t t) {
  size_t n_s = shard_size(tr->n_all, tr->shards, s);
  size_t b_s = shard_batch(tr->opt.batch, tr->shards, s);
  size_t start = t * b_s;
  return start >= n_s ? 0 : n_s - start < b_s ? n_s - start : b_s;
}

size_t clt_shard_steps(size_t n_all, size_t shards, size_t batch) {
  if (shards == 0) shards = 1;
  if (batch == 0 || batch > n_all) batch = n_all;
  size_t steps = 0;
  for (size_t s = 0; s < shards && batch >= shards; s++) {
    size_t n_s = shard_size(n_all, shards, s), b_s = shard_batch(batch, shards, s);
    size_t need = (n_s + b_s - 1) / b_s;
    if (need > steps) steps = need;
  }
  return steps ? steps : 1;
}

/* The epoch's steps (as many as the longest shard needs) and where each
   step's rows of this trainer's shards lie in the permutation. */
static clt_status shard_layout(clt_trainer *tr) {
  size_t steps = clt_shard_steps(tr->n_all, tr->shards, tr->opt.batch), widest = 0;
  for (size_t s = tr->shard_lo; s < tr->shard_hi; s++) {
    size_t n_s = shard_size(tr->n_all, tr->shards, s);
    if (n_s > widest) widest = n_s;
  }
  tr->steps = steps;
  tr->step_first = malloc(steps * sizeof *tr->step_first);
  tr->step_rows = malloc(steps * sizeof *tr->step_rows);
  tr->step_cursor = malloc(steps * sizeof *tr->step_cursor);
  tr->shard_perm = malloc((widest ? widest : 1) * sizeof *tr->shard_perm);
  if (!tr->step_first || !tr->step_rows || !tr->step_cursor || !tr->shard_perm)
    return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "the shards' batches");
  size_t at = 0;
  for (size_t t = 0; t < steps; t++) {
    size_t rows = 0;
    for (size_t s = tr->shard_lo; s < tr->shard_hi; s++) rows += shard_take(tr, s, t);
    tr->step_first[t] = at;
    tr->step_rows[t] = rows;
    at += rows;
  }
  return CLT_OK;
}

clt_status clt_trainer_create(clt_context *ctx, const clt_train_options *opt,
                              const clt_train_data *train,
                              const clt_train_data *test, clt_trainer **out) {
  if (!train) return CLT_ERR_INVALID_ARG;
  return clt_trainer_create_ranked(ctx, opt, train, train->n, test, NULL, out);
}

/* clt_trainer_create_ranked's part on this rank alone: everything but the
   ranks' agreement. */
static clt_status create_here(clt_context *ctx, const clt_train_options *opt,
                              const clt_train_data *train, size_t n_all,
                              const clt_train_data *test, const clt_train_comm *comm,
                              clt_trainer **out) {
  const size_t shards = opt->shards ? opt->shards : 1, rank = comm ? comm->rank : 0,
               size = comm ? comm->size : 1;
  size_t row0 = 0, mine = 0;
  if (rank >= size || !clt_shards_cover(shards, n_all, size))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "%zu shards of %zu rows for %zu rank%s: every rank needs a shard and "
                    "every shard a row",
                    shards, n_all, size, size == 1 ? "" : "s");
  clt_shard_rows(n_all, shards, rank, size, &row0, &mine);
  if (train->n != mine)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "rank %zu of %zu holds rows [%zu, %zu) of %zu in %zu shards: %zu rows, "
                    "not %zu",
                    rank, size, row0, row0 + mine, n_all, shards, mine, train->n);
  if (opt->batch && opt->batch < shards && opt->batch < n_all)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "a batch of %zu rows cannot take rows from each of %zu shards", opt->batch,
                    shards);
  if (test && test->n == 0) test = NULL;
  if (train->n == 0 || (test && train->d != test->d))
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "training set %zux%zu and test set %zux%zu do not match",
                    train->n, train->d, test ? test->n : 0, test ? test->d : 0);
  if (opt->epochs == 0)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "epochs must be at least 1");
  if (!isfinite(opt->init_std) || opt->init_std < 0)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "init_std must be finite and >= 0 (got %g)", opt->init_std);
  size_t classes = test && test->classes > train->classes ? test->classes : train->classes;
  if (classes == 0) return clt_fail(ctx, CLT_ERR_INVALID_ARG, "trainer: 0 classes");
  const bool label_target = takes_labels(opt->loss.kind);
  CLT_TRY(check_data(ctx, train, classes, label_target, "training"));
  if (opt->stream && train->indptr) { /* never uploaded whole: checked here */
    if (train->indptr[train->n] > 0 && (!train->indices || !train->values))
      return clt_fail(ctx, CLT_ERR_INVALID_ARG, "training set: %s is NULL with %lld entries",
                      train->indices ? "values" : "indices", (long long)train->indptr[train->n]);
    bool sorted = true;
    CLT_TRY(clt_csr_check(ctx, train->n, train->d, train->indptr, train->indices, &sorted));
    if (!sorted)
      return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                      "training set: streamed sparse rows must list their columns in "
                      "increasing order");
  }
  if (test) CLT_TRY(check_data(ctx, test, classes, label_target, "test"));
  clt_trainer *tr = calloc(1, sizeof *tr);
  if (!tr) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "trainer");
  tr->ctx = ctx;
  tr->opt = *opt;
  tr->n = train->n;
  tr->d = train->d;
  tr->c = classes;
  tr->held[0] = test ? test->n : 0;
  tr->n_all = n_all;
  tr->row0 = row0;
  tr->shards = shards;
  tr->shard_lo = rank * shards / size;
  tr->shard_hi = (rank + 1) * shards / size;
  tr->ranked = comm != NULL;
  if (comm) tr->comm = *comm;
  if (tr->opt.batch == 0 || tr->opt.batch > n_all) tr->opt.batch = n_all;
  tr->opt.shards = shards;
  tr->label_target = takes_labels(opt->loss.kind);
  tr->rng = opt->seed;
  tr->first_loss = NAN;
  tr->wscale = 1;
  tr->touched = !comm && touched_updates(opt, train);
  clt_status st = shard_layout(tr);
  size_t B = tr->rows_max = st == CLT_OK ? tr->step_rows[0] : tr->opt.batch;
  tr->perm_host = malloc(tr->n * sizeof *tr->perm_host);
  if (!tr->perm_host && st == CLT_OK) st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "permutation");
  if (comm && train->y && st == CLT_OK) { /* the normaliser's labels */
    tr->y_host = malloc(tr->n * sizeof *tr->y_host);
    if (!tr->y_host) st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "labels");
    else memcpy(tr->y_host, train->y, tr->n * sizeof *tr->y_host);
  }
#define STEP(expr)                                                            \
  if (st == CLT_OK) st = (expr)
  tr->stream = opt->stream != 0;
  tr->host = *train;
  STEP(upload(ctx, train, tr->c, tr->label_target, !tr->stream, &tr->train));
  if (test) STEP(upload(ctx, test, tr->c, tr->label_target, true, &tr->test));
  if (tr->stream) STEP(stream_buffers(tr));
  if (opt->class_weight) {
    tr->class_weight_host = malloc(tr->c * sizeof(float));
    if (!tr->class_weight_host && st == CLT_OK)
      st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "class weights");
    STEP((memcpy(tr->class_weight_host, opt->class_weight, tr->c * sizeof(float)), CLT_OK));
    STEP(clt_tensor_create(ctx, 1, tr->c, CLT_FLOAT32, &tr->class_weight));
    STEP(clt_tensor_write(tr->class_weight, opt->class_weight, tr->c * 4));
  }
  tr->opt.loss.class_weight = tr->class_weight;
  tr->opt.class_weight = NULL; /* the caller's */
  STEP(clt_tensor_create(ctx, tr->n, 1, CLT_INT32, &tr->perm));
  STEP(clt_tensor_create(ctx, (tr->touched && opt->reg.l2 > 0 ? 2 : 1) * PROGRESS_EVERY, 2,
                         CLT_FLOAT32, &tr->losses));
  if (train->x) STEP(clt_tensor_create(ctx, B, tr->d, CLT_FLOAT32, &tr->Xb));
  STEP(tr->label_target
           ? clt_tensor_create(ctx, B, 1, CLT_INT32, &tr->yb)
           : clt_tensor_create(ctx, B, tr->c, CLT_FLOAT32, &tr->yb));
  STEP(clt_optimizer_create(ctx, &opt->optim, &tr->optim));
  /* The model's parameters live in one flat group of the optimizer,
     zero-initialised, so an optimizer step is one launch. */
  STEP(clt_model_create(ctx, &clt_model_linear, tr->d, tr->c, opt->bias, tr->optim,
                        &tr->model));
  STEP(tr->model->kind->init(tr->model, opt->seed, opt->init_std));
#undef STEP
  if (st == CLT_OK) st = warm_up(tr);
  if (st != CLT_OK) {
    clt_trainer_destroy(tr);
    return st;
  }
  *out = tr;
  return CLT_OK;
}

/* Ranked (comm): whether every rank's st is CLT_OK, and rows (this rank's
   rows of a held-out set) summed over the ranks into *all, in one small
   sum, so that a rank that failed alone never leaves the others waiting in
   a later collective: they fail too (CLT_ERR_DISTRIBUTED), the failed
   rank with its own status. Without comm: st, and rows. */
static clt_status agree(const clt_train_comm *comm, clt_context *ctx, clt_status st,
                        size_t rows, size_t *all) {
  if (!comm) {
    *all = rows;
    return st;
  }
  double mine[2] = {st != CLT_OK, (double)(st == CLT_OK ? rows : 0)}, sum[2] = {0, 0};
  clt_status cs = clt_comm_sum(comm, ctx, mine, sum, 2);
  if (st != CLT_OK || cs != CLT_OK) return st != CLT_OK ? st : cs;
  if (sum[0] > 0)
    return clt_fail(ctx, CLT_ERR_DISTRIBUTED,
                    "%.0f other rank%s failed to make its part of the trainer (its own error "
                    "says why)",
                    sum[0], sum[0] == 1 ? "" : "s");
  *all = (size_t)sum[1];
  return CLT_OK;
}

clt_status clt_trainer_create_ranked(clt_context *ctx, const clt_train_options *opt,
                                     const clt_train_data *train, size_t n_all,
                                     const clt_train_data *test, const clt_train_comm *comm,
                                     clt_trainer **out) {
  if (!ctx || !opt || !train || !out) return CLT_ERR_INVALID_ARG;
  if (comm && (!comm->exchange || (comm->share && !comm->unshare)))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "a comm needs exchange, and unshare with share");
  clt_trainer *tr = NULL;
  size_t held_all = 0;
  clt_status st = create_here(ctx, opt, train, n_all, test, comm, &tr);
  st = agree(comm, ctx, st, st == CLT_OK ? tr->held[0] : 0, &held_all);
  if (st != CLT_OK) {
    clt_trainer_destroy(tr);
    return st;
  }
  tr->held_all[0] = held_all;
  *out = tr;
  return CLT_OK;
}

const clt_optimizer *clt_trainer_optimizer(const clt_trainer *tr) { return tr->optim; }

bool clt_trainer_touched_updates(const clt_trainer *tr) { return tr->touched; }
bool clt_trainer_shares_memory(const clt_trainer *tr) { return tr->shared != NULL; }

clt_status clt_trainer_set_params(clt_trainer *tr, const float *W, const float *b) {
  if (!tr || !W) return CLT_ERR_INVALID_ARG;
  CLT_TRY(clt_tensor_write(tr->model->value[0], W, tr->d * tr->c * 4));
  if (tr->model->nparams > 1)
    CLT_TRY(b ? clt_tensor_write(tr->model->value[1], b, tr->c * 4)
              : clt_tensor_fill(tr->model->value[1], 0.0));
  return CLT_OK;
}

clt_status clt_trainer_params(clt_trainer *tr, float *W, float *b) {
  if (!tr || !W) return CLT_ERR_INVALID_ARG;
  /* The linear model's parameters: W, then b when it has one. */
  CLT_TRY(clt_tensor_read(tr->model->value[0], W, tr->d * tr->c * 4));
  if (b && tr->model->nparams > 1) CLT_TRY(clt_tensor_read(tr->model->value[1], b, tr->c * 4));
  return CLT_OK;
}

size_t clt_trainer_epochs_done(const clt_trainer *tr) {
  return tr->epochs_done;
}

/* Fisher-Yates from the trainer's stream, shard by shard: the same seed
   gives the same sequence of epochs, resumed or not, on every rank. A
   shard of this trainer's is laid out across the steps (its first rows to
   step 0, ...); another's only advances the stream by as many draws. With
   one shard, the permutation of all the rows. */
static clt_status shuffle(clt_trainer *tr) {
  int buf;
  bool hit; /* the prefetcher reads the permutation: its job is done first */
  CLT_TRY(prefetched(tr, SIZE_MAX, &hit, &buf));
  int32_t *p = tr->perm_host, *q = tr->shard_perm;
  memcpy(tr->step_cursor, tr->step_first, tr->steps * sizeof *tr->step_cursor);
  for (size_t s = 0; s < tr->shards; s++) {
    size_t lo = shard_start(tr->n_all, tr->shards, s), n_s = shard_size(tr->n_all, tr->shards, s);
    if (s < tr->shard_lo || s >= tr->shard_hi) {
      for (size_t i = n_s - 1; i > 0; i--) (void)clt_splitmix64(&tr->rng);
      continue;
    }
    for (size_t i = 0; i < n_s; i++) q[i] = (int32_t)(lo - tr->row0 + i);
    for (size_t i = n_s - 1; i > 0; i--) {
      size_t j = (size_t)(clt_splitmix64(&tr->rng) % (i + 1));
      int32_t t = q[i];
      q[i] = q[j];
      q[j] = t;
    }
    for (size_t t = 0, from = 0; t < tr->steps; t++) {
      size_t k = shard_take(tr, s, t);
      memcpy(p + tr->step_cursor[t], q + from, k * sizeof *q);
      tr->step_cursor[t] += k;
      from += k;
    }
  }
  return clt_tensor_write(tr->perm, p, tr->n * 4);
}

/* Loss and gradient of the minibatch [first, first+rows) of this epoch's
   order, taken on the device: the fused step and the sparse products read
   X's rows through the permutation, the other paths gather them into Xb /
   yb first. Ranked, without the penalty (ranked_step adds it). */
static clt_status batch_grad(clt_trainer *tr, size_t first, size_t rows,
                             clt_loss_slot *defer, double *loss) {
  clt_tensor *targets = tr->label_target ? tr->train.y : tr->train.T;
  clt_tensor *xb = tr->Xb, *yb = tr->yb;
  clt_status st = CLT_OK;
  if (rows < tr->rows_max) {
    xb = yb = NULL;
    if (tr->Xb) st = clt_tensor_view_rows(tr->Xb, 0, rows, &xb);
    if (st == CLT_OK) st = clt_tensor_view_rows(tr->yb, 0, rows, &yb);
  }
  clt_model_batch batch = {features_of(&tr->train), targets, tr->perm, first, xb, yb, defer};
  clt_tensor *ys = NULL, *ts = NULL;
  if (st == CLT_OK && tr->stream) {
    /* The staged rows, read in order, and their targets, as many as the
       staged features have rows (dense: the whole staging) */
    st = clt_tensor_view_rows(tr->ystage, 0, rows, &ys);
    if (st == CLT_OK) st = clt_gather_rows_unchecked(ys, targets, tr->perm, first);
    if (st == CLT_OK) st = stage_rows(tr, tr->perm_host, first, rows, &batch.X);
    if (st == CLT_OK)
      st = clt_tensor_view_rows(tr->ystage, 0, clt_features_rows(batch.X), &ts);
    batch.targets = ts, batch.idx = tr->ident, batch.first = 0;
  }
  if (st == CLT_OK)
    st = tr->model->kind->loss_grad(tr->model, &tr->opt.loss,
                                    tr->ranked ? NULL : &tr->opt.reg, &batch, loss);
  clt_tensor_destroy(ys);
  clt_tensor_destroy(ts);
  if (xb != tr->Xb) clt_tensor_destroy(xb);
  if (yb != tr->yb) clt_tensor_destroy(yb);
  return st;
}

/* Where in tr->losses touched step i of those deferred leaves its change
   of |V|^2 (with l2). */
static size_t norm_element(size_t i) { return 2 * (PROGRESS_EVERY + i); }

/* Reads tr->losses into v (one read-back): the deferred steps' losses,
   and the touched steps' changes of |V|^2, whose penalties, 0.5 l2 s^2
   |V|^2 before each update, go to pending_penalty, vnorm2 brought up to
   date. */
static clt_status read_losses(clt_trainer *tr, float v[4 * PROGRESS_EVERY]) {
  CLT_TRY(clt_tensor_read(tr->losses, v, clt_tensor_numel(tr->losses) * sizeof *v));
  const double l2 = tr->opt.reg.l2;
  for (size_t i = 0; i < tr->norms_pending; i++) {
    tr->pending_penalty[i] = 0.5 * l2 * tr->norm_wscale[i] * tr->norm_wscale[i] * tr->vnorm2;
    tr->vnorm2 = tr->vnorm2 * tr->norm_rescale[i] + v[norm_element(i)];
  }
  tr->norms_pending = 0;
  return CLT_OK;
}

/* A touched step's rows and the tensors of its loss: the rows the update
   reads (br, through X), the batch's labels or targets yb, and the scores
   S and their gradient dS (workspaces). */
typedef struct touched_rows {
  clt_batch_rows br;
  clt_features X;
  clt_tensor *yb, *S, *dS;
} touched_rows;

static void touched_rows_free(touched_rows *t) {
  clt_tensor_destroy(t->yb);
  clt_tensor_destroy(t->S);
  clt_tensor_destroy(t->dS);
}

/* The rows tr->perm[first, first+rows) (streamed: staged as stage_rows
   stages them in order, NULL for in order, then read in order) into t,
   and their scores at W's scale tr->wscale, loss (into defer's slot, or
   *data) and dS; t is freed by touched_rows_free, also after a failure. */
static clt_status touched_loss(clt_trainer *tr, const int32_t *order, size_t first, size_t rows,
                               clt_loss_slot *defer, double *data, touched_rows *t) {
  clt_context *ctx = tr->ctx;
  clt_tensor *W = tr->model->value[0], *b = tr->model->nparams > 1 ? tr->model->value[1] : NULL;
  clt_tensor *targets = tr->label_target ? tr->train.y : tr->train.T;
  *t = (touched_rows){.br = {tr->perm, first, rows}, .X = features_of(&tr->train)};
  clt_status st = CLT_OK;
  if (tr->stream) { /* the staged rows, read in order */
    st = stage_rows(tr, order, first, rows, &t->X);
    t->br = (clt_batch_rows){NULL, 0, rows};
  }
  if (st == CLT_OK) st = clt_tensor_view_rows(tr->yb, 0, rows, &t->yb);
  if (st == CLT_OK) st = clt_workspace(ctx, 0, rows, tr->c, &t->S);
  if (st == CLT_OK) st = clt_workspace(ctx, 1, rows, tr->c, &t->dS);
  if (st == CLT_OK) st = clt_gather_rows_unchecked(t->yb, targets, tr->perm, first);
  if (st == CLT_OK)
    st = clt_csr_loss_rows(ctx, t->X.csr, t->br, (float)tr->wscale, W, b, &tr->opt.loss, t->yb,
                           t->S, defer, data, t->dS);
  return st;
}

/* One step of plain SGD on sparse rows, with W = s V (V the W tensor, s
   the trainer's wscale) and PyTorch's update W <- (1 - lr k) W - lr g for
   k = l2 + weight decay: s <- s (1 - lr k), then V <- V - (lr / s) g on
   the rows' columns only (V is rescaled densely when s would leave
   [1e-6, 1e6], or reach 0). The loss is the batch's, plus 0.5 l2 s^2 |V|^2
   before the update, as the dense path reports it: with l2, the update
   leaves the change of |V|^2 on the device, and the penalty waits for it
   in pending_penalty (read_losses) as the loss waits in its slot. */
static clt_status touched_step(clt_trainer *tr, size_t first, size_t rows, clt_loss_slot *defer,
                               double *loss) {
  clt_context *ctx = tr->ctx;
  clt_tensor *W = tr->model->value[0], *b = tr->model->nparams > 1 ? tr->model->value[1] : NULL;
  /* The schedule checked (its rate set on the optimizer, which records it) */
  CLT_TRY(clt_optimizer_apply_schedule(tr->optim, &tr->opt.schedule, tr->step));
  const double lr = clt_schedule_lr(&tr->opt.schedule, tr->step), l2 = tr->opt.reg.l2;
  const double sign = tr->opt.optim.maximize ? -1 : 1;
  touched_rows t;
  double data = 0;
  clt_status st = touched_loss(tr, tr->perm_host, first, rows, defer, &data, &t);
  const size_t at = defer->index;
  tr->norm_wscale[at] = tr->wscale, tr->norm_rescale[at] = 1;
  /* maximize negates the penalty's gradient with the loss's, as the dense
     path's optimizer does; weight decay keeps its sign */
  double s = tr->wscale * (1 - lr * (sign * l2 + tr->opt.optim.weight_decay));
  if (st == CLT_OK && !(fabs(s) >= 1e-6 && fabs(s) <= 1e6)) { /* the decay into V */
    st = clt_scale_tensor(W, (float)s);
    if (st == CLT_OK) tr->norm_rescale[at] = s * s, tr->wscale = 1, s = 1;
  }
  if (st == CLT_OK)
    st = clt_csr_sgd_rows(ctx, t.X.csr, t.br, t.dS, W, (float)(sign * lr / s), b,
                          (float)(sign * lr), l2 > 0 ? tr->losses : NULL, norm_element(at));
  touched_rows_free(&t);
  CLT_TRY(st);
  tr->wscale = s;
  if (l2 > 0) tr->norms_pending = at + 1;
  if (!defer->written) {
    float v[4 * PROGRESS_EVERY];
    if (tr->norms_pending) CLT_TRY(read_losses(tr, v));
    *loss = clt_float_range(data + tr->pending_penalty[at]);
  }
  tr->step++;
  return CLT_OK;
}

/* What this rank's rows idx[first, first+rows) (idx NULL: the rows
   first, ... in order) weigh in the loss's normaliser
   (clt_ref_loss_denominator of their labels). */
static clt_status batch_denominator(clt_trainer *tr, const int32_t *idx, size_t first,
                                    size_t rows, double *den) {
  int32_t *labels = NULL;
  if (tr->y_host && tr->label_target) {
    if (!(labels = malloc((rows ? rows : 1) * sizeof *labels)))
      return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "batch labels");
    for (size_t i = 0; i < rows; i++)
      labels[i] = tr->y_host[idx ? (size_t)idx[first + i] : first + i];
  }
  clt_ref_loss_in in = {.desc = &tr->opt.loss, .n = rows, .c = tr->c, .labels = labels,
                        .class_weight = tr->class_weight_host};
  *den = clt_ref_loss_denominator(&in);
  free(labels);
  return CLT_OK;
}

clt_status clt_comm_gather(const clt_train_comm *comm, clt_context *ctx, const void *mine,
                           void *all, size_t bytes) {
  memcpy((unsigned char *)all + comm->rank * bytes, mine, bytes);
  return comm->exchange(comm->user, ctx, mine, 0, all, bytes);
}

clt_status clt_comm_sum(const clt_train_comm *comm, clt_context *ctx, const double *mine,
                        double *sum, size_t n) {
  const size_t k = comm->size, total = k * n;
  double *all = malloc((total ? total : 1) * sizeof *all);
  if (!all) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "the ranks' parts");
  clt_status st = clt_comm_gather(comm, ctx, mine, all, n * sizeof *all);
  for (size_t i = 0; st == CLT_OK && i < n; i++) {
    double acc = 0;
    for (size_t r = 0; r < k; r++) acc += all[r * n + i];
    sum[i] = acc;
  }
  free(all);
  return st;
}

/* out[i] = sum over r in [0, k) of parts[r][i] * weights[r], in double
   and in r's order from +0 (k >= 1), for i in [0, n): a block of elements
   at a time, the first part's products starting it and the last's added
   as it is written, so that each part is read in order. */
static void sum_parts(float *out, const float *const *parts, const double *weights, size_t k,
                      size_t n) {
  enum { SUM_BLOCK = 2048 };
  double acc[SUM_BLOCK];
  for (size_t i0 = 0; i0 < n; i0 += SUM_BLOCK) {
    const size_t m = n - i0 < SUM_BLOCK ? n - i0 : SUM_BLOCK;
    const float *p = parts[0] + i0;
    double w = weights[0];
    for (size_t i = 0; i < m; i++) acc[i] = 0.0 + (double)p[i] * w;
    for (size_t r = 1; r + 1 < k; r++) {
      p = parts[r] + i0, w = weights[r];
      for (size_t i = 0; i < m; i++) acc[i] += (double)p[i] * w;
    }
    if (k == 1) {
      for (size_t i = 0; i < m; i++) out[i0 + i] = (float)acc[i];
    } else {
      p = parts[k - 1] + i0, w = weights[k - 1];
      for (size_t i = 0; i < m; i++) out[i0 + i] = (float)(acc[i] + (double)p[i] * w);
    }
  }
}

/* ranked_step's buffers (its first step, collective): segments of whole
   cache lines, in memory the ranks share where comm can. */
static clt_status ranked_buffers(clt_trainer *tr) {
  const size_t K = tr->comm.size;
  size_t P = 0;
  for (size_t k = 0; k < tr->model->nparams; k++) P += clt_tensor_numel(tr->model->grad[k]);
  tr->seg = ((P + K - 1) / K + 15) / 16 * 16;
  const size_t floats = K * tr->seg; /* a gradient's, padded */
  const bool fits = floats <= SIZE_MAX / sizeof(float) / (K + 1);
  const size_t bytes = fits ? (K + 1) * floats * sizeof(float) : 0;
  void *base = NULL;
  clt_status st = CLT_OK;
  if (tr->comm.share && fits) st = tr->comm.share(tr->comm.user, tr->ctx, bytes, &base);
  if (base) {
    tr->shared = base;
    tr->shared_bytes = bytes;
  } else {
    tr->grad_host = calloc(floats, sizeof *tr->grad_host);
    tr->segs = malloc(floats * sizeof *tr->segs);
  }
  tr->heads = malloc(K * 2 * sizeof *tr->heads);
  tr->weights = malloc(K * sizeof *tr->weights);
  tr->parts = malloc(K * sizeof *tr->parts);
  if (st == CLT_OK && ((!base && (!tr->grad_host || !tr->segs)) || !tr->heads || !tr->weights ||
                       !tr->parts))
    st = clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "gradients");
  if (st != CLT_OK) { /* none kept */
    if (base) tr->comm.unshare(tr->comm.user, base, tr->shared_bytes);
    free(tr->grad_host), free(tr->segs), free(tr->heads), free(tr->weights), free(tr->parts);
    tr->grad_host = tr->segs = tr->shared = NULL, tr->shared_bytes = 0;
    tr->heads = tr->weights = NULL, tr->parts = NULL;
  }
  return st;
}

/* A step of a ranked trainer: this rank's loss and gradient (zero for no
   rows); the losses, each weighted by its rank's share of the normaliser,
   and the shares summed over the ranks in one small gather; the gradient
   summed the same way, element by element in rank order and in double, a
   segment by each rank (a reduce-scatter), divided by the whole
   normaliser (MEAN; SUM adds) and gathered: the same bits on every rank,
   whatever the transport. Where the ranks share memory, each reads the
   others' parts of its segment where they lie, and the gather is an empty
   exchange after which every rank reads the sums in place. Then the
   penalty's gradient added once, and the same update on every rank. */
static clt_status ranked_step(clt_trainer *tr, size_t first, size_t rows, double *loss) {
  clt_model *m = tr->model;
  const size_t K = tr->comm.size, me = tr->comm.rank;
  if (!tr->parts) CLT_TRY(ranked_buffers(tr));
  const size_t S = tr->seg;
  /* this rank's gradient, and the sums */
  float *g = tr->shared ? tr->shared + me * K * S : tr->grad_host,
        *sums = tr->shared ? tr->shared + K * K * S : g;
  double *heads = tr->heads;
  double local = 0, den = 0, t0 = clt_now();
  if (tr->comm.step_begins) tr->comm.step_begins(tr->comm.user, tr->step);
  clt_status st = batch_denominator(tr, tr->perm_host, first, rows, &den);
  const bool summed = tr->opt.loss.reduction == CLT_REDUCTION_SUM;
  /* rows that weigh nothing (none, or every one ignored) add nothing; their
     own mean would be 0/0 */
  const bool adds = rows && (summed || den != 0);
  if (st == CLT_OK && adds) st = batch_grad(tr, first, rows, NULL, &local);
  if (st == CLT_ERR_NONFINITE) local = NAN, st = CLT_OK;
  for (size_t k = 0; st == CLT_OK && !adds && k < m->nparams; k++)
    st = clt_tensor_fill(m->grad[k], 0.0);
  if (st == CLT_OK) st = clt_context_finish(tr->ctx); /* the compute's end */
  const double t_computed = clt_now();
  for (size_t k = 0, at = 0; st == CLT_OK && k < m->nparams; k++) {
    size_t len = clt_tensor_numel(m->grad[k]);
    st = clt_tensor_read(m->grad[k], g + at, len * sizeof *g);
    at += len;
  }
  const double t_ready = clt_now();
  /* shared: this rank's part written before the small gather, the others'
     read after it */
  if (tr->shared) atomic_thread_fence(memory_order_seq_cst);
  const double head[2] = {adds ? local * (summed ? 1.0 : den) : 0.0, den};
  if (st == CLT_OK) st = clt_comm_gather(&tr->comm, tr->ctx, head, heads, sizeof head);
  if (tr->shared) atomic_thread_fence(memory_order_seq_cst);
  const double t_heads = clt_now();
  if (st == CLT_OK && !tr->shared)
    st = tr->comm.exchange(tr->comm.user, tr->ctx, g, S * sizeof *g, tr->segs, S * sizeof *g);
  if (st == CLT_OK) {
    double total[2] = {0, 0};
    for (size_t r = 0; r < K; r++) total[0] += heads[2 * r], total[1] += heads[2 * r + 1];
    const double whole = summed ? 1.0 : total[1];
    /* this rank's segment, each element summed over the ranks in rank
       order (this rank's own part read where it is), the sums written
       over this rank's part and sent from there (shared: into the sums'
       buffer, where every rank reads them) */
    float *mine = g + me * S;
    for (size_t r = 0; r < K; r++) {
      tr->parts[r] = tr->shared ? tr->shared + r * K * S + me * S
                     : r == me  ? mine
                                : tr->segs + r * S;
      tr->weights[r] = (summed ? 1.0 : heads[2 * r + 1]) / whole;
    }
    sum_parts(sums + me * S, tr->parts, tr->weights, K, S);
    *loss = total[0] / whole;
    /* shared: the sums written before the empty exchange, read after it */
    if (tr->shared) atomic_thread_fence(memory_order_seq_cst);
    st = tr->comm.exchange(tr->comm.user, tr->ctx, mine, 0, g, tr->shared ? 0 : S * sizeof *g);
    if (tr->shared) atomic_thread_fence(memory_order_seq_cst);
  }
  const double t_summed = clt_now();
  for (size_t k = 0, at = 0; st == CLT_OK && k < m->nparams; k++) {
    size_t len = clt_tensor_numel(m->grad[k]);
    st = clt_tensor_write(m->grad[k], sums + at, len * sizeof *g);
    at += len;
  }
  if (st == CLT_OK) {
    clt_rank_seconds *s = &tr->steps_seconds;
    s->compute += t_computed - t0;
    s->staging += (t_ready - t_computed) + (clt_now() - t_summed);
    s->gather += t_summed - t_ready;
    s->wait += t_heads - t_ready;
  }
  if (st == CLT_OK && (tr->opt.reg.l1 > 0 || tr->opt.reg.l2 > 0)) {
    double penalty = 0;
    st = clt_regularize(tr->ctx, &tr->opt.reg, m->value[0], &penalty, m->grad[0]);
    if (st == CLT_ERR_NONFINITE) penalty = NAN, st = CLT_OK;
    *loss += penalty;
  }
  return st;
}

clt_rank_seconds clt_trainer_rank_seconds(const clt_trainer *tr) { return tr->steps_seconds; }

clt_status clt_trainer_params_hash(clt_trainer *tr, uint64_t *hash) {
  uint64_t h = CLT_FNV1A_BASIS;
  for (size_t k = 0; k < tr->model->nparams; k++) {
    const clt_tensor *v = tr->model->value[k];
    size_t len = clt_tensor_numel(v);
    unsigned char *bytes = malloc(len * 4);
    if (!bytes) return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "parameters");
    clt_status st = clt_tensor_read(v, bytes, len * 4);
    if (st == CLT_OK) h = clt_fnv1a(h, bytes, len * 4);
    free(bytes);
    CLT_TRY(st);
  }
  *hash = h;
  return CLT_OK;
}

/* Ranked: every rank's parameters hold the same bits (a hash gathered
   and compared), else CLT_ERR_DISTRIBUTED naming the first that differs. */
static clt_status check_replicas(clt_trainer *tr) {
  uint64_t mine, *all = malloc(tr->comm.size * sizeof *all);
  if (!all) return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "hashes");
  clt_status st = clt_trainer_params_hash(tr, &mine);
  if (st == CLT_OK) st = clt_comm_gather(&tr->comm, tr->ctx, &mine, all, sizeof mine);
  for (size_t r = 1; st == CLT_OK && r < tr->comm.size; r++)
    if (all[r] != all[0])
      st = clt_fail(tr->ctx, CLT_ERR_DISTRIBUTED,
                    "after epoch %zu rank %zu's parameters differ from rank 0's (hash "
                    "%016llx, not %016llx): the replicas diverged",
                    tr->epochs_done + 1, r, (unsigned long long)all[r],
                    (unsigned long long)all[0]);
  free(all);
  return st;
}

/* At an epoch's start and end: W's scale moved into the W tensor (so that
   outside an epoch it holds W), and with norm (at the start) its sum of
   squares when l2 needs it. Without norm, at the end and after a failed
   step: W may not be finite, and the evaluation's or the failure's own
   message must stay; the next epoch sums it again. */
static clt_status settle_scale(clt_trainer *tr, bool norm) {
  clt_tensor *W = tr->model->value[0];
  tr->norms_pending = 0; /* vnorm2 is summed again, now or at the next epoch's start */
  if (tr->wscale != 1) CLT_TRY(clt_scale_tensor(W, (float)tr->wscale));
  tr->wscale = 1;
  if (norm && tr->opt.reg.l2 > 0) {
    const clt_reg_desc sq = {.l2 = 2.0f}; /* penalty = sum W^2, added to 0 */
    tr->vnorm2 = 0;
    CLT_TRY(clt_regularize(tr->ctx, &sq, W, &tr->vnorm2, NULL));
  }
  return CLT_OK;
}

static clt_status optimizer_step(clt_trainer *tr) {
  CLT_TRY(clt_optimizer_apply_schedule(tr->optim, &tr->opt.schedule, tr->step));
  CLT_TRY(clt_optimizer_step_all(tr->optim));
  tr->step++;
  return CLT_OK;
}

/* Loss (against targets; NULL: NaN) and accuracy (against labels y;
   NULL: NaN) of the model on X; *normaliser (NULL: not wanted) the
   loss's divisor (clt_model_evaluate). */
static clt_status evaluate(clt_trainer *tr, clt_features X, const clt_tensor *y,
                           const clt_tensor *targets, double *loss, double *accuracy,
                           double *normaliser) {
  size_t correct;
  CLT_TRY(clt_model_evaluate(tr->model, &tr->opt.loss, X, y, targets, loss, &correct,
                             normaliser));
  *accuracy = y ? (double)correct / (double)clt_features_rows(X) : NAN;
  return CLT_OK;
}

/* An evaluation's loss l over part of a set, whose divisor is part
   (clt_model_evaluate), as a term of the whole set's sum: rows that weigh
   nothing add nothing. */
static double loss_term(double l, double part, bool summed) {
  return summed ? l : part != 0 ? l * part : 0;
}

/* The streamed training set's loss (and its divisor; normaliser NULL:
   not wanted) and accuracy, a staged minibatch of rows at a time, in
   order. */
static clt_status evaluate_streamed(clt_trainer *tr, double *loss, double *accuracy,
                                    double *normaliser) {
  const clt_tensor *targets = tr->label_target ? tr->train.y : tr->train.T;
  const bool sum = tr->opt.loss.reduction == CLT_REDUCTION_SUM;
  double total = 0, right = 0, whole = 0;
  for (size_t first = 0, B = tr->rows_max; first < tr->n; first += B) {
    size_t n = tr->n - first < B ? tr->n - first : B;
    clt_features X;
    clt_tensor *xv = NULL, *yv = NULL, *tv = NULL;
    double l = 0, a = 0, part = 0;
    clt_status st = stage_rows(tr, NULL, first, n, &X);
    if (st == CLT_OK && X.dense) /* a staging tensor of the trainer's */
      st = clt_tensor_view_rows((clt_tensor *)X.dense, 0, n, &xv);
    if (st == CLT_OK && tr->train.y) st = clt_tensor_view_rows(tr->train.y, first, n, &yv);
    if (st == CLT_OK) st = clt_tensor_view_rows((clt_tensor *)targets, first, n, &tv);
    if (st == CLT_OK)
      st = evaluate(tr, xv ? (clt_features){.dense = xv} : X, yv, tv, &l, &a, &part);
    clt_tensor_destroy(xv), clt_tensor_destroy(yv), clt_tensor_destroy(tv);
    CLT_TRY(st);
    total += loss_term(l, part, sum);
    whole += part;
    right += round(a * (double)n); /* the chunk's count of correct rows, exactly */
  }
  *loss = sum ? total : total / whole;
  if (normaliser) *normaliser = sum ? 1 : whole;
  *accuracy = tr->train.y ? right / (double)tr->n : NAN;
  return CLT_OK;
}

static clt_status evaluate_set(clt_trainer *tr, const dev_set *s, double *loss,
                               double *accuracy, double *normaliser) {
  if (s == &tr->train && tr->stream) return evaluate_streamed(tr, loss, accuracy, normaliser);
  return evaluate(tr, features_of(s), s->y, tr->label_target ? s->y : s->T, loss, accuracy,
                  normaliser);
}

clt_status clt_trainer_evaluate(clt_trainer *tr, const clt_tensor *X,
                                const clt_tensor *y, double *loss,
                                double *accuracy) {
  return evaluate(tr, (clt_features){.dense = X}, y, tr->label_target ? y : NULL, loss,
                  accuracy, NULL);
}

clt_status clt_trainer_set_validation(clt_trainer *tr, const clt_train_data *val) {
  if (!val) return clt_fail(tr->ctx, CLT_ERR_INVALID_ARG, "validation set: NULL");
  if (val->d != tr->d || (val->n == 0 && !tr->ranked))
    return clt_fail(tr->ctx, CLT_ERR_SHAPE, "validation set %zux%zu does not match %zu features",
                    val->n, val->d, tr->d);
  if (tr->held_all[1])
    return clt_fail(tr->ctx, CLT_ERR_INVALID_ARG, "the trainer has a validation set");
  clt_status st = CLT_OK;
  if (val->n) {
    st = check_data(tr->ctx, val, tr->c, tr->label_target, "validation");
    if (st == CLT_OK) st = upload(tr->ctx, val, tr->c, tr->label_target, true, &tr->val);
  }
  size_t all = 0;
  st = agree(tr->ranked ? &tr->comm : NULL, tr->ctx, st, val->n, &all);
  if (st != CLT_OK) {
    free_set(&tr->val);
    return st;
  }
  tr->held[1] = val->n;
  tr->held_all[1] = all;
  return CLT_OK;
}

clt_status clt_trainer_evaluate_split(clt_trainer *tr, clt_split split, double *loss,
                                      double *accuracy) {
  const bool train = split == CLT_SPLIT_TRAIN;
  const int k = split == CLT_SPLIT_VAL;
  const dev_set *s = train ? &tr->train : k ? &tr->val : &tr->test;
  if (!train && !tr->held_all[k])
    return clt_fail(tr->ctx, CLT_ERR_INVALID_ARG, "the trainer has no %s set",
                    k ? "validation" : "test");
  if (!tr->ranked) return evaluate_set(tr, s, loss, accuracy, NULL);
  /* Ranked: each rank's rows (maybe none), the loss weighted by its
     divisor (clt_model_evaluate) and the accuracy by its rows, summed over
     the ranks */
  const size_t rows = train ? tr->n : tr->held[k];
  const bool summed = tr->opt.loss.reduction == CLT_REDUCTION_SUM;
  double l = 0, a = 0, part = 0, mine[4] = {0, 0, (double)rows, 0}, sum[4];
  clt_status st = CLT_OK;
  if (rows) {
    st = evaluate_set(tr, s, &l, &a, &part);
    if (st != CLT_OK && st != CLT_ERR_NONFINITE) return st;
    mine[0] = loss_term(l, part, summed);
    mine[1] = isnan(a) ? NAN : a * (double)rows;
    mine[3] = part;
  }
  CLT_TRY(clt_comm_sum(&tr->comm, tr->ctx, mine, sum, 4));
  *loss = summed ? sum[0] : sum[0] / sum[3];
  *accuracy = sum[1] / sum[2];
  return st;
}

/* Runs every kernel of a step and of an evaluation once, so that the
   device compiles them (POCL does at the first launch of each kernel) here
   and not inside the timed training phase. Changes no training state: the
   optimizer step goes to a throwaway optimizer of the same shapes. */
static clt_status warm_up(clt_trainer *tr) {
  clt_context *ctx = tr->ctx;
  for (size_t i = 0; i < tr->n; i++) tr->perm_host[i] = (int32_t)i;
  CLT_TRY(clt_tensor_write(tr->perm, tr->perm_host, tr->n * 4));
  /* the first step's rows (the most) and the last step's that has any */
  size_t B = tr->rows_max, last = tr->step_rows[0];
  for (size_t t = tr->steps; t-- > 0;)
    if (tr->step_rows[t]) {
      last = tr->step_rows[t];
      break;
    }
  size_t sizes[2] = {tr->step_rows[0], last};
  for (int k = 0; k < 2; k++) {
    double loss;
    CLT_TRY(batch_grad(tr, 0, sizes[k], NULL, &loss));
  }
  if (tr->touched) { /* its loss, its update with a zero gradient and step, a scale by 1 */
    clt_tensor *W = tr->model->value[0], *b = tr->model->nparams > 1 ? tr->model->value[1] : NULL;
    touched_rows t;
    double loss;
    clt_status st = touched_loss(tr, NULL, 0, B, NULL, &loss, &t); /* no prefetch */
    if (st == CLT_OK) st = clt_tensor_fill(t.dS, 0.0);
    if (st == CLT_OK)
      st = clt_csr_sgd_rows(ctx, t.X.csr, t.br, t.dS, W, 0.0f, b, 0.0f,
                            tr->opt.reg.l2 > 0 ? tr->losses : NULL, norm_element(0));
    if (st == CLT_OK) st = clt_scale_tensor(W, 1.0f);
    touched_rows_free(&t);
    CLT_TRY(st);
  }
  double loss, acc;
  CLT_TRY(evaluate_set(tr, tr->held[0] ? &tr->test : &tr->train, &loss, &acc, NULL));
  clt_optimizer *scratch = NULL;
  clt_model *shape = NULL;
  clt_status st = clt_optimizer_create(ctx, &tr->opt.optim, &scratch);
  if (st == CLT_OK)
    st = clt_model_create(ctx, tr->model->kind, tr->d, tr->c, tr->opt.bias, scratch,
                          &shape);
  if (st == CLT_OK) st = clt_optimizer_step_all(scratch);
  if (st == CLT_OK) st = clt_context_finish(ctx);
  clt_model_destroy(shape);
  clt_optimizer_destroy(scratch);
  /* The warm-up's last step gave the prefetcher a job: done before the
     caller sets what it reads (clt_trainer_set_prep, clt_trainer_stream_raw). */
  bool hit;
  int buf;
  if (st == CLT_OK) st = prefetched(tr, SIZE_MAX, &hit, &buf);
  return st;
}

/* The losses of an epoch's steps so far. */
typedef struct epoch_losses {
  double sum, last;
  size_t count;
} epoch_losses;

/* Step step's loss into acc (and the run's first loss); a loss that is
   not finite is the run's divergence, reported with its step. */
static clt_status account(clt_trainer *tr, uint64_t step, double loss, epoch_losses *acc) {
  if (!isfinite(loss))
    return clt_fail(tr->ctx, CLT_ERR_NONFINITE,
                    "training diverged at step %llu (epoch %zu, learning "
                    "rate %g): the loss is not finite; lower --lr (plain "
                    "SGD with a learning rate too large for the curvature "
                    "blows up), add warm-up, or clip gradients",
                    (unsigned long long)step + 1, tr->epochs_done + 1,
                    clt_schedule_lr(&tr->opt.schedule, step));
  if (step == 0) tr->first_loss = loss;
  acc->sum += loss, acc->last = loss, acc->count++;
  return CLT_OK;
}

/* Reads the losses the n deferred steps from step first on left in
   tr->losses (one read-back) and accounts them in order; when that fails
   (a diverged step), a touched trainer's W tensor first takes W back (its
   scale moved in), as after a failed step. */
static clt_status account_deferred(clt_trainer *tr, uint64_t first, size_t n,
                                   epoch_losses *acc) {
  float v[4 * PROGRESS_EVERY];
  clt_status st = read_losses(tr, v);
  for (size_t i = 0; i < n && st == CLT_OK; i++)
    st = account(tr, first + i,
                 clt_float_range((double)v[2 * i] + (double)v[2 * i + 1] +
                                 tr->pending_penalty[i]),
                 acc);
  if (st != CLT_OK && tr->touched) (void)settle_scale(tr, false);
  return st;
}

clt_status clt_trainer_epoch(clt_trainer *tr, clt_progress_fn progress,
                             void *user, clt_epoch_stats *stats) {
  clt_context *ctx = tr->ctx;
  double t0 = clt_now();
  CLT_TRY(shuffle(tr));
  if (tr->touched) CLT_TRY(settle_scale(tr, true));
  size_t steps = tr->steps;
  epoch_losses done = {0};
  /* Where the backend can (OpenCL: the fused kernels, the composition
     without a penalty, and plain SGD on sparse rows, whose penalty is the
     host's and waits in pending_penalty, its change of |V|^2 in tr->losses),
     a step's loss stays on the device (tr->losses)
     and is read every PROGRESS_EVERY steps and at the end: a step makes
     no blocking call, and a divergence is still reported with its own
     step. Elsewhere each step reads its loss back. */
  size_t pending = 0;
  uint64_t pending_first = 0;
  for (size_t s = 0; s < steps; s++) {
    size_t first = tr->step_first[s], rows = tr->step_rows[s];
    double loss = 0;
    const uint64_t step = tr->step;
    clt_loss_slot slot = {tr->losses, pending, false};
    tr->pending_penalty[pending] = 0;
    clt_status st = tr->ranked    ? ranked_step(tr, first, rows, &loss)
                    : tr->touched ? touched_step(tr, first, rows, &slot, &loss)
                                  : batch_grad(tr, first, rows, &slot, &loss);
    /* On failure the W tensor still holds W (its scale moved in). */
    if ((st != CLT_OK || !isfinite(loss)) && tr->touched) (void)settle_scale(tr, false);
    if (st == CLT_ERR_NONFINITE) loss = NAN, st = CLT_OK;
    CLT_TRY(st);
    if (slot.written) {
      if (pending++ == 0) pending_first = step;
    } else {
      if (pending) CLT_TRY(account_deferred(tr, pending_first, pending, &done));
      pending = 0;
      CLT_TRY(account(tr, step, loss, &done));
    }
    if (!tr->touched) CLT_TRY(optimizer_step(tr));
    bool report = progress && (s % PROGRESS_EVERY == PROGRESS_EVERY - 1 || s + 1 == steps);
    if (pending && (pending == PROGRESS_EVERY || report || s + 1 == steps)) {
      CLT_TRY(account_deferred(tr, pending_first, pending, &done));
      pending = 0;
    }
    /* ranks stay in step: a ranked trainer reports but never stops here */
    if (report && progress(user, s + 1, steps, done.last) && !tr->ranked) break;
  }
  if (tr->touched) CLT_TRY(settle_scale(tr, false));
  if (tr->ranked) CLT_TRY(check_replicas(tr));
  /* Parameters that are no longer finite, or scores whose losses overflow:
     an evaluation's own refusal is a divergence of the run too. */
  double test_loss = NAN, acc = NAN, val_loss = NAN, val_acc = NAN;
  const struct {
    clt_split split;
    double *loss, *acc;
  } evals[] = {{CLT_SPLIT_TEST, &test_loss, &acc}, {CLT_SPLIT_VAL, &val_loss, &val_acc}};
  for (int k = 0; k < 2; k++) {
    if (!tr->held_all[k]) continue;
    clt_status st = clt_trainer_evaluate_split(tr, evals[k].split, evals[k].loss, evals[k].acc);
    if (st != CLT_OK && st != CLT_ERR_NONFINITE) return st;
    if (st == CLT_ERR_NONFINITE || !isfinite(*evals[k].loss))
      return clt_fail(ctx, CLT_ERR_NONFINITE,
                      "training diverged in epoch %zu (step %llu, learning rate "
                      "%g): the parameters are no longer finite; lower --lr",
                      tr->epochs_done + 1, (unsigned long long)tr->step,
                      clt_schedule_lr(&tr->opt.schedule, tr->step));
  }
  tr->epochs_done++;
  double secs = clt_now() - t0;
  if (stats)
    *stats = (clt_epoch_stats){
        .epoch = tr->epochs_done,
        .step = tr->step,
        .train_loss = done.count ? done.sum / (double)done.count : NAN,
        .test_loss = test_loss,
        .test_accuracy = acc,
        .val_loss = val_loss,
        .val_accuracy = val_acc,
        .seconds = secs,
        .first_loss = tr->first_loss,
        .samples_per_second = (double)tr->n_all / secs,
    };
  return CLT_OK;
}

/* ------------------------------------------------------ preprocessing */

clt_status clt_prep_fit(const clt_dataset *train, clt_preprocess mode,
                        float scale, clt_prep_stats *out) {
  return clt_prep_fit_ranked(train, train->n, mode, scale, NULL, NULL, out);
}

clt_status clt_sum_in_place(clt_sum_fn sum, void *user, double *v, size_t n) {
  if (!sum) return CLT_OK;
  double *mine = malloc((n ? n : 1) * sizeof *mine);
  if (!mine) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "feature statistics");
  memcpy(mine, v, n * sizeof *mine);
  clt_status st = sum(user, mine, v, n);
  free(mine);
  return st;
}

clt_status clt_prep_fit_ranked(const clt_dataset *train, size_t n_all, clt_preprocess mode,
                               float scale, clt_sum_fn sum, void *user, clt_prep_stats *out) {
  *out = (clt_prep_stats){.mode = mode, .scale = scale, .d = train->d};
  if (mode == CLT_PREPROCESS_NONE) return CLT_OK;
  const bool sparse = train->ptr != NULL;
  if (sparse && mode == CLT_PREPROCESS_CENTER)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "centering sparse rows would fill in their zeros: standardize them (scaled, "
                    "not centered) or leave them as they are");
  out->mean = calloc(train->d, sizeof *out->mean);
  out->std = calloc(train->d, sizeof *out->std);
  if (!out->mean || !out->std) {
    clt_prep_free(out);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY,
                    "out of memory computing feature statistics");
  }
  /* Statistics of the scaled features, which is what the model sees
     (scaled as they are read: the rows are not copied). */
  const size_t d = train->d;
  clt_data_sums(train, scale, out->mean);
  clt_status st = clt_sum_in_place(sum, user, out->mean, d);
  for (size_t j = 0; j < d; j++) out->mean[j] /= (double)n_all;
  if (st == CLT_OK && mode == CLT_PREPROCESS_STANDARDIZE) {
    clt_data_sqdev(train, scale, out->mean, out->std);
    st = clt_sum_in_place(sum, user, out->std, d);
    for (size_t j = 0; j < d; j++) out->std[j] = sqrt(fmax(out->std[j], 0.0) / (double)n_all);
  } else {
    for (size_t j = 0; j < d; j++) out->std[j] = 1.0;
  }
  if (st != CLT_OK) {
    clt_prep_free(out);
    return st;
  }
  /* Sparse rows are scaled, not centered (scikit-learn's
     StandardScaler(with_mean=False)): their zeros stay zeros. */
  if (sparse) memset(out->mean, 0, train->d * sizeof *out->mean);
  return CLT_OK;
}

clt_status clt_prep_apply(const clt_prep_stats *st, clt_dataset *ds) {
  if (ds->ptr && st->mean)
    for (size_t j = 0; j < st->d; j++)
      if (st->mean[j] != 0) { /* a model of centered dense rows */
        CLT_TRY(clt_data_densify(ds));
        break;
      }
  clt_data_scale(ds, st->scale);
  if (st->mode != CLT_PREPROCESS_NONE) clt_data_normalize(ds, st->mean, st->std);
  return CLT_OK;
}

void clt_prep_free(clt_prep_stats *st) {
  free(st->mean);
  free(st->std);
  st->mean = st->std = NULL;
}

void clt_trainer_set_prep(clt_trainer *tr, const clt_prep_stats *st) {
  clt_prep_free(&tr->prep);
  tr->prep = (clt_prep_stats){.mode = st->mode, .scale = st->scale, .d = st->d};
  if (st->mean && st->std) {
    tr->prep.mean = malloc(st->d * sizeof(double));
    tr->prep.std = malloc(st->d * sizeof(double));
    if (tr->prep.mean && tr->prep.std) {
      memcpy(tr->prep.mean, st->mean, st->d * sizeof(double));
      memcpy(tr->prep.std, st->std, st->d * sizeof(double));
    } else {
      clt_prep_free(&tr->prep);
      tr->prep.mode = CLT_PREPROCESS_NONE;
    }
  }
}

clt_status clt_trainer_stream_raw(clt_trainer *tr) {
  if (!tr->stream || !tr->host.x)
    return clt_fail(tr->ctx, CLT_ERR_INVALID_ARG,
                    "rows prepared as they stream: only for streamed dense rows");
  if (tr->prep.mode != CLT_PREPROCESS_NONE && (!tr->prep.mean || !tr->prep.std))
    return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "the preprocessing's statistics");
  tr->raw = true;
  return CLT_OK;
}

clt_status clt_trainer_set_labels(clt_trainer *tr, const clt_labels *labels,
                                  char svmlight_base) {
  if (labels->n != tr->c)
    return clt_fail(tr->ctx, CLT_ERR_SHAPE, "%zu class labels for %zu classes", labels->n,
                    tr->c);
  clt_labels copy;
  if (clt_labels_copy(labels, &copy) != CLT_OK)
    return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "class labels");
  clt_labels_free(&tr->labels);
  tr->labels = copy;
  tr->svmlight_base = svmlight_base;
  return CLT_OK;
}

/* --------------------------------------------------------- checkpoints */

clt_status clt_trainer_save(clt_trainer *tr, const char *path) {
  clt_checkpoint ck = {
      .d = tr->d, .c = tr->c, .loss = tr->opt.loss.kind, .optim = tr->opt.optim.kind,
      .n = tr->n_all, .batch = tr->opt.batch, .epochs = tr->epochs_done, .step = tr->step,
      .rng = tr->rng, .prep = tr->prep, .has_settings = true, .loss_desc = tr->opt.loss,
      .class_weight = tr->class_weight_host, .reg = tr->opt.reg,
      .schedule = tr->opt.schedule, .epochs_target = tr->opt.epochs, .seed = tr->opt.seed,
      .init_std = tr->opt.init_std, .svmlight_base = tr->svmlight_base,
      .shards = tr->shards, .world_size = (uint32_t)(tr->ranked ? tr->comm.size : 1)};
  snprintf(ck.variant, sizeof ck.variant, "%s", clt_context_variant(tr->ctx));
  clt_status st = CLT_OK;
  if (tr->labels.n == tr->c) ck.labels = tr->labels;
  else st = clt_labels_identity(tr->c, &ck.labels);
  ck.loss_desc.class_weight = ck.loss_desc.pos_weight = NULL;
  clt_wbuf state = {0};
  if (st == CLT_OK) st = clt_checkpoint_take(&ck, tr->model);
  if (st == CLT_OK) st = clt_optimizer_serialize(tr->optim, &state);
  if (st == CLT_OK && state.failed)
    st = clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "checkpoint buffer");
  if (st == CLT_OK)
    st = clt_checkpoint_save(tr->ctx, path, &ck, state.data, state.len);
  clt_wbuf_free(&state);
  /* the trainer's own */
  ck.prep = (clt_prep_stats){0};
  ck.class_weight = NULL;
  if (ck.labels.name == tr->labels.name) ck.labels = (clt_labels){0};
  clt_checkpoint_free(&ck);
  return st;
}

clt_status clt_trainer_load(clt_trainer *tr, const char *path) {
  clt_checkpoint ck;
  CLT_TRY(clt_checkpoint_load(tr->ctx, path, &ck));
  clt_status st = clt_trainer_restore(tr, &ck, path);
  clt_checkpoint_free(&ck);
  return st;
}

clt_status clt_trainer_restore(clt_trainer *tr, const clt_checkpoint *from, const char *path) {
  clt_context *ctx = tr->ctx;
  const clt_checkpoint ck = *from;
  clt_status st = CLT_OK;
  if (ck.d != tr->d || ck.c != tr->c || ck.n != tr->n_all)
    st = clt_fail(ctx, CLT_ERR_FORMAT,
                  "%s was trained on %llu rows of %zu features and %zu classes, "
                  "this data set has %zu rows of %zu features and %zu classes",
                  path, (unsigned long long)ck.n, ck.d, ck.c, tr->n_all, tr->d, tr->c);
  else if (ck.loss != tr->opt.loss.kind || ck.optim != tr->opt.optim.kind ||
           ck.batch != tr->opt.batch)
    st = clt_fail(ctx, CLT_ERR_FORMAT,
                  "%s was written with another loss, optimizer or batch size "
                  "(%s, %s, batch %llu)",
                  path, clt_loss_kind_name(ck.loss), clt_optim_kind_name(ck.optim),
                  (unsigned long long)ck.batch);
  else if (ck.shards != tr->shards)
    st = clt_fail(ctx, CLT_ERR_FORMAT,
                  "%s was trained on %llu shards, this run cuts the rows into %zu", path,
                  (unsigned long long)ck.shards, tr->shards);
  else if (ck.epochs > tr->opt.epochs)
    st = clt_fail(ctx, CLT_ERR_INVALID_ARG,
                  "%s already has %llu epochs, more than the %zu asked for",
                  path, (unsigned long long)ck.epochs, tr->opt.epochs);
  /* The model's tensors must fit before the optimizer takes its record,
     which it checks itself and changes nothing if it fails; after it,
     only writes of already validated values remain. */
  if (st == CLT_OK) st = clt_checkpoint_fits(&ck, tr->model, path);
  if (st == CLT_OK)
    st = clt_optimizer_deserialize(tr->optim, path, ck.optim_state, ck.optim_len);
  if (st == CLT_OK) st = clt_checkpoint_apply(&ck, tr->model, path);
  if (st == CLT_OK) {
    tr->epochs_done = ck.epochs;
    tr->step = ck.step;
    tr->rng = ck.rng;
  }
  return st;
}
