/* The tuner of the OpenCL backend and its cache (cltrain.h: clt_tune).

   What it tunes: the profile's launch-time choices, which need no rebuild
   of the program: the fused step's variant (CPU-shaped with 1, 2 or 4 row
   blocks per compute unit, GPU-shaped with 64, 128 or 256 work-items per
   row, or none: the composed ops), and the classes up to which the linear
   kernels run instead of CLBlast. Build options (prefetch, the elementwise
   kernels' shape) stay the device class's. Every candidate is checked
   against the reference backend on the same inputs before it is timed; one
   that disagrees is never chosen. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fileio.h"
#include "../fused.h"
#include "../rng.h"
#include "cl_internal.h"

/* ------------------------------------------------------------ the cache */

/* The cache key of a device: its platform, name and driver, this
   version of cltrain and its kernels' source. */
static void tune_key(const clt_device_info *d, char key[17]) {
  uint64_t h = CLT_FNV1A_BASIS;
  const char *parts[] = {d->platform, d->name, d->driver, clt_version()};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    h = clt_fnv1a(h, parts[i], strlen(parts[i]) + 1);
  uint64_t src = clt_cl_source_hash();
  h = clt_fnv1a(h, &src, sizeof src);
  snprintf(key, 17, "%016llx", (unsigned long long)h);
}

/* $XDG_CACHE_HOME/cltrain/tune, or ~/.cache/cltrain/tune; false when
   neither is set (an XDG path must be absolute). With dir, the folder. */
static bool cache_path(char *buf, size_t len, bool dir) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n;
  if (xdg && xdg[0] == '/')
    n = snprintf(buf, len, "%s/cltrain%s", xdg, dir ? "" : "/tune");
  else if (home && home[0] == '/')
    n = snprintf(buf, len, "%s/.cache/cltrain%s", home, dir ? "" : "/tune");
  else
    return false;
  return n > 0 && (size_t)n < len;
}

/* The cache file's text (malloc'd, NUL-terminated), or NULL if there is
   none or it cannot be read: a regular file of at most 16 MB. */
