/* Data sets named on the command line, for train and predict alike: the
   format recognised from the file (clt_data_sniff) and the flags that
   say how to read it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "data.h"
#include "internal.h"

/* What a load has read so far, shown (on a terminal at most ten times a
   second) from t0. */
typedef struct load_progress {
  const char *doing; /* "reading", "counting the rows of" */
  clt_cli_progress show;
  double t0;
  uint64_t bytes, rows;
} load_progress;

static void on_progress(void *user, const char *path, uint64_t bytes, uint64_t rows) {
  load_progress *p = user;
  if (bytes > p->bytes) p->bytes = bytes;
  if (rows > p->rows) p->rows = rows;
  double now = clt_now();
  if (!clt_cli_progress_due(&p->show, now, 0.1)) return;
  fprintf(stderr, "%s%s %s: %.1f MB", clt_cli_progress_head(&p->show), p->doing, path,
          (double)p->bytes / 1e6);
  if (p->rows) fprintf(stderr, ", %llu rows", (unsigned long long)p->rows);
  fprintf(stderr, ", %.1f MB/s%s", (double)p->bytes / 1e6 / (now - p->t0 > 0 ? now - p->t0 : 1),
          clt_cli_progress_tail(&p->show));
  fflush(stderr);
}

/* p shown, as d asks, for the reads from here to progress_end. */
static void progress_start(load_progress *p, const char *doing, const clt_cli_data *d) {
  *p = (load_progress){.doing = doing,
                       .show = {.tty = !d->quiet && isatty(STDERR_FILENO),
                                .every = d->progress_every},
                       .t0 = clt_now()};
  p->show.last = p->t0;
  clt_data_set_progress(on_progress, p);
}

static void progress_end(const load_progress *p) {
  clt_data_set_progress(NULL, NULL);
  clt_cli_progress_clear(&p->show);
}

int clt_cli_data_flag(const char *cmd, int argc, char **argv, int *i, clt_cli_data *d) {
  const char *f = argv[*i];
  if (strcmp(f, "--zero-based") == 0) {
    d->zero_based = 1;
    return 0;
  }
  bool known = strcmp(f, "--label-column") == 0 || strcmp(f, "--delimiter") == 0 ||
               strcmp(f, "--features") == 0 || strcmp(f, "--cache") == 0 ||
               strcmp(f, "--progress-every") == 0;
  if (!known) return -1;
  if (*i + 1 >= argc) {
    fprintf(stderr, "cltrain %s: %s needs a value\n", cmd, f);
    return 2;
  }
  const char *v = argv[++*i];
  if (strcmp(f, "--label-column") == 0) {
    if (!*v) {
      fprintf(stderr, "cltrain %s: --label-column '' is not valid: expected first, last or a "
                      "header's column name\n", cmd);
      return 2;
    }
    d->label_column = v;
  } else if (strcmp(f, "--delimiter") == 0) {
    char c = strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0 ? '\t' : v[0];
    if ((v[0] && v[1] && c != '\t') || !clt_data_delimiter_ok(c)) {
      fprintf(stderr, "cltrain %s: --delimiter '%s' is not valid: expected one character "
                      "that cannot be part of a number (',', ';', '|', ' ', or tab)\n",
              cmd, v);
      return 2;
    }
    d->delimiter = c;
  } else if (strcmp(f, "--cache") == 0) {
    if (!*v) {
      fprintf(stderr, "cltrain %s: --cache '' is not valid: expected a file's path\n", cmd);
      return 2;
    }
    d->cache = v;
  } else if (strcmp(f, "--progress-every") == 0) {
    char want[CLT_CLI_WANT];
    if (!clt_cli_real(v, 0, 1e9, false, &d->progress_every, want, sizeof want)) {
      fprintf(stderr, "cltrain %s: --progress-every '%s' is not valid: expected %s\n", cmd, v,
              want);
      return 2;
    }
  } else {
    unsigned long long x;
    char want[CLT_CLI_WANT];
    if (!clt_cli_uint(v, 1, (1ull << 31) - 1, &x, want, sizeof want)) {
      fprintf(stderr, "cltrain %s: --features '%s' is not valid: expected %s\n", cmd, v, want);
      return 2;
    }
    d->features = (size_t)x;
  }
  return 0;
}

