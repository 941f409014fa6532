/* cltrain — host-side data loading and preprocessing. See data.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* stat */
#endif

#include "data.h"
#include "fileio.h"
#include "internal.h"
#include "data_impl.h"
#include "labels.h"
#include "number.h"
#include "rng.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static const char *nn(const char *s) { return s ? s : "(null)"; }

void clt_dataset_set_classes(clt_dataset *ds, size_t classes) {
  for (size_t k = 0; ds->names && k < ds->classes; k++)
    free(ds->names[k]);
  free(ds->names);
  ds->names = NULL;
  ds->classes = classes;
}

void clt_dataset_free(clt_dataset *ds) {
  if (!ds)
    return;
  if (ds->map) {
    munmap(ds->map, ds->map_bytes);
  } else {
    free(ds->x);
    free(ds->col);
    free(ds->val);
  }
  free(ds->ptr);
  free(ds->y);
  clt_dataset_set_classes(ds, 0);
  memset(ds, 0, sizeof *ds);
}

/* ------------------------------------------------------------------ */
/* gzip / plain file reading                                           */

/* gzread takes an unsigned int; progress is reported after each chunk. */
#define READ_CHUNK ((size_t)1 << 24)

static _Thread_local struct {
  clt_data_progress_fn fn;
  void *user;
} g_progress;

void clt_data_set_progress(clt_data_progress_fn fn, void *user) {
  g_progress.fn = fn;
  g_progress.user = user;
}

void clt_data_report(const char *path, uint64_t bytes, uint64_t rows) {
  if (g_progress.fn)
    g_progress.fn(g_progress.user, path, bytes, rows);
}
/* The longest line of text read from a file (a gzip bomb of one line
   stops there); the file itself is bounded by CLT_FILE_MAX_BYTES. */
#define CLT_DATA_MAX_CSV_BYTES ((uint64_t)1 << 36)

/* A data file (plain or gzip): a regular file of at most
   CLT_FILE_MAX_BYTES (a FIFO would block, /dev/zero never end). */
clt_status clt_data_gz_open(const char *path, gzFile *out) {
  int fd;
  CLT_TRY(clt_input_open(NULL, path, CLT_FILE_MAX_BYTES, &fd));
  errno = 0;
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    int e = errno;
    close(fd);
    if (e == ENOMEM)
      return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return clt_fail(NULL, CLT_ERR_IO, "%s: cannot open: %s", path,
                    e ? strerror(e) : "unknown error");
  }
  *out = f;
  return CLT_OK;
}

static clt_status gz_fail(gzFile f, const char *path) {
  int e = Z_OK;
  const char *m = gzerror(f, &e);
  if (e == Z_ERRNO)
    return clt_fail(NULL, CLT_ERR_IO, "%s: read error: %s", path,
                    strerror(errno));
  if (e == Z_MEM_ERROR)
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  return clt_fail(NULL, CLT_ERR_FORMAT, "%s: corrupt gzip data: %s", path,
                  (m && *m) ? m : "unknown error");
}

/* Reads up to len bytes; *got is how many arrived (short at end of file). */
static clt_status gz_read_some(gzFile f, void *buf, size_t len, size_t *got,
                               const char *path) {
  unsigned char *p = buf;
  size_t done = 0;
  while (done < len) {
    size_t chunk = len - done < READ_CHUNK ? len - done : READ_CHUNK;
    int r = gzread(f, p + done, (unsigned)chunk);
    if (r < 0)
      return gz_fail(f, path);
    if (r == 0)
      break;
    done += (size_t)r;
    clt_data_report(path, (uint64_t)gztell(f), 0);
  }
  *got = done;
  return CLT_OK;
}

/* After the last read: an error naming the file when it ends inside its
   gzip stream (bytes missing, or just the 8-byte CRC and length trailer:
   zlib's gzread then reports end of file without an error). */
static clt_status gz_check_end(gzFile f, const char *path) {
  int e = Z_OK;
  gzerror(f, &e);
  if (e == Z_BUF_ERROR)
    return clt_fail(NULL, CLT_ERR_FORMAT,
                    "%s: truncated gzip file: the data ends before the end of its "
                    "gzip stream (CRC and length not checked)",
                    path);
  return CLT_OK;
}

/* " (gzip stream cut short)" when zlib saw the compressed data end early. */
static const char *gz_short_note(gzFile f) {
  int e = Z_OK;
  gzerror(f, &e);
  return e == Z_BUF_ERROR ? " (gzip stream cut short)" : "";
}

/* ------------------------------------------------------------------ */
/* IDX                                                                 */

static uint32_t be32(const unsigned char *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
         ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

/* Opens path, reads and checks the magic and ndims dimensions. */
static clt_status idx_header(const char *path, uint32_t magic, unsigned ndims,
                             uint32_t *dims, gzFile *pf) {
  gzFile f = NULL;
  clt_status rc = clt_data_gz_open(path, &f);
  if (rc)
    return rc;
  unsigned char h[16];
  size_t want = 4 + 4 * (size_t)ndims, got = 0;
  rc = gz_read_some(f, h, want, &got, path);
  if (rc)
    goto bad;
  if (got == 0) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: empty file", path);
    goto bad;
  }
  if (got < 4) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: truncated header (%zu bytes, need %zu)%s", path, got, want,
                  gz_short_note(f));
    goto bad;
  }
  uint32_t m = be32(h);
  if (m != magic) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: bad magic 0x%08lx (expected 0x%08lx)", path,
                  (unsigned long)m, (unsigned long)magic);
    goto bad;
  }
  if (got < want) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: truncated header (%zu bytes, need %zu)%s", path, got, want,
                  gz_short_note(f));
    goto bad;
  }
  for (unsigned i = 0; i < ndims; i++)
    dims[i] = be32(h + 4 + 4 * i);
  *pf = f;
  return CLT_OK;
bad:
  gzclose(f);
  return rc;
}

/* Reads exactly nbytes of payload into a new buffer, growing it only as data
 * actually arrives (a lying header cannot make us allocate much), then
 * insists on end of file. */