#define CACHE_MAX_BYTES (1u << 24)
static char *cache_text(void) {
  char path[4096];
  int fd;
  if (!cache_path(path, sizeof path, false) ||
      clt_input_open(NULL, path, CACHE_MAX_BYTES, &fd) != CLT_OK)
    return NULL;
  char *text = malloc(CACHE_MAX_BYTES + 1);
  size_t len = 0;
  while (text && len < CACHE_MAX_BYTES) {
    ssize_t got = read(fd, text + len, CACHE_MAX_BYTES - len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    len += (size_t)got;
  }
  close(fd);
  if (text) text[len] = '\0';
  return text;
}

/* The variant of key's line in text into variant; false if none. A line
   is "KEY VARIANT # what the device is". */
static bool find_line(const char *text, const char *key, char *variant, size_t len) {
  for (const char *line = text; *line;) {
    const char *next = strchr(line, '\n');
    if (strncmp(line, key, 16) != 0 || line[16] != ' ') {
      if (!next) break;
      line = next + 1;
      continue;
    }
    const char *v = line + 17;
    size_t n = strcspn(v, " \n");
    if (n == 0 || n >= len) return false;
    memcpy(variant, v, n);
    variant[n] = '\0';
    return true;
  }
  return false;
}

/* One tuning at a time in a process, so that contexts opened together on
   an unseen device tune it once; it guards the memo too. */
static pthread_mutex_t tune_lock = PTHREAD_MUTEX_INITIALIZER;

/* What this process learnt of devices the cache may not hold (a tuning
   not kept, or failed: not tried again), by key. */
#define MEMO_MAX 16
static struct {
  char key[17];
  bool tuned;
  clt_cl_profile profile;
} memo[MEMO_MAX];
static size_t nmemo;

static void remember(const char *key, bool tuned, const clt_cl_profile *p) {
  size_t i = 0;
  while (i < nmemo && strcmp(memo[i].key, key) != 0) i++;
  if (i == MEMO_MAX) return;
  if (i == nmemo) nmemo++;
  snprintf(memo[i].key, sizeof memo[i].key, "%s", key);
  memo[i].tuned = tuned;
  if (p) memo[i].profile = *p;
}

/* With tune_lock held: the memo's or the cache's variant for d. */
static clt_cl_tune_found lookup_locked(const clt_device_info *d, clt_cl_profile *out) {
  char key[17], found[CLT_VARIANT_LEN], why[160];
  tune_key(d, key);
  for (size_t i = 0; i < nmemo; i++)
    if (strcmp(memo[i].key, key) == 0) {
      if (!memo[i].tuned) return CLT_TUNE_SKIP;
      *out = memo[i].profile;
      return CLT_TUNE_HIT;
    }
  char *text = cache_text();
  bool ok = text && find_line(text, key, found, sizeof found) &&
            clt_cl_variant_parse(found, out, why, sizeof why);
  free(text);
  return ok ? CLT_TUNE_HIT : CLT_TUNE_MISS;
}

clt_cl_tune_found clt_cl_tune_lookup(const clt_device_info *d, clt_cl_profile *out) {
  pthread_mutex_lock(&tune_lock);
  clt_cl_tune_found f = lookup_locked(d, out);
  pthread_mutex_unlock(&tune_lock);
  return f;
}

/* The cache's folder into dir (len bytes), made with its parent (~/.cache
   may not exist yet) if need be; false with the reason in why. */
static bool cache_dir(char *dir, size_t len, char *why, size_t why_len) {
  if (!cache_path(dir, len, true)) {
    snprintf(why, why_len, "no tuning cache: neither XDG_CACHE_HOME nor HOME is an absolute path");
    return false;
  }
  char *slash = strrchr(dir, '/');
  *slash = '\0'; /* the parent first */
  bool made = mkdir(dir, 0755) == 0 || errno == EEXIST;
  *slash = '/';
  made = made && (mkdir(dir, 0755) == 0 || errno == EEXIST);
  if (!made) snprintf(why, why_len, "cannot create %s: %s", dir, strerror(errno));
  return made;
}

/* Replaces or adds d's line in the cache, written atomically (a
   temporary file renamed over it). */
static clt_status cache_store(clt_context *ctx, const clt_device_info *d,
                              const char *variant, char *path, size_t path_len) {
  char dir[4096], key[17], why[4300];
  if (!cache_dir(dir, sizeof dir, why, sizeof why) || !cache_path(path, path_len, false))
    return clt_fail(ctx, CLT_ERR_IO, "%s", why);
  tune_key(d, key);
  /* processes that store at once take turns (a lock file beside it), so
     that none drops another's line */
  char lock_path[4200];
  snprintf(lock_path, sizeof lock_path, "%s/tune.lock", dir);
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock >= 0) flock(lock, LOCK_EX);
  char *text = cache_text();
  clt_wbuf b = {0};
  const char *head = "# cltrain's tuned variants, one device per line (cltrain tune)\n";
  clt_wbuf_bytes(&b, head, strlen(head));
  for (const char *line = text; line && *line;) {
    size_t n = strcspn(line, "\n");
    if (line[0] != '#' && n > 17 && strncmp(line, key, 16) != 0) {
      clt_wbuf_bytes(&b, line, n);
      clt_wbuf_bytes(&b, "\n", 1);
    }
    line += n + (line[n] == '\n');
  }
  free(text);
  char entry[CLT_VARIANT_LEN + 640];
  int n = snprintf(entry, sizeof entry, "%s %s # %s / %s / driver %s\n", key, variant,
                   d->platform, d->name, d->driver);
  clt_wbuf_bytes(&b, entry, n > 0 && (size_t)n < sizeof entry ? (size_t)n : 0);
  clt_status st = clt_wbuf_write(ctx, &b, path);
  clt_wbuf_free(&b);
  if (lock >= 0) close(lock); /* and its lock with it */
  return st;
}

/* Whether the cache's folder takes a file: false with the reason in why. */
static bool cache_writable(char *why, size_t len) {
  char dir[4096], probe[4200];
  if (!cache_dir(dir, sizeof dir, why, len)) return false;
  snprintf(probe, sizeof probe, "%s/.probe.XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0) {
    snprintf(why, len, "%s: %s", dir, strerror(errno));
    return false;
  }
  close(fd);
  unlink(probe);
  return true;
}

