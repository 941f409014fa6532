#include "benchutil.h"
#include "fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bu_parse(int argc, char **argv, const char *summary, bu_opts *o) {
  *o = (bu_opts){0, NULL, 0, NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
    } else if (strcmp(a, "--json") == 0 && has_value) {
      o->json = argv[++i];
    } else if (strcmp(a, "--device") == 0 && has_value) {
      o->device = argv[++i];
    } else if (strcmp(a, "--reps") == 0 && has_value) {
      char *end;
      errno = 0;
      long v = strtol(argv[++i], &end, 10);
      if (errno || *end || v < 1 || v > 1000) {
        fprintf(stderr, "%s: --reps wants an integer in [1, 1000], got '%s'\n",
                argv[0], argv[i]);
        return 2;
      }
      o->reps = (int)v;
    } else {
      int help = strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
      FILE *f = help ? stdout : stderr;
      if (!help)
        fprintf(f, "%s: unknown flag or missing value: '%s'\n", argv[0], a);
      fprintf(f,
              "usage: %s [--quick] [--json FILE] [--reps N] [--device NAME]\n"
              "%s\n",
              argv[0], summary);
      return help ? 0 : 2;
    }
  }
  if (!o->reps) o->reps = o->quick ? 5 : 7;
  return -1;
}

double bu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

bu_stats bu_summarize(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return (bu_stats){med, v[0], v[n - 1]};
}

int bu_time(bu_fn fn, void *arg, int warmup, int reps, double *times) {
  for (int i = 0; i < warmup; i++) {
    int rc = fn(arg);
    if (rc) return rc;
  }
  for (int i = 0; i < reps; i++) {
    double t0 = bu_now();
    int rc = fn(arg);
    if (rc) return rc;
    times[i] = bu_now() - t0;
  }
  return 0;
}

typedef struct stored_rec {
  bu_rec rec; /* strings owned */
  const char *unit;
  int reps;
  bu_stats time, rate;
} stored_rec;

typedef struct note {
  char *key, *value;
} note;

struct bu_report {
  char *program;
  bu_opts opts;
  stored_rec *recs;
  size_t nrecs, cap;
  note *notes;
  size_t nnotes;
  int header_printed;
};

bu_report *bu_report_create(const char *program, const bu_opts *o) {
  bu_report *r = calloc(1, sizeof *r);
  if (r) r->program = strdup(program);
  if (!r || !r->program) {
    free(r);
    fprintf(stderr, "%s: out of memory\n", program);
    return NULL;
  }
  r->opts = *o;
  /* The machine is shared: say how busy it was. */
  FILE *f = fopen("/proc/loadavg", "r");
  char load[64];
  if (f && fgets(load, sizeof load, f)) {
    load[strcspn(load, "\n")] = '\0';
    bu_note(r, "loadavg_at_start", "%s", load);
  }
  if (f) fclose(f);
  return r;
}

static const char *unit_of(const bu_rec *rec, double *work) {
  if (rec->bytes > 0) return *work = rec->bytes * 1e-9, "GB/s";
  if (rec->flops > 0) return *work = rec->flops * 1e-9, "GFLOP/s";
  if (rec->samples > 0) return *work = rec->samples, "samples/s";
  return *work = 0, "s";
}

/* "n=16384 d=3072 c=10", sizes that are whole mebi/kibi-units shortened. */
static void format_params(const bu_rec *rec, char *buf, size_t len) {
  const char *names[] = {"n", "d", "c", "elems", "batch"};
  long long vals[] = {rec->n, rec->d, rec->c, rec->elems, rec->batch};
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < 5 && used < len; i++) {
    long long v = vals[i];
    if (!v) continue;
    const char *sep = used ? " " : "";
    if (v >= 1048576 && v % 1048576 == 0)
      used += (size_t)snprintf(buf + used, len - used, "%s%s=%lldM", sep,
                               names[i], v / 1048576);
    else
      used += (size_t)snprintf(buf + used, len - used, "%s%s=%lld", sep,
                               names[i], v);
  }
}

static char *dup_or_null(const char *s, int *fail) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *fail = 1;
  return d;
}

