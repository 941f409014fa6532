/* cltrain train: fit a linear classifier, print progress and the result.
   cltrain predict: evaluate a saved model. */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "internal.h"
#include "loss_impl.h"
#include "number.h"
#include "train.h"


typedef struct names {
  const char *name;
  int value;
} names;

/* The tool's SGD variants, named beside the optimizer kinds. */
enum { OPT_PLAIN, OPT_MOMENTUM, OPT_NESTEROV };
static const struct {
  const char *name;
  int sgd_variant;
} sgd_variants[] = {{"momentum", OPT_MOMENTUM}, {"nesterov", OPT_NESTEROV}};

static const names schedule_names[] = {{"constant", CLT_SCHEDULE_CONSTANT},
                                       {"step", CLT_SCHEDULE_STEP},
                                       {"exponential", CLT_SCHEDULE_EXPONENTIAL},
                                       {"cosine", CLT_SCHEDULE_COSINE},
                                       {NULL, 0}};

static const names prep_names[] = {{"standardize", CLT_PREPROCESS_STANDARDIZE},
                                   {"center", CLT_PREPROCESS_CENTER},
                                   {"none", CLT_PREPROCESS_NONE},
                                   {NULL, 0}};

/* The name of value in tab ("unknown" if none). */
static const char *name_of(const names *tab, int value) {
  for (; tab->name; tab++)
    if (tab->value == value) return tab->name;
  return "unknown";
}

static int lookup(const names *tab, const char *s, int *out) {
  for (; tab->name; tab++)
    if (strcmp(tab->name, s) == 0) return *out = tab->value, 1;
  return 0;
}

static int bad_value(const char *cmd, const char *flag, const char *value,
                     const char *expect) {
  fprintf(stderr, "cltrain %s: %s '%s' is not valid: expected %s\n", cmd, flag,
          value, expect);
  return 2;
}

/* flag's value v as a number in [lo, hi] into *dst; 0 or an exit status
   after a message with the range. */
static int real_flag(const char *flag, const char *v, double lo, double hi, double *dst) {
  char want[CLT_CLI_WANT];
  return clt_cli_real(v, lo, hi, false, dst, want, sizeof want) ? 0
                                                                 : bad_value("train", flag, v, want);
}

/* A size in bytes: a whole number with an optional K, M or G (powers of
   1024), from 1 KiB to 1 PiB. */
static int bytes_flag(const char *flag, const char *v, uint64_t *dst) {
  char num[32], want[CLT_CLI_WANT];
  size_t len = strlen(v);
  unsigned shift = 0;
  if (len > 0 && strchr("KMG", v[len - 1]))
    shift = v[len - 1] == 'K' ? 10 : v[len - 1] == 'M' ? 20 : 30, len--;
  unsigned long long x;
  snprintf(num, sizeof num, "%.*s", (int)(len < sizeof num ? len : sizeof num - 1), v);
  if (len >= sizeof num || !clt_cli_uint(num, 1, 1ull << (50 - shift), &x, want, sizeof want) ||
      (x << shift) < 1024)
    return bad_value("train", flag, v, "a size from 1024 bytes to 2^50 (1 PiB): a whole "
                                       "number of bytes, or of K, M or G (1024, 1024^2, "
                                       "1024^3 bytes)");
  *dst = (uint64_t)x << shift;
  return 0;
}

static int uint_flag(const char *flag, const char *v, unsigned long long lo,
                     unsigned long long hi, unsigned long long *dst) {
  char want[CLT_CLI_WANT];
  return clt_cli_uint(v, lo, hi, dst, want, sizeof want) ? 0 : bad_value("train", flag, v, want);
}

/* ------------------------------------------------ optimizer flags */

/* Flags that set a field of the optimizer's descriptor: the optimizers
   each applies to (PyTorch's: a flag for another is refused), its range,
   and, since a checkpoint's optimizer record holds these values, a resume
   refuses a flag that contradicts it. --betas sets beta1 and beta2. */
#define OF_ADAMS                                                              \
  (1u << CLT_OPTIM_ADAM | 1u << CLT_OPTIM_ADAMW | 1u << CLT_OPTIM_ADAMAX |    \
   1u << CLT_OPTIM_NADAM | 1u << CLT_OPTIM_RADAM | 1u << CLT_OPTIM_LAMB)
#define OF_ALL 0xffffffffu
enum { OF_WEIGHT_DECAY, OF_MOMENTUM, OF_BETAS, OF_EPS, OF_CLIP, OF_COUNT };
static const struct optim_flag {
  const char *flag, *range;
  unsigned optimizers;
  double lo, hi;
  size_t field, field2; /* offsets into clt_optim_desc; field2: betas */
} optim_flags[OF_COUNT] = {
    [OF_WEIGHT_DECAY] = {"--weight-decay", NULL, OF_ALL, 0, 1e6,
                         offsetof(clt_optim_desc, weight_decay), 0},
    [OF_MOMENTUM] = {"--momentum", NULL,
                     1u << CLT_OPTIM_SGD | 1u << CLT_OPTIM_RMSPROP | 1u << CLT_OPTIM_LARS,
                     0, 1e6, offsetof(clt_optim_desc, momentum), 0},
    [OF_BETAS] = {"--betas", "two numbers B1,B2 in [0, 1)", OF_ADAMS, 0, 1,
                  offsetof(clt_optim_desc, beta1), offsetof(clt_optim_desc, beta2)},
    [OF_EPS] = {"--eps", NULL,
                OF_ADAMS | 1u << CLT_OPTIM_ADAGRAD | 1u << CLT_OPTIM_RMSPROP |
                    1u << CLT_OPTIM_ADADELTA,
                0, 1, offsetof(clt_optim_desc, eps), 0},
    [OF_CLIP] = {"--clip-grad-norm", NULL, OF_ALL, 0, 1e6,
                 offsetof(clt_optim_desc, max_grad_norm), 0},
};

static float *of_field(clt_optim_desc *d, size_t offset) {
  return (float *)((char *)d + offset);
}

static double of_get(const clt_optim_desc *d, size_t offset) {
  return *(const float *)((const char *)d + offset);
}

/* The value of flag k (v) into val[0] (and val[1] for --betas); 0 or an
   exit status. */
static int optim_flag_value(size_t k, const char *v, double val[2]) {
  const struct optim_flag *of = &optim_flags[k];
  char want[CLT_CLI_WANT];
  if (!of->field2) {
    if (!clt_cli_real(v, of->lo, of->hi, false, &val[0], want, sizeof want))
      return bad_value("train", of->flag, v, want);
    return 0;
  }
  const char *comma = strchr(v, ',');
  char first[64];
  if (comma && (size_t)(comma - v) < sizeof first) {
    snprintf(first, sizeof first, "%.*s", (int)(comma - v), v);
    if (clt_cli_real(first, of->lo, of->hi, false, &val[0], want, sizeof want) &&
        clt_cli_real(comma + 1, of->lo, of->hi, false, &val[1], want, sizeof want) &&
        val[0] < of->hi && val[1] < of->hi)
      return 0;
  }
  return bad_value("train", of->flag, v, of->range);
}

/* ----------------------------------------------------------- loss flags */

/* Flags that set an option of the loss: the loss they apply to (a flag
   for another is refused) and its range. */
enum { LF_SMOOTHING, LF_MARGIN, LF_HINGE_P, LF_HUBER_DELTA, LF_COUNT };
static const struct loss_flag {
  const char *flag;
  clt_loss_kind loss;
  double lo, hi;
  bool open_lo, integer;
} loss_flags[LF_COUNT] = {
    [LF_SMOOTHING] = {"--label-smoothing", CLT_LOSS_CROSS_ENTROPY, 0, 1, false, false},
    [LF_MARGIN] = {"--margin", CLT_LOSS_HINGE, 0, 1e6, false, false},
    [LF_HINGE_P] = {"--hinge-p", CLT_LOSS_HINGE, 1, 2, false, true},
    [LF_HUBER_DELTA] = {"--huber-delta", CLT_LOSS_HUBER, 0, 1e6, true, false},
};

/* The value flag k sets in d, as a double. */
static double loss_flag_get(const clt_loss_desc *d, size_t k) {
  return k == LF_SMOOTHING ? d->label_smoothing
         : k == LF_MARGIN  ? d->margin
         : k == LF_HINGE_P ? d->p
                           : d->huber_delta;
}

static void loss_flag_set(clt_loss_desc *d, size_t k, double v) {
  if (k == LF_SMOOTHING) d->label_smoothing = (float)v;
  else if (k == LF_MARGIN) d->margin = (float)v;
  else if (k == LF_HINGE_P) d->p = (int)v;
  else d->huber_delta = (float)v;
}

static size_t loss_flag_index(const char *flag) {
  size_t k = 0;
  while (k < LF_COUNT && strcmp(loss_flags[k].flag, flag) != 0) k++;
  return k;
}

static int loss_flag_value(size_t k, const char *v, double *out) {
  const struct loss_flag *lf = &loss_flags[k];
  char want[CLT_CLI_WANT];
  if (lf->integer) {
    unsigned long long x;
    if (!clt_cli_uint(v, (unsigned long long)lf->lo, (unsigned long long)lf->hi, &x, want,
                      sizeof want))
      return bad_value("train", lf->flag, v, want);
    *out = (double)x;
    return 0;
  }
  return clt_cli_real(v, lf->lo, lf->hi, lf->open_lo, out, want, sizeof want)
             ? 0
             : bad_value("train", lf->flag, v, want);
}

/* The classes' weights of --class-weight (spec) for a training set of
   n_all rows, train holding them or, with sum, this rank's share of them
   (the counts summed over the ranks) into *out (classes values,
   malloc'd): "balanced", n / (classes * count) as scikit-learn's (1 for a
   class the training set lacks), or one non-negative number per class. 0
   or an exit status. */
