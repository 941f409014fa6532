/* Tensors on both backends: round trips, views, fill/copy, bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void round_trip(clt_context *ctx, size_t rows, size_t cols,
                       clt_dtype dtype) {
  size_t n = rows * cols;
  uint32_t *in = malloc(n * 4), *out = malloc(n * 4);
  cr_assert(in && out);
  /* Every bit pattern class: NaN payloads, infinities, denormals. */
  uint64_t s = rows * 31 + cols;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    in[i] = (uint32_t)(s >> 32);
  }
  memset(out, 0xAB, n * 4);
  clt_tensor *t = NULL;
  cr_assert_eq(clt_tensor_create(ctx, rows, cols, dtype, &t), CLT_OK, "%s",
               clt_last_error(ctx));
  cr_assert_eq(clt_tensor_rows(t), rows);
  cr_assert_eq(clt_tensor_cols(t), cols);
  cr_assert_eq(clt_tensor_dtype(t), dtype);
  cr_assert_eq(clt_tensor_context(t), ctx);
  cr_assert_eq(clt_tensor_write(t, in, n * 4), CLT_OK, "%s",
               clt_last_error(ctx));
  cr_assert_eq(clt_tensor_read(t, out, n * 4), CLT_OK, "%s",
               clt_last_error(ctx));
  cr_assert(memcmp(in, out, n * 4) == 0, "%zux%zu round trip is bit-exact",
            rows, cols);
  clt_tensor_destroy(t);
  free(in);
  free(out);
}

Test(tensor, round_trip_is_bit_exact) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    const size_t sizes[][2] = {{1, 1}, {7, 1}, {1, 7}, {4097, 1}, {17, 4097},
                               /* 67.2 MB: over 64 MiB */ {4100, 4100}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      round_trip(ctx, sizes[i][0], sizes[i][1], CLT_FLOAT32);
      if (sizes[i][0] * sizes[i][1] < 100000)
        round_trip(ctx, sizes[i][0], sizes[i][1], CLT_INT32);
    }
    clt_context_destroy(ctx);
  }
}

Test(tensor, views_read_the_right_rows) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    enum { R = 93, C = 7 };
    float x[R * C], got[R * C];
    for (size_t i = 0; i < R * C; i++) x[i] = (float)i;
    clt_tensor *t = tu_tensor(ctx, R, C, x), *v = NULL, *vv = NULL;
    cr_assert_eq(clt_tensor_view_rows(t, 10, 20, &v), CLT_OK);
    cr_assert_eq(clt_tensor_rows(v), 20);
    cr_assert_eq(clt_tensor_cols(v), C);
    cr_assert_eq(clt_tensor_read(v, got, 20 * C * 4), CLT_OK);
    cr_assert_arr_eq(got, x + 10 * C, 20 * C * 4);
    /* A view of a view, and writes through it land in the parent. */
    cr_assert_eq(clt_tensor_view_rows(v, 19, 1, &vv), CLT_OK);
    float row[C] = {-1, -2, -3, -4, -5, -6, -7};
    cr_assert_eq(clt_tensor_write(vv, row, sizeof row), CLT_OK);
    cr_assert_eq(clt_tensor_read(t, got, sizeof got), CLT_OK);
    cr_assert_arr_eq(got + 29 * C, row, sizeof row);
    cr_assert_arr_eq(got, x, 29 * C * 4);
    cr_assert_arr_eq(got + 30 * C, x + 30 * C, (R - 30) * C * 4);
    /* Fill through a view touches only its rows. */
    cr_assert_eq(clt_tensor_fill(vv, 2.5), CLT_OK);
    cr_assert_eq(clt_tensor_read(t, got, sizeof got), CLT_OK);
    for (size_t c = 0; c < C; c++) cr_assert_eq(got[29 * C + c], 2.5f);
    cr_assert_eq(got[28 * C + 6], x[28 * C + 6]);
    cr_assert_eq(got[30 * C], x[30 * C]);
    /* The parent may go first: views keep the memory. */
    clt_tensor_destroy(t);
    cr_assert_eq(clt_tensor_read(vv, row, sizeof row), CLT_OK);
    for (size_t c = 0; c < C; c++) cr_assert_eq(row[c], 2.5f);
    clt_tensor_destroy(v);
    clt_tensor_destroy(vv);
    clt_context_destroy(ctx);
  }
}

