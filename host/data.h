/* cltrain — host-side data loading and preprocessing (internal API).
 *
 * Plain C11 + zlib; no OpenCL. Used by the CLI and the benchmarks.
 *
 * Rules shared by every function here:
 *  - Never prints, exits or aborts.
 *  - Fallible functions return a clt_status: CLT_ERR_IO (a file or
 *    directory that cannot be opened or read), CLT_ERR_FORMAT (malformed
 *    content), CLT_ERR_LABEL (a label out of range), CLT_ERR_INVALID_ARG,
 *    CLT_ERR_OUT_OF_MEMORY. The detail, clt_last_error(NULL) on the calling
 *    thread, names the file (or the argument) and the problem, e.g.
 *      "train-images-idx3-ubyte.gz: bad magic 0x00000000 (expected 0x00000803)"
 *  - Output data sets are written only on success; on failure they are left
 *    exactly as the caller passed them. On success the previous contents of
 *    the output struct are overwritten, not freed: pass a zeroed or freed one.
 *  - Sizes are size_t and every product of sizes is checked for overflow.
 */
#ifndef CLTRAIN_HOST_DATA_H
#define CLTRAIN_HOST_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cltrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rows of a file a loader keeps: [first, first + count), count
   SIZE_MAX meaning to the end (a rank's share of a data-parallel run).
   Every row's label decides the classes (the text formats read the
   whole file; a .npy in C order seeks past the other rows' features),
   so that every share maps labels alike; a range outside the file's rows
   is CLT_ERR_INVALID_ARG. */
typedef struct clt_data_rows {
  size_t first, count;
} clt_data_rows;
#define CLT_DATA_ALL_ROWS ((clt_data_rows){0, SIZE_MAX})
/* Whether keep holds row i of a file. */
static inline bool clt_data_rows_hold(clt_data_rows keep, size_t i) {
  return i >= keep.first && i - keep.first < keep.count;
}
/* keep's rows of a file of n (path names it in the error): *first, *count. */
clt_status clt_data_rows_of(const char *path, clt_data_rows keep, size_t n, size_t *first,
                            size_t *count);

/* Largest number of pixels (N x rows x cols) an IDX image file may declare. */
#define CLT_DATA_IDX_MAX_ELEMENTS ((uint64_t)1 << 31)

/* Default Fashion-MNIST location (Debian package dataset-fashion-mnist). */
#define CLT_DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct clt_dataset {
  size_t n, d;    /* rows, features per row */
  size_t classes; /* classes: names of them, or max label + 1 */
  float *x;       /* n*d row-major, owned; NULL for sparse rows */
  /* Sparse rows instead of x: row i's values are val[ptr[i] .. ptr[i+1])
     at the columns col[...], 0-based and increasing; owned (col and val
     in map when it is set). */
  int64_t *ptr;
  int32_t *col;
  float *val;
  int32_t *y;     /* n class ids, owned; NULL for features only */
  char **names;   /* class k's label as the file wrote it (classes of
                     them, owned); NULL: class k is the number k (IDX,
                     synthetic data, after clt_data_unify_labels) */
  size_t header_line; /* text files: the header's line, 0 for none */
  char svmlight_base; /* svmlight files: '0' or '1', the index of the first
                         feature as read; 0 for other formats */
  /* Non-NULL: x (.npy of float32), or col and val (an svmlight cache),
     point into this private mapping of the file (map_bytes long, unmapped
     by clt_dataset_free), whose pages stay the file's, read on demand and
     evictable, until written. */
  void *map;
  size_t map_bytes;
} clt_dataset;

/* Frees the arrays and zeroes the struct. NULL is fine. */
void clt_dataset_free(clt_dataset *ds);
/* Frees ds's class names (its class ids then count as numbers) and sets
   its class count. */
void clt_dataset_set_classes(clt_dataset *ds, size_t classes);

/* The classes of a model: class k's label, as the training data wrote it. */
typedef struct clt_labels {
  size_t n;
  char **name; /* n names, owned */
} clt_labels;

void clt_labels_free(clt_labels *l);
/* A copy of src into dst; CLT_ERR_OUT_OF_MEMORY (dst untouched). */
clt_status clt_labels_copy(const clt_labels *src, clt_labels *dst);
/* "0", "1", ..., n - 1: the classes of data labelled by number (IDX). */
clt_status clt_labels_identity(size_t n, clt_labels *out);
/* Whether every name is an integer (then sorted by value). */
bool clt_labels_numeric(const clt_labels *l);