static int class_weights(const char *spec, const clt_dataset *train, size_t n_all,
                         clt_sum_fn sum, void *user, float **out) {
  size_t c = train->classes;
  float *w = malloc(c * sizeof *w);
  if (!w) {
    fprintf(stderr, "cltrain train: out of memory\n");
    return 1;
  }
  if (strcmp(spec, "balanced") == 0) {
    double *count = calloc(c, sizeof *count);
    if (!count) {
      free(w);
      fprintf(stderr, "cltrain train: out of memory\n");
      return 1;
    }
    for (size_t i = 0; i < train->n; i++) count[train->y[i]]++;
    clt_status st = clt_sum_in_place(sum, user, count, c);
    for (size_t k = 0; k < c; k++)
      w[k] = count[k] ? (float)((double)n_all / ((double)c * count[k])) : 1.0f;
    free(count);
    if (st != CLT_OK) {
      free(w);
      return clt_cli_failed("train", "--class-weight balanced: ", st);
    }
    *out = w;
    return 0;
  }
  const char *p = spec;
  for (size_t k = 0; k < c; k++) {
    char cell[64], want[CLT_CLI_WANT];
    size_t len = strcspn(p, ",");
    double v;
    snprintf(cell, sizeof cell, "%.*s", (int)(len < sizeof cell ? len : sizeof cell - 1), p);
    bool last = p[len] == '\0';
    if (len >= sizeof cell || last != (k + 1 == c) ||
        !clt_cli_real(cell, 0, 1e6, false, &v, want, sizeof want)) {
      char expect[256];
      snprintf(expect, sizeof expect, "balanced, or %zu weights W,W,... each %s (one per class)",
               c, want);
      free(w);
      return bad_value("train", "--class-weight", spec, expect);
    }
    w[k] = (float)v;
    p += len + 1;
  }
  *out = w;
  return 0;
}

/* ---------------------------------------------------------- data sets */

typedef struct data_args {
  const char *data, *test, *labels, *test_labels; /* labels: .npy label files */
  clt_cli_data read;
  uint64_t seed;
} data_args;

/* The generated data sets: --data synthetic:N,D,C (dense blobs) and
   sparse:N,D,C,NNZ (text-like sparse rows with a planted model). */
static bool generated(const char *data) {
  return strncmp(data, "synthetic:", 10) == 0 || strncmp(data, "sparse:", 7) == 0;
}

/* Generated training and test sets; 0 or an exit status. */
static int load_synthetic(const char *cmd, const data_args *a, clt_dataset *train,
                          clt_dataset *test) {
  /* N, D, C (, NNZ): each a whole integer in [1, 2^31) (the rows of a
     tensor must fit an int32 index; the generators check the products) */
  const bool sparse = a->data[0] == 's' && a->data[1] == 'p';
  const size_t count = sparse ? 4 : 3;
  size_t v[4];
  const char *p = strchr(a->data, ':') + 1;
  for (size_t i = 0; i < count; i++) {
    char field[32], want[CLT_CLI_WANT];
    size_t len = strcspn(p, ",");
    unsigned long long x = 0;
    bool last = p[len] == '\0';
    snprintf(field, sizeof field, "%.*s", (int)(len < sizeof field ? len : sizeof field - 1), p);
    if (len >= sizeof field || last != (i == count - 1) ||
        !clt_cli_uint(field, 1, (1ull << 31) - 1, &x, want, sizeof want)) {
      char expect[160];
      snprintf(expect, sizeof expect, "%s with %s each %s",
               sparse ? "sparse:N,D,C,NNZ" : "synthetic:N,D,C",
               sparse ? "N, D, C and NNZ" : "N, D and C", want);
      return bad_value(cmd, "--data", a->data, expect);
    }
    v[i] = (size_t)x;
    p += len + 1;
  }
  clt_status rc = sparse ? clt_data_synthetic_sparse(v[0], v[1], v[2], v[3], a->seed, train, test)
                         : clt_data_synthetic(v[0], v[1], v[2], a->seed, train, test);
  return rc == CLT_OK ? 0 : clt_cli_failed(cmd, "--data ", rc);
}

/* Whether --data names IDX data whose directory also holds a test pair. */
static bool idx_test_split(const char *data) {
  char dir[4096];
  if (strcmp(data, "fashion-mnist") == 0) return clt_data_find_fashion_mnist(dir, sizeof dir) == CLT_OK;
  clt_data_format f;
  return clt_data_sniff(data, &f) == CLT_OK && f == CLT_FORMAT_IDX_DIR &&
         clt_data_idx_dir_has(data, 1);
}

/* Loads the training set of --data and the test set: --test, else an IDX
   directory's test pair, else none (test->n 0). Pixel data (IDX) is scaled
   by 1/255; *scale says what was chosen. 0 or an exit status after a
   message (2: bad input, 1: out of memory). */
static int load_data(const char *cmd, const data_args *a, clt_data_rows keep,
                     clt_dataset *train, clt_dataset *test, float *scale) {
  int rc;
  *scale = 1.0f;
  if (a->test_labels && !a->test) {
    fprintf(stderr, "cltrain %s: --test-labels needs --test\n", cmd);
    return 2;
  }
  if (generated(a->data)) {
    if (a->test || a->labels) {
      fprintf(stderr, "cltrain %s: --data %.*s makes its own test set and labels "
                      "(no --test or --labels)\n", cmd, (int)strcspn(a->data, ":") + 1, a->data);
      return 2;
    }
    if (a->read.cache) {
      fprintf(stderr, "cltrain %s: --data %.*s is generated: --cache applies to svmlight "
                      "files\n", cmd, (int)strcspn(a->data, ":") + 1, a->data);
      return 2;
    }
    return load_synthetic(cmd, a, train, test);
  }
  if ((rc = clt_cli_load(cmd, "--data", a->data, a->labels, &a->read, NULL, 0, keep, train,
                         scale)))
    return rc;
  float test_scale;
  rc = a->test ? clt_cli_load(cmd, "--test", a->test, a->test_labels, &a->read, train, 1,
                              CLT_DATA_ALL_ROWS, test, &test_scale)
       : idx_test_split(a->data)
           ? clt_cli_load(cmd, "--data", a->data, NULL, &a->read, train, 1, CLT_DATA_ALL_ROWS,
                          test, &test_scale)
           : 0;
  if (rc == 0 && test->n && train->d != test->d) {
    fprintf(stderr, "cltrain %s: training rows have %zu features, test rows %zu\n", cmd,
            train->d, test->d);
    rc = 2;
  }
  if (rc) {
    clt_dataset_free(train);
    clt_dataset_free(test);
  }
  return rc;
}

/* ----------------------------------------------------------- progress */

/* An epoch's progress, shown from t0 (a log or mpirun's pipes get a line
   every show.every seconds, none for the epoch's end). */
typedef struct progress_state {
  clt_cli_progress show;
  size_t epoch, epochs, n;
  double t0;
} progress_state;

static int show_progress(void *user, size_t done, size_t total, double loss) {
  progress_state *p = user;
  const double now = clt_now();
  /* a line of its own: the epoch's line follows its last batch */
  if ((!p->show.tty && done == total) || !clt_cli_progress_due(&p->show, now, 0)) return 0;
  double el = now - p->t0;
  double rate = el > 0 ? (double)done / el : 0;
  double eta = rate > 0 ? (double)(total - done) / rate : 0;
  fprintf(stderr, "%sepoch %zu/%zu  batch %zu/%zu  loss %.4f  %.0f samples/s  ETA %.1f s%s",
          clt_cli_progress_head(&p->show), p->epoch, p->epochs, done, total, loss,
          rate * (double)p->n / (double)total, eta, clt_cli_progress_tail(&p->show));
  fflush(stderr);
  return 0;
}

/* ------------------------------------------------------------- metrics */

/* Cuts the metrics CSV at path after the rows of epochs 1..epochs (the
   header and rows in order, as train writes them). 0, or -1 with errno. */
static int metrics_to_epoch(const char *path, size_t epochs) {
  FILE *f = fopen(path, "r+");
  if (!f) return -1;
  char line[512];
  long keep = 0;
  int header = 1, rc = 0;
  while (fgets(line, sizeof line, f)) {
    char *end;
    unsigned long long epoch = strtoull(line, &end, 10);
    if (!header && (end == line || *end != ',' || epoch > epochs)) break;
    header = 0;
    keep = ftell(f);
  }
  if (ferror(f) || keep < 0 || ftruncate(fileno(f), keep) != 0) rc = -1;
  int e = errno;
  if (fclose(f) != 0 && rc == 0) return -1;
  errno = e;
  return rc;
}

/* ---------------------------------------------------------------- train */

