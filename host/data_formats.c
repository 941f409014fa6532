/* The svmlight/libsvm text format (as sparse rows) and numpy's .npy
   arrays (as dense ones): data sets of data.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "data_impl.h"
#include "fileio.h"
#include "internal.h"
#include "labels.h"
#include "number.h"

/* ------------------------------------------------------------ svmlight */

/* The sparse rows being read, in arrays grown by half as they fill (large
   blocks grow in place through mremap, so a reader's resident memory stays
   that of the rows read): offsets, indices as written, values, labels. */
typedef struct csr_build {
  int64_t *ptr;
  uint32_t *index;
  float *val;
  int32_t *y;
  size_t n, nnz, row_cap, entry_cap;
} csr_build;

/* Grows two arrays of *cap elements (of sa and sb bytes) to hold need,
   by half again (least at first); false when out of memory (either may
   have grown, *cap says what both hold). */
static bool grow_pair(void **a, size_t sa, void **b, size_t sb, size_t *cap, size_t need,
                      size_t least) {
  if (need <= *cap) return true;
  size_t next = *cap < least ? least : *cap + *cap / 2;
  if (next < need) next = need;
  void *na = next > SIZE_MAX / sa ? NULL : realloc(*a, next * sa);
  if (na) *a = na;
  void *nb = na && next <= SIZE_MAX / sb ? realloc(*b, next * sb) : NULL;
  if (nb) *b = nb, *cap = next;
  return nb != NULL;
}

/* Room for row n + 1 (its label and end offset). */
static bool room_for_row(csr_build *b) {
  void *ptr = b->ptr, *y = b->y;
  bool ok = grow_pair(&ptr, sizeof *b->ptr, &y, sizeof *b->y, &b->row_cap, b->n + 2, 1024);
  b->ptr = ptr, b->y = y;
  return ok;
}

static bool room_for_entry(csr_build *b) {
  void *index = b->index, *val = b->val;
  bool ok = grow_pair(&index, sizeof *b->index, &val, sizeof *b->val, &b->entry_cap, b->nnz + 1,
                      4096);
  b->index = index, b->val = val;
  return ok;
}

static void csr_build_free(csr_build *b) {
  free(b->ptr), free(b->index), free(b->val), free(b->y);
}

/* "path: line L, column C" of q in the line that starts at line, in buf. */
static const char *where_at(char *buf, size_t len, const char *path, size_t lineno,
                            const char *line, const char *q) {
  snprintf(buf, len, "%s: line %zu, column %zu", path, lineno, (size_t)(q - line) + 1);
  return buf;
}

/* The indices of a file's lines: the least, the greatest and where it
   first stands (line, column), for the checks that need every line. */
typedef struct index_range {
  uint64_t min, max;
  size_t max_line, max_col;
} index_range;

/* One data line's label and entries into b (the line is [q, le), line its
   start for column numbers); unless kept (a line outside the share read),
   its label and indices alone, which decide the classes, the base and the
   width as every line's do. An index beyond opt's width is refused here
   when the base cannot change that: over the width, or at it in a file
   read as zero-based; so is index 0 in a file read as one-based. */
