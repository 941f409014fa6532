/* Learning-rate schedules, evaluated on the host in double per step: the
   value reaches the device only as a kernel argument. Closed forms of
   PyTorch's StepLR, ExponentialLR and CosineAnnealingLR after an optional
   linear warm-up (Goyal et al. 2017, "Accurate, Large Minibatch SGD"). */
#include <math.h>
#include <stdio.h>

#include "optim_impl.h"

/* NULL when s is valid, else what is wrong with it. */
static const char *schedule_problem(const clt_schedule *s) {
  if (!s) return "schedule is NULL";
  if (s->warmup_steps == UINT64_MAX) return "warmup_steps must be below 2^64 - 1";
  if (!isfinite(s->base_lr) || s->base_lr < 0)
    return "base_lr must be finite and >= 0";
  switch (s->kind) {
  case CLT_SCHEDULE_CONSTANT:
    return NULL;
  case CLT_SCHEDULE_STEP:
  case CLT_SCHEDULE_EXPONENTIAL:
    if (s->kind == CLT_SCHEDULE_STEP && s->step_size == 0)
      return "step_size must be >= 1";
    return isfinite(s->gamma) && s->gamma > 0 ? NULL
                                              : "gamma must be finite and > 0";
  case CLT_SCHEDULE_COSINE:
    if (s->total_steps <= s->warmup_steps)
      return "total_steps must exceed warmup_steps";
    return isfinite(s->min_lr) && s->min_lr >= 0
               ? NULL
               : "min_lr must be finite and >= 0";
  }
  return "unknown kind";
}

double clt_schedule_lr(const clt_schedule *s, uint64_t step) {
  if (schedule_problem(s)) return NAN;
  const uint64_t w = s->warmup_steps;
  if (step < w) return s->base_lr * (double)(step + 1) / (double)(w + 1);
  const uint64_t t = step - w;
  switch (s->kind) {
  case CLT_SCHEDULE_STEP:
    return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
  case CLT_SCHEDULE_EXPONENTIAL:
    return s->base_lr * pow(s->gamma, (double)t);
  case CLT_SCHEDULE_COSINE: {
    const uint64_t horizon = s->total_steps - w;
    if (t >= horizon) return s->min_lr;
    return s->min_lr + (s->base_lr - s->min_lr) *
                           (1.0 + cos(3.14159265358979323846 * (double)t / (double)horizon)) /
                           2.0;
  }
  case CLT_SCHEDULE_CONSTANT:
    return s->base_lr;
  }
  return NAN; /* not reached: schedule_problem refuses other kinds */
}

clt_status clt_optimizer_apply_schedule(clt_optimizer *opt,
                                        const clt_schedule *schedule,
                                        uint64_t step) {
  if (!opt) return CLT_ERR_INVALID_ARG;
  const char *problem = schedule_problem(schedule);
  if (problem)
    return clt_fail(opt->ctx, CLT_ERR_INVALID_ARG,
                    "optimizer_apply_schedule: %s", problem);
  return clt_optimizer_set_lr(opt, clt_schedule_lr(schedule, step));
}
