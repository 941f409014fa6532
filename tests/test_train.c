/* The trainer: learning, divergence, determinism, checkpoints and resume. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "testutil.h"
#include "checkpoint.h"
#include "train.h"

typedef struct run {
  clt_dataset train, test;
  clt_prep_stats prep;
} run;

static void make_data(run *r, size_t n, size_t d, size_t c, uint64_t seed) {
  memset(r, 0, sizeof *r);
  cr_assert_eq(clt_data_synthetic(n, d, c, seed, &r->train, &r->test), CLT_OK,
               "%s", clt_last_error(NULL));
  cr_assert_eq(clt_prep_fit(&r->train, CLT_PREPROCESS_STANDARDIZE, 1.0f,
                            &r->prep),
               CLT_OK);
  cr_assert_eq(clt_prep_apply(&r->prep, &r->train), CLT_OK);
  cr_assert_eq(clt_prep_apply(&r->prep, &r->test), CLT_OK);
}

static void free_data(run *r) {
  clt_dataset_free(&r->train);
  clt_dataset_free(&r->test);
  clt_prep_free(&r->prep);
}

static clt_train_options options(clt_loss_kind loss, clt_optim_kind optim,
                                 double lr, size_t batch, size_t epochs,
                                 size_t n) {
  clt_train_options o = {0};
  o.loss = clt_loss_defaults(loss);
  o.optim = clt_optim_defaults(optim);
  o.optim.lr = (float)lr;
  o.batch = batch;
  o.epochs = epochs;
  o.seed = 11;
  o.bias = true;
  o.init_std = 0.001;
  size_t steps = (n + batch - 1) / batch * epochs;
  o.schedule = (clt_schedule){.kind = CLT_SCHEDULE_COSINE, .base_lr = lr,
                              .warmup_steps = steps / 10, .total_steps = steps};
  return o;
}

static clt_trainer *trainer(clt_context *ctx, const clt_train_options *o,
                            run *r) {
  clt_trainer *tr = NULL;
  const clt_train_data train = clt_train_data_of(&r->train), test = clt_train_data_of(&r->test);
  cr_assert_eq(clt_trainer_create(ctx, o, &train, &test, &tr), CLT_OK,
               "%s", clt_last_error(ctx));
  clt_trainer_set_prep(tr, &r->prep);
  return tr;
}

static clt_epoch_stats epochs(clt_trainer *tr, size_t count) {
  clt_epoch_stats es = {0};
  for (size_t e = 0; e < count; e++)
    cr_assert_eq(clt_trainer_epoch(tr, NULL, NULL, &es), CLT_OK);
  return es;
}

static unsigned char *slurp(const char *path, size_t *len) {
  unsigned char *data = NULL;
  cr_assert_eq(clt_file_load(NULL, path, &data, len), CLT_OK, "%s",
               clt_last_error(NULL));
  return data;
}

/* A test's folder for its files, made at its first temp_path and removed
   when it ends. */
static char dir[] = "/tmp/clt-train-XXXXXX";
static bool made;

static void teardown(void) {
  if (made) tu_rm_tree(dir);
}

TestSuite(train, .fini = teardown);

static char *temp_path(const char *name) {
  if (!made) {
    cr_assert_not_null(mkdtemp(dir));
    made = true;
  }
  char *p = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(p, "%s/%s", dir, name);
  return p;
}

Test(train, learns_separable_blobs_with_every_loss_family) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r;
  make_data(&r, 3000, 24, 5, 3);
  const struct {
    clt_loss_kind loss;
    clt_optim_kind optim;
    double lr;
  } cases[] = {{CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAMW, 1e-2},
               {CLT_LOSS_HINGE, CLT_OPTIM_SGD, 1e-2},
               {CLT_LOSS_MSE, CLT_OPTIM_ADAM, 1e-2},
               {CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_LAMB, 5e-2}};
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      clt_train_options o = options(cases[k].loss, cases[k].optim,
                                    cases[k].lr, 64, 6, r.train.n);
      clt_trainer *tr = trainer(ctx, &o, &r);
      clt_epoch_stats es = epochs(tr, 6);
      /* The blobs' class means are 3 apart in norm with unit noise in 24
         dimensions: a linear model separates them almost perfectly. */
      cr_assert_geq(es.test_accuracy, 0.93, "%s case %zu: accuracy %.4f",
                    specs[d], k, es.test_accuracy);
      cr_assert_eq(es.epoch, 6);
      cr_assert_eq(es.step, 6 * ((r.train.n + 63) / 64));
      cr_assert(es.train_loss > 0 && es.test_loss > 0);
      clt_trainer_destroy(tr);
    }
    clt_context_destroy(ctx);
  }
  free_data(&r);
}

/* init_std 0 starts from W = 0, b = 0: every class scores 0, so the
   cross-entropy is exactly ln C before any step (PyTorch's zeros_ start);
   the CLI's 0.001 N(0, 1) start is measurably off it. A negative or NaN
   init_std is refused. */
Test(train, initial_weights_follow_init_std) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r;
  make_data(&r, 500, 40, 7, 9);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    const clt_train_options base =
        options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAMW, 1e-3, 50, 1, r.train.n);
    const double stds[] = {0.0, 0.001};
    for (size_t k = 0; k < 2; k++) {
      clt_train_options o = base;
      o.init_std = stds[k];
      clt_trainer *tr = trainer(ctx, &o, &r);
      clt_tensor *Xt = tu_tensor(ctx, r.test.n, r.test.d, r.test.x);
      clt_tensor *yt = tu_labels(ctx, r.test.n, r.test.y);
      double loss = 0, acc = 0;
      cr_assert_eq(clt_trainer_evaluate(tr, Xt, yt, &loss, &acc), CLT_OK);
      double gap = fabs(loss - log(7.0));
      if (k == 0)
        cr_assert_leq(gap, 1e-6, "%s: zero start loss %.9f, ln 7 = %.9f",
                      specs[d], loss, log(7.0));
      else
        cr_assert_gt(gap, 1e-6, "%s: 0.001 N(0,1) start gave exactly ln 7",
                     specs[d]);
      clt_tensor_destroy(Xt);
      clt_tensor_destroy(yt);
      clt_trainer_destroy(tr);
    }
    const double bad[] = {-1e-3, NAN};
    for (size_t k = 0; k < 2; k++) {
      clt_train_options o = base;
      o.init_std = bad[k];
      clt_trainer *tr = NULL;
      const clt_train_data train = clt_train_data_of(&r.train), test = clt_train_data_of(&r.test);
      cr_assert_eq(clt_trainer_create(ctx, &o, &train, &test, &tr), CLT_ERR_INVALID_ARG);
      cr_assert_null(tr);
      cr_assert(strstr(clt_last_error(ctx), "init_std"), "%s", clt_last_error(ctx));
    }
    clt_context_destroy(ctx);
  }
  free_data(&r);
}

