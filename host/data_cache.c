/* A parsed svmlight file kept as a binary file (clt_data_load_svmlight_cached,
   the tool's --cache): the CSR arrays as this machine holds them, each at
   a 64-byte boundary after a header, mapped on the next read instead of
   parsed, so that a rank touches only its rows' pages. */
#include <errno.h>
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

#define CACHE_MAGIC "CLTSVMC1"
#define CACHE_ORDER 0x0102030405060708ull /* reads back so where it was written */
#define CACHE_ALIGN 64

typedef struct cache_head {
  char magic[8];
  uint64_t order;
  /* the source when it was read: a cache of another file or version of
     it, or read with other options, is not used */
  uint64_t size, mtime_s, mtime_ns, ino, dev, features, zero_based;
  uint64_t n, d, nnz, classes, base, has_y, names_bytes;
  uint64_t off_ptr, off_col, off_val, off_y, off_names, total;
} cache_head;

static uint64_t aligned(uint64_t at) { return (at + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN; }

/* The header's source and option fields for path read with opt (NULL:
   the defaults). */
static clt_status source_of(const char *path, const clt_svmlight_options *opt, cache_head *h) {
  const clt_svmlight_options defaults = {.zero_based = -1};
  if (!opt) opt = &defaults;
  struct stat st;
  if (stat(path, &st) != 0)
    return clt_fail(NULL, CLT_ERR_IO, "%s: %s", path, strerror(errno));
  *h = (cache_head){.order = CACHE_ORDER,
                    .size = (uint64_t)st.st_size,
                    .mtime_s = (uint64_t)st.st_mtim.tv_sec,
                    .mtime_ns = (uint64_t)st.st_mtim.tv_nsec,
                    .ino = (uint64_t)st.st_ino,
                    .dev = (uint64_t)st.st_dev,
                    .features = opt->features,
                    .zero_based = (uint64_t)(opt->zero_based + 1)};
  memcpy(h->magic, CACHE_MAGIC, sizeof h->magic);
  return CLT_OK;
}

static bool same_source(const cache_head *a, const cache_head *b) {
  return a->size == b->size && a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
         a->ino == b->ino && a->dev == b->dev && a->features == b->features &&
         a->zero_based == b->zero_based;
}

clt_status clt_data_svmlight_cache_write(const clt_dataset *ds, const char *source,
                                         const clt_svmlight_options *opt, const char *cache) {
  if (!ds || !ds->ptr || !source || !cache)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "svmlight cache: sparse rows, a source and a "
                                               "path are needed");
  cache_head h;
  CLT_TRY(source_of(source, opt, &h));
  size_t names_bytes = 0;
  for (size_t k = 0; ds->names && k < ds->classes; k++) names_bytes += strlen(ds->names[k]) + 1;
  char *names = malloc(names_bytes ? names_bytes : 1);
  if (!names) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cache);
  for (size_t k = 0, at = 0; ds->names && k < ds->classes; k++) {
    size_t len = strlen(ds->names[k]) + 1;
    memcpy(names + at, ds->names[k], len);
    at += len;
  }
  const uint64_t nnz = (uint64_t)ds->ptr[ds->n];
  h.n = ds->n, h.d = ds->d, h.nnz = nnz, h.classes = ds->classes;
  h.base = (uint64_t)(unsigned char)ds->svmlight_base, h.has_y = ds->y != NULL;
  h.names_bytes = ds->names ? names_bytes : 0;
  h.off_ptr = aligned(sizeof h);
  h.off_col = aligned(h.off_ptr + (h.n + 1) * sizeof *ds->ptr);
  h.off_val = aligned(h.off_col + nnz * sizeof *ds->col);
  h.off_y = aligned(h.off_val + nnz * sizeof *ds->val);
  h.off_names = aligned(h.off_y + (h.has_y ? h.n * sizeof *ds->y : 0));
  h.total = h.off_names + h.names_bytes;
  static const unsigned char zeros[CACHE_ALIGN];
  const clt_file_part parts[] = {
      {&h, sizeof h},
      {zeros, h.off_ptr - sizeof h},
      {ds->ptr, (h.n + 1) * sizeof *ds->ptr},
      {zeros, h.off_col - h.off_ptr - (h.n + 1) * sizeof *ds->ptr},
      {ds->col, nnz * sizeof *ds->col},
      {zeros, h.off_val - h.off_col - nnz * sizeof *ds->col},
      {ds->val, nnz * sizeof *ds->val},
      {zeros, h.off_y - h.off_val - nnz * sizeof *ds->val},
      {ds->y, h.has_y ? h.n * sizeof *ds->y : 0},
      {zeros, h.off_names - h.off_y - (h.has_y ? h.n * sizeof *ds->y : 0)},
      {names, h.names_bytes}};
  clt_status st = clt_file_write_parts(NULL, parts, sizeof parts / sizeof *parts, cache);
  free(names);
  return st;
}

