/* Every kernel of the files in kernels/, listed once: launches name a
   kernel by its clt_kid (CLT_K_<name> for the kernel clt_<name>), never by
   a string.
   Families chosen by index are contiguous: the class-block widths 1..8 of
   linear_fwd, linear_dw and step, and each optimizer pass followed by its
   bound-checked _tail variant. test_context checks that this list and the
   kernels of the built program are the same set. */
#ifndef CLT_CL_KERNELS_H
#define CLT_CL_KERNELS_H

#define CLT_CL_WIDTHS(X, family)                                              \
  X(family##_c1) X(family##_c2) X(family##_c3) X(family##_c4)                 \
  X(family##_c5) X(family##_c6) X(family##_c7) X(family##_c8)
#define CLT_CL_PASS(X, pass) X(pass) X(pass##_tail)

#define CLT_CL_KERNELS(X)                                                     \
  X(reduce_sum) X(gather_rows) X(check_index)                                 \
  CLT_CL_WIDTHS(X, linear_fwd) CLT_CL_WIDTHS(X, linear_dw)                    \
  X(linear_dw_wide) X(linear_transpose) X(linear_dx) X(linear_colsum)         \
  X(linear_bias_rows)                                                         \
  X(loss_check) X(loss_finish) X(loss_ce) X(loss_ce_soft) X(loss_hinge)       \
  X(loss_ce_lanes) X(loss_ce_soft_lanes) X(loss_hinge_lanes) X(loss_bce)      \
  X(loss_mse) X(loss_l1) X(loss_huber) X(loss_kl)                             \
  CLT_CL_PASS(X, optim_sgd) CLT_CL_PASS(X, optim_sgd_momentum)                \
  CLT_CL_PASS(X, optim_sgd_nesterov) CLT_CL_PASS(X, optim_adagrad)            \
  CLT_CL_PASS(X, optim_rmsprop) CLT_CL_PASS(X, optim_rmsprop_momentum)        \
  CLT_CL_PASS(X, optim_rmsprop_centered)                                      \
  CLT_CL_PASS(X, optim_rmsprop_centered_momentum)                             \
  CLT_CL_PASS(X, optim_adadelta) CLT_CL_PASS(X, optim_adam)                   \
  CLT_CL_PASS(X, optim_adam_amsgrad) CLT_CL_PASS(X, optim_adamax)             \
  CLT_CL_PASS(X, optim_nadam) CLT_CL_PASS(X, optim_radam)                     \
  CLT_CL_PASS(X, optim_radam_unrectified) CLT_CL_PASS(X, optim_lamb_apply)    \
  X(optim_gradstat) X(optim_gradstat_param) X(optim_lamb_moments)             \
  X(optim_stats) X(optim_ratios)                                              \
  X(argmax) X(accuracy_count) X(accuracy_total) X(regularize)                 \
  X(csr_fwd) X(csr_loss) X(csr_dw) X(csr_sgd) X(scale) X(csr_gather)          \
  X(step_prep) CLT_CL_WIDTHS(X, step) X(step_finish)                         \
  X(gstep_check) X(gstep_rows) X(gstep_dw) X(gstep_reduce) X(gstep_total)    \
  X(linear_fwd_rows) X(linear_dw_rows)

typedef enum clt_kid {
#define CLT_CL_KID(name) CLT_K_##name,
  CLT_CL_KERNELS(CLT_CL_KID)
#undef CLT_CL_KID
  CLT_K_COUNT
} clt_kid;

/* "clt_<name>" of each kernel, indexed by clt_kid (host/cl/cl_core.c). */
extern const char *const clt_cl_kernel_names[CLT_K_COUNT];

#endif /* CLT_CL_KERNELS_H */
