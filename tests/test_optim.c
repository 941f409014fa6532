/* Optimizers: OpenCL against the double-precision reference on every kind
   and option, groups against single tensors, edge cases and bad input. */
#include <stdio.h>

#include "optim_tests.h"

/* Per-element tolerance of OpenCL (float32 arithmetic) against the
   reference (double arithmetic, float32 storage), after step t:
   |cl - ref| <= atol + rtol |ref|, atol = 1e-6 * the largest magnitude the
   buffer has had so far (*scale, updated here). Each step's float32
   evaluation differs from the double one by a few ulps (~1e-7 relative) of
   the terms; the state recurrences are contractions (factors beta, alpha,
   rho < 1), so the carried difference grows at most linearly with t. A
   value passing near zero keeps the absolute error of its earlier
   magnitude, hence the running scale. */
static double rtol_at(unsigned t) { return 2e-6 * (4 + t); }

static void expect_close_buf(const char *what, const float *got,
                             const float *want, size_t n, unsigned t,
                             double *scale) {
  for (size_t i = 0; i < n; i++)
    if (fabs(want[i]) > *scale) *scale = fabs(want[i]);
  tu_expect_close_f(what, got, want, n, 1e-6 * *scale + 1e-30, rtol_at(t));
}

typedef struct side {
  clt_context *ctx;
  clt_optimizer *opt;
  clt_tensor *p, *g;
} side;

static side side_open(const char *spec, const clt_optim_desc *d,
                      const float *p0, size_t n) {
  side s;
  s.ctx = tu_context(spec);
  s.opt = ot_create(s.ctx, d);
  s.p = tu_tensor(s.ctx, 1, n, p0);
  s.g = tu_tensor(s.ctx, 1, n, NULL);
  return s;
}

static void side_close(side *s) {
  clt_optimizer_destroy(s->opt);
  clt_tensor_destroy(s->p);
  clt_tensor_destroy(s->g);
  clt_context_destroy(s->ctx);
}

/* OpenCL and reference from the same start, `steps` steps, everything
   compared after every step. */
static void compare_backends(const ot_config *c, size_t n, unsigned steps) {
  float *p0 = malloc(n * 4), *g = malloc(n * 4);
  cr_assert(p0 && g);
  tu_fill_uniform(p0, n, 7 + n, -1.0f, 1.0f);
  side r = side_open("ref", &c->d, p0, n), o = side_open("cl", &c->d, p0, n);
  char what[96];
  double pscale = 0, sscale[CLT_OPT_MAX_STATES] = {0};
  for (size_t i = 0; i < n; i++) pscale = fmax(pscale, fabs(p0[i]));
  for (unsigned t = 1; t <= steps; t++) {
    ot_grad(g, n, n, t);
    cr_assert_eq(clt_tensor_write(r.g, g, n * 4), CLT_OK);
    cr_assert_eq(clt_tensor_write(o.g, g, n * 4), CLT_OK);
    ot_step(r.opt, r.p, r.g);
    ot_step(o.opt, o.p, o.g);
    float *pr = tu_read(r.p), *po = tu_read(o.p);
    snprintf(what, sizeof what, "%s n=%zu step %u param", c->name, n, t);
    expect_close_buf(what, po, pr, n, t, &pscale);
    free(pr);
    free(po);
    for (int k = 0; k < CLT_OPT_MAX_STATES; k++) {
      float *sr = ot_state(r.opt, r.p, k), *so = ot_state(o.opt, o.p, k);
      if (!sr) continue;
      snprintf(what, sizeof what, "%s n=%zu step %u %s", c->name, n, t,
               clt_opt_state_name(&c->d, k));
      expect_close_buf(what, so, sr, n, t, &sscale[k]);
      free(sr);
      free(so);
    }
  }
  clt_optim_stats sr, so;
  cr_assert_eq(clt_optimizer_stats(r.opt, r.p, &sr), CLT_OK);
  cr_assert_eq(clt_optimizer_stats(o.opt, o.p, &so), CLT_OK);
  cr_assert_eq(sr.steps, steps, "%s: %llu steps", c->name,
               (unsigned long long)sr.steps);
  cr_assert_eq(so.steps, steps, "%s: %llu steps", c->name,
               (unsigned long long)so.steps);
  cr_assert(fabs(sr.mu_product - so.mu_product) <= 1e-15 * fabs(sr.mu_product));
  if (clt_opt_needs_stats(&c->d))
    cr_assert(fabs(sr.last_grad_norm - so.last_grad_norm) <=
                  1e-5 * sr.last_grad_norm,
              "%s: norm %g vs %g", c->name, so.last_grad_norm,
              sr.last_grad_norm);
  side_close(&r);
  side_close(&o);
  free(p0);
  free(g);
}