/* The mapped cache's header is whole and its arrays lie in it, in order. */
static bool head_fits(const cache_head *h, size_t bytes) {
  const uint64_t max = (uint64_t)1 << 62; /* no product below overflows */
  if (h->n >= max / 8 || h->nnz >= max / 8 || h->names_bytes >= max || h->total != bytes)
    return false;
  return h->off_ptr >= sizeof *h && h->off_col >= h->off_ptr + (h->n + 1) * 8 &&
         h->off_val >= h->off_col + h->nnz * 4 && h->off_y >= h->off_val + h->nnz * 4 &&
         h->off_names >= h->off_y + (h->has_y ? h->n * 4 : 0) &&
         h->total >= h->off_names + h->names_bytes && h->off_ptr % CACHE_ALIGN == 0 &&
         h->off_col % CACHE_ALIGN == 0 && h->off_val % CACHE_ALIGN == 0 &&
         h->off_y % CACHE_ALIGN == 0;
}

/* keep's rows of the mapped cache at map (header h, checked) into out: the
   columns and values where they lie in the mapping (which out then owns),
   the row offsets, labels and class names copied. The kept rows' offsets,
   columns, labels and class names are checked, so that a damaged cache
   cannot make anything read out of bounds, and its values are finite; the
   values are not checksummed (that would read every page, where a rank
   reads its rows' pages only). */
static clt_status take_rows(const char *cache, void *map, size_t bytes, const cache_head *h,
                            clt_data_rows keep, clt_dataset *out) {
  const unsigned char *base = map;
  const int64_t *ptr = (const int64_t *)(const void *)(base + h->off_ptr);
  const int32_t *col = (const int32_t *)(const void *)(base + h->off_col);
  const float *val = (const float *)(const void *)(base + h->off_val);
  const int32_t *y = h->has_y ? (const int32_t *)(const void *)(base + h->off_y) : NULL;
  size_t first, count;
  CLT_TRY(clt_data_rows_of(cache, keep, h->n, &first, &count));
  bool ok = h->n >= 1 && ptr[0] == 0 && (uint64_t)ptr[h->n] == h->nnz && h->classes <= INT32_MAX &&
            h->d >= 1 && h->d <= INT32_MAX && (h->base == '0' || h->base == '1');
  for (size_t i = first; ok && i < first + count; i++) {
    ok = ptr[i] <= ptr[i + 1] && ptr[i + 1] <= (int64_t)h->nnz &&
         (!y || (y[i] >= 0 && (uint64_t)y[i] < h->classes));
    for (int64_t k = ptr[i]; ok && k < ptr[i + 1]; k++)
      ok = col[k] >= 0 && (uint64_t)col[k] < h->d && (k == ptr[i] || col[k - 1] < col[k]) &&
           isfinite(val[k]);
  }
  const char *names = (const char *)base + h->off_names;
  size_t nul = 0;
  for (size_t at = 0; ok && at < h->names_bytes; at++) nul += names[at] == '\0';
  ok = ok && (h->names_bytes == 0 || (nul == h->classes && names[h->names_bytes - 1] == '\0'));
  if (!ok) return clt_fail(NULL, CLT_ERR_FORMAT, "%s: a damaged svmlight cache", cache);
  clt_dataset ds = {.n = count, .d = h->d, .classes = h->classes,
                    .svmlight_base = (char)h->base, .map = map, .map_bytes = bytes};
  ds.ptr = malloc((count + 1) * sizeof *ds.ptr);
  ds.y = y ? malloc((count ? count : 1) * sizeof *ds.y) : NULL;
  ds.names = h->names_bytes ? calloc(h->classes, sizeof *ds.names) : NULL;
  bool held = ds.ptr && (!y || ds.y) && (!h->names_bytes || ds.names);
  for (size_t k = 0, at = 0; held && h->names_bytes && k < h->classes; k++) {
    held = (ds.names[k] = strdup(names + at)) != NULL;
    at += strlen(names + at) + 1;
  }
  if (!held) {
    ds.map = NULL; /* the caller unmaps it */
    clt_dataset_free(&ds);
    return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cache);
  }
  for (size_t i = 0; i <= count; i++) ds.ptr[i] = ptr[first + i] - ptr[first];
  if (y) memcpy(ds.y, y + first, count * sizeof *ds.y);
  ds.col = (int32_t *)(base + h->off_col) + ptr[first];
  ds.val = (float *)(base + h->off_val) + ptr[first];
  *out = ds;
  return CLT_OK;
}

