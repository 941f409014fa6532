/* Class labels: interning label cells, unifying the classes of data sets
   (see labels.h and data.h). */
#include "labels.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"
#include "internal.h"
#include "number.h"

/* ------------------------------------------------------------ interning */

static uint64_t hash_bytes(const char *s, size_t len) {
  return clt_fnv1a(CLT_FNV1A_BASIS, s, len);
}

static bool grow_slots(clt_label_intern *t) {
  size_t nslots = t->nslots ? t->nslots * 2 : 64;
  uint32_t *slot = calloc(nslots, sizeof *slot);
  if (!slot) return false;
  for (size_t k = 0; k < t->n; k++) {
    size_t i = hash_bytes(t->name[k], strlen(t->name[k])) & (nslots - 1);
    while (slot[i]) i = (i + 1) & (nslots - 1);
    slot[i] = (uint32_t)k + 1;
  }
  free(t->slot);
  t->slot = slot;
  t->nslots = nslots;
  return true;
}

/* The id of the label [s, s + len), added when new; -1 when out of memory
   or past INT32_MAX classes. */
static int64_t intern(clt_label_intern *t, const char *s, size_t len) {
  if (2 * (t->n + 1) > t->nslots && !grow_slots(t)) return -1;
  size_t i = hash_bytes(s, len) & (t->nslots - 1);
  for (; t->slot[i]; i = (i + 1) & (t->nslots - 1)) {
    const char *nm = t->name[t->slot[i] - 1];
    if (strncmp(nm, s, len) == 0 && nm[len] == '\0') return t->slot[i] - 1;
  }
  if (t->n >= INT32_MAX) return -1;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **name = realloc(t->name, cap * sizeof *name);
    if (!name) return -1;
    t->name = name;
    t->cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) return -1;
  memcpy(copy, s, len);
  copy[len] = '\0';
  t->name[t->n] = copy;
  t->slot[i] = (uint32_t)++t->n;
  return (int64_t)t->n - 1;
}

static clt_status interned(int64_t id, const char *where, int32_t *out) {
  if (id < 0) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory for labels", where);
  *out = (int32_t)id;
  return CLT_OK;
}

clt_status clt_label_int(clt_label_intern *t, int64_t v, const char *where, int32_t *id) {
  char buf[24];
  int len = snprintf(buf, sizeof buf, "%" PRId64, v);
  return interned(intern(t, buf, (size_t)len), where, id);
}