/* The kind table's names and values: every kind round-trips through its
   name, the values are the ABI of cltrain.h (never renumbered), and names
   outside the table are refused with the kind untouched. */
Test(optim, kind_names_round_trip_and_values_are_stable) {
  static const struct {
    clt_optim_kind kind;
    int value;
    const char *name;
  } want[] = {{CLT_OPTIM_SGD, 0, "sgd"},         {CLT_OPTIM_ADAGRAD, 1, "adagrad"},
              {CLT_OPTIM_RMSPROP, 2, "rmsprop"}, {CLT_OPTIM_ADADELTA, 3, "adadelta"},
              {CLT_OPTIM_ADAM, 4, "adam"},       {CLT_OPTIM_ADAMW, 5, "adamw"},
              {CLT_OPTIM_ADAMAX, 6, "adamax"},   {CLT_OPTIM_NADAM, 7, "nadam"},
              {CLT_OPTIM_RADAM, 8, "radam"},     {CLT_OPTIM_LARS, 9, "lars"},
              {CLT_OPTIM_LAMB, 10, "lamb"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    cr_expect_eq((int)want[i].kind, want[i].value, "%s", want[i].name);
    cr_expect_str_eq(clt_optim_kind_name(want[i].kind), want[i].name);
    clt_optim_kind k = CLT_OPTIM_LAMB;
    cr_expect_eq(clt_optim_kind_from_name(want[i].name, &k), CLT_OK);
    cr_expect_eq(k, want[i].kind, "%s", want[i].name);
  }
  clt_optim_kind k = CLT_OPTIM_RADAM;
  cr_expect_eq(clt_optim_kind_from_name("momentum", &k), CLT_ERR_INVALID_ARG);
  cr_expect_eq(clt_optim_kind_from_name("Adam", &k), CLT_ERR_INVALID_ARG);
  cr_expect_eq(clt_optim_kind_from_name(NULL, &k), CLT_ERR_INVALID_ARG);
  cr_expect_eq(clt_optim_kind_from_name("adam", NULL), CLT_ERR_INVALID_ARG);
  cr_expect_eq(k, CLT_OPTIM_RADAM);
  cr_expect_str_eq(clt_optim_kind_name((clt_optim_kind)11), "unknown");
  cr_expect_str_eq(clt_optim_kind_name((clt_optim_kind)-1), "unknown");
}

Test(optim, opencl_matches_reference_every_kind_and_option) {
  if (!tu_have_opencl()) return;
  ot_config cfg[64];
  size_t nc = ot_configs(cfg, 64);
  const size_t sizes[] = {1, 7, 4097, 100003};
  for (size_t c = 0; c < nc; c++)
    for (size_t s = 0; s < 4; s++) compare_backends(&cfg[c], sizes[s], 20);
}

/* ------------------------------------------------------------- groups */

/* A group updated by clt_optimizer_step_all equals the same tensors
   updated one by one with the same per-tensor options, bit for bit (same
   kernels, same reduction order per tensor). */
static void group_matches_singles(const char *spec, const clt_optim_desc *d) {
  enum { T = 4 };
  const size_t rows[T] = {7, 1, 100, 3}, cols[T] = {3, 3, 37, 300};
  clt_param_options opts[T] = {{0, 0}, {1, 1}, {0, 0}, {1, 0}};
  clt_context *ctx = tu_context(spec);
  clt_optimizer *grp = ot_create(ctx, d), *one = ot_create(ctx, d);
  clt_tensor *gp[T], *gg[T], *sp[T], *sg[T];
  cr_assert_eq(clt_optimizer_add_group(grp, T, rows, cols, opts, gp, gg),
               CLT_OK, "%s", clt_last_error(ctx));
  for (int k = 0; k < T; k++) {
    size_t n = rows[k] * cols[k];
    float *x = malloc(n * 4);
    tu_fill_uniform(x, n, 100 + k, -1, 1);
    cr_assert_eq(clt_tensor_write(gp[k], x, n * 4), CLT_OK);
    sp[k] = tu_tensor(ctx, rows[k], cols[k], x);
    sg[k] = tu_tensor(ctx, rows[k], cols[k], NULL);
    cr_assert_eq(clt_optimizer_add_param(one, sp[k], &opts[k]), CLT_OK, "%s",
                 clt_last_error(ctx));
    free(x);
  }
  for (unsigned t = 1; t <= 5; t++) {
    for (int k = 0; k < T; k++) {
      size_t n = rows[k] * cols[k];
      float *x = malloc(n * 4);
      ot_grad(x, n, 50 + k, t);
      cr_assert_eq(clt_tensor_write(gg[k], x, n * 4), CLT_OK);
      cr_assert_eq(clt_tensor_write(sg[k], x, n * 4), CLT_OK);
      ot_step(one, sp[k], sg[k]);
      free(x);
    }
    cr_assert_eq(clt_optimizer_step_all(grp), CLT_OK, "%s",
                 clt_last_error(ctx));
    for (int k = 0; k < T; k++) {
      size_t n = rows[k] * cols[k];
      float *a = tu_read(gp[k]), *b = tu_read(sp[k]);
      cr_assert(memcmp(a, b, n * 4) == 0, "%s kind %d tensor %d step %u", spec,
                (int)d->kind, k, t);
      free(a);
      free(b);
      for (int s = 0; s < CLT_OPT_MAX_STATES; s++) {
        float *x = ot_state(grp, gp[k], s), *y = ot_state(one, sp[k], s);
        if (x) cr_assert(memcmp(x, y, n * 4) == 0, "state %d", s);
        free(x);
        free(y);
      }
    }
  }
  clt_optim_stats st;
  cr_assert_eq(clt_optimizer_stats(grp, gp[2], &st), CLT_OK);
  cr_assert_eq(st.steps, 5);
  for (int k = 0; k < T; k++) {
    clt_tensor_destroy(gp[k]);
    clt_tensor_destroy(gg[k]);
    clt_tensor_destroy(sp[k]);
    clt_tensor_destroy(sg[k]);
  }
  clt_optimizer_destroy(grp);
  clt_optimizer_destroy(one);
  clt_context_destroy(ctx);
}

Test(optim, group_step_equals_single_steps) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t s = 0; s < nd; s++)
    for (int kind = CLT_OPTIM_SGD; kind <= CLT_OPTIM_LAMB; kind++) {
      clt_optim_desc d = clt_optim_defaults((clt_optim_kind)kind);
      d.weight_decay = 1e-2f;
      d.momentum = kind == CLT_OPTIM_SGD ? 0.9f : d.momentum;
      group_matches_singles(specs[s], &d);
    }
}