static void train_usage(FILE *f) {
  fprintf(f,
          "usage: cltrain train [options]\n"
          "  --data fashion-mnist|DIR|FILE|synthetic:N,D,C|sparse:N,D,C,NNZ\n"
          "                         (default fashion-mnist): an IDX directory, CSV/TSV\n"
          "                         (.gz), svmlight (.gz, held as sparse rows) or .npy\n"
          "                         features, recognised by content and name; or\n"
          "                         generated: Gaussian blobs, or text-like sparse rows\n"
          "                         of about NNZ features with a planted model\n"
          "  --labels FILE.npy      the labels of .npy features (integers)\n"
          "  --test PATH            test set in any of those formats (default: an IDX\n"
          "                         directory's t10k pair; otherwise none)\n"
          "  --test-labels FILE.npy the labels of .npy test features\n"
          CLT_CLI_DATA_HELP
          "  --loss " CLT_CLI_LOSS_NAMES "\n"
          "                         (softmax = cross-entropy, svm = hinge; default cross-entropy)\n"
          "  --class-weight balanced|W,W,...   cross-entropy, hinge, bce-logits: a weight\n"
          "                         per class, in the order of the sorted classes;\n"
          "                         balanced: n / (classes * count), as scikit-learn's\n"
          "  --label-smoothing F    cross-entropy, in [0, 1] (default 0)\n"
          "  --margin F             hinge: the margin (default 1)\n"
          "  --hinge-p 1|2          hinge: 2 squares it (default 1)\n"
          "  --huber-delta F        huber: where it turns linear (default 1)\n"
          "  --optim " CLT_CLI_OPTIM_NAMES "\n"
          "                         (momentum, nesterov: sgd with momentum 0.9; default adamw)\n"
          );
  fprintf(f,
          "  --lr F                 base learning rate (default: PyTorch's for the optimizer,\n"
          "                         but 0.1 for sgd/momentum/nesterov/lars, and for adamw\n"
          "                         7e-4, or 0.01 below 16384 training rows)\n"
          "  --batch N              rows per step, 0 = full batch (default 256, or 32 below\n"
          "                         16384 training rows)\n"
          "  --epochs N             epochs in total, resumed ones included (default 20, or\n"
          "                         below 16384 training rows enough for 4000 steps)\n"
          "  --l1 F --l2 F          regularization: l1*sum|W| + 0.5*l2*sum W^2 (default 0)\n"
          "  --weight-decay F       the optimizer's own weight decay (default: PyTorch's, but\n"
          "                         0.05 for adamw)\n"
          "  --momentum F           sgd, rmsprop, lars (default: PyTorch's, 0; 0.9 for\n"
          "                         momentum and nesterov)\n"
          "  --betas B1,B2          the adam family and lamb (default 0.9,0.999)\n"
          "  --eps F                adagrad, rmsprop, adadelta, the adam family, lamb\n"
          "                         (default: PyTorch's for the optimizer)\n"
          "  --clip-grad-norm F     rescale the gradient to this global L2 norm when above\n"
          "                         (clip_grad_norm_; default 0: off)\n"
          "  --schedule constant|step|exponential|cosine   (default cosine)\n"
          "  --warmup F             epochs of linear learning-rate warm-up (default 0)\n"
          "  --preprocess standardize|center|none   (default standardize; none for sparse\n"
          "                         rows, which standardize scales without centering)\n"
          "  --no-bias              no separate bias vector\n"
          "  --init-std F           initial W ~ F*N(0,1), 0 for W = 0 (default 0.001)\n"
          "  --seed N               (default 0)\n"
          "  --device auto|gpu|cpu|ref|NAME\n"
          "  --device-memory-limit N[K|M|G]   the device memory the data may use (default:\n"
          "                         the device's; see cltrain devices): a training set\n"
          "                         over it streams, and data that cannot fit even so\n"
          "                         is refused\n"
          "  --stream               keep the training rows in host memory and upload each\n"
          "                         minibatch (on by itself when they do not fit; the\n"
          "                         same results as without)\n"
          );
  fprintf(f,
          "  --distributed          one of the ranks of mpirun -np K training one model:\n"
          "                         --batch is the global batch, each rank trains on\n"
          "                         its shards' rows and the gradients are summed every\n"
          "                         step (the same results, to float rounding, as one\n"
          "                         process with the same --shards); rank 0 alone prints\n"
          "                         and writes files\n"
          "  --dist-timeout S       with --distributed, the seconds a rank waits for\n"
          "                         another's part of a step before it ends the job\n"
          "                         (exit 1, naming the silent rank; default 300)\n"
          "  --shards S             the training rows cut into S shards of consecutive\n"
          "                         rows, each with its own permutation and its share of\n"
          "                         every batch (default 1; with --distributed 64, at\n"
          "                         most the batch and the rows, at least the ranks: a\n"
          "                         checkpoint resumes on up to S ranks)\n"
          "  --val F|PATH           validation set: a fraction F in (0, 1) of the training\n"
          "                         set held out (stratified, from --seed), or a data set\n"
          "                         like --test; its loss and accuracy every epoch\n"
          "  --val-labels FILE.npy  the labels of .npy validation features\n"
          "  --early-stop N         stop after N epochs without a lower validation loss\n"
          "  --checkpoint FILE      save model and training state after every epoch; with\n"
          "                         --val also the best validation epoch's, to FILE with\n"
          "                         .best before its extension (m.ckpt: m.best.ckpt)\n"
          "  --resume FILE          continue from a checkpoint up to --epochs in total\n"
          "                         (default: the epochs it was started with), with\n"
          "                         every setting it records; a flag that contradicts\n"
          "                         one is refused\n"
          "  --metrics FILE.csv     one row per epoch\n"
          "  --plot FILE.png|FILE.svg   loss and accuracy of the training, validation and\n"
          "                         test sets and the learning rate per epoch (gnuplot)\n"
          "  --json                 one JSON object as the last line of stdout\n"
          "  --quiet                no per-epoch lines (the result line stays)\n"
          "  --profile              after training, the device time of every kernel,\n"
          "                         transfer and host wait (a \"profile\" object in --json)\n");
}

typedef struct train_args {
  data_args data;
  const char *loss, *optim, *schedule, *prep, *device, *checkpoint, *resume,
      *metrics, *plot, *val, *val_labels, *class_weight;
  size_t early_stop; /* epochs without validation improvement; 0: never */
  uint64_t memory_limit; /* --device-memory-limit; 0: the device's own */
  char best[4096];   /* the best validation epoch's checkpoint, or "" */
  double lr, l1, l2, warmup, init_std;
  int have_lr, have_prep, have_batch, have_epochs, json, quiet, bias, profile, stream,
      distributed;
  size_t shards; /* --shards; 0: one, or the ranks with --distributed */
  double dist_timeout; /* --dist-timeout, seconds */
  bool curves; /* --metrics or --plot was given (with --distributed: on any rank) */
  bool silent; /* a rank after 0 of --distributed: no notes or warnings (rank 0 says them) */
  size_t ranks;  /* with --distributed, the job's ranks; else 0 */
  /* Given on the command line (a resume takes the others from its
     checkpoint). */
  int have_loss, have_optim_name, have_schedule, have_l1, have_l2, have_warmup,
      have_init_std, have_seed;
  double optim_val[OF_COUNT][2]; /* the optimizer flags given */
  int have_optim[OF_COUNT];
  double loss_val[LF_COUNT]; /* the loss flags given */
  int have_loss_flag[LF_COUNT];
  /* A resume's optimizer hyper-parameters, from its checkpoint's record. */
  clt_optim_desc resumed_optim;
  bool have_resumed_optim;
  size_t batch, epochs;
  /* Resolved by resolve_names. */
  clt_loss_kind loss_kind;
  int sched, prep_mode;
  clt_optim_kind optim_kind;
  int sgd_variant;
} train_args;

static size_t optim_flag_index(const char *flag) {
  size_t k = 0;
  while (k < OF_COUNT && strcmp(optim_flags[k].flag, flag) != 0) k++;
  return k;
}

static int parse_train(int argc, char **argv, train_args *a) {
  *a = (train_args){.data = {.data = "fashion-mnist", .read = CLT_CLI_DATA_INIT},
                    .loss = "cross-entropy",
                    .optim = "adamw",
                    .schedule = "cosine",
                    .prep = "standardize",
                    .bias = 1,
                    .init_std = 0.001};
  int rc;
  size_t k;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
      train_usage(stdout);
      return -1;
    }
    if (strcmp(f, "--json") == 0) { a->json = 1; continue; }
    if (strcmp(f, "--quiet") == 0) { a->quiet = 1; continue; }
    if (strcmp(f, "--profile") == 0) { a->profile = 1; continue; }
    if (strcmp(f, "--no-bias") == 0) { a->bias = 0; continue; }
    if (strcmp(f, "--stream") == 0) { a->stream = 1; continue; }
    if (strcmp(f, "--distributed") == 0) { a->distributed = 1; continue; }
    if ((rc = clt_cli_data_flag("train", argc, argv, &i, &a->data.read)) >= 0) {
      if (rc) return rc;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "cltrain train: %s needs a value (or is unknown; see --help)\n", f);
      return 2;
    }
    const char *v = argv[++i];
    if (strcmp(f, "--data") == 0) a->data.data = v;
    else if (strcmp(f, "--test") == 0) a->data.test = v;
    else if (strcmp(f, "--labels") == 0) a->data.labels = v;
    else if (strcmp(f, "--test-labels") == 0) a->data.test_labels = v;
    else if (strcmp(f, "--val-labels") == 0) a->val_labels = v;
    else if (strcmp(f, "--class-weight") == 0) a->class_weight = v;
    else if (strcmp(f, "--loss") == 0) a->loss = v, a->have_loss = 1;
    else if (strcmp(f, "--optim") == 0) a->optim = v, a->have_optim_name = 1;
    else if (strcmp(f, "--schedule") == 0) a->schedule = v, a->have_schedule = 1;
    else if (strcmp(f, "--preprocess") == 0) a->prep = v, a->have_prep = 1;
    else if (strcmp(f, "--device") == 0) a->device = v;
    else if (strcmp(f, "--checkpoint") == 0) a->checkpoint = v;
    else if (strcmp(f, "--resume") == 0) a->resume = v;
    else if (strcmp(f, "--metrics") == 0) a->metrics = v;
    else if (strcmp(f, "--plot") == 0) a->plot = v;
    else if (strcmp(f, "--val") == 0) a->val = v;
    else if (strcmp(f, "--device-memory-limit") == 0) {
      if ((rc = bytes_flag(f, v, &a->memory_limit))) return rc;
    }
    else if (strcmp(f, "--dist-timeout") == 0) {
      if ((rc = real_flag(f, v, 1e-3, 1e6, &a->dist_timeout))) return rc;
    }
    else if (strcmp(f, "--shards") == 0) {
      unsigned long long x;
      if ((rc = uint_flag(f, v, 1, 1u << 20, &x))) return rc;
      a->shards = (size_t)x;
    }
    else if (strcmp(f, "--early-stop") == 0) {
      unsigned long long x;
      if ((rc = uint_flag(f, v, 1, 1000000, &x))) return rc;
      a->early_stop = (size_t)x;
    }
    else if (strcmp(f, "--lr") == 0) {
      if ((rc = real_flag(f, v, 0, 1e6, &a->lr))) return rc;
      a->have_lr = 1;
    } else if (strcmp(f, "--l1") == 0) {
      if ((rc = real_flag(f, v, 0, 1e6, &a->l1))) return rc;
      a->have_l1 = 1;
    } else if (strcmp(f, "--l2") == 0) {
      if ((rc = real_flag(f, v, 0, 1e6, &a->l2))) return rc;
      a->have_l2 = 1;
    } else if ((k = optim_flag_index(f)) < OF_COUNT) {
      if ((rc = optim_flag_value(k, v, a->optim_val[k]))) return rc;
      a->have_optim[k] = 1;
    } else if ((k = loss_flag_index(f)) < LF_COUNT) {
      if ((rc = loss_flag_value(k, v, &a->loss_val[k]))) return rc;
      a->have_loss_flag[k] = 1;
    } else if (strcmp(f, "--init-std") == 0) {
      if ((rc = real_flag(f, v, 0, 1e6, &a->init_std))) return rc;
      a->have_init_std = 1;
    } else if (strcmp(f, "--warmup") == 0) {
      if ((rc = real_flag(f, v, 0, 1e6, &a->warmup))) return rc;
      a->have_warmup = 1;
    } else if (strcmp(f, "--batch") == 0) {
      unsigned long long x;
      if ((rc = uint_flag(f, v, 0, 1ull << 40, &x))) return rc;
      a->batch = (size_t)x;
      a->have_batch = 1;
    } else if (strcmp(f, "--epochs") == 0) {
      unsigned long long x;
      if ((rc = uint_flag(f, v, 1, 1000000, &x))) return rc;
      a->epochs = (size_t)x;
      a->have_epochs = 1;
    } else if (strcmp(f, "--seed") == 0) {
      unsigned long long x;
      if ((rc = uint_flag(f, v, 0, UINT64_MAX, &x))) return rc;
      a->data.seed = x;
      a->have_seed = 1;
    } else {
      fprintf(stderr, "cltrain train: unknown option '%s' (see --help)\n", f);
      return 2;
    }
  }
  return 0;
}