Test(train, divergence_is_caught_and_named) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r;
  make_data(&r, 1000, 16, 3, 5);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    /* Plain SGD with lr = 10 on a quadratic (MSE) blows up. */
    clt_train_options o =
        options(CLT_LOSS_MSE, CLT_OPTIM_SGD, 10.0, 50, 5, r.train.n);
    o.schedule.kind = CLT_SCHEDULE_CONSTANT;
    o.schedule.warmup_steps = 0;
    clt_trainer *tr = trainer(ctx, &o, &r);
    clt_status st = CLT_OK;
    for (int e = 0; e < 5 && st == CLT_OK; e++)
      st = clt_trainer_epoch(tr, NULL, NULL, NULL);
    cr_assert_eq(st, CLT_ERR_NONFINITE, "%s: %s", specs[d],
                 clt_status_str(st));
    const char *err = clt_last_error(ctx);
    cr_assert_not_null(strstr(err, "diverged at step"), "%s", err);
    cr_assert_not_null(strstr(err, "learning rate 10"), "%s", err);
    cr_assert_lt(clt_trainer_epochs_done(tr), 5, "stopped early");
    clt_trainer_destroy(tr);
    clt_context_destroy(ctx);
  }
  free_data(&r);
}

/* Where the fused step takes the batch, its loss stays on the device and
   is read every 16 steps: a divergence is still reported with its own
   step, the same on every backend (the reference reads each step's loss).
   One row holds features of 3e38: after the step that draws it, the
   weights are so large that the scores overflow, at step 58 of this
   seed's order (inside the fourth window of 16). */
/* An epoch of tr that must stop on a non-finite loss, reported with
   "diverged at step " then want; the first device's report is kept in
   first (empty before it), and every later one must read the same. */
static void expect_divergence(clt_trainer *tr, clt_context *ctx, const char *spec,
                              const char *want, char first[512]) {
  clt_status st = clt_trainer_epoch(tr, NULL, NULL, NULL);
  cr_assert_eq(st, CLT_ERR_NONFINITE, "%s: %s", spec, clt_last_error(ctx));
  const char *err = clt_last_error(ctx);
  char needle[64];
  snprintf(needle, sizeof needle, "diverged at step %s", want);
  cr_assert_not_null(strstr(err, needle), "%s: %s", spec, err);
  if (!first[0]) snprintf(first, 512, "%s", err);
  else cr_assert_str_eq(err, first, "the same report on every backend");
}

/* The host's waits for the device recorded in ctx (record_timings) since
   its timings were last reset. */
static uint64_t device_waits(clt_context *ctx) {
  clt_timing v[256];
  size_t n = 0;
  cr_assert_eq(clt_context_timings(ctx, v, 256, &n), CLT_OK);
  uint64_t waits = 0;
  for (size_t i = 0; i < n && i < 256; i++)
    if (v[i].kind == CLT_TIMING_WAIT) waits += v[i].count;
  return waits;
}

Test(train, deferred_losses_report_the_step_that_diverged) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r;
  make_data(&r, 1000, 16, 3, 5);
  for (size_t j = 0; j < 16; j++) r.train.x[5 * 16 + j] = 3e38f;
  char first[512] = "";
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_SGD, 1.0, 10, 1, r.train.n);
    clt_trainer *tr = trainer(ctx, &o, &r);
    expect_divergence(tr, ctx, specs[d], "58 ", first);
    clt_trainer_destroy(tr);
    clt_context_destroy(ctx);
  }
  free_data(&r);
}

/* An epoch makes no blocking call per step, on the fused path
   (cross-entropy) and the composition (MSE): 100 steps wait for the device
   about 100 / 16 times, plus the evaluation's. */
Test(train, steps_do_not_wait_for_the_device) {
  if (!tu_have_opencl()) return;
  run r;
  make_data(&r, 1000, 16, 3, 5);
  const clt_loss_kind kinds[] = {CLT_LOSS_CROSS_ENTROPY, CLT_LOSS_MSE};
  for (size_t k = 0; k < 2; k++) {
    clt_context *ctx = tu_context_with("cl", (clt_context_options){.record_timings = 1});
    clt_train_options o = options(kinds[k], CLT_OPTIM_ADAMW, 0.01, 10, 1, r.train.n);
    clt_trainer *tr = trainer(ctx, &o, &r);
    cr_assert_eq(clt_context_timings_reset(ctx), CLT_OK);
    clt_epoch_stats es = epochs(tr, 1);
    cr_assert(isfinite(es.train_loss) && es.train_loss < es.first_loss, "%g %g",
              es.train_loss, es.first_loss);
    uint64_t waits = device_waits(ctx);
    cr_assert_leq(waits, 16, "loss %d: %llu waits in an epoch of 100 steps", (int)kinds[k],
                  (unsigned long long)waits);
    clt_trainer_destroy(tr);
    clt_context_destroy(ctx);
  }
  free_data(&r);
}

/* Trains count epochs and saves a checkpoint; returns the file's bytes. */
static unsigned char *train_and_save(const char *spec, run *r,
                                     const clt_train_options *o, size_t count,
                                     const char *resume, const char *path,
                                     size_t *len) {
  clt_context *ctx = tu_context(spec);
  clt_trainer *tr = trainer(ctx, o, r);
  if (resume)
    cr_assert_eq(clt_trainer_load(tr, resume), CLT_OK, "%s",
                 clt_last_error(ctx));
  epochs(tr, count);
  cr_assert_eq(clt_trainer_save(tr, path), CLT_OK, "%s", clt_last_error(ctx));
  clt_trainer_destroy(tr);
  clt_context_destroy(ctx);
  return slurp(path, len);
}

Test(train, resume_is_bit_identical_and_runs_are_deterministic) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r;
  make_data(&r, 1000, 20, 4, 7);
  char *straight = temp_path("straight.ckpt"), *half = temp_path("half.ckpt");
  char *resumed = temp_path("resumed.ckpt"), *again = temp_path("again.ckpt");
  const clt_optim_kind kinds[] = {CLT_OPTIM_NADAM, CLT_OPTIM_LARS};
  for (size_t d = 0; d < nd; d++)
    for (size_t k = 0; k < 2; k++) {
      /* 100 rows a batch: the last batch of each epoch is a partial one. */
      clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, kinds[k], 1e-2,
                                    96, 4, r.train.n);
      size_t la, lb, lc;
      unsigned char *a = train_and_save(specs[d], &r, &o, 4, NULL, straight, &la);
      unsigned char *b = train_and_save(specs[d], &r, &o, 2, NULL, half, &lb);
      free(b);
      b = train_and_save(specs[d], &r, &o, 2, half, resumed, &lb);
      cr_assert_eq(la, lb);
      cr_assert(memcmp(a, b, la) == 0,
                "%s: 4 epochs straight and 2 + 2 resumed differ", specs[d]);
      unsigned char *c = train_and_save(specs[d], &r, &o, 4, NULL, again, &lc);
      cr_assert(lc == la && memcmp(a, c, la) == 0,
                "%s: the same seed gave another result", specs[d]);
      free(c);
      o.seed = 12;
      c = train_and_save(specs[d], &r, &o, 4, NULL, again, &lc);
      cr_assert(lc != la || memcmp(a, c, la) != 0,
                "%s: another seed gave the same result", specs[d]);
      free(a);
      free(b);
      free(c);
    }
  free(straight), free(half), free(resumed), free(again);
  free_data(&r);
}