/* Per-tensor options in a group: no_weight_decay and no_trust_ratio act on
   their tensor only, and the group with clipping and the guard agrees
   between the backends. */
Test(optim, group_options_and_global_clipping_across_backends) {
  if (!tu_have_opencl()) return;
  enum { T = 3 };
  const size_t rows[T] = {50, 1, 9}, cols[T] = {10, 10, 1};
  clt_param_options opts[T] = {{0, 0}, {1, 1}, {0, 1}};
  const clt_optim_kind kinds[] = {CLT_OPTIM_LARS, CLT_OPTIM_LAMB,
                                  CLT_OPTIM_ADAMW, CLT_OPTIM_SGD};
  for (size_t kk = 0; kk < 4; kk++) {
    clt_optim_desc d = clt_optim_defaults(kinds[kk]);
    d.weight_decay = 0.05f;
    d.max_grad_norm = 0.5f;
    d.skip_nonfinite = 1;
    clt_context *ctx[2] = {tu_context("ref"), tu_context("cl")};
    clt_optimizer *opt[2];
    clt_tensor *p[2][T], *g[2][T];
    for (int b = 0; b < 2; b++) {
      opt[b] = ot_create(ctx[b], &d);
      cr_assert_eq(clt_optimizer_add_group(opt[b], T, rows, cols, opts, p[b],
                                           g[b]),
                   CLT_OK);
      for (int k = 0; k < T; k++) {
        size_t n = rows[k] * cols[k];
        float *x = malloc(n * 4);
        tu_fill_uniform(x, n, 3 + k, -1, 1);
        cr_assert_eq(clt_tensor_write(p[b][k], x, n * 4), CLT_OK);
        free(x);
      }
    }
    for (unsigned t = 1; t <= 10; t++)
      for (int b = 0; b < 2; b++) {
        for (int k = 0; k < T; k++) {
          size_t n = rows[k] * cols[k];
          float *x = malloc(n * 4);
          ot_grad(x, n, 9 + k, t);
          cr_assert_eq(clt_tensor_write(g[b][k], x, n * 4), CLT_OK);
          free(x);
        }
        cr_assert_eq(clt_optimizer_step_all(opt[b]), CLT_OK, "%s",
                     clt_last_error(ctx[b]));
      }
    for (int k = 0; k < T; k++) {
      float *a = tu_read(p[1][k]), *b = tu_read(p[0][k]);
      char what[64];
      snprintf(what, sizeof what, "kind %d tensor %d", (int)d.kind, k);
      double scale = 1; /* initial params are in [-1, 1) */
      expect_close_buf(what, a, b, rows[k] * cols[k], 10, &scale);
      free(a);
      free(b);
    }
    clt_optim_stats s0, s1;
    cr_assert_eq(clt_optimizer_stats(opt[0], NULL, &s0), CLT_OK);
    cr_assert_eq(clt_optimizer_stats(opt[1], NULL, &s1), CLT_OK);
    cr_assert_eq(s0.steps, 10);
    cr_assert_eq(s1.steps, 10);
    cr_assert(fabs(s0.last_grad_norm - s1.last_grad_norm) <=
              1e-5 * s0.last_grad_norm);
    for (int b = 0; b < 2; b++) {
      for (int k = 0; k < T; k++) {
        clt_tensor_destroy(p[b][k]);
        clt_tensor_destroy(g[b][k]);
      }
      clt_optimizer_destroy(opt[b]);
      clt_context_destroy(ctx[b]);
    }
  }
}

