/* cltrain export: a saved model's tensors and preprocessing as .npz (numpy)
   or .safetensors, under the names docs/CHECKPOINT.md gives, readable
   without cltrain. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "fileio.h"

#include <zlib.h>

/* One exported array: float32 or float64, 0 to 2 dimensions. */
typedef struct array {
  const char *name;
  int f64; /* 1: float64, 0: float32 */
  size_t ndim, shape[2];
  const void *data;
} array;

static size_t numel(const array *a) {
  size_t n = 1;
  for (size_t k = 0; k < a->ndim; k++) n *= a->shape[k];
  return n;
}

static size_t elem_bytes(const array *a) { return a->f64 ? 8 : 4; }

/* a's shape as numpy prints it: "()", "(784,)", "(784, 10)". */
static const char *shape_str(const array *a, char *buf, size_t len) {
  if (a->ndim == 0) snprintf(buf, len, "()");
  else if (a->ndim == 1) snprintf(buf, len, "(%zu,)", a->shape[0]);
  else snprintf(buf, len, "(%zu, %zu)", a->shape[0], a->shape[1]);
  return buf;
}

/* a's values into b, little-endian as both formats want. */
static void put_values(clt_wbuf *b, const array *a) {
  size_t n = numel(a);
  if (a->f64)
    for (size_t i = 0; i < n; i++) clt_wbuf_f64(b, ((const double *)a->data)[i]);
  else
    clt_wbuf_f32s(b, a->data, n);
}

/* ---------------------------------------------------------------- npz */