static clt_status idx_body(gzFile f, const char *path, size_t nbytes,
                           const char *what, unsigned char **out) {
  size_t cap = nbytes < ((size_t)1 << 20) ? nbytes : ((size_t)1 << 20);
  size_t done = 0;
  unsigned char *buf = malloc(cap ? cap : 1);
  if (!buf)
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  clt_status rc;
  for (;;) {
    size_t got = 0;
    rc = gz_read_some(f, buf + done, cap - done, &got, path);
    if (rc)
      goto bad;
    done += got;
    if (done < cap || cap == nbytes)
      break; /* end of file, or all there */
    size_t ncap = cap > nbytes / 2 ? nbytes : cap * 2;
    unsigned char *nb = realloc(buf, ncap);
    if (!nb) {
      rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
      goto bad;
    }
    buf = nb;
    cap = ncap;
  }
  if (done < nbytes) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: truncated: header promises %zu bytes of %s, file has %zu%s",
                  path, nbytes, what, done, gz_short_note(f));
    goto bad;
  }
  unsigned char extra[64];
  size_t more = 0;
  rc = gz_read_some(f, extra, sizeof extra, &more, path);
  if (rc)
    goto bad; /* e.g. gzip CRC error, seen at the end of the stream */
  if (more > 0) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: trailing data after the %zu bytes of %s the header "
                  "declares",
                  path, nbytes, what);
    goto bad;
  }
  if ((rc = gz_check_end(f, path)))
    goto bad;
  *out = buf;
  return CLT_OK;
bad:
  free(buf);
  return rc;
}

clt_status clt_data_rows_of(const char *path, clt_data_rows keep, size_t n, size_t *first,
                            size_t *count) {
  if (keep.first > n || (keep.count != SIZE_MAX && keep.count > n - keep.first))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: rows [%zu, +%zu) of its %zu", path,
                    keep.first, keep.count, n);
  *first = keep.first;
  *count = keep.count == SIZE_MAX ? n - keep.first : keep.count;
  return CLT_OK;
}

clt_status clt_data_load_idx(const char *images_path, const char *labels_path,
                             clt_dataset *out) {
  return clt_data_load_idx_rows(images_path, labels_path, CLT_DATA_ALL_ROWS, out);
}

clt_status clt_data_load_idx_rows(const char *images_path, const char *labels_path,
                                  clt_data_rows keep, clt_dataset *out) {
  if (!images_path || !labels_path || !out)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "clt_data_load_idx: NULL argument (images %s, labels %s)",
                    nn(images_path), nn(labels_path));
  gzFile fi = NULL, fl = NULL;
  unsigned char *pix = NULL, *lab = NULL;
  float *x = NULL;
  int32_t *y = NULL;
  uint32_t di[3] = {0}, dl[1] = {0};
  clt_status rc = idx_header(images_path, 0x00000803u, 3, di, &fi);
  if (rc)
    return rc;
  if (di[0] == 0 || di[1] == 0 || di[2] == 0) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: header declares %lu images of %lu x %lu pixels; a zero "
                  "count or dimension is not a usable data set",
                  images_path, (unsigned long)di[0], (unsigned long)di[1],
                  (unsigned long)di[2]);
    goto done;
  }
  /* u32 * u32 fits in u64; the third factor may not. */
  uint64_t per = (uint64_t)di[1] * di[2];
  if (per > CLT_DATA_IDX_MAX_ELEMENTS ||
      (uint64_t)di[0] > CLT_DATA_IDX_MAX_ELEMENTS / per) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT,
                  "%s: header declares %lu x %lu x %lu pixels, more than the "
                  "limit of 2^31 elements",
                  images_path, (unsigned long)di[0], (unsigned long)di[1],
                  (unsigned long)di[2]);
    goto done;
  }
  size_t n = di[0], d = (size_t)per, total = n * d, xbytes;
  if (!clt_mul_size(total, sizeof(float), &xbytes)) {
    rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY,
                  "%s: %zu pixels do not fit in memory on this machine",
                  images_path, total);
    goto done;
  }
  rc = idx_header(labels_path, 0x00000801u, 1, dl, &fl);
  if (rc)
    goto done;
  if (dl[0] != di[0]) {
    rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: %lu labels, but %s has %lu images",
                  labels_path, (unsigned long)dl[0], images_path,
                  (unsigned long)di[0]);
    goto done;
  }
  rc = idx_body(fi, images_path, total, "pixel data", &pix);
  if (rc)
    goto done;
  rc = idx_body(fl, labels_path, n, "labels", &lab);
  if (rc)
    goto done;
  size_t first = 0, count = 0;
  if ((rc = clt_data_rows_of(images_path, keep, n, &first, &count)))
    goto done;
  x = malloc(count ? count * d * sizeof *x : 1);
  y = malloc(count ? count * sizeof *y : 1);
  if (!x || !y) {
    rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY,
                  "%s: out of memory for %zu x %zu floats", images_path, count, d);
    goto done;
  }
  for (size_t i = 0; i < count * d; i++)
    x[i] = (float)pix[first * d + i];
  int32_t maxl = 0;
  for (size_t i = 0; i < n; i++)
    if (lab[i] > maxl)
      maxl = lab[i];
  clt_dataset ds = {.n = count, .d = d, .classes = (size_t)maxl + 1, .x = x, .y = y};
  if (count < n) {
    /* A share: every label of the file named (in their first rows' order),
       so that every share has the same classes whatever labels its own
       rows lack (clt_data_unify_labels keeps the named ones). */
    clt_label_intern names = {0};
    int32_t id = 0;
    for (size_t i = 0; rc == CLT_OK && i < n; i++) {
      rc = clt_label_int(&names, lab[i], labels_path, &id);
      if (rc == CLT_OK && i >= first && i < first + count) y[i - first] = id;
    }
    if (rc == CLT_OK) clt_label_intern_take(&names, &ds);
    clt_label_intern_free(&names);
    if (rc != CLT_OK)
      goto done;
  } else {
    for (size_t i = 0; i < count; i++)
      y[i] = lab[i];
  }
  *out = ds;
  x = NULL;
  y = NULL;