/* --------------------------------------------------------- edge cases */

/* Runs one step of d on (p0, g) on spec; returns the new param. */
static float *one_step(const char *spec, const clt_optim_desc *d,
                       const float *p0, const float *g, size_t n,
                       clt_optim_stats *stats) {
  side s = side_open(spec, d, p0, n);
  cr_assert_eq(clt_tensor_write(s.g, g, n * 4), CLT_OK);
  ot_step(s.opt, s.p, s.g);
  float *out = tu_read(s.p);
  if (stats) cr_assert_eq(clt_optimizer_stats(s.opt, s.p, stats), CLT_OK);
  side_close(&s);
  return out;
}

Test(optim, zero_gradient_and_zero_lr_leave_params_unchanged) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 777 };
  float p0[N], g[N], zero[N] = {0};
  tu_fill_uniform(p0, N, 1, -1, 1);
  tu_fill_uniform(g, N, 2, -1, 1);
  for (size_t s = 0; s < nd; s++)
    for (int kind = CLT_OPTIM_SGD; kind <= CLT_OPTIM_LAMB; kind++) {
      clt_optim_desc d = clt_optim_defaults((clt_optim_kind)kind);
      d.weight_decay = 0;
      float *a = one_step(specs[s], &d, p0, zero, N, NULL);
      cr_assert(memcmp(a, p0, sizeof p0) == 0,
                "%s kind %d: zero gradient moved a param", specs[s], kind);
      free(a);
      d = clt_optim_defaults((clt_optim_kind)kind);
      d.lr = 0;
      float *b = one_step(specs[s], &d, p0, g, N, NULL);
      cr_assert(memcmp(b, p0, sizeof p0) == 0,
                "%s kind %d: lr 0 moved a param", specs[s], kind);
      free(b);
    }
}

Test(optim, huge_gradients_stay_finite_and_agree) {
  if (!tu_have_opencl()) return;
  enum { N = 4097 };
  float p0[N], g[N];
  tu_fill_uniform(p0, N, 11, -1, 1);
  tu_fill_uniform(g, N, 12, -1, 1);
  for (size_t i = 0; i < N; i++) g[i] *= 1e18f;
  for (int kind = CLT_OPTIM_SGD; kind <= CLT_OPTIM_LAMB; kind++) {
    clt_optim_desc d = clt_optim_defaults((clt_optim_kind)kind);
    d.max_grad_norm = kind % 2 ? 1.0f : 0.0f; /* clipping on every other */
    float *r = one_step("ref", &d, p0, g, N, NULL);
    float *o = one_step("cl", &d, p0, g, N, NULL);
    for (size_t i = 0; i < N; i++)
      cr_assert(isfinite(o[i]), "kind %d: param %zu = %g", kind, i, o[i]);
    char what[32];
    snprintf(what, sizeof what, "huge g, kind %d", kind);
    double scale = 1;
    expect_close_buf(what, o, r, N, 1, &scale);
    free(r);
    free(o);
  }
}

