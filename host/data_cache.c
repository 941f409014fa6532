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

/* The magic's last byte is the parser's version: a cache written by an
   older one (2: label-less lines refused) is not used, and is replaced. */
#define CACHE_MAGIC "CLTSVMC2"
#define CACHE_FAMILY_LEN 7 /* "CLTSVMC": a cache of any version */
#define CACHE_ORDER 0x0102030405060708ull /* reads back so where it was written */
#define CACHE_ALIGN 64

typedef struct cache_head {
  char magic[8];
  uint64_t order;
  /* the source when it was read (its inode, size and times, not its
     device, which a network file system may number differently on each
     machine) and the options asked for (zero_based + 1): a cache of
     another file or version of it is not used */
  uint64_t size, mtime_s, mtime_ns, ctime_s, ctime_ns, ino, features, zero_based;
  uint64_t n, d, nnz, classes, base, has_y, names_bytes;
  uint64_t off_ptr, off_col, off_val, off_y, off_names, total;
} cache_head;

static uint64_t aligned(uint64_t at) { return (at + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN; }

/* The header's source and option fields for path read with opt (NULL:
   the defaults); *dev its device. */
static clt_status source_of(const char *path, const clt_svmlight_options *opt, cache_head *h,
                            uint64_t *dev) {
  const clt_svmlight_options defaults = {.zero_based = -1};
  if (!opt) opt = &defaults;
  struct stat st;
  if (stat(path, &st) != 0)
    return clt_fail(NULL, CLT_ERR_IO, "%s: %s", path, strerror(errno));
  *h = (cache_head){.order = CACHE_ORDER,
                    .size = (uint64_t)st.st_size,
                    .mtime_s = (uint64_t)st.st_mtim.tv_sec,
                    .mtime_ns = (uint64_t)st.st_mtim.tv_nsec,
                    .ctime_s = (uint64_t)st.st_ctim.tv_sec,
                    .ctime_ns = (uint64_t)st.st_ctim.tv_nsec,
                    .ino = (uint64_t)st.st_ino,
                    .features = opt->features,
                    .zero_based = (uint64_t)(opt->zero_based + 1)};
  memcpy(h->magic, CACHE_MAGIC, sizeof h->magic);
  *dev = (uint64_t)st.st_dev;
  return CLT_OK;
}

static bool same_file(const cache_head *a, const cache_head *b) {
  return a->size == b->size && a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
         a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns && a->ino == b->ino;
}

/* Whether the cache h holds what reading with want's options gives: the
   same options asked for, or the width and index base it resolved to
   asked for explicitly (as cltrain predict asks, with a model's). */
static bool same_rows(const cache_head *h, const cache_head *want) {
  return (h->features == want->features && h->zero_based == want->zero_based) ||
         (want->features == h->d && want->zero_based == (h->base == '0' ? 2u : 1u));
}

/* h's arrays' offsets and its size, from its counts (n, nnz, has_y,
   names_bytes): the one layout, written and checked. */
static void lay_out(cache_head *h) {
  h->off_ptr = aligned(sizeof *h);
  h->off_col = aligned(h->off_ptr + (h->n + 1) * sizeof(int64_t));
  h->off_val = aligned(h->off_col + h->nnz * sizeof(int32_t));
  h->off_y = aligned(h->off_val + h->nnz * sizeof(float));
  h->off_names = aligned(h->off_y + (h->has_y ? h->n * sizeof(int32_t) : 0));
  h->total = h->off_names + h->names_bytes;
}

static uint64_t cache_bytes(const clt_dataset *ds, uint64_t names_bytes, cache_head *h);

/* ds kept in cache with the source fields of h (of a file on device dev). */
static clt_status write_cache(const clt_dataset *ds, cache_head h, uint64_t dev,
                              const char *cache) {
  /* only a cache is replaced: never the source, nor a file of another kind */
  struct stat there;
  if (stat(cache, &there) == 0) {
    char magic[sizeof h.magic] = "";
    FILE *f = S_ISREG(there.st_mode) ? fopen(cache, "rb") : NULL;
    bool ours = f && fread(magic, 1, sizeof magic, f) == sizeof magic &&
                memcmp(magic, CACHE_MAGIC, CACHE_FAMILY_LEN) == 0;
    if (f) fclose(f);
    if ((uint64_t)there.st_dev == dev && (uint64_t)there.st_ino == h.ino)
      return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: the cache would replace the data it "
                                                 "keeps", cache);
    if (!ours)
      return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s exists and is not an svmlight cache: "
                                                 "not replaced", cache);
  }
  size_t names_bytes = 0;
  for (size_t k = 0; ds->names && k < ds->classes; k++) names_bytes += strlen(ds->names[k]) + 1;
  if (cache_bytes(ds, names_bytes, &h) > CLT_FILE_MAX_BYTES)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "%s: a cache of %llu bytes would be larger "
                    "than a file cltrain reads", cache, (unsigned long long)h.total);
  char *names = malloc(names_bytes ? names_bytes : 1);
  if (!names) return clt_fail(NULL, CLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cache);
  for (size_t k = 0, at = 0; ds->names && k < ds->classes; k++) {
    size_t len = strlen(ds->names[k]) + 1;
    memcpy(names + at, ds->names[k], len);
    at += len;
  }
  const size_t nnz = (size_t)h.nnz, ys = h.has_y ? h.n * sizeof *ds->y : 0;
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
      {ds->y, ys},
      {zeros, h.off_names - h.off_y - ys},
      {names, h.names_bytes}};
  clt_status st = clt_file_write_parts(NULL, parts, sizeof parts / sizeof *parts, cache);
  free(names);
  return st;
}

