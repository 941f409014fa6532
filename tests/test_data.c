/* Tests for host/data.c: IDX and CSV loaders, synthetic data, preprocessing.
 * Every test works in its own temporary directory (mkdtemp). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setenv */
#endif

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "internal.h"
#include "rng.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* fixture: a temporary directory removed after each test              */

static char g_dir[512];
/* The detail of the last failure outside a context on this thread. */
#define g_err clt_last_error(NULL)

static void setup(void) {
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/clt_data_XXXXXX", (t && *t) ? t : "/tmp");
  cr_assert_not_null(mkdtemp(g_dir), "mkdtemp failed");
  clt_fail(NULL, CLT_OK, "%s", ""); /* no stale detail */
}

static void teardown(void) { tu_rm_tree(g_dir); }

TestSuite(data, .init = setup, .fini = teardown);

/* Path of name inside the temp dir; rotates through a few static buffers. */
static const char *tpath(const char *name) {
  static char bufs[8][1024];
  static int k;
  char *b = bufs[k++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
  return b;
}

static const char *write_bytes(const char *name, const void *data, size_t len,
                               int gz) {
  const char *p = tpath(name);
  if (gz) {
    gzFile f = gzopen(p, "wb");
    cr_assert_not_null(f);
    if (len)
      cr_assert_eq(gzwrite(f, data, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    if (len)
      cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
  }
  return p;
}

static const char *write_text(const char *name, const char *text) {
  return write_bytes(name, text, strlen(text), 0);
}

static void put_be32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)(v >> 24);
  b[1] = (unsigned char)(v >> 16);
  b[2] = (unsigned char)(v >> 8);
  b[3] = (unsigned char)v;
}

/* IDX image file: magic, n, r, c, then npix bytes from pix. */
static const char *write_images(const char *name, uint32_t magic, uint32_t n,
                                uint32_t r, uint32_t c,
                                const unsigned char *pix, size_t npix, int gz) {
  size_t len = 16 + npix;
  unsigned char *b = malloc(len);
  cr_assert_not_null(b);
  put_be32(b, magic);
  put_be32(b + 4, n);
  put_be32(b + 8, r);
  put_be32(b + 12, c);
  if (npix)
    memcpy(b + 16, pix, npix);
  const char *p = write_bytes(name, b, len, gz);
  free(b);
  return p;
}

static const char *write_labels(const char *name, uint32_t magic, uint32_t n,
                                const unsigned char *lab, size_t nlab,
                                int gz) {
  size_t len = 8 + nlab;
  unsigned char *b = malloc(len);
  cr_assert_not_null(b);
  put_be32(b, magic);
  put_be32(b + 4, n);
  if (nlab)
    memcpy(b + 8, lab, nlab);
  const char *p = write_bytes(name, b, len, gz);
  free(b);
  return p;
}

/* 3 images of 2 x 2 and their labels */
static const unsigned char PIX[12] = {0, 1, 2, 255, 10, 20, 30, 40, 128, 127, 7, 9};
static const unsigned char LAB[3] = {2, 0, 7};

static void check_small(const clt_dataset *ds) {
  cr_assert_eq(ds->n, 3);
  cr_assert_eq(ds->d, 4);
  cr_assert_eq(ds->classes, 8);
  for (int i = 0; i < 12; i++)
    cr_assert_eq(ds->x[i], (float)PIX[i], "pixel %d: %g", i, ds->x[i]);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(ds->y[i], LAB[i]);
}

/* A refusal with status st whose detail names sub1 and sub2; EXPECT_ERR
   for malformed content. */
#define EXPECT_FAIL(rc, st, sub1, sub2)                                        \
  do {                                                                         \
    cr_assert_eq((rc), (st), "rc %s, wanted %s, msg '%s'",                     \
                 clt_status_name(rc), clt_status_name(st), g_err);             \
    cr_assert_not_null(strstr(g_err, (sub1)), "'%s' not in '%s'", (sub1),      \
                       g_err);                                                 \
    cr_assert_not_null(strstr(g_err, (sub2)), "'%s' not in '%s'", (sub2),      \
                       g_err);                                                 \
  } while (0)
#define EXPECT_ERR(rc, sub1, sub2) EXPECT_FAIL(rc, CLT_ERR_FORMAT, sub1, sub2)

/* a data set with recognisable junk, to check outputs are left alone */
static clt_dataset sentinel(void) {
  clt_dataset s;
  s.n = 11;
  s.d = 22;
  s.classes = 33;
  s.x = (float *)(uintptr_t)0x10;
  s.y = (int32_t *)(uintptr_t)0x20;
  s.names = (char **)(uintptr_t)0x30;
  return s;
}

static void check_sentinel(const clt_dataset *s) {
  cr_assert_eq(s->n, 11);
  cr_assert_eq(s->d, 22);
  cr_assert_eq(s->classes, 33);
  cr_assert_eq((uintptr_t)s->x, 0x10);
  cr_assert_eq((uintptr_t)s->y, 0x20);
  cr_assert_eq((uintptr_t)s->names, 0x30);
}

/* ------------------------------------------------------------------ */
/* IDX: valid files                                                    */

Test(data, idx_plain_exact) {
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_idx(ip, lp, &ds), 0, "%s",
               g_err);
  check_small(&ds);
  clt_dataset_free(&ds);
  cr_assert_eq(ds.n, 0);
  cr_assert_null(ds.x);
  cr_assert_null(ds.y);
}

Test(data, idx_gzip_exact) {
  const char *ip = write_images("img.gz", 0x803, 3, 2, 2, PIX, 12, 1);
  const char *lp = write_labels("lab.gz", 0x801, 3, LAB, 3, 1);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_idx(ip, lp, &ds), 0, "%s",
               g_err);
  check_small(&ds);
  clt_dataset_free(&ds);
}

Test(data, idx_mixed_gzip_and_plain) {
  const char *ip = write_images("img.gz", 0x803, 3, 2, 2, PIX, 12, 1);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_idx(ip, lp, &ds), 0);
  check_small(&ds);
  clt_dataset_free(&ds);
}

Test(data, idx_larger_than_read_chunk) {
  /* 2 MiB + a bit of pixels: crosses the loader's 1 MiB growth step */
  const uint32_t n = 2700, r = 28, c = 28;
  size_t np = (size_t)n * r * c;
  unsigned char *pix = malloc(np), *lab = malloc(n);
  cr_assert_not_null(pix);
  cr_assert_not_null(lab);
  for (size_t i = 0; i < np; i++)
    pix[i] = (unsigned char)(i * 31 + 7);
  for (size_t i = 0; i < n; i++)
    lab[i] = (unsigned char)(i % 10);
  const char *ip = write_images("big.gz", 0x803, n, r, c, pix, np, 1);
  const char *lp = write_labels("bigl", 0x801, n, lab, n, 0);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_idx(ip, lp, &ds), 0, "%s",
               g_err);
  cr_assert_eq(ds.n, n);
  cr_assert_eq(ds.d, 784);
  cr_assert_eq(ds.classes, 10);
  for (size_t i = 0; i < np; i++)
    if (ds.x[i] != (float)pix[i])
      cr_assert_fail("pixel %zu", i);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(ds.y[i], (int32_t)(i % 10));
  clt_dataset_free(&ds);
  free(pix);
  free(lab);
}

/* ------------------------------------------------------------------ */
/* IDX: malformed files                                                */

Test(data, idx_bad_magic_images) {
  const char *ip = write_images("train-images-idx3-ubyte.gz", 0, 3, 2, 2, PIX,
                                12, 1);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "bad magic 0x00000000 (expected 0x00000803)");
  check_sentinel(&ds);
}

Test(data, idx_files_swapped) {
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(lp, ip, &ds);
  EXPECT_ERR(rc, lp, "bad magic 0x00000801 (expected 0x00000803)");
  check_sentinel(&ds);
}

Test(data, idx_bad_magic_labels) {
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  const char *lp = write_labels("lab", 0x802, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, lp, "bad magic 0x00000802 (expected 0x00000801)");
  check_sentinel(&ds);
}

Test(data, idx_truncated_images_plain) {
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 11, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "truncated");
  cr_assert_not_null(strstr(g_err, "12 bytes"), "%s", g_err);
  check_sentinel(&ds);
}

Test(data, idx_truncated_images_gzip) {
  const char *ip = write_images("img.gz", 0x803, 3, 2, 2, PIX, 5, 1);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "truncated");
  check_sentinel(&ds);
}

/* The bytes of the file at path into buf (at most cap); their count. */
static size_t read_back(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  size_t len = fread(buf, 1, cap, f);
  fclose(f);
  cr_assert(len < cap, "%s: larger than the buffer", path);
  return len;
}

Test(data, idx_gzip_stream_cut_short) {
  /* valid gzip of a valid file, with its last 20 compressed bytes removed */
  const char *full = write_images("full.gz", 0x803, 3, 2, 2, PIX, 12, 1);
  unsigned char buf[256];
  size_t len = read_back(full, buf, sizeof buf);
  cr_assert_gt(len, 30);
  const char *ip = write_bytes("cut.gz", buf, len - 20, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "truncated");
  check_sentinel(&ds);
}

/* The gzip of a file whose bytes are data, less its last cut bytes. */
static const char *write_gzip_cut(const char *name, const void *data, size_t len,
                                  size_t cut) {
  const char *full = write_bytes("full-for-cut.gz", data, len, 1);
  static unsigned char buf[1 << 16];
  size_t n = read_back(full, buf, sizeof buf);
  cr_assert_gt(n, cut);
  return write_bytes(name, buf, n - cut, 0);
}

/* Without its 8-byte trailer (CRC-32 and length) the whole payload still
   inflates: zlib reports end of file, not an error, so it took checking. */
Test(data, idx_gzip_without_its_trailer) {
  unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 7};
  const char *lp = write_gzip_cut("lab.gz", lab, sizeof lab, 8);
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, lp, "truncated gzip");
  check_sentinel(&ds);
}

Test(data, csv_gzip_cut_short_or_without_trailer) {
  static char text[8192];
  size_t len = (size_t)snprintf(text, sizeof text, "label,a,b\n");
  for (int i = 0; i < 462; i++)
    len += (size_t)snprintf(text + len, sizeof text - len, "%d,%d.5,%d.25\n", i % 3, i, -i);
  /* cut inside the stream (the inflated text may end at any byte) and
     just the trailer off */
  const size_t cuts[] = {8, 200};
  for (size_t k = 0; k < 2; k++) {
    char name[32];
    snprintf(name, sizeof name, "cut%zu.csv", cuts[k]);
    const char *p = write_gzip_cut(name, text, len, cuts[k]);
    clt_dataset ds = sentinel();
    clt_status rc = clt_data_load_csv(p, NULL, &ds);
    EXPECT_ERR(rc, p, "truncated gzip");
    check_sentinel(&ds);
  }
  const char *whole = write_bytes("whole.csv", text, len, 1);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(whole, NULL, &ds), 0, "%s", g_err);
  cr_assert_eq(ds.n, 462);
  clt_dataset_free(&ds);
}

Test(data, idx_corrupt_gzip_crc) {
  const char *full = write_images("full.gz", 0x803, 3, 2, 2, PIX, 12, 1);
  unsigned char buf[256];
  size_t len = read_back(full, buf, sizeof buf);
  buf[len - 8] ^= 0x55; /* CRC32 in the gzip trailer */
  const char *ip = write_bytes("crc.gz", buf, len, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "gzip");
  check_sentinel(&ds);
}

Test(data, idx_truncated_header) {
  unsigned char h[6] = {0, 0, 8, 3, 0, 0};
  const char *ip = write_bytes("img", h, sizeof h, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "truncated header");
  check_sentinel(&ds);
}

Test(data, idx_truncated_labels) {
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  const char *lp = write_labels("lab.gz", 0x801, 3, LAB, 2, 1);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, lp, "truncated");
  check_sentinel(&ds);
}

