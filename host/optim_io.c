/* Optimizer checkpoints.

   Format, version 1. Every integer is little-endian, written byte by byte;
   a float is its IEEE-754 bit pattern (binary32, binary64 for f64) as a
   little-endian integer; "int" fields are two's complement u32.

     8 bytes   magic "CLTOPTIM"
     u32       format version, 1
     u32       kind (clt_optim_kind)
     u32       F, the number of hyper-parameter fields that follow (20)
     F x u32   the clt_optim_desc fields after kind, in declaration order
               (lr ... max_grad_norm, skip_nonfinite)
     u64       E, the number of entries in registration order: tensors
               registered one at a time and groups
     E times:
       u32     1 for a group, 0 for a single tensor
       u64     T, tensors in the entry; T times: u64 rows, u64 cols,
               u32 options (1 no_weight_decay, 2 no_trust_ratio)
       u64     steps applied, u64 steps skipped by the guard
       f64     NAdam's mu product
       u32     S, state buffers; S times: u32 name length, the name
               (PyTorch's state-dict key, no terminator), then for each
               tensor of the entry its rows*cols binary32 values, row-major
     u32       CRC-32 (zlib's) of every byte before it

   The file is built in memory and written atomically (host/fileio.c). A
   load checks everything (checksum, magic, version, kind, hyper-parameters,
   entries, shapes, options, state names, length) and builds the new state
   before it touches the optimizer, so a failure changes nothing. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "optim_impl.h"

#define MAGIC "CLTOPTIM"
#define VERSION 1u

/* The hyper-parameters after kind, in declaration order. */
#define DESC_FIELDS(F, I)                                                     \
  F(lr) F(weight_decay) F(momentum) F(dampening) I(nesterov) I(maximize)      \
  F(beta1) F(beta2) F(eps) I(amsgrad) F(alpha) I(centered) F(rho)             \
  F(lr_decay) F(initial_accumulator_value) F(momentum_decay)                  \
  I(decoupled_weight_decay) F(trust_coefficient) F(max_grad_norm)             \
  I(skip_nonfinite)
#define COUNT_(f) +1
enum { NFIELDS = 0 DESC_FIELDS(COUNT_, COUNT_) };
#undef COUNT_

static uint32_t f32_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return u;
}

static float bits_f32(uint32_t u) {
  float v;
  memcpy(&v, &u, 4);
  return v;
}

static void put_desc(clt_wbuf *b, const clt_optim_desc *d) {
  clt_wbuf_u32(b, (uint32_t)d->kind);
  clt_wbuf_u32(b, NFIELDS);
#define F(f) clt_wbuf_u32(b, f32_bits(d->f));
#define I(f) clt_wbuf_u32(b, (uint32_t)d->f);
  DESC_FIELDS(F, I)
#undef F
#undef I
}

static void get_desc(clt_rbuf *b, clt_optim_desc *d) {
#define F(f) d->f = bits_f32(clt_rbuf_u32(b));
#define I(f) d->f = (int)clt_rbuf_u32(b);
  DESC_FIELDS(F, I)
#undef F
#undef I
}

/* Appends state slot k of e (only the tensors' elements, not padding). */
static clt_status put_state(clt_optimizer *opt, clt_wbuf *b,
                            const clt_opt_entry *e, int k) {
  const char *name = clt_opt_state_name(&opt->desc, k);
  clt_wbuf_u32(b, (uint32_t)strlen(name));
  clt_wbuf_bytes(b, name, strlen(name));
  for (size_t s = 0; s < e->nseg; s++) {
    const clt_opt_seg *g = &e->segs[s];
    size_t n = g->rows * g->cols;
    float *x = malloc(n * sizeof *x);
    if (!x)
      return clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                      "optimizer_save: out of host memory");
    clt_tensor w = clt_opt_window(e->state[k], g->offset, g->rows, g->cols);
    clt_status st = clt_tensor_read(&w, x, n * sizeof *x);
    if (st == CLT_OK) clt_wbuf_f32s(b, x, n);
    free(x);
    CLT_TRY(st);
  }
  return CLT_OK;
}

