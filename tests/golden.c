/* Reader for the PyTorch golden data and the matching input generators.
   See golden.h and tests/golden/gen_golden.py. */
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ data model */

typedef struct golden_param_kv {
  char *key;
  double value;
} golden_param_kv;

struct golden_case {
  char *name;
  golden_param_kv *params;
  size_t nparams, cap_params;
  golden_array *arrays;
  size_t narrays, cap_arrays;
};

struct golden_set {
  golden_case *cases;
  size_t count, cap;
};

#define GOLDEN_TOKEN_MAX 256
#define GOLDEN_MAX_DIM ((size_t)1 << 30)
#define GOLDEN_MAX_VALUES ((size_t)1 << 28)

/* Makes room for `need` elements of size `elem` in *p (capacity *cap). */
static int golden_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > ((size_t)-1) / 2) return -1;
    ncap *= 2;
  }
  if (ncap > ((size_t)-1) / elem) return -1;
  void *q = realloc(*p, ncap * elem);
  if (!q) return -1;
  *p = q;
  *cap = ncap;
  return 0;
}

static char *golden_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void golden_case_clear(golden_case *c) {
  free(c->name);
  for (size_t k = 0; k < c->nparams; k++) free(c->params[k].key);
  free(c->params);
  for (size_t k = 0; k < c->narrays; k++) {
    free((char *)c->arrays[k].name);
    free((double *)c->arrays[k].data);
  }
  free(c->arrays);
  memset(c, 0, sizeof *c);
}

void golden_free(golden_set *set) {
  if (!set) return;
  for (size_t k = 0; k < set->count; k++) golden_case_clear(&set->cases[k]);
  free(set->cases);
  free(set);
}

/* ------------------------------------------------------------- tokenizer */

typedef struct golden_reader {
  gzFile f;
  int len, pos;
  int err;
  unsigned char buf[1 << 16];
} golden_reader;

static int golden_getc(golden_reader *r) {
  if (r->pos >= r->len) {
    if (r->err) return EOF;
    int n = gzread(r->f, r->buf, (unsigned)sizeof r->buf);
    if (n <= 0) {
      int errnum = Z_OK;
      (void)gzerror(r->f, &errnum);
      /* Z_BUF_ERROR: the gzip stream ended early (truncated file). */
      if (n < 0 || errnum != Z_OK) r->err = 1;
      r->len = r->pos = 0;
      return EOF;
    }
    r->len = n;
    r->pos = 0;
  }
  return r->buf[r->pos++];
}

static int golden_is_space(int ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Next whitespace-separated token into tok (GOLDEN_TOKEN_MAX bytes).
   '#' at the start of a token starts a comment to the end of the line.
   Returns 1 for a token, 0 at a clean end of input, -1 on any error. */
static int golden_token(golden_reader *r, char *tok) {
  int ch;
  for (;;) {
    ch = golden_getc(r);
    if (ch == EOF) return r->err ? -1 : 0;
    if (ch == '#') {
      do ch = golden_getc(r);
      while (ch != EOF && ch != '\n');
      if (ch == EOF) return r->err ? -1 : 0;
      continue;
    }
    if (!golden_is_space(ch)) break;
  }
  size_t n = 0;
  while (ch != EOF && !golden_is_space(ch)) {
    if (ch < 0x21 || ch > 0x7e) return -1; /* binary garbage */
    if (n + 1 >= GOLDEN_TOKEN_MAX) return -1;
    tok[n++] = (char)ch;
    ch = golden_getc(r);
  }
  tok[n] = '\0';
  return r->err ? -1 : 1;
}

static int golden_parse_double(const char *s, double *out) {
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end != '\0') return -1;
  *out = v;
  return 0;
}

static int golden_parse_dim(const char *s, size_t *out) {
  size_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (size_t)(*s - '0');
    if (v > GOLDEN_MAX_DIM) return -1;
  }
  *out = v;
  return 0;
}

/* --------------------------------------------------------------- parser */

