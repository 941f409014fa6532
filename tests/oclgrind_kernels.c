/* Every kernel of the library once or more on small shapes, on the default
   OpenCL device, for tests/oclgrind.sh, which runs this program under
   Oclgrind's simulator with the CPU- and the GPU-shaped device profiles
   (CLT_PROFILE) and its out-of-bounds and data-race checks. Prints the
   kernels the context launched (from its timings), one per line, and with
   --table every kernel of the library, so that the script can check that
   none was left out. Exit status 1 on any library error. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_internal.h"
#include "cltrain.h"
#include "fused.h"
#include "sparse.h"

static clt_context *ctx;

#define CHECK(expr)                                                           \
  do {                                                                        \
    clt_status st_ = (expr);                                                  \
    if (st_ != CLT_OK) {                                                      \
      fprintf(stderr, "oclgrind_kernels: %s: %s: %s\n", #expr,               \
              clt_status_str(st_), clt_last_error(ctx));                      \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

static float frand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((*s >> 40) * 0x1p-24) * 2.0f - 1.0f;
}

static clt_tensor *floats(size_t r, size_t c, uint64_t seed, float scale) {
  clt_tensor *t;
  CHECK(clt_tensor_create(ctx, r, c, CLT_FLOAT32, &t));
  float *v = malloc(r * c * sizeof *v);
  for (size_t i = 0; i < r * c; i++) v[i] = scale * frand(&seed);
  CHECK(clt_tensor_write(t, v, r * c * 4));
  free(v);
  return t;
}

static clt_tensor *ints(size_t n, int32_t mod, int32_t shift) {
  clt_tensor *t;
  CHECK(clt_tensor_create(ctx, n, 1, CLT_INT32, &t));
  int32_t *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = (int32_t)((i * 7 + (size_t)shift) % (size_t)mod);
  CHECK(clt_tensor_write(t, v, n * 4));
  free(v);
  return t;
}

/* Forward, backward (with dX), every loss with labels and with values,
   regularization, argmax, accuracy and the fused step at N x D x C. */
static void ops(size_t n, size_t d, size_t c) {
  clt_tensor *X = floats(n, d, 1, 1), *W = floats(d, c, 2, 0.5f), *b = floats(1, c, 3, 0.1f);
  clt_tensor *S = floats(n, c, 0, 0), *dS = floats(n, c, 0, 0), *dW = floats(d, c, 0, 0);
  clt_tensor *db = floats(1, c, 0, 0), *dX = floats(n, d, 0, 0);
  clt_tensor *y = ints(n, (int32_t)c, 0), *T = floats(n, c, 0, 0), *pred = ints(n, 1, 0);
  CHECK(clt_tensor_fill(T, 1.0 / (double)c)); /* a distribution: every loss takes it */
  CHECK(clt_linear_forward(ctx, X, W, b, S));
  CHECK(clt_linear_backward(ctx, X, W, S, dW, db, dX));
  for (int k = 0; k <= CLT_LOSS_KL_DIV; k++) {
    clt_loss_desc ld = clt_loss_defaults((clt_loss_kind)k);
    double v;
    bool labels = k == CLT_LOSS_CROSS_ENTROPY || k == CLT_LOSS_HINGE;
    CHECK(clt_loss(ctx, &ld, S, labels ? y : T, &v, dS));
    if (k == CLT_LOSS_CROSS_ENTROPY) CHECK(clt_loss(ctx, &ld, S, T, &v, dS)); /* soft */
    if (labels) {
      clt_reg_desc reg = {.l1 = 1e-3f, .l2 = 1e-3f};
      CHECK(clt_linear_loss_grad(ctx, &ld, &reg, X, y, W, b, &v, dW, db));
      /* The trainer's step: rows through an index, the loss left in a
         slot on the device. */
      clt_tensor *idx = ints(n, (int32_t)n, 3), *Xb = floats(n, d, 0, 0);
      clt_tensor *yb = ints(n, 1, 0), *losses = floats(2, 2, 0, 0);
      clt_loss_slot slot = {losses, 1, false};
      CHECK(clt_linear_loss_grad_rows(ctx, &ld, &reg, X, y, idx, 0, Xb, yb, W, b, &slot, &v,
                                      dW, db));
      clt_tensor *tmp[] = {idx, Xb, yb, losses};
      for (size_t i = 0; i < 4; i++) clt_tensor_destroy(tmp[i]);
    }
  }
  clt_reg_desc reg = {.l1 = 1e-3f, .l2 = 1e-2f};
  double pen = 0;
  CHECK(clt_regularize(ctx, &reg, W, &pen, dW));
  CHECK(clt_argmax(ctx, S, pred));
  size_t correct;
  CHECK(clt_accuracy(ctx, S, y, &correct));
  clt_tensor *all[] = {X, W, b, S, dS, dW, db, dX, y, T, pred};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clt_tensor_destroy(all[i]);
}