static const char *format_name(clt_data_format f) {
  switch (f) {
  case CLT_FORMAT_IDX_DIR: return "an IDX directory";
  case CLT_FORMAT_IDX_FILE: return "an IDX file";
  case CLT_FORMAT_NPY: return ".npy";
  case CLT_FORMAT_SVMLIGHT: return "svmlight";
  default: return "delimited text";
  }
}

/* How svmlight --data is read: with d's width and base, or like's (a
   training set's) when given. */
static clt_svmlight_options svmlight_options(const clt_cli_data *d, const clt_dataset *like) {
  return (clt_svmlight_options){
      .features = like ? like->d : d->features,
      .zero_based = like && like->svmlight_base ? like->svmlight_base == '0' : d->zero_based};
}

/* How delimited text is read: d's label column and delimiter. */
static clt_text_options text_options(const clt_cli_data *d) {
  clt_text_options o = {.delimiter = d->delimiter, .label = CLT_LABEL_FIRST};
  const char *lc = d->label_column;
  if (d->no_labels) o.label = CLT_LABEL_NONE;
  else if (!lc || strcmp(lc, "first") == 0) o.label = CLT_LABEL_FIRST;
  else if (strcmp(lc, "last") == 0) o.label = CLT_LABEL_LAST;
  else o.label = CLT_LABEL_NAMED, o.label_name = lc;
  return o;
}

bool clt_cli_count_rows(const char *path, const clt_cli_data *read, size_t *n) {
  const clt_svmlight_options o = svmlight_options(read, NULL);
  if (read->cache && clt_data_svmlight_cache_rows(read->cache, path, &o, n)) return true;
  char dir[4096];
  size_t d;
  bool known = false;
  if (strcmp(path, "fashion-mnist") == 0) {
    if (clt_data_find_fashion_mnist(dir, sizeof dir) != CLT_OK) return false;
    path = dir;
  }
  if (clt_data_shape(path, 0, n, &d, &known) != CLT_OK) return false;
  clt_data_format fmt;
  const clt_text_options text = text_options(read);
  if (!known && clt_data_sniff(path, &fmt) == CLT_OK &&
      (fmt == CLT_FORMAT_TEXT || fmt == CLT_FORMAT_SVMLIGHT)) {
    load_progress lp;
    progress_start(&lp, "counting the rows of", read);
    known = clt_data_count_rows(path, fmt, &text, n) == CLT_OK;
    progress_end(&lp);
  }
  return known;
}

