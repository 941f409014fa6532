/* Timings recorded by a context (record_timings): per kernel or op, per
   transfer and for the host's waits, on every backend. */
#include <string.h>

#include "testutil.h"

#define MAX_ENTRIES 256

typedef struct table {
  clt_timing v[MAX_ENTRIES];
  size_t n;
} table;

static table timings(clt_context *ctx) {
  table t;
  cr_assert_eq(clt_context_timings(ctx, t.v, MAX_ENTRIES, &t.n), CLT_OK, "%s",
               clt_last_error(ctx));
  cr_assert_leq(t.n, MAX_ENTRIES);
  return t;
}

static const clt_timing *entry(const table *t, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].name, name) == 0) return &t->v[i];
  return NULL;
}

/* Sum of counts of the entries of kind. */
static uint64_t count_of(const table *t, clt_timing_kind kind) {
  uint64_t n = 0;
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].kind == kind) n += t->v[i].count;
  return n;
}

Test(timings, refused_without_record_timings) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    size_t n = 7;
    cr_assert_eq(clt_context_timings(ctx, NULL, 0, &n), CLT_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(clt_last_error(ctx), "record_timings"), "%s",
                       clt_last_error(ctx));
    cr_assert_eq(clt_context_timings_reset(ctx), CLT_ERR_INVALID_ARG);
    clt_context_destroy(ctx);
  }
  cr_assert_eq(clt_context_timings(NULL, NULL, 0, &(size_t){0}), CLT_ERR_INVALID_ARG);
}

/* Three forward passes, a loss, an optimizer step and a read: every one
   is in the table with its count, time and bytes; a reset empties it. */
Test(timings, every_op_transfer_and_wait_is_recorded) {
  enum { N = 93, D = 7, C = 10, REPS = 3 };
  float x[N * D], w[D * C], s[N * C];
  int32_t y[N];
  tu_fill_uniform(x, N * D, 1, -1, 1);
  tu_fill_uniform(w, D * C, 2, -1, 1);
  tu_fill_labels(y, N, 3, C);
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    bool ref = strcmp(specs[d], "ref") == 0;
    clt_context *ctx =
        tu_context_with(specs[d], (clt_context_options){.record_timings = 1});
    clt_tensor *X = tu_tensor(ctx, N, D, x), *W = tu_tensor(ctx, D, C, w);
    clt_tensor *S = tu_tensor(ctx, N, C, NULL), *dS = tu_tensor(ctx, N, C, NULL);
    clt_tensor *Y = tu_labels(ctx, N, y);
    cr_assert_eq(clt_context_timings_reset(ctx), CLT_OK);
    table t = timings(ctx);
    cr_assert_eq(t.n, 0, "%s: a reset leaves %zu entries", specs[d], t.n);

    for (int r = 0; r < REPS; r++)
      cr_assert_eq(clt_linear_forward(ctx, X, W, NULL, S), CLT_OK);
    clt_loss_desc loss = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
    double value;
    cr_assert_eq(clt_loss(ctx, &loss, S, Y, &value, dS), CLT_OK);
    cr_assert_eq(clt_tensor_read(S, s, sizeof s), CLT_OK);
    t = timings(ctx);

    const clt_timing *read = entry(&t, "read");
    cr_assert_not_null(read, "%s: no read", specs[d]);
    cr_assert_eq(read->kind, CLT_TIMING_TRANSFER);
    cr_assert_geq(read->count, 1);
    cr_assert_geq(read->bytes, sizeof s, "%s: read %llu bytes", specs[d],
                  (unsigned long long)read->bytes);
    for (size_t i = 0; i < t.n; i++) {
      cr_assert_geq(t.v[i].seconds, 0.0, "%s", t.v[i].name);
      if (ref || t.v[i].kind != CLT_TIMING_KERNEL)
        cr_assert_eq(t.v[i].items, 0, "%s: only OpenCL kernels count work-items", t.v[i].name);
      cr_assert_geq(t.v[i].count, 1, "%s", t.v[i].name);
      for (size_t j = 0; j < i; j++)
        cr_assert_str_neq(t.v[i].name, t.v[j].name, "one entry per name");
    }
    if (ref) {
      const clt_timing *fwd = entry(&t, "linear_forward");
      cr_assert_not_null(fwd);
      cr_assert_eq(fwd->count, REPS);
      cr_assert_eq(fwd->kind, CLT_TIMING_KERNEL);
      cr_assert_not_null(entry(&t, "loss"));
      cr_assert_eq(read->count, 1);
      cr_assert_eq(read->bytes, sizeof s);
    } else {
      /* Every forward launches the same kernels: a multiple of REPS of
         them carry the linear ops' names, and the device did the work. */
      uint64_t linear = 0;
      double busy = 0;
      for (size_t i = 0; i < t.n; i++) {
        if (t.v[i].kind != CLT_TIMING_KERNEL) continue;
        cr_assert_eq(strncmp(t.v[i].name, "clt_", 4), 0, "%s", t.v[i].name);
        if (strncmp(t.v[i].name, "clt_linear_", 11) == 0) linear += t.v[i].count;
        cr_assert_geq(t.v[i].items, t.v[i].count, "%s: %llu work-items in %llu launches",
                      t.v[i].name, (unsigned long long)t.v[i].items,
                      (unsigned long long)t.v[i].count);
        busy += t.v[i].seconds;
      }
      cr_assert(linear >= REPS && linear % REPS == 0, "%llu linear launches",
                (unsigned long long)linear);
      cr_assert_gt(busy, 0.0);
      const clt_timing *wait = entry(&t, "host wait");
      cr_assert_not_null(wait, "blocking reads are waits");
      cr_assert_eq(wait->kind, CLT_TIMING_WAIT);
      cr_assert_geq(wait->count, 2, "the loss's and the tensor's read-back");
    }
    cr_assert_geq(count_of(&t, CLT_TIMING_KERNEL), REPS + 1);

    /* A short table: *count still says how many there are. */
    size_t total = 0;
    clt_timing one;
    cr_assert_eq(clt_context_timings(ctx, &one, 1, &total), CLT_OK);
    cr_assert_geq(total, t.n);
    cr_assert_str_eq(one.name, t.v[0].name);
    cr_assert_eq(clt_context_timings(ctx, NULL, 1, &total), CLT_ERR_INVALID_ARG);

    clt_tensor *all[] = {X, W, S, dS, Y};
    for (size_t i = 0; i < 5; i++) clt_tensor_destroy(all[i]);
    clt_context_destroy(ctx);
  }
}

/* Recording changes no result: the same step with and without it gives
   the same bits. */
Test(timings, recording_changes_no_result) {
  enum { N = 1000, D = 93, C = 10 };
  static float x[N * D], w[D * C], a[N * C], b[N * C];
  tu_fill_uniform(x, N * D, 4, -1, 1);
  tu_fill_uniform(w, D * C, 5, -1, 1);
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    for (int rec = 0; rec < 2; rec++) {
      clt_context *ctx =
          tu_context_with(specs[d], (clt_context_options){.record_timings = rec});
      clt_tensor *X = tu_tensor(ctx, N, D, x), *W = tu_tensor(ctx, D, C, w);
      clt_tensor *S = tu_tensor(ctx, N, C, NULL);
      cr_assert_eq(clt_linear_forward(ctx, X, W, NULL, S), CLT_OK);
      cr_assert_eq(clt_tensor_read(S, rec ? b : a, sizeof a), CLT_OK);
      clt_tensor_destroy(X), clt_tensor_destroy(W), clt_tensor_destroy(S);
      clt_context_destroy(ctx);
    }
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "%s", specs[d]);
  }
}