/* Rows gathered through an index (checked), as the trainer's batches. */
static void gather(void) {
  clt_tensor *src = floats(9, 5, 5, 1), *dst = floats(4, 5, 0, 0), *idx = ints(6, 9, 3);
  CHECK(clt_tensor_gather_rows(dst, src, idx, 2));
  double sum; /* the deterministic reduction */
  CHECK(clt_cl_sum(ctx, src->st->mem, src->offset, 45, &sum));
  clt_tensor *all[] = {src, dst, idx};
  for (size_t i = 0; i < 3; i++) clt_tensor_destroy(all[i]);
}

/* Sparse rows: a 9 x d CSR matrix with empty rows, its products (more
   column buckets than one per column on the GPU profile at d = 23, wide
   buckets at d = 4000), the touched update and a gather. */
static void sparse(size_t c, size_t d) {
  int64_t ptr[10] = {0};
  int32_t col[40];
  float val[40];
  for (size_t r = 0, k = 0; r < 9; r++) {
    for (size_t j = 0; j < (r % 3 == 0 ? 0 : r + 1); j++, k++) {
      col[k] = (int32_t)((r * 5 + j * 3) % 23 * (d / 23));
      val[k] = 0.25f * (float)(j + 1);
    }
    ptr[r + 1] = (int64_t)k;
  }
  clt_csr *X, *G;
  CHECK(clt_csr_create(ctx, 9, d, ptr, col, val, &X));
  clt_tensor *W = floats(d, c, 2, 0.5f), *b = floats(1, c, 3, 0.1f), *S = floats(9, c, 0, 0);
  clt_tensor *dW = floats(d, c, 0, 0), *db = floats(1, c, 0, 0), *idx = ints(6, 9, 3);
  CHECK(clt_csr_linear_forward(ctx, X, W, b, S));
  CHECK(clt_csr_linear_backward(ctx, X, S, dW, db));
  CHECK(clt_csr_gather_rows(X, idx, 1, 5, &G));
  /* the touched SGD update through idx (rows 1..6), and a scale */
  clt_tensor *Sb = floats(5, c, 4, 0.5f);
  clt_tensor *change = floats(2, 1, 0, 0);
  CHECK(clt_cl_csr_sgd(ctx, X, (clt_batch_rows){idx, 1, 5}, Sb, W, 0.1f, b, 0.1f, change, 1));
  CHECK(clt_cl_scale(W, 0.5f));
  /* the forward and the loss in one (the CPU profile's kernel, eight rows
     a work-item up to 15 classes), through idx: cross-entropy, hinge */
  clt_tensor *y = ints(5, (int32_t)c, 3), *S5;
  CHECK(clt_tensor_view_rows(S, 0, 5, &S5));
  for (int hinge = 0; hinge < 2; hinge++) {
    clt_loss_desc desc = clt_loss_defaults(hinge ? CLT_LOSS_HINGE : CLT_LOSS_CROSS_ENTROPY);
    double loss;
    CHECK(clt_csr_loss_rows(ctx, X, (clt_batch_rows){idx, 1, 5}, 0.5f, W, b, &desc, y, S5,
                            NULL, &loss, Sb));
  }
  clt_tensor_destroy(y);
  clt_tensor_destroy(S5);
  clt_csr_destroy(X);
  clt_csr_destroy(G);
  clt_tensor *all[] = {W, b, S, dW, db, idx, Sb, change};
  for (size_t i = 0; i < 8; i++) clt_tensor_destroy(all[i]);
}