clt_status clt_optimizer_serialize(clt_optimizer *opt, clt_wbuf *b) {
  for (size_t k = 0; k < opt->nentries; k++)
    CLT_TRY(clt_opt_settle(opt, opt->entries[k], true));
  clt_wbuf_bytes(b, MAGIC, 8);
  clt_wbuf_u32(b, VERSION);
  put_desc(b, &opt->desc);
  clt_wbuf_u64(b, opt->nentries);
  clt_status st = CLT_OK;
  for (size_t k = 0; k < opt->nentries && st == CLT_OK; k++) {
    const clt_opt_entry *e = opt->entries[k];
    clt_wbuf_u32(b, e->group ? 1 : 0);
    clt_wbuf_u64(b, e->nseg);
    for (size_t s = 0; s < e->nseg; s++) {
      clt_wbuf_u64(b, e->segs[s].rows);
      clt_wbuf_u64(b, e->segs[s].cols);
      clt_wbuf_u32(b, e->segs[s].flags);
    }
    clt_wbuf_u64(b, e->steps);
    clt_wbuf_u64(b, e->skipped);
    clt_wbuf_f64(b, e->mu_product);
    uint32_t nstates = 0;
    for (int s = 0; s < CLT_OPT_MAX_STATES; s++)
      nstates += clt_opt_state_name(&opt->desc, s) != NULL;
    clt_wbuf_u32(b, nstates);
    for (int s = 0; s < CLT_OPT_MAX_STATES && st == CLT_OK; s++)
      if (clt_opt_state_name(&opt->desc, s)) st = put_state(opt, b, e, s);
  }
  if (st == CLT_OK && b->failed)
    st = clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                  "optimizer_save: out of host memory");
  return st;
}

clt_status clt_optimizer_save(clt_optimizer *opt, const char *path) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  if (!path)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_save: path is NULL");
  clt_wbuf b = {0};
  clt_status st = clt_optimizer_serialize(opt, &b);
  if (st == CLT_OK) st = clt_wbuf_commit(opt->ctx, &b, path);
  clt_wbuf_free(&b);
  return st;
}

/* ----------------------------------------------------------------- load */

/* What a file holds for one entry, checked against the optimizer's. */
typedef struct loaded {
  uint64_t steps, skipped;
  double mu_product;
  clt_tensor *state[CLT_OPT_MAX_STATES];
} loaded;