Test(train, checkpoints_of_another_setup_are_refused) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r, other;
  make_data(&r, 500, 12, 3, 9);
  make_data(&other, 500, 13, 3, 9);
  char *path = temp_path("refuse.ckpt"), *bad = temp_path("bad.ckpt");
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_train_options o =
        options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAM, 1e-2, 50, 3, 500);
    clt_trainer *tr = trainer(ctx, &o, &r);
    epochs(tr, 1);
    cr_assert_eq(clt_trainer_save(tr, path), CLT_OK);
    clt_trainer_destroy(tr);

    /* Another optimizer. */
    clt_train_options o2 = o;
    o2.optim = clt_optim_defaults(CLT_OPTIM_SGD);
    tr = trainer(ctx, &o2, &r);
    cr_assert_eq(clt_trainer_load(tr, path), CLT_ERR_FORMAT);
    cr_assert_not_null(strstr(clt_last_error(ctx), "optimizer"), "%s",
                       clt_last_error(ctx));
    cr_assert_eq(clt_trainer_epochs_done(tr), 0);
    clt_trainer_destroy(tr);
    /* Another data shape. */
    tr = trainer(ctx, &o, &other);
    cr_assert_eq(clt_trainer_load(tr, path), CLT_ERR_FORMAT);
    cr_assert_not_null(strstr(clt_last_error(ctx), "features"), "%s",
                       clt_last_error(ctx));
    clt_trainer_destroy(tr);
    /* A flipped byte and a truncated file. */
    size_t len;
    unsigned char *data = slurp(path, &len);
    free(data);
    FILE *f = fopen(path, "rb");
    unsigned char *raw = malloc(len + 4);
    cr_assert_eq(fread(raw, 1, len + 4, f), len + 4);
    fclose(f);
    raw[len / 2] ^= 0x10;
    f = fopen(bad, "wb");
    fwrite(raw, 1, len + 4, f);
    fclose(f);
    tr = trainer(ctx, &o, &r);
    cr_assert_eq(clt_trainer_load(tr, bad), CLT_ERR_FORMAT);
    raw[len / 2] ^= 0x10;
    f = fopen(bad, "wb");
    fwrite(raw, 1, len / 2, f);
    fclose(f);
    cr_assert_eq(clt_trainer_load(tr, bad), CLT_ERR_FORMAT);
    cr_assert_eq(clt_trainer_load(tr, "/nonexistent/dir/x.ckpt"), CLT_ERR_IO);
    /* Still trains from scratch after the refusals. */
    cr_assert_eq(clt_trainer_epochs_done(tr), 0);
    epochs(tr, 1);
    free(raw);
    clt_trainer_destroy(tr);
    clt_context_destroy(ctx);
  }
  free(path), free(bad);
  free_data(&r);
  free_data(&other);
}

Test(train, saved_models_load_for_prediction) {
  run r;
  make_data(&r, 400, 6, 3, 13);
  char *path = temp_path("model.ckpt");
  clt_context *ctx = tu_context("ref");
  clt_train_options o =
      options(CLT_LOSS_HINGE, CLT_OPTIM_ADAM, 1e-2, 40, 2, 400);
  clt_trainer *tr = trainer(ctx, &o, &r);
  epochs(tr, 2);
  cr_assert_eq(clt_trainer_save(tr, path), CLT_OK);
  clt_trainer_destroy(tr);
  clt_context_destroy(ctx);
  clt_checkpoint m;
  cr_assert_eq(clt_checkpoint_load(NULL, path, &m), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert_eq(m.version, CLT_CHECKPOINT_VERSION);
  cr_assert_str_eq(m.kind->name, "linear");
  cr_assert_eq(m.d, 6);
  cr_assert_eq(m.c, 3);
  cr_assert_eq(m.loss, CLT_LOSS_HINGE);
  cr_assert_eq(m.optim, CLT_OPTIM_ADAM);
  cr_assert_eq(m.epochs, 2);
  cr_assert_eq(m.prep.mode, CLT_PREPROCESS_STANDARDIZE);
  for (size_t j = 0; j < 6; j++) {
    cr_assert_eq(m.prep.mean[j], r.prep.mean[j]);
    cr_assert_eq(m.prep.std[j], r.prep.std[j]);
  }
  /* Every tensor by name and shape: W (D,C), then b (1,C). */
  cr_assert_eq(m.ntensors, 2);
  cr_assert_str_eq(m.tensor[0].name, "W");
  cr_assert(m.tensor[0].rows == 6 && m.tensor[0].cols == 3);
  cr_assert_str_eq(m.tensor[1].name, "b");
  cr_assert(m.tensor[1].rows == 1 && m.tensor[1].cols == 3);
  clt_checkpoint_free(&m);
  cr_assert_eq(clt_checkpoint_load(NULL, "/nonexistent", &m), CLT_ERR_IO);
  cr_assert_not_null(strstr(clt_last_error(NULL), "/nonexistent: cannot open"), "%s",
                     clt_last_error(NULL));
  free(path);
  free_data(&r);
}


/* Scores whose squared errors are finite one row at a time but overflow
   the evaluation's sum: the epoch reports the documented divergence, not
   the loss op's own text. The checkpoint of a run at lr 0 gets W's first
   column set to 1.2e18 (the minibatches of one row stay below FLT_MAX, the
   200 test rows' sum does not). */
Test(train, divergence_found_by_the_evaluation_is_reported_as_such) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  run r;
  make_data(&r, 1000, 4, 3, 5);
  char *path = temp_path("overflow.ckpt");
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_train_options o = options(CLT_LOSS_MSE, CLT_OPTIM_SGD, 0.0, 1, 2, 1000);
    clt_trainer *tr = trainer(ctx, &o, &r);
    epochs(tr, 1);
    cr_assert_eq(clt_trainer_save(tr, path), CLT_OK);
    clt_trainer_destroy(tr);
    clt_checkpoint ck;
    cr_assert_eq(clt_checkpoint_load(NULL, path, &ck), CLT_OK, "%s", clt_last_error(NULL));
    for (size_t j = 0; j < 4; j++) ck.tensor[0].data[j * 3] = 1.2e18f;
    cr_assert_eq(clt_checkpoint_save(NULL, path, &ck, ck.optim_state, ck.optim_len), CLT_OK);
    clt_checkpoint_free(&ck);
    tr = trainer(ctx, &o, &r);
    cr_assert_eq(clt_trainer_load(tr, path), CLT_OK, "%s", clt_last_error(ctx));
    cr_assert_eq(clt_trainer_epoch(tr, NULL, NULL, NULL), CLT_ERR_NONFINITE, "%s",
                 clt_last_error(ctx));
    cr_assert_not_null(strstr(clt_last_error(ctx), "training diverged in epoch 2"), "%s: %s",
                       specs[d], clt_last_error(ctx));
    clt_trainer_destroy(tr);
    clt_context_destroy(ctx);
  }
  free(path);
  free_data(&r);
}