Test(data, idx_count_mismatch) {
  const char *ip = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  unsigned char lab4[4] = {1, 2, 3, 4};
  const char *lp = write_labels("lab", 0x801, 4, lab4, 4, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, lp, "4 labels");
  cr_assert_not_null(strstr(g_err, "3 images"), "%s", g_err);
  cr_assert_not_null(strstr(g_err, ip), "%s", g_err);
  check_sentinel(&ds);
}

Test(data, idx_dims_overflow) {
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  const char *ip = write_images("huge", 0x803, 0xFFFFFFFFu, 0xFFFFFFFFu,
                                0xFFFFFFFFu, PIX, 12, 0);
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "limit");
  /* 2^16 x 2^8 x 2^8 = 2^32 elements: no u64 overflow, still too many */
  ip = write_images("big", 0x803, 1u << 16, 256, 256, PIX, 12, 0);
  rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "limit");
  /* rows*cols alone above the limit */
  ip = write_images("wide", 0x803, 1, 0x10000u, 0x10000u, PIX, 12, 0);
  rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "limit");
  check_sentinel(&ds);
}

Test(data, idx_huge_header_small_file_allocates_little) {
  /* exactly 2^31 pixels declared (allowed), only 12 present: must fail as
   * truncated without trying to allocate gigabytes */
  const char *ip =
      write_images("liar", 0x803, 1u << 15, 256, 256, PIX, 12, 0);
  unsigned char *lab = calloc(1u << 15, 1);
  cr_assert_not_null(lab);
  const char *lp = write_labels("lab", 0x801, 1u << 15, lab, 1u << 15, 0);
  free(lab);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "truncated");
  check_sentinel(&ds);
}

Test(data, idx_zero_dims) {
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  const char *ip = write_images("z", 0x803, 3, 0, 2, PIX, 0, 0);
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "zero");
  ip = write_images("z0", 0x803, 0, 2, 2, PIX, 0, 0);
  rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "zero");
  check_sentinel(&ds);
}

Test(data, idx_empty_files) {
  const char *ip = write_bytes("empty", "", 0, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "empty file");
  const char *ipgz = write_bytes("empty.gz", "", 0, 1);
  rc = clt_data_load_idx(ipgz, lp, &ds);
  EXPECT_ERR(rc, ipgz, "empty file");
  const char *ok = write_images("img", 0x803, 3, 2, 2, PIX, 12, 0);
  rc = clt_data_load_idx(ok, ip, &ds);
  EXPECT_ERR(rc, ip, "empty file");
  check_sentinel(&ds);
}

Test(data, idx_missing_file) {
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  const char *ip = tpath("nope-images");
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, ip, "cannot open");
  check_sentinel(&ds);
}

Test(data, idx_trailing_garbage) {
  unsigned char pix13[13];
  memcpy(pix13, PIX, 12);
  pix13[12] = 99;
  const char *ip = write_images("img", 0x803, 3, 2, 2, pix13, 13, 0);
  const char *lp = write_labels("lab", 0x801, 3, LAB, 3, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, ip, "trailing data");
  ip = write_images("img2", 0x803, 3, 2, 2, PIX, 12, 0);
  unsigned char lab4[4] = {1, 2, 3, 4};
  lp = write_labels("lab2.gz", 0x801, 3, lab4, 4, 1);
  rc = clt_data_load_idx(ip, lp, &ds);
  EXPECT_ERR(rc, lp, "trailing data");
  check_sentinel(&ds);
}

Test(data, idx_null_args) {
  clt_dataset ds = sentinel();
  cr_assert_eq(clt_data_load_idx(NULL, NULL, &ds), CLT_ERR_INVALID_ARG);
  cr_assert_gt(strlen(g_err), 0);
  clt_status rc = clt_data_load_idx("/nonexistent/x", "/nonexistent/y", &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, "/nonexistent/x", "cannot open");
  check_sentinel(&ds);
}

/* ------------------------------------------------------------------ */
/* IDX directories and Fashion-MNIST discovery                         */

static void write_split(const char *prefix, int gz, int dotted) {
  char in[128], ln[128];
  snprintf(in, sizeof in, dotted ? "%s-images.idx3-ubyte%s" : "%s-images-idx3-ubyte%s",
           prefix, gz ? ".gz" : "");
  snprintf(ln, sizeof ln, dotted ? "%s-labels.idx1-ubyte%s" : "%s-labels-idx1-ubyte%s",
           prefix, gz ? ".gz" : "");
  write_images(in, 0x803, 3, 2, 2, PIX, 12, gz);
  write_labels(ln, 0x801, 3, LAB, 3, gz);
}

Test(data, idx_dir_train_and_test) {
  write_split("train", 1, 0);
  write_split("t10k", 0, 0);
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_load_idx_dir(g_dir, 0, &tr), 0,
               "%s", g_err);
  cr_assert_eq(clt_data_load_idx_dir(g_dir, 1, &te), 0,
               "%s", g_err);
  check_small(&tr);
  check_small(&te);
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
}

Test(data, idx_dir_dotted_names) {
  write_split("train", 0, 1);
  clt_dataset tr = {0};
  cr_assert_eq(clt_data_load_idx_dir(g_dir, 0, &tr), 0,
               "%s", g_err);
  check_small(&tr);
  clt_dataset_free(&tr);
}

Test(data, idx_dir_missing_files) {
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx_dir(g_dir, 1, &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, g_dir, "t10k-images-idx3-ubyte");
  write_images("train-images-idx3-ubyte", 0x803, 3, 2, 2, PIX, 12, 0);
  rc = clt_data_load_idx_dir(g_dir, 0, &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, g_dir, "train-labels-idx1-ubyte");
  const char *nod = tpath("no-such-dir");
  rc = clt_data_load_idx_dir(nod, 0, &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, nod, "cannot open directory");
  const char *file = write_text("plain-file", "x");
  rc = clt_data_load_idx_dir(file, 0, &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, file, "not a directory");
  check_sentinel(&ds);
}

Test(data, idx_dir_reports_bad_file_by_name) {
  write_split("train", 0, 0);
  write_labels("train-labels-idx1-ubyte.gz", 0x801, 2, LAB, 2, 1); /* .gz wins */
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_idx_dir(g_dir, 0, &ds);
  EXPECT_ERR(rc, "train-labels-idx1-ubyte.gz", "2 labels");
  check_sentinel(&ds);
}

Test(data, find_fashion_env_dir) {
  write_split("train", 1, 0);
  write_split("t10k", 1, 0);
  cr_assert_eq(setenv("CLT_DATA_DIR", g_dir, 1), 0);
  char dir[1024];
  cr_assert_eq(clt_data_find_fashion_mnist(dir, sizeof dir),
               0, "%s", g_err);
  cr_assert_str_eq(dir, g_dir);
  char small[4];
  clt_status rc = clt_data_find_fashion_mnist(small, sizeof small);
  EXPECT_FAIL(rc, CLT_ERR_INVALID_ARG, g_dir, "buffer");
}

Test(data, find_fashion_env_dir_incomplete) {
  write_split("train", 1, 0);
  cr_assert_eq(setenv("CLT_DATA_DIR", g_dir, 1), 0);
  char dir[1024];
  clt_status rc = clt_data_find_fashion_mnist(dir, sizeof dir);
  EXPECT_FAIL(rc, CLT_ERR_IO, "CLT_DATA_DIR", "t10k-images-idx3-ubyte");
  cr_assert_not_null(strstr(g_err, g_dir), "%s", g_err);
}

Test(data, find_fashion_default) {
  cr_assert_eq(unsetenv("CLT_DATA_DIR"), 0);
  char dir[1024];
  clt_status rc = clt_data_find_fashion_mnist(dir, sizeof dir);
  if (rc == 0) {
    cr_assert_str_eq(dir, CLT_DATA_FASHION_MNIST_DIR);
  } else {
    EXPECT_FAIL(rc, CLT_ERR_IO, "apt-get install dataset-fashion-mnist", "CLT_DATA_DIR");
  }
}

Test(data, fashion_mnist_real_files) {
  unsetenv("CLT_DATA_DIR");
  char dir[1024];
  if (clt_data_find_fashion_mnist(dir, sizeof dir) != 0)
    cr_skip_test("Fashion-MNIST not installed");
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_load_idx_dir(dir, 0, &tr), 0,
               "%s", g_err);
  cr_assert_eq(clt_data_load_idx_dir(dir, 1, &te), 0,
               "%s", g_err);
  cr_assert_eq(tr.n, 60000);
  cr_assert_eq(te.n, 10000);
  cr_assert_eq(tr.d, 784);
  cr_assert_eq(te.d, 784);
  cr_assert_eq(tr.classes, 10);
  size_t cnt[10] = {0};
  for (size_t i = 0; i < tr.n; i++)
    cnt[tr.y[i]]++;
  for (int k = 0; k < 10; k++)
    cr_assert_eq(cnt[k], 6000);
  float lo = 255, hi = 0;
  for (size_t i = 0; i < tr.n * tr.d; i++) {
    lo = tr.x[i] < lo ? tr.x[i] : lo;
    hi = tr.x[i] > hi ? tr.x[i] : hi;
  }
  cr_assert_eq(lo, 0.0f);
  cr_assert_eq(hi, 255.0f);
  cr_assert_eq(clt_data_check_labels(&te, 10, "t10k"), 0);
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */

Test(data, csv_header_crlf_blank_trailing) {
  const char *p = write_text("a.csv", "label,f1,f2\r\n"
                                      "1, 0.5,-2\r\n"
                                      "0,3e2 ,4.25\r\n"
                                      "2,+7,0\r\n"
                                      "\r\n"
                                      "\n");
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), 0, "%s",
               g_err);
  cr_assert_eq(ds.n, 3);
  cr_assert_eq(ds.d, 2);
  cr_assert_eq(ds.classes, 3);
  const float want[6] = {0.5f, -2.0f, 300.0f, 4.25f, 7.0f, 0.0f};
  for (int i = 0; i < 6; i++)
    cr_assert_eq(ds.x[i], want[i], "x[%d] = %g", i, ds.x[i]);
  /* classes in order of appearance, named by the labels */
  const char *names[3] = {"1", "0", "2"};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(ds.y[i], i);
    cr_assert_str_eq(ds.names[i], names[i]);
  }
  cr_assert_eq(ds.header_line, 1);
  clt_dataset_free(&ds);
}

Test(data, csv_no_header_no_final_newline) {
  const char *p = write_text("b.csv", "3,1,2,3\n0,4,5,6\n3.0,0.1,1e-3,-0");
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), 0, "%s",
               g_err);
  cr_assert_eq(ds.n, 3);
  cr_assert_eq(ds.d, 3);
  cr_assert_eq(ds.header_line, 0);
  cr_assert_eq(ds.classes, 2); /* "3.0" is the class "3" */
  cr_assert_eq(ds.y[2], ds.y[0]);
  cr_assert_str_eq(ds.names[ds.y[2]], "3");
  cr_assert_eq(ds.x[3], 4.0f);
  cr_assert_eq(ds.x[6], 0.1f);
  cr_assert_eq(ds.x[7], 1e-3f);
  clt_dataset_free(&ds);
}

Test(data, csv_utf8_bom) {
  /* without the BOM check the first data row would pass for a header */
  const char *p = write_text("bom.csv", "\xEF\xBB\xBF" "1,2\n0,3\n");
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), 0, "%s",
               g_err);
  cr_assert_eq(ds.n, 2);
  cr_assert_str_eq(ds.names[ds.y[0]], "1");
  cr_assert_eq(ds.x[0], 2.0f);
  clt_dataset_free(&ds);
}

Test(data, csv_gzip) {
  const char *t = "label,a\n1,2\n0,3\n";
  const char *p = write_bytes("c.csv.gz", t, strlen(t), 1);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), 0, "%s",
               g_err);
  cr_assert_eq(ds.n, 2);
  cr_assert_eq(ds.x[1], 3.0f);
  clt_dataset_free(&ds);
}