/* A NaN or Inf anywhere in the gradient: the step changes nothing and is
   counted; later steps continue exactly as if it had never been taken. */
static void guard_case(const char *spec, clt_optim_kind kind, float bad) {
  enum { N = 1000 };
  clt_optim_desc d = clt_optim_defaults(kind);
  d.skip_nonfinite = 1;
  d.weight_decay = 1e-2f;
  float p0[N], g[N];
  tu_fill_uniform(p0, N, 5, -1, 1);
  side a = side_open(spec, &d, p0, N), b = side_open(spec, &d, p0, N);
  for (unsigned t = 1; t <= 4; t++) {
    ot_grad(g, N, 77, t);
    cr_assert_eq(clt_tensor_write(a.g, g, sizeof g), CLT_OK);
    cr_assert_eq(clt_tensor_write(b.g, g, sizeof g), CLT_OK);
    ot_step(a.opt, a.p, a.g);
    ot_step(b.opt, b.p, b.g);
    if (t != 2) continue;
    /* b sees an extra step with one bad element. */
    float *before = tu_read(b.p), *sb[CLT_OPT_MAX_STATES];
    for (int k = 0; k < CLT_OPT_MAX_STATES; k++) sb[k] = ot_state(b.opt, b.p, k);
    g[N / 3] = bad;
    cr_assert_eq(clt_tensor_write(b.g, g, sizeof g), CLT_OK);
    ot_step(b.opt, b.p, b.g);
    float *after = tu_read(b.p);
    cr_assert(memcmp(before, after, sizeof p0) == 0,
              "%s kind %d: a skipped step changed the params", spec, kind);
    for (int k = 0; k < CLT_OPT_MAX_STATES; k++) {
      float *sa = ot_state(b.opt, b.p, k);
      if (sa)
        cr_assert(memcmp(sa, sb[k], sizeof p0) == 0,
                  "%s kind %d: a skipped step changed state %d", spec, kind, k);
      free(sa);
      free(sb[k]);
    }
    clt_optim_stats st;
    cr_assert_eq(clt_optimizer_stats(b.opt, b.p, &st), CLT_OK);
    cr_assert_eq(st.skipped, 1);
    cr_assert_eq(st.steps, 2);
    cr_assert(!isfinite(st.last_grad_norm));
    free(before);
    free(after);
  }
  float *x = tu_read(a.p), *y = tu_read(b.p);
  cr_assert(memcmp(x, y, sizeof p0) == 0,
            "%s kind %d: the run with a skipped step diverged", spec, kind);
  clt_optim_stats st;
  cr_assert_eq(clt_optimizer_stats(b.opt, NULL, &st), CLT_OK);
  cr_assert_eq(st.steps, 4);
  cr_assert_eq(st.skipped, 1);
  free(x);
  free(y);
  side_close(&a);
  side_close(&b);
}

Test(optim, nonfinite_guard_skips_the_step) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t s = 0; s < nd; s++)
    for (int kind = CLT_OPTIM_SGD; kind <= CLT_OPTIM_LAMB; kind++) {
      guard_case(specs[s], (clt_optim_kind)kind, NAN);
      guard_case(specs[s], (clt_optim_kind)kind, -INFINITY);
    }
}

/* Parameters, gradients and LAMB directions whose squares overflow float
   (finite in the reference's double sums): the device's float partial
   sums fall back to its wide accumulator, the norms and trust ratios agree
   with the reference, and the guard does not take them for non-finite. */
