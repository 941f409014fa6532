/* Optimizers: the state shared by the front end (host/optim.c), the
   checkpoint code (host/optim_io.c) and the two backends
   (host/ref/ref_optim.c, host/cl/cl_optim.c). */
#ifndef CLT_OPTIM_IMPL_H
#define CLT_OPTIM_IMPL_H

#include "backend.h"
#include "contract.h"

/* Tensors of a group start at multiples of CLT_OPT_UNIT elements in the
   flat buffers, so that every work-group of an update (at most this wide)
   lies in one tensor and reads that tensor's options as a uniform value.
   The kernels get one word per unit (layout and the per-tensor option bits
   CLT_OPT_NO_WD, CLT_OPT_NO_TRUST: kernels/contract.h); the elements of a
   unit past its tensor are padding, which the reductions skip and nothing
   but the updates reads. */
#define CLT_OPT_MAX_SEGS (1u << 20)
#define CLT_OPT_MAX_STATES 3

typedef struct clt_opt_seg {
  size_t rows, cols;
  size_t offset;  /* first element in the entry's flat buffers */
  uint32_t flags; /* CLT_OPT_NO_WD | CLT_OPT_NO_TRUST */
} clt_opt_seg;

typedef struct clt_opt_cl clt_opt_cl; /* host/cl/cl_optim.c */

/* A unit of update: one tensor stepped with clt_optimizer_step, or one group
   of clt_optimizer_add_group. Either way one step is one launch over n
   elements of param (and grad), state[k] being 1 x n. */
typedef struct clt_opt_entry {
  bool group;
  size_t nseg;
  clt_opt_seg *segs;
  clt_tensor *param; /* the user's tensor (a handle of ours on its memory),
                        or the group's flat 1 x n parameters */
  clt_tensor *grad;  /* the group's flat gradients; NULL for a tensor */
  size_t n;
  clt_tensor *state[CLT_OPT_MAX_STATES]; /* NULL where not kept */
  uint64_t steps, skipped;
  double mu_product;  /* NAdam */
  bool awaiting;      /* a guarded step's outcome is still on the device */
  double pending_mu;  /* NAdam: mu of that step */
  double last_norm;   /* NaN until a step computes it */
  clt_opt_cl *cl;
} clt_opt_entry;

struct clt_optimizer {
  clt_context *ctx;
  clt_optim_desc desc;
  clt_opt_entry **entries;
  size_t nentries, cap;
  clt_opt_entry *last; /* entry of the most recent step */
};

/* Everything a step needs besides the tensors, computed on the host in
   double (the OpenCL backend rounds to float kernel arguments). Fields a
   kind does not use are 0. */
typedef struct clt_opt_scalars {
  double lr, sgn;   /* sgn -1 with maximize */
  double wd;        /* coupled decay: g += wd p */
  double decay;     /* decoupled decay: p *= decay (1 - lr wd), else 1 */
  double momentum, damp1; /* sgd/lars: 1 - dampening */
  int nesterov, first;
  double beta1, beta2, eps;
  double bc1, bc2, bc2_sqrt, step_size; /* adam family: lr / bc1 */
  double clr;                           /* adagrad, adamax */
  double alpha, rho;
  double c_grad, c_avg;   /* nadam */
  int rect_on;            /* radam */
  double rect;
  double eta, lamb_wd;    /* lars; lamb's wd inside u */
  double max_norm;        /* 0: no clipping */
  int guard;
} clt_opt_scalars;

/* Name of state slot k for desc (PyTorch's state-dict key) or NULL when
   desc keeps no such buffer. */
const char *clt_opt_state_name(const clt_optim_desc *desc, int slot);
/* Whether the step needs the gradient-statistics pass (norm, guard). */
bool clt_opt_needs_stats(const clt_optim_desc *desc);

/* Books the outcome of e's last step if the device still holds it (counts,
   mu product, norm): waits for it when wait or when the counts depend on it
   (the non-finite guard). */
clt_status clt_opt_settle(clt_optimizer *opt, clt_opt_entry *e, bool wait);
/* The entry owning param: a registered tensor or a group member (*seg set
   to its segment). NULL when the optimizer does not own it. */
clt_opt_entry *clt_opt_find(const clt_optimizer *opt, const clt_tensor *param,
                            size_t *seg);
/* Creates e's zeroed (Adagrad: initial_accumulator_value) state tensors
   for desc into state[]; on failure nothing is left allocated. */
clt_status clt_opt_alloc_state(clt_optimizer *opt, const clt_opt_entry *e,
                               const clt_optim_desc *desc,
                               clt_tensor *state[CLT_OPT_MAX_STATES]);
clt_status clt_opt_check_desc(const clt_context *ctx,
                              const clt_optim_desc *d);

/* A tensor struct for elements [offset, offset + rows*cols) of t's memory
   (no reference taken: valid while t is). */
clt_tensor clt_opt_window(const clt_tensor *t, size_t offset, size_t rows,
                          size_t cols);

/* Reference backend: one synchronous step (never pending). */
clt_status clt_ref_optim_step(clt_optimizer *opt, clt_opt_entry *e,
                              const clt_tensor *grad,
                              const clt_opt_scalars *sc, clt_optim_outcome *out);

#endif