Test(data, csv_non_numeric_cell) {
  const char *p = write_text("bad.csv", "y,a,b\n1,2,3\n0,4,x5\n");
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 3, column 3");
  cr_assert_not_null(strstr(g_err, "'x5' is not a number"), "%s", g_err);
  check_sentinel(&ds);
}

/* A label that is not a number is a class's name: the row is data. */
Test(data, csv_text_labels_are_classes) {
  const char *p = write_text("t.csv", "1,2,3\ncat,4,5\n-1,6,7\ncat,8,9\n");
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 4);
  cr_assert_eq(ds.classes, 3);
  cr_assert_str_eq(ds.names[ds.y[1]], "cat");
  cr_assert_str_eq(ds.names[ds.y[2]], "-1");
  cr_assert_eq(ds.y[1], ds.y[3]);
  clt_dataset_free(&ds);
}

Test(data, csv_binary_junk_in_cell) {
  const char t[] = "1,2\n0,3\0" "4\n";
  const char *p = write_bytes("nul.csv", t, sizeof t - 1, 0);
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 2, column 2");
  cr_assert_not_null(strstr(g_err, "'3?4'"), "%s", g_err);
  check_sentinel(&ds);
}

Test(data, csv_empty_cell) {
  const char *p = write_text("e.csv", "1,2,3\n0,,3\n");
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 2, column 2: empty cell");
  check_sentinel(&ds);
}

/* Cells follow the flags' number grammar (host/number.h): decimal only,
   so hexadecimal, which strtod alone would read, is not a number. */
Test(data, csv_cells_are_decimal_numbers_only) {
  clt_dataset ds = sentinel();
  const char *p = write_text("hex.csv", "1,2\n0,0x1p3\n");
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 2, column 2: '0x1p3' is not a number");
  p = write_text("inf.csv", "1,2\n0,-Infinity\n");
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 2, column 2: '-Infinity' is not a finite float");
  p = write_text("big.csv", "1,2\n0,1e400\n");
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "'1e400' is not a finite float");
  check_sentinel(&ds);
  p = write_text("ok.csv", "1,+2.5e-1\n0,-.5E2\n1,1e-320\n");
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.x[0], 0.25f);
  cr_assert_eq(ds.x[1], -50.0f);
  cr_assert_eq(ds.x[2], 0.0f, "an underflow rounds towards 0");
  clt_dataset_free(&ds);
}

Test(data, csv_non_finite) {
  clt_dataset ds = sentinel();
  const char *p = write_text("n.csv", "1,2\n0,nan\n");
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 2, column 2");
  p = write_text("i.csv", "1,2\n0,1e39\n"); /* beyond float */
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "not a finite float");
  check_sentinel(&ds);
}

Test(data, csv_ragged_rows) {
  const char *p = write_text("r.csv", "1,2,3\n0,4,5\n1,6\n");
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "line 3 has 2 columns, expected 3");
  p = write_text("r2.csv", "a,b\n1,2,3\n");
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "header on line 1 has 2 columns");
  check_sentinel(&ds);
}

/* A label that is a number must be an integer: anything else names it. */
Test(data, csv_bad_labels) {
  const struct {
    const char *text, *message;
  } bad[] = {{"1,2\n2.5,3\n", "line 2: label '2.5' is a number that is not an integer"},
             {"1,2\n1e300,3\n", "not an integer"},
             {"1,2\nnan,3\n", "line 2: label 'nan' is not finite"},
             {"1,2\n ,3\n", "line 2: empty label"},
             {"1,2\nc\001t,3\n", "line 2: label 'c?t' holds a control character"}};
  clt_dataset ds = sentinel();
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    const char *p = write_text("label.csv", bad[k].text);
    EXPECT_ERR(clt_data_load_csv(p, NULL, &ds), p, bad[k].message);
  }
  check_sentinel(&ds);
}

Test(data, csv_empty_and_header_only) {
  clt_dataset ds = sentinel();
  const char *p = write_text("empty.csv", "");
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "empty file");
  p = write_text("blank.csv", "\n \r\n\t\n");
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "empty file");
  p = write_text("hdr.csv", "label,a,b\r\n\r\n");
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "no data rows");
  p = tpath("missing.csv");
  rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_FAIL(rc, CLT_ERR_IO, p, "cannot open");
  check_sentinel(&ds);
}

Test(data, csv_single_column) {
  const char *p = write_text("one.csv", "1\n2\n");
  clt_dataset ds = sentinel();
  clt_status rc = clt_data_load_csv(p, NULL, &ds);
  EXPECT_ERR(rc, p, "at least one feature");
  check_sentinel(&ds);
}

Test(data, csv_many_rows_grow) {
  const char *p = tpath("many.csv");
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fprintf(f, "label,a,b\n");
  for (int i = 0; i < 5000; i++)
    fprintf(f, "%d,%d,%d.5\n", i % 7, i, -i);
  fclose(f);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), 0, "%s",
               g_err);
  cr_assert_eq(ds.n, 5000);
  cr_assert_eq(ds.classes, 7);
  for (int i = 0; i < 5000; i++) {
    cr_assert_eq(ds.y[i], i % 7);
    cr_assert_eq(ds.x[2 * i], (float)i);
    cr_assert_eq(ds.x[2 * i + 1], (float)(-i + (i ? -0.5 : 0.5)),
                 "row %d: %g", i, ds.x[2 * i + 1]);
  }
  clt_dataset_free(&ds);
}

/* ------------------------------------------------------------------ */
/* synthetic                                                           */

Test(data, synthetic_shapes_and_balance) {
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_synthetic(101, 7, 4, 42, &tr, &te),
               0, "%s", g_err);
  cr_assert_eq(tr.n, 101);
  cr_assert_eq(tr.d, 7);
  cr_assert_eq(tr.classes, 4);
  cr_assert_eq(te.n, 20);
  cr_assert_eq(te.d, 7);
  cr_assert_eq(te.classes, 4);
  size_t cnt[4] = {0}, cte[4] = {0};
  for (size_t i = 0; i < tr.n; i++)
    cnt[tr.y[i]]++;
  for (size_t i = 0; i < te.n; i++)
    cte[te.y[i]]++;
  for (int k = 0; k < 4; k++) {
    cr_assert(cnt[k] == 25 || cnt[k] == 26, "class %d: %zu", k, cnt[k]);
    cr_assert_eq(cte[k], 5);
  }
  for (size_t i = 0; i < tr.n * tr.d; i++)
    cr_assert(isfinite(tr.x[i]));
  cr_assert_eq(clt_data_check_labels(&tr, 4, "synthetic"), 0);
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
  /* tiny n still gets one test row; test may be NULL */
  cr_assert_eq(clt_data_synthetic(3, 2, 2, 1, &tr, &te), 0);
  cr_assert_eq(te.n, 1);
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
  cr_assert_eq(clt_data_synthetic(3, 2, 2, 1, &tr, NULL), 0);
  cr_assert_eq(tr.n, 3);
  clt_dataset_free(&tr);
}

Test(data, synthetic_deterministic) {
  clt_dataset a = {0}, at = {0}, b = {0}, bt = {0}, c = {0}, ct = {0};
  cr_assert_eq(clt_data_synthetic(50, 5, 3, 7, &a, &at), 0);
  cr_assert_eq(clt_data_synthetic(50, 5, 3, 7, &b, &bt), 0);
  cr_assert_eq(clt_data_synthetic(50, 5, 3, 8, &c, &ct), 0);
  cr_assert_eq(memcmp(a.x, b.x, 250 * sizeof(float)), 0);
  cr_assert_eq(memcmp(a.y, b.y, 50 * sizeof(int32_t)), 0);
  cr_assert_eq(memcmp(at.x, bt.x, 50 * sizeof(float)), 0);
  cr_assert_neq(memcmp(a.x, c.x, 250 * sizeof(float)), 0);
  cr_assert_neq(memcmp(at.x, ct.x, 50 * sizeof(float)), 0);
  cr_assert_neq(memcmp(a.x, at.x, 50 * sizeof(float)), 0); /* not reused */
  clt_dataset_free(&a);
  clt_dataset_free(&at);
  clt_dataset_free(&b);
  clt_dataset_free(&bt);
  clt_dataset_free(&c);
  clt_dataset_free(&ct);
}

Test(data, synthetic_statistics) {
  /* class centroids have norm ~3, noise has unit variance, and a
   * nearest-centroid classifier is good but not perfect */
  const size_t n = 20000, d = 20, c = 5;
  clt_dataset tr = {0}, te = {0};
  cr_assert_eq(clt_data_synthetic(n, d, c, 123, &tr, &te),
               0, "%s", g_err);
  double cen[5][20] = {{0}}, var = 0;
  size_t cnt[5] = {0};
  for (size_t i = 0; i < n; i++) {
    cnt[tr.y[i]]++;
    for (size_t j = 0; j < d; j++)
      cen[tr.y[i]][j] += tr.x[i * d + j];
  }
  for (size_t k = 0; k < c; k++) {
    double nrm = 0;
    for (size_t j = 0; j < d; j++) {
      cen[k][j] /= (double)cnt[k];
      nrm += cen[k][j] * cen[k][j];
    }
    cr_assert_float_eq(sqrt(nrm), 3.0, 0.15, "class %zu norm %g", k,
                       sqrt(nrm));
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) {
      double t = tr.x[i * d + j] - cen[tr.y[i]][j];
      var += t * t;
    }
  var /= (double)(n * d);
  cr_assert_float_eq(var, 1.0, 0.03, "noise variance %g", var);
  size_t right = 0;
  for (size_t i = 0; i < te.n; i++) {
    size_t best = 0;
    double bd = INFINITY;
    for (size_t k = 0; k < c; k++) {
      double dist = 0;
      for (size_t j = 0; j < d; j++) {
        double t = te.x[i * d + j] - cen[k][j];
        dist += t * t;
      }
      if (dist < bd) {
        bd = dist;
        best = k;
      }
    }
    right += (int32_t)best == te.y[i];
  }
  double acc = (double)right / (double)te.n;
  cr_assert(acc > 0.8 && acc < 0.995, "nearest-centroid accuracy %g", acc);
  clt_dataset_free(&tr);
  clt_dataset_free(&te);
}

static int by_count_desc(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x < y) - (x > y);
}

/* The sparse generator's rows as clt_data_synthetic_sparse says: lengths
   in [nnz/2, 3nnz/2] around nnz, distinct increasing columns, positive
   values of norm 1, the same arrays for the same seed; feature
   frequencies of a power law with exponent 1.1 drawn without repeats in a
   row: the most frequent feature in nearly every row, the 11th in
   roughly 60 % (a Zipf law's draws, 100 a row, put it in 57 %; taking
   the next rank on a repeat put the first 20 in every row), the counts of
   ranks 100 to 10000 falling with a log-log slope near -1.1; and every
   class drawn. */