/* n rows of d >= c features uniform in [-spread, spread], row i of class
   i % c with shift added to its class's feature. */
static clt_train_data class_rows(float *x, int32_t *y, size_t n, size_t d, size_t c,
                                 float spread, float shift) {
  for (size_t i = 0; i < n; i++) {
    y[i] = (int32_t)(i % c);
    tu_fill_uniform(x + i * d, d, (uint64_t)i + 1, -spread, spread);
    x[i * d + (size_t)y[i]] += shift;
  }
  return (clt_train_data){.n = n, .d = d, .classes = c, .x = x, .y = y};
}

/* The public trainer from host arrays alone: a test set is optional (its
   figures NaN without one), labels outside [0, classes) are refused before
   anything is uploaded, and the parameters come back as trained. */
Test(train, public_trainer_from_host_arrays) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 90, D = 3, C = 3 };
  float x[N * D];
  int32_t y[N];
  const clt_train_data data = class_rows(x, y, N, D, C, 0.5f, 3.0f);
  for (size_t s = 0; s < nd; s++) {
    clt_context *ctx = tu_context(specs[s]);
    clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAM, 0.05, 16, 5, N);
    clt_trainer *tr = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &data, NULL, &tr), CLT_OK, "%s",
                 clt_last_error(ctx));
    clt_epoch_stats st;
    for (int e = 0; e < 5; e++)
      cr_assert_eq(clt_trainer_epoch(tr, NULL, NULL, &st), CLT_OK, "%s", clt_last_error(ctx));
    cr_assert(isnan(st.test_loss) && isnan(st.test_accuracy), "no test set, no figures");
    cr_assert(st.train_loss < 0.5 * st.first_loss, "trained: %g from %g", st.train_loss,
              st.first_loss);
    cr_assert_eq(clt_trainer_epochs_done(tr), 5);
    float W[D * C], b[C];
    cr_assert_eq(clt_trainer_params(tr, W, b), CLT_OK);
    for (int k = 0; k < C; k++) /* each class's own feature weighs most for it */
      for (int j = 0; j < C; j++)
        if (j != k) cr_assert_gt(W[k * C + k], W[k * C + j], "W[%d][%d]", k, j);
    /* parameters set are the ones read, and NULL b is zeros */
    float W2[D * C], b2[C] = {1, 1, 1};
    for (int i = 0; i < D * C; i++) W2[i] = (float)i;
    cr_assert_eq(clt_trainer_set_params(tr, W2, NULL), CLT_OK);
    cr_assert_eq(clt_trainer_params(tr, W, b2), CLT_OK);
    cr_assert_eq(memcmp(W, W2, sizeof W), 0);
    for (int k = 0; k < C; k++) cr_assert_eq(b2[k], 0.0f);
    clt_trainer_destroy(tr);

    int32_t bad[N];
    memcpy(bad, y, sizeof bad);
    bad[7] = C;
    const clt_train_data wrong = {.n = N, .d = D, .classes = C, .x = x, .y = bad};
    tr = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &wrong, NULL, &tr), CLT_ERR_LABEL);
    cr_assert_null(tr);
    cr_assert(strstr(clt_last_error(ctx), "label 3 at row 7"), "%s", clt_last_error(ctx));
    cr_assert_eq(clt_trainer_create(ctx, &o, &data, &wrong, &tr), CLT_ERR_LABEL);
    cr_assert(strstr(clt_last_error(ctx), "test set"), "%s", clt_last_error(ctx));
    clt_context_destroy(ctx);
  }
}

/* An evaluation's loss is PyTorch's F.cross_entropy(S, y, weight=w,
   ignore_index=2): the weighted mean over the rows not ignored, over more
   rows than one chunk of the evaluation (every chunk's part of the divisor
   summed), against the formula in double on the trained parameters. */
Test(train, evaluation_loss_divides_as_pytorch, .timeout = 120) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 9000, D = 4, C = 3 };
  float *x = malloc(N * D * sizeof *x), W[D * C], b[C];
  int32_t *y = malloc(N * sizeof *y);
  const float weight[C] = {1.0f, 3.0f, 0.5f};
  cr_assert(x && y);
  const clt_train_data data = class_rows(x, y, N, D, C, 1.0f, 0.5f);
  for (size_t s = 0; s < nd; s++) {
    clt_context *ctx = tu_context(specs[s]);
    clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_SGD, 0.1, 256, 1, N);
    o.class_weight = weight;
    o.loss.ignore_index = 2;
    clt_trainer *tr = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &data, &data, &tr), CLT_OK, "%s",
                 clt_last_error(ctx));
    cr_assert_eq(clt_trainer_epoch(tr, NULL, NULL, NULL), CLT_OK, "%s", clt_last_error(ctx));
    double loss, accuracy, num = 0, den = 0;
    cr_assert_eq(clt_trainer_evaluate_split(tr, CLT_SPLIT_TEST, &loss, &accuracy), CLT_OK);
    cr_assert_eq(clt_trainer_params(tr, W, b), CLT_OK);
    for (int i = 0; i < N; i++) {
      if (y[i] == 2) continue;
      double sc[C], top = -INFINITY, z = 0;
      for (int c = 0; c < C; c++) {
        sc[c] = b[c];
        for (int j = 0; j < D; j++) sc[c] += (double)x[i * D + j] * W[j * C + c];
        top = fmax(top, sc[c]);
      }
      for (int c = 0; c < C; c++) z += exp(sc[c] - top);
      num += weight[y[i]] * (top + log(z) - sc[y[i]]);
      den += weight[y[i]];
    }
    const double want = num / den;
    cr_assert_leq(fabs(loss - want), 1e-5 * fabs(want), "%s: loss %.9g, want %.9g", specs[s],
                  loss, want);
    clt_trainer_destroy(tr);
    clt_context_destroy(ctx);
  }
  free(x);
  free(y);
}

/* Regression through the public trainer: target values instead of labels
   (mse, one output, no labels: accuracy NaN) fit a linear function; a
   non-finite target, or no targets, is refused. */