static int golden_read_case(golden_reader *r, golden_case *c, char *tok) {
  for (;;) {
    if (golden_token(r, tok) != 1) return -1;
    if (strcmp(tok, "end") == 0) return 0;
    if (strcmp(tok, "param") == 0) {
      double v;
      if (golden_token(r, tok) != 1) return -1;
      for (size_t k = 0; k < c->nparams; k++)
        if (strcmp(c->params[k].key, tok) == 0) return -1; /* duplicate */
      if (golden_grow((void **)&c->params, &c->cap_params, c->nparams + 1,
                      sizeof *c->params))
        return -1;
      char *key = golden_strdup(tok);
      if (!key) return -1;
      if (golden_token(r, tok) != 1 || golden_parse_double(tok, &v)) {
        free(key);
        return -1;
      }
      c->params[c->nparams].key = key;
      c->params[c->nparams].value = v;
      c->nparams++;
    } else if (strcmp(tok, "array") == 0) {
      size_t rows, cols;
      if (golden_token(r, tok) != 1) return -1;
      for (size_t k = 0; k < c->narrays; k++)
        if (strcmp(c->arrays[k].name, tok) == 0) return -1; /* duplicate */
      if (golden_grow((void **)&c->arrays, &c->cap_arrays, c->narrays + 1,
                      sizeof *c->arrays))
        return -1;
      golden_array *a = &c->arrays[c->narrays];
      memset(a, 0, sizeof *a);
      char *name = golden_strdup(tok);
      if (!name) return -1;
      a->name = name;
      c->narrays++; /* from here on golden_case_clear frees it */
      if (golden_token(r, tok) != 1 || golden_parse_dim(tok, &rows)) return -1;
      if (golden_token(r, tok) != 1 || golden_parse_dim(tok, &cols)) return -1;
      if (rows == 0 || cols == 0 || rows > GOLDEN_MAX_VALUES / cols) return -1;
      size_t n = rows * cols, have = 0, cap = 0;
      double *data = NULL;
      while (have < n) {
        double v;
        if (golden_token(r, tok) != 1 || golden_parse_double(tok, &v) ||
            golden_grow((void **)&data, &cap, have + 1, sizeof *data)) {
          free(data);
          return -1;
        }
        data[have++] = v;
      }
      a->rows = rows;
      a->cols = cols;
      a->data = data;
    } else {
      return -1;
    }
  }
}

static int golden_parse(golden_reader *r, golden_set *set) {
  char tok[GOLDEN_TOKEN_MAX];
  for (;;) {
    int t = golden_token(r, tok);
    if (t != 1) return -1; /* the file must end with "eof COUNT" */
    if (strcmp(tok, "eof") == 0) {
      size_t count;
      if (golden_token(r, tok) != 1 || golden_parse_dim(tok, &count)) return -1;
      if (count != set->count) return -1;
      return golden_token(r, tok) == 0 ? 0 : -1;
    }
    if (strcmp(tok, "case") != 0) return -1;
    if (golden_token(r, tok) != 1) return -1;
    for (size_t k = 0; k < set->count; k++)
      if (strcmp(set->cases[k].name, tok) == 0) return -1; /* duplicate */
    if (golden_grow((void **)&set->cases, &set->cap, set->count + 1, sizeof *set->cases))
      return -1;
    golden_case *c = &set->cases[set->count];
    memset(c, 0, sizeof *c);
    c->name = golden_strdup(tok);
    if (!c->name) return -1;
    set->count++;
    if (golden_read_case(r, c, tok)) return -1;
  }
}

golden_set *golden_load(const char *path) {
  if (!path) return NULL;
  golden_set *set = calloc(1, sizeof *set);
  golden_reader *r = calloc(1, sizeof *r);
  if (!set || !r) {
    free(set);
    free(r);
    return NULL;
  }
  r->f = gzopen(path, "rb");
  if (!r->f) {
    free(r);
    free(set);
    return NULL;
  }
  int rc = golden_parse(r, set);
  if (gzclose(r->f) != Z_OK) rc = -1;
  free(r);
  if (rc) {
    golden_free(set);
    return NULL;
  }
  return set;
}

/* -------------------------------------------------------------- queries */

size_t golden_count(const golden_set *set) { return set ? set->count : 0; }

const golden_case *golden_at(const golden_set *set, size_t index) {
  if (!set || index >= set->count) return NULL;
  return &set->cases[index];
}

const golden_case *golden_find(const golden_set *set, const char *name) {
  if (!set || !name) return NULL;
  for (size_t k = 0; k < set->count; k++)
    if (strcmp(set->cases[k].name, name) == 0) return &set->cases[k];
  return NULL;
}

const char *golden_case_name(const golden_case *c) { return c ? c->name : NULL; }

static const golden_param_kv *golden_param_find(const golden_case *c, const char *key) {
  if (!c || !key) return NULL;
  for (size_t k = 0; k < c->nparams; k++)
    if (strcmp(c->params[k].key, key) == 0) return &c->params[k];
  return NULL;
}

int golden_has_param(const golden_case *c, const char *key) {
  return golden_param_find(c, key) != NULL;
}