Test(optim, norms_of_values_whose_squares_overflow_float) {
  if (!tu_have_opencl()) return;
  enum { N = 4097 };
  float p0[N], g[N];
  tu_fill_uniform(g, N, 32, -1, 1);
  for (size_t i = 0; i < N; i++) g[i] *= 1e25f;
  const struct {
    clt_optim_kind kind;
    float max_norm, wd, pscale;
  } cases[] = {{CLT_OPTIM_LARS, 0, 0, 1e21f},
               {CLT_OPTIM_LARS, 1, 1e-2f, 1e21f},
               {CLT_OPTIM_LAMB, 1, 0.1f, 1e21f}, /* wd p: u^2 ~ 1e40 */
               {CLT_OPTIM_ADAM, 1, 0, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    tu_fill_uniform(p0, N, 31, -cases[c].pscale, cases[c].pscale);
    clt_optim_desc d = clt_optim_defaults(cases[c].kind);
    d.max_grad_norm = cases[c].max_norm;
    d.weight_decay = cases[c].wd;
    d.skip_nonfinite = 1;
    clt_optim_stats sr, so;
    float *r = one_step("ref", &d, p0, g, N, &sr);
    float *o = one_step("cl", &d, p0, g, N, &so);
    cr_assert_eq(so.skipped, 0, "case %zu: a finite step was skipped", c);
    cr_assert(isfinite(sr.last_grad_norm));
    cr_assert(fabs(so.last_grad_norm - sr.last_grad_norm) <=
                  1e-5 * sr.last_grad_norm,
              "case %zu: norm %g vs %g", c, so.last_grad_norm,
              sr.last_grad_norm);
    cr_assert(memcmp(r, p0, sizeof p0) != 0, "case %zu: nothing moved", c);
    char what[32];
    snprintf(what, sizeof what, "overflowing squares, case %zu", c);
    double scale = cases[c].pscale;
    expect_close_buf(what, o, r, N, 1, &scale);
    free(r);
    free(o);
  }
}

/* ||g|| exactly max_grad_norm still scales by max/(max + 1e-6) (PyTorch's
   formula); a norm below the threshold leaves g exactly as it is. */
Test(optim, clipping_at_the_threshold) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 16 };
  float p0[N] = {0}, g[N];
  for (size_t i = 0; i < N; i++) g[i] = i % 2 ? 0.25f : -0.25f; /* ||g|| = 1 */
  for (size_t s = 0; s < nd; s++) {
    clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_SGD);
    d.lr = 1;
    d.max_grad_norm = 1;
    clt_optim_stats st;
    float *a = one_step(specs[s], &d, p0, g, N, &st);
    cr_assert_eq(st.last_grad_norm, 1.0);
    for (size_t i = 0; i < N; i++) {
      double want = -g[i] * (1.0 / (1.0 + 1e-6));
      cr_assert(fabs(a[i] - want) <= 1e-7 * fabs(want), "%s: %.9g vs %.9g",
                specs[s], a[i], want);
      cr_assert(a[i] != -g[i], "%s: the gradient was not scaled", specs[s]);
    }
    d.max_grad_norm = 1.0f + 1e-5f; /* coefficient > 1: clamped to 1 */
    float *b = one_step(specs[s], &d, p0, g, N, NULL);
    for (size_t i = 0; i < N; i++) cr_assert_eq(b[i], -g[i]);
    free(a);
    free(b);
  }
}

/* LARS and LAMB on a zero tensor (or a zero gradient for LARS) use ratio 1;
   no_trust_ratio does too. */
Test(optim, zero_norm_tensors_use_trust_ratio_one) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 300 };
  float zero[N] = {0}, g[N];
  tu_fill_uniform(g, N, 21, -1, 1);
  for (size_t s = 0; s < nd; s++) {
    clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_LARS);
    d.lr = 0.5f;
    float *a = one_step(specs[s], &d, zero, g, N, NULL);
    for (size_t i = 0; i < N; i++)
      cr_assert(fabs(a[i] + 0.5 * g[i]) <= 1e-7 * fabs(g[i]),
                "%s LARS ||w|| = 0: %g vs %g", specs[s], a[i], -0.5 * g[i]);
    free(a);
    d = clt_optim_defaults(CLT_OPTIM_LAMB);
    d.lr = 0.5f;
    float *b = one_step(specs[s], &d, zero, g, N, NULL);
    /* First step: mhat = g, vhat = g^2, u = g / (|g| + eps) = sign(g). */
    for (size_t i = 0; i < N; i++) {
      double u = g[i] / (fabs(g[i]) + 1e-6);
      cr_assert(fabs(b[i] + 0.5 * u) <= 1e-6, "%s LAMB ||w|| = 0: %g vs %g",
                specs[s], b[i], -0.5 * u);
    }
    free(b);
  }
}

/* ----------------------------------------------------------- bad input */