Test(tensor, views_past_the_end_are_refused) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_tensor *t = tu_tensor(ctx, 10, 3, NULL), *v = NULL;
    const size_t bad[][2] = {{10, 1}, {0, 11}, {9, 2}, {5, 0},
                             {SIZE_MAX, 2}, {2, SIZE_MAX}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      cr_assert_eq(clt_tensor_view_rows(t, bad[i][0], bad[i][1], &v),
                   CLT_ERR_SHAPE, "view [%zu, +%zu)", bad[i][0], bad[i][1]);
      cr_assert_null(v);
    }
    cr_assert_eq(clt_tensor_view_rows(t, 9, 1, &v), CLT_OK);
    cr_assert_eq(clt_tensor_view_rows(t, 0, 1, NULL), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_tensor_view_rows(NULL, 0, 1, &v), CLT_ERR_INVALID_ARG);
    clt_tensor_destroy(v);
    clt_tensor_destroy(t);
    clt_context_destroy(ctx);
  }
}

Test(tensor, fill_and_copy) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_tensor *a = tu_tensor(ctx, 5, 3, NULL), *b = tu_tensor(ctx, 5, 3, NULL);
    clt_tensor *i = NULL;
    cr_assert_eq(clt_tensor_create(ctx, 5, 3, CLT_INT32, &i), CLT_OK);
    cr_assert_eq(clt_tensor_fill(a, -0.75), CLT_OK);
    cr_assert_eq(clt_tensor_copy(b, a), CLT_OK);
    float got[15];
    cr_assert_eq(clt_tensor_read(b, got, sizeof got), CLT_OK);
    for (size_t k = 0; k < 15; k++) cr_assert_eq(got[k], -0.75f);
    cr_assert_eq(clt_tensor_fill(i, 42), CLT_OK);
    int32_t ig[15];
    cr_assert_eq(clt_tensor_read(i, ig, sizeof ig), CLT_OK);
    for (size_t k = 0; k < 15; k++) cr_assert_eq(ig[k], 42);
    /* Values an int32 cannot hold are refused, the tensor left as it was. */
    const double unfit[] = {1e20, -1e20, 2147483648.0, NAN, INFINITY};
    for (size_t k = 0; k < sizeof unfit / sizeof unfit[0]; k++)
      cr_assert_eq(clt_tensor_fill(i, unfit[k]), CLT_ERR_INVALID_ARG, "%g", unfit[k]);
    cr_assert_eq(clt_tensor_fill(i, -2147483648.0), CLT_OK);
    cr_assert_eq(clt_tensor_read(i, ig, sizeof ig), CLT_OK);
    for (size_t k = 0; k < 15; k++) cr_assert_eq(ig[k], INT32_MIN);
    cr_assert_eq(clt_tensor_copy(i, a), CLT_ERR_DTYPE);
    clt_tensor *c = tu_tensor(ctx, 3, 5, NULL);
    cr_assert_eq(clt_tensor_copy(c, a), CLT_ERR_SHAPE);
    cr_assert_eq(clt_tensor_copy(c, NULL), CLT_ERR_INVALID_ARG);
    clt_tensor_destroy(a);
    clt_tensor_destroy(b);
    clt_tensor_destroy(c);
    clt_tensor_destroy(i);
    clt_context_destroy(ctx);
  }
}