/* Resolves the flags' names into a's kinds; 0 or an exit status. Runs
   before any data is read, so that a misspelt name is reported as such. */
static int resolve_names(train_args *a) {
  if (clt_loss_kind_from_name(a->loss, &a->loss_kind) != CLT_OK)
    return bad_value("train", "--loss", a->loss, CLT_CLI_LOSS_NAMES);
  if (!lookup(schedule_names, a->schedule, &a->sched))
    return bad_value("train", "--schedule", a->schedule,
                     "constant|step|exponential|cosine");
  if (!lookup(prep_names, a->prep, &a->prep_mode))
    return bad_value("train", "--preprocess", a->prep, "standardize|center|none");
  a->sgd_variant = OPT_PLAIN;
  if (clt_optim_kind_from_name(a->optim, &a->optim_kind) == CLT_OK) return 0;
  a->optim_kind = CLT_OPTIM_SGD;
  for (size_t k = 0; k < sizeof sgd_variants / sizeof sgd_variants[0]; k++)
    if (strcmp(sgd_variants[k].name, a->optim) == 0)
      return a->sgd_variant = sgd_variants[k].sgd_variant, 0;
  return bad_value("train", "--optim", a->optim, CLT_CLI_OPTIM_NAMES);
}

/* Training sets below this many rows get the small-data defaults, with at
   least MIN_STEPS optimizer steps (build_options). */
#define SMALL_ROWS 16384
#define MIN_STEPS 4000

/* The batch and the shards of a training set of n rows: the flags', else
   the defaults. */
static void batch_and_shards(const train_args *a, size_t n, size_t *batch, size_t *shards) {
  /* Defaults by the data's size: see build_options. */
  const bool small = n < SMALL_ROWS;
  size_t b = a->have_batch ? a->batch : small ? 32 : 256;
  *batch = b == 0 || b > n ? n : b;
  /* --distributed's default: 64 shards (at most the batch and the rows, at
     least the ranks), so that its checkpoints resume on up to 64 ranks */
  size_t s = a->shards;
  if (!s && a->ranks) {
    s = 64;
    if (s > *batch) s = *batch;
    if (s > n) s = n;
    if (s < a->ranks) s = a->ranks;
  }
  *shards = s ? s : 1;
}

/* Fills the trainer options from the flags for a training set of n_train
   rows, train holding them or, with sum (over the ranks), this rank's; 0
   or an exit status. */
static int build_options(const train_args *a, const clt_dataset *train, size_t n_train,
                         clt_sum_fn sum, void *user, clt_train_options *o,
                         float **class_weight) {
  const int sched = a->sched;
  const clt_loss_kind loss = a->loss_kind;
  const clt_optim_kind kind = a->optim_kind;
  memset(o, 0, sizeof *o);
  o->loss = clt_loss_defaults(loss);
  for (size_t k = 0; k < LF_COUNT; k++) {
    if (!a->have_loss_flag[k]) continue;
    if (loss_flags[k].loss != loss) {
      fprintf(stderr, "cltrain train: %s applies to --loss %s, not %s\n", loss_flags[k].flag,
              clt_loss_kind_name(loss_flags[k].loss), a->loss);
      return 2;
    }
    loss_flag_set(&o->loss, k, a->loss_val[k]);
  }
  if (a->class_weight) {
    if (loss != CLT_LOSS_CROSS_ENTROPY && loss != CLT_LOSS_HINGE &&
        loss != CLT_LOSS_BCE_LOGITS) {
      fprintf(stderr, "cltrain train: --class-weight applies to --loss cross-entropy, hinge "
                      "and bce-logits, not %s\n", a->loss);
      return 2;
    }
    int rc = class_weights(a->class_weight, train, n_train, sum, user, class_weight);
    if (rc) return rc;
    o->class_weight = *class_weight;
  }
  o->reg = (clt_reg_desc){.l1 = (float)a->l1, .l2 = (float)a->l2};
  o->optim = clt_optim_defaults(kind);
  if (a->sgd_variant != OPT_PLAIN) o->optim.momentum = 0.9f;
  if (a->sgd_variant == OPT_NESTEROV) o->optim.nesterov = 1;
  /* The tool's recipe where PyTorch's default suits a linear model badly:
     SGD has no default in PyTorch; AdamW's was tuned on Fashion-MNIST
     (20 epochs of 256, cosine: test accuracy 0.8456 over three seeds). */
  if (kind == CLT_OPTIM_SGD || kind == CLT_OPTIM_LARS)
    o->optim.lr = 0.1f;
  /* Defaults by the data's size. From SMALL_ROWS rows on, 20 epochs of
     batch 256; smaller sets get too few steps that way (iris: 20 steps,
     digits: 120, all stopping far from sklearn's accuracy), so batches of
     32, at least MIN_STEPS steps (iris: 1000 epochs) and AdamW at 0.01:
     within a point of sklearn's standardised LogisticRegression on
     sklearn's digits, breast cancer, wine and iris sets (80/20 splits),
     and within two of its default LogisticRegression over 5-fold cross-
     validation (python/tests/test_sklearn.py; with 2000 steps, iris
     stayed under-trained at 0.940 against 0.960). */
  const bool small = n_train < SMALL_ROWS;
  if (kind == CLT_OPTIM_ADAMW) {
    o->optim.lr = small ? 1e-2f : 7e-4f;
    o->optim.weight_decay = 5e-2f;
  }
  /* A resume's optimizer is its record's, under the base learning rate of
     its schedule (the record holds the last step's; a checkpoint older
     than version 3 has no schedule: the flags' or the default). */
  const float lr = a->have_lr ? (float)a->lr : o->optim.lr;
  if (a->have_resumed_optim) o->optim = a->resumed_optim;
  o->optim.lr = lr;
  for (size_t k = 0; k < OF_COUNT; k++) {
    const struct optim_flag *of = &optim_flags[k];
    if (!a->have_optim[k]) continue;
    if (!(of->optimizers >> kind & 1)) {
      fprintf(stderr, "cltrain train: %s does not apply to --optim %s\n", of->flag, a->optim);
      return 2;
    }
    *of_field(&o->optim, of->field) = (float)a->optim_val[k][0];
    if (of->field2) *of_field(&o->optim, of->field2) = (float)a->optim_val[k][1];
  }
  batch_and_shards(a, n_train, &o->batch, &o->shards);
  size_t steps_per_epoch = clt_shard_steps(n_train, o->shards, o->batch);
  o->epochs = a->have_epochs ? a->epochs : 20;
  if (!a->have_epochs && small && o->epochs * steps_per_epoch < MIN_STEPS)
    o->epochs = (MIN_STEPS + steps_per_epoch - 1) / steps_per_epoch;
  o->seed = a->data.seed;
  o->bias = a->bias != 0;
  o->init_std = a->init_std;
  /* Step decay: x0.1 at each third of the run; exponential: x0.01 over it;
     cosine: down to 0 at the last step. */
  uint64_t total = (uint64_t)steps_per_epoch * o->epochs;
  uint64_t warmup = (uint64_t)llround(a->warmup * (double)steps_per_epoch);
  if (warmup >= total) {
    fprintf(stderr, "cltrain train: --warmup %g epochs is the whole run\n", a->warmup);
    return 2;
  }
  o->schedule = (clt_schedule){
      .kind = (clt_schedule_kind)sched,
      .base_lr = o->optim.lr,
      .warmup_steps = warmup,
      .step_size = total / 3 > 0 ? total / 3 : 1,
      .gamma = sched == CLT_SCHEDULE_STEP ? 0.1 : pow(0.01, 1.0 / (double)(total - warmup)),
      .total_steps = total,
      .min_lr = 0,
  };
  return 0;
}

static const char *optim_cli_name(const train_args *a) { return a->optim; }

/* --------------------------------------------------------------- resume */

/* "FLAG GIVEN contradicts --resume FILE, trained with FLAG HAD": 2. */
static int contradiction(const train_args *a, const char *flag, const char *given,
                         const char *had) {
  fprintf(stderr, "cltrain train: %s %s contradicts --resume %s, trained with %s %s\n", flag,
          given, a->resume, flag, had);
  return 2;
}

/* The same for numbers (printed %g). */
static int contradiction_num(const train_args *a, const char *flag, double given, double had) {
  char g[32], h[32];
  snprintf(g, sizeof g, "%g", given);
  snprintf(h, sizeof h, "%g", had);
  return contradiction(a, flag, g, h);
}

/* A resumed run continues with the settings its checkpoint records: a
   flag left out takes the checkpoint's value, a flag given again must
   agree with it (float32 values compared as float32), else 2 after naming
   both. --epochs may differ (a longer run). Checkpoints before version 3
   record the loss, optimizer and batch only. */
