/* Reader for the PyTorch golden data in tests/golden/ (*.txt.gz) and the
   input generators that reproduce the inputs PyTorch saw.

   The files are written by tests/golden/gen_golden.py (its docstring is the
   authoritative description of the format, the cases and the rules below).
   Each file holds cases; a case has a name, numeric params (keys equal to the
   clt_loss_desc / clt_optim_desc field names plus kind, n, c, d, seed, steps,
   size, reduction, scores_rule, target_rule, ignore_every, l1, l2) and named
   double arrays (row-major, rows x cols).

   The reader never prints and never exits; every function tolerates NULL
   arguments (returning NULL / 0 / the default). A malformed or truncated
   file makes golden_load return NULL. */
#ifndef CLT_GOLDEN_H
#define CLT_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- reader */

typedef struct golden_set golden_set;
typedef struct golden_case golden_case;
typedef struct golden_array {
  const char *name;
  size_t rows, cols;
  const double *data; /* rows * cols values, row-major */
} golden_array;

golden_set *golden_load(const char *path); /* NULL on any error */
void golden_free(golden_set *);
size_t golden_count(const golden_set *);
const golden_case *golden_at(const golden_set *, size_t index); /* NULL if out of range */
const golden_case *golden_find(const golden_set *, const char *name);
const char *golden_case_name(const golden_case *);
int golden_has_param(const golden_case *, const char *key);
double golden_param(const golden_case *, const char *key, double dflt);
const golden_array *golden_array_get(const golden_case *, const char *name); /* NULL if absent */
size_t golden_array_count(const golden_case *);
const golden_array *golden_array_at(const golden_case *, size_t index);

/* ------------------------------------------------------------ generators */

/* splitmix64(x) = mix(x + 0x9E3779B97F4A7C15) with the usual mix
   (z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
   z *= 0x94D049BB133111EB; z ^= z >> 31), all modulo 2^64.
   golden_uniform(seed, i) = (splitmix64(seed * 0x9E3779B97F4A7C15 + i) >> 40)
                             / 2^23 - 1
   : a value in [-1, 1) with 24 significant bits, exact in float32.
   Written u(seed, i) below. */
double golden_uniform(uint64_t seed, uint64_t i);

/* (double)(float)x: every generated input is rounded to float32, so writing
   it to a float32 tensor loses nothing. */
double golden_round_f32(double x);
/* dst[k] = (float)src[k] */
void golden_to_float(const double *src, float *dst, size_t n);
/* out[i] = f32(scale * u(seed, i)), i = 0 .. n-1 */
void golden_fill_uniform(double *out, size_t n, uint64_t seed, double scale);

/* All the case helpers below return 0 on success and -1 when an argument is
   NULL or the case lacks a param the rule needs (or has an unknown rule).
   They read n, c, d, size and seed from the case; i is the row-major
   index, r the row, j the column.

   Loss cases (S is n x c):
     scores_rule 0: S[i] = 4 u(seed, i)
     scores_rule 1: S[r,j] = 4 u(seed, r)          (each row constant)
     scores_rule 2: S[i] = u(seed, i) >= 0 ? 1e4 : -1e4
     scores_rule 3: rule 0, then S[r, y[r]] = -1e4 for even r with
                    0 <= y[r] < c (y from the label rule below)
     labels (target_rule 0):
       y[r] = min(c-1, floor((u(seed+1, r) + 1) / 2 * c)); then, when
       ignore_every = k > 0, y[r] = ignore_index for r % k == k - 1
     target_rule 1: T[r,j] = f32(softmax_j x[r,:]), x[r,j] = 2 u(seed+1, r*c+j),
                    in double: m = max x, e = exp(x - m), s = sum e (j
                    ascending), T = e / s
     target_rule 2: T[r,j] = f32((x[r,j] - m) - log(s))  (log-probabilities)
     target_rule 3: T[i] = (u(seed+1, i) + 1) / 2      (bce targets in [0,1))
     target_rule 4: T[i] = 4 u(seed+1, i)              (regression targets)
     class weights: w[j]  = f32(1.5 + u(seed+2, j))    (c values)
     pos_weight:    pw[j] = f32(1.5 + u(seed+3, j))    (c values, a 1 x c row) */
int golden_loss_scores(const golden_case *, double *S);
int golden_loss_labels(const golden_case *, int32_t *y);  /* n labels; target_rule 0 */
int golden_loss_target(const golden_case *, double *T);   /* n*c; target_rule 1..4 */
int golden_loss_class_weight(const golden_case *, double *w);
int golden_loss_pos_weight(const golden_case *, double *pw);

/* Regularization cases (W is d x c): W[i] = (i % 5 == 4) ? 0 : u(seed, i). */
int golden_reg_weights(const golden_case *, double *W);

/* Linear cases: X[i] = u(seed, i) (n x d), W[i] = 0.5 u(seed+1, i) (d x c),
   b[j] = u(seed+2, j) (c), dS[i] = u(seed+3, i) (n x c). Any output pointer
   may be NULL to skip that array. */
int golden_linear_inputs(const golden_case *, double *X, double *W, double *b,
                         double *dS);

/* Optimizer cases: initial param w[i] = u(seed, i) (size values); gradient
   at step t = 1 .. steps: g[i] = 0.5 u(seed+t, i). Stored arrays param_T
   and STATE_T hold the values after step T. */
int golden_optim_init(const golden_case *, double *w);
int golden_optim_grad(const golden_case *, unsigned step, double *g);

#ifdef __cplusplus
}
#endif

#endif