/* The classes of the k labelled sets together into out, sorted as
   numpy.unique and scikit-learn's classes_ sort them: by value when every
   label is an integer, else by their bytes (strcmp). Every set's y is
   rewritten to index out, its names freed, its classes set to out->n. A
   set without names counts its class ids as integer labels. On failure
   (CLT_ERR_OUT_OF_MEMORY) the sets are unchanged. */
clt_status clt_data_unify_labels(clt_dataset *const *sets, size_t k, clt_labels *out);

/* ds's labels as classes of l (a model's): y rewritten, names freed,
   classes = l->n. CLT_ERR_LABEL naming name, the row and the label when
   one is not among l's. */
clt_status clt_data_apply_labels(clt_dataset *ds, const clt_labels *l, const char *name);

/* IDX pair (the MNIST / Fashion-MNIST format), each file plain or gzip
 * (detected from the content, not the name).
 *   images: magic 0x00000803 (u8, 3 dims), N, rows, cols (big-endian u32),
 *           then N*rows*cols bytes; d = rows*cols, pixels become floats with
 *           their raw values 0..255 (scale with clt_data_scale).
 *   labels: magic 0x00000801 (u8, 1 dim), N, then N bytes.
 * classes = max label + 1.
 * Errors (CLT_ERR_IO, CLT_ERR_FORMAT): cannot open/read, empty file, short header, bad magic,
 * zero count or dimension, N*rows*cols overflowing or above
 * CLT_DATA_IDX_MAX_ELEMENTS, truncated data, trailing bytes after the data,
 * corrupt gzip stream, image and label counts that differ. */
clt_status clt_data_load_idx(const char *images_path, const char *labels_path,
                             clt_dataset *out);
/* Only the rows keep names (clt_data_rows) held as floats. */
clt_status clt_data_load_idx_rows(const char *images_path, const char *labels_path,
                                  clt_data_rows keep, clt_dataset *out);

/* Loads {train,t10k}-images-idx3-ubyte + {train,t10k}-labels-idx1-ubyte from
 * dir: the training pair when test_split == 0, the test pair ("t10k")
 * otherwise. Each name is tried with ".gz" first, then plain; the older
 * dotted spelling ("train-images.idx3-ubyte") is accepted too. */
clt_status clt_data_load_idx_dir(const char *dir, int test_split, clt_dataset *out);
clt_status clt_data_load_idx_dir_rows(const char *dir, int test_split, clt_data_rows keep,
                                      clt_dataset *out);
/* Whether dir holds either file of that pair (then loading it is
   meaningful: a missing partner is an error). */
bool clt_data_idx_dir_has(const char *dir, int test_split);

/* Finds the Fashion-MNIST directory and copies it into dir (dirlen bytes):
 * $CLT_DATA_DIR when set and non-empty (it must then hold all four files,
 * else an error naming CLT_DATA_DIR and the missing file), otherwise
 * CLT_DATA_FASHION_MNIST_DIR. When missing, the message says to run
 * `apt-get install dataset-fashion-mnist` or to set CLT_DATA_DIR. */
clt_status clt_data_find_fashion_mnist(char *dir, size_t dirlen);

/* Where a delimited text file has its label. */
typedef enum clt_label_column {
  CLT_LABEL_FIRST, /* the first column (the default) */
  CLT_LABEL_LAST,
  CLT_LABEL_NAMED, /* the header's column called label_name */
  CLT_LABEL_NONE   /* features only: y NULL, classes 0 */
} clt_label_column;

typedef struct clt_text_options {
  char delimiter;         /* 0: clt_data_delimiter_for(path) */
  clt_label_column label;
  const char *label_name; /* CLT_LABEL_NAMED */
} clt_text_options;

/* The delimiter of a file by its name: a tab for .tsv and .tsv.gz, else a
   comma. */
char clt_data_delimiter_for(const char *path);
/* Whether dl can separate numbers: not a digit, letter, sign, point,
   quote, NUL or line end. */
bool clt_data_delimiter_ok(char dl);