int clt_cli_load(const char *cmd, const char *flag, const char *path, const char *labels,
                 const clt_cli_data *d, const clt_dataset *like, int idx_split,
                 clt_data_rows keep, clt_dataset *out, float *scale) {
  char dir[4096], prefix[64];
  clt_data_format fmt = CLT_FORMAT_IDX_DIR;
  clt_status st = CLT_OK;
  snprintf(prefix, sizeof prefix, "%s ", flag);
  *scale = 1.0f;
  if (strcmp(path, "fashion-mnist") == 0)
    st = clt_data_find_fashion_mnist(dir, sizeof dir);
  else if ((st = clt_data_sniff(path, &fmt)) == CLT_OK)
    snprintf(dir, sizeof dir, "%s", path);
  if (st != CLT_OK) return clt_cli_failed(cmd, prefix, st);
  /* Flags that the format has no use for are refused, not ignored. */
  const bool cached = d->cache && strcmp(flag, "--data") == 0;
  const char *unused = labels && fmt != CLT_FORMAT_NPY ? "a labels file"
                       : cached && fmt != CLT_FORMAT_SVMLIGHT ? "--cache"
                       : (d->label_column || d->delimiter) && fmt != CLT_FORMAT_TEXT
                           ? "--label-column and --delimiter"
                       : d->zero_based == 1 && fmt != CLT_FORMAT_SVMLIGHT ? "--zero-based"
                       : d->features && fmt != CLT_FORMAT_SVMLIGHT        ? "--features"
                                                                           : NULL;
  if (unused) {
    fprintf(stderr, "cltrain %s: %s%s is %s data: %s applies to other formats\n", cmd,
            prefix, path, format_name(fmt), unused);
    return 2;
  }
  char format_note[4200] = ""; /* after the format's name in the line below */
  load_progress lp;
  progress_start(&lp, "reading", d);
  switch (fmt) {
  case CLT_FORMAT_IDX_DIR:
    st = clt_data_load_idx_dir_rows(dir, idx_split, keep, out);
    *scale = 1.0f / 255.0f;
    break;
  case CLT_FORMAT_IDX_FILE:
    progress_end(&lp);
    fprintf(stderr, "cltrain %s: %s%s is one IDX file: name the directory that holds the "
                    "images and labels files\n", cmd, prefix, path);
    return 2;
  case CLT_FORMAT_NPY:
    st = clt_data_load_npy_rows(path, labels, keep, out);
    break;
  case CLT_FORMAT_SVMLIGHT: {
    /* Read as the training set was: its width and index base. */
    const clt_svmlight_options o = svmlight_options(d, like);
    if (!cached) {
      st = clt_data_load_svmlight_rows(path, &o, keep, out);
      break;
    }
    clt_cache_use use = CLT_CACHE_MAPPED;
    char why[4200] = "";
    bool found = false;
    if (d->cache_unwritten &&
        clt_data_svmlight_cache_load(d->cache, path, &o, keep, out, &found) == CLT_OK) {
      /* none yet, or another version: the writer parses the file */
      if (!found) st = clt_data_load_svmlight_rows(path, &o, keep, out);
    } else {
      /* the writer; or another rank whose rows of the cache are damaged
         (the writer checks its own only): parsed, and the cache written
         over */
      st = clt_data_load_svmlight_cached(path, &o, d->cache, keep, out, &use, why, sizeof why);
      found = use == CLT_CACHE_MAPPED;
    }
    if (st == CLT_OK && why[0])
      fprintf(stderr, "cltrain %s: warning: --cache %s %s: %s\n", cmd, d->cache,
              use == CLT_CACHE_UNWRITTEN ? "not written" : "read again", why);
    if (st == CLT_OK && found)
      snprintf(format_note, sizeof format_note, ", from its cache %s", d->cache);
    break;
  }
  default: {
    const clt_text_options o = text_options(d);
    st = clt_data_load_csv_rows(path, &o, keep, out);
  }
  }
  progress_end(&lp);
  if (st != CLT_OK) return clt_cli_failed(cmd, prefix, st);
  /* One line per data set read: what, how much and how fast. */
  double secs = clt_now() - lp.t0;
  char part[64] = "";
  if (keep.first || keep.count != SIZE_MAX)
    snprintf(part, sizeof part, " (its rows [%zu, %zu))", keep.first, keep.first + out->n);
  if (!d->quiet)
    fprintf(stderr, "cltrain: read %s (%s%s): %zu rows%s, %zu features%s in %.2f s, %.1f MB at "
                    "%.1f MB/s\n", path, format_name(fmt),
            fmt != CLT_FORMAT_IDX_DIR ? format_note : idx_split ? ", its t10k pair" : ", its train pair",
            out->n, part, out->d,
            out->header_line ? ", a header line" : "", secs, (double)lp.bytes / 1e6,
            secs > 0 ? (double)lp.bytes / 1e6 / secs : 0.0);
  if (d->no_labels && out->y) {
    free(out->y);
    out->y = NULL;
    clt_dataset_set_classes(out, 0);
  } else if (!d->no_labels && !out->y) {
    fprintf(stderr, "cltrain %s: %s%s has no labels%s\n", cmd, prefix, path,
            fmt == CLT_FORMAT_NPY ? ": name its labels' .npy file (--labels y.npy)" : "");
    clt_dataset_free(out);
    return 2;
  }
  return 0;
}