static clt_status svmlight_line_parse(csr_build *b, bool kept, clt_label_intern *names,
                                      const char *path, size_t lineno, char *line, char *q,
                                      char *le, const clt_svmlight_options *opt,
                                      index_range *range) {
  const uint64_t limit = opt->features ? opt->features - (opt->zero_based == 1) : UINT64_MAX;
  char where[4200], ex[40];
  char *te = q;
  int32_t skipped_label;
  while (te < le && !clt_data_blank(*te)) te++;
  where_at(where, sizeof where, path, lineno, line, q);
  if (memchr(q, ':', (size_t)(te - q)))
    return clt_fail(NULL, CLT_ERR_FORMAT, "%s: '%s' is not a label: a line is its label, then "
                    "index:value entries", where, clt_data_excerpt(q, te, ex, sizeof ex));
  if (memchr(q, ',', (size_t)(te - q)))
    return clt_fail(NULL, CLT_ERR_FORMAT, "%s: label '%s' has several classes (multi-label "
                    "data is not supported)", where, clt_data_excerpt(q, te, ex, sizeof ex));
  if (kept && !room_for_row(b))
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  CLT_TRY(clt_label_cell(names, q, te, where, kept ? &b->y[b->n] : &skipped_label));
  uint64_t last = 0;
  bool first = true, qid = false;
  for (q = te;;) {
    while (q < le && clt_data_blank(*q)) q++;
    if (q == le) break;
    te = q;
    while (te < le && !clt_data_blank(*te)) te++;
    char *colon = memchr(q, ':', (size_t)(te - q));
    if (first && !qid && colon && colon - q == 3 && memcmp(q, "qid", 3) == 0) {
      double id; /* a ranking query id, whole: not a feature */
      if (clt_parse_number(colon + 1, te, &id) != CLT_NUMBER_FINITE || id != floor(id))
        return clt_fail(NULL, CLT_ERR_FORMAT, "%s: '%s': a query id is qid:N, N whole",
                        where_at(where, sizeof where, path, lineno, line, q),
                        clt_data_excerpt(q, te, ex, sizeof ex));
      qid = true;
      q = te;
      continue;
    }
    double iv, v = 0;
    if (!colon || clt_parse_number(q, colon, &iv) != CLT_NUMBER_FINITE || iv < 0 ||
        iv != floor(iv) || iv > 4294967295.0)
      return clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: '%s' is not index:value with a whole index in [0, 2^32)",
                      where_at(where, sizeof where, path, lineno, line, q),
                      clt_data_excerpt(q, te, ex, sizeof ex));
    clt_number_kind k = kept ? clt_parse_number(colon + 1, te, &v) : CLT_NUMBER_FINITE;
    if (k != CLT_NUMBER_FINITE || fabs(v) > FLT_MAX)
      return clt_fail(NULL, CLT_ERR_FORMAT, "%s: '%s': the value is not a finite float",
                      where_at(where, sizeof where, path, lineno, line, q),
                      clt_data_excerpt(q, te, ex, sizeof ex));
    if (!first && (uint64_t)iv <= last)
      return clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: index %.0f after %llu: indices must increase along a line",
                      where_at(where, sizeof where, path, lineno, line, q), iv,
                      (unsigned long long)last);
    if ((uint64_t)iv > limit)
      return clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: index %.0f is beyond the %llu features the file is read with",
                      where_at(where, sizeof where, path, lineno, line, q), iv,
                      (unsigned long long)opt->features);
    if (iv == 0 && opt->zero_based == 0)
      return clt_fail(NULL, CLT_ERR_FORMAT, "%s: index 0 in a file read as one-based",
                      where_at(where, sizeof where, path, lineno, line, q));
    first = false;
    last = (uint64_t)iv;
    if (kept && !room_for_entry(b))
      return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (kept) b->index[b->nnz] = (uint32_t)last, b->val[b->nnz++] = (float)v;
    if (last < range->min) range->min = last;
    if (last > range->max || range->max_line == 0)
      *range = (index_range){range->min, last, lineno, (size_t)(q - line) + 1};
    q = te;
  }
  if (kept) b->ptr[++b->n] = (int64_t)b->nnz;
  return CLT_OK;
}

clt_status clt_data_load_svmlight(const char *path, const clt_svmlight_options *opt,
                                  clt_dataset *out) {
  return clt_data_load_svmlight_rows(path, opt, CLT_DATA_ALL_ROWS, out);
}