/* ---------------------------------------------------------- the problems */

/* Representative shapes: a Fashion-MNIST-sized step (D 784, 10 classes,
   cross-entropy, rows read through a permutation) at batch 256 and 4096,
   and the linear ops at 1024 rows and 8, 32 and 128 classes. */
#define T_ROWS 4096
#define T_D 784
#define T_C 10
#define T_LIN_ROWS 1024
static const size_t step_batches[] = {256, T_ROWS};
static const size_t lin_classes[] = {8, 32, 128};
#define N_BATCHES (sizeof step_batches / sizeof step_batches[0])
#define N_LIN (sizeof lin_classes / sizeof lin_classes[0])

/* The tensors of every problem on one context. */
typedef struct side {
  clt_context *ctx;
  clt_tensor *X, *y, *idx, *W, *b, *dW, *db, *losses;
  clt_tensor *Xb[N_BATCHES], *Tb[N_BATCHES];
  clt_tensor *Xl, *lW[N_LIN], *lb[N_LIN], *lS[N_LIN], *ldS[N_LIN], *ldW[N_LIN], *ldb[N_LIN];
} side;

static void side_free(side *s) {
  clt_tensor **all[] = {&s->X, &s->y, &s->idx, &s->W, &s->b, &s->dW, &s->db, &s->losses, &s->Xl};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clt_tensor_destroy(*all[i]);
  for (size_t k = 0; k < N_BATCHES; k++) {
    clt_tensor_destroy(s->Xb[k]);
    clt_tensor_destroy(s->Tb[k]);
  }
  for (size_t k = 0; k < N_LIN; k++) {
    clt_tensor *t[] = {s->lW[k], s->lb[k], s->lS[k], s->ldS[k], s->ldW[k], s->ldb[k]};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) clt_tensor_destroy(t[i]);
  }
}

static clt_status make(clt_context *ctx, size_t r, size_t c, clt_dtype dt, const void *host,
                       clt_tensor **out) {
  CLT_TRY(clt_tensor_create(ctx, r, c, dt, out));
  return host ? clt_tensor_write(*out, host, r * c * 4) : CLT_OK;
}

/* The same inputs on ctx, from the host arrays of h. */
typedef struct host_data {
  float *X, *W, *lW, *dS;
  int32_t *y, *idx;
} host_data;

static clt_status side_make(clt_context *ctx, const host_data *h, side *s) {
  s->ctx = ctx;
  CLT_TRY(make(ctx, T_ROWS, T_D, CLT_FLOAT32, h->X, &s->X));
  CLT_TRY(make(ctx, T_ROWS, 1, CLT_INT32, h->y, &s->y));
  CLT_TRY(make(ctx, T_ROWS, 1, CLT_INT32, h->idx, &s->idx));
  CLT_TRY(make(ctx, T_D, T_C, CLT_FLOAT32, h->W, &s->W));
  CLT_TRY(make(ctx, 1, T_C, CLT_FLOAT32, h->W, &s->b));
  CLT_TRY(make(ctx, T_D, T_C, CLT_FLOAT32, NULL, &s->dW));
  CLT_TRY(make(ctx, 1, T_C, CLT_FLOAT32, NULL, &s->db));
  CLT_TRY(make(ctx, 1, 2, CLT_FLOAT32, NULL, &s->losses));
  for (size_t k = 0; k < N_BATCHES; k++) {
    CLT_TRY(make(ctx, step_batches[k], T_D, CLT_FLOAT32, NULL, &s->Xb[k]));
    CLT_TRY(make(ctx, step_batches[k], 1, CLT_INT32, NULL, &s->Tb[k]));
  }
  CLT_TRY(clt_tensor_view_rows(s->X, 0, T_LIN_ROWS, &s->Xl));
  for (size_t k = 0; k < N_LIN; k++) {
    size_t c = lin_classes[k];
    CLT_TRY(make(ctx, T_D, c, CLT_FLOAT32, h->lW, &s->lW[k]));
    CLT_TRY(make(ctx, 1, c, CLT_FLOAT32, h->lW, &s->lb[k]));
    CLT_TRY(make(ctx, T_LIN_ROWS, c, CLT_FLOAT32, NULL, &s->lS[k]));
    CLT_TRY(make(ctx, T_LIN_ROWS, c, CLT_FLOAT32, h->dS, &s->ldS[k]));
    CLT_TRY(make(ctx, T_D, c, CLT_FLOAT32, NULL, &s->ldW[k]));
    CLT_TRY(make(ctx, 1, c, CLT_FLOAT32, NULL, &s->ldb[k]));
  }
  return CLT_OK;
}