Test(data, synthetic_sparse_rows_follow_the_power_law) {
  const size_t n = 20000, d = 1u << 18, c = 5, nnz = 100;
  clt_dataset tr = {0}, again = {0};
  cr_assert_eq(clt_data_synthetic_sparse(n, d, c, nnz, 1, &tr, NULL), CLT_OK, "%s", g_err);
  cr_assert_eq(clt_data_synthetic_sparse(n, d, c, nnz, 1, &again, NULL), CLT_OK, "%s", g_err);
  cr_assert_eq(tr.n, n);
  cr_assert_eq(memcmp(tr.ptr, again.ptr, (n + 1) * sizeof *tr.ptr), 0, "not deterministic");
  cr_assert_eq(memcmp(tr.col, again.col, (size_t)tr.ptr[n] * sizeof *tr.col), 0);
  cr_assert_eq(memcmp(tr.val, again.val, (size_t)tr.ptr[n] * sizeof *tr.val), 0);
  size_t *count = calloc(d, sizeof *count), per_class[5] = {0};
  cr_assert_not_null(count);
  for (size_t i = 0; i < n; i++) {
    size_t len = (size_t)(tr.ptr[i + 1] - tr.ptr[i]);
    cr_assert(len >= nnz / 2 && len <= nnz + nnz / 2, "row %zu: %zu entries", i, len);
    double ss = 0;
    for (int64_t k = tr.ptr[i]; k < tr.ptr[i + 1]; k++) {
      cr_assert(tr.col[k] >= 0 && (size_t)tr.col[k] < d && tr.val[k] > 0);
      if (k > tr.ptr[i])
        cr_assert_gt(tr.col[k], tr.col[k - 1], "row %zu: columns not increasing", i);
      count[tr.col[k]]++;
      ss += (double)tr.val[k] * tr.val[k];
    }
    cr_assert(fabs(ss - 1) < 1e-5, "row %zu: norm^2 %g", i, ss);
    per_class[tr.y[i]]++;
  }
  double mean = (double)tr.ptr[n] / (double)n;
  cr_expect(fabs(mean - (double)nnz) < 2, "%g entries a row", mean);
  for (size_t k = 0; k < c; k++)
    cr_expect_gt(per_class[k], n / 20, "class %zu: %zu rows", k, per_class[k]);
  qsort(count, d, sizeof *count, by_count_desc);
  double top = (double)count[0] / (double)n, eleventh = (double)count[10] / (double)n;
  cr_expect(top > 0.95, "the most frequent feature in %.2f of the rows", top);
  cr_expect(eleventh > 0.4 && eleventh < 0.85, "the 11th in %.2f of the rows", eleventh);
  double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0;
  for (size_t r = 100; r < 10000; r++) {
    if (!count[r]) continue;
    double x = log((double)(r + 1)), y = log((double)count[r]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, m++;
  }
  double slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
  cr_expect(slope > -1.3 && slope < -0.9, "log-log slope of ranks 100-10000: %g", slope);
  free(count);
  clt_dataset_free(&tr);
  clt_dataset_free(&again);
}

Test(data, synthetic_bad_args) {
  clt_dataset tr = sentinel(), te = sentinel();
  clt_status rc = clt_data_synthetic(0, 3, 2, 1, &tr, &te);
  EXPECT_FAIL(rc, CLT_ERR_INVALID_ARG, "synthetic", "N >= 1");
  rc = clt_data_synthetic(10, 0, 2, 1, &tr, &te);
  EXPECT_FAIL(rc, CLT_ERR_INVALID_ARG, "synthetic", "D >= 1");
  rc = clt_data_synthetic(10, 3, 1, 1, &tr, &te);
  EXPECT_FAIL(rc, CLT_ERR_INVALID_ARG, "synthetic", "C <=");
  rc = clt_data_synthetic(SIZE_MAX / 2, SIZE_MAX / 2, 2, 1, &tr, &te);
  EXPECT_FAIL(rc, CLT_ERR_INVALID_ARG, "synthetic", "overflow");
  rc = clt_data_synthetic(10, 3, 2, 1, NULL, &te);
  cr_assert_eq(rc, CLT_ERR_INVALID_ARG);
  check_sentinel(&tr);
  check_sentinel(&te);
}

/* ------------------------------------------------------------------ */
/* labels and preprocessing                                            */

Test(data, check_labels) {
  float x[4] = {0};
  int32_t y[4] = {0, 1, 2, 1};
  clt_dataset ds = {.n = 4, .d = 1, .classes = 3, .x = x, .y = y};
  cr_assert_eq(clt_data_check_labels(&ds, 3, "f.csv"),
               0);
  clt_status rc = clt_data_check_labels(&ds, 2, "f.csv");
  EXPECT_FAIL(rc, CLT_ERR_LABEL, "f.csv", "label 2 at row 2");
  cr_assert_not_null(strstr(g_err, "[0, 2)"), "%s", g_err);
  y[3] = -5;
  rc = clt_data_check_labels(&ds, 3, NULL);
  EXPECT_FAIL(rc, CLT_ERR_LABEL, "data set", "label -5 at row 3");
  rc = clt_data_check_labels(&ds, 0, "f.csv");
  EXPECT_FAIL(rc, CLT_ERR_INVALID_ARG, "f.csv", "class count is 0");
  cr_assert_eq(clt_data_check_labels(NULL, 3, "f.csv"), CLT_ERR_INVALID_ARG);
}

Test(data, scale) {
  float x[4] = {0, 255, 51, 102};
  int32_t y[2] = {0, 1};
  clt_dataset ds = {.n = 2, .d = 2, .classes = 2, .x = x, .y = y};
  clt_data_scale(&ds, 1.0f / 255);
  cr_assert_eq(x[0], 0.0f);
  cr_assert_float_eq(x[1], 1.0f, 1e-7f);
  cr_assert_float_eq(x[2], 0.2f, 1e-7f);
  cr_assert_float_eq(x[3], 0.4f, 1e-7f);
  clt_data_scale(NULL, 2.0f); /* no-op */
}

Test(data, mean_std_normalize) {
  float x[6] = {1, 2, 3, 2, 5, 2}; /* column 0: 1 3 5, column 1: constant */
  int32_t y[3] = {0, 1, 0};
  clt_dataset ds = {.n = 3, .d = 2, .classes = 2, .x = x, .y = y};
  double mean[2], sd[2], sd2[2];
  clt_data_mean(&ds, mean);
  cr_assert_eq(mean[0], 3.0);
  cr_assert_eq(mean[1], 2.0);
  clt_data_std(&ds, mean, sd);
  clt_data_std(&ds, NULL, sd2);
  cr_assert_float_eq(sd[0], sqrt(8.0 / 3.0), 1e-15);
  cr_assert_eq(sd[1], 0.0);
  cr_assert_float_eq(sd2[0], sd[0], 1e-15);
  cr_assert_eq(sd2[1], 0.0);
  clt_data_normalize(&ds, mean, sd);
  const double s = sqrt(8.0 / 3.0);
  cr_assert_float_eq(x[0], (float)(-2 / s), 1e-6f);
  cr_assert_eq(x[2], 0.0f);
  cr_assert_float_eq(x[4], (float)(2 / s), 1e-6f);
  cr_assert_eq(x[1], 0.0f); /* std 0 treated as 1: (2 - 2) / 1 */
  cr_assert_eq(x[3], 0.0f);
  /* normalized data has mean 0 and std 1 (where std was not 0) */
  clt_data_mean(&ds, mean);
  clt_data_std(&ds, mean, sd);
  cr_assert_float_eq(mean[0], 0.0, 1e-7);
  cr_assert_float_eq(sd[0], 1.0, 1e-6);
}

/* A row prepared on the way (clt_data_prep_row, for streamed rows) has
   the bits of clt_data_scale followed by clt_data_normalize in place. */
Test(data, prep_row_equals_scale_then_normalize) {
  const float raw[6] = {3, 250, 17, 0, 1, 128};
  float x[6], out[6];
  memcpy(x, raw, sizeof x);
  const double mean[3] = {0.1, 0.52, -0.3}, std[3] = {0.33, 1e-9, 0.27};
  clt_dataset ds = {.n = 2, .d = 3, .x = x};
  for (size_t i = 0; i < 2; i++) /* without the statistics: scaled only */
    clt_data_prep_row(raw + 3 * i, out + 3 * i, 3, 1.0f / 255, NULL, NULL);
  clt_data_scale(&ds, 1.0f / 255);
  for (int i = 0; i < 6; i++) cr_assert_eq(out[i], x[i], "scaled only: %d", i);
  for (size_t i = 0; i < 2; i++)
    clt_data_prep_row(raw + 3 * i, out + 3 * i, 3, 1.0f / 255, mean, std);
  clt_data_normalize(&ds, mean, std);
  for (int i = 0; i < 6; i++) cr_assert_eq(out[i], x[i], "[%d]: %.9g, %.9g", i, out[i], x[i]);
}

Test(data, normalize_subtract_only_and_nan_std) {
  float x[4] = {1, 10, 3, 30};
  int32_t y[2] = {0, 1};
  clt_dataset ds = {.n = 2, .d = 2, .classes = 2, .x = x, .y = y};
  const double mean[2] = {2, 20};
  clt_data_normalize(&ds, mean, NULL);
  cr_assert_eq(x[0], -1.0f);
  cr_assert_eq(x[1], -10.0f);
  cr_assert_eq(x[2], 1.0f);
  cr_assert_eq(x[3], 10.0f);
  const double sd[2] = {NAN, 1e-9};
  clt_data_normalize(&ds, NULL, sd); /* both treated as 1 */
  cr_assert_eq(x[0], -1.0f);
  cr_assert_eq(x[3], 10.0f);
}

Test(data, mean_double_accumulation) {
  /* 2^24 + 1 rows: a float accumulator would stall at 2^24 */
  const size_t n = (1u << 24) + 1;
  float *x = malloc(n * sizeof *x);
  cr_assert_not_null(x);
  for (size_t i = 0; i < n; i++)
    x[i] = 1.0f;
  clt_dataset ds = {.n = n, .d = 1, .classes = 1, .x = x};
  double m, s;
  clt_data_mean(&ds, &m);
  clt_data_std(&ds, &m, &s);
  cr_assert_eq(m, 1.0);
  cr_assert_eq(s, 0.0);
  free(x);
}

Test(data, empty_dataset_stats_and_free) {
  clt_dataset ds = {0};
  double m[1] = {5}, s[1] = {5};
  clt_data_mean(&ds, m); /* d == 0: touches nothing */
  cr_assert_eq(m[0], 5.0);
  clt_dataset z = {.n = 0, .d = 1, .classes = 1, .x = NULL, .y = NULL};
  clt_data_mean(&z, m);
  clt_data_std(&z, NULL, s);
  cr_assert_eq(m[0], 0.0);
  cr_assert_eq(s[0], 0.0);
  clt_data_normalize(&z, m, s);
  clt_dataset_free(NULL);
  clt_dataset_free(&ds);
}

/* A stratified hold-out: round(fraction * count) rows of every class, the
   same rows for the same seed, other rows for another, every row in
   exactly one part and in the data set's order. */
Test(data, split_stratified_holds_out_every_class) {
  enum { N = 103 };
  static float x[N * 2];
  static int32_t y[N];
  for (int i = 0; i < N; i++) {
    y[i] = i % 10 == 0 ? 2 : i % 3 == 0; /* classes of 11, 31 and 61 rows */
    x[2 * i] = (float)i;
    x[2 * i + 1] = -(float)i;
  }
  clt_dataset ds = {.n = N, .d = 2, .classes = 3, .x = x, .y = y}, rest, held, rest2, held2, rest3, held3;
  cr_assert_eq(clt_data_split_stratified(&ds, 0.2, 7, &rest, &held), CLT_OK, "%s", g_err);
  size_t cnt[3] = {0};
  for (size_t i = 0; i < held.n; i++) cnt[held.y[i]]++;
  size_t total[3] = {0};
  for (int i = 0; i < N; i++) total[y[i]]++;
  for (int k = 0; k < 3; k++)
    cr_assert_eq(cnt[k], (size_t)llround(0.2 * (double)total[k]), "class %d: %zu of %zu", k,
                 cnt[k], total[k]);
  cr_assert_eq(rest.n + held.n, (size_t)N);
  /* every row once, in order, with its label */
  float last[2] = {-1, -1};
  int seen[N] = {0};
  for (int p = 0; p < 2; p++) {
    const clt_dataset *s = p ? &held : &rest;
    for (size_t i = 0; i < s->n; i++) {
      int row = (int)s->x[2 * i];
      cr_assert(s->x[2 * i] > last[p], "order kept");
      last[p] = s->x[2 * i];
      cr_assert_eq(s->x[2 * i + 1], -(float)row);
      cr_assert_eq(s->y[i], y[row]);
      seen[row]++;
    }
  }
  for (int i = 0; i < N; i++) cr_assert_eq(seen[i], 1, "row %d", i);
  cr_assert_eq(clt_data_split_stratified(&ds, 0.2, 7, &rest2, &held2), CLT_OK);
  cr_assert_eq(memcmp(held.x, held2.x, held.n * 2 * sizeof(float)), 0, "same seed, same rows");
  cr_assert_eq(clt_data_split_stratified(&ds, 0.2, 8, &rest3, &held3), CLT_OK);
  cr_assert_neq(memcmp(held.x, held3.x, held.n * 2 * sizeof(float)), 0, "another seed");
  clt_dataset *all[] = {&rest, &held, &rest2, &held2, &rest3, &held3};
  for (size_t i = 0; i < 6; i++) clt_dataset_free(all[i]);
  clt_dataset out1 = sentinel(), out2 = sentinel();
  EXPECT_FAIL(clt_data_split_stratified(&ds, 1.0, 7, &out1, &out2), CLT_ERR_INVALID_ARG,
              "split", "fraction");
  EXPECT_FAIL(clt_data_split_stratified(&ds, 0.001, 7, &out1, &out2), CLT_ERR_INVALID_ARG,
              "split", "holds out 0");
  check_sentinel(&out1);
  check_sentinel(&out2);
}

/* ------------------------------------------------------------------ */
/* label columns, delimiters, header rule                              */

Test(data, csv_label_column_last_named_and_delimiters) {
  const clt_text_options last = {.label = CLT_LABEL_LAST};
  const char *p = write_text("last.csv", "1.5,2,setosa\n3,4,virginica\n");
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv(p, &last, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.d, 2);
  cr_assert_eq(ds.x[0], 1.5f);
  cr_assert_eq(ds.x[3], 4.0f);
  cr_assert_str_eq(ds.names[ds.y[1]], "virginica");
  clt_dataset_free(&ds);

  const clt_text_options named = {.label = CLT_LABEL_NAMED, .label_name = "species",
                                  .delimiter = ';'};
  p = write_text("named.csv", "a; species ;b\n1;x;2\n3;y;4\n");
  cr_assert_eq(clt_data_load_csv(p, &named, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.header_line, 1);
  cr_assert_eq(ds.d, 2);
  cr_assert_eq(ds.x[1], 2.0f);
  cr_assert_eq(ds.x[2], 3.0f);
  cr_assert_str_eq(ds.names[ds.y[1]], "y");
  clt_dataset_free(&ds);

  clt_dataset bad = sentinel();
  const clt_text_options missing = {.label = CLT_LABEL_NAMED, .label_name = "kind"};
  p = write_text("nokind.csv", "a,species,b\n1,x,2\n");
  EXPECT_ERR(clt_data_load_csv(p, &missing, &bad), p, "no column is named 'kind' on line 1");
  const clt_text_options digit = {.delimiter = '5'};
  EXPECT_FAIL(clt_data_load_csv(p, &digit, &bad), CLT_ERR_INVALID_ARG, p, "cannot separate");
  check_sentinel(&bad);

  /* .tsv is tab-separated unless told otherwise */
  p = write_text("t.tsv", "0\t1\t2\n1\t3\t4\n");
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.d, 2);
  clt_dataset_free(&ds);
  cr_assert_eq(clt_data_delimiter_for("x.tsv.gz"), '\t');
  cr_assert_eq(clt_data_delimiter_for("x.csv"), ',');
}

/* The first line is a header only when none of its feature cells is a
   number; a row with some numbers is data (never skipped), so a bad cell
   in it is an error that names it. */
Test(data, csv_header_only_when_no_feature_cell_is_a_number) {
  clt_dataset ds = {0}, bad = sentinel();
  const char *p = write_text("h1.csv", "species,a,b\nsetosa,1,2\n");
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 1);
  cr_assert_eq(ds.header_line, 1);
  clt_dataset_free(&ds);
  p = write_text("h2.csv", "setosa,1,2\nvirginica,3,4\n");
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 2, "a text label does not make a header");
  cr_assert_eq(ds.header_line, 0);
  clt_dataset_free(&ds);
  p = write_text("h3.csv", "0,1,b\n1,3,4\n");
  EXPECT_ERR(clt_data_load_csv(p, NULL, &bad), p, "line 1, column 3: 'b' is not a number");
  const clt_text_options none = {.label = CLT_LABEL_NONE};
  p = write_text("f.csv", "a,b\n1,2\n3,4\n");
  cr_assert_eq(clt_data_load_csv(p, &none, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.d, 2);
  cr_assert_null(ds.y);
  cr_assert_null(ds.names);
  cr_assert_eq(ds.classes, 0);
  clt_dataset_free(&ds);
  check_sentinel(&bad);
}