/* h's shape and layout for ds with names_bytes of class names: its size. */
static uint64_t cache_bytes(const clt_dataset *ds, uint64_t names_bytes, cache_head *h) {
  h->n = ds->n, h->d = ds->d, h->nnz = (uint64_t)ds->ptr[ds->n], h->classes = ds->classes;
  h->base = (uint64_t)(unsigned char)ds->svmlight_base, h->has_y = ds->y != NULL;
  h->names_bytes = ds->names ? names_bytes : 0;
  lay_out(h);
  return h->total;
}

clt_status clt_data_svmlight_cache_write(const clt_dataset *ds, const char *source,
                                         const clt_svmlight_options *opt, const char *cache) {
  if (!ds || !ds->ptr || !source || !cache)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "svmlight cache: sparse rows, a source and a "
                                               "path are needed");
  cache_head h;
  uint64_t dev;
  CLT_TRY(source_of(source, opt, &h, &dev));
  return write_cache(ds, h, dev, cache);
}

/* The mapped cache's header is whole and its arrays lie in it as written
   (counts small enough that the layout's sums cannot wrap). */
static bool head_fits(const cache_head *h, size_t bytes) {
  const uint64_t max = (uint64_t)1 << 59;
  if (h->n >= max || h->nnz >= max || h->names_bytes >= max || h->has_y > 1) return false;
  cache_head laid = *h;
  lay_out(&laid);
  return laid.off_ptr == h->off_ptr && laid.off_col == h->off_col &&
         laid.off_val == h->off_val && laid.off_y == h->off_y &&
         laid.off_names == h->off_names && laid.total == h->total && h->total == bytes;
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
  size_t first = 0, count = 0;
  bool ok = h->n >= 1 && ptr[0] == 0 && (uint64_t)ptr[h->n] == h->nnz &&
            h->classes <= INT32_MAX && h->d >= 1 && h->d <= INT32_MAX &&
            (h->base == '0' || h->base == '1');
  if (ok) CLT_TRY(clt_data_rows_of(cache, keep, h->n, &first, &count));
  ok = ok && ptr[first] >= 0 && (uint64_t)ptr[first] <= h->nnz;
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
   whole cache of the rows want asks for (same_file, same_rows); *fd -1
   when there is none, it is another file's (or an older version's, or
   other options'), or it cannot be read: then the source is read. */
static void open_cache(const char *cache, const cache_head *want, int *fd, cache_head *h,
                       size_t *bytes) {
  *fd = -1;
  int f;
  if (access(cache, F_OK) != 0 || clt_input_open(NULL, cache, CLT_FILE_MAX_BYTES, &f) != CLT_OK)
    return;
  struct stat st;
  ssize_t got = fstat(f, &st) == 0 ? pread(f, h, sizeof *h, 0) : -1;
  if (got == (ssize_t)sizeof *h && memcmp(h->magic, CACHE_MAGIC, sizeof h->magic) == 0 &&
      h->order == CACHE_ORDER && same_file(h, want) && same_rows(h, want) &&
      head_fits(h, (size_t)st.st_size)) {
    *fd = f;
    *bytes = (size_t)st.st_size;
  } else {
    close(f);
  }
}

/* clt_data_svmlight_cache_load for the source fields of want. */
static clt_status load_cache(const char *cache, const cache_head *want, clt_data_rows keep,
                             clt_dataset *out, bool *found) {
  *found = false;
  int fd;
  cache_head h;
  size_t bytes = 0;
  open_cache(cache, want, &fd, &h, &bytes);
  if (fd < 0) return CLT_OK;
  void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return CLT_OK; /* read the source instead */
  clt_status rc = take_rows(cache, map, bytes, &h, keep, out);
  if (rc != CLT_OK) {
    munmap(map, bytes);
    return rc;
  }
  /* the bytes of the kept rows */
  const size_t entries = (size_t)out->ptr[out->n];
  clt_data_report(cache, (out->n + 1) * 8 + entries * 8 + (out->y ? out->n * 4 : 0), out->n);
  *found = true;
  return CLT_OK;
}

clt_status clt_data_svmlight_cache_load(const char *cache, const char *source,
                                        const clt_svmlight_options *opt, clt_data_rows keep,
                                        clt_dataset *out, bool *found) {
  *found = false;
  if (!cache || !source || !out)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "svmlight cache: NULL argument");
  cache_head want = {0};
  uint64_t dev;
  CLT_TRY(source_of(source, opt, &want, &dev));
  return load_cache(cache, &want, keep, out, found);
}

