/* The training loop on a device-resident data set (see train.h). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "fused.h"
#include "internal.h"
#include "loss_impl.h"
#include "rng.h"

/* Test-set rows scored per evaluation chunk (bounds the scores buffer). */
#define EVAL_CHUNK 8192
/* Losses are read back every this many steps for progress. */
#define PROGRESS_EVERY 16

struct clt_trainer {
  clt_context *ctx;
  clt_train_options opt;
  size_t n, d, c, n_test;
  bool label_target; /* cross-entropy and hinge take labels */
  clt_tensor *X, *y, *T;          /* training set; T: (N,C) one-hot targets */
  clt_tensor *Xt, *yt, *Tt;       /* test set */
  clt_tensor *perm;               /* (N,1) this epoch's permutation */
  clt_tensor *Xb, *yb;            /* gathered minibatch (B rows) */
  clt_tensor *W, *b, *dW, *db;
  clt_tensor *S;                  /* (EVAL_CHUNK, C) evaluation scores */
  clt_optimizer *optim;
  int32_t *perm_host;
  uint64_t rng;                   /* permutation stream state */
  uint64_t step;
  size_t epochs_done;
  clt_prep_stats prep;            /* copy of the caller's, for checkpoints */
};

static bool takes_labels(clt_loss_kind k) {
  return (clt_loss_target(k) & CLT_TARGET_LABELS) != 0;
}

/* One-hot (N,C) float targets for the losses that compare scores with
   values; for KL the one-hot rows are probability distributions. */
static float *one_hot(const clt_dataset *ds, size_t c) {
  float *t = calloc(ds->n * c, sizeof *t);
  if (t)
    for (size_t i = 0; i < ds->n; i++) t[i * c + (size_t)ds->y[i]] = 1.0f;
  return t;
}

static clt_status upload(clt_context *ctx, const clt_dataset *ds, size_t c,
                         bool labels, clt_tensor **X, clt_tensor **y,
                         clt_tensor **T) {
  CLT_TRY(clt_tensor_create(ctx, ds->n, ds->d, CLT_FLOAT32, X));
  CLT_TRY(clt_tensor_write(*X, ds->x, ds->n * ds->d * 4));
  CLT_TRY(clt_tensor_create(ctx, ds->n, 1, CLT_INT32, y));
  CLT_TRY(clt_tensor_write(*y, ds->y, ds->n * 4));
  if (labels) return CLT_OK;
  float *t = one_hot(ds, c);
  if (!t) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "one-hot targets");
  clt_status st = clt_tensor_create(ctx, ds->n, c, CLT_FLOAT32, T);
  if (st == CLT_OK) st = clt_tensor_write(*T, t, ds->n * c * 4);
  free(t);
  return st;
}

void clt_trainer_destroy(clt_trainer *tr) {
  if (!tr) return;
  clt_tensor *all[] = {tr->X,  tr->y,  tr->T,  tr->Xt, tr->yt, tr->Tt,
                       tr->perm, tr->Xb, tr->yb, tr->W, tr->b, tr->dW,
                       tr->db, tr->S};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    clt_tensor_destroy(all[i]);
  clt_optimizer_destroy(tr->optim);
  clt_prep_free(&tr->prep);
  free(tr->perm_host);
  free(tr);
}

static clt_status warm_up(clt_trainer *tr);

/* W ~ init_std N(0, 1) (CS231n's initialisation with 0.001, the CLI's
   default), b = 0, from the seed but on a stream of its own, so the epochs'
   permutations do not depend on D*C. init_std 0 keeps the group's zeros
   (no draws, no -0.0 from 0 times a negative draw); the trust
   ratios of LARS and LAMB scale each step by ||W||, so a zero start leaves
   them only the first step at ratio 1 to get going. */
static clt_status init_weights(clt_trainer *tr) {
  if (tr->opt.init_std == 0) return CLT_OK; /* the group starts at zero */
  size_t n = tr->d * tr->c;
  float *w = malloc(n * sizeof *w);
  if (!w) return clt_fail(tr->ctx, CLT_ERR_OUT_OF_MEMORY, "initial weights");
  clt_rng r = {.s = tr->opt.seed ^ 0x5DEECE66Dull};
  for (size_t i = 0; i < n; i++) w[i] = (float)(tr->opt.init_std * clt_rng_normal(&r));
  clt_status st = clt_tensor_write(tr->W, w, n * 4);
  free(w);
  return st;
}