Test(tensor, bad_input_is_refused_and_changes_nothing) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    clt_tensor *t = (clt_tensor *)ctx; /* sentinel: must stay untouched */
    cr_assert_eq(clt_tensor_create(NULL, 1, 1, CLT_FLOAT32, &t),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_tensor_create(ctx, 1, 1, CLT_FLOAT32, NULL),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_tensor_create(ctx, 0, 3, CLT_FLOAT32, &t), CLT_ERR_SHAPE);
    cr_assert_eq(clt_tensor_create(ctx, 3, 0, CLT_FLOAT32, &t), CLT_ERR_SHAPE);
    cr_assert_eq(clt_tensor_create(ctx, SIZE_MAX / 2, 3, CLT_FLOAT32, &t),
                 CLT_ERR_SHAPE);
    cr_assert_not_null(strstr(clt_last_error(ctx), "overflow"), "%s",
                       clt_last_error(ctx));
    cr_assert_eq(clt_tensor_create(ctx, SIZE_MAX / 4 + 1, 1, CLT_FLOAT32, &t),
                 CLT_ERR_SHAPE, "rows*cols fits, *4 does not");
    cr_assert_eq(clt_tensor_create(ctx, 2, 2, (clt_dtype)7, &t),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(t, (clt_tensor *)ctx);

    float x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {9, 9, 9, 9, 9, 9}, big[7] = {0};
    t = tu_tensor(ctx, 2, 3, x);
    cr_assert_eq(clt_tensor_write(NULL, x, 24), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_tensor_write(t, NULL, 24), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_tensor_write(t, big, 28), CLT_ERR_SHAPE);
    cr_assert_eq(clt_tensor_write(t, big, 20), CLT_ERR_SHAPE);
    cr_assert_not_null(strstr(clt_last_error(ctx), "20 bytes"), "%s",
                       clt_last_error(ctx));
    cr_assert_eq(clt_tensor_read(t, y, 20), CLT_ERR_SHAPE);
    cr_assert_eq(clt_tensor_read(t, NULL, 24), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_tensor_read(NULL, y, 24), CLT_ERR_INVALID_ARG);
    for (size_t k = 0; k < 6; k++) cr_assert_eq(y[k], 9.0f, "read untouched");
    cr_assert_eq(clt_tensor_read(t, y, 24), CLT_OK);
    cr_assert_arr_eq(x, y, sizeof x, "failed writes changed nothing");
    cr_assert_eq(clt_tensor_fill(NULL, 1), CLT_ERR_INVALID_ARG);
    clt_tensor_destroy(t);
    clt_tensor_destroy(NULL);
    cr_assert_eq(clt_tensor_rows(NULL), 0);
    clt_context_destroy(ctx);
  }
}

/* Copies and gathers between overlapping views are refused on both
   backends, the destination untouched (POCL refused such a copy with
   CL_MEM_COPY_OVERLAP while the reference moved the bytes, and a gather
   into its own source raced); a copy onto itself stays a no-op. */
Test(tensor, overlapping_copies_and_gathers_are_refused) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    clt_tensor *t = tu_tensor(ctx, 4, 3, x), *lo = NULL, *hi = NULL, *idx = NULL;
    cr_assert_eq(clt_tensor_view_rows(t, 0, 3, &lo), CLT_OK);
    cr_assert_eq(clt_tensor_view_rows(t, 1, 3, &hi), CLT_OK);
    cr_assert_eq(clt_tensor_copy(hi, lo), CLT_ERR_INVALID_ARG, "%s", specs[d]);
    cr_assert_not_null(strstr(clt_last_error(ctx), "overlap"), "%s", clt_last_error(ctx));
    cr_assert_eq(clt_tensor_copy(lo, lo), CLT_OK, "%s: a copy onto itself", specs[d]);
    int32_t rows[3] = {3, 2, 1};
    idx = tu_labels(ctx, 3, rows);
    cr_assert_eq(clt_tensor_gather_rows(lo, t, idx, 0), CLT_ERR_INVALID_ARG, "%s", specs[d]);
    float *after = tu_read(t);
    cr_assert_arr_eq(after, x, sizeof x, "%s: refused calls wrote", specs[d]);
    free(after);
    clt_tensor *all[] = {lo, hi, idx, t};
    for (size_t k = 0; k < 4; k++) clt_tensor_destroy(all[k]);
    clt_context_destroy(ctx);
  }
}

Test(tensor, tensors_of_another_context_are_refused) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  clt_context *a = tu_context(specs[0]), *b = tu_context(specs[nd - 1]);
  clt_tensor *ta = tu_tensor(a, 2, 2, NULL), *tb = tu_tensor(b, 2, 2, NULL);
  cr_assert_eq(clt_tensor_copy(ta, tb), CLT_ERR_CONTEXT);
  clt_tensor_destroy(ta);
  clt_tensor_destroy(tb);
  clt_context_destroy(a);
  clt_context_destroy(b);
}