/* A .npy file (format 1.0) of a into b. */
static void put_npy(clt_wbuf *b, const array *a) {
  char shape[64], header[256];
  int len = snprintf(header, sizeof header,
                     "{'descr': '<f%d', 'fortran_order': False, 'shape': %s, }",
                     a->f64 ? 8 : 4, shape_str(a, shape, sizeof shape));
  /* magic 6 + version 2 + length 2 + header, padded with spaces to a
     multiple of 64 and ended by a newline */
  size_t total = (10 + (size_t)len + 1 + 63) / 64 * 64, hlen = total - 10;
  clt_wbuf_bytes(b, "\x93NUMPY\x01\x00", 8);
  unsigned char le[2] = {(unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
  clt_wbuf_bytes(b, le, 2);
  clt_wbuf_bytes(b, header, (size_t)len);
  for (size_t k = (size_t)len; k + 1 < hlen; k++) clt_wbuf_bytes(b, " ", 1);
  clt_wbuf_bytes(b, "\n", 1);
  put_values(b, a);
}

static void put_u16(clt_wbuf *b, unsigned v) {
  unsigned char le[2] = {(unsigned char)(v & 0xff), (unsigned char)(v >> 8)};
  clt_wbuf_bytes(b, le, 2);
}

/* An uncompressed zip of NAME.npy members (what numpy.savez writes). */
static int put_npz(clt_wbuf *out, const array *a, size_t n) {
  struct {
    uint32_t crc, size, offset;
    char name[64];
  } ent[8];
  for (size_t i = 0; i < n; i++) {
    clt_wbuf npy = {0};
    put_npy(&npy, &a[i]);
    if (npy.failed || npy.len > 0xffffffffu || out->len > 0xffffffffu) {
      clt_wbuf_free(&npy);
      return -1;
    }
    snprintf(ent[i].name, sizeof ent[i].name, "%s.npy", a[i].name);
    ent[i].crc = (uint32_t)crc32_z(0L, npy.data, npy.len);
    ent[i].size = (uint32_t)npy.len;
    ent[i].offset = (uint32_t)out->len;
    size_t nl = strlen(ent[i].name);
    clt_wbuf_u32(out, 0x04034b50);         /* local file header */
    put_u16(out, 20), put_u16(out, 0);     /* version needed, flags */
    put_u16(out, 0), put_u16(out, 0);      /* stored, time */
    put_u16(out, 0x21);                    /* date: 1980-01-01 */
    clt_wbuf_u32(out, ent[i].crc);
    clt_wbuf_u32(out, ent[i].size), clt_wbuf_u32(out, ent[i].size);
    put_u16(out, (unsigned)nl), put_u16(out, 0);
    clt_wbuf_bytes(out, ent[i].name, nl);
    clt_wbuf_bytes(out, npy.data, npy.len);
    clt_wbuf_free(&npy);
  }
  size_t cd = out->len;
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(ent[i].name);
    clt_wbuf_u32(out, 0x02014b50);         /* central directory header */
    put_u16(out, 20), put_u16(out, 20);    /* made by, needed */
    put_u16(out, 0), put_u16(out, 0);      /* flags, stored */
    put_u16(out, 0), put_u16(out, 0x21);   /* time, date */
    clt_wbuf_u32(out, ent[i].crc);
    clt_wbuf_u32(out, ent[i].size), clt_wbuf_u32(out, ent[i].size);
    put_u16(out, (unsigned)nl), put_u16(out, 0), put_u16(out, 0); /* name, extra, comment */
    put_u16(out, 0), put_u16(out, 0), clt_wbuf_u32(out, 0);        /* disk, attributes */
    clt_wbuf_u32(out, ent[i].offset);
    clt_wbuf_bytes(out, ent[i].name, nl);
  }
  size_t cd_size = out->len - cd;
  if (out->len > 0xffffffffu) return -1;
  clt_wbuf_u32(out, 0x06054b50);           /* end of central directory */
  put_u16(out, 0), put_u16(out, 0);        /* this disk, the directory's */
  put_u16(out, (unsigned)n), put_u16(out, (unsigned)n);
  clt_wbuf_u32(out, (uint32_t)cd_size), clt_wbuf_u32(out, (uint32_t)cd);
  put_u16(out, 0);                         /* comment */
  return 0;
}

/* -------------------------------------------------------- safetensors */

/* An 8-byte header length, a JSON header naming each tensor's dtype,
   shape and byte range (and the metadata strings), then the data. */
static void put_safetensors(clt_wbuf *out, const array *a, size_t n,
                            const char *const *meta, size_t nmeta) {
  clt_wbuf h = {0};
  char buf[256];
  size_t off = 0;
  clt_wbuf_bytes(&h, "{\"__metadata__\":{", 17);
  for (size_t m = 0; m + 1 < nmeta; m += 2) {
    int len = snprintf(buf, sizeof buf, "%s\"%s\":\"%s\"", m ? "," : "", meta[m], meta[m + 1]);
    clt_wbuf_bytes(&h, buf, (size_t)len);
  }
  clt_wbuf_bytes(&h, "}", 1);
  for (size_t i = 0; i < n; i++) {
    size_t bytes = numel(&a[i]) * elem_bytes(&a[i]);
    int len = snprintf(buf, sizeof buf, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", a[i].name,
                       a[i].f64 ? "F64" : "F32");
    clt_wbuf_bytes(&h, buf, (size_t)len);
    for (size_t k = 0; k < a[i].ndim; k++) {
      len = snprintf(buf, sizeof buf, "%s%zu", k ? "," : "", a[i].shape[k]);
      clt_wbuf_bytes(&h, buf, (size_t)len);
    }
    len = snprintf(buf, sizeof buf, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
    clt_wbuf_bytes(&h, buf, (size_t)len);
    off += bytes;
  }
  clt_wbuf_bytes(&h, "}", 1);
  while (h.len % 8) clt_wbuf_bytes(&h, " ", 1); /* the data 8-byte aligned */
  clt_wbuf_u64(out, h.len);
  clt_wbuf_bytes(out, h.data, h.len);
  out->failed |= h.failed;
  clt_wbuf_free(&h);
  for (size_t i = 0; i < n; i++) put_values(out, &a[i]);
}

/* ------------------------------------------------------------ command */

static void export_usage(FILE *f) {
  fprintf(f,
          "usage: cltrain export --model FILE --format npz|safetensors [--out FILE]\n"
          "Writes a model saved by 'cltrain train --checkpoint FILE' as arrays any\n"
          "numpy program reads (numpy.load; safetensors.numpy.load_file), by default\n"
          "to the model's path with .npz or .safetensors appended:\n"
          "  W (D, C) float32 and, unless trained with --no-bias, b (1, C) float32;\n"
          "  preprocess_scale () float64, preprocess_mean (D,) float64 and\n"
          "  preprocess_std (D,) float64, so that for a row x of raw features\n"
          "  scores = ((x * preprocess_scale - preprocess_mean) / preprocess_std) @ W + b\n"
          "  and the predicted class is their argmax. safetensors files also carry\n"
          "  the model kind, loss, optimizer and preprocessing as metadata.\n");
}

static const char *const prep_names[] = {"none", "center", "standardize"};

int clt_cmd_export(int argc, char **argv) {
  const char *model = NULL, *format = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      export_usage(stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "cltrain export: %s needs a value (or is unknown; see --help)\n",
              argv[i]);
      return 2;
    }
    const char *f = argv[i], *v = argv[++i];
    if (strcmp(f, "--model") == 0) model = v;
    else if (strcmp(f, "--format") == 0) format = v;
    else if (strcmp(f, "--out") == 0) out = v;
    else {
      fprintf(stderr, "cltrain export: unknown option '%s' (see --help)\n", f);
      return 2;
    }
  }
  if (!model) {
    fprintf(stderr, "cltrain export: --model FILE is required\n");
    return 2;
  }
  int npz = format && strcmp(format, "npz") == 0;
  if (!format || (!npz && strcmp(format, "safetensors") != 0)) {
    fprintf(stderr, "cltrain export: --format %s: expected npz or safetensors\n",
            format ? format : "(missing)");
    return 2;
  }
  clt_checkpoint ck;
  clt_status st = clt_checkpoint_load(NULL, model, &ck);
  if (st != CLT_OK) return clt_cli_failed("export", "--model ", st);

  /* The preprocessing as the three arrays of the formula above: the std
     as clt_data_normalize divides by it, none is mean 0, std 1. */
  double *mean = calloc(ck.d, sizeof *mean), *std = malloc(ck.d * sizeof *std);
  double scale = ck.prep.scale;
  int rc = 1;
  clt_wbuf b = {0};
  char *path = NULL;
  if (!mean || !std) {
    fprintf(stderr, "cltrain export: out of memory\n");
    goto done;
  }
  for (size_t j = 0; j < ck.d; j++) {
    bool have = ck.prep.mode != CLT_PREPROCESS_NONE;
    mean[j] = have ? ck.prep.mean[j] : 0.0;
    std[j] = have ? clt_data_std_divisor(ck.prep.std[j]) : 1.0;
  }
  array a[CLT_MODEL_MAX_PARAMS + 3];
  size_t n = 0;
  for (size_t i = 0; i < ck.ntensors; i++)
    a[n++] = (array){ck.tensor[i].name, 0, 2, {ck.tensor[i].rows, ck.tensor[i].cols},
                     ck.tensor[i].data};
  a[n++] = (array){"preprocess_scale", 1, 0, {0, 0}, &scale};
  a[n++] = (array){"preprocess_mean", 1, 1, {ck.d, 0}, mean};
  a[n++] = (array){"preprocess_std", 1, 1, {ck.d, 0}, std};
  if (npz) {
    if (put_npz(&b, a, n) != 0) {
      fprintf(stderr, "cltrain export: %s is too large for a zip without zip64\n", model);
      rc = 2;
      goto done;
    }
  } else {
    char d[32], c[32], epochs[32];
    snprintf(d, sizeof d, "%zu", ck.d);
    snprintf(c, sizeof c, "%zu", ck.c);
    snprintf(epochs, sizeof epochs, "%llu", (unsigned long long)ck.epochs);
    const char *meta[] = {"format", "cltrain", "model", ck.kind->name,
                          "loss", clt_loss_kind_name(ck.loss),
                          "optimizer", clt_optim_kind_name(ck.optim),
                          "preprocess", prep_names[ck.prep.mode],
                          "features", d, "classes", c, "epochs", epochs};
    put_safetensors(&b, a, n, meta, sizeof meta / sizeof meta[0]);
  }
  const char *ext = npz ? ".npz" : ".safetensors";
  if (!out) {
    path = malloc(strlen(model) + strlen(ext) + 1);
    if (path) sprintf(path, "%s%s", model, ext);
    out = path;
  }
  if (!out || b.failed) {
    fprintf(stderr, "cltrain export: out of memory\n");
    goto done;
  }
  st = clt_wbuf_write(NULL, &b, out);
  if (st != CLT_OK) {
    rc = clt_cli_failed("export", "--out ", st);
    goto done;
  }
  printf("wrote %s:", out);
  for (size_t i = 0; i < n; i++) {
    char shape[64];
    printf("%s %s %s %s", i ? "," : "", a[i].name, shape_str(&a[i], shape, sizeof shape),
           a[i].f64 ? "float64" : "float32");
  }
  printf("\n");
  rc = 0;
done:
  clt_wbuf_free(&b);
  free(path);
  free(mean);
  free(std);
  clt_checkpoint_free(&ck);
  return rc;
}