clt_status clt_trainer_create(clt_context *ctx, const clt_train_options *opt,
                              const clt_dataset *train,
                              const clt_dataset *test, clt_trainer **out) {
  if (!ctx || !opt || !train || !test || !out) return CLT_ERR_INVALID_ARG;
  if (train->d != test->d || train->n == 0 || test->n == 0)
    return clt_fail(ctx, CLT_ERR_SHAPE,
                    "training set %zux%zu and test set %zux%zu do not match",
                    train->n, train->d, test->n, test->d);
  if (opt->epochs == 0)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "epochs must be at least 1");
  if (!isfinite(opt->init_std) || opt->init_std < 0)
    return clt_fail(ctx, CLT_ERR_INVALID_ARG,
                    "init_std must be finite and >= 0 (got %g)", opt->init_std);
  clt_trainer *tr = calloc(1, sizeof *tr);
  if (!tr) return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "trainer");
  tr->ctx = ctx;
  tr->opt = *opt;
  tr->n = train->n;
  tr->d = train->d;
  tr->c = train->classes > test->classes ? train->classes : test->classes;
  tr->n_test = test->n;
  if (tr->opt.batch == 0 || tr->opt.batch > tr->n) tr->opt.batch = tr->n;
  tr->label_target = takes_labels(opt->loss.kind);
  tr->rng = opt->seed;
  size_t B = tr->opt.batch, eval = test->n < EVAL_CHUNK ? test->n : EVAL_CHUNK;
  clt_status st = CLT_OK;
  tr->perm_host = malloc(tr->n * sizeof *tr->perm_host);
  if (!tr->perm_host) st = clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "permutation");
#define STEP(expr)                                                            \
  if (st == CLT_OK) st = (expr)
  STEP(upload(ctx, train, tr->c, tr->label_target, &tr->X, &tr->y, &tr->T));
  STEP(upload(ctx, test, tr->c, tr->label_target, &tr->Xt, &tr->yt, &tr->Tt));
  STEP(clt_tensor_create(ctx, tr->n, 1, CLT_INT32, &tr->perm));
  STEP(clt_tensor_create(ctx, B, tr->d, CLT_FLOAT32, &tr->Xb));
  STEP(tr->label_target
           ? clt_tensor_create(ctx, B, 1, CLT_INT32, &tr->yb)
           : clt_tensor_create(ctx, B, tr->c, CLT_FLOAT32, &tr->yb));
  STEP(clt_tensor_create(ctx, eval, tr->c, CLT_FLOAT32, &tr->S));
  STEP(clt_optimizer_create(ctx, &opt->optim, &tr->optim));
  /* W and b live in one flat group, zero-initialised, so an optimizer step
     is one launch; the bias gets neither weight decay nor a trust ratio. */
  size_t rows[2] = {tr->d, 1}, cols[2] = {tr->c, tr->c};
  clt_param_options popt[2] = {{0, 0}, {.no_weight_decay = 1, .no_trust_ratio = 1}};
  clt_tensor *params[2] = {NULL, NULL}, *grads[2] = {NULL, NULL};
  STEP(clt_optimizer_add_group(tr->optim, opt->bias ? 2 : 1, rows, cols, popt,
                               params, grads));
  tr->W = params[0];
  tr->dW = grads[0];
  tr->b = params[1];
  tr->db = grads[1];
  STEP(init_weights(tr));
#undef STEP
  if (st == CLT_OK) st = warm_up(tr);
  if (st != CLT_OK) {
    clt_trainer_destroy(tr);
    return st;
  }
  *out = tr;
  return CLT_OK;
}

const clt_optimizer *clt_trainer_optimizer(const clt_trainer *tr) { return tr->optim; }

size_t clt_trainer_epochs_done(const clt_trainer *tr) {
  return tr->epochs_done;
}

/* Fisher-Yates from the trainer's stream: the same seed gives the same
   sequence of epochs, resumed or not. */