/* Widths 1, 13 (a partial vector only), 16 (one whole vector) and 797
   (49 vectors and a 13-word tail) for the 16-word moves of the kernel. */
Test(tensor, gather_rows_takes_a_minibatch_on_the_device) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t d = 0; d < nd; d++) {
    clt_context *ctx = tu_context(specs[d]);
    enum { R = 1000, C = 13, B = 93, WMAX = 797 };
    static float x[R * WMAX];
    int32_t perm[R], labels[R];
    for (int i = 0; i < R; i++) perm[i] = (i * 337) % R, labels[i] = i % 10;
    clt_tensor *P = tu_labels(ctx, R, perm);
    const size_t first = 500;
    const size_t widths[] = {1, 13, 16, WMAX};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
      size_t W = widths[w];
      tu_fill_uniform(x, R * W, 5 + w, -1, 1);
      clt_tensor *Xw = tu_tensor(ctx, R, W, x), *xw = tu_tensor(ctx, B, W, NULL);
      cr_assert_eq(clt_tensor_gather_rows(xw, Xw, P, first), CLT_OK, "%s",
                   clt_last_error(ctx));
      float *got = tu_read(xw);
      for (size_t r = 0; r < B; r++)
        cr_assert_arr_eq(got + r * W, x + (size_t)perm[first + r] * W, W * 4,
                         "%s: width %zu, row %zu", specs[d], W, r);
      free(got);
      clt_tensor_destroy(Xw);
      clt_tensor_destroy(xw);
    }
    tu_fill_uniform(x, R * C, 5, -1, 1);
    clt_tensor *X = tu_tensor(ctx, R, C, x);
    clt_tensor *Y = tu_labels(ctx, R, labels), *yb = NULL;
    clt_tensor *xb = tu_tensor(ctx, B, C, NULL);
    cr_assert_eq(clt_tensor_create(ctx, B, 1, CLT_INT32, &yb), CLT_OK);
    cr_assert_eq(clt_tensor_gather_rows(xb, X, P, first), CLT_OK, "%s",
                 clt_last_error(ctx));
    cr_assert_eq(clt_tensor_gather_rows(yb, Y, P, first), CLT_OK);
    float *got = tu_read(xb);
    int32_t ygot[B];
    cr_assert_eq(clt_tensor_read(yb, ygot, sizeof ygot), CLT_OK);
    for (size_t r = 0; r < B; r++) {
      cr_assert_arr_eq(got + r * C, x + (size_t)perm[first + r] * C, C * 4);
      cr_assert_eq(ygot[r], labels[perm[first + r]]);
    }
    /* Out-of-range index: CLT_ERR_LABEL, dst untouched. */
    perm[first + 7] = R;
    cr_assert_eq(clt_tensor_write(P, perm, sizeof perm), CLT_OK);
    cr_assert_eq(clt_tensor_fill(xb, 3.0), CLT_OK);
    cr_assert_eq(clt_tensor_gather_rows(xb, X, P, first), CLT_ERR_LABEL);
    free(got);
    got = tu_read(xb);
    for (size_t i = 0; i < B * C; i++) cr_assert_eq(got[i], 3.0f);
    /* Shapes and dtypes. */
    cr_assert_eq(clt_tensor_gather_rows(xb, X, P, R - B + 1), CLT_ERR_SHAPE);
    cr_assert_eq(clt_tensor_gather_rows(xb, Y, P, 0), CLT_ERR_DTYPE);
    cr_assert_eq(clt_tensor_gather_rows(xb, X, X, 0), CLT_ERR_DTYPE);
    cr_assert_eq(clt_tensor_gather_rows(NULL, X, P, 0), CLT_ERR_INVALID_ARG);
    free(got);
    clt_tensor_destroy(X);
    clt_tensor_destroy(P);
    clt_tensor_destroy(Y);
    clt_tensor_destroy(xb);
    clt_tensor_destroy(yb);
    clt_context_destroy(ctx);
  }
}
