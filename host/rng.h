/* The library's one random stream: splitmix64 (Steele, Lea and Flood 2014),
   seeded explicitly everywhere so that runs are reproducible, with uniform
   and Box-Muller normal draws on top. Never rand(). */
#ifndef CLT_RNG_H
#define CLT_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t clt_splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

typedef struct clt_rng {
  uint64_t s;
  int has_spare;
  double spare;
} clt_rng;

/* Uniform in [0, 1), 53 bits. */
static inline double clt_rng_uniform(clt_rng *r) {
  return (double)(clt_splitmix64(&r->s) >> 11) * 0x1.0p-53;
}

/* Standard normal; draws come in pairs (Box-Muller). */
static inline double clt_rng_normal(clt_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  const double two_pi = 6.283185307179586476925286766559;
  double u1 = 1.0 - clt_rng_uniform(r); /* (0, 1] */
  double u2 = clt_rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1));
  r->spare = rad * sin(two_pi * u2);
  r->has_spare = 1;
  return rad * cos(two_pi * u2);
}

#endif
