/* cltrain gradcheck: the analytic gradient of a loss (+ regularization) of
   a random linear classifier against central differences (clt_gradcheck).
   Exit status: 0 every max relative error <= threshold, 1 above it or a
   run-time failure, 2 bad usage. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loss_impl.h"

typedef struct gc_args {
  const char *loss, *device;
  double l1, l2, threshold, h;
  size_t n, d, c, samples;
  uint64_t seed;
  int json, bias;
} gc_args;

static void usage(FILE *f) {
  fprintf(f,
          "usage: cltrain gradcheck [--loss L] [--l1 F] [--l2 F] [--n N --d D "
          "--c C]\n"
          "                         [--seed S] [--device D] [--samples K] "
          "[--threshold T]\n"
          "                         [--h H] [--no-bias] [--json]\n"
          "Builds random X (N x D), W (D x C), b (1 x C) and targets from the "
          "seed,\n"
          "computes the gradient of loss(X W + b) + l1 |W| + l2/2 W^2 with "
          "respect\n"
          "to W and b on the device and compares it with central differences "
          "of\n"
          "the double-precision reference loss; prints the max relative "
          "error per\n"
          "parameter and exits 1 when one is above the threshold.\n"
          "  --loss L       " CLT_CLI_LOSS_NAMES "\n"
          "                 (softmax = cross-entropy, svm = hinge; default cross-entropy)\n"
          "  --l1, --l2 F   regularization strengths (default 0)\n"
          "  --n, --d, --c  rows, features, classes (default 16, 8, 5)\n"
          "  --seed S       random seed (default 0)\n"
          "  --device D     auto|gpu|cpu|ref|NAME (default auto)\n"
          "  --samples K    check K random coordinates per parameter "
          "(default 0: all)\n"
          "  --threshold T  largest relative error accepted (default 1e-4)\n"
          "  --h H          central-difference step (default 1e-5)\n"
          "  --no-bias      a model without b\n"
          "  --json         one JSON object as the last line\n");
}

static int bad(const char *flag, const char *value, const char *want) {
  fprintf(stderr, "cltrain gradcheck: %s: '%s' is not %s\n", flag, value, want);
  return 2;
}

/* A JSON number, or null when x is not finite. */
static void json_number(double x) {
  if (isfinite(x)) printf("%.17g", x);
  else printf("null");
}

static int parse(int argc, char **argv, gc_args *a) {
  *a = (gc_args){.loss = "cross-entropy", .device = NULL, .threshold = 1e-4,
                 .h = 1e-5, .n = 16, .d = 8, .c = 5, .bias = 1};
  /* Strengths as train takes them; the threshold and the step positive. */
  const struct {
    const char *flag;
    double *dst;
    bool positive;
    double hi;
  } reals[] = {{"--l1", &a->l1, false, 1e6},
               {"--l2", &a->l2, false, 1e6},
               {"--threshold", &a->threshold, true, 1e6},
               {"--h", &a->h, true, 1.0}};
  const struct {
    const char *flag;
    size_t *dst;
  } sizes[] = {{"--n", &a->n}, {"--d", &a->d}, {"--c", &a->c}};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
      usage(stdout);
      return -1;
    }
    if (strcmp(f, "--json") == 0) {
      a->json = 1;
      continue;
    }
    if (strcmp(f, "--no-bias") == 0) {
      a->bias = 0;
      continue;
    }
    static const char *const with_value[] = {
        "--loss", "--device", "--l1", "--l2", "--threshold", "--h",
        "--n", "--d", "--c", "--samples", "--seed"};
    bool takes_value = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
      takes_value |= strcmp(f, with_value[k]) == 0;
    if (!takes_value) {
      fprintf(stderr, "cltrain gradcheck: unknown option '%s'\n", f);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "cltrain gradcheck: %s needs a value\n", f);
      return 2;
    }
    const char *v = argv[++i];
    char want[CLT_CLI_WANT];
    for (size_t k = 0; k < sizeof reals / sizeof reals[0]; k++)
      if (strcmp(f, reals[k].flag) == 0 &&
          !clt_cli_real(v, 0, reals[k].hi, reals[k].positive, reals[k].dst, want, sizeof want))
        return bad(f, v, want);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      unsigned long long x;
      if (strcmp(f, sizes[k].flag) != 0) continue;
      if (!clt_cli_uint(v, 1, 1000000, &x, want, sizeof want)) return bad(f, v, want);
      *sizes[k].dst = (size_t)x;
    }
    unsigned long long x;
    if (strcmp(f, "--samples") == 0) {
      if (!clt_cli_uint(v, 0, SIZE_MAX, &x, want, sizeof want)) return bad(f, v, want);
      a->samples = (size_t)x;
    }
    if (strcmp(f, "--seed") == 0) {
      if (!clt_cli_uint(v, 0, UINT64_MAX, &x, want, sizeof want)) return bad(f, v, want);
      a->seed = x;
    }
    if (strcmp(f, "--loss") == 0) a->loss = v;
    if (strcmp(f, "--device") == 0) a->device = v;
  }
  clt_loss_kind kind;
  if (clt_loss_kind_from_name(a->loss, &kind) != CLT_OK)
    return bad("--loss", a->loss, CLT_CLI_LOSS_NAMES);
  return 0;
}