Test(train, public_trainer_fits_target_values) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 200, D = 3 };
  float x[N * D], t[N];
  for (int i = 0; i < N; i++) {
    tu_fill_uniform(x + i * D, D, (uint64_t)i + 7, -1.0f, 1.0f);
    t[i] = 2.0f * x[i * D] - x[i * D + 1] + 0.5f;
  }
  const clt_train_data data = {.n = N, .d = D, .classes = 1, .x = x, .t = t};
  for (size_t s = 0; s < nd; s++) {
    clt_context *ctx = tu_context(specs[s]);
    clt_train_options o = options(CLT_LOSS_MSE, CLT_OPTIM_ADAM, 0.05, 20, 60, N);
    clt_trainer *tr = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &data, &data, &tr), CLT_OK, "%s",
                 clt_last_error(ctx));
    clt_epoch_stats st;
    for (int e = 0; e < 60; e++)
      cr_assert_eq(clt_trainer_epoch(tr, NULL, NULL, &st), CLT_OK, "%s", clt_last_error(ctx));
    cr_assert(isnan(st.test_accuracy), "no labels, no accuracy");
    cr_assert_lt(st.test_loss, 1e-3, "mse %g", st.test_loss);
    float W[D], b[1];
    cr_assert_eq(clt_trainer_params(tr, W, b), CLT_OK);
    const float want[D + 1] = {2.0f, -1.0f, 0.0f, 0.5f};
    for (int j = 0; j < D; j++) cr_assert_lt(fabsf(W[j] - want[j]), 0.05f, "W[%d] %g", j, W[j]);
    cr_assert_lt(fabsf(b[0] - want[D]), 0.05f, "b %g", b[0]);
    clt_trainer_destroy(tr);

    float bad[N];
    memcpy(bad, t, sizeof bad);
    bad[5] = NAN;
    const clt_train_data nan_data = {.n = N, .d = D, .classes = 1, .x = x, .t = bad};
    tr = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &nan_data, NULL, &tr), CLT_ERR_NONFINITE);
    const clt_train_data none = {.n = N, .d = D, .classes = 1, .x = x};
    cr_assert_eq(clt_trainer_create(ctx, &o, &none, NULL, &tr), CLT_ERR_INVALID_ARG);
    cr_assert(strstr(clt_last_error(ctx), "no labels or target values"), "%s",
              clt_last_error(ctx));
    clt_context_destroy(ctx);
  }
}

/* data's rows, dense. */
static float *densify(const clt_dataset *ds) {
  float *x = calloc(ds->n * ds->d, sizeof *x);
  cr_assert_not_null(x);
  for (size_t i = 0; i < ds->n; i++)
    for (int64_t k = ds->ptr[i]; k < ds->ptr[i + 1]; k++) x[i * ds->d + (size_t)ds->col[k]] = ds->val[k];
  return x;
}

/* W and b after training on train with o; test evaluated on the way. */
static void train_params(clt_context *ctx, const clt_train_options *o, const clt_train_data *train,
                         const clt_train_data *test, float *W, float *b, clt_epoch_stats *es) {
  clt_trainer *tr = NULL;
  cr_assert_eq(clt_trainer_create(ctx, o, train, test, &tr), CLT_OK, "%s", clt_last_error(ctx));
  *es = epochs(tr, o->epochs);
  cr_assert_eq(clt_trainer_params(tr, W, b), CLT_OK);
  clt_trainer_destroy(tr);
}

/* Sparse rows (the planted-model generator's) train to the same model as
   the same rows held densely, to float32 rounding (the sums run over the
   nonzeros alone, in another order), on every device, for a loss that
   takes labels and one that takes values; a sparse run is bit-for-bit
   reproducible; and the model learns the planted one. Tolerance: after 33
   steps the weights of the two runs differ by rounding amplified by the
   steps, measured at most 2e-6 here; we allow 2e-5 + 1e-4 |w|. */
Test(train, sparse_rows_train_as_dense_ones, .timeout = 300) {
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_synthetic_sparse(700, 300, 4, 12, 3, &tr, &te), CLT_OK, "%s",
               clt_last_error(NULL));
  float *xtr = densify(&tr), *xte = densify(&te);
  const clt_train_data sp = clt_train_data_of(&tr), sp_test = clt_train_data_of(&te);
  clt_train_data dn = sp, dn_test = sp_test;
  dn.x = xtr, dn_test.x = xte;
  dn.indptr = dn_test.indptr = NULL, dn.indices = dn_test.indices = NULL;
  dn.values = dn_test.values = NULL;
  size_t count[4] = {0};
  for (size_t i = 0; i < te.n; i++) count[te.y[i]]++;
  double majority = 0;
  for (size_t k = 0; k < 4; k++) majority = fmax(majority, (double)count[k] / (double)te.n);
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  const clt_loss_kind losses[] = {CLT_LOSS_CROSS_ENTROPY, CLT_LOSS_MSE};
  float W[300 * 4], b[4], Wd[300 * 4], bd[4], W2[300 * 4], b2[4];
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = tu_context(specs[v]);
    /* Momentum takes the dense update; plain SGD updates only the weights
       of the rows' columns, with L2 and weight decay as W's scale. */
    for (size_t l = 0; l < 4; l++) {
      /* plain SGD at four times the rate: momentum 0.9 moves further */
      const double lr = (l % 2 ? 0.5 : 2.0) * (l < 2 ? 1 : 4);
      clt_train_options o = options(losses[l % 2], CLT_OPTIM_SGD, lr, 64, 3, tr.n);
      o.optim.momentum = l < 2 ? 0.9f : 0.0f;
      o.reg.l2 = l < 2 ? 1e-4f : 1e-3f;
      o.optim.weight_decay = l < 2 ? 0.0f : 5e-3f;
      clt_epoch_stats es, esd, es2;
      train_params(ctx, &o, &sp, &sp_test, W, b, &es);
      train_params(ctx, &o, &dn, &dn_test, Wd, bd, &esd);
      train_params(ctx, &o, &sp, &sp_test, W2, b2, &es2);
      char what[64];
      snprintf(what, sizeof what, "%s, %s", clt_loss_kind_name(losses[l % 2]),
               l < 2 ? "momentum" : "plain sgd");
      for (size_t i = 0; i < 300 * 4; i++)
        cr_assert(fabsf(W[i] - Wd[i]) <= 2e-5 + 1e-4 * fabsf(Wd[i]),
                  "%s %s: W[%zu] sparse %.9g, dense %.9g", specs[v], what, i, W[i], Wd[i]);
      for (size_t k = 0; k < 4; k++)
        cr_assert(fabsf(b[k] - bd[k]) <= 2e-5 + 1e-4 * fabsf(bd[k]), "%s %s: b[%zu] %g vs %g",
                  specs[v], what, k, b[k], bd[k]);
      cr_expect_arr_eq(W, W2, sizeof W, "%s %s: two sparse runs differ", specs[v], what);
      cr_expect(fabs(es.test_loss - esd.test_loss) <= 1e-5 * fabs(esd.test_loss),
                "%s %s: test loss %g sparse, %g dense", specs[v], what, es.test_loss,
                esd.test_loss);
      /* the last epoch's mean loss with its L2 penalty (tracked across
         epochs by the touched update) */
      cr_expect(fabs(es.train_loss - esd.train_loss) <= 1e-5 * fabs(esd.train_loss),
                "%s %s: training loss %.9g sparse, %.9g dense", specs[v], what, es.train_loss,
                esd.train_loss);
      if (l % 2 == 0)
        cr_expect_gt(es.test_accuracy, majority + 0.05,
                     "%s: test accuracy %g, the most frequent class %g", specs[v],
                     es.test_accuracy, majority);
    }
    clt_context_destroy(ctx);
  }
  free(xtr), free(xte);
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
}

