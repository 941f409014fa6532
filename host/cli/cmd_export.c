/* cltrain export: a saved model's tensors and preprocessing as .npz (numpy)
   or .safetensors, under the names docs/CHECKPOINT.md gives, readable
   without cltrain. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "data.h"
#include "fileio.h"

#include <zlib.h>

/* One exported array, 0 to 2 dimensions: float32, float64, int64, or
   text (numpy's '<U': UTF-32 code points, width of them per element, from
   NUL-terminated UTF-8 strings). */
typedef enum atype { A_F32, A_F64, A_I64, A_TEXT } atype;
typedef struct array {
  const char *name;
  atype type;
  size_t ndim, shape[2];
  const void *data; /* A_TEXT: const char *const * */
  size_t width;     /* A_TEXT: code points per element */
} array;

static size_t numel(const array *a) {
  size_t n = 1;
  for (size_t k = 0; k < a->ndim; k++) n *= a->shape[k];
  return n;
}

static size_t elem_bytes(const array *a) {
  return a->type == A_F32 ? 4 : a->type == A_TEXT ? 4 * a->width : 8;
}

static const char *type_name(const array *a) {
  static const char *const names[] = {"float32", "float64", "int64", "str"};
  return names[a->type];
}

/* a's shape as numpy prints it: "()", "(784,)", "(784, 10)". */
static const char *shape_str(const array *a, char *buf, size_t len) {
  if (a->ndim == 0) snprintf(buf, len, "()");
  else if (a->ndim == 1) snprintf(buf, len, "(%zu,)", a->shape[0]);
  else snprintf(buf, len, "(%zu, %zu)", a->shape[0], a->shape[1]);
  return buf;
}

/* The next code point of the UTF-8 text at *s (advanced past it); an
   invalid sequence gives U+FFFD and one byte. */
static uint32_t next_code_point(const unsigned char **s) {
  const unsigned char *p = *s;
  int n = p[0] < 0x80 ? 0 : (p[0] >> 5) == 6 ? 1 : (p[0] >> 4) == 14 ? 2 : (p[0] >> 3) == 30 ? 3 : -1;
  uint32_t c = n == 0 ? p[0] : n == 1 ? p[0] & 0x1fu : n == 2 ? p[0] & 0x0fu : p[0] & 0x07u;
  for (int k = 1; n > 0 && k <= n; k++) {
    if ((p[k] & 0xc0) != 0x80) n = -1;
    else c = c << 6 | (p[k] & 0x3fu);
  }
  if (n < 0) {
    *s = p + 1;
    return 0xfffd;
  }
  *s = p + n + 1;
  return c;
}

/* Code points in the UTF-8 text s. */
static size_t code_points(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; n++) next_code_point(&p);
  return n;
}

/* a's values into b, little-endian as both formats want. */
static void put_values(clt_wbuf *b, const array *a) {
  size_t n = numel(a);
  if (a->type == A_F32) {
    clt_wbuf_f32s(b, a->data, n);
  } else if (a->type == A_F64) {
    for (size_t i = 0; i < n; i++) clt_wbuf_f64(b, ((const double *)a->data)[i]);
  } else if (a->type == A_I64) {
    for (size_t i = 0; i < n; i++) clt_wbuf_u64(b, (uint64_t)((const int64_t *)a->data)[i]);
  } else {
    for (size_t i = 0; i < n; i++) {
      const unsigned char *p = ((const unsigned char *const *)a->data)[i];
      size_t k = 0;
      for (; *p; k++) clt_wbuf_u32(b, next_code_point(&p));
      for (; k < a->width; k++) clt_wbuf_u32(b, 0);
    }
  }
}

/* ---------------------------------------------------------------- npz */

/* A .npy file (format 1.0) of a into b. */
static void put_npy(clt_wbuf *b, const array *a) {
  char shape[64], header[256], descr[32];
  if (a->type == A_TEXT) snprintf(descr, sizeof descr, "<U%zu", a->width);
  else snprintf(descr, sizeof descr, "<%c%d", a->type == A_I64 ? 'i' : 'f', a->type == A_F32 ? 4 : 8);
  int len = snprintf(header, sizeof header,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
                     shape_str(a, shape, sizeof shape));
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
/* s (UTF-8) as a JSON string literal of ASCII into b: every other
   character as \uXXXX (a pair of them beyond U+FFFF), an invalid byte as
   U+FFFD. */
static void put_json_string(clt_wbuf *b, const char *s) {
  clt_wbuf_bytes(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    char esc[16];
    uint32_t c = next_code_point(&p);
    if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", (char)c);
    else if (c >= 0x20 && c < 0x7f) snprintf(esc, sizeof esc, "%c", (char)c);
    else if (c < 0x10000) snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
    else
      snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xd800 + ((c - 0x10000) >> 10)),
               (unsigned)(0xdc00 + ((c - 0x10000) & 0x3ff)));
    clt_wbuf_bytes(b, esc, strlen(esc));
  }
  clt_wbuf_bytes(b, "\"", 1);
}