static int resume_args(train_args *a, const clt_checkpoint *ck) {
  if (a->have_loss && a->loss_kind != ck->loss)
    return contradiction(a, "--loss", a->loss, clt_loss_kind_name(ck->loss));
  a->loss_kind = ck->loss;
  a->loss = clt_loss_kind_name(ck->loss);
  if (a->have_optim_name && a->optim_kind != ck->optim)
    return contradiction(a, "--optim", a->optim, clt_optim_kind_name(ck->optim));
  if (!a->have_optim_name) {
    a->optim_kind = ck->optim;
    a->optim = clt_optim_kind_name(ck->optim);
    a->sgd_variant = OPT_PLAIN; /* its momentum is in the optimizer record */
  }
  size_t batch = a->batch == 0 || a->batch > ck->n ? (size_t)ck->n : a->batch;
  if (a->have_batch && batch != ck->batch)
    return contradiction_num(a, "--batch", (double)a->batch, (double)ck->batch);
  a->batch = (size_t)ck->batch;
  a->have_batch = 1;
  if (a->shards && a->shards != ck->shards)
    return contradiction_num(a, "--shards", (double)a->shards, (double)ck->shards);
  a->shards = (size_t)ck->shards;
  if (a->bias == 0 && clt_checkpoint_has(ck, "b")) {
    fprintf(stderr, "cltrain train: --no-bias contradicts --resume %s, trained with a bias\n",
            a->resume);
    return 2;
  }
  a->bias = clt_checkpoint_has(ck, "b");
  /* The optimizer's hyper-parameters are in its record. */
  if (clt_optimizer_record_desc(ck->optim_state, ck->optim_len, &a->resumed_optim) == CLT_OK) {
    a->have_resumed_optim = true;
    const clt_optim_desc *held = &a->resumed_optim;
    for (size_t k = 0; k < OF_COUNT; k++) {
      const struct optim_flag *of = &optim_flags[k];
      if (!a->have_optim[k]) continue;
      double h0 = of_get(held, of->field), h1 = of->field2 ? of_get(held, of->field2) : 0;
      if ((float)a->optim_val[k][0] == (float)h0 &&
          (!of->field2 || (float)a->optim_val[k][1] == (float)h1))
        continue;
      char given[64], had[64];
      snprintf(given, sizeof given, of->field2 ? "%g,%g" : "%g", a->optim_val[k][0],
               a->optim_val[k][1]);
      snprintf(had, sizeof had, of->field2 ? "%g,%g" : "%g", h0, h1);
      return contradiction(a, of->flag, given, had);
    }
  }
  if (!ck->has_settings) return 0;
  for (size_t k = 0; k < LF_COUNT; k++) {
    if (loss_flags[k].loss != ck->loss) continue;
    double had = loss_flag_get(&ck->loss_desc, k);
    if (a->have_loss_flag[k] && (float)a->loss_val[k] != (float)had)
      return contradiction_num(a, loss_flags[k].flag, a->loss_val[k], had);
    a->loss_val[k] = had;
    a->have_loss_flag[k] = 1;
  }
  const clt_schedule *sc = &ck->schedule;
  if (a->have_lr && (float)a->lr != (float)sc->base_lr)
    return contradiction_num(a, "--lr", a->lr, sc->base_lr);
  a->lr = sc->base_lr;
  a->have_lr = 1;
  if (a->have_schedule && a->sched != (int)sc->kind)
    return contradiction(a, "--schedule", a->schedule, name_of(schedule_names, (int)sc->kind));
  a->sched = (int)sc->kind;
  a->schedule = name_of(schedule_names, a->sched);
  double steps_per_epoch = ceil((double)ck->n / (double)ck->batch);
  if (a->have_warmup && (uint64_t)llround(a->warmup * steps_per_epoch) != sc->warmup_steps)
    return contradiction_num(a, "--warmup", a->warmup,
                             (double)sc->warmup_steps / steps_per_epoch);
  a->warmup = (double)sc->warmup_steps / steps_per_epoch;
  const struct {
    const char *flag;
    int given;
    double *value;
    double had;
  } reals[] = {{"--l1", a->have_l1, &a->l1, ck->reg.l1},
               {"--l2", a->have_l2, &a->l2, ck->reg.l2},
               {"--init-std", a->have_init_std, &a->init_std, ck->init_std}};
  for (size_t k = 0; k < sizeof reals / sizeof reals[0]; k++) {
    if (reals[k].given && (float)*reals[k].value != (float)reals[k].had)
      return contradiction_num(a, reals[k].flag, *reals[k].value, reals[k].had);
    *reals[k].value = reals[k].had;
  }
  if (a->have_seed && a->data.seed != ck->seed) {
    char g[24], h[24];
    snprintf(g, sizeof g, "%llu", (unsigned long long)a->data.seed);
    snprintf(h, sizeof h, "%llu", (unsigned long long)ck->seed);
    return contradiction(a, "--seed", g, h);
  }
  a->data.seed = ck->seed;
  if (!a->have_epochs) {
    a->epochs = (size_t)ck->epochs_target;
    a->have_epochs = 1;
  }
  return 0;
}

/* A resume runs the variant its checkpoint was trained with (the same
   kernels and launch shapes, so the same bits as a run never stopped)
   when the device is of the same class (cltrain devices: profile); on
   another class that variant's shapes, made for other hardware, would be
   slow, and the device's own give results equal to float rounding. */
static const char *resume_variant(const train_args *a, const clt_checkpoint *ck) {
  size_t len = strcspn(ck->variant, ":"), index, count = 0;
  clt_device_info devs[64];
  if (!ck->variant[len] || clt_device_select(a->device, &index) != CLT_OK ||
      index == SIZE_MAX || clt_devices_list(devs, 64, &count) != CLT_OK || index >= count)
    return NULL;
  const char *profile = clt_device_profile(&devs[index]);
  if (profile && strlen(profile) == len && strncmp(profile, ck->variant, len) == 0)
    return ck->variant;
  if (!a->silent)
    fprintf(stderr,
            "cltrain train: note: --resume %s was trained with a %.*s variant, this device "
            "takes the %s profile: the resumed epochs equal an uninterrupted run's to float "
            "rounding, not bit for bit\n",
            a->resume, (int)len, ck->variant, profile ? profile : "?");
  return NULL;
}

/* The class weights of a resumed run: the checkpoint's, and a
   --class-weight given again must come to the same; 0 or 2. */
static int resume_class_weight(const train_args *a, const clt_checkpoint *ck,
                               clt_train_options *o) {
  if (!ck->has_settings) return 0;
  if (!a->class_weight) {
    o->class_weight = ck->class_weight;
    return 0;
  }
  bool same = ck->class_weight != NULL;
  for (size_t k = 0; same && k < ck->c; k++) same = o->class_weight[k] == ck->class_weight[k];
  if (same) return 0;
  char had[256] = "none";
  for (size_t k = 0, at = 0; ck->class_weight && k < ck->c && at < sizeof had - 16; k++)
    at += (size_t)snprintf(had + at, sizeof had - at, "%s%g", k ? "," : "",
                           (double)ck->class_weight[k]);
  return contradiction(a, "--class-weight", a->class_weight, had);
}

/* A resumed run preprocesses with the checkpoint's statistics (not ones
   fitted again on what --data holds now) and refuses a --preprocess that
   contradicts it; 0 or an exit status. The statistics move to prep. */
static int resume_prep(const train_args *a, clt_checkpoint *ck, size_t d,
                       clt_prep_stats *prep) {
  if (ck->d != d) {
    fprintf(stderr, "cltrain train: --resume %s holds a model of %zu features, --data has %zu\n",
            a->resume, ck->d, d);
    return 2;
  }
  if (a->have_prep && (int)ck->prep.mode != a->prep_mode)
    return contradiction(a, "--preprocess", a->prep, name_of(prep_names, (int)ck->prep.mode));
  *prep = ck->prep;
  ck->prep = (clt_prep_stats){0};
  return 0;
}

/* ------------------------------------------------------------- outputs */

/* Every file train writes is a regular file or a new one, checked before
   any work (the checkpoint is otherwise noticed after the first epoch). */
static int check_outputs(const train_args *a) {
  const struct {
    const char *flag, *path;
  } out[] = {{"--checkpoint", a->checkpoint}, {"--checkpoint", a->best[0] ? a->best : NULL},
             {"--metrics", a->metrics}, {"--plot", a->plot}};
  for (size_t k = 0; k < sizeof out / sizeof out[0]; k++) {
    char *target, flag[32];
    if (!out[k].path) continue;
    clt_status st = clt_output_target(NULL, out[k].path, &target);
    if (st != CLT_OK) {
      snprintf(flag, sizeof flag, "%s ", out[k].flag);
      return clt_cli_failed("train", flag, st);
    }
    free(target);
  }
  return 0;
}

/* The best validation epoch's checkpoint beside path: "m.ckpt" gives
   "m.best.ckpt", a name without an extension gets ".best". */
static void best_path(const char *path, char *out, size_t len) {
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  if (dot && (!slash || dot > slash + 1))
    snprintf(out, len, "%.*s.best%s", (int)(dot - path), path, dot);
  else
    snprintf(out, len, "%s.best", path);
}

/* --val's fraction of the training set, or 0 (none, or a path). */
static double val_fraction(const train_args *a) {
  double f;
  char want[CLT_CLI_WANT];
  return a->val && clt_cli_real(a->val, 0, 1, true, &f, want, sizeof want) && f < 1 ? f : 0;
}

/* The validation set of --val when it names a data set (loaded as --test
   is) into val; a fraction is taken later, by split_validation. 0 or an
   exit status after a message. */
static int load_validation(const train_args *a, const clt_dataset *train, clt_dataset *val) {
  double f;
  if (val_fraction(a) > 0) {
    if (a->val_labels) {
      fprintf(stderr, "cltrain train: --val-labels goes with --val PATH, not a fraction\n");
      return 2;
    }
    return 0;
  }
  if (clt_parse_number(a->val, a->val + strlen(a->val), &f) != CLT_NUMBER_NONE)
    return bad_value("train", "--val", a->val,
                     "a fraction in (0, 1) of the training set, or a data set's path");
  float scale;
  int rc = clt_cli_load("train", "--val", a->val, a->val_labels, &a->data.read, train, 1,
                        CLT_DATA_ALL_ROWS, val, &scale);
  if (rc) return rc;
  if (val->d != train->d) {
    fprintf(stderr, "cltrain train: --val %s has %zu features, the training set %zu\n", a->val,
            val->d, train->d);
    clt_dataset_free(val);
    return 2;
  }
  return 0;
}

/* --val F: a stratified fraction of train (from the seed) into val, the
   rest stays in train. 0 or an exit status. */
static int split_validation(const train_args *a, clt_dataset *train, clt_dataset *val) {
  const double f = val_fraction(a);
  if (f == 0) return 0;
  clt_dataset rest;
  clt_status st = clt_data_split_stratified(train, f, a->data.seed, &rest, val);
  if (st != CLT_OK) return clt_cli_failed("train", "--val: ", st);
  clt_dataset_free(train);
  *train = rest;
  return 0;
}

/* The classes of the sets loaded: a resumed run's are its checkpoint's, a
   new run's the training set's labels, sorted (scikit-learn's classes_: a
   test or validation set decides nothing of the model), or for generated
   data those of both its sets (the generator's classes, of which a small
   training set may miss some); a label of any other set outside them is
   refused. 0 or an exit status. */
static int resolve_classes(const train_args *a, const clt_checkpoint *ck, clt_dataset *train,
                           clt_dataset *test, clt_dataset *val, clt_labels *classes) {
  clt_dataset *sets[] = {train, test, val};
  const char *flags[] = {"--data", "--test", "--val"};
  const char *paths[] = {a->data.data, a->data.test, a->val};
  const size_t decide = ck ? 0 : generated(a->data.data) && test->n ? 2 : 1;
  clt_status st = ck ? clt_labels_copy(&ck->labels, classes)
                     : clt_data_unify_labels(sets, decide, classes);
  for (size_t i = decide; i < 3 && st == CLT_OK; i++) {
    char name[4200];
    if (paths[i]) snprintf(name, sizeof name, "%s %s", flags[i], paths[i]);
    else snprintf(name, sizeof name, "the test set of %s", a->data.data);
    if (sets[i]->n) st = clt_data_apply_labels(sets[i], classes, name);
  }
  if (st != CLT_OK) return clt_cli_failed("train", "", st);
  if (classes->n < 2) {
    fprintf(stderr, "cltrain train: %s: only one class (%s) present\n", a->data.data,
            classes->n ? classes->name[0] : "none");
    return 2;
  }
  return 0;
}