clt_status clt_data_load_svmlight_rows(const char *path, const clt_svmlight_options *opt,
                                       clt_data_rows keep, clt_dataset *out) {
  const clt_svmlight_options def = {.zero_based = -1};
  if (!opt) opt = &def;
  if (!path || !out)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_data_load_svmlight: NULL argument");
  clt_line_reader lr;
  CLT_TRY(clt_lines_open(path, &lr));
  clt_label_intern names = {0};
  csr_build b = {0};
  size_t lineno = 0, rows = 0; /* rows: every data line, b.n: those kept */
  index_range range = {UINT64_MAX, 0, 0, 0};
  clt_status rc = room_for_row(&b) ? CLT_OK
                                   : clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory",
                                              path);
  if (rc == CLT_OK) b.ptr[0] = 0;
  while (rc == CLT_OK) {
    char *line, *le, *q;
    bool got;
    if ((rc = clt_lines_next(&lr, &line, &le, &got)) != CLT_OK || !got) break;
    lineno++;
    if (!(q = clt_svmlight_data(line, &le))) continue;
    const bool kept = clt_data_rows_hold(keep, rows);
    rc = svmlight_line_parse(&b, kept, &names, path, lineno, line, q, le, opt, &range);
    if (++rows % CLT_DATA_REPORT_ROWS == 0) clt_data_report(path, clt_lines_bytes(&lr), rows);
  }
  uint64_t bytes = clt_lines_bytes(&lr);
  clt_lines_close(&lr);
  /* The index base: sklearn's "auto" (zero-based when some index is 0),
     and the width, of every row, kept or not. */
  const size_t ne = b.nnz;
  const bool any = range.min != UINT64_MAX;
  int zero = opt->zero_based >= 0 ? opt->zero_based : any && range.min == 0;
  uint64_t width = opt->features ? opt->features : any ? range.max + zero : 1;
  size_t first, count; /* keep within the file's rows */
  char where[4200];
  snprintf(where, sizeof where, "%s: line %zu, column %zu", path, range.max_line,
           range.max_col);
  if (rc == CLT_OK && rows == 0)
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: no data lines", path);
  if (rc == CLT_OK && any && range.max + zero > width) /* a zero-based file found so */
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: index %llu is beyond the %llu features the file is read with "
                  "(zero-based: it holds index 0)", where, (unsigned long long)range.max,
                  (unsigned long long)width);
  if (rc == CLT_OK && width > INT32_MAX)
    rc = opt->features ? clt_fail(NULL, CLT_ERR_FORMAT,
                                  "%s: %llu features: at most 2^31 - 1 are supported", path,
                                  (unsigned long long)width)
                       : clt_fail(NULL, CLT_ERR_FORMAT,
                                  "%s: index %llu makes %llu features: at most 2^31 - 1 are "
                                  "supported", where, (unsigned long long)range.max,
                                  (unsigned long long)width);
  if (rc == CLT_OK) rc = clt_data_rows_of(path, keep, rows, &first, &count);
  if (rc == CLT_OK) {
    /* Column = index - base, in place: the indices become int32. */
    int32_t *col = (int32_t *)b.index;
    for (size_t k = 0; k < ne; k++) col[k] = (int32_t)(b.index[k] - (uint32_t)!zero);
    *out = (clt_dataset){.n = b.n, .d = (size_t)width, .ptr = b.ptr, .col = col, .val = b.val,
                         .y = b.y};
    clt_label_intern_take(&names, out);
    out->svmlight_base = zero ? '0' : '1';
    clt_data_report(path, bytes, rows);
    b = (csr_build){0};
  }
  clt_label_intern_free(&names);
  csr_build_free(&b);
  return rc;
}

/* ----------------------------------------------------------------- npy */

typedef struct npy {
  char kind;          /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
  size_t size;        /* bytes per element */
  bool swap;          /* big-endian data */
  bool fortran;
  int ndim;
  size_t shape[2];
  size_t count;       /* elements */
  int fd;
} npy;

/* The value of key in the header's dictionary text, or NULL. */
static const char *npy_field(const char *h, const char *key) {
  const char *k = strstr(h, key);
  if (!k) return NULL;
  k = strchr(k + strlen(key), ':');
  if (!k) return NULL;
  for (k++; *k == ' '; k++) {}
  return k;
}

/* Opens path and reads its header into a (the file positioned at the
   data). */
