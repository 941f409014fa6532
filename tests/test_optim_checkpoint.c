/* Optimizer checkpoints: save, load into a fresh optimizer (fresh context)
   and continue is bit-identical to never stopping, on both backends, for
   single tensors and groups; truncated, corrupted and mismatched files get
   CLT_ERR_FORMAT and change nothing. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "optim_tests.h"

enum { T = 3, STEPS = 6, CUT = 3 };
static const size_t rows_[T] = {40, 1, 7}, cols_[T] = {5, 5, 1};
static const clt_param_options opts_[T] = {{0, 0}, {1, 1}, {0, 0}};

/* A model: T tensors, either registered one by one or as one group. */
typedef struct model {
  clt_context *ctx;
  clt_optimizer *opt;
  clt_tensor *p[T], *g[T];
  bool group;
} model;

static model model_open(const char *spec, const clt_optim_desc *d,
                        bool group) {
  model m = {.ctx = tu_context(spec), .group = group};
  m.opt = ot_create(m.ctx, d);
  if (group) {
    cr_assert_eq(clt_optimizer_add_group(m.opt, T, rows_, cols_, opts_, m.p,
                                         m.g),
                 CLT_OK, "%s", clt_last_error(m.ctx));
  } else {
    for (int k = 0; k < T; k++) {
      m.p[k] = tu_tensor(m.ctx, rows_[k], cols_[k], NULL);
      m.g[k] = tu_tensor(m.ctx, rows_[k], cols_[k], NULL);
      cr_assert_eq(clt_optimizer_add_param(m.opt, m.p[k], &opts_[k]), CLT_OK);
    }
  }
  for (int k = 0; k < T; k++) {
    size_t n = rows_[k] * cols_[k];
    float *x = malloc(n * 4);
    tu_fill_uniform(x, n, 31 + k, -1, 1);
    cr_assert_eq(clt_tensor_write(m.p[k], x, n * 4), CLT_OK);
    free(x);
  }
  return m;
}

static void model_close(model *m) {
  clt_optimizer_destroy(m->opt);
  for (int k = 0; k < T; k++) {
    clt_tensor_destroy(m->p[k]);
    clt_tensor_destroy(m->g[k]);
  }
  clt_context_destroy(m->ctx);
}

/* Step t; one NaN in step 2's gradient exercises the guard's counters. */
static void model_step(model *m, unsigned t) {
  for (int k = 0; k < T; k++) {
    size_t n = rows_[k] * cols_[k];
    float *x = malloc(n * 4);
    ot_grad(x, n, 70 + k, t);
    if (t == 2 && k == 1 && clt_optimizer_desc(m->opt)->skip_nonfinite)
      x[0] = NAN;
    cr_assert_eq(clt_tensor_write(m->g[k], x, n * 4), CLT_OK);
    free(x);
    if (!m->group) ot_step(m->opt, m->p[k], m->g[k]);
  }
  if (m->group)
    cr_assert_eq(clt_optimizer_step_all(m->opt), CLT_OK, "%s",
                 clt_last_error(m->ctx));
}

/* Everything observable: params, states, counters, as bytes. */
typedef struct snapshot {
  float *v[T][1 + CLT_OPT_MAX_STATES];
  clt_optim_stats st[T];
  clt_optim_desc d;
} snapshot;

static snapshot snap(model *m) {
  snapshot s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k < T; k++) {
    s.v[k][0] = tu_read(m->p[k]);
    for (int j = 0; j < CLT_OPT_MAX_STATES; j++)
      s.v[k][1 + j] = ot_state(m->opt, m->p[k], j);
    cr_assert_eq(clt_optimizer_stats(m->opt, m->p[k], &s.st[k]), CLT_OK);
  }
  s.d = *clt_optimizer_desc(m->opt);
  return s;
}

static void expect_same(const snapshot *a, const snapshot *b, const char *why) {
  for (int k = 0; k < T; k++) {
    size_t n = rows_[k] * cols_[k];
    for (int j = 0; j <= CLT_OPT_MAX_STATES; j++) {
      cr_assert((a->v[k][j] == NULL) == (b->v[k][j] == NULL), "%s", why);
      if (a->v[k][j])
        cr_assert(memcmp(a->v[k][j], b->v[k][j], n * 4) == 0,
                  "%s: tensor %d buffer %d differs", why, k, j);
    }
    cr_assert_eq(a->st[k].steps, b->st[k].steps, "%s", why);
    cr_assert_eq(a->st[k].skipped, b->st[k].skipped, "%s", why);
    cr_assert_eq(a->st[k].mu_product, b->st[k].mu_product, "%s", why);
  }
  cr_assert(memcmp(&a->d, &b->d, sizeof a->d) == 0, "%s: desc", why);
}

static void snap_free(snapshot *s) {
  for (int k = 0; k < T; k++)
    for (int j = 0; j <= CLT_OPT_MAX_STATES; j++) free(s->v[k][j]);
}

static void tmp_path(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "/tmp/clt_ckpt_%ld_%s", (long)getpid(), name);
}