/* ------------------------------------------------------------------ */
/* classes                                                             */

/* The classes of several sets together, sorted as numpy.unique: by value
   for integers, by bytes for texts; sets without names (IDX) count their
   ids as integers. */
Test(data, unify_labels_sorts_like_numpy_unique) {
  const char *p = write_text("u1.csv", "10,1\n-1,2\n9,3\n");
  const char *q = write_text("u2.csv", "2,1\n10,2\n");
  clt_dataset a = {0}, b = {0};
  cr_assert_eq(clt_data_load_csv(p, NULL, &a), CLT_OK, "%s", g_err);
  cr_assert_eq(clt_data_load_csv(q, NULL, &b), CLT_OK, "%s", g_err);
  int32_t ids[2] = {0, 3};
  clt_dataset c = {.n = 2, .d = 1, .classes = 4, .x = (float[]){0, 0}, .y = ids};
  clt_dataset *sets[] = {&a, &b, &c};
  clt_labels l;
  cr_assert_eq(clt_data_unify_labels(sets, 3, &l), CLT_OK, "%s", g_err);
  const char *want[] = {"-1", "0", "2", "3", "9", "10"};
  cr_assert_eq(l.n, 6);
  for (size_t k = 0; k < 6; k++) cr_assert_str_eq(l.name[k], want[k]);
  cr_assert(clt_labels_numeric(&l));
  const int32_t ya[] = {5, 0, 4}, yb[] = {2, 5}, yc[] = {1, 3};
  for (int i = 0; i < 3; i++) cr_assert_eq(a.y[i], ya[i]);
  for (int i = 0; i < 2; i++) cr_assert_eq(b.y[i], yb[i]);
  for (int i = 0; i < 2; i++) cr_assert_eq(c.y[i], yc[i]);
  cr_assert_null(a.names);
  cr_assert_eq(a.classes, 6);
  cr_assert_eq(c.classes, 6);

  /* a model's classes applied to new data; an unknown label is named */
  const char *r = write_text("u3.csv", "9,1\n-1,2\n");
  clt_dataset d = {0};
  cr_assert_eq(clt_data_load_csv(r, NULL, &d), CLT_OK);
  cr_assert_eq(clt_data_apply_labels(&d, &l, "u3"), CLT_OK, "%s", g_err);
  cr_assert_eq(d.y[0], 4);
  cr_assert_eq(d.y[1], 0);
  clt_dataset_free(&d);
  r = write_text("u4.csv", "9,1\n7,2\n");
  cr_assert_eq(clt_data_load_csv(r, NULL, &d), CLT_OK);
  EXPECT_FAIL(clt_data_apply_labels(&d, &l, "u4"), CLT_ERR_LABEL, "u4",
              "label '7' (row 2) is not one of the model's 6 classes");
  clt_dataset_free(&d);
  clt_labels_free(&l);
  clt_dataset_free(&a);
  clt_dataset_free(&b);

  p = write_text("s.csv", "b,1\nB,2\nab,3\n10,4\n");
  cr_assert_eq(clt_data_load_csv(p, NULL, &a), CLT_OK);
  clt_dataset *one[] = {&a};
  cr_assert_eq(clt_data_unify_labels(one, 1, &l), CLT_OK);
  const char *bytes[] = {"10", "B", "ab", "b"};
  for (size_t k = 0; k < 4; k++) cr_assert_str_eq(l.name[k], bytes[k]);
  cr_assert_not(clt_labels_numeric(&l));
  clt_labels_free(&l);
  clt_dataset_free(&a);
}

Test(data, split_needs_unified_classes) {
  const char *p = write_text("sp.csv", "a,1\nb,2\na,3\nb,4\n");
  clt_dataset ds = {0}, r = sentinel(), h = sentinel();
  cr_assert_eq(clt_data_load_csv(p, NULL, &ds), CLT_OK);
  EXPECT_FAIL(clt_data_split_stratified(&ds, 0.5, 1, &r, &h), CLT_ERR_INVALID_ARG, "split",
              "unified");
  check_sentinel(&r);
  clt_dataset_free(&ds);
}

/* ------------------------------------------------------------------ */
/* svmlight                                                            */