static clt_status npy_open(const char *path, npy *a) {
  *a = (npy){.fd = -1};
  int fd;
  CLT_TRY(clt_input_open(NULL, path, CLT_FILE_MAX_BYTES, &fd));
  unsigned char pre[12];
  char *h = NULL;
  clt_status rc = CLT_OK;
  ssize_t got = read(fd, pre, 10);
  uint32_t hlen = 0;
  if (got != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] < 1 || pre[6] > 3) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: not a .npy file (numpy.save's format 1-3)", path);
  } else if (pre[6] == 1) {
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
  } else if (read(fd, pre + 10, 2) != 2) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: truncated .npy header", path);
  } else {
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
           (uint32_t)pre[11] << 24;
  }
  if (rc == CLT_OK && hlen > (1u << 20))
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: a .npy header of %u bytes", path, hlen);
  if (rc == CLT_OK && !(h = malloc(hlen + 1)))
    rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  if (rc == CLT_OK && read(fd, h, hlen) != (ssize_t)hlen)
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: truncated .npy header", path);
  if (rc == CLT_OK) {
    h[hlen] = '\0';
    const char *descr = npy_field(h, "'descr'"), *fo = npy_field(h, "'fortran_order'"),
               *shape = npy_field(h, "'shape'");
    char order, kind;
    unsigned size;
    int used = 0;
    if (!descr || !fo || !shape ||
        sscanf(descr, "'%c%c%u'%n", &order, &kind, &size, &used) != 3 || used == 0 ||
        strchr("<>|=", order) == NULL) {
      rc = clt_fail(NULL, CLT_ERR_FORMAT,
                    "%s: the .npy header has no plain data type (descr) or shape: '%.60s'",
                    path, h);
    } else {
      a->kind = kind;
      a->size = size;
      a->swap = order == '>' && size > 1;
      a->fortran = strncmp(fo, "True", 4) == 0;
      /* (N,) or (N, D) */
      const char *s = *shape == '(' ? shape + 1 : ")";
      a->count = 1;
      while (rc == CLT_OK && *s != ')') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || errno || a->ndim == 2 || !clt_mul_size(a->count, (size_t)v, &a->count)) {
          rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: shape %.40s is not (N,) or (N, D)", path,
                        shape);
          break;
        }
        a->shape[a->ndim++] = (size_t)v;
        for (s = end; *s == ',' || *s == ' '; s++) {}
      }
      if (rc == CLT_OK && (*shape != '(' || a->ndim == 0))
        rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: shape %.40s is not (N,) or (N, D)", path,
                      shape);
      /* The data the header declares must be in the file: a lying header
         allocates nothing. */
      struct stat st;
      off_t at = lseek(fd, 0, SEEK_CUR);
      size_t bytes;
      if (rc == CLT_OK && (fstat(fd, &st) != 0 || at < 0 ||
                           !clt_mul_size(a->count, a->size ? a->size : 1, &bytes) ||
                           (uint64_t)st.st_size - (uint64_t)at < (uint64_t)bytes))
        rc = clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: truncated: its header declares %zu values of %zu bytes, the file "
                      "holds %lld bytes of data", path, a->count, a->size,
                      at < 0 ? 0LL : (long long)(st.st_size - at));
    }
  }
  free(h);
  if (rc != CLT_OK) {
    close(fd);
    return rc;
  }
  a->fd = fd;
  return CLT_OK;
}

/* Reads the elements of the array's rows [first, first + n) as doubles
   through a bounded buffer, put at their index in C order from the first
   of those rows: a C-order array's other rows are skipped (a seek), a
   Fortran-order one's read and dropped. */
