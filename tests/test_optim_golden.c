/* Optimizers against PyTorch (float64) trajectories: every case of
   tests/golden/optim.txt.gz (generator: tests/golden/gen_golden.py), on both
   backends, parameters and every state buffer after every stored step.

   Tolerance after step t: |got - want| <= 1e-6 S + 2e-6 (4 + t) |want|,
   S the largest magnitude the golden buffer has had up to that step.
   PyTorch ran in float64 on float32-rounded inputs; both backends store
   parameters and state in float32, so each step adds a rounding of ~6e-8
   relative to every value it writes (and OpenCL's float32 arithmetic a few
   ulps of each term). The recurrences are contractions, so the carried
   error grows at most linearly with t; values passing near zero keep the
   absolute error of their earlier magnitude (the S term). The same
   tolerance is used between the backends in test_optim.c.

   NAdam: the golden data come from PyTorch 1.13's single-tensor path, whose
   mu_product_next multiplies mu_t in twice; PyTorch 2.0 fixed that
   (pytorch/pytorch#92699) and cltrain follows the fix. nadam_model() below
   is that update in double with a switch for the 1.13 behaviour: with the
   switch on it must reproduce every stored golden array to 1e-12 (so the
   model is PyTorch's arithmetic), with it off it gives the fixed trajectory
   (param, moments, mu product) that the backends are held to with the
   tolerance above. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "optim_tests.h"

static double tol(double scale, unsigned t, double want) {
  return 1e-6 * scale + 2e-6 * (4 + t) * fabs(want);
}

/* desc of a golden case: its kind's defaults with every stored field. */
static clt_optim_desc case_desc(const golden_case *gc) {
  clt_optim_desc d =
      clt_optim_defaults((clt_optim_kind)golden_param(gc, "kind", -1));
#define F(field) d.field = (float)golden_param(gc, #field, d.field)
#define I(field) d.field = (int)golden_param(gc, #field, d.field)
  F(lr); F(weight_decay); F(momentum); F(dampening); I(nesterov);
  I(maximize); F(beta1); F(beta2); F(eps); I(amsgrad); F(alpha);
  I(centered); F(rho); F(lr_decay); F(initial_accumulator_value);
  F(momentum_decay); I(decoupled_weight_decay); F(trust_coefficient);
  F(max_grad_norm);
#undef F
#undef I
  return d;
}

/* The NAdam trajectory of a case in double, PyTorch's single-tensor
   arithmetic, with torch113 choosing 1.13's mu_product_next. Fills, for
   t = 1..steps, out[0] (param), out[1] (exp_avg), out[2] (exp_avg_sq), each
   at [(t-1) * size], and mu[t-1]. */
static void nadam_model(const golden_case *gc, const clt_optim_desc *d,
                        bool torch113, double *out[3], double *mu_prod) {
  size_t n = (size_t)golden_param(gc, "size", 0);
  unsigned steps = (unsigned)golden_param(gc, "steps", 0);
  double *w = malloc(n * 8), *m = calloc(n, 8), *v = calloc(n, 8),
         *g = malloc(n * 8);
  cr_assert(w && m && v && g);
  golden_optim_init(gc, w);
  const double b1 = d->beta1, b2 = d->beta2, lr = d->lr, wd = d->weight_decay;
  double prod = 1;
  for (unsigned t = 1; t <= steps; t++) {
    golden_optim_grad(gc, t, g);
    double bc2 = 1 - pow(b2, t);
    double mu = b1 * (1 - 0.5 * pow(0.96, t * (double)d->momentum_decay));
    double mu_next =
        b1 * (1 - 0.5 * pow(0.96, (t + 1) * (double)d->momentum_decay));
    prod *= mu;
    double next = torch113 ? prod * mu * mu_next : prod * mu_next;
    size_t at = (size_t)(t - 1) * n;
    for (size_t i = 0; i < n; i++) {
      double gi = g[i] + wd * w[i];
      m[i] = m[i] * b1 + (1 - b1) * gi;
      v[i] = v[i] * b2 + (1 - b2) * gi * gi;
      double den = sqrt(v[i] / bc2) + d->eps;
      w[i] += -lr * (1 - mu) / (1 - prod) * (gi / den);
      w[i] += -lr * mu_next / (1 - next) * (m[i] / den);
      out[0][at + i] = w[i];
      out[1][at + i] = m[i];
      out[2][at + i] = v[i];
    }
    mu_prod[t - 1] = prod;
  }
  free(w);
  free(m);
  free(v);
  free(g);
}

static void expect_model(const char *what, const double *model,
                         const golden_array *a) {
  for (size_t i = 0; i < a->cols; i++)
    cr_assert(fabs(model[i] - a->data[i]) <= 1e-12 * (1 + fabs(a->data[i])),
              "%s[%zu]: model %.17g, PyTorch 1.13 %.17g", what, i, model[i],
              a->data[i]);
}

static void expect_near(const char *what, const float *got, const double *want,
                        size_t n, unsigned t, double *scale) {
  for (size_t i = 0; i < n; i++) *scale = fmax(*scale, fabs(want[i]));
  for (size_t i = 0; i < n; i++)
    cr_assert(fabs(got[i] - want[i]) <= tol(*scale, t, want[i]),
              "%s[%zu]: got %.9g, PyTorch %.9g", what, i, got[i], want[i]);
}