Test(data, svmlight_bases_qid_comments_and_width) {
  const char *p = write_text("a.svm", "# a comment line\n"
                                      "+1 qid:3 1:0.5 3:-2 # trailing\n"
                                      "\n"
                                      "-1 2:4\n"
                                      "spam\n");
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_svmlight(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 3);
  cr_assert_eq(ds.d, 3, "one-based: the largest index is the width");
  cr_assert_eq(ds.svmlight_base, '1');
  /* Sparse rows: 0-based columns, an empty row kept. */
  cr_assert_null(ds.x);
  const int64_t want_ptr[] = {0, 2, 3, 3};
  const int32_t want_col[] = {0, 2, 1};
  const float want_val[] = {0.5f, -2, 4};
  cr_assert_arr_eq(ds.ptr, want_ptr, sizeof want_ptr);
  cr_assert_arr_eq(ds.col, want_col, sizeof want_col);
  cr_assert_arr_eq(ds.val, want_val, sizeof want_val);
  cr_assert_str_eq(ds.names[ds.y[0]], "1");
  cr_assert_str_eq(ds.names[ds.y[1]], "-1");
  cr_assert_str_eq(ds.names[ds.y[2]], "spam");
  clt_dataset_free(&ds);

  p = write_text("z.svm", "0 0:1 4:2\n1 1:3\n");
  cr_assert_eq(clt_data_load_svmlight(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.d, 5, "zero-based: the largest index + 1");
  cr_assert_eq(ds.svmlight_base, '0');
  const int32_t want_zcol[] = {0, 4, 1};
  const float want_zval[] = {1, 2, 3};
  cr_assert_arr_eq(ds.col, want_zcol, sizeof want_zcol);
  cr_assert_arr_eq(ds.val, want_zval, sizeof want_zval);
  /* densified, the same values in their cells */
  cr_assert_eq(clt_data_densify(&ds), CLT_OK);
  cr_assert_null(ds.ptr);
  const float dense[10] = {1, 0, 0, 0, 2, 0, 3, 0, 0, 0};
  cr_assert_arr_eq(ds.x, dense, sizeof dense);
  clt_dataset_free(&ds);

  /* the width and base of a training file, for its test file */
  const clt_svmlight_options wide = {.features = 8, .zero_based = 1};
  p = write_text("t.svm", "1 1:3\n");
  cr_assert_eq(clt_data_load_svmlight(p, &wide, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.d, 8);
  cr_assert_eq(ds.col[0], 1);
  cr_assert_eq(ds.val[0], 3.0f);
  clt_dataset_free(&ds);

  /* A file of many rows, through the line reader's chunks (a line longer
     than its buffer too), gzip'd, and feature 7e8 of a tiny file: wide
     rows cost only their entries. */
  char *text = malloc(3u << 20);
  cr_assert_not_null(text);
  size_t len = 0;
  for (int i = 0; i < 100000; i++) len += (size_t)sprintf(text + len, "%d %d:1.5\n", i % 3, i % 7 + 1);
  len += (size_t)sprintf(text + len, "2");
  for (int j = 1; j <= 200000; j++) len += (size_t)sprintf(text + len, " %d:1", j);
  len += (size_t)sprintf(text + len, "\n");
  p = write_bytes("long.svm.gz", text, len, 1);
  free(text);
  cr_assert_eq(clt_data_load_svmlight(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 100001);
  cr_assert_eq(ds.d, 200000);
  cr_assert_eq(ds.ptr[100000], 100000);
  cr_assert_eq(ds.ptr[100001], 300000);
  cr_assert_eq(ds.col[99999], 99999 % 7, "row 99999's column");
  cr_assert_eq(ds.col[299999], 199999);
  clt_dataset_free(&ds);
  p = write_text("w.svm", "1 700000000:1\n");
  cr_assert_eq(clt_data_load_svmlight(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.d, 700000000);
  cr_assert_eq(ds.col[0], 699999999);
  clt_dataset_free(&ds);
}

/* Reading an svmlight file holds little beyond the CSR arrays it makes:
   the peak resident memory while loading a 40 MB file of 100 000 rows of
   30 entries (arrays of 25 MB) grows by at most 1.5 times the arrays (the
   reader's growth by half, in place where mremap can). Not under the
   sanitizers, whose shadow memory is counted. */
Test(data, svmlight_reading_peaks_near_its_arrays, .timeout = 120) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  cr_skip_test("the sanitizers' memory is counted in the peak");
#else
  const size_t n = 100000, per = 30;
  const char *p = tpath("big.svm");
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  uint64_t seed = 5;
  for (size_t i = 0; i < n; i++) {
    fprintf(f, "%zu", i % 7);
    for (size_t k = 0; k < per; k++)
      fprintf(f, " %zu:%.6f", 1 + k * 8000 + clt_splitmix64(&seed) % 8000,
              (double)(clt_splitmix64(&seed) >> 40) * 0x1p-24);
    fputc('\n', f);
  }
  cr_assert_eq(fclose(f), 0);
  struct rusage before, after;
  cr_assert_eq(getrusage(RUSAGE_SELF, &before), 0);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_svmlight(p, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(getrusage(RUSAGE_SELF, &after), 0);
  const double arrays = (double)((n + 1) * 8 + n * per * 8 + n * 4);
  const double grown = (double)(after.ru_maxrss - before.ru_maxrss) * 1024.0; /* KiB */
  cr_expect_eq(ds.n, n);
  cr_expect_leq(grown, 1.5 * arrays, "the peak grew by %.1f MB reading %.1f MB of arrays",
                grown / 1e6, arrays / 1e6);
  clt_dataset_free(&ds);
#endif
}

Test(data, svmlight_errors_name_line_and_column) {
  clt_dataset ds = sentinel();
  const char *p = write_text("e1.svm", "1 1:2\n1 2:x\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "line 2, column 3: '2:x'");
  p = write_text("e2.svm", "1 3:1 2:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "indices must increase");
  p = write_text("e3.svm", "1 a:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "line 1, column 3");
  p = write_text("e4.svm", "1,2 1:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "multi-label");
  p = write_text("e5.svm", "1 1:1\n1 0:1\n");
  const clt_svmlight_options one = {.zero_based = 0};
  EXPECT_ERR(clt_data_load_svmlight(p, &one, &ds), p,
             "line 2, column 3: index 0 in a file read as one-based");
  const clt_svmlight_options narrow = {.features = 2, .zero_based = -1};
  p = write_text("e6.svm", "1 1:1\n0 2:1 5:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, &narrow, &ds), p,
             "line 2, column 7: index 5 is beyond the 2 features the file is read with");
  /* at the width: beyond in a file read as zero-based, named where it is
     (when detected, once the base is known: where the largest index first
     stands) */
  const clt_svmlight_options narrow0 = {.features = 2, .zero_based = 1};
  p = write_text("e6b.svm", "1 0:1\n0 2:1\n1 1:1 2:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, &narrow0, &ds), p,
             "line 2, column 3: index 2 is beyond the 2 features the file is read with");
  EXPECT_ERR(clt_data_load_svmlight(p, &narrow, &ds), p,
             "line 2, column 3: index 2 is beyond the 2 features the file is read with "
             "(zero-based: it holds index 0)");
  p = write_text("e7.svm", "# nothing\n\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "no data lines");
  p = write_text("e8.svm", "1.5 1:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "not an integer");
  p = write_text("e8b.svm", "99999999999999999999999 1:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "not an integer within +-2^53");
  /* one query id, whole, before the entries */
  p = write_text("e8c.svm", "1 qid:abc 1:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p,
             "line 1, column 3: 'qid:abc': a query id is qid:N, N whole");
  p = write_text("e8d.svm", "1 qid:1 qid:2 1:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p,
             "line 1, column 9: 'qid:2' is not index:value");
  p = write_text("e9.svm", "1 1:1\n1 5:1 3000000000:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p,
             "line 2, column 7: index 3000000000 makes 3000000000 features: at most 2^31 - 1");
  p = write_text("e9b.svm", "1 0:1\n1 2147483647:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p,
             "line 2, column 3: index 2147483647 makes 2147483648 features");
  /* a line without its label: the first field is an entry */
  const char *unlabelled[] = {" 3:1\n", "3:1 4:1\n", "qid:3 3:1\n", ":1 3:1\n"};
  for (size_t k = 0; k < sizeof unlabelled / sizeof *unlabelled; k++) {
    p = write_text("e10.svm", unlabelled[k]);
    EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "is not a label");
  }
  p = write_text("e11.svm", "1 1:1\n 3:1\n");
  EXPECT_ERR(clt_data_load_svmlight(p, NULL, &ds), p, "line 2, column 2: '3:1' is not a label");
  check_sentinel(&ds);
}

/* An svmlight file's cache: missing, then written from the parsed rows
   and mapped back to the same arrays, classes and base; a range of rows
   with offsets from 0 and the whole file's classes; not used once the
   file or the options change, nor when truncated; a column out of range
   refused as damaged. */
Test(data, svmlight_cache_maps_the_parsed_rows) {
  const char *src = write_text("c.svm", "2 1:0.5 3:-2\n-1 2:4\nspam\n7 1:1 2:2 3:3\n");
  char cache[1100];
  snprintf(cache, sizeof cache, "%s.cache", src);
  clt_dataset ds = {0}, got = {0};
  bool found = true;
  size_t rows = 0;
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, NULL, CLT_DATA_ALL_ROWS, &got, &found),
               CLT_OK, "%s", g_err);
  cr_assert_not(found, "no cache yet");
  cr_assert_not(clt_data_svmlight_cache_rows(cache, src, NULL, &rows));
  cr_assert_eq(clt_data_load_svmlight(src, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(clt_data_svmlight_cache_write(&ds, src, NULL, cache), CLT_OK, "%s", g_err);
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, NULL, CLT_DATA_ALL_ROWS, &got, &found),
               CLT_OK, "%s", g_err);
  cr_assert(found);
  cr_assert_not_null(got.map, "the columns and values are the cache's pages");
  cr_assert(got.n == ds.n && got.d == ds.d && got.classes == ds.classes);
  cr_assert_eq(got.svmlight_base, '1');
  cr_assert_arr_eq(got.ptr, ds.ptr, (ds.n + 1) * sizeof *ds.ptr);
  cr_assert_arr_eq(got.col, ds.col, (size_t)ds.ptr[ds.n] * sizeof *ds.col);
  cr_assert_arr_eq(got.val, ds.val, (size_t)ds.ptr[ds.n] * sizeof *ds.val);
  cr_assert_arr_eq(got.y, ds.y, ds.n * sizeof *ds.y);
  for (size_t k = 0; k < ds.classes; k++) cr_assert_str_eq(got.names[k], ds.names[k]);
  clt_dataset_free(&got);
  cr_assert(clt_data_svmlight_cache_rows(cache, src, NULL, &rows));
  cr_assert_eq(rows, 4);

  /* rows [1, 3): "-1 2:4" and the empty "spam" */
  const clt_data_rows mid = {1, 2};
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, NULL, mid, &got, &found), CLT_OK);
  cr_assert(found && got.n == 2 && got.classes == ds.classes);
  const int64_t want_ptr[] = {0, 1, 1};
  cr_assert_arr_eq(got.ptr, want_ptr, sizeof want_ptr);
  cr_assert(got.col[0] == 1 && got.val[0] == 4.0f);
  cr_assert(got.y[0] == ds.y[1] && got.y[1] == ds.y[2]);
  clt_dataset_free(&got);
  const clt_data_rows past = {3, 2};
  EXPECT_FAIL(clt_data_svmlight_cache_load(cache, src, NULL, past, &got, &found),
              CLT_ERR_INVALID_ARG, cache, "of its 4");

  /* other options, or another version of the file: not this cache; the
     width and base it resolved to, asked for explicitly: this cache */
  const clt_svmlight_options wide = {.features = 9, .zero_based = -1},
                             resolved = {.features = 3, .zero_based = 0};
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, &wide, CLT_DATA_ALL_ROWS, &got, &found),
               CLT_OK);
  cr_assert_not(found, "read with --features 9");
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, &resolved, mid, &got, &found), CLT_OK);
  cr_assert(found, "asked for 3 features, one-based");
  clt_dataset_free(&got);
  clt_dataset_free(&ds);
  src = write_text("c.svm", "1 77:1\n");
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, NULL, CLT_DATA_ALL_ROWS, &got, &found),
               CLT_OK);
  cr_assert_not(found, "the file changed");
  cr_assert_eq(clt_data_load_svmlight(src, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(clt_data_svmlight_cache_write(&ds, src, NULL, cache), CLT_OK, "%s", g_err);
  clt_dataset_free(&ds);

  /* its one column (76) beyond the width: damaged */
  FILE *f = fopen(cache, "r+b");
  cr_assert_not_null(f);
  unsigned char bytes[4096];
  size_t len = fread(bytes, 1, sizeof bytes, f), at = 128; /* past the header's fields */
  const int32_t col = 76, bad = 500;
  while (at + 4 <= len && memcmp(bytes + at, &col, 4) != 0) at++;
  cr_assert_lt(at + 4, len, "the column is in the cache");
  cr_assert_eq(fseek(f, (long)at, SEEK_SET), 0);
  cr_assert_eq(fwrite(&bad, 4, 1, f), 1);
  cr_assert_eq(fclose(f), 0);
  EXPECT_ERR(clt_data_svmlight_cache_load(cache, src, NULL, CLT_DATA_ALL_ROWS, &got, &found),
             cache, "a damaged svmlight cache");
  cr_assert_not(found);
  /* truncated: not a whole cache */
  cr_assert_eq(truncate(cache, (off_t)len - 1), 0);
  cr_assert_eq(clt_data_svmlight_cache_load(cache, src, NULL, CLT_DATA_ALL_ROWS, &got, &found),
               CLT_OK);
  cr_assert_not(found);

  /* neither the source nor a file that is not a cache is replaced */
  cr_assert_eq(clt_data_load_svmlight(src, NULL, &ds), CLT_OK, "%s", g_err);
  EXPECT_FAIL(clt_data_svmlight_cache_write(&ds, src, NULL, src), CLT_ERR_INVALID_ARG, src,
              "would replace the data");
  const char *other = write_text("notes.txt", "keep me\n");
  EXPECT_FAIL(clt_data_svmlight_cache_write(&ds, src, NULL, other), CLT_ERR_INVALID_ARG, other,
              "is not an svmlight cache");
  clt_dataset_free(&ds);
  FILE *kept = fopen(other, "rb");
  char again[16] = "";
  cr_assert_not_null(kept);
  cr_assert_eq(fread(again, 1, sizeof again, kept), 8);
  fclose(kept);
  cr_assert_str_eq(again, "keep me\n");
}

/* clt_data_load_svmlight_cached: parsed and the cache written, then
   mapped; a range of rows the same either way; a cache that cannot be
   written (a directory there) leaves the rows parsed and says why. */
Test(data, svmlight_cached_reads_rows_alike) {
  const char *src = write_text("k.svm", "a 1:1\nb 2:2 5:1\na\nc 3:3\nb 4:4\n");
  char cache[1100];
  snprintf(cache, sizeof cache, "%s.cache", src);
  const clt_data_rows mid = {1, 3};
  clt_dataset parsed = {0}, mapped = {0};
  clt_cache_use use;
  char why[256];
  cr_assert_eq(clt_data_load_svmlight_cached(src, NULL, cache, mid, &parsed, &use, why,
                                             sizeof why), CLT_OK, "%s", g_err);
  cr_assert_eq(use, CLT_CACHE_WRITTEN, "%s", why);
  cr_assert_eq(clt_data_load_svmlight_cached(src, NULL, cache, mid, &mapped, &use, why,
                                             sizeof why), CLT_OK, "%s", g_err);
  cr_assert_eq(use, CLT_CACHE_MAPPED);
  cr_assert_not_null(mapped.map);
  cr_assert_null(parsed.map);
  const clt_dataset *sets[] = {&parsed, &mapped};
  for (int k = 0; k < 2; k++) { /* rows 1..3: "b 2:2 5:1", "a", "c 3:3" */
    const clt_dataset *ds = sets[k];
    const int64_t want_ptr[] = {0, 2, 2, 3};
    const int32_t want_col[] = {1, 4, 2};
    const float want_val[] = {2, 1, 3};
    cr_assert(ds->n == 3 && ds->d == 5 && ds->classes == 3, "set %d", k);
    cr_assert_arr_eq(ds->ptr, want_ptr, sizeof want_ptr);
    cr_assert_arr_eq(ds->col, want_col, sizeof want_col);
    cr_assert_arr_eq(ds->val, want_val, sizeof want_val);
    cr_assert_str_eq(ds->names[ds->y[0]], "b");
    cr_assert_str_eq(ds->names[ds->y[1]], "a");
    cr_assert_str_eq(ds->names[ds->y[2]], "c");
  }
  clt_dataset_free(&parsed);
  clt_dataset_free(&mapped);
  const char *dir = tpath("a-dir");
  cr_assert_eq(mkdir(dir, 0700), 0);
  cr_assert_eq(clt_data_load_svmlight_cached(src, NULL, dir, CLT_DATA_ALL_ROWS, &parsed, &use,
                                             why, sizeof why), CLT_OK, "%s", g_err);
  cr_assert_eq(use, CLT_CACHE_UNWRITTEN);
  cr_assert_not_null(strstr(why, dir), "%s", why);
  cr_assert_eq(parsed.n, 5);
  clt_dataset_free(&parsed);
}

/* ------------------------------------------------------------------ */
/* .npy                                                                */

/* A .npy file (format 1.0) of descr and shape with the given data. */
static const char *write_npy(const char *name, const char *descr, const char *shape,
                             bool fortran, const void *data, size_t len) {
  char header[256];
  int h = snprintf(header, sizeof header,
                   "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                   fortran ? "True" : "False", shape);
  size_t total = 10 + (size_t)h + 1, pad = (64 - total % 64) % 64;
  static unsigned char buf[4096];
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  size_t hl = (size_t)h + pad + 1;
  buf[8] = (unsigned char)(hl & 0xff);
  buf[9] = (unsigned char)(hl >> 8);
  memcpy(buf + 10, header, (size_t)h);
  memset(buf + 10 + h, ' ', pad);
  buf[10 + (size_t)h + pad] = '\n';
  memcpy(buf + 10 + hl, data, len);
  return write_bytes(name, buf, 10 + hl + len, 0);
}

Test(data, npy_features_and_labels) {
  const float xf[6] = {1, 2, 3, 4, 5, 6};
  const int64_t yl[3] = {-1, 1, -1};
  const char *xp = write_npy("x.npy", "<f4", "(3, 2)", false, xf, sizeof xf);
  const char *yp = write_npy("y.npy", "<i8", "(3,)", false, yl, sizeof yl);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_npy(xp, yp, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 3);
  cr_assert_eq(ds.d, 2);
  cr_assert_not_null(ds.map, "little-endian float32 in C order is mapped, not read");
  for (int i = 0; i < 6; i++) cr_assert_eq(ds.x[i], xf[i]);
  cr_assert_eq(ds.classes, 2);
  cr_assert_str_eq(ds.names[ds.y[0]], "-1");
  cr_assert_str_eq(ds.names[ds.y[1]], "1");
  cr_assert_eq(ds.y[2], ds.y[0]);
  clt_dataset_free(&ds);

  /* float64 in Fortran order, uint8, big-endian float32, float labels */
  const double xd[6] = {1, 3, 5, 2, 4, 6}; /* columns of the same matrix */
  xp = write_npy("xd.npy", "<f8", "(3, 2)", true, xd, sizeof xd);
  const double yd[3] = {0, 2, 2};
  yp = write_npy("yd.npy", "<f8", "(3, 1)", false, yd, sizeof yd);
  cr_assert_eq(clt_data_load_npy(xp, yp, &ds), CLT_OK, "%s", g_err);
  cr_assert_null(ds.map, "float64 is converted, not mapped");
  for (int i = 0; i < 6; i++) cr_assert_eq(ds.x[i], xf[i], "x[%d] = %g", i, ds.x[i]);
  cr_assert_str_eq(ds.names[ds.y[1]], "2");
  clt_dataset_free(&ds);
  const unsigned char xu[6] = {1, 2, 3, 4, 5, 255};
  xp = write_npy("xu.npy", "|u1", "(3, 2)", false, xu, sizeof xu);
  cr_assert_eq(clt_data_load_npy(xp, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.x[5], 255.0f);
  cr_assert_null(ds.y);
  clt_dataset_free(&ds);
  const unsigned char xb[8] = {0x3f, 0x80, 0, 0, 0x40, 0, 0, 0}; /* 1.0f, 2.0f */
  xp = write_npy("xb.npy", ">f4", "(1, 2)", false, xb, sizeof xb);
  cr_assert_eq(clt_data_load_npy(xp, NULL, &ds), CLT_OK, "%s", g_err);
  cr_assert_null(ds.map, "big-endian is swapped, not mapped");
  cr_assert_eq(ds.x[0], 1.0f);
  cr_assert_eq(ds.x[1], 2.0f);
  clt_dataset_free(&ds);
}

/* A rank's rows of a .npy pair: C order seeks past the rows before, a
   Fortran-order array is read and the rows kept; the labels' classes are
   every row's (the last row's label, 7, is a class of every share). */
Test(data, npy_rows) {
  const float xf[8] = {1, 2, 3, 4, 5, 6, 7, 8};     /* (4, 2) */
  const double xd[8] = {1, 3, 5, 7, 2, 4, 6, 8};    /* the same, Fortran order */
  const int32_t yl[4] = {5, -1, 5, 7};
  const char *xp = write_npy("xr.npy", "<f4", "(4, 2)", false, xf, sizeof xf);
  const char *xq = write_npy("xq.npy", "<f8", "(4, 2)", true, xd, sizeof xd);
  const char *yp = write_npy("yr.npy", "<i4", "(4,)", false, yl, sizeof yl);
  clt_dataset all = {0};
  cr_assert_eq(clt_data_load_npy(xp, yp, &all), CLT_OK, "%s", g_err);
  const clt_data_rows shares[4] = {{1, 2}, {0, 1}, {3, SIZE_MAX}, {4, 0}};
  for (int f = 0; f < 2; f++)
    for (int k = 0; k < 4; k++) {
      clt_dataset ds = {0};
      cr_assert_eq(clt_data_load_npy_rows(f ? xq : xp, yp, shares[k], &ds), CLT_OK, "%s", g_err);
      size_t n = shares[k].count == SIZE_MAX ? 4 - shares[k].first : shares[k].count;
      cr_assert_eq(ds.n, n, "share %d: %zu rows", k, ds.n);
      cr_assert_eq(ds.d, 2);
      cr_assert_eq(ds.classes, 3);
      for (size_t i = 0; i < n * 2; i++)
        cr_assert_eq(ds.x[i], xf[shares[k].first * 2 + i], "share %d x[%zu]", k, i);
      for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(ds.names[ds.y[i]], all.names[all.y[shares[k].first + i]]);
      clt_dataset_free(&ds);
    }
  clt_dataset ds = sentinel();
  EXPECT_FAIL(clt_data_load_npy_rows(xp, yp, (clt_data_rows){3, 2}, &ds), CLT_ERR_INVALID_ARG,
              xp, "rows [3, +2) of its 4");
  check_sentinel(&ds);
  clt_dataset_free(&all);
}

/* A rank's rows of an IDX pair: its pixels, its labels, and every label of
   the file named, so that shares whose rows lack a label still unify to
   the whole file's classes. */
Test(data, idx_rows) {
  const char *ip = write_images("imgr.gz", 0x803, 3, 2, 2, PIX, 12, 1);
  const char *lp = write_labels("labr.gz", 0x801, 3, LAB, 3, 1);
  clt_dataset ds = {0}, rest = {0}, whole = {0};
  cr_assert_eq(clt_data_load_idx_rows(ip, lp, (clt_data_rows){1, 1}, &ds), CLT_OK, "%s", g_err);
  cr_assert_eq(ds.n, 1);
  cr_assert_eq(ds.d, 4);
  cr_assert_eq(ds.classes, 3); /* 2, 0 and 7 */
  for (int i = 0; i < 4; i++) cr_assert_eq(ds.x[i], (float)PIX[4 + i]);
  cr_assert_str_eq(ds.names[ds.y[0]], "0");
  cr_assert_eq(clt_data_load_idx_rows(ip, lp, (clt_data_rows){2, 1}, &rest), CLT_OK);
  cr_assert_eq(clt_data_load_idx(ip, lp, &whole), CLT_OK);
  clt_labels a = {0}, b = {0}, w = {0};
  cr_assert_eq(clt_data_unify_labels((clt_dataset *[]){&ds}, 1, &a), CLT_OK);
  cr_assert_eq(clt_data_unify_labels((clt_dataset *[]){&rest}, 1, &b), CLT_OK);
  cr_assert_eq(clt_data_unify_labels((clt_dataset *[]){&whole}, 1, &w), CLT_OK);
  cr_assert_eq(a.n, w.n);
  cr_assert_eq(b.n, w.n);
  for (size_t k = 0; k < w.n; k++) {
    cr_assert_str_eq(a.name[k], w.name[k]);
    cr_assert_str_eq(b.name[k], w.name[k]);
  }
  cr_assert_eq(ds.y[0], whole.y[1], "the share's row maps as the whole file's");
  cr_assert_eq(rest.y[0], whole.y[2]);
  clt_labels_free(&a), clt_labels_free(&b), clt_labels_free(&w);
  clt_dataset_free(&rest), clt_dataset_free(&whole);
  clt_dataset_free(&ds);
  ds = sentinel();
  EXPECT_FAIL(clt_data_load_idx_rows(ip, lp, (clt_data_rows){4, SIZE_MAX}, &ds),
              CLT_ERR_INVALID_ARG, ip, "rows [4,");
  check_sentinel(&ds);
}

/* A rank's rows of delimited text, as its lines were counted: the share's
   rows as the whole file has them, every row's label named (so the shares
   unify alike), a share past the rows refused; the cells of the rows
   outside the share are not parsed. Plain and gzip. */
Test(data, csv_rows_counted_and_kept) {
  const char *text = "\xEF\xBB\xBF"
                     "a, kind ,b\r\n"
                     "1,ant,2\r\n"
                     "  \r\n"
                     "3,bee,4\r\n"
                     "\n"
                     "5,ant,6\r\n"
                     "7,cat,8\r\n"
                     "9,dog,10";
  const clt_text_options named = {.label = CLT_LABEL_NAMED, .label_name = "kind"};
  for (int gz = 0; gz < 2; gz++) {
    const char *p = write_bytes(gz ? "r.csv.gz" : "r.csv", text, strlen(text), gz);
    clt_dataset all = {0};
    cr_assert_eq(clt_data_load_csv(p, &named, &all), CLT_OK, "%s", g_err);
    size_t n = 0;
    cr_assert_eq(clt_data_count_rows(p, CLT_FORMAT_TEXT, &named, &n), CLT_OK, "%s", g_err);
    cr_assert_eq(n, 5);
    cr_assert_eq(all.n, 5);
    const clt_data_rows shares[4] = {{1, 2}, {0, 1}, {3, SIZE_MAX}, {5, 0}};
    for (int k = 0; k < 4; k++) {
      clt_dataset ds = {0};
      cr_assert_eq(clt_data_load_csv_rows(p, &named, shares[k], &ds), CLT_OK, "%s", g_err);
      const size_t want = shares[k].count == SIZE_MAX ? 5 - shares[k].first : shares[k].count;
      cr_assert_eq(ds.n, want, "share %d: %zu rows", k, ds.n);
      cr_assert(ds.d == 2 && ds.classes == all.classes && ds.header_line == 1);
      cr_assert(ds.x && ds.y, "share %d: arrays even for no rows", k);
      for (size_t c = 0; c < ds.classes; c++) cr_assert_str_eq(ds.names[c], all.names[c]);
      for (size_t i = 0; i < want * 2; i++)
        cr_assert_eq(ds.x[i], all.x[shares[k].first * 2 + i], "share %d x[%zu]", k, i);
      for (size_t i = 0; i < want; i++) cr_assert_eq(ds.y[i], all.y[shares[k].first + i]);
      clt_dataset_free(&ds);
    }
    clt_dataset ds = sentinel();
    EXPECT_FAIL(clt_data_load_csv_rows(p, &named, (clt_data_rows){4, 2}, &ds),
                CLT_ERR_INVALID_ARG, p, "rows [4, +2) of its 5");
    check_sentinel(&ds);
    clt_dataset_free(&all);
  }
  /* no header: every non-blank line; without labels too */
  const char *plain = write_text("nh.csv", "\n1,2,3\n  \n4,5,6\n7,8,9\n");
  const clt_text_options none = {.label = CLT_LABEL_NONE};
  size_t n = 0;
  cr_assert_eq(clt_data_count_rows(plain, CLT_FORMAT_TEXT, NULL, &n), CLT_OK);
  cr_assert_eq(n, 3);
  cr_assert_eq(clt_data_count_rows(plain, CLT_FORMAT_TEXT, &none, &n), CLT_OK);
  cr_assert_eq(n, 3);
  clt_dataset ds = {0};
  cr_assert_eq(clt_data_load_csv_rows(plain, &none, (clt_data_rows){2, 1}, &ds), CLT_OK);
  cr_assert(ds.n == 1 && ds.d == 3 && !ds.y && ds.x[0] == 7 && ds.x[2] == 9);
  clt_dataset_free(&ds);
  /* a bad cell is the error of the share that keeps its row; a ragged row
     or a bad label is every share's */
  const char *bad = write_text("bad.csv", "y,a\n0,1\n1,2\n0,x\n");
  cr_assert_eq(clt_data_load_csv_rows(bad, NULL, (clt_data_rows){0, 2}, &ds), CLT_OK);
  cr_assert(ds.n == 2 && ds.classes == 2 && ds.x[1] == 2);
  clt_dataset_free(&ds);
  ds = sentinel();
  EXPECT_ERR(clt_data_load_csv_rows(bad, NULL, (clt_data_rows){2, 1}, &ds), bad,
             "line 4, column 2");
  const char *ragged = write_text("ragged.csv", "0,1\n1,2\n0,3,4\n");
  EXPECT_ERR(clt_data_load_csv_rows(ragged, NULL, (clt_data_rows){0, 1}, &ds), ragged,
             "line 3 has 3 columns");
  const char *label = write_text("label.csv", "0,1\n1,2\n0.5,3\n");
  EXPECT_ERR(clt_data_load_csv_rows(label, NULL, (clt_data_rows){0, 1}, &ds), label,
             "line 3: label '0.5' is a number that is not an integer");
  check_sentinel(&ds);
}

/* A rank's rows of an svmlight file: comments, blank and comment-only
   lines are not rows; the width, the index base (a 0 index only in a row
   outside the share) and the labels are every row's; the share's offsets
   start at 0; the values of rows outside the share are not parsed. Plain
   and gzip. */
Test(data, svmlight_rows_counted_and_kept) {
  const char *text = "# made by hand\n"
                     "1 qid:3 1:0.5 4:2 # a row\n"
                     "\n"
                     "-1 2:4\n"
                     "   # nothing here\n"
                     "spam\n"
                     "1 0:7 3:1\n"
                     "-1 5:1.5";
  for (int gz = 0; gz < 2; gz++) {
    const char *p = write_bytes(gz ? "r.svm.gz" : "r.svm", text, strlen(text), gz);
    clt_dataset all = {0};
    cr_assert_eq(clt_data_load_svmlight(p, NULL, &all), CLT_OK, "%s", g_err);
    size_t n = 0;
    cr_assert_eq(clt_data_count_rows(p, CLT_FORMAT_SVMLIGHT, NULL, &n), CLT_OK, "%s", g_err);
    cr_assert_eq(n, 5);
    cr_assert(all.n == 5 && all.d == 6 && all.svmlight_base == '0');
    const clt_data_rows shares[4] = {{1, 2}, {0, 1}, {3, SIZE_MAX}, {5, 0}};
    for (int k = 0; k < 4; k++) {
      clt_dataset ds = {0};
      cr_assert_eq(clt_data_load_svmlight_rows(p, NULL, shares[k], &ds), CLT_OK, "%s", g_err);
      const size_t first = shares[k].first,
                   want = shares[k].count == SIZE_MAX ? 5 - first : shares[k].count;
      cr_assert_eq(ds.n, want, "share %d: %zu rows", k, ds.n);
      cr_assert(ds.d == all.d && ds.svmlight_base == '0' && ds.classes == all.classes);
      cr_assert(ds.ptr && ds.y, "share %d: arrays even for no rows", k);
      for (size_t c = 0; c < ds.classes; c++) cr_assert_str_eq(ds.names[c], all.names[c]);
      const int64_t from = all.ptr[first];
      for (size_t i = 0; i <= want; i++) cr_assert_eq(ds.ptr[i], all.ptr[first + i] - from);
      for (int64_t e = 0; e < ds.ptr[want]; e++)
        cr_assert(ds.col[e] == all.col[from + e] && ds.val[e] == all.val[from + e]);
      for (size_t i = 0; i < want; i++) cr_assert_eq(ds.y[i], all.y[first + i]);
      clt_dataset_free(&ds);
    }
    clt_dataset ds = sentinel();
    EXPECT_FAIL(clt_data_load_svmlight_rows(p, NULL, (clt_data_rows){6, SIZE_MAX}, &ds),
                CLT_ERR_INVALID_ARG, p, "of its 5");
    check_sentinel(&ds);
    clt_dataset_free(&all);
  }
  /* indices are every share's to check, a value the share's that keeps it */
  const char *bad = write_text("bad.svm", "1 1:2\n0 3:1 2:1\n");
  clt_dataset ds = sentinel();
  EXPECT_ERR(clt_data_load_svmlight_rows(bad, NULL, (clt_data_rows){0, 1}, &ds), bad,
             "line 2, column 7");
  const char *value = write_text("value.svm", "1 1:2\n0 3:x\n");
  EXPECT_ERR(clt_data_load_svmlight_rows(value, NULL, (clt_data_rows){1, 1}, &ds), value,
             "line 2, column 3");
  check_sentinel(&ds);
  cr_assert_eq(clt_data_load_svmlight_rows(value, NULL, (clt_data_rows){0, 1}, &ds), CLT_OK);
  cr_assert(ds.n == 1 && ds.d == 3 && ds.ptr[1] == 1 && ds.val[0] == 2);
  clt_dataset_free(&ds);
  size_t n = 0;
  EXPECT_FAIL(clt_data_count_rows(bad, CLT_FORMAT_NPY, NULL, &n), CLT_ERR_INVALID_ARG, bad,
              "text formats only");
}

Test(data, npy_refusals) {
  clt_dataset ds = sentinel();
  const float xf[6] = {1, 2, 3, 4, 5, 6};
  const char *x1 = write_npy("x1.npy", "<f4", "(6,)", false, xf, sizeof xf);
  EXPECT_ERR(clt_data_load_npy(x1, NULL, &ds), x1, "reshape to (N, 1)");
  const char *xs = write_npy("xs.npy", "<U3", "(2, 1)", false, xf, 24);
  EXPECT_ERR(clt_data_load_npy(xs, NULL, &ds), xs, "float32, float64 or integers");
  const char *xt = write_npy("xt.npy", "<f4", "(3, 2)", false, xf, 20);
  EXPECT_ERR(clt_data_load_npy(xt, NULL, &ds), xt, "truncated");
  /* a header that promises 3.5 GB over 24 bytes of data allocates nothing */
  const char *big = write_npy("big.npy", "<f8", "(1, 888188888)", false, xf, sizeof xf);
  EXPECT_ERR(clt_data_load_npy(big, NULL, &ds), big,
             "truncated: its header declares 888188888 values of 8 bytes, the file holds 24");
  const float xn[2] = {1, NAN};
  const char *xx = write_npy("xn.npy", "<f4", "(1, 2)", false, xn, sizeof xn);
  EXPECT_ERR(clt_data_load_npy(xx, NULL, &ds), xx, "row 1, column 2");
  const char *x = write_npy("x.npy", "<f4", "(3, 2)", false, xf, sizeof xf);
  const int32_t y2[2] = {0, 1};
  const char *yp = write_npy("y2.npy", "<i4", "(2,)", false, y2, sizeof y2);
  EXPECT_ERR(clt_data_load_npy(x, yp, &ds), yp, "2 labels");
  const double yf[3] = {0, 0.5, 1};
  yp = write_npy("yf.npy", "<f8", "(3,)", false, yf, sizeof yf);
  EXPECT_ERR(clt_data_load_npy(x, yp, &ds), yp, "row 2: label 0.5 is not an integer");
  const char *txt = write_text("not.npy", "1,2\n");
  EXPECT_ERR(clt_data_load_npy(txt, NULL, &ds), txt, "not a .npy file");
  check_sentinel(&ds);
}

/* ------------------------------------------------------------------ */
/* recognition                                                         */

Test(data, sniff_by_content_then_name) {
  clt_data_format f;
  cr_assert_eq(clt_data_sniff(g_dir, &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_IDX_DIR);
  const float xf[2] = {1, 2};
  cr_assert_eq(clt_data_sniff(write_npy("s.npy", "<f4", "(1, 2)", false, xf, 8), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_NPY);
  cr_assert_eq(clt_data_sniff(write_labels("lab", 0x801, 3, LAB, 3, 1), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_IDX_FILE, "gzip IDX too");
  cr_assert_eq(clt_data_sniff(write_text("a.svm", "1,2\n"), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_SVMLIGHT, "by name");
  cr_assert_eq(clt_data_sniff(write_text("a.csv", "1 2:3\n"), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_TEXT, "by name");
  cr_assert_eq(clt_data_sniff(write_text("a.txt", "# c\n\n1 2:3 4:5\n"), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_SVMLIGHT, "by content");
  cr_assert_eq(clt_data_sniff(write_text("b.txt", "-1 qid:2 1:1\n"), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_SVMLIGHT, "by content, qid");
  cr_assert_eq(clt_data_sniff(write_text("c.data", "1,2,3\n"), &f), CLT_OK);
  cr_assert_eq(f, CLT_FORMAT_TEXT);
  EXPECT_FAIL(clt_data_sniff(tpath("none"), &f), CLT_ERR_IO, "none", "No such file");
  const char *bad = write_bytes("bad.gz", "\x1f\x8b\x00\x92 ", 5, 0);
  EXPECT_ERR(clt_data_sniff(bad, &f), bad, "corrupt gzip data");
}