/* *fd open on cache and its header in *h and size in *bytes when it is a
   whole cache of source read with opt; *fd -1 when there is none or it is
   another file's (or an older version's, or other options'). */
static clt_status open_cache(const char *cache, const char *source,
                             const clt_svmlight_options *opt, int *fd, cache_head *h,
                             size_t *bytes) {
  *fd = -1;
  cache_head want = {0};
  CLT_TRY(source_of(source, opt, &want));
  if (access(cache, F_OK) != 0) return CLT_OK;
  int f;
  CLT_TRY(clt_input_open(NULL, cache, CLT_FILE_MAX_BYTES, &f));
  struct stat st;
  ssize_t got = fstat(f, &st) == 0 ? pread(f, h, sizeof *h, 0) : -1;
  if (got == (ssize_t)sizeof *h && memcmp(h->magic, CACHE_MAGIC, sizeof h->magic) == 0 &&
      h->order == CACHE_ORDER && same_source(h, &want) && head_fits(h, (size_t)st.st_size)) {
    *fd = f;
    *bytes = (size_t)st.st_size;
  } else {
    close(f);
  }
  return CLT_OK;
}

clt_status clt_data_svmlight_cache_load(const char *cache, const char *source,
                                        const clt_svmlight_options *opt, clt_data_rows keep,
                                        clt_dataset *out, bool *found) {
  *found = false;
  if (!cache || !source || !out)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "svmlight cache: NULL argument");
  int fd;
  cache_head h;
  size_t bytes = 0;
  CLT_TRY(open_cache(cache, source, opt, &fd, &h, &bytes));
  if (fd < 0) return CLT_OK;
  void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return clt_fail(NULL, CLT_ERR_IO, "%s: %s", cache, strerror(errno));
  clt_status rc = take_rows(cache, map, bytes, &h, keep, out);
  if (rc != CLT_OK) munmap(map, bytes);
  if (rc == CLT_OK) clt_data_report(cache, bytes, out->n);
  *found = rc == CLT_OK;
  return rc;
}

bool clt_data_svmlight_cache_rows(const char *cache, const char *source,
                                  const clt_svmlight_options *opt, size_t *n) {
  int fd;
  cache_head h;
  size_t bytes;
  if (open_cache(cache, source, opt, &fd, &h, &bytes) != CLT_OK || fd < 0) return false;
  close(fd);
  *n = h.n;
  return true;
}