/* Returns the number of arrays compared. */
static size_t check_case(const char *spec, const golden_case *gc) {
  const char *name = golden_case_name(gc);
  clt_optim_desc d = case_desc(gc);
  size_t n = (size_t)golden_param(gc, "size", 0);
  unsigned steps = (unsigned)golden_param(gc, "steps", 0);
  cr_assert(n > 0 && steps > 0, "%s: size and steps", name);
  double *w = malloc(n * 8), *g = malloc(n * 8);
  float *f = malloc(n * 4);
  cr_assert(w && g && f);
  /* NAdam: model[0..2] param, exp_avg, exp_avg_sq of PyTorch >= 2.0. */
  double *model[3] = {NULL, NULL, NULL}, *model_mu = NULL;
  bool nadam = d.kind == CLT_OPTIM_NADAM;
  if (nadam) {
    for (int k = 0; k < 3; k++) cr_assert((model[k] = malloc(n * steps * 8)));
    cr_assert((model_mu = malloc(steps * 8)));
  }
  cr_assert_eq(golden_optim_init(gc, w), 0, "%s", name);
  golden_to_float(w, f, n);
  clt_context *ctx = tu_context(spec);
  clt_optimizer *opt = ot_create(ctx, &d);
  clt_tensor *p = tu_tensor(ctx, 1, n, f), *gt = tu_tensor(ctx, 1, n, NULL);
  double scale[1 + CLT_OPT_MAX_STATES] = {0};
  size_t compared = 0;
  char key[64], what[128];
  if (nadam) { /* the model is PyTorch 1.13: prove it on the stored data */
    static const char *const names[3] = {"param", "exp_avg", "exp_avg_sq"};
    nadam_model(gc, &d, true, model, model_mu);
    for (unsigned t = 1; t <= steps; t++) {
      for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "%s_%u", names[k], t);
        const golden_array *a = golden_array_get(gc, key);
        if (a) expect_model(key, model[k] + (size_t)(t - 1) * n, a);
      }
      snprintf(key, sizeof key, "mu_product_%u", t);
      const golden_array *a = golden_array_get(gc, key);
      if (a) expect_model(key, model_mu + t - 1, a);
    }
    nadam_model(gc, &d, false, model, model_mu);
  }
  for (unsigned t = 1; t <= steps; t++) {
    cr_assert_eq(golden_optim_grad(gc, t, g), 0);
    golden_to_float(g, f, n);
    cr_assert_eq(clt_tensor_write(gt, f, n * 4), CLT_OK);
    ot_step(opt, p, gt);
    snprintf(key, sizeof key, "param_%u", t);
    const golden_array *a = golden_array_get(gc, key);
    if (a) {
      cr_assert_eq(a->cols, n);
      float *got = tu_read(p);
      snprintf(what, sizeof what, "%s %s %s%s", spec, name, key,
               nadam ? " (PyTorch >= 2.0 NAdam)" : "");
      expect_near(what, got, nadam ? model[0] + (size_t)(t - 1) * n : a->data,
                  n, t, &scale[0]);
      free(got);
      compared++;
    }
    for (int k = 0; k < CLT_OPT_MAX_STATES; k++) {
      const char *sname = clt_opt_state_name(&d, k);
      if (!sname) continue;
      snprintf(key, sizeof key, "%s_%u", sname, t);
      a = golden_array_get(gc, key);
      /* Every state PyTorch keeps is stored for the small cases. */
      cr_assert(a || n == 4097, "%s: no %s in the golden data", name, key);
      if (!a) continue;
      float *got = ot_state(opt, p, k);
      snprintf(what, sizeof what, "%s %s %s", spec, name, key);
      expect_near(what, got,
                  nadam ? model[1 + k] + (size_t)(t - 1) * n : a->data, n, t,
                  &scale[1 + k]);
      free(got);
      compared++;
    }
    snprintf(key, sizeof key, "mu_product_%u", t);
    if ((a = golden_array_get(gc, key))) {
      clt_optim_stats st;
      cr_assert_eq(clt_optimizer_stats(opt, p, &st), CLT_OK);
      cr_assert(fabs(st.mu_product - model_mu[t - 1]) <= 1e-15,
                "%s %s: mu_product %.17g, PyTorch %.17g", spec, name,
                st.mu_product, a->data[0]);
      compared++;
    }
  }
  clt_tensor_destroy(p);
  clt_tensor_destroy(gt);
  clt_optimizer_destroy(opt);
  clt_context_destroy(ctx);
  free(w);
  free(g);
  free(f);
  for (int k = 0; k < 3; k++) free(model[k]);
  free(model_mu);
  return compared;
}

Test(optim_golden, every_case_matches_pytorch, .timeout = 600) {
  golden_set *set = golden_load(CLT_GOLDEN_DIR "/optim.txt.gz");
  cr_assert_not_null(set, "cannot load %s", CLT_GOLDEN_DIR "/optim.txt.gz");
  const char *specs[2];
  size_t nd = tu_devices(specs), cases = 0, arrays = 0;
  bool kinds[CLT_OPTIM_LAMB + 1] = {false};
  for (size_t s = 0; s < nd; s++)
    for (size_t i = 0; i < golden_count(set); i++) {
      const golden_case *gc = golden_at(set, i);
      arrays += check_case(specs[s], gc);
      kinds[(int)golden_param(gc, "kind", 0)] = true;
      cases++;
    }
  golden_free(set);
  for (int k = 0; k <= CLT_OPTIM_LAMB; k++)
    cr_expect(kinds[k], "no golden case for kind %d", k);
  cr_expect_geq(cases, 90 * nd, "only %zu cases", cases);
  cr_expect_geq(arrays, 2000 * nd, "only %zu arrays compared", arrays);
}