done:
  if (fi)
    gzclose(fi);
  if (fl)
    gzclose(fl);
  free(pix);
  free(lab);
  free(x);
  free(y);
  return rc;
}

/* ------------------------------------------------------------------ */
/* directories                                                         */

#define PATH_BUF 4096

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Finds DIR/PREFIX-KIND-IDXN-ubyte[.gz] (or the dotted spelling). */
static int find_idx(const char *dir, const char *prefix, const char *kind,
                    const char *idxn, char *path, size_t pathlen) {
  static const char *const fmts[] = {"%s/%s-%s-%s-ubyte.gz", "%s/%s-%s-%s-ubyte",
                                     "%s/%s-%s.%s-ubyte.gz", "%s/%s-%s.%s-ubyte"};
  for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
    int r = snprintf(path, pathlen, fmts[i], dir, prefix, kind, idxn);
    if (r > 0 && (size_t)r < pathlen && is_file(path))
      return 1;
  }
  return 0;
}

bool clt_data_idx_dir_has(const char *dir, int test_split) {
  char p[PATH_BUF];
  const char *prefix = test_split ? "t10k" : "train";
  return find_idx(dir, prefix, "images", "idx3", p, sizeof p) ||
         find_idx(dir, prefix, "labels", "idx1", p, sizeof p);
}

clt_status clt_data_idx_dir_shape(const char *dir, int test_split, size_t *n, size_t *d) {
  char ip[PATH_BUF];
  if (!find_idx(dir, test_split ? "t10k" : "train", "images", "idx3", ip, sizeof ip))
    return clt_fail(NULL, CLT_ERR_IO, "%s: no %s-images-idx3-ubyte[.gz] in this directory", dir,
                    test_split ? "t10k" : "train");
  uint32_t dims[3];
  gzFile f;
  CLT_TRY(idx_header(ip, 0x803, 3, dims, &f));
  gzclose(f);
  *n = dims[0];
  *d = (size_t)dims[1] * dims[2];
  return CLT_OK;
}

clt_status clt_data_load_idx_dir(const char *dir, int test_split, clt_dataset *out) {
  return clt_data_load_idx_dir_rows(dir, test_split, CLT_DATA_ALL_ROWS, out);
}

clt_status clt_data_load_idx_dir_rows(const char *dir, int test_split, clt_data_rows keep,
                                      clt_dataset *out) {
  if (!dir || !*dir || !out)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "clt_data_load_idx_dir: NULL or empty argument");
  struct stat st;
  if (stat(dir, &st) != 0)
    return clt_fail(NULL, CLT_ERR_IO, "%s: cannot open directory: %s",
                    dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return clt_fail(NULL, CLT_ERR_IO, "%s: not a directory", dir);
  const char *prefix = test_split ? "t10k" : "train";
  char ip[PATH_BUF], lp[PATH_BUF];
  if (!find_idx(dir, prefix, "images", "idx3", ip, sizeof ip))
    return clt_fail(NULL, CLT_ERR_IO,
                    "%s: no %s-images-idx3-ubyte[.gz] in this directory", dir,
                    prefix);
  if (!find_idx(dir, prefix, "labels", "idx1", lp, sizeof lp))
    return clt_fail(NULL, CLT_ERR_IO,
                    "%s: no %s-labels-idx1-ubyte[.gz] in this directory", dir,
                    prefix);
  return clt_data_load_idx_rows(ip, lp, keep, out);
}

/* Name of the first of the four Fashion-MNIST files missing in dir, or NULL. */
static const char *fashion_missing(const char *dir) {
  static const char *const need[4][4] = {
      {"train", "images", "idx3", "train-images-idx3-ubyte[.gz]"},
      {"train", "labels", "idx1", "train-labels-idx1-ubyte[.gz]"},
      {"t10k", "images", "idx3", "t10k-images-idx3-ubyte[.gz]"},
      {"t10k", "labels", "idx1", "t10k-labels-idx1-ubyte[.gz]"}};
  char p[PATH_BUF];
  if (!is_dir(dir))
    return "the directory itself";
  for (int i = 0; i < 4; i++)
    if (!find_idx(dir, need[i][0], need[i][1], need[i][2], p, sizeof p))
      return need[i][3];
  return NULL;
}

clt_status clt_data_find_fashion_mnist(char *dir, size_t dirlen) {
  if (!dir || dirlen == 0)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "clt_data_find_fashion_mnist: no output buffer");
  const char *env = getenv("CLT_DATA_DIR");
  const char *d = (env && *env) ? env : CLT_DATA_FASHION_MNIST_DIR;
  const char *miss = fashion_missing(d);
  if (miss) {
    if (env && *env)
      return clt_fail(NULL, CLT_ERR_IO,
                      "CLT_DATA_DIR=%s: missing %s (the directory must hold "
                      "{train,t10k}-images-idx3-ubyte[.gz] and "
                      "{train,t10k}-labels-idx1-ubyte[.gz])",
                      d, miss);
    return clt_fail(NULL, CLT_ERR_IO,
                    "Fashion-MNIST not found: %s: missing %s; install it with "
                    "`apt-get install dataset-fashion-mnist` or set CLT_DATA_DIR "
                    "to a directory holding {train,t10k}-images-idx3-ubyte.gz and "
                    "{train,t10k}-labels-idx1-ubyte.gz",
                    d, miss);
  }
  size_t len = strlen(d);
  if (len >= dirlen)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "%s: path longer than the %zu-byte buffer", d, dirlen);
  memcpy(dir, d, len + 1);
  return CLT_OK;
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */

/* Bytes a line reader reads at a time. */
#define LINE_CHUNK ((size_t)1 << 20)

