/* The cltrain command-line tool: one function per subcommand. Each returns
   the process exit status: 0 success, 1 run-time failure, 2 bad usage or
   bad input (message on stderr naming the flag or file). */
#ifndef CLT_CLI_H
#define CLT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cltrain.h"
#include "data.h"
#include "fileio.h" /* clt_json_string */

int clt_cmd_devices(int argc, char **argv);
int clt_cmd_tune(int argc, char **argv);
int clt_cmd_train(int argc, char **argv);
int clt_cmd_predict(int argc, char **argv);
int clt_cmd_gradcheck(int argc, char **argv);
int clt_cmd_export(int argc, char **argv);

/* A context on device (NULL: auto, or CLT_DEVICE), recording timings when
   record_timings, of variant (NULL: the device's own), into *out: 0, or
   the exit status after a message naming the request (host/cli/device.c). */
typedef struct clt_context clt_context;
int clt_cli_context(const char *cmd, const char *device, int record_timings,
                    const char *variant, clt_context **out);

/* --distributed (host/cli/distributed.c): this process's rank of the
   job's size, and its rank on its machine; on: MPI runs. */
typedef struct clt_cli_ranks {
  bool on;
  int rank, size, local_rank;
  void *mpi;       /* clt_mpi */
  int64_t *indptr[3]; /* this rank's sparse rows' offsets: training, test, validation */
} clt_cli_ranks;
/* With want, MPI started over MPI_COMM_WORLD (timeout > 0: the
   watchdog's seconds, clt_mpi_set_timeout); without, a refusal when
   mpirun started this process as one of several ranks: 0 or the exit
   status after a message (2 also when built without MPI). */
int clt_cli_ranks_start(bool want, double timeout, clt_cli_ranks *r);
/* MPI finalized, or with rc nonzero in a job of several ranks the job
   aborted with rc (so no rank waits for a failed one). */
void clt_cli_ranks_end(clt_cli_ranks *r, int rc);
double clt_cli_ranks_seconds(const clt_cli_ranks *r);
/* buf (len bytes) from rank 0 to every rank (nothing off MPI). */
clt_status clt_cli_ranks_share(clt_cli_ranks *r, char *buf, size_t len);
/* The checkpoint at path: read by rank 0 and sent to the others (no
   shared file system needed), or read here off MPI. */
struct clt_checkpoint;
clt_status clt_cli_ranks_checkpoint(clt_cli_ranks *r, const char *path,
                                    struct clt_checkpoint *ck);
/* This rank's rows of a set of n rows cut into shards (0: an even split
   over the ranks; clt_mpi_rows): [*first, *first + *count); off MPI all. */
void clt_cli_ranks_rows(const clt_cli_ranks *r, size_t n, size_t shards, size_t *first,
                        size_t *count);
/* Those rows of all, a view into its arrays (sparse rows' offsets not
   from 0: ptr[0] need not be 0). */
clt_dataset clt_cli_ranks_view(const clt_cli_ranks *r, size_t shards, const clt_dataset *all);
/* clt_sum_fn over the ranks (ranks: a clt_cli_ranks; off MPI a copy). */
clt_status clt_cli_ranks_sum(void *ranks, const double *mine, double *sum, size_t n);
/* Whether mine is true on any rank (collective; off MPI mine). A
   failure of MPI counts as true. */
bool clt_cli_ranks_any(clt_cli_ranks *r, bool mine);
/* The trainer of this rank's rows of a training set of n_all rows (by
   opt->shards: all holds every row, or with fewer this rank's already)
   and of its share of the test and validation sets (either NULL: none),
   which evaluations sum over the ranks; off MPI clt_trainer_create and
   clt_trainer_set_validation. */
clt_status clt_cli_ranks_trainer(clt_cli_ranks *r, clt_context *ctx,
                                 const clt_train_options *opt, const clt_train_data *all,
                                 size_t n_all, const clt_train_data *test,
                                 const clt_train_data *val, clt_trainer **out);

/* Whether s ends with suffix. */
static inline bool clt_cli_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* After a failure outside a context (data, files, models): prints
   "cltrain CMD: PREFIX<the thread's detail>" and returns the exit status, 1
   for CLT_ERR_OUT_OF_MEMORY, else 2 (host/cli/device.c). */