/* Plain SGD on sparse rows (the touched update) defers its loss as the
   dense paths do, L2 penalty and all: 100 steps wait for the device about
   100 / 16 times, plus the evaluation's and the L2 norm's at the epoch's
   start; and a step whose loss is not finite is still named, the
   same on every backend (the reference reads every step's loss), with L2
   too (whose norm of the diverged W must not take the message's place). */
Test(train, sparse_steps_defer_their_losses, .timeout = 300) {
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_synthetic_sparse(1000, 300, 4, 12, 3, &tr, &te), CLT_OK, "%s",
               clt_last_error(NULL));
  const clt_train_data train = clt_train_data_of(&tr), test = clt_train_data_of(&te);
  clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_SGD, 0.5, 10, 1, tr.n);
  o.reg.l2 = 1e-3f;
  if (tu_have_opencl()) {
    clt_context *ctx = tu_context_with("cl", (clt_context_options){.record_timings = 1});
    clt_trainer *t = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &train, &test, &t), CLT_OK, "%s",
                 clt_last_error(ctx));
    cr_assert_eq(clt_context_timings_reset(ctx), CLT_OK);
    clt_epoch_stats es = epochs(t, 1);
    cr_assert(isfinite(es.train_loss) && es.train_loss < es.first_loss, "%g %g", es.train_loss,
              es.first_loss);
    uint64_t waits = device_waits(ctx);
    cr_assert_leq(waits, 16, "%llu waits in an epoch of 100 steps", (unsigned long long)waits);
    clt_trainer_destroy(t);
    clt_context_destroy(ctx);
  }
  /* rows 5 to 9's values blow up their weights once a step draws one, and
     overflow the scores once another draws a row that shares them; weight
     decay keeps W's scale away from 1, which the failure must settle */
  for (int64_t k = tr.ptr[5]; k < tr.ptr[10]; k++) tr.val[k] = 3e38f;
  o.optim.weight_decay = 0.01f;
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (int with_l2 = 0; with_l2 < 2; with_l2++) {
    o.reg.l2 = with_l2 ? 1e-3f : 0.0f;
    char first[512] = "";
    for (size_t d = 0; d < nd; d++) {
      clt_context *ctx = tu_context(specs[d]);
      clt_trainer *t = NULL;
      cr_assert_eq(clt_trainer_create(ctx, &o, &train, NULL, &t), CLT_OK, "%s",
                   clt_last_error(ctx));
      cr_assert(clt_trainer_touched_updates(t), "%s: plain SGD on sparse rows, touched", specs[d]);
      expect_divergence(t, ctx, specs[d], "", first);
      clt_trainer_destroy(t);
      clt_context_destroy(ctx);
    }
  }
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
}

/* A sparse epoch with L2 whose last update leaves W non-finite (its loss,
   taken before the update, still finite) ends with the evaluation's
   divergence report, not a refusal of |W|^2's sum, on every backend: one
   step of all the rows, row 5's values 3e38. */
Test(train, sparse_l2_divergence_at_the_last_step_is_reported) {
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_synthetic_sparse(200, 300, 4, 12, 3, &tr, &te), CLT_OK, "%s",
               clt_last_error(NULL));
  for (int64_t k = tr.ptr[5]; k < tr.ptr[6]; k++) tr.val[k] = 3e38f;
  const clt_train_data train = clt_train_data_of(&tr), test = clt_train_data_of(&te);
  clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_SGD, 1e3, tr.n, 1, tr.n);
  o.reg.l2 = 1e-3f;
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_trainer *t = NULL;
    cr_assert_eq(clt_trainer_create(ctx, &o, &train, &test, &t), CLT_OK, "%s",
                 clt_last_error(ctx));
    cr_assert(clt_trainer_touched_updates(t), "%s: plain SGD on sparse rows, touched", specs[d]);
    cr_assert_eq(clt_trainer_epoch(t, NULL, NULL, NULL), CLT_ERR_NONFINITE, "%s: %s", specs[d],
                 clt_last_error(ctx));
    cr_assert_not_null(strstr(clt_last_error(ctx), "training diverged in epoch 1"), "%s: %s",
                       specs[d], clt_last_error(ctx));
    clt_trainer_destroy(t);
    clt_context_destroy(ctx);
  }
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
}

/* Streaming (the training rows stay in host memory, each minibatch is
   gathered there and uploaded) gives the resident run's bits: the same
   weights, epoch losses and training-set evaluation, for dense rows (the
   fused step's losses and one that takes values) and sparse ones (the
   dense and the touched update), on every device; the last batch is
   short (500 = 7 x 64 + 52). */
Test(train, streaming_matches_resident, .timeout = 300) {
  run r;
  make_data(&r, 500, 40, 7, 9);
  clt_dataset sp = {0}, sp_test = {0};
  cr_assert_eq(clt_data_synthetic_sparse(500, 300, 4, 12, 3, &sp, &sp_test), CLT_OK);
  const char *specs[2];
  size_t ndev = tu_devices(specs);
  const struct {
    bool sparse;
    clt_loss_kind loss;
    clt_optim_kind optim;
    float momentum;
    bool weighted; /* class weights: the streamed evaluation weighs each chunk by them */
  } cases[] = {{false, CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAMW, 0, false},
               {false, CLT_LOSS_MSE, CLT_OPTIM_SGD, 0.9f, false},
               {true, CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_SGD, 0.9f, false},
               {true, CLT_LOSS_HINGE, CLT_OPTIM_SGD, 0, false},
               {false, CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAMW, 0, true}};
  const float class_weight[7] = {1, 3, 0.5f, 2, 1, 0.25f, 4};
  for (size_t v = 0; v < ndev; v++) {
    clt_context *ctx = tu_context(specs[v]);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      const clt_dataset *tr_set = cases[k].sparse ? &sp : &r.train;
      const clt_dataset *te_set = cases[k].sparse ? &sp_test : &r.test;
      const clt_train_data train = clt_train_data_of(tr_set), test = clt_train_data_of(te_set);
      size_t d = tr_set->d, c = tr_set->classes;
      float *W[2], b[2][8];
      double train_loss[2], test_loss[2], eval_loss[2], eval_acc[2];
      for (int s = 0; s < 2; s++) {
        clt_train_options o = options(cases[k].loss, cases[k].optim, 0.05, 64, 2, tr_set->n);
        o.optim.momentum = cases[k].momentum;
        o.reg.l2 = 1e-3f;
        o.stream = s;
        if (cases[k].weighted) o.class_weight = class_weight;
        clt_trainer *tr = NULL;
        cr_assert_eq(clt_trainer_create(ctx, &o, &train, &test, &tr), CLT_OK, "%s",
                     clt_last_error(ctx));
        cr_assert_eq(clt_trainer_touched_updates(tr), cases[k].sparse && !cases[k].momentum);
        clt_epoch_stats es = epochs(tr, 2);
        train_loss[s] = es.train_loss, test_loss[s] = es.test_loss;
        W[s] = malloc(d * c * sizeof(float));
        cr_assert_not_null(W[s]);
        cr_assert_eq(clt_trainer_params(tr, W[s], b[s]), CLT_OK);
        cr_assert_eq(clt_trainer_evaluate_split(tr, CLT_SPLIT_TRAIN, &eval_loss[s], &eval_acc[s]),
                     CLT_OK, "%s", clt_last_error(ctx));
        clt_trainer_destroy(tr);
      }
      cr_expect_arr_eq(W[0], W[1], d * c * sizeof(float), "%s case %zu: streamed W differs",
                       specs[v], k);
      cr_expect_arr_eq(b[0], b[1], c * sizeof(float), "%s case %zu: streamed b differs", specs[v], k);
      cr_expect(train_loss[0] == train_loss[1] && test_loss[0] == test_loss[1],
                "%s case %zu: losses %.9g/%.9g resident, %.9g/%.9g streamed", specs[v], k,
                train_loss[0], test_loss[0], train_loss[1], test_loss[1]);
      cr_expect(fabs(eval_loss[0] - eval_loss[1]) <= 1e-6 * fabs(eval_loss[0]) &&
                    eval_acc[0] == eval_acc[1],
                "%s case %zu: training set %.9g %.6f resident, %.9g %.6f streamed", specs[v], k,
                eval_loss[0], eval_acc[0], eval_loss[1], eval_acc[1]);
      free(W[0]), free(W[1]);
    }
    clt_context_destroy(ctx);
  }
  clt_dataset_free(&sp);
  clt_dataset_free(&sp_test);
  free_data(&r);
}

