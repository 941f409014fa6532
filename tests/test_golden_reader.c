/* The golden-data reader and the input generators: the files load, the
   generator agrees with the Python one, broken files are refused, and the
   inputs regenerated in C reproduce what PyTorch computed (checked with
   plain double arithmetic on cases simple enough to recompute here). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "golden.h"

#ifndef CLT_GOLDEN_DIR
#error "CLT_GOLDEN_DIR must name the tests/golden directory"
#endif

#define LOSSES CLT_GOLDEN_DIR "/losses.txt.gz"
#define LINEAR CLT_GOLDEN_DIR "/linear.txt.gz"
#define OPTIM CLT_GOLDEN_DIR "/optim.txt.gz"

static golden_set *must_load(const char *path) {
  golden_set *set = golden_load(path);
  cr_assert_not_null(set, "golden_load(%s) failed", path);
  return set;
}

static const golden_case *must_find(const golden_set *set, const char *name) {
  const golden_case *c = golden_find(set, name);
  cr_assert_not_null(c, "case %s missing", name);
  return c;
}

static const golden_array *must_array(const golden_case *c, const char *name,
                                      size_t rows, size_t cols) {
  const golden_array *a = golden_array_get(c, name);
  cr_assert_not_null(a, "%s: array %s missing", golden_case_name(c), name);
  cr_assert(a->rows == rows && a->cols == cols, "%s: %s is %zux%zu, want %zux%zu",
            golden_case_name(c), name, a->rows, a->cols, rows, cols);
  return a;
}

static void expect_close(const char *what, const double *got, const double *want, size_t n,
                         double rtol) {
  for (size_t k = 0; k < n; k++) {
    double tol = rtol * (1.0 + fabs(want[k]));
    cr_expect(fabs(got[k] - want[k]) <= tol, "%s[%zu]: got %.17g, golden %.17g", what, k,
              got[k], want[k]);
    if (!(fabs(got[k] - want[k]) <= tol)) return;
  }
}

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof *p);
  cr_assert_not_null(p);
  return p;
}

static size_t psize(const golden_case *c, const char *key) {
  double v = golden_param(c, key, -1);
  cr_assert(v >= 1 && v == floor(v), "%s: param %s = %g", golden_case_name(c), key, v);
  return (size_t)v;
}

/* Writes bytes to a fresh temporary file; the caller unlinks path. */
static void write_temp(char path[64], const void *data, size_t len) {
  strcpy(path, "/tmp/golden_test_XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0, "mkstemp failed");
  FILE *f = fdopen(fd, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

/* Same, gzip-compressed. */
static void write_temp_gz(char path[64], const char *text) {
  strcpy(path, "/tmp/golden_test_XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0, "mkstemp failed");
  close(fd);
  gzFile f = gzopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(gzwrite(f, text, (unsigned)strlen(text)), (int)strlen(text));
  cr_assert_eq(gzclose(f), Z_OK);
}

static golden_set *load_text(const char *text, int gz) {
  char path[64];
  if (gz)
    write_temp_gz(path, text);
  else
    write_temp(path, text, strlen(text));
  golden_set *set = golden_load(path);
  unlink(path);
  return set;
}

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  size_t cap = 1 << 20, n = 0;
  unsigned char *buf = malloc(cap);
  cr_assert_not_null(buf);
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      cr_assert_not_null(buf);
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* ------------------------------------------------------------ generator */

Test(golden_reader, uniform_matches_python) {
  /* Printed by tests/golden/gen_golden.py; exact binary values. */
  cr_expect_eq(golden_uniform(0, 0), 0.76662158966064453);
  cr_expect_eq(golden_uniform(42, 7), -0.23595404624938965);
  cr_expect_eq(golden_uniform(12345, 1000000), -0.96426701545715332);
  for (uint64_t i = 0; i < 10000; i++) {
    double u = golden_uniform(7, i);
    cr_assert(u >= -1.0 && u < 1.0);
    cr_assert_eq(golden_round_f32(u), u, "u is not exact in float32");
  }
}

/* ------------------------------------------------------------- loading */

Test(golden_reader, files_load) {
  const char *paths[] = {LOSSES, LINEAR, OPTIM};
  const char *some[] = {"ce_plain_7x5", "linear_5x784x10", "adam_4097"};
  for (int k = 0; k < 3; k++) {
    golden_set *set = must_load(paths[k]);
    cr_expect_gt(golden_count(set), 0);
    for (size_t i = 0; i < golden_count(set); i++) {
      const golden_case *c = golden_at(set, i);
      cr_assert_not_null(c);
      cr_assert_not_null(golden_case_name(c));
      cr_expect_eq(golden_find(set, golden_case_name(c)), c);
      cr_expect_gt(golden_array_count(c), 0, "%s has no arrays", golden_case_name(c));
      for (size_t a = 0; a < golden_array_count(c); a++) {
        const golden_array *arr = golden_array_at(c, a);
        for (size_t e = 0; e < arr->rows * arr->cols; e++)
          cr_assert(isfinite(arr->data[e]), "%s.%s[%zu] not finite", golden_case_name(c),
                    arr->name, e);
      }
    }
    cr_expect_null(golden_at(set, golden_count(set)));
    cr_expect_null(golden_find(set, "no such case"));
    const golden_case *c = must_find(set, some[k]);
    cr_expect_null(golden_array_get(c, "no such array"));
    cr_expect(golden_has_param(c, "seed"));
    cr_expect(!golden_has_param(c, "no such param"));
    cr_expect_eq(golden_param(c, "no such param", 42.5), 42.5);
    golden_free(set);
  }
}

Test(golden_reader, params_and_arrays) {
  golden_set *set = must_load(OPTIM);
  const golden_case *c = must_find(set, "adam_amsgrad_7");
  cr_expect_eq(golden_param(c, "kind", -1), 4);
  cr_expect_eq(golden_param(c, "amsgrad", -1), 1);
  cr_expect_eq((float)golden_param(c, "lr", 0), 1e-3f);
  cr_expect_eq((float)golden_param(c, "beta2", 0), 0.999f);
  cr_expect_eq(golden_param(c, "steps", 0), 20);
  must_array(c, "param_20", 1, 7);
  must_array(c, "max_exp_avg_sq_1", 1, 7);
  c = must_find(set, "nadam_7");
  must_array(c, "mu_product_3", 1, 1);
  golden_free(set);
}

Test(golden_reader, minimal_files) {
  const char *ok = "# comment\ncase a\n param x 1.5 # trailing comment\n"
                   "array v 2 3\n1 2 3\n4\n5 6e-1\nend\ncase b end\neof 2\n";
  for (int gz = 0; gz < 2; gz++) {
    golden_set *set = load_text(ok, gz);
    cr_assert_not_null(set);
    cr_expect_eq(golden_count(set), 2);
    const golden_case *a = golden_find(set, "a");
    cr_assert_not_null(a);
    cr_expect_eq(golden_param(a, "x", 0), 1.5);
    const golden_array *v = golden_array_get(a, "v");
    cr_assert_not_null(v);
    cr_expect(v->rows == 2 && v->cols == 3);
    cr_expect_eq(v->data[5], 0.6);
    cr_expect_eq(golden_array_count(golden_find(set, "b")), 0);
    golden_free(set);
  }
}

Test(golden_reader, malformed_files) {
  const char *bad[] = {
      "",
      "case a end\n",                           /* no eof */
      "case a end\neof 2\n",                    /* wrong count */
      "case a end\neof 1\nextra\n",             /* data after eof */
      "case a\nparam x 1\n",                    /* unterminated case */
      "case a\narray v 2 2\n1 2 3\nend\neof 1", /* too few values */
      "case a\narray v 1 2\n1 2 3\nend\neof 1", /* too many values */
      "case a\narray v 0 2\nend\neof 1",        /* zero rows */
      "case a\narray v 99999999999999999999 2\n1\nend\neof 1",
      "case a\narray v 65536 65536\n1\nend\neof 1", /* too large */
      "case a\narray v -1 2\n1 2\nend\neof 1",
      "case a\nparam x abc\nend\neof 1",
      "case a\nparam x 1\nparam x 2\nend\neof 1", /* duplicate param */
      "case a\narray v 1 1 1\narray v 1 1 2\nend\neof 1",
      "case a end\ncase a end\neof 2",            /* duplicate case */
      "case a\nbogus 1\nend\neof 1",
      "hello world\n",
      "case a\nparam x 1\x01\nend\neof 1",
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
    for (int gz = 0; gz < 2; gz++) {
      golden_set *set = load_text(bad[k], gz);
      cr_expect_null(set, "bad file %zu (gz %d) accepted", k, gz);
      golden_free(set);
    }
  cr_expect_null(golden_load(NULL));
  cr_expect_null(golden_load("/nonexistent/dir/golden.txt.gz"));
  golden_free(NULL);
}

Test(golden_reader, truncated_and_garbage) {
  size_t len;
  unsigned char *data = read_all(LINEAR, &len);
  cr_assert_gt(len, 1000);
  const size_t cuts[] = {len / 2, len - 8, len - 1, 10, 1};
  for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
    char path[64];
    write_temp(path, data, cuts[k]);
    golden_set *set = golden_load(path);
    unlink(path);
    cr_expect_null(set, "file cut to %zu of %zu bytes accepted", cuts[k], len);
    golden_free(set);
  }
  /* Corrupted compressed data. */
  for (size_t k = len / 3; k < len / 3 + 16; k++) data[k] ^= 0x5a;
  {
    char path[64];
    write_temp(path, data, len);
    golden_set *set = golden_load(path);
    unlink(path);
    cr_expect_null(set, "corrupted file accepted");
    golden_free(set);
  }
  /* Pseudo-random bytes, with and without a gzip header. */
  for (size_t k = 0; k < len; k++) data[k] = (unsigned char)(golden_uniform(99, k) * 128 + 128);
  for (int hdr = 0; hdr < 2; hdr++) {
    if (hdr) {
      data[0] = 0x1f;
      data[1] = 0x8b;
      data[2] = 8;
    }
    char path[64];
    write_temp(path, data, len);
    golden_set *set = golden_load(path);
    unlink(path);
    cr_expect_null(set, "garbage accepted (gzip header %d)", hdr);
    golden_free(set);
  }
  free(data);
  /* A text file cut in the middle of an array and at a case boundary. */
  gzFile f = gzopen(LINEAR, "rb");
  cr_assert_not_null(f);
  static char text[1 << 16];
  int n = gzread(f, text, sizeof text - 1);
  gzclose(f);
  cr_assert_gt(n, 1000);
  text[n] = '\0';
  char *cut = strstr(text + 1, "\nend\n");
  cr_assert_not_null(cut);
  cut[5] = '\0';
  golden_set *set = load_text(text, 1);
  cr_expect_null(set, "file without eof accepted");
  golden_free(set);
  cut[0] = '\0';
  set = load_text(text, 1);
  cr_expect_null(set, "file cut inside a case accepted");
  golden_free(set);
}

/* --------------------------------------- inputs reproduce PyTorch's results */

Test(golden_reader, linear_inputs) {
  golden_set *set = must_load(LINEAR);
  for (size_t k = 0; k < golden_count(set); k++) {
    const golden_case *c = golden_at(set, k);
    size_t n = psize(c, "n"), d = psize(c, "d"), m = psize(c, "c");
    double *X = dalloc(n * d), *W = dalloc(d * m), *b = dalloc(m), *dS = dalloc(n * m);
    double *S = dalloc(n * m), *dW = dalloc(d * m), *db = dalloc(m), *dX = dalloc(n * d);
    cr_assert_eq(golden_linear_inputs(c, X, W, b, dS), 0);
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < m; j++) {
        double s = b[j];
        for (size_t q = 0; q < d; q++) s += X[i * d + q] * W[q * m + j];
        S[i * m + j] = s;
        db[j] += dS[i * m + j];
      }
    for (size_t q = 0; q < d; q++)
      for (size_t j = 0; j < m; j++)
        for (size_t i = 0; i < n; i++) dW[q * m + j] += X[i * d + q] * dS[i * m + j];
    for (size_t i = 0; i < n; i++)
      for (size_t q = 0; q < d; q++)
        for (size_t j = 0; j < m; j++) dX[i * d + q] += dS[i * m + j] * W[q * m + j];
    expect_close("S", S, must_array(c, "S", n, m)->data, n * m, 1e-12);
    expect_close("dW", dW, must_array(c, "dW", d, m)->data, d * m, 1e-12);
    expect_close("db", db, must_array(c, "db", 1, m)->data, m, 1e-12);
    expect_close("dX", dX, must_array(c, "dX", n, d)->data, n * d, 1e-12);
    free(X), free(W), free(b), free(dS), free(S), free(dW), free(db), free(dX);
  }
  golden_free(set);
}

Test(golden_reader, optim_inputs) {
  golden_set *set = must_load(OPTIM);
  const char *names[] = {"sgd_1", "sgd_7", "sgd_4097"};
  for (int k = 0; k < 3; k++) {
    const golden_case *c = must_find(set, names[k]);
    size_t size = psize(c, "size");
    double lr = golden_param(c, "lr", 0);
    cr_assert_eq((float)lr, 0.1f);
    double *w = dalloc(size), *g = dalloc(size);
    cr_assert_eq(golden_optim_init(c, w), 0);
    for (unsigned t = 1; t <= 20; t++) {
      cr_assert_eq(golden_optim_grad(c, t, g), 0);
      for (size_t i = 0; i < size; i++) w[i] -= lr * g[i];
      char name[32];
      snprintf(name, sizeof name, "param_%u", t);
      const golden_array *a = golden_array_get(c, name);
      if (a) expect_close(name, w, must_array(c, name, 1, size)->data, size, 1e-13);
    }
    cr_expect_not_null(golden_array_get(c, "param_20"));
    cr_expect_eq(golden_optim_grad(c, 0, g), -1);
    free(w), free(g);
  }
  golden_free(set);
}

Test(golden_reader, regularization_inputs) {
  golden_set *set = must_load(LOSSES);
  size_t seen = 0;
  for (size_t k = 0; k < golden_count(set); k++) {
    const golden_case *c = golden_at(set, k);
    if (strncmp(golden_case_name(c), "reg_", 4) != 0) continue;
    seen++;
    size_t d = psize(c, "d"), m = psize(c, "c");
    double l1 = golden_param(c, "l1", -1), l2 = golden_param(c, "l2", -1);
    double *W = dalloc(d * m), *dW = dalloc(d * m), pen = 0;
    cr_assert_eq(golden_reg_weights(c, W), 0);
    for (size_t i = 0; i < d * m; i++) {
      double s = W[i] > 0 ? 1.0 : W[i] < 0 ? -1.0 : 0.0;
      pen += l1 * fabs(W[i]) + 0.5 * l2 * W[i] * W[i];
      dW[i] = l1 * s + l2 * W[i];
    }
    expect_close("penalty", &pen, must_array(c, "penalty", 1, 1)->data, 1, 1e-12);
    expect_close("dW", dW, must_array(c, "dW", d, m)->data, d * m, 1e-12);
    free(W), free(dW);
  }
  cr_expect_gt(seen, 0);
  golden_free(set);
}

/* Loss inputs of one case, regenerated. */
typedef struct loss_in {
  size_t n, c;
  double *S, *T, *w, *pw;
  int32_t *y;
} loss_in;

static loss_in loss_inputs(const golden_case *c) {
  loss_in in;
  in.n = psize(c, "n");
  in.c = psize(c, "c");
  in.S = dalloc(in.n * in.c);
  in.T = dalloc(in.n * in.c);
  in.w = dalloc(in.c);
  in.pw = dalloc(in.c);
  in.y = calloc(in.n, sizeof *in.y);
  cr_assert_not_null(in.y);
  cr_assert_eq(golden_loss_scores(c, in.S), 0, "%s: scores", golden_case_name(c));
  if (golden_param(c, "target_rule", -1) == 0)
    cr_assert_eq(golden_loss_labels(c, in.y), 0);
  else
    cr_assert_eq(golden_loss_target(c, in.T), 0);
  cr_assert_eq(golden_loss_class_weight(c, in.w), 0);
  cr_assert_eq(golden_loss_pos_weight(c, in.pw), 0);
  return in;
}

static void loss_free(loss_in *in) {
  free(in->S), free(in->T), free(in->w), free(in->pw), free(in->y);
}

static void check_loss(const golden_case *c, double loss, const double *dS, size_t n,
                       size_t m, double rtol) {
  expect_close(golden_case_name(c), &loss, must_array(c, "loss", 1, 1)->data, 1, rtol);
  expect_close(golden_case_name(c), dS, must_array(c, "dS", n, m)->data, n * m, rtol);
}

static double lse_row(const double *s, size_t m) {
  double mx = -INFINITY, sum = 0;
  for (size_t j = 0; j < m; j++) mx = s[j] > mx ? s[j] : mx;
  for (size_t j = 0; j < m; j++) sum += exp(s[j] - mx);
  return mx + log(sum);
}

/* Class-weighted cross-entropy with ignored labels, mean reduction. */
static void check_ce_labels(const golden_case *c) {
  loss_in in = loss_inputs(c);
  int use_w = golden_param(c, "class_weight", 0) != 0;
  int32_t ii = (int32_t)golden_param(c, "ignore_index", -100);
  double num = 0, den = 0;
  double *dS = dalloc(in.n * in.c);
  for (size_t r = 0; r < in.n; r++) {
    if (in.y[r] == ii) continue;
    cr_assert(in.y[r] >= 0 && (size_t)in.y[r] < in.c);
    double wy = use_w ? in.w[in.y[r]] : 1.0, l = lse_row(in.S + r * in.c, in.c);
    num += wy * (l - in.S[r * in.c + (size_t)in.y[r]]);
    den += wy;
    for (size_t j = 0; j < in.c; j++)
      dS[r * in.c + j] = wy * (exp(in.S[r * in.c + j] - l) - ((size_t)in.y[r] == j));
  }
  for (size_t i = 0; i < in.n * in.c; i++) dS[i] /= den;
  check_loss(c, num / den, dS, in.n, in.c, 1e-11);
  free(dS);
  loss_free(&in);
}

Test(golden_reader, loss_inputs_cross_entropy) {
  golden_set *set = must_load(LOSSES);
  const char *names[] = {"ce_plain_7x5", "ce_weight_93x10", "ce_ignore_93x10",
                         "ce_ignore_default_7x5", "ce_plain_4x1000", "ce_stab_big_93x10",
                         "ce_stab_trueneg_7x5", "ce_stab_equal_7x5", "ce_plain_1x1"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    check_ce_labels(must_find(set, names[k]));
  /* the ignore rule must actually ignore rows */
  const golden_case *c = must_find(set, "ce_ignore_7x5");
  int32_t y[7];
  cr_assert_eq(golden_loss_labels(c, y), 0);
  cr_expect_eq(y[2], 3);
  cr_expect_eq(y[5], 3);
  /* soft targets: sum_r sum_j -T log softmax / n */
  c = must_find(set, "ce_prob_93x10");
  loss_in in = loss_inputs(c);
  double loss = 0, *dS = dalloc(in.n * in.c);
  for (size_t r = 0; r < in.n; r++) {
    double l = lse_row(in.S + r * in.c, in.c), tsum = 0;
    for (size_t j = 0; j < in.c; j++) {
      loss -= in.T[r * in.c + j] * (in.S[r * in.c + j] - l);
      tsum += in.T[r * in.c + j];
    }
    for (size_t j = 0; j < in.c; j++)
      dS[r * in.c + j] = (tsum * exp(in.S[r * in.c + j] - l) - in.T[r * in.c + j]) / in.n;
  }
  check_loss(c, loss / in.n, dS, in.n, in.c, 1e-11);
  free(dS);
  loss_free(&in);
  golden_free(set);
}

Test(golden_reader, loss_inputs_hinge) {
  golden_set *set = must_load(LOSSES);
  const char *names[] = {"hinge_m1_p1_mean_7x5", "hinge_m2.5_p2_sum_93x10",
                         "hinge_stab_equal_7x5", "hinge_stab_big_93x10",
                         "hinge_stab_trueneg_p2_7x5"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    const golden_case *c = must_find(set, names[k]);
    loss_in in = loss_inputs(c);
    double margin = golden_param(c, "margin", 1), p = golden_param(c, "p", 1);
    double scale = golden_param(c, "reduction", 0) == 0 ? 1.0 / (double)in.n : 1.0;
    double loss = 0, *dS = dalloc(in.n * in.c);
    for (size_t r = 0; r < in.n; r++) {
      const double *s = in.S + r * in.c;
      size_t y = (size_t)in.y[r];
      for (size_t j = 0; j < in.c; j++) {
        double z = s[j] - s[y] + margin;
        if (j == y || z <= 0) continue;
        loss += p == 2 ? z * z : z;
        double g = (p == 2 ? 2 * z : 1.0) * scale;
        dS[r * in.c + j] += g;
        dS[r * in.c + y] -= g;
      }
    }
    check_loss(c, loss * scale, dS, in.n, in.c, 1e-12);
    if (strstr(names[k], "equal"))
      cr_expect(fabs(loss * scale - (double)(in.c - 1) * margin) < 1e-12,
                "equal logits: loss must be (C-1) margin");
    free(dS);
    loss_free(&in);
  }
  golden_free(set);
}

Test(golden_reader, loss_inputs_elementwise) {
  golden_set *set = must_load(LOSSES);
  /* mse, mean over n*c */
  const golden_case *c = must_find(set, "mse_mean_93x10");
  loss_in in = loss_inputs(c);
  size_t nc = in.n * in.c;
  double loss = 0, *dS = dalloc(nc);
  for (size_t i = 0; i < nc; i++) {
    double e = in.S[i] - in.T[i];
    loss += e * e / (double)nc;
    dS[i] = 2 * e / (double)nc;
  }
  check_loss(c, loss, dS, in.n, in.c, 1e-12);
  free(dS);
  loss_free(&in);
  /* bce with pos_weight, plain and at +-1e4 */
  const char *bce[] = {"bce_posw_93x10", "bce_stab_big_posw_7x5"};
  for (int k = 0; k < 2; k++) {
    c = must_find(set, bce[k]);
    in = loss_inputs(c);
    nc = in.n * in.c;
    loss = 0;
    dS = dalloc(nc);
    for (size_t i = 0; i < nc; i++) {
      double x = in.S[i], t = in.T[i], pw = in.pw[i % in.c];
      double lw = 1 + (pw - 1) * t;
      /* -[pw t log sig(x) + (1-t) log(1-sig(x))] */
      double sp = log1p(exp(-fabs(x))) + (x < 0 ? -x : 0); /* softplus(-x) */
      loss += ((1 - t) * x + lw * sp) / (double)nc;
      double sig = x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
      dS[i] = ((1 - t) - lw * (1 - sig)) / (double)nc;
    }
    check_loss(c, loss, dS, in.n, in.c, 1e-11);
    free(dS);
    loss_free(&in);
  }
  /* kl with log-probability targets, batchmean */
  c = must_find(set, "kl_lt1_batchmean_93x10");
  in = loss_inputs(c);
  loss = 0;
  dS = dalloc(in.n * in.c);
  double *dIn = dalloc(in.n * in.c);
  for (size_t r = 0; r < in.n; r++) {
    double l = lse_row(in.S + r * in.c, in.c), tsum = 0;
    for (size_t j = 0; j < in.c; j++) {
      double t = in.T[r * in.c + j], lp = in.S[r * in.c + j] - l;
      loss += exp(t) * (t - lp) / (double)in.n;
      dIn[r * in.c + j] = -exp(t) / (double)in.n;
      tsum += exp(t);
    }
    for (size_t j = 0; j < in.c; j++)
      dS[r * in.c + j] = (tsum * exp(in.S[r * in.c + j] - l) - exp(in.T[r * in.c + j])) /
                         (double)in.n;
  }
  check_loss(c, loss, dS, in.n, in.c, 1e-11);
  expect_close("dInput", dIn, must_array(c, "dInput", in.n, in.c)->data, in.n * in.c, 1e-12);
  free(dS);
  free(dIn);
  loss_free(&in);
  /* probability targets are float32 values summing to 1 within rounding */
  c = must_find(set, "kl_lt0_batchmean_4x1000");
  in = loss_inputs(c);
  for (size_t r = 0; r < in.n; r++) {
    double s = 0;
    for (size_t j = 0; j < in.c; j++) {
      s += in.T[r * in.c + j];
      cr_assert_eq(golden_round_f32(in.T[r * in.c + j]), in.T[r * in.c + j]);
    }
    cr_expect(fabs(s - 1) < 1e-5);
  }
  loss_free(&in);
  golden_free(set);
}