static clt_status npy_read(const char *path, const npy *a, size_t first, size_t n,
                           void (*put)(void *, size_t, double), void *user) {
  enum { CHUNK = 1 << 16 };
  unsigned char *buf = malloc(CHUNK * a->size);
  if (!buf) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  size_t rows = a->shape[0], cols = a->ndim == 2 ? a->shape[1] : 1;
  size_t start = 0, end = a->count; /* the elements read */
  clt_status rc = CLT_OK;
  if (!a->fortran && (first || n < rows)) {
    start = first * cols, end = (first + n) * cols;
    if (lseek(a->fd, (off_t)(start * a->size), SEEK_CUR) < 0)
      rc = clt_fail(NULL, CLT_ERR_IO, "%s: %s", path, strerror(errno));
  }
  for (size_t done = start; done < end && rc == CLT_OK;) {
    size_t want = end - done < CHUNK ? end - done : CHUNK, have = 0;
    while (have < want * a->size) {
      ssize_t got = read(a->fd, buf + have, want * a->size - have);
      if (got <= 0) {
        rc = clt_fail(NULL, got < 0 ? CLT_ERR_IO : CLT_ERR_FORMAT, "%s: %s", path,
                      got < 0 ? strerror(errno) : "truncated .npy data");
        break;
      }
      have += (size_t)got;
    }
    for (size_t k = 0; rc == CLT_OK && k < want; k++) {
      unsigned char el[8];
      for (size_t b = 0; b < a->size; b++)
        el[b] = buf[k * a->size + (a->swap ? a->size - 1 - b : b)];
      double v = 0;
      if (a->kind == 'f' && a->size == 4) { float f; memcpy(&f, el, 4); v = f; }
      else if (a->kind == 'f') memcpy(&v, el, 8);
      else if (a->kind == 'u' || a->kind == 'b') {
        uint64_t u = 0;
        for (size_t b = 0; b < a->size; b++) u |= (uint64_t)el[b] << (8 * b);
        v = (double)u;
      } else {
        uint64_t u = 0;
        for (size_t b = 0; b < a->size; b++) u |= (uint64_t)el[b] << (8 * b);
        if (a->size < 8 && (u >> (8 * a->size - 1) & 1)) u |= ~0ull << (8 * a->size);
        v = (double)(int64_t)u;
      }
      size_t i = done + k, c = a->fortran ? (i % rows) * cols + i / rows : i;
      if (c / cols >= first && c / cols < first + n) put(user, c - first * cols, v);
    }
    done += want;
    clt_data_report(path, (uint64_t)done * a->size, 0);
  }
  free(buf);
  return rc;
}

static bool npy_type_ok(const npy *a, const char *kinds) {
  if (!strchr(kinds, a->kind)) return false;
  return a->kind == 'f' ? a->size == 4 || a->size == 8
                        : a->size == 1 || a->size == 2 || a->size == 4 || a->size == 8;
}

static void put_float(void *x, size_t i, double v) { ((float *)x)[i] = (float)v; }

/* The file of a (its data at the file's offset) mapped privately, when its
   elements are this machine's float32 in C order: *x its rows from first
   on; false (nothing mapped) otherwise or when mmap fails. */
static bool npy_map(const npy *a, size_t first, void **map, size_t *bytes, float **x) {
  const uint16_t one = 1;
  const bool little = *(const unsigned char *)&one == 1;
  off_t at = lseek(a->fd, 0, SEEK_CUR);
  if (a->kind != 'f' || a->size != 4 || a->swap || a->fortran || !little || at < 0 ||
      at % (off_t)sizeof(float))
    return false;
  *bytes = (size_t)at + a->count * sizeof(float);
  *map = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, a->fd, 0);
  if (*map == MAP_FAILED) return false;
  *x = (float *)((unsigned char *)*map + at) + first * a->shape[1];
  return true;
}
static void put_double(void *x, size_t i, double v) { ((double *)x)[i] = v; }

clt_status clt_data_load_npy(const char *x_path, const char *y_path, clt_dataset *out) {
  return clt_data_load_npy_rows(x_path, y_path, CLT_DATA_ALL_ROWS, out);
}