static clt_status shuffle(clt_trainer *tr) {
  int32_t *p = tr->perm_host;
  for (size_t i = 0; i < tr->n; i++) p[i] = (int32_t)i;
  for (size_t i = tr->n - 1; i > 0; i--) {
    size_t j = (size_t)(clt_splitmix64(&tr->rng) % (i + 1));
    int32_t t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return clt_tensor_write(tr->perm, p, tr->n * 4);
}

/* Loss and gradient of the minibatch [first, first+rows) of this epoch's
   order, taken on the device: the fused step reads X's rows through the
   permutation, the other paths gather them into Xb / yb first. */
static clt_status batch_grad(clt_trainer *tr, size_t first, size_t rows,
                             double *loss) {
  clt_tensor *targets = tr->label_target ? tr->y : tr->T;
  clt_tensor *xb = tr->Xb, *yb = tr->yb;
  clt_status st = CLT_OK;
  if (rows < tr->opt.batch) {
    xb = yb = NULL;
    st = clt_tensor_view_rows(tr->Xb, 0, rows, &xb);
    if (st == CLT_OK) st = clt_tensor_view_rows(tr->yb, 0, rows, &yb);
  }
  if (st == CLT_OK)
    st = clt_linear_loss_grad_rows(tr->ctx, &tr->opt.loss, &tr->opt.reg, tr->X,
                                   targets, tr->perm, first, xb, yb, tr->W,
                                   tr->b, loss, tr->dW, tr->db);
  if (xb != tr->Xb) clt_tensor_destroy(xb);
  if (yb != tr->yb) clt_tensor_destroy(yb);
  return st;
}

static clt_status optimizer_step(clt_trainer *tr) {
  CLT_TRY(clt_optimizer_apply_schedule(tr->optim, &tr->opt.schedule, tr->step));
  CLT_TRY(clt_optimizer_step_all(tr->optim));
  tr->step++;
  return CLT_OK;
}

clt_status clt_trainer_evaluate(clt_trainer *tr, const clt_tensor *X,
                                const clt_tensor *y, double *loss,
                                double *accuracy) {
  clt_context *ctx = tr->ctx;
  size_t n = clt_tensor_rows(X), correct = 0;
  double total = 0;
  clt_loss_desc ld = tr->opt.loss;
  ld.reduction = CLT_REDUCTION_SUM;
  if (ld.kind == CLT_LOSS_KL_DIV) ld.reduction = CLT_REDUCTION_SUM;
  for (size_t first = 0; first < n; first += EVAL_CHUNK) {
    size_t rows = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
    clt_tensor *xv = NULL, *yv = NULL, *tv = NULL, *sv = NULL;
    clt_status st = clt_tensor_view_rows((clt_tensor *)X, first, rows, &xv);
    if (st == CLT_OK) st = clt_tensor_view_rows((clt_tensor *)y, first, rows, &yv);
    if (st == CLT_OK && !tr->label_target)
      st = clt_tensor_view_rows(X == tr->Xt ? tr->Tt : tr->T, first, rows, &tv);
    if (st == CLT_OK) st = clt_tensor_view_rows(tr->S, 0, rows, &sv);
    if (st == CLT_OK) st = clt_linear_forward(ctx, xv, tr->W, tr->b, sv);
    double l = 0;
    size_t ok = 0;
    if (st == CLT_OK) st = clt_loss(ctx, &ld, sv, tr->label_target ? yv : tv, &l, NULL);
    if (st == CLT_OK) st = clt_accuracy(ctx, sv, yv, &ok);
    clt_tensor_destroy(xv);
    clt_tensor_destroy(yv);
    clt_tensor_destroy(tv);
    clt_tensor_destroy(sv);
    if (st != CLT_OK) return st;
    total += l;
    correct += ok;
  }
  /* Back from the per-chunk sums to the loss's own reduction. */
  double denom = (double)n;
  if (tr->opt.loss.reduction == CLT_REDUCTION_MEAN && !tr->label_target)
    denom *= (double)tr->c;
  if (tr->opt.loss.reduction == CLT_REDUCTION_SUM) denom = 1;
  *loss = total / denom;
  *accuracy = (double)correct / (double)n;
  return CLT_OK;
}

/* Runs every kernel of a step and of an evaluation once, so that the
   device compiles them (POCL does at the first launch of each kernel) here
   and not inside the timed training phase. Changes no training state: the
   optimizer step goes to a throwaway optimizer of the same shapes. */
static clt_status warm_up(clt_trainer *tr) {
  clt_context *ctx = tr->ctx;
  for (size_t i = 0; i < tr->n; i++) tr->perm_host[i] = (int32_t)i;
  CLT_TRY(clt_tensor_write(tr->perm, tr->perm_host, tr->n * 4));
  size_t B = tr->opt.batch, last = tr->n % B;
  size_t sizes[2] = {B, last ? last : B};
  for (int k = 0; k < 2; k++) {
    double loss;
    CLT_TRY(batch_grad(tr, 0, sizes[k], &loss));
  }
  double loss, acc;
  CLT_TRY(clt_trainer_evaluate(tr, tr->Xt, tr->yt, &loss, &acc));
  clt_optimizer *scratch = NULL;
  clt_tensor *params[2] = {NULL, NULL}, *grads[2] = {NULL, NULL};
  size_t rows[2] = {tr->d, 1}, cols[2] = {tr->c, tr->c};
  clt_status st = clt_optimizer_create(ctx, &tr->opt.optim, &scratch);
  if (st == CLT_OK)
    st = clt_optimizer_add_group(scratch, tr->b ? 2 : 1, rows, cols, NULL,
                                 params, grads);
  if (st == CLT_OK) st = clt_optimizer_step_all(scratch);
  if (st == CLT_OK) st = clt_context_finish(ctx);
  for (int k = 0; k < 2; k++) {
    clt_tensor_destroy(params[k]);
    clt_tensor_destroy(grads[k]);
  }
  clt_optimizer_destroy(scratch);
  return st;
}

clt_status clt_trainer_epoch(clt_trainer *tr, clt_progress_fn progress,
                             void *user, clt_epoch_stats *stats) {
  clt_context *ctx = tr->ctx;
  double t0 = clt_now();
  CLT_TRY(shuffle(tr));
  size_t B = tr->opt.batch, steps = (tr->n + B - 1) / B;
  double loss_sum = 0;
  size_t loss_count = 0;
  for (size_t s = 0; s < steps; s++) {
    size_t first = s * B, rows = tr->n - first < B ? tr->n - first : B;
    double loss = 0;
    /* Every step's loss feeds the epoch's mean; reading it back is the
       only transfer of a step. */
    clt_status st = batch_grad(tr, first, rows, &loss);
    if (st == CLT_ERR_NONFINITE || (st == CLT_OK && !isfinite(loss)))
      return clt_fail(ctx, CLT_ERR_NONFINITE,
                      "training diverged at step %llu (epoch %zu, learning "
                      "rate %g): the loss is not finite; lower --lr (plain "
                      "SGD with a learning rate too large for the curvature "
                      "blows up), add warm-up, or clip gradients",
                      (unsigned long long)tr->step + 1, tr->epochs_done + 1,
                      clt_schedule_lr(&tr->opt.schedule, tr->step));
    CLT_TRY(st);
    CLT_TRY(optimizer_step(tr));
    loss_sum += loss;
    loss_count++;
    if (progress && (s % PROGRESS_EVERY == PROGRESS_EVERY - 1 || s + 1 == steps) &&
        progress(user, s + 1, steps, loss))
      break;
  }
  double test_loss = 0, acc = 0;
  CLT_TRY(clt_trainer_evaluate(tr, tr->Xt, tr->yt, &test_loss, &acc));
  if (!isfinite(test_loss))
    return clt_fail(ctx, CLT_ERR_NONFINITE,
                    "training diverged in epoch %zu (step %llu, learning rate "
                    "%g): the parameters are no longer finite; lower --lr",
                    tr->epochs_done + 1, (unsigned long long)tr->step,
                    clt_schedule_lr(&tr->opt.schedule, tr->step));
  tr->epochs_done++;
  double secs = clt_now() - t0;
  if (stats)
    *stats = (clt_epoch_stats){
        .epoch = tr->epochs_done,
        .step = tr->step,
        .train_loss = loss_count ? loss_sum / (double)loss_count : NAN,
        .test_loss = test_loss,
        .test_accuracy = acc,
        .seconds = secs,
        .samples_per_second = (double)tr->n / secs,
    };
  return CLT_OK;
}

/* ------------------------------------------------------ preprocessing */

clt_status clt_prep_fit(const clt_dataset *train, clt_preprocess mode,
                        float scale, clt_prep_stats *out) {
  *out = (clt_prep_stats){.mode = mode, .scale = scale, .d = train->d};
  if (mode == CLT_PREPROCESS_NONE) return CLT_OK;
  out->mean = calloc(train->d, sizeof *out->mean);
  out->std = calloc(train->d, sizeof *out->std);
  /* Statistics of the scaled features, which is what the model sees. */
  clt_dataset scaled = *train;
  scaled.x = out->mean && out->std ? malloc(train->n * train->d * sizeof *scaled.x) : NULL;
  if (!scaled.x) {
    clt_prep_free(out);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY,
                    "out of memory computing feature statistics");
  }
  memcpy(scaled.x, train->x, train->n * train->d * sizeof *scaled.x);
  clt_data_scale(&scaled, scale);
  clt_data_mean(&scaled, out->mean);
  if (mode == CLT_PREPROCESS_STANDARDIZE)
    clt_data_std(&scaled, out->mean, out->std);
  else
    for (size_t j = 0; j < train->d; j++) out->std[j] = 1.0;
  free(scaled.x);
  return CLT_OK;
}