clt_status clt_lines_open(const char *path, clt_line_reader *r) {
  *r = (clt_line_reader){.path = path, .cap = LINE_CHUNK};
  CLT_TRY(clt_data_gz_open(path, &r->f));
  if (!(r->buf = malloc(r->cap + 1))) {
    gzclose(r->f);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  return CLT_OK;
}

clt_status clt_lines_next(clt_line_reader *r, char **line, char **end, bool *got) {
  for (;;) {
    char *s = r->buf + r->start, *nl = memchr(s, '\n', r->len - r->start);
    if (nl || (r->eof && r->start < r->len)) {
      char *e = nl ? nl : r->buf + r->len;
      *e = '\0';
      *line = s, *end = e, *got = true;
      r->start = (size_t)(e - r->buf) + (nl != NULL);
      return CLT_OK;
    }
    if (r->eof) {
      *got = false;
      return CLT_OK;
    }
    memmove(r->buf, s, r->len - r->start);
    r->len -= r->start;
    r->start = 0;
    if (r->len == r->cap) { /* a line longer than the buffer */
      if (r->cap >= CLT_DATA_MAX_CSV_BYTES)
        return clt_fail(NULL, CLT_ERR_FORMAT, "%s: a line longer than %llu bytes", r->path,
                        (unsigned long long)CLT_DATA_MAX_CSV_BYTES);
      char *nb = realloc(r->buf, 2 * r->cap + 1);
      if (!nb) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
      r->buf = nb, r->cap *= 2;
    }
    size_t want = r->cap - r->len, n = 0;
    CLT_TRY(gz_read_some(r->f, r->buf + r->len, want, &n, r->path));
    r->len += n;
    if (n < want) {
      r->eof = true;
      CLT_TRY(gz_check_end(r->f, r->path));
    }
  }
}

uint64_t clt_lines_bytes(const clt_line_reader *r) {
  return r->f ? (uint64_t)gztell(r->f) : 0;
}

void clt_lines_close(clt_line_reader *r) {
  if (r->f) gzclose(r->f);
  free(r->buf);
  *r = (clt_line_reader){0};
}

const char *clt_data_excerpt(const char *s, const char *e, char *buf,
                           size_t buflen) {
  size_t n = (size_t)(e - s), k = 0, lim = buflen - 4;
  for (; k < n && k < lim; k++) {
    unsigned char c = (unsigned char)s[k];
    buf[k] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (k < n) {
    memcpy(buf + k, "...", 3);
    k += 3;
  }
  buf[k] = '\0';
  return buf;
}

/* Parses the cell [s, e) (surrounding blanks allowed) as a number.
 * Returns 0 ok, 1 empty, 2 not a number. e[0] is the delimiter or '\0'. */
static int parse_cell(const char *s, const char *e, double *v) {
  clt_data_trim(&s, &e);
  if (s == e)
    return 1;
  /* fast path: plain integers of up to 15 digits are exact in double */
  const char *p = s;
  int neg = 0;
  if (*p == '-' || *p == '+')
    neg = *p++ == '-';
  if (p < e && (size_t)(e - p) <= 15) {
    int64_t acc = 0;
    const char *q = p;
    while (q < e && *q >= '0' && *q <= '9')
      acc = acc * 10 + (*q++ - '0');
    if (q == e) {
      *v = neg ? -(double)acc : (double)acc;
      return 0;
    }
  }
  /* The grammar of flag values (host/number.h); strtod never reads past
     the cell: the delimiter and '\0' end every number. A number that is
     not finite is refused by the caller, naming its cell. */
  return clt_parse_number(s, e, v) == CLT_NUMBER_NONE ? 2 : 0;
}

static size_t count_cols(const char *s, const char *e, char dl) {
  size_t c = 1;
  for (; s < e; s++)
    c += *s == dl;
  return c;
}

/* The end of the cell starting at s on a line ending at e. */
static const char *cell_end(const char *s, const char *e, char dl) {
  const char *c = memchr(s, dl, (size_t)(e - s));
  return c ? c : e;
}

/* Whether the first line [s, e) is a header: none of its feature cells
   (every cell but column lab) is a number. */
static int is_header(const char *s, const char *e, char dl, size_t lab) {
  for (size_t col = 0;; col++) {
    const char *ce = cell_end(s, e, dl);
    double v;
    if (col != lab && parse_cell(s, ce, &v) == 0)
      return 0;
    if (ce == e)
      return 1;
    s = ce + 1;
  }
}

/* The column of the header [s, e) whose cell is name (blanks around it
   trimmed), or SIZE_MAX. */
static size_t named_column(const char *s, const char *e, char dl, const char *name) {
  size_t len = strlen(name);
  for (size_t col = 0;; col++) {
    const char *ce = cell_end(s, e, dl), *a = s, *b = ce;
    clt_data_trim(&a, &b);
    if ((size_t)(b - a) == len && memcmp(a, name, len) == 0)
      return col;
    if (ce == e)
      return SIZE_MAX;
    s = ce + 1;
  }
}

char clt_data_delimiter_for(const char *path) {
  return clt_data_ends_with(path, ".tsv") || clt_data_ends_with(path, ".tsv.gz") ? '\t' : ',';
}

/* A delimited text file being read: the options, and what its first
   non-blank line fixed (the label's column, whether it was a header). */
typedef struct csv_form {
  const char *path;
  const clt_text_options *opt;
  char dl;
  bool labels, seen_first;
  size_t lab, header_line, header_cols;
} csv_form;

/* The content of line lineno [*p, *le): without a leading UTF-8 byte order
   mark on line 1 (spreadsheet exports) and a trailing CR; false when it is
   blank. */
static bool csv_content(size_t lineno, char **p, char **le) {
  if (lineno == 1 && *le - *p >= 3 && memcmp(*p, "\xEF\xBB\xBF", 3) == 0) *p += 3;
  if (*le > *p && (*le)[-1] == '\r') *--*le = '\0';
  const char *q = *p;
  while (q < *le && clt_data_blank(*q)) q++;
  return q < *le;
}

/* Whether the non-blank line [p, le) (line lineno) is the header: only the
   first may be, and it fixes the label's column. */
static clt_status csv_header(csv_form *f, size_t lineno, const char *p, const char *le,
                             bool *header) {
  *header = false;
  if (f->seen_first) return CLT_OK;
  f->seen_first = true;
  const size_t cols = count_cols(p, le, f->dl);
  if (f->opt->label == CLT_LABEL_NAMED) {
    char ex[40];
    f->lab = named_column(p, le, f->dl, f->opt->label_name);
    if (f->lab == SIZE_MAX)
      return clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: no column is named '%s' on line %zu (the header: '%s')", f->path,
                      f->opt->label_name, lineno, clt_data_excerpt(p, le, ex, sizeof ex));
    *header = true;
  } else {
    f->lab = !f->labels ? SIZE_MAX : f->opt->label == CLT_LABEL_LAST ? cols - 1 : 0;
    *header = is_header(p, le, f->dl, f->lab);
  }
  if (*header) f->header_line = lineno, f->header_cols = cols;
  return CLT_OK;
}

/* The options (NULL: the defaults) and their delimiter into f, or
   CLT_ERR_INVALID_ARG. */
static clt_status csv_start(const char *path, const clt_text_options *opt, csv_form *f) {
  static const clt_text_options def = {0};
  if (!opt) opt = &def;
  if (!path || (opt->label == CLT_LABEL_NAMED && !opt->label_name))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "delimited text: NULL argument (path %s)",
                    nn(path));
  *f = (csv_form){.path = path, .opt = opt, .labels = opt->label != CLT_LABEL_NONE};
  f->dl = opt->delimiter ? opt->delimiter : clt_data_delimiter_for(path);
  if (!clt_data_delimiter_ok(f->dl))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "%s: '%c' cannot separate numbers (a digit, letter, sign, point, "
                    "quote or line end)", path, f->dl);
  return CLT_OK;
}