static clt_status host_make(host_data *h) {
  size_t lmax = lin_classes[N_LIN - 1];
  h->X = malloc(sizeof(float) * T_ROWS * T_D);
  h->W = malloc(sizeof(float) * T_D * T_C);
  h->lW = malloc(sizeof(float) * T_D * lmax);
  h->dS = malloc(sizeof(float) * T_LIN_ROWS * lmax);
  h->y = malloc(sizeof(int32_t) * T_ROWS);
  h->idx = malloc(sizeof(int32_t) * T_ROWS);
  if (!h->X || !h->W || !h->lW || !h->dS || !h->y || !h->idx) return CLT_ERR_OUT_OF_MEMORY;
  clt_rng r = {.s = 20261205};
  for (size_t i = 0; i < (size_t)T_ROWS * T_D; i++) h->X[i] = (float)clt_rng_uniform(&r);
  for (size_t i = 0; i < (size_t)T_D * T_C; i++) h->W[i] = (float)(0.05 * clt_rng_normal(&r));
  for (size_t i = 0; i < T_D * lmax; i++) h->lW[i] = (float)(0.05 * clt_rng_normal(&r));
  for (size_t i = 0; i < T_LIN_ROWS * lmax; i++) h->dS[i] = (float)clt_rng_normal(&r);
  for (size_t i = 0; i < T_ROWS; i++) {
    h->y[i] = (int32_t)(clt_splitmix64(&r.s) % T_C);
    h->idx[i] = (int32_t)i;
  }
  for (size_t i = T_ROWS - 1; i > 0; i--) { /* a permutation, as training reads */
    size_t j = clt_splitmix64(&r.s) % (i + 1);
    int32_t t = h->idx[i];
    h->idx[i] = h->idx[j];
    h->idx[j] = t;
  }
  return CLT_OK;
}

static void host_free(host_data *h) {
  free(h->X), free(h->W), free(h->lW), free(h->dS), free(h->y), free(h->idx);
}

/* One step at batch k; on OpenCL the loss stays in the slot, as in
   training, and is read into *loss unless loss is NULL. */
static clt_status run_step(side *s, size_t k, double *loss) {
  clt_loss_desc ce = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
  clt_loss_slot slot = {.losses = s->losses};
  bool ref = clt_context_is_reference(s->ctx);
  double value = 0;
  CLT_TRY(clt_linear_loss_grad_rows(s->ctx, &ce, NULL, s->X, s->y, s->idx, 0, s->Xb[k], s->Tb[k],
                                    s->W, s->b, ref ? NULL : &slot, &value, s->dW, s->db));
  if (slot.written && loss) {
    float l[2];
    CLT_TRY(clt_tensor_read(s->losses, l, sizeof l));
    value = (double)l[0] + l[1];
  }
  if (loss) *loss = value;
  return CLT_OK;
}

static clt_status step_call(side *s, size_t k) { return run_step(s, k, NULL); }

static clt_status run_linear(side *s, size_t k) {
  CLT_TRY(clt_linear_forward(s->ctx, s->Xl, s->lW[k], s->lb[k], s->lS[k]));
  return clt_linear_backward(s->ctx, s->Xl, s->lW[k], s->ldS[k], s->ldW[k], s->ldb[k], NULL);
}

/* ------------------------------------------------------- checks, timing */

/* |dev - ref| <= 1e-4 + 1e-3 |ref| everywhere: float32 sums of up to 4096
   terms of unit size against double ones. */