/* ------------------------------------------------------- device memory */

/* Before reading: the test set whose header says its size (IDX, .npy);
   0 or 2. The training set is checked after reading: it may stream. */
static int check_headers(const train_args *a, const clt_context *ctx) {
  char fmnist[4096];
  const char *data = a->data.data;
  if (strcmp(data, "fashion-mnist") == 0)
    data = clt_data_find_fashion_mnist(fmnist, sizeof fmnist) == CLT_OK ? fmnist : NULL;
  bool idx_test = !a->data.test && data && idx_test_split(a->data.data);
  const char *path = a->data.test ? a->data.test : idx_test ? data : NULL;
  size_t n, d;
  bool known = false;
  if (!path || generated(path) || clt_data_shape(path, 1, &n, &d, &known) != CLT_OK || !known)
    return 0; /* the loader says what is wrong with a bad header */
  clt_cli_mem_need need = {0};
  clt_cli_mem_add(&need, n, d, 0);
  char what[4400];
  snprintf(what, sizeof what, "%s%s (%zu rows x %zu features)",
           a->data.test ? "--test " : "--data's t10k pair", a->data.test ? path : "", n, d);
  return clt_cli_mem_check("train", ctx, a->memory_limit, what, &need);
}

/* What a set's rows need on the device (rows of ds, or the staged
   minibatches of its batch rows when streamed) and its targets. */
static void mem_add_set(clt_cli_mem_need *need, const clt_dataset *ds, size_t c, size_t batch) {
  if (batch) { /* the minibatches' staging and the labels or targets of all rows */
    size_t longest = 0;
    for (size_t i = 0; ds->ptr && i < ds->n; i++)
      if ((size_t)(ds->ptr[i + 1] - ds->ptr[i]) > longest) longest = (size_t)(ds->ptr[i + 1] - ds->ptr[i]);
    for (int k = 0; k < CLT_STREAM_STAGES; k++)
      if (ds->ptr) clt_cli_mem_add_sparse(need, batch, (uint64_t)batch * longest, 0);
      else clt_cli_mem_add(need, batch, ds->d, 0);
    clt_cli_mem_add(need, ds->n, 0, c);
  } else if (ds->ptr) {
    clt_cli_mem_add_sparse(need, ds->n, (uint64_t)(ds->ptr[ds->n] - ds->ptr[0]), c);
  } else {
    clt_cli_mem_add(need, ds->n, ds->d, c);
  }
}

/* After reading, every set with its classes: resident when everything
   this rank holds of them fits the device (and --stream was not given),
   else with the training rows streamed (*stream set, a note printed) when
   that fits; 0 or 2. With --distributed the ranks stream when any must
   (mine: all_train holds only this rank's rows already). */
static int check_loaded(const train_args *a, clt_cli_ranks *ranks, const clt_context *ctx,
                        const clt_dataset *all_train, bool mine, const clt_dataset *all_test,
                        const clt_dataset *all_val, const clt_train_options *o, int *stream) {
  const bool one_hot = !(clt_loss_target(a->loss_kind) & CLT_TARGET_LABELS);
  const clt_dataset train = mine ? *all_train : clt_cli_ranks_view(ranks, o->shards, all_train),
                    test = clt_cli_ranks_view(ranks, 0, all_test),
                    val = clt_cli_ranks_view(ranks, 0, all_val);
  const size_t c = one_hot ? train.classes : 0;
  clt_cli_mem_need resident = {0}, streamed = {0};
  /* The model: W, its gradient, and the optimizer's state or the sparse
     update's scratch (at least one more W). */
  for (int k = 0; k < 3; k++) {
    clt_cli_mem_add(&resident, train.d, 0, train.classes);
    clt_cli_mem_add(&streamed, train.d, 0, train.classes);
  }
  mem_add_set(&resident, &train, c, 0);
  mem_add_set(&streamed, &train, c, o->batch);
  for (size_t k = 0; k < 2; k++) {
    mem_add_set(&resident, k ? &val : &test, c, 0);
    mem_add_set(&streamed, k ? &val : &test, c, 0);
  }
  const bool fits = !a->stream && clt_cli_mem_fits(ctx, a->memory_limit, &resident);
  if (!clt_cli_ranks_any(ranks, !fits)) return 0;
  char what[320];
  snprintf(what, sizeof what,
           "the model (%zu features x %zu classes) and the test and validation sets (%zu rows) "
           "with the training set streamed (%d staged minibatches of %zu rows x %zu features "
           "and all %zu rows' %s)",
           train.d, train.classes, test.n + val.n, CLT_STREAM_STAGES, o->batch, train.d, train.n,
           one_hot ? "targets" : "labels");
  int rc = clt_cli_mem_check("train", ctx, a->memory_limit, what, &streamed);
  if (rc == 0 && !a->stream && !a->silent)
    fprintf(stderr, "cltrain train: note: the training set does not fit %s%s: it stays in "
                    "host memory and each minibatch is uploaded (--stream)\n",
            a->memory_limit ? "under --device-memory-limit" : clt_context_device_name(ctx),
            fits ? " on every rank" : "");
  *stream = 1;
  return rc;
}

static void on_signal(int sig) {
  clt_output_abandon();
  signal(sig, SIG_DFL);
  raise(sig);
}