int clt_cli_failed(const char *cmd, const char *prefix, clt_status st);

/* Progress on stderr (a read's, an epoch's): redrawn in place on a
   terminal (tty), elsewhere a line of its own every `every` seconds (not
   > 0: none); last: when it was last shown, or started. */
typedef struct clt_cli_progress {
  bool tty;
  double every, last;
} clt_cli_progress;
/* Whether progress is due at now (on a terminal, gap seconds after the
   last at least); when it is, now becomes the last. */
static inline bool clt_cli_progress_due(clt_cli_progress *p, double now, double gap) {
  if (p->tty ? now - p->last < gap : !(p->every > 0) || now - p->last < p->every) return false;
  p->last = now;
  return true;
}
/* A progress line's start and end: a redraw in place, or a line. */
static inline const char *clt_cli_progress_head(const clt_cli_progress *p) {
  return p->tty ? "\r\033[K" : "cltrain: ";
}
static inline const char *clt_cli_progress_tail(const clt_cli_progress *p) {
  return p->tty ? "" : "\n";
}
/* The terminal's progress line erased once it is done. */
static inline void clt_cli_progress_clear(const clt_cli_progress *p) {
  if (p->tty) fputs("\r\033[K", stderr);
}

/* The timings ctx recorded (--profile, host/cli/profile.c), longest first:
   a table, or a JSON object keyed by name. 0, or -1 after a message on
   stderr. */
int clt_cli_print_timings(FILE *f, clt_context *ctx);
int clt_cli_json_timings(FILE *f, clt_context *ctx);

/* Strict numbers (host/cli/numbers.c): true and *out set when s is a
   number in [lo, hi] ((lo, hi] with open_lo), or an integer in [lo, hi];
   want always receives the range in words, for the refusal. */
#define CLT_CLI_WANT 96
bool clt_cli_real(const char *s, double lo, double hi, bool open_lo, double *out,
                  char *want, size_t wantlen);
bool clt_cli_uint(const char *s, unsigned long long lo, unsigned long long hi,
                  unsigned long long *out, char *want, size_t wantlen);

/* Every name --loss and --optim take, "a|b|...": the kind tables' names
   (cltrain.h), then the tool's own: the CS231n aliases of two losses, and
   SGD with momentum 0.9, without and with Nesterov. */
#define CLT_CLI_KIND_NAME_(kind, value, name, ...) name "|"
#define CLT_CLI_LOSS_NAMES CLT_LOSS_KINDS(CLT_CLI_KIND_NAME_) "softmax|svm"
#define CLT_CLI_OPTIM_NAMES CLT_OPTIM_KINDS(CLT_CLI_KIND_NAME_) "momentum|nesterov"

/* How data files are read, for train and predict (host/cli/data_source.c). */
typedef struct clt_dataset clt_dataset;
typedef struct clt_cli_data {
  const char *label_column; /* --label-column: NULL or first, last, a header's name */
  char delimiter;           /* --delimiter; 0: by the file's name */
  size_t features;          /* --features: svmlight's width; 0 from the file */
  int zero_based;           /* svmlight: -1 detect, 1 (--zero-based) */
  bool no_labels;           /* features only */
  bool quiet;               /* no line per data set read, nor progress on a terminal */
  /* --progress-every: where stderr is not a terminal, the seconds between
     progress lines of a long read (and of train's epochs); 0: none */
  double progress_every;
  const char *cache;        /* --cache: the svmlight --data file's binary cache */
  bool cache_unwritten;     /* the cache mapped when current, never written: otherwise
                               the kept rows parsed alone (another rank writes it) */
} clt_cli_data;
#define CLT_CLI_DATA_INIT {.zero_based = -1, .progress_every = 30}
#define CLT_CLI_DATA_HELP                                                     \
  "  --label-column first|last|NAME   where a CSV/TSV file's label is (NAME: a\n" \
  "                         header's column; default first)\n"                 \
  "  --delimiter C          a text file's delimiter: one character or 'tab'\n"  \
  "                         (default ',', a tab for .tsv)\n"                     \
  "  --features N           svmlight: the width (default: the largest index)\n" \
  "  --zero-based           svmlight: indices start at 0 (default: detected,\n" \
  "                         zero-based when some index is 0)\n"                 \
  "  --cache FILE           svmlight --data: its parsed rows kept in FILE, a\n"  \
  "                         binary file written on the first read and mapped\n" \
  "                         instead of parsing on later ones (written again\n"  \
  "                         when the file, --features or --zero-based change)\n" \
  "  --progress-every S     where stderr is not a terminal (a log, mpirun), a\n"  \
  "                         progress line every S seconds of a long read (and\n" \
  "                         of train's epochs; default 30; 0: none)\n"