int bu_add(bu_report *r, const bu_rec *rec, const double *times, int reps) {
  if (r->nrecs == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 32;
    stored_rec *p = realloc(r->recs, cap * sizeof *p);
    if (!p) return 1;
    r->recs = p;
    r->cap = cap;
  }
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) return 1;
  memcpy(t, times, (size_t)reps * sizeof *t);
  stored_rec s = {.rec = *rec, .reps = reps};
  s.time = bu_summarize(t, reps);
  free(t);
  double work;
  s.unit = unit_of(rec, &work);
  s.rate = work > 0 ? (bu_stats){work / s.time.median, work / s.time.max,
                                 work / s.time.min}
                    : s.time;
  int fail = 0;
  s.rec.suite = dup_or_null(rec->suite, &fail);
  s.rec.op = dup_or_null(rec->op, &fail);
  s.rec.impl = dup_or_null(rec->impl, &fail);
  s.rec.floor = dup_or_null(rec->floor, &fail);
  if (fail) {
    free((char *)s.rec.suite), free((char *)s.rec.op);
    free((char *)s.rec.impl), free((char *)s.rec.floor);
    return 1;
  }
  r->recs[r->nrecs++] = s;

  if (!r->header_printed) {
    printf("%-8s %-21s %-18s %-30s %10s  %-21s %s\n", "suite", "op", "impl",
           "params", "median", "[min .. max]", "unit");
    r->header_printed = 1;
  }
  char params[128];
  format_params(rec, params, sizeof params);
  printf("%-8s %-21s %-18s %-30s %10.4g  [%8.4g .. %8.4g] %s\n", rec->suite,
         rec->op, rec->impl, params, s.rate.median, s.rate.min, s.rate.max,
         s.unit);
  fflush(stdout);
  return 0;
}

int bu_note(bu_report *r, const char *key, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  note *p = realloc(r->notes, (r->nnotes + 1) * sizeof *p);
  if (!p) return 1;
  r->notes = p;
  note n = {strdup(key), strdup(buf)};
  if (!n.key || !n.value) {
    free(n.key), free(n.value);
    return 1;
  }
  r->notes[r->nnotes++] = n;
  printf("# %s: %s\n", key, buf);
  return 0;
}

static void json_record(FILE *f, const stored_rec *s) {
  const bu_rec *r = &s->rec;
  fprintf(f, "{\"suite\": ");
  clt_json_string(f, r->suite);
  fprintf(f, ", \"op\": ");
  clt_json_string(f, r->op);
  fprintf(f, ", \"impl\": ");
  clt_json_string(f, r->impl);
  fprintf(f, ", \"unit\": \"%s\"", s->unit);
  const char *names[] = {"n", "d", "c", "elems", "batch"};
  long long vals[] = {r->n, r->d, r->c, r->elems, r->batch};
  for (int i = 0; i < 5; i++)
    if (vals[i]) fprintf(f, ", \"%s\": %lld", names[i], vals[i]);
  if (r->bytes > 0) fprintf(f, ", \"bytes\": %.17g", r->bytes);
  if (r->flops > 0) fprintf(f, ", \"flops\": %.17g", r->flops);
  if (r->samples > 0) fprintf(f, ", \"samples\": %.17g", r->samples);
  if (r->floor) {
    fprintf(f, ", \"floor\": ");
    clt_json_string(f, r->floor);
  }
  fprintf(f,
          ", \"reps\": %d, \"median\": %.6g, \"min\": %.6g, \"max\": %.6g"
          ", \"time_median_s\": %.6g, \"time_min_s\": %.6g"
          ", \"time_max_s\": %.6g}",
          s->reps, s->rate.median, s->rate.min, s->rate.max, s->time.median,
          s->time.min, s->time.max);
}

static int write_json(const bu_report *r) {
  FILE *f = fopen(r->opts.json, "w");
  if (!f) {
    fprintf(stderr, "%s: cannot write %s: %s\n", r->program, r->opts.json,
            strerror(errno));
    return 1;
  }
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  fprintf(f, "{\"program\": ");
  clt_json_string(f, r->program);
  fprintf(f, ", \"quick\": %s, \"date\": \"%s\",\n \"notes\": {",
          r->opts.quick ? "true" : "false", date);
  for (size_t i = 0; i < r->nnotes; i++) {
    fprintf(f, "%s\n  ", i ? "," : "");
    clt_json_string(f, r->notes[i].key);
    fprintf(f, ": ");
    clt_json_string(f, r->notes[i].value);
  }
  fprintf(f, "},\n \"records\": [");
  for (size_t i = 0; i < r->nrecs; i++) {
    fprintf(f, "%s\n  ", i ? "," : "");
    json_record(f, &r->recs[i]);
  }
  fprintf(f, "\n ]}\n");
  int bad = ferror(f);
  if (fclose(f) || bad) {
    fprintf(stderr, "%s: error writing %s\n", r->program, r->opts.json);
    return 1;
  }
  return 0;
}

int bu_report_finish(bu_report *r) {
  int rc = r->opts.json ? write_json(r) : 0;
  for (size_t i = 0; i < r->nrecs; i++) {
    bu_rec *x = &r->recs[i].rec;
    free((char *)x->suite), free((char *)x->op);
    free((char *)x->impl), free((char *)x->floor);
  }
  for (size_t i = 0; i < r->nnotes; i++)
    free(r->notes[i].key), free(r->notes[i].value);
  free(r->recs);
  free(r->notes);
  free(r->program);
  free(r);
  return rc;
}