void clt_prep_apply(const clt_prep_stats *st, clt_dataset *ds) {
  clt_data_scale(ds, st->scale);
  if (st->mode != CLT_PREPROCESS_NONE) clt_data_normalize(ds, st->mean, st->std);
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

/* --------------------------------------------------------- checkpoints */

/* Checkpoint format, version 1, every field little-endian:
     "CLTCKPT\0"  magic (8 bytes)
     u32 version, u32 D, u32 C, u32 loss kind, u32 optimizer kind, u32 bias
     u64 training rows, u64 batch, u64 epochs done, u64 step, u64 rng state
     u32 preprocessing mode, f64 scale, then (f64 mean, f64 std) for each
         of the D features unless the mode is none
     f32 W[D*C], f32 b[C] if bias
     u64 length, then the optimizer's own state record (optim_io.c)
     u32 CRC-32 of everything before it
   Models for `cltrain predict` are the same files. */
static const char CKPT_MAGIC[8] = {'C', 'L', 'T', 'C', 'K', 'P', 'T', 0};
#define CKPT_VERSION 1

static clt_status read_floats(clt_tensor *t, float **out) {
  size_t n = clt_tensor_numel(t);
  *out = malloc(n * sizeof **out);
  if (!*out) return clt_fail(t->ctx, CLT_ERR_OUT_OF_MEMORY, "checkpoint buffer");
  clt_status st = clt_tensor_read(t, *out, n * 4);
  if (st != CLT_OK) free(*out), *out = NULL;
  return st;
}

clt_status clt_trainer_save(clt_trainer *tr, const char *path) {
  clt_context *ctx = tr->ctx;
  clt_wbuf w = {0};
  float *W = NULL, *b = NULL;
  clt_status st = read_floats(tr->W, &W);
  if (st == CLT_OK && tr->b) st = read_floats(tr->b, &b);
  if (st != CLT_OK) {
    free(W);
    return st;
  }
  clt_wbuf_bytes(&w, CKPT_MAGIC, sizeof CKPT_MAGIC);
  clt_wbuf_u32(&w, CKPT_VERSION);
  clt_wbuf_u32(&w, (uint32_t)tr->d);
  clt_wbuf_u32(&w, (uint32_t)tr->c);
  clt_wbuf_u32(&w, (uint32_t)tr->opt.loss.kind);
  clt_wbuf_u32(&w, (uint32_t)tr->opt.optim.kind);
  clt_wbuf_u32(&w, tr->b != NULL);
  clt_wbuf_u64(&w, tr->n);
  clt_wbuf_u64(&w, tr->opt.batch);
  clt_wbuf_u64(&w, tr->epochs_done);
  clt_wbuf_u64(&w, tr->step);
  clt_wbuf_u64(&w, tr->rng);
  clt_wbuf_u32(&w, (uint32_t)tr->prep.mode);
  clt_wbuf_f64(&w, tr->prep.scale);
  if (tr->prep.mode != CLT_PREPROCESS_NONE)
    for (size_t j = 0; j < tr->d; j++) {
      clt_wbuf_f64(&w, tr->prep.mean[j]);
      clt_wbuf_f64(&w, tr->prep.std[j]);
    }
  clt_wbuf_f32s(&w, W, tr->d * tr->c);
  if (b) clt_wbuf_f32s(&w, b, tr->c);
  free(W);
  free(b);
  clt_wbuf state = {0};
  st = clt_optimizer_serialize(tr->optim, &state);
  if (st == CLT_OK) {
    clt_wbuf_u64(&w, state.len);
    clt_wbuf_bytes(&w, state.data, state.len);
  }
  clt_wbuf_free(&state);
  if (st == CLT_OK) st = clt_wbuf_commit(ctx, &w, path);
  clt_wbuf_free(&w);
  return st;
}

typedef struct ckpt_header {
  uint32_t d, c, loss, optim, bias;
  uint64_t n, batch, epochs, step, rng;
  clt_prep_stats prep;
  float *W, *b;
  const unsigned char *optim_state;
  size_t optim_len;
} ckpt_header;

static void ckpt_free(ckpt_header *h) {
  clt_prep_free(&h->prep);
  free(h->W);
  free(h->b);
}

/* Parses everything but the optimizer record of path's data; the detail
   (in ctx, or the thread's with ctx NULL) names path and the problem. */
static clt_status ckpt_parse(const clt_context *ctx, const char *path,
                             const unsigned char *data, size_t len,
                             ckpt_header *h) {
  clt_rbuf r = {.data = data, .len = len};
  char magic[8];
  memset(h, 0, sizeof *h);
  clt_rbuf_bytes(&r, magic, 8);
  if (memcmp(magic, CKPT_MAGIC, 8) != 0)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: not a cltrain checkpoint (bad magic)",
                    path);
  uint32_t version = clt_rbuf_u32(&r);
  if (version != CKPT_VERSION)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: checkpoint version %u, this build reads %d",
                    path, version, CKPT_VERSION);
  h->d = clt_rbuf_u32(&r);
  h->c = clt_rbuf_u32(&r);
  h->loss = clt_rbuf_u32(&r);
  h->optim = clt_rbuf_u32(&r);
  h->bias = clt_rbuf_u32(&r);
  h->n = clt_rbuf_u64(&r);
  h->batch = clt_rbuf_u64(&r);
  h->epochs = clt_rbuf_u64(&r);
  h->step = clt_rbuf_u64(&r);
  h->rng = clt_rbuf_u64(&r);
  h->prep.mode = (clt_preprocess)clt_rbuf_u32(&r);
  h->prep.scale = (float)clt_rbuf_f64(&r);
  h->prep.d = h->d;
  size_t dc = (size_t)h->d * h->c;
  if (r.short_read || h->d == 0 || h->c == 0 || h->bias > 1 ||
      h->prep.mode > CLT_PREPROCESS_STANDARDIZE ||
      dc * 4 > len - r.pos)
    return clt_fail(ctx, CLT_ERR_FORMAT,
                    "%s: truncated or inconsistent checkpoint header", path);
  if (h->prep.mode != CLT_PREPROCESS_NONE) {
    h->prep.mean = malloc(h->d * sizeof(double));
    h->prep.std = malloc(h->d * sizeof(double));
    if (!h->prep.mean || !h->prep.std)
      return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (size_t j = 0; j < h->d; j++) {
      h->prep.mean[j] = clt_rbuf_f64(&r);
      h->prep.std[j] = clt_rbuf_f64(&r);
    }
  }
  h->W = malloc(dc * sizeof(float));
  h->b = malloc(h->c * sizeof(float));
  if (!h->W || !h->b)
    return clt_fail(ctx, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  clt_rbuf_f32s(&r, h->W, dc);
  if (h->bias) clt_rbuf_f32s(&r, h->b, h->c);
  h->optim_len = (size_t)clt_rbuf_u64(&r);
  if (r.short_read || h->optim_len != len - r.pos)
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: truncated checkpoint", path);
  /* A CRC-valid file can still hold values no training writes: refused
     here rather than run into NaN scores. */
  if (!(isfinite(h->prep.scale) && h->prep.scale > 0))
    return clt_fail(ctx, CLT_ERR_FORMAT,
                    "%s: preprocessing scale %g is not a positive number", path,
                    (double)h->prep.scale);
  for (size_t j = 0; h->prep.mean && j < h->d; j++)
    if (!isfinite(h->prep.mean[j]) || !(isfinite(h->prep.std[j]) && h->prep.std[j] >= 0))
      return clt_fail(ctx, CLT_ERR_FORMAT,
                      "%s: feature %zu's statistics (mean %g, std %g) are not finite",
                      path, j, h->prep.mean[j], h->prep.std[j]);
  for (size_t k = 0; k < dc; k++)
    if (!isfinite(h->W[k]))
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: W[%zu] = %g is not finite", path, k,
                      (double)h->W[k]);
  for (size_t k = 0; h->bias && k < h->c; k++)
    if (!isfinite(h->b[k]))
      return clt_fail(ctx, CLT_ERR_FORMAT, "%s: b[%zu] = %g is not finite", path, k,
                      (double)h->b[k]);
  h->optim_state = data + r.pos;
  return CLT_OK;
}