/* Uniform in [lo, hi). */
static float uniform(uint64_t *s, float lo, float hi) {
  return lo + (hi - lo) * (float)((clt_splitmix64(s) >> 40) * 0x1.0p-24);
}

/* Host data of the problem: X, W, b uniform; labels for cross-entropy and
   hinge, [0,1) targets for BCE, probability rows for KL, [-1,1) values for
   the regression losses. */
typedef struct gc_data {
  float *x, *w, *b, *t;
  int32_t *y;
} gc_data;

static int make_data(const gc_args *a, clt_loss_kind kind, gc_data *g) {
  size_t n = a->n, d = a->d, c = a->c;
  uint64_t s = a->seed;
  *g = (gc_data){malloc(n * d * sizeof(float)), malloc(d * c * sizeof(float)),
                 malloc(c * sizeof(float)), malloc(n * c * sizeof(float)),
                 malloc(n * sizeof(int32_t))};
  if (!g->x || !g->w || !g->b || !g->t || !g->y) return 1;
  for (size_t k = 0; k < n * d; k++) g->x[k] = uniform(&s, -1.0f, 1.0f);
  for (size_t k = 0; k < d * c; k++) g->w[k] = uniform(&s, -0.5f, 0.5f);
  for (size_t k = 0; k < c; k++) g->b[k] = uniform(&s, -0.5f, 0.5f);
  for (size_t i = 0; i < n; i++) {
    g->y[i] = (int32_t)(clt_splitmix64(&s) % c);
    float *r = g->t + i * c, sum = 0.0f;
    for (size_t j = 0; j < c; j++) {
      r[j] = kind == CLT_LOSS_KL_DIV       ? uniform(&s, 0.05f, 1.0f)
             : kind == CLT_LOSS_BCE_LOGITS ? uniform(&s, 0.0f, 1.0f)
                                           : uniform(&s, -1.0f, 1.0f);
      sum += r[j];
    }
    for (size_t j = 0; kind == CLT_LOSS_KL_DIV && j < c; j++) r[j] /= sum;
  }
  return 0;
}

static void free_data(gc_data *g) {
  free(g->x);
  free(g->w);
  free(g->b);
  free(g->t);
  free(g->y);
}