clt_status clt_label_cell(clt_label_intern *t, const char *s, const char *e,
                          const char *where, int32_t *id) {
  clt_data_trim(&s, &e);
  if (s == e) return clt_fail(NULL, CLT_ERR_FORMAT, "%s: empty label", where);
  double v;
  char ex[40];
  switch (clt_parse_number(s, e, &v)) {
  case CLT_NUMBER_NONE:
    /* A name is text: no NUL or other control character. */
    for (const char *p = s; p < e; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        return clt_fail(NULL, CLT_ERR_FORMAT, "%s: label '%s' holds a control character", where,
                        clt_data_excerpt(s, e, ex, sizeof ex));
    return interned(intern(t, s, (size_t)(e - s)), where, id);
  case CLT_NUMBER_FINITE:
    if (v > -0x1p53 && v < 0x1p53 && v == floor(v))
      return clt_label_int(t, (int64_t)v, where, id);
    clt_data_excerpt(s, e, ex, sizeof ex);
    return clt_fail(NULL, CLT_ERR_FORMAT,
                    "%s: label '%s' is a number that is not %s: a class is named by "
                    "an integer or a text (is the label column the right one?)",
                    where, ex, v == floor(v) ? "an integer within +-2^53" : "an integer");
  default:
    clt_data_excerpt(s, e, ex, sizeof ex);
    return clt_fail(NULL, CLT_ERR_FORMAT, "%s: label '%s' is not finite", where, ex);
  }
}

void clt_label_intern_take(clt_label_intern *t, clt_dataset *ds) {
  ds->names = t->name;
  ds->classes = t->n;
  free(t->slot);
  memset(t, 0, sizeof *t);
}

void clt_label_intern_free(clt_label_intern *t) {
  for (size_t k = 0; k < t->n; k++) free(t->name[k]);
  free(t->name);
  free(t->slot);
  memset(t, 0, sizeof *t);
}

/* -------------------------------------------------------------- classes */

void clt_labels_free(clt_labels *l) {
  if (!l) return;
  for (size_t k = 0; k < l->n; k++) free(l->name[k]);
  free(l->name);
  memset(l, 0, sizeof *l);
}

clt_status clt_labels_identity(size_t n, clt_labels *out) {
  clt_label_intern t = {0};
  for (size_t k = 0; k < n; k++) {
    int32_t id;
    clt_status st = clt_label_int(&t, (int64_t)k, "classes", &id);
    if (st != CLT_OK) {
      clt_label_intern_free(&t);
      return st;
    }
  }
  free(t.slot);
  *out = (clt_labels){.n = t.n, .name = t.name};
  return CLT_OK;
}

clt_status clt_labels_copy(const clt_labels *src, clt_labels *dst) {
  clt_labels copy = {.name = calloc(src->n ? src->n : 1, sizeof(char *))};
  for (; copy.name && copy.n < src->n; copy.n++) {
    size_t len = strlen(src->name[copy.n]) + 1;
    if (!(copy.name[copy.n] = malloc(len))) break;
    memcpy(copy.name[copy.n], src->name[copy.n], len);
  }
  if (!copy.name || copy.n < src->n) {
    clt_labels_free(&copy);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "out of memory for the class labels");
  }
  *dst = copy;
  return CLT_OK;
}

/* Whether name is an integer as clt_label_int writes one, into *v. */
static bool integer_name(const char *name, long long *v) {
  char *end, back[24];
  errno = 0;
  *v = strtoll(name, &end, 10);
  if (errno || *end || end == name) return false;
  snprintf(back, sizeof back, "%lld", *v);
  return strcmp(back, name) == 0;
}

bool clt_labels_numeric(const clt_labels *l) {
  long long v;
  for (size_t k = 0; k < l->n; k++)
    if (!integer_name(l->name[k], &v)) return false;
  return true;
}