clt_status clt_data_csv_count(const char *path, const clt_text_options *opt, size_t *n) {
  csv_form f;
  CLT_TRY(csv_start(path, opt, &f));
  clt_line_reader lr;
  CLT_TRY(clt_lines_open(path, &lr));
  clt_status rc;
  size_t rows = 0, lineno = 0;
  for (;;) {
    char *p, *le;
    bool got, header;
    if ((rc = clt_lines_next(&lr, &p, &le, &got)) != CLT_OK || !got) break;
    if (!csv_content(++lineno, &p, &le)) continue;
    if ((rc = csv_header(&f, lineno, p, le, &header)) != CLT_OK) break;
    if (!header && ++rows % CLT_DATA_REPORT_ROWS == 0)
      clt_data_report(path, clt_lines_bytes(&lr), rows);
  }
  clt_lines_close(&lr);
  if (rc == CLT_OK) *n = rows;
  return rc;
}

/* One data row's cells [p, le) (line lineno, of ncols columns) into row
   and *label; with row NULL (a row outside the share read), its label
   alone. */
static clt_status csv_row(const csv_form *f, clt_label_intern *names, size_t lineno,
                          const char *p, const char *le, size_t ncols, float *row,
                          int32_t *label) {
  char ex[40], where[4200];
  const char *s = p;
  if (!row && !label) return CLT_OK;
  for (size_t col = 0; col < ncols && (row || col <= f->lab); col++) {
    const char *ce = cell_end(s, le, f->dl);
    if (col == f->lab) {
      snprintf(where, sizeof where, "%s: line %zu", f->path, lineno);
      CLT_TRY(clt_label_cell(names, s, ce, where, label));
      s = ce + 1;
      continue;
    }
    if (!row) {
      s = ce + 1;
      continue;
    }
    double v = 0;
    int pr = parse_cell(s, ce, &v);
    if (pr == 1)
      return clt_fail(NULL, CLT_ERR_FORMAT, "%s: line %zu, column %zu: empty cell", f->path,
                      lineno, col + 1);
    if (pr == 2)
      return clt_fail(NULL, CLT_ERR_FORMAT, "%s: line %zu, column %zu: '%s' is not a number",
                      f->path, lineno, col + 1, clt_data_excerpt(s, ce, ex, sizeof ex));
    if (!isfinite(v) || fabs(v) > FLT_MAX)
      return clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: line %zu, column %zu: '%s' is not a finite float", f->path, lineno,
                      col + 1, clt_data_excerpt(s, ce, ex, sizeof ex));
    *row++ = (float)v;
    s = ce + 1;
  }
  return CLT_OK;
}

/* Room for row n + 1 of d features (and its label when y): grown by half. */
static clt_status csv_room(const char *path, size_t n, size_t d, float **x, int32_t **y,
                           size_t *cap) {
  if (n < *cap) return CLT_OK;
  size_t ncap = *cap < 64 ? 64 : *cap + *cap / 2, bytes;
  if (!clt_mul_size(ncap, d, &bytes) || !clt_mul_size(bytes, sizeof(float), &bytes))
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: too many rows", path);
  float *nx = realloc(*x, bytes);
  if (!nx) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  *x = nx;
  if (y) {
    int32_t *ny = realloc(*y, ncap * sizeof **y);
    if (!ny) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    *y = ny;
  }
  *cap = ncap;
  return CLT_OK;
}

clt_status clt_data_load_csv(const char *path, const clt_text_options *opt,
                             clt_dataset *out) {
  return clt_data_load_csv_rows(path, opt, CLT_DATA_ALL_ROWS, out);
}

