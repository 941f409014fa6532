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

#include <stddef.h>
#include <stdint.h>

#include "cltrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of pixels (N x rows x cols) an IDX image file may declare. */
#define CLT_DATA_IDX_MAX_ELEMENTS ((uint64_t)1 << 31)

/* Default Fashion-MNIST location (Debian package dataset-fashion-mnist). */
#define CLT_DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct clt_dataset {
  size_t n, d;    /* rows, features per row */
  size_t classes; /* max label + 1, or as given */
  float *x;       /* n*d row-major, owned */
  int32_t *y;     /* n labels, owned */
} clt_dataset;

/* Frees the arrays and zeroes the struct. NULL is fine. */
void clt_dataset_free(clt_dataset *ds);

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

/* Loads {train,t10k}-images-idx3-ubyte + {train,t10k}-labels-idx1-ubyte from
 * dir: the training pair when test_split == 0, the test pair ("t10k")
 * otherwise. Each name is tried with ".gz" first, then plain; the older
 * dotted spelling ("train-images.idx3-ubyte") is accepted too. */
clt_status clt_data_load_idx_dir(const char *dir, int test_split, clt_dataset *out);

/* Finds the Fashion-MNIST directory and copies it into dir (dirlen bytes):
 * $CLT_DATA_DIR when set and non-empty (it must then hold all four files,
 * else an error naming CLT_DATA_DIR and the missing file), otherwise
 * CLT_DATA_FASHION_MNIST_DIR. When missing, the message says to run
 * `apt-get install dataset-fashion-mnist` or to set CLT_DATA_DIR. */
clt_status clt_data_find_fashion_mnist(char *dir, size_t dirlen);

/* CSV (plain or gzip): label in column 0, then the features, comma separated.
 *  - The first non-blank line is a header when any of its cells is not a
 *    number; it is skipped (its column count must still match the data).
 *  - CRLF line ends, spaces/tabs around cells, blank lines (anywhere, e.g.
 *    trailing), a missing final newline and a leading UTF-8 byte order mark
 *    are all fine. Quoting is not supported (a quoted number is an error).
 *  - Numbers are decimal ("1", "-2.5e3", ...) in the grammar of the tool's
 *    flags (host/number.h: no hexadecimal); nan/inf and values beyond
 *    float range are errors.
 *  - Labels must be integers (written "3" or "3.0") in [0, INT32_MAX), and
 *    < classes_hint when classes_hint != 0.
 *  - Every data row needs the same number of columns, at least 2.
 * classes = classes_hint if non-zero, else max label + 1.
 * Errors name the file and the 1-based line (and column for cells): empty
 * file, header only, non-numeric/empty/non-finite cell, ragged rows,
 * negative, non-integer or too large label. */
clt_status clt_data_load_csv(const char *path, size_t classes_hint, clt_dataset *out);

/* The same for a CSV file of features only (no label column, at least one
 * feature): y is NULL and classes 0. */
clt_status clt_data_load_csv_features(const char *path, clt_dataset *out);

/* Synthetic Gaussian blobs, deterministic for a seed (own splitmix64 +
 * Box-Muller; no rand()). Class means: one N(0,1) vector per class, rescaled
 * to Euclidean norm 3 (separable, not trivially). Rows: mean of its class +
 * N(0,1) noise per coordinate. train gets n rows, test (may be NULL) gets
 * max(n/5, 1) rows drawn from the same means. Labels are row % c (balanced:
 * class counts differ by at most 1). classes = c.
 * Needs n >= 1, d >= 1, 2 <= c <= INT32_MAX. */
clt_status clt_data_synthetic(size_t n, size_t d, size_t c, uint64_t seed,
                              clt_dataset *train, clt_dataset *test);

/* CLT_OK when every label is in [0, classes); otherwise CLT_ERR_LABEL
 * with "NAME: label L at row R (0-based) is outside [0, classes)". name may be
 * NULL (then "data set"). classes == 0 is an error. */
clt_status clt_data_check_labels(const clt_dataset *ds, size_t classes,
                                 const char *name);

/* Holds out about fraction (0 < fraction < 1) of ds's rows of every class,
 * chosen from seed, into held, the others into rest, each in ds's order:
 * round(fraction * count) rows of a class of count, at most count - 1 (a
 * class of one row stays in rest). Both outputs own their arrays; ds is
 * untouched. CLT_ERR_INVALID_ARG when nothing or everything would be held
 * out. */
clt_status clt_data_split_stratified(const clt_dataset *ds, double fraction,
                                     uint64_t seed, clt_dataset *rest,
                                     clt_dataset *held);

/* ---- Preprocessing (no failure modes; NULL data sets are ignored) ---- */

/* x *= factor, e.g. 1.0f/255. */
void clt_data_scale(clt_dataset *ds, float factor);

/* Per-feature mean (d values, double accumulation). n == 0 gives zeros. */
void clt_data_mean(const clt_dataset *ds, double *mean);

/* Per-feature population standard deviation (divides by n, like numpy's
 * std and sklearn's StandardScaler), two-pass around mean. mean may be NULL
 * (computed internally, column by column). n == 0 gives zeros. */
void clt_data_std(const clt_dataset *ds, const double *mean, double *std);

/* x = (x - mean) / std per feature, computed in double. mean NULL: nothing
 * subtracted; std NULL: nothing divided (only subtract). A std below 1e-8
 * (or NaN) is treated as 1, so constant features become 0, not inf: the
 * divisor is clt_data_std_divisor(std). */
double clt_data_std_divisor(double std);
void clt_data_normalize(clt_dataset *ds, const double *mean,
                        const double *std);

#ifdef __cplusplus
}
#endif

#endif /* CLTRAIN_HOST_DATA_H */