static clt_status ckpt_read(const clt_context *ctx, const char *path,
                            unsigned char **data, ckpt_header *h) {
  size_t len;
  CLT_TRY(clt_file_load(ctx, path, data, &len));
  clt_status st = ckpt_parse(ctx, path, *data, len, h);
  if (st != CLT_OK) {
    ckpt_free(h);
    free(*data);
  }
  return st;
}

clt_status clt_trainer_load(clt_trainer *tr, const char *path) {
  clt_context *ctx = tr->ctx;
  unsigned char *data = NULL;
  ckpt_header h;
  CLT_TRY(ckpt_read(ctx, path, &data, &h));
  clt_status st = CLT_OK;
  if (h.d != tr->d || h.c != tr->c || h.n != tr->n)
    st = clt_fail(ctx, CLT_ERR_FORMAT,
                  "%s was trained on %llu rows of %u features and %u classes, "
                  "this data set has %zu rows of %zu features and %zu classes",
                  path, (unsigned long long)h.n, h.d, h.c, tr->n, tr->d, tr->c);
  else if (h.loss != (uint32_t)tr->opt.loss.kind ||
           h.optim != (uint32_t)tr->opt.optim.kind ||
           h.bias != (tr->b != NULL) || h.batch != tr->opt.batch)
    st = clt_fail(ctx, CLT_ERR_FORMAT,
                  "%s was written with another loss, optimizer, batch size or "
                  "bias setting (loss %u, optimizer %u, batch %llu, bias %u)",
                  path, h.loss, h.optim, (unsigned long long)h.batch, h.bias);
  else if (h.epochs > tr->opt.epochs)
    st = clt_fail(ctx, CLT_ERR_INVALID_ARG,
                  "%s already has %llu epochs, more than the %zu asked for",
                  path, (unsigned long long)h.epochs, tr->opt.epochs);
  /* The optimizer checks its own record and changes nothing if it fails;
     after it, only writes of already validated weights remain. */
  if (st == CLT_OK)
    st = clt_optimizer_deserialize(tr->optim, path, h.optim_state, h.optim_len);
  if (st == CLT_OK) st = clt_tensor_write(tr->W, h.W, (size_t)h.d * h.c * 4);
  if (st == CLT_OK && tr->b) st = clt_tensor_write(tr->b, h.b, h.c * 4);
  if (st == CLT_OK) {
    tr->epochs_done = h.epochs;
    tr->step = h.step;
    tr->rng = h.rng;
  }
  ckpt_free(&h);
  free(data);
  return st;
}

clt_status clt_model_load(const char *path, clt_model *out) {
  unsigned char *data = NULL;
  ckpt_header h;
  CLT_TRY(ckpt_read(NULL, path, &data, &h));
  free(data);
  if (!h.bias) memset(h.b, 0, h.c * sizeof(float));
  *out = (clt_model){.d = h.d, .c = h.c, .loss = (clt_loss_kind)h.loss,
                     .W = h.W, .b = h.b, .prep = h.prep};
  return CLT_OK;
}

void clt_model_free(clt_model *m) {
  free(m->W);
  free(m->b);
  clt_prep_free(&m->prep);
}