/* ------------------------------------------------------------ ranked */

/* Ranks as threads of one process (what cltrain_mpi.h does with MPI): an
   exchange through a shared buffer (a block for every pair of ranks)
   between two barriers; with share, memory all ranks use (shared, made by
   rank 0, freed by run_ranks). */
typedef struct world {
  pthread_barrier_t barrier;
  size_t size;
  bool share;
  void *shared;
  unsigned char buf[1 << 16];
} world;

typedef struct rank_job {
  world *w;
  size_t rank;
  clt_train_options o;
  const clt_train_data *all, *test, *val; /* the whole sets */
  float W[17 * 5], b[5];
  clt_status st;
  double loss, accuracy, held_loss[2], held_accuracy[2]; /* [0] test, [1] validation */
  bool shared; /* whether its trainer summed in shared memory */
} rank_job;

/* This rank's even share of set's rows (clt_shard_rows with a shard a rank). */
static clt_train_data rank_share(const rank_job *j, const clt_train_data *set, size_t shards) {
  size_t first, count;
  clt_shard_rows(set->n, shards, j->rank, j->w->size, &first, &count);
  clt_train_data mine = *set;
  mine.n = count;
  mine.x += first * mine.d;
  mine.y += first;
  return mine;
}

static clt_status thread_exchange(void *user, clt_context *ctx, const void *send,
                                  size_t stride, void *recv, size_t bytes) {
  rank_job *j = user;
  const size_t k = j->w->size;
  (void)ctx;
  if (bytes * k * k > sizeof j->w->buf) return CLT_ERR_DISTRIBUTED;
  for (size_t q = 0; q < k; q++) /* block (from, to) at (from * k + to) * bytes */
    memcpy(j->w->buf + (j->rank * k + q) * bytes, (const unsigned char *)send + q * stride,
           bytes);
  pthread_barrier_wait(&j->w->barrier);
  for (size_t q = 0; q < k; q++)
    if (q != j->rank)
      memcpy((unsigned char *)recv + q * bytes, j->w->buf + (q * k + j->rank) * bytes, bytes);
  pthread_barrier_wait(&j->w->barrier);
  return CLT_OK;
}

static clt_status thread_share(void *user, clt_context *ctx, size_t bytes, void **base) {
  rank_job *j = user;
  (void)ctx;
  if (j->rank == 0) j->w->shared = calloc(1, bytes);
  pthread_barrier_wait(&j->w->barrier);
  *base = j->w->shared;
  return CLT_OK;
}

static void thread_unshare(void *user, void *base, size_t bytes) {
  (void)user, (void)base, (void)bytes; /* run_ranks frees it */
}

static void *rank_main(void *arg) {
  rank_job *j = arg;
  clt_context *ctx = tu_context("ref");
  clt_train_comm comm = {.rank = j->rank,
                         .size = j->w->size,
                         .exchange = thread_exchange,
                         .user = j,
                         .share = j->w->share ? thread_share : NULL,
                         .unshare = thread_unshare};
  const clt_train_data mine = rank_share(j, j->all, j->o.shards),
                       test = rank_share(j, j->test, j->w->size),
                       val = rank_share(j, j->val, j->w->size);
  clt_trainer *tr = NULL;
  j->st = clt_trainer_create_ranked(ctx, &j->o, &mine, j->all->n, &test, &comm, &tr);
  if (j->st == CLT_OK) j->st = clt_trainer_set_validation(tr, &val);
  for (size_t e = 0; j->st == CLT_OK && e < j->o.epochs; e++)
    j->st = clt_trainer_epoch(tr, NULL, NULL, NULL);
  if (j->st == CLT_OK)
    j->st = clt_trainer_evaluate_split(tr, CLT_SPLIT_TRAIN, &j->loss, &j->accuracy);
  for (int k = 0; k < 2 && j->st == CLT_OK; k++)
    j->st = clt_trainer_evaluate_split(tr, k ? CLT_SPLIT_VAL : CLT_SPLIT_TEST, &j->held_loss[k],
                                       &j->held_accuracy[k]);
  if (j->st == CLT_OK) j->st = clt_trainer_params(tr, j->W, j->b);
  j->shared = tr && clt_trainer_shares_memory(tr);
  clt_trainer_destroy(tr);
  clt_context_destroy(ctx);
  return NULL;
}

/* Three ranks, one thread each, train with o on their shares of all, test
   and val, summing in shared memory or not (share); jobs[k] holds rank
   k's outcome (its world gone: w NULL). */
static void run_ranks_sharing(rank_job jobs[3], const clt_train_options *o,
                              const clt_train_data *all, const clt_train_data *test,
                              const clt_train_data *val, bool share) {
  world w = {.size = 3, .share = share};
  pthread_barrier_init(&w.barrier, NULL, 3);
  pthread_t threads[3];
  for (size_t k = 0; k < 3; k++) {
    jobs[k] = (rank_job){.w = &w, .rank = k, .o = *o, .all = all, .test = test, .val = val};
    cr_assert_eq(pthread_create(&threads[k], NULL, rank_main, &jobs[k]), 0);
  }
  for (size_t k = 0; k < 3; k++) {
    pthread_join(threads[k], NULL);
    jobs[k].w = NULL;
  }
  pthread_barrier_destroy(&w.barrier);
  free(w.shared);
}

static void run_ranks(rank_job jobs[3], const clt_train_options *o, const clt_train_data *all,
                      const clt_train_data *test, const clt_train_data *val) {
  run_ranks_sharing(jobs, o, all, test, val, false);
}