clt_status clt_data_load_csv_rows(const char *path, const clt_text_options *opt,
                                  clt_data_rows keep, clt_dataset *out) {
  if (!out) return clt_fail(NULL, CLT_ERR_INVALID_ARG, "clt_data_load_csv: NULL argument");
  csv_form f;
  CLT_TRY(csv_start(path, opt, &f));
  clt_line_reader lr;
  CLT_TRY(clt_lines_open(path, &lr));
  float *x = NULL;
  int32_t *y = NULL, skipped_label; /* the label of a row outside keep */
  clt_label_intern names = {0};
  /* rows: every data row, n: those kept */
  size_t rows = 0, n = 0, cap = 0, ncols = 0, d = 0, lineno = 0, first_data = 0;
  clt_status rc = CLT_OK;
  for (;;) {
    char *p, *le;
    bool got, header;
    if ((rc = clt_lines_next(&lr, &p, &le, &got)) != CLT_OK) goto done;
    if (!got) break;
    if (!csv_content(++lineno, &p, &le)) continue;
    if ((rc = csv_header(&f, lineno, p, le, &header)) != CLT_OK) goto done;
    if (header) continue;
    const size_t cols = count_cols(p, le, f.dl);
    if (ncols == 0) {
      if (cols < (size_t)f.labels + 1) {
        rc = clt_fail(NULL, CLT_ERR_FORMAT,
                      "%s: line %zu has %zu column; need a label and at least one feature",
                      path, lineno, cols);
        goto done;
      }
      if (f.header_line && f.header_cols != cols) {
        rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: header on line %zu has %zu columns, but line "
                      "%zu has %zu", path, f.header_line, f.header_cols, lineno, cols);
        goto done;
      }
      ncols = cols;
      d = cols - f.labels;
      first_data = lineno;
    } else if (cols != ncols) {
      rc = clt_fail(NULL, CLT_ERR_FORMAT, "%s: line %zu has %zu columns, expected %zu as on "
                    "line %zu", path, lineno, cols, ncols, first_data);
      goto done;
    }
    const bool kept = clt_data_rows_hold(keep, rows);
    if (kept && (rc = csv_room(path, n, d, &x, f.labels ? &y : NULL, &cap)) != CLT_OK) goto done;
    float *row = kept ? x + n * d : NULL;
    int32_t *label = !f.labels ? NULL : kept ? &y[n] : &skipped_label;
    if ((rc = csv_row(&f, &names, lineno, p, le, ncols, row, label))) goto done;
    n += kept;
    if (++rows % CLT_DATA_REPORT_ROWS == 0) clt_data_report(path, clt_lines_bytes(&lr), rows);
  }
  if (rows == 0) {
    rc = f.header_line ? clt_fail(NULL, CLT_ERR_FORMAT, "%s: no data rows (only a header on "
                                  "line %zu)", path, f.header_line)
         : lineno ? clt_fail(NULL, CLT_ERR_FORMAT, "%s: empty file (blank lines only)", path)
                  : clt_fail(NULL, CLT_ERR_FORMAT, "%s: empty file", path);
    goto done;
  }
  size_t first, count; /* keep within the file's rows */
  if ((rc = clt_data_rows_of(path, keep, rows, &first, &count))) goto done;
  if (n == 0) { /* a share of no rows: empty arrays, as the other loaders give */
    x = malloc(sizeof *x);
    y = f.labels ? malloc(sizeof *y) : NULL;
    if (!x || (f.labels && !y)) {
      rc = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
      goto done;
    }
  } else if (n < cap) { /* give back the slack; keep the old block if that fails */
    float *nx = realloc(x, n * d * sizeof *x);
    if (nx) x = nx;
    int32_t *ny = f.labels ? realloc(y, n * sizeof *y) : NULL;
    if (ny) y = ny;
  }
  *out = (clt_dataset){.n = n, .d = d, .x = x, .y = y};
  clt_label_intern_take(&names, out);
  out->header_line = f.header_line;
  clt_data_report(path, clt_lines_bytes(&lr), rows);
  x = NULL;
  y = NULL;
done:
  clt_lines_close(&lr);
  free(x);
  free(y);
  clt_label_intern_free(&names);
  return rc;
}

bool clt_data_delimiter_ok(char dl) {
  return dl != '\0' && dl != '\n' && dl != '\r' && dl != '"' && dl != '\'' && dl != '.' &&
         dl != '+' && dl != '-' && !(dl >= '0' && dl <= '9') &&
         !((dl | 0x20) >= 'a' && (dl | 0x20) <= 'z');
}

/* ------------------------------------------------------------------ */
/* synthetic                                                           */

static clt_status synth_rows(size_t n, size_t d, size_t c, const double *means,
                             clt_rng *r, clt_dataset *ds, const char *what) {
  size_t total, bytes;
  if (!clt_mul_size(n, d, &total) || !clt_mul_size(total, sizeof(float), &bytes))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "synthetic: %s set of %zu x %zu overflows", what, n, d);
  float *x = malloc(bytes);
  int32_t *y = malloc(n * sizeof *y);
  if (!x || !y) {
    free(x);
    free(y);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY,
                    "synthetic: out of memory for the %s set (%zu x %zu)", what, n,
                    d);
  }
  for (size_t i = 0; i < n; i++) {
    size_t k = i % c;
    y[i] = (int32_t)k;
    const double *m = means + k * d;
    float *row = x + i * d;
    for (size_t j = 0; j < d; j++)
      row[j] = (float)(m[j] + clt_rng_normal(r));
  }
  ds->n = n;
  ds->d = d;
  ds->classes = c;
  ds->x = x;
  ds->y = y;
  return CLT_OK;
}