/* Delimited text (CSV, TSV; plain or gzip): one row per line, a label
 * cell where opt says (opt NULL: first column, comma) and the features.
 *  - The first non-blank line is a header when none of its feature cells
 *    (the label's aside) is a number, and always with CLT_LABEL_NAMED; its
 *    column count must match the data; header_line says which it was. A
 *    first line with some numbers is data, and a non-number in it an
 *    error like any other row's.
 *  - CRLF line ends, spaces/tabs around cells, blank lines (anywhere, e.g.
 *    trailing), a missing final newline and a leading UTF-8 byte order mark
 *    are all fine. Quoting is not supported (a quoted number is an error).
 *  - Numbers are decimal ("1", "-2.5e3", ...) in the grammar of the tool's
 *    flags (host/number.h: no hexadecimal); nan/inf and values beyond
 *    float range are errors.
 *  - Labels are integers (any sign, "3" or "3.0") or texts: the distinct
 *    ones become names in order of appearance (clt_label_cell); a number
 *    that is not an integer is refused.
 *  - Every data row needs the same number of columns, at least 2 (1
 *    without labels).
 * Errors name the file and the 1-based line (and column for cells): empty
 * file, header only, no column of label_name, non-numeric/empty/non-finite
 * cell, ragged rows, a bad label; CLT_ERR_INVALID_ARG for a delimiter that
 * is not clt_data_delimiter_ok. */
clt_status clt_data_load_csv(const char *path, const clt_text_options *opt,
                             clt_dataset *out);
/* Only the rows keep names (clt_data_rows) held. Of the others only the
   column count and the label are read (the classes are every row's): a
   bad cell is an error of the share that keeps its row. */
clt_status clt_data_load_csv_rows(const char *path, const clt_text_options *opt,
                                  clt_data_rows keep, clt_dataset *out);

typedef struct clt_svmlight_options {
  size_t features; /* the width; 0: the largest index in the file */
  int zero_based;  /* 1 zero-based, 0 one-based, -1 (the default): zero-based
                      when some index is 0 (scikit-learn's "auto") */
} clt_svmlight_options;

/* The svmlight/libsvm text format (plain or gzip), held densely:
 *   LABEL [qid:Q] INDEX:VALUE INDEX:VALUE ...   # a comment
 * Labels as in clt_data_load_csv (a comma-separated multi-label is
 * refused, and so is a first field with ':', an entry: a line must start
 * with its label); qid ignored; indices whole, increasing along a line; values
 * finite floats; absent features 0. One-based indices land at column
 * index - 1. The width is opt->features, or the largest index (+1 when
 * zero-based); svmlight_base says which base was used, so that a test file
 * is read with the training file's. Errors name the file, line and
 * column; more than 2^31 values (rows x width) are refused, and beyond
 * 2^24 values a file that holds fewer than one in 1024 (held densely, it
 * would waste gigabytes). */
clt_status clt_data_load_svmlight(const char *path, const clt_svmlight_options *opt,
                                  clt_dataset *out);
/* Only the rows keep names (clt_data_rows) held. Of the others only the
   labels and indices are read, which take part in the classes, the width
   and the index base: a bad value is an error of the share that keeps
   its row. */
clt_status clt_data_load_svmlight_rows(const char *path, const clt_svmlight_options *opt,
                                       clt_data_rows keep, clt_dataset *out);

/* The svmlight file source as read with opt (clt_data_load_svmlight; NULL:
 * the defaults), kept
 * in a binary file cache (the CSR arrays as this machine holds them, each
 * at a 64-byte boundary), written atomically. The cache records the
 * source's inode, size, modification and change times (not its device,
 * which a network file system may number differently on each machine),
 * and the options. An
 * existing file is replaced only when it is such a cache, and never when
 * it is the source (CLT_ERR_INVALID_ARG). */
clt_status clt_data_svmlight_cache_write(const clt_dataset *ds, const char *source,
                                         const clt_svmlight_options *opt, const char *cache);
/* keep's rows of cache when it is one of source as it is now (its inode,
 * size and times), read with opt or with the width and index base the
 * cache resolved to (*found; otherwise, also when the cache cannot be
 * read, out is untouched and the source must be read): the columns and
 * values mapped from the cache (privately: written pages become the
 * process's), so that only the kept rows' pages are read; the row
 * offsets, labels and class names copied. The kept rows are checked
 * (CLT_ERR_FORMAT for a damaged cache). cltrain replaces a cache with a
 * new file; one overwritten in place by another program while mapped can
 * stop the process (SIGBUS) or change rows already checked. */
clt_status clt_data_svmlight_cache_load(const char *cache, const char *source,
                                        const clt_svmlight_options *opt, clt_data_rows keep,
                                        clt_dataset *out, bool *found);
/* Whether cache is one of source read with opt, and then its rows. */
bool clt_data_svmlight_cache_rows(const char *cache, const char *source,
                                  const clt_svmlight_options *opt, size_t *n);