/* Three ranks (threads) equal one process with the same five shards, to
   float rounding: class weights, an ignored class, l1 and l2, LAMB's
   global norms, a batch that does not divide the shards and steps where
   a rank has no rows left. |ranks - one| <= 1e-5 |one| + 1e-6 max|one|
   (each rank's gradient is float32 before the sum). Each rank holds a
   third of the test set and of a validation set of two rows (rank 0
   none), and their evaluations are one process's. */
Test(train, ranked_trainers_equal_one_process) {
  run r;
  make_data(&r, 1003, 17, 5, 21);
  const clt_train_data all = clt_train_data_of(&r.train), test = clt_train_data_of(&r.test);
  clt_train_data val = test;
  val.n = 2;
  const float cw[5] = {1, 2, 0.5f, 1, 3};
  clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_LAMB, 0.02, 100, 3, all.n);
  o.shards = 5;
  o.class_weight = cw;
  o.loss.ignore_index = 3;
  o.reg = (clt_reg_desc){.l1 = 1e-3f, .l2 = 1e-2f};
  clt_context *ctx = tu_context("ref");
  float W[17 * 5], b[5];
  clt_epoch_stats es;
  train_params(ctx, &o, &all, NULL, W, b, &es);
  clt_context_destroy(ctx);

  rank_job jobs[3];
  run_ranks(jobs, &o, &all, &test, &val);
  float wmax = 0;
  for (size_t i = 0; i < 17 * 5; i++) wmax = fmaxf(wmax, fabsf(W[i]));
  for (size_t k = 0; k < 3; k++) {
    cr_assert_eq(jobs[k].st, CLT_OK, "rank %zu: %s", k, clt_status_name(jobs[k].st));
    cr_assert_eq(memcmp(jobs[k].W, jobs[0].W, sizeof W), 0, "rank %zu's W differs", k);
    for (size_t i = 0; i < 17 * 5; i++)
      cr_assert_leq(fabsf(jobs[k].W[i] - W[i]), 1e-5f * fabsf(W[i]) + 1e-6f * wmax,
                    "W[%zu]: %.9g with 3 ranks, %.9g in one process", i, jobs[k].W[i], W[i]);
    for (size_t i = 0; i < 5; i++)
      cr_assert_leq(fabsf(jobs[k].b[i] - b[i]), 1e-5f * fabsf(b[i]) + 1e-6f * wmax);
  }
  /* every evaluation is reduced over the ranks, its MEAN over the rows as
     in one process (clt_model_evaluate); the same figures on every rank */
  ctx = tu_context("ref");
  clt_trainer *one = NULL;
  cr_assert_eq(clt_trainer_create(ctx, &o, &all, &test, &one), CLT_OK);
  cr_assert_eq(clt_trainer_set_validation(one, &val), CLT_OK);
  cr_assert_eq(clt_trainer_set_params(one, jobs[0].W, jobs[0].b), CLT_OK);
  const clt_split splits[3] = {CLT_SPLIT_TRAIN, CLT_SPLIT_TEST, CLT_SPLIT_VAL};
  for (int s = 0; s < 3; s++) {
    double loss, acc;
    cr_assert_eq(clt_trainer_evaluate_split(one, splits[s], &loss, &acc), CLT_OK);
    for (size_t k = 0; k < 3; k++) {
      double rl = s ? jobs[k].held_loss[s - 1] : jobs[k].loss,
             ra = s ? jobs[k].held_accuracy[s - 1] : jobs[k].accuracy;
      cr_assert_float_eq(ra, acc, 1e-12, "split %d rank %zu: accuracy %.9g, %.9g in one", s, k,
                         ra, acc);
      /* the reference computes in double: only the ranks' sum order differs */
      cr_assert_leq(fabs(rl - loss), 2e-9 * fabs(loss), "split %d rank %zu: loss %.12g, %.12g in one",
                    s, k, rl, loss);
    }
  }
  clt_trainer_destroy(one);
  clt_context_destroy(ctx);
  free_data(&r);
}

/* Ranks summing their gradients in memory they share (each its segment of
   every rank's gradient, read where it lies) give the bits of the sums
   through messages: the same rank-ordered sum. */
Test(train, ranked_sums_in_shared_memory_equal_the_exchanged_ones) {
  run r;
  make_data(&r, 1003, 17, 5, 22);
  const clt_train_data all = clt_train_data_of(&r.train), test = clt_train_data_of(&r.test);
  const float cw[5] = {1, 2, 0.5f, 1, 3};
  clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_ADAM, 0.02, 100, 2, all.n);
  o.shards = 5;
  o.class_weight = cw;
  o.reg = (clt_reg_desc){.l2 = 1e-2f};
  rank_job sent[3], shared[3];
  run_ranks_sharing(sent, &o, &all, &test, &test, false);
  run_ranks_sharing(shared, &o, &all, &test, &test, true);
  for (size_t k = 0; k < 3; k++) {
    cr_assert_eq(sent[k].st, CLT_OK, "rank %zu: %s", k, clt_status_name(sent[k].st));
    cr_assert_eq(shared[k].st, CLT_OK, "rank %zu: %s", k, clt_status_name(shared[k].st));
    cr_assert(shared[k].shared && !sent[k].shared, "rank %zu did not sum where asked", k);
    cr_assert_eq(memcmp(shared[k].W, sent[0].W, sizeof sent[0].W), 0, "rank %zu's W differs", k);
    cr_assert_eq(memcmp(shared[k].b, sent[0].b, sizeof sent[0].b), 0, "rank %zu's b differs", k);
    cr_assert_eq(shared[k].loss, sent[0].loss, "rank %zu's loss differs", k);
  }
  free_data(&r);
}

/* A rank whose share is bad (a label outside the classes in the last
   rank's rows) fails with its own status, and the others, rather than wait
   for it in their first step, fail too (CLT_ERR_DISTRIBUTED): creating a
   ranked trainer ends with one small agreement. */
Test(train, ranked_creation_fails_on_every_rank_together, .timeout = 60) {
  run r;
  make_data(&r, 300, 5, 3, 4);
  clt_train_data all = clt_train_data_of(&r.train), test = clt_train_data_of(&r.test);
  int32_t *y = malloc(all.n * sizeof *y);
  cr_assert_not_null(y);
  memcpy(y, all.y, all.n * sizeof *y);
  y[all.n - 1] = 99;
  all.y = y;
  clt_train_options o = options(CLT_LOSS_CROSS_ENTROPY, CLT_OPTIM_SGD, 0.1, 30, 1, all.n);
  o.shards = 3;
  rank_job jobs[3];
  run_ranks(jobs, &o, &all, &test, &test);
  for (size_t k = 0; k < 2; k++)
    cr_expect_eq(jobs[k].st, CLT_ERR_DISTRIBUTED, "rank %zu: %s", k, clt_status_name(jobs[k].st));
  cr_expect_eq(jobs[2].st, CLT_ERR_LABEL, "rank 2: %s", clt_status_name(jobs[2].st));
  free(y);
  free_data(&r);
}