static bool close_all(const float *dev, const float *ref, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(fabsf(dev[i] - ref[i]) <= 1e-4f + 1e-3f * fabsf(ref[i]))) return false;
  return true;
}

static clt_status read_pair(const clt_tensor *a, const clt_tensor *b, float **ha, float **hb) {
  size_t na = clt_tensor_rows(a) * clt_tensor_cols(a), nb = clt_tensor_rows(b) * clt_tensor_cols(b);
  *ha = malloc(na * 4);
  *hb = malloc(nb * 4);
  if (!*ha || !*hb) return CLT_ERR_OUT_OF_MEMORY;
  CLT_TRY(clt_tensor_read(a, *ha, na * 4));
  return clt_tensor_read(b, *hb, nb * 4);
}

/* Whether a and b (same shapes) hold close values. */
static clt_status agree(const clt_tensor *dev, const clt_tensor *ref, bool *ok) {
  float *d = NULL, *r = NULL;
  clt_status st = read_pair(dev, ref, &d, &r);
  if (st == CLT_OK)
    *ok = *ok && close_all(d, r, clt_tensor_rows(dev) * clt_tensor_cols(dev));
  free(d);
  free(r);
  return st;
}

/* Seconds per call of the problem: the least over three rounds, each of
   as many calls as take 20 ms (at least one), the queue drained before
   the clock stops. */
typedef clt_status (*call_fn)(side *s, size_t k);

static clt_status time_calls(side *s, call_fn fn, size_t k, double *out) {
  double best = INFINITY;
  size_t reps = 1;
  for (int round = 0; round < 3; round++) {
    CLT_TRY(clt_context_finish(s->ctx));
    double t0 = clt_now();
    for (size_t i = 0; i < reps; i++) CLT_TRY(fn(s, k));
    CLT_TRY(clt_context_finish(s->ctx));
    double per = (clt_now() - t0) / (double)reps;
    if (per < best) best = per;
    if (round == 0 && per < 0.02) reps = (size_t)(0.02 / (per > 1e-7 ? per : 1e-7)) + 1;
  }
  *out = best;
  return CLT_OK;
}

/* -------------------------------------------------------------- the tuner */

typedef struct tuner {
  clt_context *ctx;
  side dev, ref;
  double t0, budget;
  bool verbose, over; /* over: the budget ran out, the rest kept as they were */
} tuner;