/* How clt_data_load_svmlight_cached read its rows. */
typedef enum clt_cache_use {
  CLT_CACHE_MAPPED,   /* from the cache */
  CLT_CACHE_WRITTEN,  /* parsed, and the cache written */
  CLT_CACHE_UNWRITTEN /* parsed; the cache not written (why says why) */
} clt_cache_use;
/* keep's rows of the svmlight file source read with opt: mapped from
 * cache when it is a current cache of them (clt_data_svmlight_cache_load),
 * otherwise parsed, then kept in cache unless the source changed while it
 * was parsed or the cache cannot be written (why, a message, is then
 * set, as it is for a damaged cache read again; "" otherwise), and cut to
 * keep's rows. A cache is written with the source's state from before
 * the parse. Either way the same rows, classes and width. */
clt_status clt_data_load_svmlight_cached(const char *source, const clt_svmlight_options *opt,
                                         const char *cache, clt_data_rows keep,
                                         clt_dataset *out, clt_cache_use *use, char *why,
                                         size_t why_len);

/* numpy's .npy arrays (format versions 1-3, little- or big-endian), read
 * as binary without text: features x_path of shape (N, D), float32,
 * float64 or integers (uint8 pixels), C or Fortran order; labels y_path
 * (NULL: none) of shape (N,) or (N, 1), integers or floats holding
 * integers, mapped to classes as clt_label_int does. Errors name the file
 * and, for values, the row and column. */
clt_status clt_data_load_npy(const char *x_path, const char *y_path, clt_dataset *out);
/* Only the rows keep names (clt_data_rows): a C-order file's other rows
   are not read at all (a seek), a Fortran-order one's read and dropped;
   the labels are read whole. */
clt_status clt_data_load_npy_rows(const char *x_path, const char *y_path, clt_data_rows keep,
                                  clt_dataset *out);

typedef enum clt_data_format {
  CLT_FORMAT_IDX_DIR,  /* a directory: IDX pairs (clt_data_load_idx_dir) */
  CLT_FORMAT_IDX_FILE, /* one IDX file (plain or gzip) */
  CLT_FORMAT_NPY,
  CLT_FORMAT_SVMLIGHT,
  CLT_FORMAT_TEXT      /* delimited text: CSV, TSV */
} clt_data_format;

/* What path holds, by content and then by name: a directory; numpy's or
 * IDX's magic bytes (IDX plain or gzip); then text: svmlight for names
 * ending .svm, .svmlight or .libsvm (each also .gz), delimited text for
 * .csv and .tsv (also .gz), and otherwise svmlight when the first line
 * that is not blank or a '#' comment has INDEX:VALUE (or qid:) as its
 * second field, else delimited text. CLT_ERR_IO naming path when it
 * cannot be inspected or read, CLT_ERR_FORMAT when its gzip stream is
 * corrupt. */
clt_status clt_data_sniff(const char *path, clt_data_format *out);

/* Progress of the readers above on the calling thread: fn(user, path,
 * bytes, rows) after every 16 MiB read (bytes: decompressed input so far),
 * every 65536 rows parsed and at the end (rows so far; 0 while a binary
 * file is read). fn NULL (the default): no reports. */
typedef void (*clt_data_progress_fn)(void *user, const char *path, uint64_t bytes,
                                     uint64_t rows);
void clt_data_set_progress(clt_data_progress_fn fn, void *user);

/* The rows and features of the data set at path as its header declares
 * them, without reading it: IDX directories (the idx_split pair) and .npy
 * files; *known false for the formats whose size is known only once read
 * (text). Errors as the loaders give them for a bad header. */
clt_status clt_data_shape(const char *path, int idx_split, size_t *n, size_t *d, bool *known);

/* The rows that clt_data_load_csv_rows (fmt CLT_FORMAT_TEXT, with opt) or
   clt_data_load_svmlight_rows (CLT_FORMAT_SVMLIGHT) finds in path,
   counted in one read of its lines without parsing their cells: what a
   data-parallel run needs to name each rank's share of a file without a
   header that says its rows. A file the loader refuses may count anything. */
clt_status clt_data_count_rows(const char *path, clt_data_format fmt,
                               const clt_text_options *opt, size_t *n);

/* Synthetic Gaussian blobs, deterministic for a seed (own splitmix64 +
 * Box-Muller; no rand()). Class means: one N(0,1) vector per class, rescaled
 * to Euclidean norm 3 (separable, not trivially). Rows: mean of its class +
 * N(0,1) noise per coordinate. train gets n rows, test (may be NULL) gets
 * max(n/5, 1) rows drawn from the same means. Labels are row % c (balanced:
 * class counts differ by at most 1). classes = c.
 * Needs n >= 1, d >= 1, 2 <= c <= INT32_MAX. */
