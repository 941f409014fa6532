/* Learning-rate schedules: closed forms of PyTorch's StepLR, ExponentialLR
   and CosineAnnealingLR, linear warm-up, validation, and use by an
   optimizer without touching the compiled program. */
#include <math.h>

#include "internal.h"
#if CLT_HAVE_OPENCL
#include "cl/cl_internal.h"
#endif
#include "testutil.h"

static void expect_lr(const clt_schedule *s, uint64_t step, double want) {
  double got = clt_schedule_lr(s, step);
  cr_assert(fabs(got - want) <= 1e-15 * fabs(want) + 1e-300,
            "kind %d step %llu: lr %.17g, want %.17g", (int)s->kind,
            (unsigned long long)step, got, want);
}

Test(schedule, constant) {
  clt_schedule s = {.kind = CLT_SCHEDULE_CONSTANT, .base_lr = 0.3};
  for (uint64_t t = 0; t < 1000; t += 37) expect_lr(&s, t, 0.3);
}

Test(schedule, step_decay_is_steplr) {
  clt_schedule s = {.kind = CLT_SCHEDULE_STEP, .base_lr = 0.1,
                    .step_size = 30, .gamma = 0.1};
  expect_lr(&s, 0, 0.1);
  expect_lr(&s, 29, 0.1);
  expect_lr(&s, 30, 0.1 * 0.1);
  expect_lr(&s, 59, 0.1 * 0.1);
  expect_lr(&s, 60, 0.1 * pow(0.1, 2));
  expect_lr(&s, 95, 0.1 * pow(0.1, 3));
}

Test(schedule, exponential_is_exponentiallr) {
  clt_schedule s = {.kind = CLT_SCHEDULE_EXPONENTIAL, .base_lr = 0.5,
                    .gamma = 0.95};
  for (uint64_t t = 0; t < 200; t += 7) expect_lr(&s, t, 0.5 * pow(0.95, t));
}

Test(schedule, cosine_is_cosineannealinglr_then_holds) {
  const double base = 0.2, lo = 0.01;
  clt_schedule s = {.kind = CLT_SCHEDULE_COSINE, .base_lr = base,
                    .total_steps = 100, .min_lr = lo};
  for (uint64_t t = 0; t < 100; t++)
    expect_lr(&s, t, lo + (base - lo) * (1 + cos(acos(-1.0) * t / 100)) / 2);
  expect_lr(&s, 50, (base + lo) / 2);
  expect_lr(&s, 100, lo);
  expect_lr(&s, 1000, lo);
}

/* Goyal et al.: the rate climbs linearly to base_lr over the warm-up, then
   the schedule starts from its own step 0. */
Test(schedule, linear_warmup_in_front_of_any_kind) {
  const clt_schedule_kind kinds[] = {CLT_SCHEDULE_CONSTANT, CLT_SCHEDULE_STEP,
                                     CLT_SCHEDULE_EXPONENTIAL,
                                     CLT_SCHEDULE_COSINE};
  for (size_t k = 0; k < 4; k++) {
    clt_schedule s = {.kind = kinds[k], .base_lr = 0.8, .warmup_steps = 5,
                      .step_size = 10, .gamma = 0.5, .total_steps = 105,
                      .min_lr = 0};
    for (uint64_t t = 0; t < 5; t++) expect_lr(&s, t, 0.8 * (t + 1) / 6.0);
    expect_lr(&s, 5, 0.8);
    double prev = 0;
    for (uint64_t t = 0; t <= 5; t++) {
      double lr = clt_schedule_lr(&s, t);
      cr_assert(lr > prev, "warm-up must increase");
      prev = lr;
    }
    clt_schedule plain = s;
    plain.warmup_steps = 0;
    plain.total_steps = 100;
    for (uint64_t t = 5; t < 300; t += 11)
      expect_lr(&s, t, clt_schedule_lr(&plain, t - 5));
  }
}