int clt_cmd_train(int argc, char **argv) {
  train_args a;
  int rc = parse_train(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = resolve_names(&a))) return rc;
  if (a.early_stop && !a.val) {
    fprintf(stderr, "cltrain train: --early-stop needs a validation set (--val)\n");
    return 2;
  }
  if (a.val && a.checkpoint) best_path(a.checkpoint, a.best, sizeof a.best);
  if ((rc = check_outputs(&a))) return rc;
  clt_cli_ranks ranks;
  if ((rc = clt_cli_ranks_start(a.distributed, a.dist_timeout, &ranks))) return rc;
  char by_rank[32];
  size_t dev_index;
  if (ranks.on && clt_device_select_nth(a.device, (size_t)ranks.local_rank, &dev_index) == CLT_OK &&
      dev_index != SIZE_MAX) { /* the ranks of a machine share its devices */
    snprintf(by_rank, sizeof by_rank, "#%zu", dev_index);
    a.device = by_rank;
  }
  if (ranks.on) {
    if (a.have_batch && a.batch && a.batch < (size_t)ranks.size) {
      fprintf(stderr, "cltrain train: --batch %zu is smaller than the %d ranks\n", a.batch,
              ranks.size);
      clt_cli_ranks_end(&ranks, 0);
      return 2;
    }
    /* what decides collective calls is the same on every rank */
    a.curves = a.metrics != NULL || a.plot != NULL;
    if (ranks.rank > 0) { /* rank 0 alone prints and writes */
      a.quiet = 1;
      a.silent = true;
      a.checkpoint = a.metrics = a.plot = NULL;
      a.best[0] = '\0';
      if (!freopen("/dev/null", "w", stdout)) a.json = 0;
    }
  }
  if (a.resume && a.checkpoint == NULL && !a.silent)
    fprintf(stderr, "cltrain train: note: no --checkpoint, so the epochs of this run are not "
                    "saved (--checkpoint FILE, which may be the --resume file, saves them)\n");
  /* Ctrl-C or a kill during a checkpoint's write leaves no temporary
     file behind. */
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  /* Everything the run holds, released at out. */
  clt_checkpoint ck = {0};
  clt_context *ctx = NULL;
  clt_dataset train = {0}, test = {0}, val = {0};
  clt_labels classes = {0};
  float scale, *class_weight = NULL;
  clt_prep_stats prep = {0};
  clt_trainer *tr = NULL;
  a.data.read.quiet = a.quiet;
  if (a.quiet) a.data.read.progress_every = 0;

  /* A resume takes its settings from the checkpoint first: they decide
     how the data is read (the seed of synthetic data) and trained. */
  bool resuming = a.resume != NULL;
  if (resuming) {
    /* with --distributed, rank 0 reads it and sends it to the others */
    clt_status cst = clt_cli_ranks_checkpoint(&ranks, a.resume, &ck);
    if (cst != CLT_OK) {
      rc = clt_cli_failed("train", "--resume ", cst);
      goto out;
    }
    if ((rc = resume_args(&a, &ck))) goto out;
  }
  a.ranks = ranks.on ? (size_t)ranks.size : 0;
  /* The device first: data that cannot fit it is refused before it is
     read where its header says its size. */
  const char *variant = resuming ? resume_variant(&a, &ck) : NULL;
  /* Ranks run rank 0's variant (it opens its device first), so that the
     local gradients' bits do not depend on what each rank tuned. */
  char shared[1024] = "";
  if (ranks.on && ranks.rank > 0) {
    clt_status vst = clt_cli_ranks_share(&ranks, shared, sizeof shared);
    if (vst != CLT_OK) {
      rc = clt_cli_failed("train", "--distributed: ", vst);
      goto out;
    }
    if (strchr(shared, ':')) variant = shared;
  }
  clt_context_options with = {.device = a.device, .record_timings = a.profile, .variant = variant};
  if (variant && clt_context_create(&with, &ctx) != CLT_OK &&
      strstr(clt_last_error(NULL), "is not one this version of cltrain knows")) {
    /* one this version cannot run: the device's own, with a note */
    if (!a.silent)
      fprintf(stderr, "cltrain train: note: --resume %s: %s; the device's own variant runs, "
                      "equal to float rounding, not bit for bit\n",
              a.resume, clt_last_error(NULL));
    variant = NULL;
  }
  if (!ctx && (rc = clt_cli_context("train", a.device, a.profile, variant, &ctx))) goto out;
  if (ranks.on && ranks.rank == 0) {
    snprintf(shared, sizeof shared, "%s", clt_context_variant(ctx));
    clt_status vst = clt_cli_ranks_share(&ranks, shared, sizeof shared);
    if (vst != CLT_OK) {
      rc = clt_cli_failed("train", "--distributed: ", vst);
      goto out;
    }
  }
  if ((rc = check_headers(&a, ctx))) goto out;
  /* With --distributed, the training set is read in this rank's rows only
     (mine): the ranks' host memory holds it once, not once per rank. Its
     rows come from a header (IDX, .npy, an svmlight file's current
     --cache) or from counting the lines of a text file first. An svmlight
     file whose --cache is not current is parsed whole, the cache written
     and the rows cut by each machine's first rank only; the others parse
     their share (or map the cache if it is written by then). Not when
     --val takes a fraction of it (a stratified split needs every row). */
  size_t n_all = 0;
  clt_data_rows keep = CLT_DATA_ALL_ROWS;
  if (ranks.size > 1 && val_fraction(&a) == 0 && !generated(a.data.data)) {
    /* every rank must see the same rows in a header (one may be writing
       the svmlight cache that another finds, or find another version):
       the sums are the same on every rank, and so is the decision */
    const bool known = clt_cli_count_rows(a.data.data, &a.data.read, &n_all);
    const double n = known ? (double)n_all : 0, seen[3] = {known, n, n * n};
    double all[3] = {0, 0, 0};
    if (clt_cli_ranks_sum(&ranks, seen, all, 3) == CLT_OK && all[0] == (double)ranks.size &&
        all[2] * (double)ranks.size == all[1] * all[1]) {
      size_t batch, shards;
      batch_and_shards(&a, n_all, &batch, &shards);
      if (clt_shards_cover(shards, n_all, (size_t)ranks.size)) /* else the trainer refuses */
        clt_cli_ranks_rows(&ranks, n_all, shards, &keep.first, &keep.count);
    }
  }
  const bool mine = keep.count != SIZE_MAX;
  a.data.read.cache_unwritten = mine && ranks.local_rank != 0;
  clt_sum_fn sum = mine ? clt_cli_ranks_sum : NULL;
  if ((rc = load_data("train", &a.data, keep, &train, &test, &scale))) goto out;
  if (a.val && (rc = load_validation(&a, &train, &val))) goto out;
  if ((rc = resolve_classes(&a, resuming ? &ck : NULL, &train, &test, &val, &classes)))
    goto out;
  if ((rc = split_validation(&a, &train, &val))) goto out;
  if (!mine) n_all = train.n;
  clt_train_options opt;
  if ((rc = build_options(&a, &train, n_all, sum, &ranks, &opt, &class_weight))) goto out;
  if ((rc = check_loaded(&a, &ranks, ctx, &train, mine, &test, &val, &opt, &opt.stream)))
    goto out;
  if (!test.n && !val.n && !a.silent)
    fprintf(stderr, "cltrain train: note: no test or validation set (--test, --val): the "
                    "model is evaluated on no held-out data\n");
  if (resuming && (rc = resume_class_weight(&a, &ck, &opt))) goto out;

  double t_prep = clt_now();
  if (resuming) {
    if ((rc = resume_prep(&a, &ck, train.d, &prep))) goto out;
  } else {
    /* Sparse rows (text, hashed features) are used as they are unless
       asked: scaling rare features by their tiny spread would blow them up. */
    if (!a.have_prep && train.ptr) a.prep_mode = CLT_PREPROCESS_NONE;
    clt_status st =
        clt_prep_fit_ranked(&train, n_all, (clt_preprocess)a.prep_mode, scale, sum, &ranks, &prep);
    if (st != CLT_OK) {
      rc = clt_cli_failed("train", "", st);
      goto out;
    }
  }
  /* Streamed rows mapped from their file stay as read (the file's pages,
     which the system can drop and read again): each gathered minibatch is
     prepared on the way instead (clt_trainer_stream_raw), to the same bits. */
  const bool raw = opt.stream && train.map && train.x;
  clt_dataset *sets[] = {&train, &test, &val};
  for (size_t k = raw; k < 3; k++) {
    clt_status st = clt_prep_apply(&prep, sets[k]);
    if (st != CLT_OK) {
      rc = clt_cli_failed("train", "", st);
      goto out;
    }
  }
  if (!a.quiet)
    fprintf(stderr, "cltrain: preprocessed (%s%s) in %.2f s\n", name_of(prep_names, (int)prep.mode),
            resuming ? ", the checkpoint's statistics" : "", clt_now() - t_prep);

  double t_upload = clt_now();
  const clt_train_data train_data = clt_train_data_of(&train),
                       test_data = clt_train_data_of(&test), val_data = clt_train_data_of(&val);
  clt_status st = clt_cli_ranks_trainer(&ranks, ctx, &opt, &train_data, n_all,
                                        test.n ? &test_data : NULL, val.n ? &val_data : NULL, &tr);
  if (st == CLT_OK) clt_trainer_set_prep(tr, &prep);
  if (st == CLT_OK && raw) st = clt_trainer_stream_raw(tr);
  if (st == CLT_OK) st = clt_trainer_set_labels(tr, &classes, train.svmlight_base);
  if (st == CLT_OK && resuming) {
    st = clt_trainer_restore(tr, &ck, a.resume);
    if (st != CLT_OK) {
      fprintf(stderr, "cltrain train: --resume %s: %s\n", a.resume, clt_last_error(ctx));
      rc = st == CLT_ERR_FORMAT || st == CLT_ERR_IO || st == CLT_ERR_INVALID_ARG ? 2 : 1;
      goto out;
    }
  }
  if (st != CLT_OK) { /* options the trainer refuses (--shards, --batch) are usage errors */
    fprintf(stderr, "cltrain train: %s\n", clt_last_error(ctx));
    rc = st == CLT_ERR_INVALID_ARG ? 2 : 1;
    goto out;
  }
  if (!a.quiet)
    fprintf(stderr, "cltrain: uploaded the data and compiled the kernels in %.2f s\n",
            clt_now() - t_upload);

  FILE *metrics = NULL;
  char tmp_metrics[] = "/tmp/cltrain-metrics-XXXXXX";
  const char *metrics_path = a.metrics;
  if (!metrics_path && a.plot) {
    int fd = mkstemp(tmp_metrics);
    if (fd >= 0) close(fd), metrics_path = tmp_metrics;
  }
  if (metrics_path) {
    /* A resumed run appends to the metrics of the epochs its checkpoint
       holds, dropping rows of later ones (a run killed after writing them). */
    int append = a.resume && a.metrics && access(a.metrics, F_OK) == 0;
    if (append && metrics_to_epoch(a.metrics, clt_trainer_epochs_done(tr)) != 0) {
      fprintf(stderr, "cltrain train: --metrics %s: %s\n", a.metrics, strerror(errno));
      rc = 2;
      goto out;
    }
    metrics = fopen(metrics_path, append ? "a" : "w");
    if (!metrics) {
      fprintf(stderr, "cltrain train: --metrics %s: %s\n", metrics_path, strerror(errno));
      rc = 2;
      goto out;
    }
    /* Every column always, a set's cells empty without it. */
    if (!append)
      fprintf(metrics, "epoch,step,train_loss,test_loss,test_accuracy,seconds,"
                       "samples_per_second,val_loss,val_accuracy,train_accuracy,lr\n");
  }

  progress_state ps = {.show = {.tty = !a.quiet && !a.json && isatty(STDERR_FILENO),
                                .every = a.data.read.progress_every}, /* 0 with --quiet */
                       .epochs = opt.epochs, .n = n_all};
  if (!a.quiet)
    fprintf(stderr,
            "cltrain: %zu training rows, %zu test rows, %zu features, %zu classes; "
            "%s, %s, lr %g, batch %zu, %zu epochs on %s\n",
            n_all, test.n, train.d, train.classes, a.loss, optim_cli_name(&a),
            opt.schedule.base_lr, opt.batch, opt.epochs, clt_context_device_name(ctx));
  clt_epoch_stats es = {.train_loss = NAN, .first_loss = NAN, .val_loss = NAN,
                        .val_accuracy = NAN};
  double seconds = 0, best_val = INFINITY;
  double train_accuracy = NAN; /* of the model now, when measured */
  size_t trained = 0, best_epoch = 0;
  bool stopped_early = false;
  /* A resumed run that is already complete: said, and its model's test
     figures instead of a run's. */
  if (clt_trainer_epochs_done(tr) == opt.epochs) {
    fprintf(stderr, "cltrain train: --resume %s already holds the %zu epochs asked for: "
                    "nothing to train (raise --epochs to continue)\n", a.resume, opt.epochs);
    st = test.n ? clt_trainer_evaluate_split(tr, CLT_SPLIT_TEST, &es.test_loss,
                                             &es.test_accuracy)
                : CLT_OK;
    if (st == CLT_OK && val.n)
      st = clt_trainer_evaluate_split(tr, CLT_SPLIT_VAL, &es.val_loss, &es.val_accuracy);
    if (st != CLT_OK) {
      fprintf(stderr, "cltrain train: %s\n", clt_last_error(ctx));
      rc = 1;
    }
  }
  while (rc == 0 && clt_trainer_epochs_done(tr) < opt.epochs) {
    ps.epoch = clt_trainer_epochs_done(tr) + 1;
    ps.t0 = ps.show.last = clt_now();
    st = clt_trainer_epoch(tr, show_progress, &ps, &es);
    clt_cli_progress_clear(&ps.show);
    if (st != CLT_OK) {
      fprintf(stderr, "cltrain train: %s\n", clt_last_error(ctx));
      if (a.checkpoint && clt_trainer_epochs_done(tr) > 0)
        fprintf(stderr, "cltrain train: the last good checkpoint is %s (epoch %zu)\n",
                a.checkpoint, clt_trainer_epochs_done(tr));
      rc = 1;
      break;
    }
    seconds += es.seconds;
    trained += n_all;
    /* The training set's accuracy where the run keeps curves or watches a
       validation set: one more pass over it, outside the epoch's time. */
    double train_eval_loss;
    train_accuracy = NAN;
    if ((metrics || a.curves || val.n) &&
        (st = clt_trainer_evaluate_split(tr, CLT_SPLIT_TRAIN, &train_eval_loss,
                                         &train_accuracy)) != CLT_OK) {
      fprintf(stderr, "cltrain train: %s\n", clt_last_error(ctx));
      rc = 1;
      break;
    }
    if (!a.quiet && !a.json) {
      printf("epoch %3zu/%zu  step %6llu  train loss %.4f  ", es.epoch, opt.epochs,
             (unsigned long long)es.step, es.train_loss);
      if (isfinite(train_accuracy)) printf("train acc %.4f  ", train_accuracy);
      if (val.n) printf("val loss %.4f  val acc %.4f  ", es.val_loss, es.val_accuracy);
      if (test.n) printf("test loss %.4f  test acc %.4f  ", es.test_loss, es.test_accuracy);
      printf("%.2f s  %.0f samples/s\n", es.seconds, es.samples_per_second);
    }
    fflush(stdout);
    /* The checkpoint first: a run killed between the two writes has no
       metrics row beyond its checkpoint (a resume drops any, see
       metrics_to_epoch). */
    if (a.checkpoint && (st = clt_trainer_save(tr, a.checkpoint)) != CLT_OK) {
      fprintf(stderr, "cltrain train: --checkpoint %s: %s\n", a.checkpoint,
              clt_last_error(ctx));
      rc = 1;
      break;
    }
    /* Without a test or validation set its cells are empty. */
    char test_cells[64] = ",", val_cells[64] = ",";
    if (test.n) snprintf(test_cells, sizeof test_cells, "%.9g,%.6f", es.test_loss, es.test_accuracy);
    if (val.n) snprintf(val_cells, sizeof val_cells, "%.9g,%.6f", es.val_loss, es.val_accuracy);
    if (metrics && (fprintf(metrics, "%zu,%llu,%.9g,%s,%.6f,%.1f,%s,%.6f,%.9g\n", es.epoch,
                            (unsigned long long)es.step, es.train_loss, test_cells,
                            es.seconds, es.samples_per_second, val_cells, train_accuracy,
                            clt_schedule_lr(&opt.schedule, es.step ? es.step - 1 : 0)) < 0 ||
                    fflush(metrics) != 0)) {
      fprintf(stderr, "cltrain train: --metrics %s: %s\n", metrics_path, strerror(errno));
      rc = 1;
      break;
    }
    /* Model selection looks at the validation loss only, never at the
       test set: the best epoch's checkpoint, and the early stop. */
    if (a.val && es.val_loss < best_val) {
      best_val = es.val_loss;
      best_epoch = es.epoch;
      if (a.best[0] && (st = clt_trainer_save(tr, a.best)) != CLT_OK) {
        fprintf(stderr, "cltrain train: --checkpoint %s: %s\n", a.best, clt_last_error(ctx));
        rc = 1;
        break;
      }
    }
    if (a.early_stop && es.epoch - best_epoch >= a.early_stop &&
        clt_trainer_epochs_done(tr) < opt.epochs) {
      stopped_early = true;
      fprintf(stderr,
              "cltrain train: early stop after epoch %zu: no lower validation loss for %zu "
              "epochs (the best, %.4g, at epoch %zu%s%s)\n",
              es.epoch, a.early_stop, best_val, best_epoch, a.best[0] ? ", in " : "",
              a.best);
      break;
    }
  }
  /* A run that ends about where it started has barely trained. */
  if (rc == 0 && !a.silent && isfinite(es.first_loss) && es.first_loss > 0 &&
      fabs(es.train_loss - es.first_loss) <= 0.05 * es.first_loss)
    fprintf(stderr,
            "cltrain train: warning: the training loss %.4g is within 5%% of its start, "
            "%.4g: the model has barely trained; raise --lr (now %g) or --epochs (now %zu), "
            "or lower --batch (now %zu)\n",
            es.train_loss, es.first_loss, opt.schedule.base_lr, opt.epochs, opt.batch);
  if (metrics && fclose(metrics) != 0 && rc == 0) {
    fprintf(stderr, "cltrain train: --metrics %s: %s\n", metrics_path, strerror(errno));
    rc = 1;
  }
  if (rc == 0 && a.plot) {
    /* The title: the data set, the loss, the optimizer and its settings. */
    char title[1024];
    const char *slash = strrchr(a.data.data, '/');
    int n = snprintf(title, sizeof title, "%s: %s, %s lr %g, batch %zu, %zu epochs, %s schedule",
                     slash && slash[1] ? slash + 1 : a.data.data, clt_loss_kind_name(opt.loss.kind),
                     a.optim, opt.schedule.base_lr, opt.batch, opt.epochs,
                     name_of(schedule_names, a.sched));
    if (n > 0 && (size_t)n < sizeof title && (opt.reg.l1 > 0 || opt.reg.l2 > 0))
      snprintf(title + n, sizeof title - (size_t)n, ", l1 %g, l2 %g", (double)opt.reg.l1,
               (double)opt.reg.l2);
    const clt_cli_plot_info info = {.title = title, .val = val.n > 0, .test = test.n > 0};
    if (clt_cli_plot(metrics_path, a.plot, &info) != 0) rc = 1;
  }
  if (metrics_path == tmp_metrics) unlink(tmp_metrics);
  /* The training set's accuracy, for --json or a run without held-out
     data: one pass after training, unless the last epoch measured it. */
  double train_eval_loss;
  if (rc == 0 && isnan(train_accuracy) && (a.json || (!test.n && !val.n)) &&
      clt_trainer_evaluate_split(tr, CLT_SPLIT_TRAIN, &train_eval_loss, &train_accuracy) != CLT_OK) {
    fprintf(stderr, "cltrain train: %s\n", clt_last_error(ctx));
    rc = 1;
  }
  if (rc == 0 && a.json) {
    printf("{\"device\":");
    clt_json_string(stdout, clt_context_device_name(ctx));
    printf(",\"variant\":");
    clt_json_string(stdout, clt_context_variant(ctx));
    /* The canonical names and every effective hyper-parameter (float32
       values to 7 digits): the base
       learning rate of the schedule, and the optimizer's own (after a
       resume, the checkpoint's). */
    const clt_optim_desc *od = clt_optimizer_desc(clt_trainer_optimizer(tr));
    printf(",\"loss\":\"%s\",\"optimizer\":\"%s\",\"schedule\":\"%s\","
           "\"preprocess\":\"%s\",\"lr\":%.7g,\"weight_decay\":%.7g,\"momentum\":%.7g,"
           "\"nesterov\":%s,\"betas\":[%.7g,%.7g],\"eps\":%.7g,\"clip_grad_norm\":%.7g,"
           "\"l1\":%.7g,\"l2\":%.7g,\"warmup_steps\":%llu,\"init_std\":%.7g,\"bias\":%s,"
           "\"seed\":%llu,\"train_rows\":%zu,\"test_rows\":%zu,\"features\":%zu,"
           "\"classes\":%zu",
           clt_loss_kind_name(opt.loss.kind), clt_optim_kind_name(od->kind),
           name_of(schedule_names, a.sched), name_of(prep_names, (int)prep.mode), opt.schedule.base_lr,
           (double)od->weight_decay, (double)od->momentum, od->nesterov ? "true" : "false",
           (double)od->beta1, (double)od->beta2, (double)od->eps, (double)od->max_grad_norm,
           (double)opt.reg.l1, (double)opt.reg.l2,
           (unsigned long long)opt.schedule.warmup_steps, opt.init_std,
           opt.bias ? "true" : "false", (unsigned long long)opt.seed, n_all, test.n,
           train.d, train.classes);
    /* With --distributed, rank 0's steps: compute, staging, the gather and
       its wait for the slowest rank (clt_trainer_rank_seconds). */
    const clt_rank_seconds rs = clt_trainer_rank_seconds(tr);
    printf(",\"stream\":%s,\"shards\":%zu,\"world_size\":%d,\"comm_seconds\":%.6f,"
           "\"host_rows\":%zu,\"step_compute_seconds\":%.6f,\"step_staging_seconds\":%.6f,"
           "\"step_gather_seconds\":%.6f,\"step_wait_seconds\":%.6f",
           opt.stream ? "true" : "false", opt.shards ? opt.shards : 1, ranks.size,
           clt_cli_ranks_seconds(&ranks), train.n, rs.compute, rs.staging, rs.gather, rs.wait);
    /* where the ranks' gradients were summed */
    if (ranks.size > 1)
      printf(",\"gradient_sum\":\"%s\"",
             clt_trainer_shares_memory(tr) ? "shared-memory" : "messages");
    /* Sparse rows: their entries, and whether a step updates only the
       weights its rows use ("touched") or all of them ("dense"). */
    if (train.ptr)
      printf(",\"nonzeros\":%lld,\"update\":\"%s\"", (long long)train.ptr[train.n],
             clt_trainer_touched_updates(tr) ? "touched" : "dense");
    /* the loss's options where the loss has them */
    const clt_loss_desc *ld = &opt.loss;
    if (ld->kind == CLT_LOSS_CROSS_ENTROPY)
      printf(",\"label_smoothing\":%.7g", (double)ld->label_smoothing);
    if (ld->kind == CLT_LOSS_HINGE)
      printf(",\"margin\":%.7g,\"hinge_p\":%d", (double)ld->margin, ld->p);
    if (ld->kind == CLT_LOSS_HUBER) printf(",\"huber_delta\":%.7g", (double)ld->huber_delta);
    printf(",\"class_weight\":%s", opt.class_weight ? "" : "null");
    for (size_t k = 0; opt.class_weight && k < train.classes; k++)
      printf("%c%.7g", k ? ',' : '[', (double)opt.class_weight[k]);
    if (opt.class_weight) printf("]");
    printf(",\"epochs\":%zu,\"batch\":%zu,\"train_loss\":", clt_trainer_epochs_done(tr),
           opt.batch);
    /* null: no epoch ran (a resume of a finished run) */
    printf(isfinite(es.train_loss) ? "%.9g" : "null", es.train_loss);
    printf(",\"train_accuracy\":%.6f", train_accuracy);
    if (a.val) {
      printf(",\"val_rows\":%zu,\"val_loss\":%.9g,\"val_accuracy\":%.6f,\"best_epoch\":%zu,"
             "\"stopped_early\":%s",
             val.n, es.val_loss, es.val_accuracy, best_epoch, stopped_early ? "true" : "false");
      if (a.best[0]) {
        printf(",\"best_checkpoint\":");
        clt_json_string(stdout, a.best);
      }
    }
    if (test.n) printf(",\"test_loss\":%.9g,\"test_accuracy\":%.6f", es.test_loss, es.test_accuracy);
    else printf(",\"test_loss\":null,\"test_accuracy\":null");
    printf(",\"seconds\":%.6f,\"samples_per_second\":%.1f", seconds,
           seconds > 0 ? (double)trained / seconds : 0.0);
    if (a.profile) {
      printf(",\"profile\":");
      if (clt_cli_json_timings(stdout, ctx) != 0) rc = 1;
    }
    printf("}\n");
  } else if (rc == 0) {
    /* --quiet too: the result is what the run is for. */
    printf("%s accuracy %.4f after %zu epochs; training phase %.2f s, %.0f samples/s\n",
           test.n ? "test" : val.n ? "validation" : "training",
           test.n ? es.test_accuracy : val.n ? es.val_accuracy : train_accuracy,
           clt_trainer_epochs_done(tr), seconds, seconds > 0 ? (double)trained / seconds : 0.0);
    if (a.profile && clt_cli_print_timings(stdout, ctx) != 0) rc = 1;
  }
out:
  clt_trainer_destroy(tr);
  clt_prep_free(&prep);
  clt_dataset_free(&train);
  clt_dataset_free(&test);
  clt_dataset_free(&val);
  clt_labels_free(&classes);
  free(class_weight);
  clt_context_destroy(ctx);
  clt_checkpoint_free(&ck);
  clt_cli_ranks_end(&ranks, rc);
  return rc;
}