clt_status clt_data_synthetic(size_t n, size_t d, size_t c, uint64_t seed,
                              clt_dataset *train, clt_dataset *test);

/* Sparse rows with a planted linear model, like hashed text: deterministic
 * for a seed. Each row has about nnz distinct features (uniform in
 * [nnz/2, 3nnz/2], at most d) drawn from a power law (Zipf, exponent 1.1)
 * over the d features, their ranks scattered over the indices by a seeded
 * permutation; values 1 + |N(0,1)| (counts), each row scaled to Euclidean
 * norm 1 (as tf-idf rows are). Labels are the planted softmax model's own
 * samples, argmax_k (5 x.w_k + Gumbel noise), with w_jk uniform of
 * variance 1 from a hash of (seed, j, k) (no d x c table): cross-entropy is
 * the right loss, and the best accuracy is below 1 (rare features are
 * seen too seldom to learn). train gets n rows, test (may be NULL)
 * max(n/5, 1). Needs n >= 1, d in [1, 2^31), nnz >= 1, 2 <= c <= 2^31-1. */
clt_status clt_data_synthetic_sparse(size_t n, size_t d, size_t c, size_t nnz, uint64_t seed,
                                     clt_dataset *train, clt_dataset *test);

/* CLT_OK when every label is in [0, classes); otherwise CLT_ERR_LABEL
 * with "NAME: label L at row R (0-based) is outside [0, classes)". name may be
 * NULL (then "data set"). classes == 0 is an error. */
clt_status clt_data_check_labels(const clt_dataset *ds, size_t classes,
                                 const char *name);

/* Holds out about fraction (0 < fraction < 1) of ds's rows of every class
 * (ds without names: after clt_data_unify_labels),
 * chosen from seed, into held, the others into rest, each in ds's order:
 * round(fraction * count) rows of a class of count, at most count - 1 (a
 * class of one row stays in rest). Both outputs own their arrays; ds is
 * untouched. CLT_ERR_INVALID_ARG when nothing or everything would be held
 * out. */
clt_status clt_data_split_stratified(const clt_dataset *ds, double fraction,
                                     uint64_t seed, clt_dataset *rest,
                                     clt_dataset *held);

/* Sparse rows made dense in place (x set; ptr, col, val freed). Refused
 * (CLT_ERR_FORMAT) beyond CLT_DATA_IDX_MAX_ELEMENTS cells. */
clt_status clt_data_densify(clt_dataset *ds);

/* ---- Preprocessing (no failure modes; NULL data sets are ignored) ----
 * Each works on dense and sparse rows alike (for sparse ones the zeros
 * count in the statistics). */

/* x *= factor, e.g. 1.0f/255. */
void clt_data_scale(clt_dataset *ds, float factor);

/* Per-feature mean (d values, double accumulation). n == 0 gives zeros. */
void clt_data_mean(const clt_dataset *ds, double *mean);
/* Its parts, which sum over the shares of a set split in rows: the
   per-feature sums of the values times scale (each a float product, as
   clt_data_scale makes it), and of their squared deviations from mean
   (zeros of sparse rows counted); n == 0 gives zeros. */
void clt_data_sums(const clt_dataset *ds, float scale, double *sum);
void clt_data_sqdev(const clt_dataset *ds, float scale, const double *mean, double *ss);

/* Per-feature population standard deviation (divides by n, like numpy's
 * std and sklearn's StandardScaler), two-pass around mean. mean may be NULL
 * (computed internally, column by column). n == 0 gives zeros. */
void clt_data_std(const clt_dataset *ds, const double *mean, double *std);

/* x = (x - mean) / std per feature, computed in double. mean NULL: nothing
 * subtracted; std NULL: nothing divided (only subtract). Sparse rows get
 * their entries divided and nothing subtracted: mean must be zero. A std below 1e-8
 * (or NaN) is treated as 1, so constant features become 0, not inf: the
 * divisor is clt_data_std_divisor(std). */
double clt_data_std_divisor(double std);
void clt_data_normalize(clt_dataset *ds, const double *mean,
                        const double *std);
/* One dense row of d values in into out (may be in): scaled by scale, then
   normalized as clt_data_normalize does (mean, std NULL: not), the bits
   of clt_data_scale followed by clt_data_normalize. */
void clt_data_prep_row(const float *in, float *out, size_t d, float scale, const double *mean,
                       const double *std);

#ifdef __cplusplus
}
#endif

#endif /* CLTRAIN_HOST_DATA_H */