bool clt_data_svmlight_cache_rows(const char *cache, const char *source,
                                  const clt_svmlight_options *opt, size_t *n) {
  cache_head want = {0}, h;
  uint64_t dev;
  int fd;
  size_t bytes;
  if (source_of(source, opt, &want, &dev) != CLT_OK) return false;
  open_cache(cache, &want, &fd, &h, &bytes);
  if (fd < 0) return false;
  close(fd);
  *n = h.n;
  return true;
}

/* ds (every row of path's file) cut to keep's rows, in place. */
static clt_status keep_rows(const char *path, clt_data_rows keep, clt_dataset *ds) {
  size_t first, count;
  CLT_TRY(clt_data_rows_of(path, keep, ds->n, &first, &count));
  const int64_t from = ds->ptr[first];
  const size_t entries = (size_t)(ds->ptr[first + count] - from);
  if (entries) {
    memmove(ds->col, ds->col + from, entries * sizeof *ds->col);
    memmove(ds->val, ds->val + from, entries * sizeof *ds->val);
  }
  for (size_t i = 0; i <= count; i++) ds->ptr[i] = ds->ptr[first + i] - from;
  if (ds->y) memmove(ds->y, ds->y + first, count * sizeof *ds->y);
  ds->n = count;
  return CLT_OK;
}

clt_status clt_data_load_svmlight_cached(const char *source, const clt_svmlight_options *opt,
                                         const char *cache, clt_data_rows keep,
                                         clt_dataset *out, clt_cache_use *use, char *why,
                                         size_t why_len) {
  if (!source || !cache || !out || !use)
    return clt_fail(NULL, CLT_ERR_INVALID_ARG, "svmlight cache: NULL argument");
  if (why_len) why[0] = '\0';
  cache_head before = {0}, after = {0};
  uint64_t dev;
  bool found = false;
  CLT_TRY(source_of(source, opt, &before, &dev));
  clt_status rc = load_cache(cache, &before, keep, out, &found);
  if (rc == CLT_ERR_FORMAT && why_len) /* damaged: read the source again */
    snprintf(why, why_len, "%s", clt_last_error(NULL));
  if (found) {
    *use = CLT_CACHE_MAPPED;
    return CLT_OK;
  }
  clt_dataset ds = {0};
  CLT_TRY(clt_data_load_svmlight(source, opt, &ds));
  /* written only when the source did not change while it was parsed */
  rc = source_of(source, opt, &after, &dev);
  if (rc == CLT_OK && !same_file(&before, &after))
    rc = clt_fail(NULL, CLT_ERR_IO, "%s changed while it was read", source);
  if (rc == CLT_OK) rc = write_cache(&ds, before, dev, cache);
  *use = rc == CLT_OK ? CLT_CACHE_WRITTEN : CLT_CACHE_UNWRITTEN;
  if (rc != CLT_OK && why_len) snprintf(why, why_len, "%s", clt_last_error(NULL));
  if ((rc = keep_rows(source, keep, &ds)) != CLT_OK) {
    clt_dataset_free(&ds);
    return rc;
  }
  *out = ds;
  return CLT_OK;
}