double golden_param(const golden_case *c, const char *key, double dflt) {
  const golden_param_kv *p = golden_param_find(c, key);
  return p ? p->value : dflt;
}

const golden_array *golden_array_get(const golden_case *c, const char *name) {
  if (!c || !name) return NULL;
  for (size_t k = 0; k < c->narrays; k++)
    if (strcmp(c->arrays[k].name, name) == 0) return &c->arrays[k];
  return NULL;
}

size_t golden_array_count(const golden_case *c) { return c ? c->narrays : 0; }

const golden_array *golden_array_at(const golden_case *c, size_t index) {
  if (!c || index >= c->narrays) return NULL;
  return &c->arrays[index];
}

/* ----------------------------------------------------------- generators */

static uint64_t golden_splitmix64(uint64_t x) {
  uint64_t z = x + UINT64_C(0x9E3779B97F4A7C15);
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

double golden_uniform(uint64_t seed, uint64_t i) {
  uint64_t z = golden_splitmix64(seed * UINT64_C(0x9E3779B97F4A7C15) + i);
  return (double)(z >> 40) / 8388608.0 - 1.0;
}

double golden_round_f32(double x) { return (double)(float)x; }

void golden_to_float(const double *src, float *dst, size_t n) {
  if (!src || !dst) return;
  for (size_t k = 0; k < n; k++) dst[k] = (float)src[k];
}

void golden_fill_uniform(double *out, size_t n, uint64_t seed, double scale) {
  if (!out) return;
  for (size_t i = 0; i < n; i++) out[i] = golden_round_f32(scale * golden_uniform(seed, i));
}

/* A param that must be present and a whole number in [lo, 2^53]. */
static int golden_int_param(const golden_case *c, const char *key, double lo, double *out) {
  const golden_param_kv *p = golden_param_find(c, key);
  if (!p) return -1;
  double v = p->value;
  if (!(v >= lo && v <= 9007199254740992.0) || v != floor(v)) return -1;
  *out = v;
  return 0;
}

static int golden_size_param(const golden_case *c, const char *key, size_t *out) {
  double v;
  if (golden_int_param(c, key, 1.0, &v) || v > (double)GOLDEN_MAX_DIM) return -1;
  *out = (size_t)v;
  return 0;
}

static int golden_seed(const golden_case *c, uint64_t *seed) {
  double v;
  if (golden_int_param(c, "seed", 0.0, &v)) return -1;
  *seed = (uint64_t)v;
  return 0;
}

/* n and c of a loss case, with n * c checked. */
static int golden_loss_shape(const golden_case *c, size_t *n, size_t *cls, uint64_t *seed) {
  if (golden_size_param(c, "n", n) || golden_size_param(c, "c", cls) ||
      golden_seed(c, seed))
    return -1;
  if (*n > GOLDEN_MAX_VALUES / *cls) return -1;
  return 0;
}

int golden_loss_labels(const golden_case *c, int32_t *y) {
  size_t n, cls;
  uint64_t seed;
  if (!c || !y || golden_loss_shape(c, &n, &cls, &seed)) return -1;
  if (golden_param(c, "target_rule", 0) != 0) return -1;
  double ii = golden_param(c, "ignore_index", -100);
  double every = golden_param(c, "ignore_every", 0);
  if (ii != floor(ii) || ii < (double)INT32_MIN || ii > (double)INT32_MAX) return -1;
  if (every != floor(every) || every < 0 || every > (double)GOLDEN_MAX_DIM) return -1;
  size_t k = (size_t)every;
  for (size_t r = 0; r < n; r++) {
    double v = floor((golden_uniform(seed + 1, r) + 1.0) / 2.0 * (double)cls);
    if (v > (double)(cls - 1)) v = (double)(cls - 1);
    y[r] = (int32_t)v;
    if (k > 0 && r % k == k - 1) y[r] = (int32_t)ii;
  }
  return 0;
}

int golden_loss_scores(const golden_case *c, double *S) {
  size_t n, cls;
  uint64_t seed;
  if (!c || !S || golden_loss_shape(c, &n, &cls, &seed)) return -1;
  double rule = golden_param(c, "scores_rule", 0);
  size_t total = n * cls;
  if (rule == 0 || rule == 3) {
    golden_fill_uniform(S, total, seed, 4.0);
    if (rule == 3) {
      int32_t *y = malloc(n * sizeof *y);
      if (!y) return -1;
      if (golden_loss_labels(c, y)) {
        free(y);
        return -1;
      }
      for (size_t r = 0; r < n; r += 2)
        if (y[r] >= 0 && (size_t)y[r] < cls) S[r * cls + (size_t)y[r]] = -1e4;
      free(y);
    }
  } else if (rule == 1) {
    for (size_t r = 0; r < n; r++) {
      double v = golden_round_f32(4.0 * golden_uniform(seed, r));
      for (size_t j = 0; j < cls; j++) S[r * cls + j] = v;
    }
  } else if (rule == 2) {
    for (size_t i = 0; i < total; i++) S[i] = golden_uniform(seed, i) >= 0 ? 1e4 : -1e4;
  } else {
    return -1;
  }
  return 0;
}

int golden_loss_target(const golden_case *c, double *T) {
  size_t n, cls;
  uint64_t seed;
  if (!c || !T || golden_loss_shape(c, &n, &cls, &seed)) return -1;
  double rule = golden_param(c, "target_rule", -1);
  size_t total = n * cls;
  if (rule == 1 || rule == 2) {
    for (size_t r = 0; r < n; r++) {
      uint64_t base = (uint64_t)(r * cls);
      double m = -INFINITY, s = 0.0;
      for (size_t j = 0; j < cls; j++) {
        double x = 2.0 * golden_uniform(seed + 1, base + j);
        if (x > m) m = x;
      }
      for (size_t j = 0; j < cls; j++) s += exp(2.0 * golden_uniform(seed + 1, base + j) - m);
      double ls = log(s);
      for (size_t j = 0; j < cls; j++) {
        double x = 2.0 * golden_uniform(seed + 1, base + j);
        T[r * cls + j] = golden_round_f32(rule == 1 ? exp(x - m) / s : (x - m) - ls);
      }
    }
  } else if (rule == 3) {
    for (size_t i = 0; i < total; i++)
      T[i] = golden_round_f32((golden_uniform(seed + 1, i) + 1.0) / 2.0);
  } else if (rule == 4) {
    golden_fill_uniform(T, total, seed + 1, 4.0);
  } else {
    return -1;
  }
  return 0;
}

static int golden_loss_row(const golden_case *c, double *w, uint64_t offset) {
  size_t n, cls;
  uint64_t seed;
  if (!c || !w || golden_loss_shape(c, &n, &cls, &seed)) return -1;
  for (size_t j = 0; j < cls; j++)
    w[j] = golden_round_f32(1.5 + golden_uniform(seed + offset, j));
  return 0;
}

int golden_loss_class_weight(const golden_case *c, double *w) {
  return golden_loss_row(c, w, 2);
}

int golden_loss_pos_weight(const golden_case *c, double *pw) {
  return golden_loss_row(c, pw, 3);
}

int golden_reg_weights(const golden_case *c, double *W) {
  size_t d, cls;
  uint64_t seed;
  if (!c || !W || golden_size_param(c, "d", &d) || golden_size_param(c, "c", &cls) ||
      golden_seed(c, &seed) || d > GOLDEN_MAX_VALUES / cls)
    return -1;
  for (size_t i = 0; i < d * cls; i++)
    W[i] = i % 5 == 4 ? 0.0 : golden_round_f32(golden_uniform(seed, i));
  return 0;
}

int golden_linear_inputs(const golden_case *c, double *X, double *W, double *b, double *dS) {
  size_t n, d, cls;
  uint64_t seed;
  if (!c || golden_size_param(c, "n", &n) || golden_size_param(c, "d", &d) ||
      golden_size_param(c, "c", &cls) || golden_seed(c, &seed) ||
      n > GOLDEN_MAX_VALUES / d || d > GOLDEN_MAX_VALUES / cls || n > GOLDEN_MAX_VALUES / cls)
    return -1;
  if (X) golden_fill_uniform(X, n * d, seed, 1.0);
  if (W) golden_fill_uniform(W, d * cls, seed + 1, 0.5);
  if (b) golden_fill_uniform(b, cls, seed + 2, 1.0);
  if (dS) golden_fill_uniform(dS, n * cls, seed + 3, 1.0);
  return 0;
}

int golden_optim_init(const golden_case *c, double *w) {
  size_t size;
  uint64_t seed;
  if (!c || !w || golden_size_param(c, "size", &size) || golden_seed(c, &seed)) return -1;
  golden_fill_uniform(w, size, seed, 1.0);
  return 0;
}

int golden_optim_grad(const golden_case *c, unsigned step, double *g) {
  size_t size;
  uint64_t seed;
  if (!c || !g || step == 0 || golden_size_param(c, "size", &size) || golden_seed(c, &seed))
    return -1;
  golden_fill_uniform(g, size, seed + step, 0.5);
  return 0;
}