clt_status clt_data_synthetic(size_t n, size_t d, size_t c, uint64_t seed,
                              clt_dataset *train, clt_dataset *test) {
  if (!train)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "synthetic: NULL train output");
  if (n == 0 || d == 0 || c < 2 || c > (size_t)INT32_MAX)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "synthetic:%zu,%zu,%zu: need N >= 1 rows, D >= 1 features and "
                    "2 <= C <= 2^31-1 classes",
                    n, d, c);
  size_t md, mbytes;
  if (!clt_mul_size(c, d, &md) || !clt_mul_size(md, sizeof(double), &mbytes))
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "synthetic: %zu classes x %zu features overflows", c, d);
  double *means = malloc(mbytes);
  if (!means)
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY,
                    "synthetic: out of memory for %zu class means", c);
  clt_rng r = {seed, 0, 0.0};
  for (size_t k = 0; k < c; k++) {
    double *m = means + k * d, ss = 0;
    for (size_t j = 0; j < d; j++) {
      m[j] = clt_rng_normal(&r);
      ss += m[j] * m[j];
    }
    double norm = sqrt(ss);
    if (norm < 1e-12) { /* vanishingly unlikely; keep the class distinct */
      m[k % d] = 1.0;
      norm = 1.0;
    }
    for (size_t j = 0; j < d; j++)
      m[j] *= 3.0 / norm;
  }
  clt_dataset tr = {0}, te = {0};
  clt_status rc = synth_rows(n, d, c, means, &r, &tr, "training");
  if (!rc && test)
    rc = synth_rows(n / 5 ? n / 5 : 1, d, c, means, &r, &te, "test");
  free(means);
  if (rc) {
    clt_dataset_free(&tr);
    clt_dataset_free(&te);
    return rc;
  }
  *train = tr;
  if (test)
    *test = te;
  return CLT_OK;
}

/* ------------------------------------------------------------------ */
/* validation split                                                    */

clt_status clt_data_split_stratified(const clt_dataset *ds, double fraction,
                                     uint64_t seed, clt_dataset *rest,
                                     clt_dataset *held) {
  if (!ds || !rest || !held || !ds->y || ds->names || !(fraction > 0 && fraction < 1) ||
      ds->classes == 0)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG,
                    "split: needs a labelled data set with unified classes and a fraction "
                    "in (0, 1)");
  size_t n = ds->n, d = ds->d, c = ds->classes;
  size_t *count = calloc(c, sizeof *count), *take = calloc(c, sizeof *take);
  unsigned char *in_held = calloc(n ? n : 1, 1);
  size_t *order = malloc((n ? n : 1) * sizeof *order);
  clt_status st = CLT_OK;
  if (!count || !take || !in_held || !order) {
    st = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "split: out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) count[ds->y[i]]++;
  size_t nheld = 0;
  for (size_t k = 0; k < c; k++) {
    size_t t = (size_t)llround(fraction * (double)count[k]);
    take[k] = count[k] < 2 ? 0 : t >= count[k] ? count[k] - 1 : t;
    nheld += take[k];
  }
  if (nheld == 0 || nheld == n) {
    st = clt_fail(NULL, CLT_ERR_INVALID_ARG,
                  "split: a fraction of %g of %zu rows holds out %zu of them", fraction, n,
                  nheld);
    goto done;
  }
  /* A seeded shuffle of all rows; each class holds out its first take[k]
     rows in that order. */
  uint64_t s = seed ^ 0x76616C69646174ull; /* "validat": its own stream */
  for (size_t i = 0; i < n; i++) order[i] = i;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(clt_splitmix64(&s) % (i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n; i++) {
    int32_t k = ds->y[order[i]];
    if (take[k]) take[k]--, in_held[order[i]] = 1;
  }
  clt_dataset parts[2] = {{.n = n - nheld, .d = d, .classes = c},
                          {.n = nheld, .d = d, .classes = c}};
  size_t entries[2] = {0, 0}; /* sparse rows: each part's */
  for (size_t i = 0; ds->ptr && i < n; i++) entries[in_held[i]] += (size_t)(ds->ptr[i + 1] - ds->ptr[i]);
  bool ok = true;
  for (int p = 0; p < 2; p++) {
    parts[p].y = malloc(parts[p].n * sizeof(int32_t));
    if (ds->ptr) {
      parts[p].ptr = malloc((parts[p].n + 1) * sizeof(int64_t));
      parts[p].col = malloc((entries[p] ? entries[p] : 1) * sizeof(int32_t));
      parts[p].val = malloc((entries[p] ? entries[p] : 1) * sizeof(float));
      ok &= parts[p].ptr && parts[p].col && parts[p].val;
    } else {
      ok &= (parts[p].x = malloc(parts[p].n * d * sizeof(float))) != NULL;
    }
    ok &= parts[p].y != NULL;
  }
  if (!ok) {
    for (int p = 0; p < 2; p++) clt_dataset_free(&parts[p]);
    st = clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "split: out of memory");
    goto done;
  }
  size_t at[2] = {0, 0};
  for (int p = 0; p < 2; p++)
    if (ds->ptr) parts[p].ptr[0] = 0;
  for (size_t i = 0; i < n; i++) {
    clt_dataset *p = &parts[in_held[i]];
    size_t r = at[in_held[i]]++;
    if (ds->ptr) {
      size_t from = (size_t)ds->ptr[i], len = (size_t)ds->ptr[i + 1] - from;
      size_t to = (size_t)p->ptr[r];
      memcpy(p->col + to, ds->col + from, len * sizeof *p->col);
      memcpy(p->val + to, ds->val + from, len * sizeof *p->val);
      p->ptr[r + 1] = (int64_t)(to + len);
    } else {
      memcpy(p->x + r * d, ds->x + i * d, d * sizeof(float));
    }
    p->y[r] = ds->y[i];
  }
  *rest = parts[0];
  *held = parts[1];
done:
  free(count);
  free(take);
  free(in_held);
  free(order);
  return st;
}

/* ------------------------------------------------------------------ */
/* checks and preprocessing                                            */

clt_status clt_data_check_labels(const clt_dataset *ds, size_t classes,
                                 const char *name) {
  const char *nm = name ? name : "data set";
  if (!ds)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: NULL data set", nm);
  if (classes == 0)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: class count is 0", nm);
  if (ds->n > 0 && !ds->y)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: no labels", nm);
  for (size_t i = 0; i < ds->n; i++) {
    int32_t l = ds->y[i];
    if (l < 0 || (uint64_t)l >= (uint64_t)classes)
      return clt_fail(NULL, CLT_ERR_LABEL,
                      "%s: label %ld at row %zu (0-based) is outside [0, %zu)", nm,
                      (long)l, i, classes);
  }
  return CLT_OK;
}