static clt_status bad(const clt_optimizer *opt, const char *path,
                      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static clt_status bad(const clt_optimizer *opt, const char *path,
                      const char *fmt, ...) {
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return clt_fail(opt->ctx, CLT_ERR_FORMAT, "optimizer_load: %s: %s", path,
                  what);
}

/* Reads entry e's part of the file into l, allocating its state. */
static clt_status load_entry(clt_optimizer *opt, const char *path,
                             clt_rbuf *b, const clt_opt_entry *e, size_t k,
                             const clt_optim_desc *d, loaded *l) {
  uint32_t group = clt_rbuf_u32(b);
  uint64_t nseg = clt_rbuf_u64(b);
  if (b->short_read) return bad(opt, path, "truncated");
  if ((group != 0) != e->group || nseg != e->nseg)
    return bad(opt, path,
               "entry %zu is a %s of %llu tensors, the optimizer's is a %s of "
               "%zu",
               k, group ? "group" : "tensor", (unsigned long long)nseg,
               e->group ? "group" : "tensor", e->nseg);
  for (size_t s = 0; s < e->nseg; s++) {
    uint64_t rows = clt_rbuf_u64(b), cols = clt_rbuf_u64(b);
    uint32_t flags = clt_rbuf_u32(b);
    if (b->short_read) return bad(opt, path, "truncated");
    if (rows != e->segs[s].rows || cols != e->segs[s].cols ||
        flags != e->segs[s].flags)
      return bad(opt, path,
                 "tensor %zu of entry %zu is %llux%llu with options %u, the "
                 "optimizer's is %zux%zu with options %u",
                 s, k, (unsigned long long)rows, (unsigned long long)cols,
                 (unsigned)flags, e->segs[s].rows, e->segs[s].cols,
                 (unsigned)e->segs[s].flags);
  }
  l->steps = clt_rbuf_u64(b);
  l->skipped = clt_rbuf_u64(b);
  l->mu_product = clt_rbuf_f64(b);
  uint32_t nstates = clt_rbuf_u32(b), want = 0;
  for (int s = 0; s < CLT_OPT_MAX_STATES; s++)
    want += clt_opt_state_name(d, s) != NULL;
  if (b->short_read) return bad(opt, path, "truncated");
  if (l->steps == UINT64_MAX || l->skipped == UINT64_MAX)
    return bad(opt, path, "entry %zu's step counter is at its limit 2^64 - 1", k);
  if (nstates != want || !(l->mu_product >= 0 && l->mu_product <= 1))
    return bad(opt, path,
               "entry %zu has %u state buffers (want %u) or mu product %g", k,
               (unsigned)nstates, (unsigned)want, l->mu_product);
  CLT_TRY(clt_opt_alloc_state(opt, e, d, l->state));
  for (int s = 0; s < CLT_OPT_MAX_STATES; s++) {
    const char *name = clt_opt_state_name(d, s);
    if (!name) continue;
    char got[32] = "";
    uint32_t len = clt_rbuf_u32(b);
    if (len >= sizeof got) return bad(opt, path, "bad state name length");
    clt_rbuf_bytes(b, got, len);
    if (b->short_read) return bad(opt, path, "truncated");
    if (strcmp(got, name) != 0)
      return bad(opt, path, "state '%s' where the optimizer keeps '%s'", got,
                 name);
    for (size_t t = 0; t < e->nseg; t++) {
      const clt_opt_seg *g = &e->segs[t];
      size_t n = g->rows * g->cols;
      if (n > (b->len - b->pos) / 4)
        return bad(opt, path, "truncated");
      float *x = malloc(n * sizeof *x);
      if (!x)
        return clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                        "optimizer_load: out of host memory");
      clt_rbuf_f32s(b, x, n);
      clt_tensor w = clt_opt_window(l->state[s], g->offset, g->rows, g->cols);
      clt_status st = clt_tensor_write(&w, x, n * sizeof *x);
      free(x);
      CLT_TRY(st);
    }
  }
  return CLT_OK;
}

static clt_status parse(clt_optimizer *opt, const char *path, clt_rbuf *b,
                        clt_optim_desc *d, loaded *ls) {
  char magic[8];
  clt_rbuf_bytes(b, magic, 8);
  uint32_t version = clt_rbuf_u32(b), kind = clt_rbuf_u32(b);
  uint32_t nfields = clt_rbuf_u32(b);
  if (b->short_read) return bad(opt, path, "truncated");
  if (memcmp(magic, MAGIC, 8) != 0)
    return bad(opt, path, "not an optimizer checkpoint");
  if (version != VERSION)
    return bad(opt, path, "format version %u, this library reads %u",
               (unsigned)version, VERSION);
  if (kind != (uint32_t)opt->desc.kind)
    return bad(opt, path,
               "the file is for optimizer kind %u, this optimizer is kind %d",
               (unsigned)kind, (int)opt->desc.kind);
  if (nfields != NFIELDS)
    return bad(opt, path, "%u hyper-parameters where version 1 has %d",
               (unsigned)nfields, NFIELDS);
  *d = opt->desc;
  get_desc(b, d);
  if (b->short_read) return bad(opt, path, "truncated");
  if (clt_opt_check_desc(NULL, d) != CLT_OK)
    return bad(opt, path, "invalid hyper-parameters");
  for (int s = 0; s < CLT_OPT_MAX_STATES; s++) {
    const char *a = clt_opt_state_name(d, s), *o = clt_opt_state_name(&opt->desc, s);
    if ((a == NULL) != (o == NULL))
      return bad(opt, path,
                 "the file %s state '%s' (amsgrad, momentum or centered "
                 "differ)",
                 a ? "has" : "lacks", a ? a : o);
  }
  uint64_t nentries = clt_rbuf_u64(b);
  if (b->short_read) return bad(opt, path, "truncated");
  if (nentries != opt->nentries)
    return bad(opt, path,
               "the file holds %llu tensors or groups, the optimizer %zu",
               (unsigned long long)nentries, opt->nentries);
  for (size_t k = 0; k < opt->nentries; k++)
    CLT_TRY(load_entry(opt, path, b, opt->entries[k], k, d, &ls[k]));
  if (b->pos != b->len)
    return bad(opt, path, "%zu bytes after the last entry", b->len - b->pos);
  return CLT_OK;
}

