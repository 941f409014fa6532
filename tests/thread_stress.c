/* Separate contexts used from separate threads at once (cltrain.h allows
   it): eight threads create a context, train their own copy of one problem
   and destroy it, twenty times over, starting before anything in the
   process has looked for a device, so that the first creations race
   through device discovery. Every result must have the bits of the same
   training done alone. A plain program, not a Criterion test, so that it
   also runs under ThreadSanitizer (scripts/test), where Criterion's
   runner does not start; it prints the closing "N passed, N failed" line
   and exits 1 on any failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h" /* tu_fill_uniform, tu_fill_labels */

#define THREADS 8
#define ROUNDS 20
#define N 67
#define D 13
#define C 5
#define STEPS 5

/* The device every thread uses: the automatic choice (an OpenCL device
   where there is one), or the reference where CLT_TEST_DEVICES excludes
   OpenCL. The threads cannot call tu_devices: it looks for devices. */
static const char *device(void) {
  const char *env = getenv("CLT_TEST_DEVICES");
  return env && *env && !strstr(env, "cl") ? "ref" : "auto";
}

typedef struct job {
  float w[D * C], b[C];
  clt_status st;
  char err[512];
} job;

/* STEPS Adam steps of softmax regression on fixed data; no Criterion
   assertion here (it runs on other threads): failures go to j->st. */
static void train(job *j) {
  float x[N * D];
  int32_t y[N];
  tu_fill_uniform(x, N * D, 11, -1, 1);
  tu_fill_labels(y, N, 12, C);
  clt_context *ctx = NULL;
  clt_context_options o = {.device = device()};
  clt_tensor *X = NULL, *Y = NULL, *W = NULL, *b = NULL, *dW = NULL, *db = NULL;
  clt_optimizer *opt = NULL;
  clt_status st = clt_context_create(&o, &ctx);
  if (st != CLT_OK) {
    j->st = st;
    snprintf(j->err, sizeof j->err, "create: %s", clt_last_error(NULL));
    return;
  }
  clt_loss_desc loss = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  clt_optim_desc od = clt_optim_defaults(CLT_OPTIM_ADAM);
  od.lr = 0.05f;
  if (st == CLT_OK) st = clt_tensor_create(ctx, N, D, CLT_FLOAT32, &X);
  if (st == CLT_OK) st = clt_tensor_create(ctx, N, 1, CLT_INT32, &Y);
  if (st == CLT_OK) st = clt_tensor_create(ctx, D, C, CLT_FLOAT32, &W);
  if (st == CLT_OK) st = clt_tensor_create(ctx, 1, C, CLT_FLOAT32, &b);
  if (st == CLT_OK) st = clt_tensor_create(ctx, D, C, CLT_FLOAT32, &dW);
  if (st == CLT_OK) st = clt_tensor_create(ctx, 1, C, CLT_FLOAT32, &db);
  if (st == CLT_OK) st = clt_tensor_write(X, x, sizeof x);
  if (st == CLT_OK) st = clt_tensor_write(Y, y, sizeof y);
  if (st == CLT_OK) st = clt_tensor_fill(W, 0.0);
  if (st == CLT_OK) st = clt_tensor_fill(b, 0.0);
  if (st == CLT_OK) st = clt_optimizer_create(ctx, &od, &opt);
  for (int s = 0; s < STEPS && st == CLT_OK; s++) {
    double value;
    st = clt_linear_loss_grad(ctx, &loss, NULL, X, Y, W, b, &value, dW, db);
    if (st == CLT_OK) st = clt_optimizer_step(opt, W, dW);
    if (st == CLT_OK) st = clt_optimizer_step(opt, b, db);
  }
  if (st == CLT_OK) st = clt_tensor_read(W, j->w, sizeof j->w);
  if (st == CLT_OK) st = clt_tensor_read(b, j->b, sizeof j->b);
  if (st != CLT_OK) snprintf(j->err, sizeof j->err, "%s", clt_last_error(ctx));
  j->st = st;
  clt_optimizer_destroy(opt);
  clt_tensor *all[] = {X, Y, W, b, dW, db};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) clt_tensor_destroy(all[k]);
  clt_context_destroy(ctx);
}

static void *run(void *arg) {
  train(arg);
  return NULL;
}