clt_status clt_data_densify(clt_dataset *ds) {
  if (!ds->ptr) return CLT_OK;
  size_t cells;
  if (!clt_mul_size(ds->n, ds->d, &cells) || cells > CLT_DATA_IDX_MAX_ELEMENTS)
    return clt_fail(NULL, CLT_ERR_FORMAT,
                    "%zu sparse rows of %zu features are too many values to hold densely (at "
                    "most 2^31)",
                    ds->n, ds->d);
  float *x = calloc(cells ? cells : 1, sizeof *x);
  if (!x) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "out of memory making rows dense");
  for (size_t i = 0; i < ds->n; i++)
    for (int64_t k = ds->ptr[i]; k < ds->ptr[i + 1]; k++) x[i * ds->d + (size_t)ds->col[k]] = ds->val[k];
  free(ds->ptr);
  if (ds->map) munmap(ds->map, ds->map_bytes);
  else free(ds->col), free(ds->val);
  ds->ptr = NULL, ds->col = NULL, ds->val = NULL, ds->map = NULL, ds->map_bytes = 0;
  ds->x = x;
  return CLT_OK;
}

/* The stored values: every cell of dense rows, the entries of sparse
   ones. */
static float *values_of(const clt_dataset *ds, size_t *count) {
  *count = !ds || ds->n == 0 || ds->d == 0 ? 0 : ds->ptr ? (size_t)ds->ptr[ds->n] : ds->n * ds->d;
  return !*count ? NULL : ds->ptr ? ds->val : ds->x;
}

void clt_data_scale(clt_dataset *ds, float factor) {
  size_t count;
  float *v = values_of(ds, &count);
  for (size_t i = 0; i < count; i++) v[i] *= factor;
}

void clt_data_sums(const clt_dataset *ds, float scale, double *sum) {
  if (!ds || !sum)
    return;
  for (size_t j = 0; j < ds->d; j++)
    sum[j] = 0.0;
  size_t count;
  if (!values_of(ds, &count))
    return;
  if (ds->ptr) {
    for (size_t k = 0; k < count; k++) sum[ds->col[k]] += ds->val[k] * scale;
  } else {
    for (size_t i = 0; i < ds->n; i++) {
      const float *row = ds->x + i * ds->d;
      for (size_t j = 0; j < ds->d; j++)
        sum[j] += row[j] * scale;
    }
  }
}

void clt_data_mean(const clt_dataset *ds, double *mean) {
  if (!ds || !mean)
    return;
  clt_data_sums(ds, 1.0f, mean);
  size_t count;
  if (!values_of(ds, &count))
    return;
  for (size_t j = 0; j < ds->d; j++)
    mean[j] /= (double)ds->n;
}

void clt_data_sqdev(const clt_dataset *ds, float scale, const double *mean, double *ss) {
  if (!ds || !mean || !ss)
    return;
  for (size_t j = 0; j < ds->d; j++)
    ss[j] = 0.0;
  size_t count;
  if (!values_of(ds, &count))
    return;
  size_t n = ds->n, d = ds->d;
  if (ds->ptr) {
    /* The zeros count too: n m^2 for all of them, corrected at entries. */
    for (size_t j = 0; j < d; j++) ss[j] = (double)n * mean[j] * mean[j];
    for (size_t k = 0; k < count; k++) {
      double t = ds->val[k] * scale - mean[ds->col[k]];
      ss[ds->col[k]] += t * t - mean[ds->col[k]] * mean[ds->col[k]];
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const float *row = ds->x + i * d;
    for (size_t j = 0; j < d; j++) {
      double t = row[j] * scale - mean[j];
      ss[j] += t * t;
    }
  }
}

void clt_data_std(const clt_dataset *ds, const double *mean, double *std) {
  if (!ds || !std)
    return;
  for (size_t j = 0; j < ds->d; j++)
    std[j] = 0.0;
  size_t count;
  if (!values_of(ds, &count))
    return;
  size_t n = ds->n, d = ds->d;
  if (ds->ptr) {
    double *m = mean ? NULL : malloc(d * sizeof *m);
    if (!mean && !m) {
      for (size_t j = 0; j < d; j++) std[j] = NAN;
      return;
    }
    if (m) clt_data_mean(ds, m);
    clt_data_sqdev(ds, 1.0f, mean ? mean : m, std);
    free(m);
  } else if (mean) {
    clt_data_sqdev(ds, 1.0f, mean, std);
  } else {
    for (size_t j = 0; j < d; j++) {
      double m = 0;
      for (size_t i = 0; i < n; i++)
        m += ds->x[i * d + j];
      m /= (double)n;
      for (size_t i = 0; i < n; i++) {
        double t = ds->x[i * d + j] - m;
        std[j] += t * t;
      }
    }
  }
  for (size_t j = 0; j < d; j++)
    std[j] = sqrt(fmax(std[j], 0.0) / (double)n);
}

double clt_data_std_divisor(double std) { return std >= 1e-8 ? std : 1.0; }

void clt_data_normalize(clt_dataset *ds, const double *mean,
                        const double *std) {
  size_t count;
  if (!values_of(ds, &count) || (!mean && !std))
    return;
  if (ds->ptr) { /* entries only: the caller's mean is zero */
    for (size_t k = 0; k < count; k++)
      if (std) ds->val[k] = (float)(ds->val[k] / clt_data_std_divisor(std[ds->col[k]]));
    return;
  }
  for (size_t i = 0; i < ds->n; i++) {
    float *row = ds->x + i * ds->d;
    clt_data_prep_row(row, row, ds->d, 1.0f, mean, std);
  }
}

void clt_data_prep_row(const float *in, float *out, size_t d, float scale, const double *mean,
                       const double *std) {
  for (size_t j = 0; j < d; j++) {
    double v = in[j] * scale; /* a float product, as clt_data_scale's */
    if (mean)
      v -= mean[j];
    if (std)
      v /= clt_data_std_divisor(std[j]);
    out[j] = (float)v;
  }
}