/* Seven steps of an optimizer on a group of a 37 x 3 and a 1 x 3 tensor
   (a partial last work-group: the _tail variants), and of one tensor on
   its own. */
static void optimizer(clt_optim_desc d) {
  clt_optimizer *opt;
  CHECK(clt_optimizer_create(ctx, &d, &opt));
  size_t rows[2] = {37, 1}, cols[2] = {3, 3};
  clt_tensor *p[2], *g[2];
  CHECK(clt_optimizer_add_group(opt, 2, rows, cols, NULL, p, g));
  clt_tensor *grads = floats(37, 3, 9, 0.5f);
  CHECK(clt_tensor_copy(g[0], grads));
  CHECK(clt_tensor_fill(g[1], 0.25));
  CHECK(clt_tensor_fill(p[1], 0.5));
  for (int s = 0; s < 7; s++) CHECK(clt_optimizer_step_all(opt)); /* RAdam rectifies at 6 */
  clt_tensor *alone = floats(5, 7, 6, 1), *ga = floats(5, 7, 7, 1);
  for (int s = 0; s < 7; s++) CHECK(clt_optimizer_step(opt, alone, ga));
  CHECK(clt_context_finish(ctx));
  clt_tensor *all[] = {p[0], p[1], g[0], g[1], grads, alone, ga};
  for (size_t i = 0; i < 7; i++) clt_tensor_destroy(all[i]);
  clt_optimizer_destroy(opt);
}

static void optimizers(void) {
  for (int k = 0; k <= CLT_OPTIM_LAMB; k++) {
    clt_optim_desc d = clt_optim_defaults((clt_optim_kind)k);
    if (k == CLT_OPTIM_SGD || k == CLT_OPTIM_LARS) d.lr = 0.1f;
    optimizer(d);
    d.max_grad_norm = 0.5f; /* the statistics pass */
    d.skip_nonfinite = 1;
    optimizer(d);
  }
  clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_SGD);
  d.lr = 0.1f;
  d.momentum = 0.9f;
  optimizer(d);
  d.nesterov = 1;
  optimizer(d);
  d = clt_optim_defaults(CLT_OPTIM_RMSPROP);
  for (int v = 0; v < 3; v++) {
    d.centered = v != 1;
    d.momentum = v >= 1 ? 0.9f : 0.0f;
    optimizer(d);
  }
  d = clt_optim_defaults(CLT_OPTIM_ADAM);
  d.amsgrad = 1;
  optimizer(d);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--table") == 0) { /* every kernel there is */
    for (size_t k = 0; k < CLT_K_COUNT; k++) printf("%s\n", clt_cl_kernel_names[k]);
    return 0;
  }
  CHECK(clt_context_create(&(clt_context_options){.record_timings = 1}, &ctx));
  if (clt_context_is_reference(ctx)) {
    fprintf(stderr, "oclgrind_kernels: needs an OpenCL device\n");
    return 1;
  }
  /* Class-block widths 1..8 (C = 1..8), two blocks (C = 9), the lanes
     and row loss kernels (C <= 15 and 20), and the wide dW tiles. */
  const size_t classes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 64};
  for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) ops(13, 17, classes[i]);
  gather();
  sparse(1, 23);
  sparse(3, 23);
  sparse(11, 23); /* a chunk of 8 classes and a tail of 3 */
  sparse(17, 23); /* two chunks of 8 classes and a tail of 1 */
  sparse(1, 4000);
  optimizers();
  clt_timing v[128];
  size_t n = 0;
  CHECK(clt_context_timings(ctx, v, 128, &n));
  for (size_t i = 0; i < n && i < 128; i++)
    if (v[i].kind == CLT_TIMING_KERNEL) printf("%s\n", v[i].name);
  clt_context_destroy(ctx);
  return 0;
}
