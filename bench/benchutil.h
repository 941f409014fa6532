/* Shared pieces of the bench programs: flags, timing, statistics, and the
   records every program prints as a table and writes as JSON.

   Every bench program accepts
     --quick        a small subset (the whole of scripts/bench --quick runs in
                    under a minute)
     --json FILE    write every figure to FILE
     --reps N       timed repetitions per figure (default 7, quick 5)
     --device NAME  the cltrain device (default: CLT_DEVICE or auto)

   JSON written by bu_report_finish (scripts/bench merges these files):
     {"program": "bench_floors", "quick": false, "date": "...",
      "notes": {"key": "value", ...},
      "records": [{"suite": "floors", "op": "copy", "impl": "openmp",
                   "unit": "GB/s", "elems": 67108864, "bytes": 536870912,
                   "floor": "copy", "reps": 7, "median": 41.2, "min": 38.0,
                   "max": 44.9, "time_median_s": 0.013, ...}, ...]}
   A record's figure is work per repetition (bytes, flops or samples) over
   the measured time: median over the repetitions, min and max the spread.
   "floor" names the floors-suite op the figure is a fraction of (scripts/bench
   divides by the best floor of that name); records that share suite-
   independent (op, n, d, c, elems, batch) and differ in impl are compared as
   ours/peer, where ours is any impl starting with "cltrain".

   Names that make the comparisons line up (peers.py and bench_floors use
   them; floors: copy, triad, axpy, sum in GB/s, sgemm in GFLOP/s):
     linear_forward, linear_backward  n d c, flops 2NDC, floor "sgemm"
                                      (OpenBLAS at the same shapes: floors)
     <optimizer> (sgd, momentum, adam, adamw, adagrad, rmsprop, adadelta,
                  adamax, nadam, radam, ...)
                                      elems, bytes the update must move
                                      (Adam 28 per parameter), floor "axpy"
     step_softmax, step_hinge         n d c, samples N, floor "step"
                                      (X read twice at the "sum" bandwidth
                                      or 4NDC FLOPs at the SGEMM rate)
     loss kernels                     n c, bytes moved, floor "copy" */
#ifndef CLT_BENCHUTIL_H
#define CLT_BENCHUTIL_H

#include <stddef.h>

typedef struct bu_opts {
  int quick;
  const char *json;   /* NULL: no JSON file */
  int reps;
  const char *device; /* NULL: CLT_DEVICE or auto */
} bu_opts;

/* Parses the common flags. Returns -1 to go on, else the exit status the
   program should return (0 after --help, 2 on bad usage, message printed). */
int bu_parse(int argc, char **argv, const char *summary, bu_opts *o);

double bu_now(void); /* monotonic seconds */

typedef struct bu_stats {
  double median, min, max;
} bu_stats;
/* Sorts v in place. */
bu_stats bu_summarize(double *v, int n);

/* Calls fn(arg) warmup times untimed, then reps times timed into times[].
   fn returns 0 on success; a failure stops the timing and is returned. */
typedef int (*bu_fn)(void *arg);
int bu_time(bu_fn fn, void *arg, int warmup, int reps, double *times);

typedef struct bu_rec {
  const char *suite, *op, *impl;
  const char *floor; /* NULL: not compared with a floor */
  long long n, d, c, elems, batch; /* 0: not a parameter of this figure */
  /* Work per repetition: exactly one of these is non-zero; it sets the unit
     (GB/s, GFLOP/s, samples/s). All zero: the figure is the time itself. */
  double bytes, flops, samples;
} bu_rec;

typedef struct bu_report bu_report;

/* NULL on allocation failure (message printed). */
bu_report *bu_report_create(const char *program, const bu_opts *o);
/* Records a figure from per-repetition times in seconds and prints its table
   row. Returns 0, or 1 on allocation failure. */
int bu_add(bu_report *r, const bu_rec *rec, const double *times, int reps);
/* A key/value shown above the table and kept in the JSON "notes". */
int bu_note(bu_report *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes the JSON file if one was asked for and frees r. Returns the exit
   status: 0, or 1 if the file could not be written. */
int bu_report_finish(bu_report *r);

#endif /* CLT_BENCHUTIL_H */