Test(schedule, invalid_schedules_are_nan_and_rejected) {
  clt_schedule bad[] = {
      {.kind = CLT_SCHEDULE_CONSTANT, .base_lr = -1},
      {.kind = CLT_SCHEDULE_CONSTANT, .base_lr = NAN},
      {.kind = CLT_SCHEDULE_STEP, .base_lr = 1, .step_size = 0, .gamma = 0.1},
      {.kind = CLT_SCHEDULE_STEP, .base_lr = 1, .step_size = 3, .gamma = 0},
      {.kind = CLT_SCHEDULE_EXPONENTIAL, .base_lr = 1, .gamma = INFINITY},
      {.kind = CLT_SCHEDULE_COSINE, .base_lr = 1, .total_steps = 10,
       .warmup_steps = 10},
      {.kind = CLT_SCHEDULE_COSINE, .base_lr = 1, .total_steps = 10,
       .min_lr = -0.1},
      {.kind = (clt_schedule_kind)9, .base_lr = 1},
      /* warm-up divides by warmup_steps + 1 */
      {.kind = CLT_SCHEDULE_CONSTANT, .base_lr = 1, .warmup_steps = UINT64_MAX},
  };
  clt_context *ctx = tu_context("ref");
  clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_SGD);
  clt_optimizer *opt = NULL;
  cr_assert_eq(clt_optimizer_create(ctx, &d, &opt), CLT_OK);
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    cr_assert(isnan(clt_schedule_lr(&bad[k], 3)), "case %zu", k);
    cr_assert_eq(clt_optimizer_apply_schedule(opt, &bad[k], 3),
                 CLT_ERR_INVALID_ARG, "case %zu", k);
    cr_assert_eq(clt_optimizer_desc(opt)->lr, d.lr, "lr changed");
  }
  cr_assert(isnan(clt_schedule_lr(NULL, 0)));
  cr_assert_eq(clt_optimizer_apply_schedule(opt, NULL, 0), CLT_ERR_INVALID_ARG);
  /* A finite schedule whose value overflows float is refused too. */
  clt_schedule huge = {.kind = CLT_SCHEDULE_EXPONENTIAL, .base_lr = 1,
                       .gamma = 10};
  cr_assert_eq(clt_optimizer_apply_schedule(opt, &huge, 100),
               CLT_ERR_INVALID_ARG);
  clt_optimizer_destroy(opt);
  clt_context_destroy(ctx);
}

/* Applying a schedule each step changes only a kernel argument: the
   updates follow the schedule and no OpenCL object is created. */
Test(schedule, drives_an_optimizer_without_rebuilding) {
  const char *specs[2];
  size_t nd = tu_devices(specs);
  enum { N = 33 };
  float p0[N], g[N];
  tu_fill_uniform(p0, N, 1, -1, 1);
  tu_fill_uniform(g, N, 2, -1, 1);
  clt_schedule s = {.kind = CLT_SCHEDULE_COSINE, .base_lr = 0.5,
                    .warmup_steps = 3, .total_steps = 12, .min_lr = 0.05};
  for (size_t k = 0; k < nd; k++) {
    clt_context *ctx = tu_context(specs[k]);
    clt_optim_desc d = clt_optim_defaults(CLT_OPTIM_SGD);
    clt_optimizer *opt = NULL;
    cr_assert_eq(clt_optimizer_create(ctx, &d, &opt), CLT_OK);
    clt_tensor *p = tu_tensor(ctx, 1, N, p0), *gt = tu_tensor(ctx, 1, N, g);
    cr_assert_eq(clt_optimizer_step(opt, p, gt), CLT_OK); /* warm caches */
    float *before = tu_read(p);
    long live = tu_live_objects();
#if CLT_HAVE_OPENCL
    void *program = clt_context_is_reference(ctx) ? NULL : clt_cl_of(ctx)->program;
#endif
    for (uint64_t t = 0; t < 15; t++) {
      cr_assert_eq(clt_optimizer_apply_schedule(opt, &s, t), CLT_OK);
      cr_assert_eq(clt_optimizer_desc(opt)->lr, (float)clt_schedule_lr(&s, t));
      cr_assert_eq(clt_optimizer_step(opt, p, gt), CLT_OK);
    }
    cr_assert_eq(tu_live_objects(), live, "a schedule created objects");
#if CLT_HAVE_OPENCL
    if (!clt_context_is_reference(ctx)) cr_assert_eq(clt_cl_of(ctx)->program, program);
#endif
    /* Plain SGD: p = p_before - (sum of the rates) g. */
    double sum = 0;
    for (uint64_t t = 0; t < 15; t++) sum += (float)clt_schedule_lr(&s, t);
    float *after = tu_read(p);
    for (size_t i = 0; i < N; i++)
      cr_assert(fabs(after[i] - (before[i] - sum * g[i])) <= 1e-5,
                "%s [%zu]: %g vs %g", specs[k], i, after[i],
                before[i] - sum * g[i]);
    free(before);
    free(after);
    clt_tensor_destroy(p);
    clt_tensor_destroy(gt);
    clt_optimizer_destroy(opt);
    clt_context_destroy(ctx);
  }
}