/* W after three epochs of the public trainer on the same data, resident
   (stream 0) or streamed (1), its rows dense or sparse (every entry held:
   plain SGD then takes the touched update): the streamed run's prefetch
   thread gathers each next minibatch while this one computes, which is
   what ThreadSanitizer watches here. */
static clt_status trainer_run(int stream, bool sparse, float *w, char *err, size_t errlen) {
  static float x[N * D];
  static int32_t y[N], col[N * D];
  static int64_t ptr[N + 1];
  tu_fill_uniform(x, N * D, 11, -1, 1);
  tu_fill_labels(y, N, 12, C);
  for (size_t i = 0; i <= N; i++) ptr[i] = (int64_t)(i * D);
  for (size_t k = 0; k < N * D; k++) col[k] = (int32_t)(k % D);
  clt_context *ctx = NULL;
  clt_context_options o = {.device = device()};
  clt_status st = clt_context_create(&o, &ctx);
  if (st != CLT_OK) {
    snprintf(err, errlen, "create: %s", clt_last_error(NULL));
    return st;
  }
  clt_train_options opt = {.loss = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY),
                           .optim = clt_optim_defaults(CLT_OPTIM_SGD), .batch = 16,
                           .epochs = 3, .seed = 5, .bias = 1, .stream = stream};
  opt.optim.lr = 0.1f;
  opt.optim.momentum = sparse ? 0.0f : 0.9f;
  opt.schedule = (clt_schedule){.kind = CLT_SCHEDULE_CONSTANT, .base_lr = 0.1};
  clt_train_data data = {.n = N, .d = D, .classes = C, .x = x, .y = y};
  if (sparse) data.x = NULL, data.indptr = ptr, data.indices = col, data.values = x;
  clt_trainer *tr = NULL;
  st = clt_trainer_create(ctx, &opt, &data, NULL, &tr);
  for (int e = 0; e < 3 && st == CLT_OK; e++) st = clt_trainer_epoch(tr, NULL, NULL, NULL);
  if (st == CLT_OK) st = clt_trainer_params(tr, w, NULL);
  if (st != CLT_OK) snprintf(err, errlen, "%s", clt_last_error(ctx));
  clt_trainer_destroy(tr);
  clt_context_destroy(ctx);
  return st;
}

int main(void) {
  static job jobs[ROUNDS][THREADS];
  for (int r = 0; r < ROUNDS; r++) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
      if (pthread_create(&t[i], NULL, run, &jobs[r][i]) != 0) {
        fprintf(stderr, "thread_stress: pthread_create failed\n");
        return 1;
      }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  }
  job alone;
  train(&alone);
  if (alone.st != CLT_OK) {
    fprintf(stderr, "thread_stress: alone: %s\n", alone.err);
    printf("0 passed, 1 failed\n");
    return 1;
  }
  int passed = 0, failed = 0;
  for (int r = 0; r < ROUNDS; r++)
    for (int i = 0; i < THREADS; i++) {
      const job *j = &jobs[r][i];
      if (j->st != CLT_OK)
        fprintf(stderr, "round %d thread %d: %s: %s\n", r, i, clt_status_str(j->st), j->err);
      else if (memcmp(j->w, alone.w, sizeof alone.w) != 0 ||
               memcmp(j->b, alone.b, sizeof alone.b) != 0)
        fprintf(stderr, "round %d thread %d: W or b differs from the single-threaded run\n",
                r, i);
      else {
        passed++;
        continue;
      }
      failed++;
    }
  for (int sparse = 0; sparse < 2; sparse++) {
    float w[2][D * C];
    for (int s = 0; s < 2; s++) {
      char err[512] = "";
      clt_status st = trainer_run(s, sparse, w[s], err, sizeof err);
      if (st != CLT_OK) {
        fprintf(stderr, "thread_stress: trainer (stream %d, sparse %d): %s\n", s, sparse, err);
        failed++;
      }
    }
    if (memcmp(w[0], w[1], sizeof w[0]) != 0) {
      fprintf(stderr, "thread_stress: the streamed trainer's W differs from the resident one's "
                      "(sparse %d)\n", sparse);
      failed++;
    } else {
      passed++;
    }
  }
  printf("thread_stress on %s: %d threads x %d rounds, and streamed trainers (dense, sparse)\n",
         device(), THREADS, ROUNDS);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