Test(optim, invalid_hyper_parameters_are_rejected) {
  clt_context *ctx = tu_context("ref");
  clt_optim_desc cases[16];
  const char *names[16];
  size_t n = 0;
#define CASE(kind, stmt)                                                      \
  do {                                                                        \
    cases[n] = clt_optim_defaults(kind);                                      \
    clt_optim_desc *d = &cases[n];                                            \
    stmt;                                                                     \
    names[n++] = #stmt;                                                       \
  } while (0)
  CASE(CLT_OPTIM_SGD, d->lr = -0.1f);
  CASE(CLT_OPTIM_ADAM, d->eps = -1e-8f);
  CASE(CLT_OPTIM_ADAM, d->beta1 = 1.0f);
  CASE(CLT_OPTIM_ADAM, d->beta2 = -0.1f);
  CASE(CLT_OPTIM_LAMB, d->beta2 = 1.5f);
  CASE(CLT_OPTIM_SGD, d->momentum = NAN);
  CASE(CLT_OPTIM_ADAMW, d->weight_decay = INFINITY);
  CASE(CLT_OPTIM_ADADELTA, d->rho = 1.01f);
  CASE(CLT_OPTIM_RMSPROP, d->alpha = -0.5f);
  CASE(CLT_OPTIM_LARS, d->trust_coefficient = NAN);
  CASE(CLT_OPTIM_ADAM, d->max_grad_norm = -1);
  CASE(CLT_OPTIM_SGD, d->nesterov = 1);             /* momentum 0 */
  CASE(CLT_OPTIM_SGD, d->nesterov = 1; d->momentum = 0.9f;
       d->dampening = 0.1f);
  CASE(CLT_OPTIM_SGD, d->kind = (clt_optim_kind)42);
#undef CASE
  for (size_t k = 0; k < n; k++) {
    clt_optimizer *sentinel = (clt_optimizer *)&cases[k], *out = sentinel;
    cr_assert_eq(clt_optimizer_create(ctx, &cases[k], &out),
                 CLT_ERR_INVALID_ARG, "%s accepted", names[k]);
    cr_assert_eq(out, sentinel, "%s: out was written", names[k]);
    cr_assert(strlen(clt_last_error(ctx)) > 0);
  }
  clt_optimizer *out = NULL;
  cr_assert_eq(clt_optimizer_create(ctx, NULL, &out), CLT_ERR_INVALID_ARG);
  clt_optim_desc ok = clt_optim_defaults(CLT_OPTIM_ADAM);
  cr_assert_eq(clt_optimizer_create(ctx, &ok, NULL), CLT_ERR_INVALID_ARG);
  cr_assert_eq(clt_optimizer_create(NULL, &ok, &out), CLT_ERR_INVALID_ARG);
  clt_context_destroy(ctx);
}

Test(optim, bad_tensors_get_their_status_and_change_nothing) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  for (size_t s = 0; s < nd; s++) {
    clt_context *ctx = tu_context(specs[s]), *other = tu_context(specs[s]);
    clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_ADAM);
    clt_optimizer *opt = ot_create(ctx, &d);
    float x[12];
    tu_fill_uniform(x, 12, 3, -1, 1);
    clt_tensor *p = tu_tensor(ctx, 3, 4, x), *g = tu_tensor(ctx, 3, 4, x);
    clt_tensor *g_wide = tu_tensor(ctx, 4, 3, x);
    clt_tensor *g_other = tu_tensor(other, 3, 4, x);
    clt_tensor *g_int = NULL;
    cr_assert_eq(clt_tensor_create(ctx, 3, 4, CLT_INT32, &g_int), CLT_OK);
    cr_assert_eq(clt_optimizer_step(opt, p, g_wide), CLT_ERR_SHAPE);
    cr_assert_eq(clt_optimizer_step(opt, p, g_other), CLT_ERR_CONTEXT);
    cr_assert_eq(clt_optimizer_step(opt, p, g_int), CLT_ERR_DTYPE);
    cr_assert_eq(clt_optimizer_step(opt, p, NULL), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_step(opt, NULL, g), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_step(opt, p, p), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_step(NULL, p, g), CLT_ERR_INVALID_ARG);
    float *now = tu_read(p);
    cr_assert(memcmp(now, x, sizeof x) == 0, "a failed step changed param");
    free(now);
    /* None of those registered p: the optimizer does not own it. */
    clt_optim_stats st;
    float buf[12];
    cr_assert_eq(clt_optimizer_stats(opt, p, &st), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_read_state(opt, p, "exp_avg", buf, sizeof buf),
                 CLT_ERR_INVALID_ARG);
    ot_step(opt, p, g);
    cr_assert_eq(clt_optimizer_read_state(opt, p, "momentum_buffer", buf,
                                          sizeof buf),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_read_state(opt, p, "exp_avg", buf, 8),
                 CLT_ERR_SHAPE);
    cr_assert_eq(clt_optimizer_read_state(opt, g, "exp_avg", buf, sizeof buf),
                 CLT_ERR_INVALID_ARG);
    /* A view overlapping a registered tensor cannot become a parameter. */
    clt_tensor *row = NULL;
    cr_assert_eq(clt_tensor_view_rows(p, 1, 1, &row), CLT_OK);
    clt_tensor *g_row = tu_tensor(ctx, 1, 4, x);
    cr_assert_eq(clt_optimizer_step(opt, row, g_row), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_add_param(opt, p, NULL), CLT_ERR_INVALID_ARG);
    /* Learning rates. */
    cr_assert_eq(clt_optimizer_set_lr(opt, NAN), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_set_lr(opt, -1), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_desc(opt)->lr, d.lr);
    cr_assert_eq(clt_optimizer_set_lr(opt, 0.5), CLT_OK);
    cr_assert_eq(clt_optimizer_desc(opt)->lr, 0.5f);
    /* Groups. */
    clt_tensor *gp[2], *gg[2];
    size_t rows[2] = {2, 0}, cols[2] = {3, 3};
    cr_assert_eq(clt_optimizer_step_all(opt), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_add_group(opt, 2, rows, cols, NULL, gp, gg),
                 CLT_ERR_SHAPE);
    cr_assert_eq(clt_optimizer_add_group(opt, 0, rows, cols, NULL, gp, gg),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_add_group(opt, 1, NULL, cols, NULL, gp, gg),
                 CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_add_group(opt, 1, rows, cols, NULL, gp, gg),
                 CLT_OK);
    cr_assert_eq(clt_optimizer_step(opt, gp[0], g_row), CLT_ERR_SHAPE);
    clt_tensor *g23 = tu_tensor(ctx, 2, 3, x);
    cr_assert_eq(clt_optimizer_step(opt, gp[0], g23), CLT_ERR_INVALID_ARG);
    cr_assert_eq(clt_optimizer_step_all(opt), CLT_OK);
    cr_assert_eq(clt_optimizer_stats(opt, gp[0], &st), CLT_OK);
    cr_assert_eq(st.steps, 1);
    clt_tensor *tensors[] = {p, g, g_wide, g_other, g_int, row, g_row, g23,
                             gp[0], gg[0]};
    clt_optimizer_destroy(opt);
    for (size_t k = 0; k < sizeof tensors / sizeof tensors[0]; k++)
      clt_tensor_destroy(tensors[k]);
    clt_context_destroy(ctx);
    clt_context_destroy(other);
  }
}