/* Run straight through STEPS, and again stopping after CUT: save, close
   everything, reopen, restore params, load, continue. */
static void round_trip(const char *spec, const clt_optim_desc *d, bool group) {
  char path[256];
  tmp_path(path, sizeof path, "rt.bin");
  model a = model_open(spec, d, group);
  for (unsigned t = 1; t <= STEPS; t++) model_step(&a, t);
  snapshot want = snap(&a);
  model_close(&a);

  model b = model_open(spec, d, group);
  for (unsigned t = 1; t <= CUT; t++) model_step(&b, t);
  cr_assert_eq(clt_optimizer_save(b.opt, path), CLT_OK, "%s",
               clt_last_error(b.ctx));
  float *params[T];
  for (int k = 0; k < T; k++) params[k] = tu_read(b.p[k]);
  model_close(&b);

  clt_optim_desc other = *d;
  other.lr = d->lr * 3; /* the file's hyper-parameters win */
  model c = model_open(spec, &other, group);
  for (int k = 0; k < T; k++) {
    cr_assert_eq(clt_tensor_write(c.p[k], params[k], rows_[k] * cols_[k] * 4),
                 CLT_OK);
    free(params[k]);
  }
  cr_assert_eq(clt_optimizer_load(c.opt, path), CLT_OK, "%s",
               clt_last_error(c.ctx));
  cr_assert_eq(clt_optimizer_desc(c.opt)->lr, d->lr);
  for (unsigned t = CUT + 1; t <= STEPS; t++) model_step(&c, t);
  snapshot got = snap(&c);
  char why[96];
  snprintf(why, sizeof why, "%s kind %d%s resumed", spec, (int)d->kind,
           group ? " group" : "");
  expect_same(&want, &got, why);
  if (d->skip_nonfinite) cr_assert_eq(got.st[1].skipped, 1, "%s", why);
  snap_free(&want);
  snap_free(&got);
  model_close(&c);
  unlink(path);
}

Test(optim_checkpoint, resume_is_bit_identical) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t s = 0; s < nd; s++)
    for (int kind = CLT_OPTIM_SGD; kind <= CLT_OPTIM_LAMB; kind++) {
      clt_optim_desc d = clt_optim_defaults((clt_optim_kind)kind);
      d.weight_decay = 1e-2f;
      d.momentum = kind == CLT_OPTIM_SGD || kind == CLT_OPTIM_RMSPROP
                       ? 0.9f
                       : d.momentum;
      d.amsgrad = kind == CLT_OPTIM_ADAM;
      d.centered = kind == CLT_OPTIM_RMSPROP;
      d.skip_nonfinite = kind % 2;
      d.max_grad_norm = kind % 3 == 0 ? 0.5f : 0.0f;
      round_trip(specs[s], &d, kind % 2 == 0);
      round_trip(specs[s], &d, kind % 2 == 1);
    }
}

/* Reads a whole file. */
static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*len);
  cr_assert(b && fread(b, 1, *len, f) == *len);
  fclose(f);
  return b;
}

static void spit(const char *path, const unsigned char *b, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, len, f), len);
  fclose(f);
}