clt_status clt_data_load_npy_rows(const char *x_path, const char *y_path, clt_data_rows keep,
                                  clt_dataset *out) {
  if (!x_path || !out)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_data_load_npy: NULL argument");
  npy a, b = {.fd = -1};
  CLT_TRY(npy_open(x_path, &a));
  size_t first = 0, n = 0; /* the rows kept */
  clt_status rc = CLT_OK;
  float *x = NULL;
  void *map = NULL;
  size_t map_bytes = 0;
  double *lab = NULL;
  int32_t *y = NULL;
  clt_label_intern names = {0};
  if (a.ndim != 2 || a.shape[0] == 0 || a.shape[1] == 0)
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: features are an (N, D) array with N, D >= 1, "
                  "not of %d dimension(s)%s", x_path, a.ndim,
                  a.ndim == 1 ? " (one feature per row: reshape to (N, 1))" : "");
  else if (!npy_type_ok(&a, "fiu"))
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: features of type %c%zu: float32, float64 or "
                  "integers (uint8 pixels) are read", x_path, a.kind, a.size);
  else if (a.count > CLT_DATA_IDX_MAX_ELEMENTS)
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: %zu values, more than 2^31", x_path, a.count);
  else if (clt_data_rows_of(x_path, keep, a.shape[0], &first, &n) != CLT_OK)
    rc = CLT_ERR_INVALID_ARG;
  else if (!npy_map(&a, first, &map, &map_bytes, &x) &&
           !(x = malloc((n ? n : 1) * a.shape[1] * sizeof *x)))
    rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", x_path);
  if (rc == CLT_OK && !map) rc = npy_read(x_path, &a, first, n, put_float, x);
  for (size_t i = 0; rc == CLT_OK && i < n * a.shape[1]; i++)
    if (!isfinite(x[i]))
      rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: row %zu, column %zu: %g is not a finite float",
                    x_path, first + i / a.shape[1] + 1, i % a.shape[1] + 1, (double)x[i]);
  if (rc == CLT_OK && y_path) {
    rc = npy_open(y_path, &b);
    if (rc == CLT_OK && (b.count != a.shape[0] || (b.ndim == 2 && b.shape[1] != 1)))
      rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: %zu labels of shape (%zu%s) for the %zu rows "
                    "of %s: labels are (N,) or (N, 1)", y_path, b.count, b.shape[0],
                    b.ndim == 2 ? ", ..." : ",", a.shape[0], x_path);
    else if (rc == CLT_OK && !npy_type_ok(&b, "fiub"))
      rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: labels of type %c%zu: integers (or floats "
                    "holding integers) are read", y_path, b.kind, b.size);
    else if (rc == CLT_OK && (!(lab = malloc(b.count * sizeof *lab)) ||
                              !(y = malloc(b.count * sizeof *y))))
      rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", y_path);
    if (rc == CLT_OK) rc = npy_read(y_path, &b, 0, b.shape[0], put_double, lab);
    char where[4200];
    for (size_t i = 0; rc == CLT_OK && i < b.count; i++) {
      snprintf(where, sizeof where, "%s: row %zu", y_path, i + 1);
      if (lab[i] != floor(lab[i]) || !(fabs(lab[i]) < 0x1p53))
        rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: label %g is not an integer", where, lab[i]);
      else
        rc = clt_label_int(&names, (int64_t)lab[i], where, &y[i]);
    }
  }
  if (rc == CLT_OK) {
    /* every row's label interned (the classes), the kept rows' kept */
    if (y) memmove(y, y + first, n * sizeof *y);
    *out = (clt_dataset){
        .n = n, .d = a.shape[1], .x = x, .y = y, .map = map, .map_bytes = map_bytes};
    clt_label_intern_take(&names, out);
    x = NULL;
    y = NULL;
    map = NULL;
  }
  clt_label_intern_free(&names);
  if (a.fd >= 0) close(a.fd);
  if (b.fd >= 0) close(b.fd);
  if (map) munmap(map, map_bytes);
  else free(x);
  free(y);
  free(lab);
  return rc;
}

/* -------------------------------------------------------- recognition */

/* Whether the text [s, e) looks like a svmlight line: its second field
   is INDEX:VALUE or qid:Q. */
static bool svmlight_line(const char *s, const char *e) {
  while (s < e && clt_data_blank(*s)) s++;
  while (s < e && !clt_data_blank(*s)) s++; /* the label */
  while (s < e && clt_data_blank(*s)) s++;
  const char *f = s;
  while (s < e && *s >= '0' && *s <= '9') s++;
  if (s > f && s < e && *s == ':') return true;
  return e - f >= 4 && memcmp(f, "qid:", 4) == 0;
}