Test(optim, defaults_are_pytorchs) {
  clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_ADAM);
  cr_assert(d.lr == 1e-3f && d.beta1 == 0.9f && d.beta2 == 0.999f &&
            d.eps == 1e-8f && d.weight_decay == 0 && !d.amsgrad);
  d = clt_optim_defaults(CLT_OPTIM_ADAMW);
  cr_assert(d.lr == 1e-3f && d.weight_decay == 1e-2f);
  d = clt_optim_defaults(CLT_OPTIM_ADADELTA);
  cr_assert(d.lr == 1.0f && d.rho == 0.9f && d.eps == 1e-6f);
  d = clt_optim_defaults(CLT_OPTIM_ADAGRAD);
  cr_assert(d.lr == 1e-2f && d.eps == 1e-10f && d.lr_decay == 0 &&
            d.initial_accumulator_value == 0);
  d = clt_optim_defaults(CLT_OPTIM_RMSPROP);
  cr_assert(d.lr == 1e-2f && d.alpha == 0.99f && d.eps == 1e-8f &&
            d.momentum == 0 && !d.centered);
  d = clt_optim_defaults(CLT_OPTIM_NADAM);
  cr_assert(d.lr == 2e-3f && d.momentum_decay == 4e-3f && d.eps == 1e-8f);
  d = clt_optim_defaults(CLT_OPTIM_RADAM);
  cr_assert(d.lr == 1e-3f && d.beta2 == 0.999f);
  d = clt_optim_defaults(CLT_OPTIM_ADAMAX);
  cr_assert(d.lr == 2e-3f && d.beta1 == 0.9f);
  d = clt_optim_defaults(CLT_OPTIM_SGD);
  cr_assert(d.lr == 1e-3f && d.momentum == 0 && !d.nesterov);
  d = clt_optim_defaults(CLT_OPTIM_LARS);
  cr_assert(d.lr == 1.0f && d.momentum == 0.9f && d.trust_coefficient == 1e-3f);
  d = clt_optim_defaults(CLT_OPTIM_LAMB);
  cr_assert(d.lr == 1e-3f && d.eps == 1e-6f && d.beta1 == 0.9f);
}