clt_status clt_optimizer_record_desc(const void *data, size_t len, clt_optim_desc *out) {
  clt_rbuf b = {.data = data, .len = len};
  char magic[8];
  clt_rbuf_bytes(&b, magic, 8);
  uint32_t version = clt_rbuf_u32(&b), kind = clt_rbuf_u32(&b);
  uint32_t nfields = clt_rbuf_u32(&b);
  if (b.short_read || memcmp(magic, MAGIC, 8) != 0 || version != VERSION ||
      nfields != NFIELDS || strcmp(clt_optim_kind_name((clt_optim_kind)kind), "unknown") == 0)
    return CLT_ERR_FORMAT;
  clt_optim_desc d = clt_optim_defaults((clt_optim_kind)kind);
  get_desc(&b, &d);
  if (b.short_read || clt_opt_check_desc(NULL, &d) != CLT_OK) return CLT_ERR_FORMAT;
  *out = d;
  return CLT_OK;
}

clt_status clt_optimizer_load(clt_optimizer *opt, const char *path) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  if (!path)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_load: path is NULL");
  unsigned char *data = NULL;
  size_t len = 0;
  CLT_TRY(clt_file_load(opt->ctx, path, &data, &len));
  clt_status st = clt_optimizer_deserialize(opt, path, data, len);
  free(data);
  return st;
}

clt_status clt_optimizer_deserialize(clt_optimizer *opt, const char *path,
                                     const unsigned char *data, size_t len) {
  /* Earlier steps' outcomes are booked before the counts are replaced. */
  clt_status st = CLT_OK;
  for (size_t k = 0; k < opt->nentries && st == CLT_OK; k++)
    st = clt_opt_settle(opt, opt->entries[k], true);
  loaded *ls = calloc(opt->nentries ? opt->nentries : 1, sizeof *ls);
  if (!ls && st == CLT_OK)
    st = clt_fail(opt->ctx, CLT_ERR_OUT_OF_MEMORY,
                  "optimizer_load: out of host memory");
  clt_optim_desc d;
  clt_rbuf b = {data, len, 0, false};
  if (st == CLT_OK) st = parse(opt, path, &b, &d, ls);
  for (size_t k = 0; ls && k < opt->nentries; k++) {
    clt_opt_entry *e = opt->entries[k];
    for (int s = 0; s < CLT_OPT_MAX_STATES; s++) {
      clt_tensor *old = st == CLT_OK ? e->state[s] : ls[k].state[s];
      if (st == CLT_OK) e->state[s] = ls[k].state[s];
      clt_tensor_destroy(old);
    }
    if (st != CLT_OK) continue;
    e->steps = ls[k].steps;
    e->skipped = ls[k].skipped;
    e->mu_product = ls[k].mu_product;
    e->last_norm = NAN;
  }
  if (st == CLT_OK) opt->desc = d;
  free(ls);
  return st;
}