static void say(const tuner *t, const char *fmt, ...) {
  if (!t->verbose) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

static bool out_of_time(tuner *t) {
  if (clt_now() - t->t0 > t->budget) t->over = true;
  return t->over;
}

typedef struct step_candidate {
  const char *what;
  size_t step_gpu, knob; /* knob: row blocks per unit (CPU), work-items per row (GPU) */
  bool composed;
} step_candidate;

static const step_candidate step_candidates[] = {
    {"CPU-shaped fused step, 1 row block per unit", 0, 1, false},
    {"CPU-shaped fused step, 2 row blocks per unit", 0, 2, false},
    {"CPU-shaped fused step, 4 row blocks per unit", 0, 4, false},
    {"GPU-shaped fused step, 64 work-items per row", 1, 64, false},
    {"GPU-shaped fused step, 128 work-items per row", 1, 128, false},
    {"GPU-shaped fused step, 256 work-items per row", 1, 256, false},
    {"separate ops (no fused step)", 0, 0, true},
};
#define N_STEP (sizeof step_candidates / sizeof step_candidates[0])

static void apply_step(clt_cl_profile *p, const clt_cl_profile *base, const step_candidate *c) {
  *p = *base;
  if (c->composed) {
    p->fused_max_c = 0;
    return;
  }
  if (p->fused_max_c < T_C) p->fused_max_c = CLT_STEP_MAX_C;
  if (p->fused_max_cd < (size_t)T_C * T_D) p->fused_max_cd = (size_t)T_C * T_D;
  p->step_gpu = c->step_gpu;
  if (c->step_gpu) {
    p->step_row_group = c->knob;
    /* a CPU profile has no dW pass of its own: the GPU profile's */
    if (!p->step_dw_items) p->step_dw_items = clt_cl_profile_named("gpu")->step_dw_items;
  } else {
    p->step_blocks_per_unit = c->knob;
  }
}

/* The reference's step at every batch, to check the candidates with. */
typedef struct step_ref {
  double loss[N_BATCHES];
  float *dW[N_BATCHES], *db[N_BATCHES];
} step_ref;

/* Candidate c (applied to ctx's profile) checked at every batch, then
   timed: *ok false if it disagrees with the reference; secs[k] the time
   of a step at batch k, INFINITY for the batches not timed: after the
   first when it is 4x behind best_small there (each size of a shape costs
   a compilation on some drivers). */
static clt_status try_step(tuner *t, const step_ref *r, double best_small, bool *ok,
                           double secs[N_BATCHES]) {
  clt_status st = CLT_OK;
  *ok = true;
  for (size_t k = 0; k < N_BATCHES; k++) secs[k] = INFINITY;
  for (size_t k = 0; k < N_BATCHES && st == CLT_OK && *ok; k++) {
    double loss;
    float *dW = NULL, *db = NULL;
    st = run_step(&t->dev, k, &loss);
    if (st == CLT_OK) st = read_pair(t->dev.dW, t->dev.db, &dW, &db);
    if (st == CLT_OK)
      *ok = fabs(loss - r->loss[k]) <= 1e-5 + 1e-4 * fabs(r->loss[k]) &&
            close_all(dW, r->dW[k], T_D * T_C) && close_all(db, r->db[k], T_C);
    free(dW);
    free(db);
    if (st == CLT_OK && *ok) st = time_calls(&t->dev, step_call, k, &secs[k]);
    if (k == 0 && secs[0] > 4 * best_small) break;
  }
  return st;
}

/* The fastest correct step candidate into *best (unchanged if none is
   measured). A shape (CPU or GPU) whose first candidate is 4x behind the
   best at the small batch is not tried in its other sizes. */
static clt_status tune_step(tuner *t, clt_cl_profile *best) {
  clt_cl_context *cl = clt_cl_of(t->ctx);
  const clt_cl_profile base = *best;
  step_ref r = {0};
  clt_status st = CLT_OK;
  for (size_t k = 0; k < N_BATCHES && st == CLT_OK; k++) {
    st = run_step(&t->ref, k, &r.loss[k]);
    if (st == CLT_OK) st = read_pair(t->ref.dW, t->ref.db, &r.dW[k], &r.db[k]);
  }
  say(t, "fused step, D %d, %d classes, cross-entropy; microseconds a step at batch %zu | %zu:\n",
      T_D, T_C, step_batches[0], step_batches[1]);
  double best_score = INFINITY, best_small = INFINITY;
  bool pruned[2] = {false, false}; /* by shape: CPU, GPU */
  for (size_t i = 0; i < N_STEP && st == CLT_OK && !out_of_time(t); i++) {
    const step_candidate *c = &step_candidates[i];
    if ((c->step_gpu && c->knob > cl->max_wg) || (!c->composed && pruned[c->step_gpu])) continue;
    apply_step(&cl->profile, &base, c);
    bool ok;
    double secs[N_BATCHES], score = 0;
    if ((st = try_step(t, &r, best_small, &ok, secs)) != CLT_OK) break;
    for (size_t k = 0; k < N_BATCHES; k++) score += secs[k] / (double)step_batches[k];
    if (!ok) {
      say(t, "  %-48s disagrees with the reference: not a candidate\n", c->what);
      continue;
    }
    if (isinf(score)) {
      if (!c->composed) pruned[c->step_gpu] = true;
      say(t, "  %-48s %9.1f | 4x behind: this shape's other sizes are skipped\n", c->what,
          1e6 * secs[0]);
      continue;
    }
    bool win = score < best_score;
    say(t, "  %-48s %9.1f | %9.1f%s\n", c->what, 1e6 * secs[0], 1e6 * secs[1],
        win ? "  (best so far)" : "");
    if (secs[0] < best_small) best_small = secs[0];
    if (win) {
      best_score = score;
      *best = cl->profile;
    }
  }
  cl->profile = base;
  for (size_t k = 0; k < N_BATCHES; k++) free(r.dW[k]), free(r.db[k]);
  return st;
}

/* The linear kernels' limit: the classes up to which they beat CLBlast.
   The sizes are tried from the largest down, taking the kernels' lead to
   grow as C shrinks: the first size at which the kernels win is the limit
   (SIZE_MAX at the largest; 0 when CLBlast wins at every size). */
static clt_status tune_linear(tuner *t, clt_cl_profile *best) {
  clt_cl_context *cl = clt_cl_of(t->ctx);
  const clt_cl_profile base = *best;
  say(t, "linear forward and backward, %d rows, D %d; microseconds, kernels | CLBlast:\n",
      T_LIN_ROWS, T_D);
  size_t limit = 0;
  bool measured = true;
  clt_status st = CLT_OK;
  for (size_t k = N_LIN; k-- > 0 && st == CLT_OK;) {
    double secs[2] = {INFINITY, INFINITY};
    bool ok[2] = {true, true};
    st = run_linear(&t->ref, k);
    for (int blas = 0; blas < 2 && st == CLT_OK; blas++) {
      if (out_of_time(t)) break;
      cl->profile = base;
      cl->profile.linear_kernel_max_c = blas ? 0 : SIZE_MAX;
      st = run_linear(&t->dev, k);
      if (st == CLT_OK) st = agree(t->dev.lS[k], t->ref.lS[k], &ok[blas]);
      if (st == CLT_OK) st = agree(t->dev.ldW[k], t->ref.ldW[k], &ok[blas]);
      if (st == CLT_OK) st = agree(t->dev.ldb[k], t->ref.ldb[k], &ok[blas]);
      if (st == CLT_OK && ok[blas]) st = time_calls(&t->dev, run_linear, k, &secs[blas]);
    }
    if (st != CLT_OK || t->over) break;
    say(t, "  %3zu classes %9.1f%s | %9.1f%s\n", lin_classes[k], 1e6 * secs[0],
        ok[0] ? "" : " (disagrees with the reference)", 1e6 * secs[1],
        ok[1] ? "" : " (disagrees with the reference)");
    if (!ok[0] && !ok[1]) { /* neither checked out: nothing to choose */
      measured = false;
      break;
    }
    if (ok[0] && secs[0] <= secs[1]) {
      limit = k == N_LIN - 1 ? SIZE_MAX : lin_classes[k];
      break;
    }
  }
  cl->profile = base;
  if (st == CLT_OK && !t->over && measured) best->linear_kernel_max_c = limit;
  return st;
}

clt_status clt_cl_tune(clt_context *ctx, double budget, bool verbose) {
  clt_cl_context *cl = clt_cl_of(ctx);
  tuner t = {.ctx = ctx, .t0 = clt_now(), .budget = budget, .verbose = verbose};
  host_data h = {0};
  clt_context *ref = NULL;
  clt_context_options ro = {.device = "ref"};
  clt_status st = host_make(&h);
  if (st != CLT_OK) st = clt_fail(ctx, st, "tuning: out of host memory");
  if (st == CLT_OK && (st = clt_context_create(&ro, &ref)) != CLT_OK)
    st = clt_fail(ctx, st, "tuning: the reference backend: %s", clt_last_error(NULL));
  if (st == CLT_OK) st = side_make(ctx, &h, &t.dev);
  if (st == CLT_OK && (st = side_make(ref, &h, &t.ref)) != CLT_OK)
    st = clt_fail(ctx, st, "tuning: the reference backend: %s", clt_last_error(ref));
  host_free(&h);
  clt_cl_profile best = cl->profile;
  if (st == CLT_OK) st = tune_step(&t, &best);
  if (st == CLT_OK) st = tune_linear(&t, &best);
  side_free(&t.dev);
  side_free(&t.ref);
  clt_context_destroy(ref);
  if (st != CLT_OK) return st;
  if (t.over)
    say(&t, "the %.0f s budget ran out: what was not measured keeps the %s profile's value\n",
        budget, cl->profile.name);
  /* the winner as a variant reads back as itself (what the cache keeps) */
  char text[CLT_VARIANT_LEN], why[160];
  clt_cl_profile back;
  clt_cl_variant_format(&best, text, sizeof text);
  if (!clt_cl_variant_parse(text, &back, why, sizeof why))
    return clt_fail(ctx, CLT_ERR_INVALID_ARG, "tuning chose %s, which is no variant: %s", text,
                    why);
  cl->profile = back;
  cl->tuned = true;
  snprintf(cl->variant, sizeof cl->variant, "%s", text);
  return CLT_OK;
}

/* ------------------------------------------------------------ first use */

clt_status clt_cl_tune_device(clt_context *ctx, const clt_device_info *d, bool verbose,
                              char *path, size_t len) {
  pthread_mutex_lock(&tune_lock);
  clt_status st = clt_cl_tune(ctx, CLT_TUNE_BUDGET_S, verbose);
  if (st == CLT_OK) st = cache_store(ctx, d, clt_cl_of(ctx)->variant, path, len);
  if (st == CLT_OK) {
    char key[17];
    tune_key(d, key);
    remember(key, true, &clt_cl_of(ctx)->profile);
  }
  pthread_mutex_unlock(&tune_lock);
  return st;
}

bool clt_cl_tuned_variant(const clt_device_info *d, char *variant, size_t len) {
  clt_cl_profile p;
  if (clt_cl_tune_lookup(d, &p) != CLT_TUNE_HIT) return false;
  if (variant) clt_cl_variant_format(&p, variant, len);
  return true;
}

bool clt_cl_wants_tuning(const clt_context *ctx) { return clt_cl_of(ctx)->tune_pending; }

/* ctx takes p when its program was built for p's options. */
static void adopt(clt_context *ctx, const clt_cl_profile *p) {
  clt_cl_context *cl = clt_cl_of(ctx);
  char want[256], have[256];
  clt_cl_build_options(p, want, sizeof want);
  clt_cl_build_options(&cl->profile, have, sizeof have);
  if (strcmp(want, have) != 0) return;
  cl->profile = *p;
  cl->tuned = true;
  clt_cl_variant_format(&cl->profile, cl->variant, sizeof cl->variant);
}

void clt_cl_tune_first_use(clt_context *bench, clt_context *ctx, const clt_device_info *d) {
  clt_cl_context *cl = clt_cl_of(ctx);
  cl->tune_pending = false;
  char key[17], why[4300], path[4096];
  tune_key(d, key);
  pthread_mutex_lock(&tune_lock);
  clt_cl_profile p;
  clt_cl_tune_found f = lookup_locked(d, &p);
  if (f == CLT_TUNE_HIT) { /* another context tuned it meanwhile */
    adopt(ctx, &p);
  } else if (f == CLT_TUNE_MISS && !cache_writable(why, sizeof why)) {
    fprintf(stderr,
            "cltrain: %s is not tuned, and a tuning could not be kept (%s): the %s profile's "
            "defaults are used (set XDG_CACHE_HOME, or CLT_TUNE=off)\n",
            d->name, why, cl->profile.name);
    remember(key, false, NULL);
  } else if (f == CLT_TUNE_MISS) {
    fprintf(stderr,
            "cltrain: tuning %s for its first use (at most 30 s, once per device and "
            "driver; CLT_TUNE=off skips it, cltrain tune redoes it)\n",
            d->name);
    double t0 = clt_now();
    if (clt_cl_tune(bench, CLT_TUNE_BUDGET_S, false) != CLT_OK) {
      fprintf(stderr, "cltrain: tuning failed (%s): the %s profile's defaults are used\n",
              bench->err, cl->profile.name);
      remember(key, false, NULL);
    } else {
      if (cache_store(bench, d, clt_cl_of(bench)->variant, path, sizeof path) == CLT_OK)
        fprintf(stderr, "cltrain: tuned in %.1f s, kept in %s\n", clt_now() - t0, path);
      else
        fprintf(stderr, "cltrain: tuned in %.1f s, not kept: %s\n", clt_now() - t0,
                bench->err);
      adopt(ctx, &clt_cl_of(bench)->profile);
      remember(key, true, &clt_cl_of(bench)->profile);
    }
  }
  pthread_mutex_unlock(&tune_lock);
}