static int by_value(const void *a, const void *b) {
  long long x, y;
  integer_name(*(char *const *)a, &x);
  integer_name(*(char *const *)b, &y);
  return (x > y) - (x < y);
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The local class k of ds as text: its name, or its id. */
static const char *local_name(const clt_dataset *ds, size_t k, char buf[24]) {
  if (ds->names) return ds->names[k];
  snprintf(buf, 24, "%zu", k);
  return buf;
}

/* Class ids of ds that some row has: ds->classes flags (calloc'd). */
static bool *present(const clt_dataset *ds) {
  bool *seen = calloc(ds->classes ? ds->classes : 1, 1);
  for (size_t i = 0; seen && i < ds->n; i++)
    if (ds->y[i] >= 0 && (size_t)ds->y[i] < ds->classes) seen[ds->y[i]] = true;
  return seen;
}

clt_status clt_data_unify_labels(clt_dataset *const *sets, size_t k, clt_labels *out) {
  clt_label_intern all = {0};
  int32_t **map = calloc(k ? k : 1, sizeof *map); /* local class -> all */
  int32_t *rank = NULL;
  clt_status st = map ? CLT_OK : CLT_ERR_OUT_OF_MEMORY;
  for (size_t s = 0; st == CLT_OK && s < k; s++) {
    const clt_dataset *ds = sets[s];
    bool *seen = present(ds);
    map[s] = malloc((ds->classes ? ds->classes : 1) * sizeof **map);
    if (!seen || !map[s]) st = CLT_ERR_OUT_OF_MEMORY;
    for (size_t c = 0; st == CLT_OK && c < ds->classes; c++) {
      char buf[24];
      const char *nm = local_name(ds, c, buf);
      int64_t id = seen[c] || ds->names ? intern(&all, nm, strlen(nm)) : -2;
      if (id == -1) st = CLT_ERR_OUT_OF_MEMORY;
      map[s][c] = (int32_t)id;
    }
    free(seen);
  }
  if (st == CLT_OK && !(rank = malloc((all.n ? all.n : 1) * sizeof *rank)))
    st = CLT_ERR_OUT_OF_MEMORY;
  if (st == CLT_OK) {
    /* Sort the names; rank[old id] is the new one. */
    char **sorted = all.name;
    char **orig = malloc((all.n ? all.n : 1) * sizeof *orig);
    if (!orig) {
      st = CLT_ERR_OUT_OF_MEMORY;
    } else {
      memcpy(orig, sorted, all.n * sizeof *orig);
      clt_labels tmp = {.n = all.n, .name = sorted};
      qsort(sorted, all.n, sizeof *sorted, clt_labels_numeric(&tmp) ? by_value : by_bytes);
      /* Names are distinct: each old id finds its place by search. */
      for (size_t c = 0; c < all.n; c++) {
        char **at = bsearch(&orig[c], sorted, all.n, sizeof *sorted,
                            clt_labels_numeric(&tmp) ? by_value : by_bytes);
        rank[c] = (int32_t)(at - sorted);
      }
      free(orig);
    }
  }
  if (st == CLT_OK) {
    for (size_t s = 0; s < k; s++) {
      clt_dataset *ds = sets[s];
      for (size_t i = 0; i < ds->n; i++) ds->y[i] = rank[map[s][ds->y[i]]];
      clt_dataset_set_classes(ds, all.n);
    }
    free(all.slot);
    *out = (clt_labels){.n = all.n, .name = all.name};
  } else {
    clt_label_intern_free(&all);
    st = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "out of memory for the class labels");
  }
  for (size_t s = 0; map && s < k; s++) free(map[s]);
  free(map);
  free(rank);
  return st;
}

clt_status clt_data_apply_labels(clt_dataset *ds, const clt_labels *l, const char *name) {
  clt_label_intern known = {0};
  int32_t *map = malloc((ds->classes ? ds->classes : 1) * sizeof *map);
  clt_status st = map ? CLT_OK : CLT_ERR_OUT_OF_MEMORY;
  for (size_t c = 0; st == CLT_OK && c < l->n; c++)
    if (intern(&known, l->name[c], strlen(l->name[c])) < 0) st = CLT_ERR_OUT_OF_MEMORY;
  bool *seen = st == CLT_OK ? present(ds) : NULL;
  if (st == CLT_OK && !seen) st = CLT_ERR_OUT_OF_MEMORY;
  for (size_t c = 0; st == CLT_OK && c < ds->classes; c++) {
    char buf[24];
    const char *nm = local_name(ds, c, buf);
    size_t before = known.n;
    int64_t id = intern(&known, nm, strlen(nm));
    map[c] = (int32_t)id;
    if (id < 0) {
      st = CLT_ERR_OUT_OF_MEMORY;
    } else if (known.n != before && seen[c]) {
      size_t row = 0;
      while ((size_t)ds->y[row] != c) row++;
      st = clt_fail(NULL, CLT_ERR_LABEL,
                    "%s: label '%s' (row %zu) is not one of the model's %zu classes", name,
                    nm, row + 1, l->n);
    }
  }
  if (st == CLT_ERR_OUT_OF_MEMORY) st = clt_fail(NULL, st, "%s: out of memory for labels", name);
  if (st == CLT_OK) {
    for (size_t i = 0; i < ds->n; i++) ds->y[i] = map[ds->y[i]];
    clt_dataset_set_classes(ds, l->n);
  }
  free(seen);
  free(map);
  clt_label_intern_free(&known);
  return st;
}