/* When argv[*i] is one of the flags above: takes it (and its value,
   advancing *i) into d and returns 0, or an exit status after a message;
   -1 when it is not one of them. */
int clt_cli_data_flag(const char *cmd, int argc, char **argv, int *i, clt_cli_data *d);

/* Loads the data set at path, given with flag, into out: "fashion-mnist",
   an IDX directory (its idx_split pair: 0 training, 1 test), .npy features
   with the labels .npy labels (or none), svmlight, or delimited text, as
   clt_data_sniff recognises them; IDX pixels get *scale 1/255, others 1.
   A svmlight file read after a training set like takes its width and
   index base. Unless d->quiet, shows the reading's progress on a terminal
   and prints a line when done (rows, features, MB/s) on stderr. Only the
   rows keep names are kept (clt_cli_count_rows says how many a file
   has; the synthetic set takes CLT_DATA_ALL_ROWS). The --data file of svmlight with d->cache is read
   from its cache when that is current, and otherwise parsed and cached
   (a cache that cannot be written is a warning). 0, or an exit status
   after a message. */
int clt_cli_load(const char *cmd, const char *flag, const char *path, const char *labels,
                 const clt_cli_data *d, const clt_dataset *like, int idx_split,
                 clt_data_rows keep, clt_dataset *out, float *scale);
/* Whether the rows of path are known before it is read, then *n: from a
   header ("fashion-mnist", an IDX directory's training pair, .npy, an
   svmlight file whose read->cache is its current cache) or by counting
   the lines of text and svmlight files (one more read of the file); a
   loader can keep a range of them. */
bool clt_cli_count_rows(const char *path, const clt_cli_data *read, size_t *n);

/* What a plot shows: its title (any text; it never reaches gnuplot's
   script) and which sets the metrics hold beside the training set's. */
typedef struct clt_cli_plot_info {
  const char *title;
  bool val, test;
} clt_cli_plot_info;

/* What data sets need on a device (host/cli/device_memory.c): add each
   set of n rows of d float32 features, int32 labels and, for the losses
   that compare scores with values, c float32 targets; its largest buffer
   and all together, in bytes. */
typedef struct clt_cli_mem_need {
  double largest, total;
} clt_cli_mem_need;
void clt_cli_mem_add(clt_cli_mem_need *m, size_t n, size_t d, size_t c);
/* The same for n sparse rows of nnz entries (columns, values, offsets). */
void clt_cli_mem_add_sparse(clt_cli_mem_need *m, size_t n, uint64_t nnz, size_t c);
/* Whether need fits ctx's device (or limit, when lower and not 0). */
bool clt_cli_mem_fits(const clt_context *ctx, uint64_t limit, const clt_cli_mem_need *need);
/* 0, or 2 after a message naming what, the bytes it needs, the limit (the
   device's largest allocation and memory, or limit when lower and not 0)
   and what helps, when need does not fit ctx's device. */
int clt_cli_mem_check(const char *cmd, const clt_context *ctx, uint64_t limit,
                      const char *what, const clt_cli_mem_need *need);

/* Draws the metrics CSV at csv (train's columns) with gnuplot into out, an
   SVG when its name ends with .svg, else a PNG: loss and accuracy of the
   training, validation and test sets and the learning rate, per epoch, the
   legends below the curves. Neither path nor the title is ever interpreted
   by gnuplot or a shell. 0, or -1 after a message on stderr naming out. */
int clt_cli_plot(const char *csv, const char *out, const clt_cli_plot_info *info);

#endif