/* A text array is not a safetensors dtype: it is left to the metadata. */
static void put_safetensors(clt_wbuf *out, const array *a, size_t n,
                            const char *const *meta, size_t nmeta) {
  clt_wbuf h = {0};
  char buf[256];
  size_t off = 0;
  clt_wbuf_bytes(&h, "{\"__metadata__\":{", 17);
  for (size_t m = 0; m + 1 < nmeta; m += 2) {
    int len = snprintf(buf, sizeof buf, "%s\"%s\":", m ? "," : "", meta[m]);
    clt_wbuf_bytes(&h, buf, (size_t)len);
    put_json_string(&h, meta[m + 1]);
  }
  clt_wbuf_bytes(&h, "}", 1);
  for (size_t i = 0; i < n; i++) {
    if (a[i].type == A_TEXT) continue;
    size_t bytes = numel(&a[i]) * elem_bytes(&a[i]);
    int len = snprintf(buf, sizeof buf, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", a[i].name,
                       a[i].type == A_F32 ? "F32" : a[i].type == A_F64 ? "F64" : "I64");
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
  for (size_t i = 0; i < n; i++)
    if (a[i].type != A_TEXT) put_values(out, &a[i]);
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
          "  and the predicted class is classes[argmax]: classes (C,) holds the\n"
          "  labels the training data had, int64 when they are integers, else numpy\n"
          "  strings (npz only: safetensors has no strings). safetensors files also\n"
          "  carry the model kind, loss, optimizer, preprocessing and the labels\n"
          "  (class_labels, a JSON array of strings) as metadata.\n");
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
  int64_t *ids = malloc(ck.c * sizeof *ids);
  double scale = ck.prep.scale;
  int rc = 1;
  clt_wbuf b = {0};
  char *path = NULL;
  if (!mean || !std || !ids) {
    fprintf(stderr, "cltrain export: out of memory\n");
    goto done;
  }
  for (size_t j = 0; j < ck.d; j++) {
    bool have = ck.prep.mode != CLT_PREPROCESS_NONE;
    mean[j] = have ? ck.prep.mean[j] : 0.0;
    std[j] = have ? clt_data_std_divisor(ck.prep.std[j]) : 1.0;
  }
  array a[CLT_MODEL_MAX_PARAMS + 4];
  size_t n = 0;
  for (size_t i = 0; i < ck.ntensors; i++)
    a[n++] = (array){.name = ck.tensor[i].name, .type = A_F32, .ndim = 2,
                     .shape = {ck.tensor[i].rows, ck.tensor[i].cols}, .data = ck.tensor[i].data};
  a[n++] = (array){.name = "preprocess_scale", .type = A_F64, .data = &scale};
  a[n++] = (array){.name = "preprocess_mean", .type = A_F64, .ndim = 1, .shape = {ck.d}, .data = mean};
  a[n++] = (array){.name = "preprocess_std", .type = A_F64, .ndim = 1, .shape = {ck.d}, .data = std};
  /* The classes' labels: integers as int64, texts as numpy strings (in
     safetensors, which has no strings, in the metadata only). */
  bool numeric = clt_labels_numeric(&ck.labels);
  size_t width = 1;
  for (size_t k = 0; k < ck.c; k++) {
    if (numeric) ids[k] = strtoll(ck.labels.name[k], NULL, 10);
    else if (code_points(ck.labels.name[k]) > width) width = code_points(ck.labels.name[k]);
  }
  a[n++] = (array){.name = "classes", .type = numeric ? A_I64 : A_TEXT, .ndim = 1,
                   .shape = {ck.c}, .data = numeric ? (const void *)ids : (const void *)ck.labels.name,
                   .width = width};
  if (npz) {
    if (put_npz(&b, a, n) != 0) {
      fprintf(stderr, "cltrain export: %s is too large for a zip without zip64\n", model);
      rc = 2;
      goto done;
    }
  } else {
    /* the labels as a JSON array of strings, itself a metadata string */
    clt_wbuf labels_json = {0};
    for (size_t k = 0; k < ck.c; k++) {
      clt_wbuf_bytes(&labels_json, k ? "," : "[", 1);
      put_json_string(&labels_json, ck.labels.name[k]);
    }
    clt_wbuf_bytes(&labels_json, "]", 2); /* with its NUL */
    char d[32], c[32], epochs[32];
    snprintf(d, sizeof d, "%zu", ck.d);
    snprintf(c, sizeof c, "%zu", ck.c);
    snprintf(epochs, sizeof epochs, "%llu", (unsigned long long)ck.epochs);
    const char *meta[] = {"format", "cltrain", "model", ck.kind->name,
                          "loss", clt_loss_kind_name(ck.loss),
                          "optimizer", clt_optim_kind_name(ck.optim),
                          "preprocess", prep_names[ck.prep.mode],
                          "features", d, "classes", c, "epochs", epochs,
                          "class_labels", labels_json.data ? (const char *)labels_json.data : "[]"};
    put_safetensors(&b, a, n, meta, sizeof meta / sizeof meta[0]);
    b.failed |= labels_json.failed;
    clt_wbuf_free(&labels_json);
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
    if (!npz && a[i].type == A_TEXT) continue;
    printf("%s %s %s %s", i ? "," : "", a[i].name, shape_str(&a[i], shape, sizeof shape),
           type_name(&a[i]));
  }
  printf("\n");
  rc = 0;
done:
  clt_wbuf_free(&b);
  free(path);
  free(mean);
  free(std);
  free(ids);
  clt_checkpoint_free(&ck);
  return rc;
}