/* Uploads the data and runs the check. */
static clt_status run(clt_context *ctx, const gc_args *a, clt_loss_kind kind,
                      const gc_data *g, clt_gradcheck_result *r) {
  size_t n = a->n, d = a->d, c = a->c;
  bool labels = kind == CLT_LOSS_CROSS_ENTROPY || kind == CLT_LOSS_HINGE;
  clt_tensor *X = NULL, *W = NULL, *b = NULL, *T = NULL;
  clt_status st;
  if ((st = clt_tensor_create(ctx, n, d, CLT_FLOAT32, &X)) ||
      (st = clt_tensor_create(ctx, d, c, CLT_FLOAT32, &W)) ||
      (st = clt_tensor_create(ctx, 1, c, CLT_FLOAT32, &b)) ||
      (st = clt_tensor_create(ctx, n, labels ? 1 : c,
                              labels ? CLT_INT32 : CLT_FLOAT32, &T)) ||
      (st = clt_tensor_write(X, g->x, n * d * 4)) ||
      (st = clt_tensor_write(W, g->w, d * c * 4)) ||
      (st = clt_tensor_write(b, g->b, c * 4)) ||
      (st = clt_tensor_write(T, labels ? (const void *)g->y : g->t,
                             n * (labels ? 1 : c) * 4)))
    goto done;
  clt_loss_desc desc = clt_loss_defaults(kind);
  clt_reg_desc reg = {(float)a->l1, (float)a->l2};
  st = clt_gradcheck(ctx, &desc, &reg, X, T, W, a->bias ? b : NULL, a->samples,
                     a->seed, a->h, r);
done:
  clt_tensor_destroy(X);
  clt_tensor_destroy(W);
  clt_tensor_destroy(b);
  clt_tensor_destroy(T);
  return st;
}

int clt_cmd_gradcheck(int argc, char **argv) {
  gc_args a;
  int rc = parse(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  clt_loss_kind kind;
  clt_loss_kind_from_name(a.loss, &kind);
  clt_context *ctx = NULL;
  if ((rc = clt_cli_context("gradcheck", a.device, 0, NULL, &ctx))) return rc;
  gc_data g;
  clt_gradcheck_result r = {0};
  if (make_data(&a, kind, &g)) {
    fprintf(stderr, "cltrain gradcheck: out of memory\n");
    free_data(&g);
    clt_context_destroy(ctx);
    return 1;
  }
  clt_status st = run(ctx, &a, kind, &g, &r);
  free_data(&g);
  if (st != CLT_OK) {
    fprintf(stderr, "cltrain gradcheck: %s: %s\n", clt_status_str(st),
            clt_last_error(ctx));
    clt_context_destroy(ctx);
    return 1;
  }
  bool pass = r.max_rel_error_W <= a.threshold && r.max_rel_error_b <= a.threshold;
  printf("gradcheck %s on %s: N=%zu D=%zu C=%zu l1=%g l2=%g h=%g seed=%llu\n",
         clt_loss_kind_name(kind), clt_context_device_name(ctx), a.n, a.d, a.c,
         a.l1, a.l2, a.h, (unsigned long long)a.seed);
  printf("W: max relative error %.3e over %zu coordinates\n", r.max_rel_error_W,
         r.checked_W);
  if (a.bias)
    printf("b: max relative error %.3e over %zu coordinates\n",
           r.max_rel_error_b, r.checked_b);
  printf("%s (threshold %.1e)\n", pass ? "PASS" : "FAIL", a.threshold);
  if (a.json) {
    printf("{\"loss\":\"%s\",\"device\":", clt_loss_kind_name(kind));
    clt_json_string(stdout, clt_context_device_name(ctx));
    printf(",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"l1\":%.17g,\"l2\":%.17g,"
           "\"h\":%.17g,\"seed\":%llu,\"samples\":%zu,\"threshold\":%.17g,"
           "\"max_rel_error_W\":",
           a.n, a.d, a.c, a.l1, a.l2, a.h, (unsigned long long)a.seed,
           a.samples, a.threshold);
    json_number(r.max_rel_error_W);
    printf(",\"checked_W\":%zu,\"max_rel_error_b\":", r.checked_W);
    if (a.bias) json_number(r.max_rel_error_b);
    else printf("null");
    printf(",\"checked_b\":%zu,\"pass\":%s}\n", r.checked_b,
           pass ? "true" : "false");
  }
  clt_context_destroy(ctx);
  return pass ? 0 : 1;
}