clt_status clt_data_sniff(const char *path, clt_data_format *out) {
  struct stat st;
  if (stat(path, &st) != 0)
    return clt_fail(NULL, CLT_ERR_IO, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return *out = CLT_FORMAT_IDX_DIR, CLT_OK;
  gzFile f;
  CLT_TRY(clt_data_gz_open(path, &f));
  char head[4096];
  int got = gzread(f, head, sizeof head - 1);
  int raw = gzdirect(f), errnum = 0;
  const char *why = got < 0 ? gzerror(f, &errnum) : NULL;
  char reason[128];
  snprintf(reason, sizeof reason, "%s", why ? why : "");
  gzclose(f);
  if (got < 0)
    return errnum == Z_ERRNO ? clt_fail(NULL, CLT_ERR_IO, "%s: cannot read", path)
                             : clt_fail(NULL, CLT_ERR_FORMAT, "%s: corrupt gzip data: %s", path,
                                        reason);
  head[got] = '\0';
  const char *suffix[] = {".svm", ".svmlight", ".libsvm"};
  if (raw && got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return *out = CLT_FORMAT_NPY, CLT_OK;
  if (got >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 8 && (head[3] == 1 || head[3] == 3))
    return *out = CLT_FORMAT_IDX_FILE, CLT_OK;
  for (size_t k = 0; k < sizeof suffix / sizeof suffix[0]; k++) {
    char gz[16];
    snprintf(gz, sizeof gz, "%s.gz", suffix[k]);
    if (clt_data_ends_with(path, suffix[k]) || clt_data_ends_with(path, gz)) return *out = CLT_FORMAT_SVMLIGHT, CLT_OK;
  }
  *out = CLT_FORMAT_TEXT;
  if (clt_data_ends_with(path, ".csv") || clt_data_ends_with(path, ".csv.gz") || clt_data_ends_with(path, ".tsv") ||
      clt_data_ends_with(path, ".tsv.gz"))
    return CLT_OK;
  /* By content: the first line that is not blank or a comment. */
  for (const char *s = head; *s;) {
    const char *e = strchr(s, '\n');
    if (!e) e = s + strlen(s);
    const char *t = s;
    while (t < e && clt_data_blank(*t)) t++;
    if (t < e && *t != '#') {
      if (svmlight_line(s, e)) *out = CLT_FORMAT_SVMLIGHT;
      break;
    }
    s = *e ? e + 1 : e;
  }
  return CLT_OK;
}

clt_status clt_data_shape(const char *path, int idx_split, size_t *n, size_t *d, bool *known) {
  clt_data_format f;
  *known = false;
  CLT_TRY(clt_data_sniff(path, &f));
  if (f == CLT_FORMAT_IDX_DIR) {
    CLT_TRY(clt_data_idx_dir_shape(path, idx_split, n, d));
  } else if (f == CLT_FORMAT_NPY) {
    npy a;
    CLT_TRY(npy_open(path, &a));
    close(a.fd);
    *n = a.shape[0];
    *d = a.ndim == 2 ? a.shape[1] : 1;
  } else {
    return CLT_OK;
  }
  *known = true;
  return CLT_OK;
}

/* The data lines of an svmlight file, as clt_data_load_svmlight_rows
   tells them. */
static clt_status svmlight_count(const char *path, size_t *n) {
  clt_line_reader lr;
  CLT_TRY(clt_lines_open(path, &lr));
  clt_status rc;
  size_t rows = 0;
  for (;;) {
    char *line, *le;
    bool got;
    if ((rc = clt_lines_next(&lr, &line, &le, &got)) != CLT_OK || !got) break;
    if (clt_svmlight_data(line, &le) && ++rows % CLT_DATA_REPORT_ROWS == 0)
      clt_data_report(path, clt_lines_bytes(&lr), rows);
  }
  clt_lines_close(&lr);
  if (rc == CLT_OK) *n = rows;
  return rc;
}

clt_status clt_data_count_rows(const char *path, clt_data_format fmt,
                               const clt_text_options *opt, size_t *n) {
  if (!path || !n)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_data_count_rows: NULL argument");
  if (fmt == CLT_FORMAT_SVMLIGHT) return svmlight_count(path, n);
  if (fmt == CLT_FORMAT_TEXT) return clt_data_csv_count(path, opt, n);
  return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: rows are counted in text formats only", path);
}