/* A file with a valid checksum over a modified body. */
static void spit_resealed(const char *path, unsigned char *b, size_t len) {
  uint32_t crc = (uint32_t)crc32(0L, b, (uInt)(len - 4));
  for (int i = 0; i < 4; i++) b[len - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
  spit(path, b, len);
}

/* Every load below fails with `want` and leaves m exactly as it was. */
static void expect_refused(model *m, const char *path, clt_status want,
                           const char *what) {
  snapshot before = snap(m);
  clt_status st = clt_optimizer_load(m->opt, path);
  cr_assert_eq(st, want, "%s: %s (%s)", what, clt_status_name(st),
               clt_last_error(m->ctx));
  cr_assert(strstr(clt_last_error(m->ctx), path) != NULL, "%s: the detail names the file: %s",
            what, clt_last_error(m->ctx));
  snapshot after = snap(m);
  expect_same(&before, &after, what);
  snap_free(&before);
  snap_free(&after);
}

Test(optim_checkpoint, bad_files_are_refused_and_change_nothing) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  char good[256], bad[256];
  tmp_path(good, sizeof good, "good.bin");
  tmp_path(bad, sizeof bad, "bad.bin");
  for (size_t s = 0; s < nd; s++) {
    clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_ADAM);
    model m = model_open(specs[s], &d, false);
    for (unsigned t = 1; t <= 2; t++) model_step(&m, t);
    cr_assert_eq(clt_optimizer_save(m.opt, good), CLT_OK);
    model_step(&m, 3); /* m now differs from the file */
    size_t len;
    unsigned char *b = slurp(good, &len);
    /* Truncations anywhere, including inside the checksum. */
    const size_t cuts[] = {0, 3, 8, 20, 100, len / 2, len - 5, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
      spit(bad, b, cuts[k]);
      expect_refused(&m, bad, CLT_ERR_FORMAT, "truncated");
    }
    /* One flipped bit in the header, the hyper-parameters, a state value. */
    const size_t flips[] = {2, 30, len - 50};
    for (size_t k = 0; k < 3; k++) {
      b[flips[k]] ^= 0x10;
      spit(bad, b, len);
      expect_refused(&m, bad, CLT_ERR_FORMAT, "flipped byte");
      b[flips[k]] ^= 0x10;
    }
    /* Valid checksums over wrong contents. */
    unsigned char *c = malloc(len);
    memcpy(c, b, len);
    c[8] = 2; /* version */
    spit_resealed(bad, c, len);
    expect_refused(&m, bad, CLT_ERR_FORMAT, "version 2");
    memcpy(c, b, len);
    c[12] = CLT_OPTIM_SGD; /* kind */
    spit_resealed(bad, c, len);
    expect_refused(&m, bad, CLT_ERR_FORMAT, "other kind in the file");
    cr_assert(strstr(clt_last_error(m.ctx), "kind") != NULL);
    /* A step counter at 2^64 - 1 (the next step would wrap it to 0): the
       entry's u64 steps 2, u64 skipped 0, f64 mu product 1.0. */
    static const unsigned char counts[24] = {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    size_t at = 0;
    while (at + 24 <= len && memcmp(c + at, counts, 24) != 0) at++;
    cr_assert(at + 24 <= len, "the step counter is in the file");
    memcpy(c, b, len);
    memset(c + at, 0xff, 8);
    spit_resealed(bad, c, len);
    expect_refused(&m, bad, CLT_ERR_FORMAT, "step counter at its limit");
    memcpy(c, b, len - 4);
    spit_resealed(bad, c, len - 4); /* a whole value missing */
    expect_refused(&m, bad, CLT_ERR_FORMAT, "short body");
    free(c);
    expect_refused(&m, "/nonexistent/dir/ckpt.bin", CLT_ERR_IO, "missing");
    free(b);

    /* Another optimizer kind, another shape, another state set. */
    clt_optim_desc sgd = clt_optim_defaults(CLT_OPTIM_SGD);
    model o = model_open(specs[s], &sgd, false);
    expect_refused(&o, good, CLT_ERR_FORMAT, "file of another kind");
    model_close(&o);
    clt_optim_desc ams = d;
    ams.amsgrad = 1;
    model a = model_open(specs[s], &ams, false);
    expect_refused(&a, good, CLT_ERR_FORMAT, "amsgrad state set");
    model_close(&a);
    model g = model_open(specs[s], &d, true);
    expect_refused(&g, good, CLT_ERR_FORMAT, "group vs tensors");
    model_close(&g);
    clt_context *ctx = tu_context(specs[s]);
    clt_optimizer *opt = ot_create(ctx, &d);
    clt_tensor *w[T];
    for (int k = 0; k < T; k++) { /* rows and cols swapped */
      w[k] = tu_tensor(ctx, cols_[k], rows_[k], NULL);
      cr_assert_eq(clt_optimizer_add_param(opt, w[k], &opts_[k]), CLT_OK);
    }
    cr_assert_eq(clt_optimizer_load(opt, good), CLT_ERR_FORMAT);
    cr_assert(strstr(clt_last_error(ctx), "40x5") != NULL, "%s",
              clt_last_error(ctx));
    clt_optimizer_destroy(opt);
    for (int k = 0; k < T; k++) clt_tensor_destroy(w[k]);
    clt_context_destroy(ctx);
    model_close(&m);
  }
  unlink(good);
  unlink(bad);
}

/* Saving replaces the file atomically and leaves no temporary behind. */
Test(optim_checkpoint, save_is_atomic_and_reports_io_errors) {
  clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_SGD);
  model m = model_open("ref", &d, true);
  char dir[256], path[300];
  tmp_path(dir, sizeof dir, "dir");
  cr_assert_eq(mkdir(dir, 0700), 0);
  snprintf(path, sizeof path, "%s/opt.bin", dir);
  spit(path, (const unsigned char *)"old contents", 12);
  cr_assert_eq(clt_optimizer_save(m.opt, path), CLT_OK);
  cr_assert_eq(clt_optimizer_load(m.opt, path), CLT_OK);
  DIR *dh = opendir(dir);
  cr_assert_not_null(dh);
  int entries = 0;
  for (struct dirent *e; (e = readdir(dh));)
    if (e->d_name[0] != '.') {
      entries++;
      cr_assert_str_eq(e->d_name, "opt.bin");
    }
  closedir(dh);
  cr_assert_eq(entries, 1);
  char missing[320];
  snprintf(missing, sizeof missing, "%s/no/such/dir/opt.bin", dir);
  cr_assert_eq(clt_optimizer_save(m.opt, missing), CLT_ERR_IO);
  cr_assert_eq(clt_optimizer_save(m.opt, NULL), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_optimizer_load(m.opt, NULL), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_optimizer_save(NULL, path), CLT_ERR_INVALID_ARG);
  unlink(path);
  rmdir(dir);
  model_close(&m);
}
