/* cltrain predict: a saved model on data, through the model interface
   (host/model.h) that training uses. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "fileio.h"

static void predict_usage(FILE *f) {
  fprintf(f,
          "usage: cltrain predict --model FILE --data fashion-mnist|DIR|FILE [--labels Y.npy]\n"
          "                       [--no-labels] [--proba] [--out FILE.csv] [--device D]\n"
          "                       [--json]\n"
          "Runs a model saved by 'cltrain train --checkpoint FILE' on --data (an IDX\n"
          "directory's t10k split, or every row of a CSV/TSV, svmlight or .npy file,\n"
          "recognised as train does) with the preprocessing stored in the model.\n"
          "  --labels Y.npy  the labels of .npy features\n"
          "  --no-labels     no labels: a CSV file's every column is a feature, other\n"
          "                  formats' labels are ignored\n"
          CLT_CLI_DATA_HELP
          "Predictions are the classes' labels as the training data wrote them.\n"
          "  --out FILE.csv  one row per sample: the predicted class, and with --proba\n"
          "                  the class probabilities (softmax for cross-entropy, a\n"
          "                  sigmoid per class for bce-logits; the raw scores for the\n"
          "                  other losses, named score_K in the header); without --out\n"
          "                  and without labels the rows go to standard output\n"
          "With labels it prints accuracy, loss (cross-entropy and hinge models) and\n"
          "the confusion matrix (rows: true class, columns: predicted); --json puts\n"
          "them in one object on the last line.\n");
}

typedef enum outputs { PROB_SOFTMAX, PROB_SIGMOID, RAW_SCORES } outputs;

/* What --proba writes for a model trained with loss. */
static outputs outputs_of(clt_loss_kind loss) {
  return loss == CLT_LOSS_CROSS_ENTROPY ? PROB_SOFTMAX
         : loss == CLT_LOSS_BCE_LOGITS  ? PROB_SIGMOID
                                        : RAW_SCORES;
}

/* Row i's predicted class (the first highest score) and, with proba, its
   probabilities or scores into p. */
static int32_t predict_row(const float *s, size_t c, outputs o, double *p) {
  size_t best = 0;
  for (size_t k = 1; k < c; k++)
    if (s[k] > s[best]) best = k;
  if (!p) return (int32_t)best;
  double z = 0;
  for (size_t k = 0; k < c; k++) {
    if (o == PROB_SOFTMAX) z += p[k] = exp((double)s[k] - s[best]);
    else if (o == PROB_SIGMOID) p[k] = 1.0 / (1.0 + exp(-(double)s[k]));
    else p[k] = s[k];
  }
  for (size_t k = 0; o == PROB_SOFTMAX && k < c; k++) p[k] /= z;
  return (int32_t)best;
}

/* A label as a CSV cell: quoted (quotes doubled) when it holds a comma, a
   quote, a line end or blanks at an end. */
static void put_label(FILE *f, const char *s) {
  size_t n = strlen(s);
  bool quote = strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
  if (!quote) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* The predictions as CSV into f: a header, then a row per sample, each
   class by its label. */
static int write_predictions(FILE *f, const float *scores, size_t n, const clt_labels *classes,
                             bool proba, outputs o) {
  size_t c = classes->n;
  double *p = proba ? malloc(c * sizeof *p) : NULL;
  if (proba && !p) return -1;
  fprintf(f, "prediction");
  for (size_t k = 0; proba && k < c; k++) {
    char head[CLT_CHECKPOINT_LABEL_MAX + 16];
    snprintf(head, sizeof head, "%s_%s", o == RAW_SCORES ? "score" : "p", classes->name[k]);
    fputc(',', f);
    put_label(f, head);
  }
  fputc('\n', f);
  for (size_t i = 0; i < n; i++) {
    put_label(f, classes->name[predict_row(scores + i * c, c, o, p)]);
    for (size_t k = 0; proba && k < c; k++) fprintf(f, ",%.9g", p[k]);
    fputc('\n', f);
  }
  free(p);
  return ferror(f) ? -1 : 0;
}

/* conf[t * c + k]: rows of true class t predicted k. */
static void print_confusion(const size_t *conf, const clt_labels *classes, bool json) {
  size_t c = classes->n;
  if (json) {
    printf(",\"classes\":[");
    for (size_t k = 0; k < c; k++) {
      if (k) putchar(',');
      clt_json_string(stdout, classes->name[k]);
    }
    printf("],\"confusion\":[");
    for (size_t t = 0; t < c; t++) {
      printf("%s[", t ? "," : "");
      for (size_t k = 0; k < c; k++) printf("%s%zu", k ? "," : "", conf[t * c + k]);
      printf("]");
    }
    printf("]");
    return;
  }
  if (c > 20) {
    printf("confusion matrix: %zu classes, in --json\n", c);
    return;
  }
  printf("confusion matrix (rows: true class, columns: predicted)\n%10s", "");
  for (size_t k = 0; k < c; k++) printf(" %9.9s", classes->name[k]);
  printf("\n");
  for (size_t t = 0; t < c; t++) {
    printf("%10.10s", classes->name[t]);
    for (size_t k = 0; k < c; k++) printf(" %9zu", conf[t * c + k]);
    printf("\n");
  }
}

int clt_cmd_predict(int argc, char **argv) {
  const char *model_path = NULL, *data = NULL, *device = NULL, *out_path = NULL,
             *labels_path = NULL;
  bool json = false, proba = false;
  clt_cli_data read = CLT_CLI_DATA_INIT;
  int rc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      predict_usage(stdout);
      return 0;
    }
    if (strcmp(argv[i], "--json") == 0) { json = true; continue; }
    if (strcmp(argv[i], "--no-labels") == 0) { read.no_labels = true; continue; }
    if (strcmp(argv[i], "--proba") == 0) { proba = true; continue; }
    if ((rc = clt_cli_data_flag("predict", argc, argv, &i, &read)) >= 0) {
      if (rc) return rc;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "cltrain predict: %s needs a value (or is unknown; see --help)\n",
              argv[i]);
      return 2;
    }
    const char *f = argv[i], *v = argv[++i];
    if (strcmp(f, "--model") == 0) model_path = v;
    else if (strcmp(f, "--data") == 0) data = v;
    else if (strcmp(f, "--labels") == 0) labels_path = v;
    else if (strcmp(f, "--device") == 0) device = v;
    else if (strcmp(f, "--out") == 0) out_path = v;
    else {
      fprintf(stderr, "cltrain predict: unknown option '%s' (see --help)\n", f);
      return 2;
    }
  }
  if (!model_path || !data) {
    fprintf(stderr, "cltrain predict: %s is required\n",
            !model_path ? "--model FILE" : "--data PATH (fashion-mnist, a directory or a file)");
    return 2;
  }
  const bool labels = !read.no_labels;
  /* Its output is often piped: what it read is said on a terminal only
     (a long read's progress lines, --progress-every, go to stderr too). */
  read.quiet = !isatty(STDERR_FILENO);
  if (out_path) {
    char *target;
    clt_status ot = clt_output_target(NULL, out_path, &target);
    if (ot != CLT_OK) return clt_cli_failed("predict", "--out ", ot);
    free(target);
  }
  /* Everything the run holds, released at out. */
  clt_checkpoint ck;
  clt_status st = clt_checkpoint_load(NULL, model_path, &ck);
  if (st != CLT_OK) return clt_cli_failed("predict", "--model ", st);
  clt_context *ctx = NULL;
  clt_model *model = NULL;
  clt_tensor *X = NULL, *y = NULL;
  clt_csr *Xs = NULL;
  size_t correct = 0, *conf = NULL;
  float *scores = NULL;
  /* A svmlight file is read with the model's width and index base. */
  clt_dataset ds = {0}, like = {.d = ck.d, .svmlight_base = ck.svmlight_base};
  float scale;
  /* The device first: data that cannot fit it is refused before it is read
     where its header says its size, and after reading otherwise. */
  if ((rc = clt_cli_context("predict", device, 0, NULL, &ctx))) goto out;
  char fmnist[4096], what[4200];
  const char *path = strcmp(data, "fashion-mnist") != 0 ? data
                     : clt_data_find_fashion_mnist(fmnist, sizeof fmnist) == CLT_OK ? fmnist
                                                                                      : NULL;
  size_t hn, hd;
  bool known = false;
  clt_cli_mem_need need = {0};
  if (path && clt_data_shape(path, 1, &hn, &hd, &known) == CLT_OK && known) {
    clt_cli_mem_add(&need, hn, hd, 0);
    snprintf(what, sizeof what, "--data %s (%zu rows x %zu features)", path, hn, hd);
    if ((rc = clt_cli_mem_check("predict", ctx, 0, what, &need))) goto out;
  }
  rc = clt_cli_load("predict", "--data", data, labels_path, &read, &like, 1, CLT_DATA_ALL_ROWS,
                    &ds, &scale);
  if (rc) goto out;
  need = (clt_cli_mem_need){0};
  if (ds.ptr)
    clt_cli_mem_add_sparse(&need, ds.n, (uint64_t)ds.ptr[ds.n], 0);
  else
    clt_cli_mem_add(&need, ds.n, ds.d, 0);
  snprintf(what, sizeof what, "--data %s (%zu rows x %zu features)", data, ds.n, ds.d);
  if ((rc = clt_cli_mem_check("predict", ctx, 0, what, &need))) goto out;
  if (ds.d != ck.d) {
    fprintf(stderr, "cltrain predict: %s has %zu features, the model expects %zu\n", data,
            ds.d, ck.d);
    rc = 2;
    goto out;
  }
  if (labels && (st = clt_data_apply_labels(&ds, &ck.labels, data)) != CLT_OK) {
    rc = clt_cli_failed("predict", "", st);
    goto out;
  }
  if ((st = clt_prep_apply(&ck.prep, &ds)) != CLT_OK) {
    rc = clt_cli_failed("predict", "", st);
    goto out;
  }

  double loss = NAN;
  scores = malloc(ds.n * ck.c * sizeof *scores);
  /* The loss when the model's takes labels (its default settings). */
  clt_loss_desc ld = clt_loss_defaults(ck.loss);
  bool label_loss = ck.loss == CLT_LOSS_CROSS_ENTROPY || ck.loss == CLT_LOSS_HINGE;
  st = scores ? clt_model_create(ctx, ck.kind, ck.d, ck.c, clt_checkpoint_has(&ck, "b"),
                                 NULL, &model)
              : CLT_ERR_OUT_OF_MEMORY;
  if (st == CLT_OK) st = clt_checkpoint_apply(&ck, model, model_path);
  if (st == CLT_OK && ds.ptr) {
    st = clt_csr_create(ctx, ds.n, ds.d, ds.ptr, ds.col, ds.val, &Xs);
  } else if (st == CLT_OK) {
    st = clt_tensor_create(ctx, ds.n, ds.d, CLT_FLOAT32, &X);
    if (st == CLT_OK) st = clt_tensor_write(X, ds.x, ds.n * ds.d * 4);
  }
  const clt_features features = {X, Xs};
  if (st == CLT_OK) st = clt_model_scores(model, features, scores);
  if (st == CLT_OK && labels) st = clt_tensor_create(ctx, ds.n, 1, CLT_INT32, &y);
  if (st == CLT_OK && labels) st = clt_tensor_write(y, ds.y, ds.n * 4);
  if (st == CLT_OK && labels)
    st = clt_model_evaluate(model, &ld, features, y, label_loss ? y : NULL, &loss, &correct,
                            NULL);
  if (st == CLT_OK && labels && !(conf = calloc(ck.c * ck.c, sizeof *conf)))
    st = CLT_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; conf && i < ds.n; i++)
    conf[(size_t)ds.y[i] * ck.c + (size_t)predict_row(scores + i * ck.c, ck.c, RAW_SCORES, NULL)]++;
  if (st != CLT_OK) {
    fprintf(stderr, "cltrain predict: %s\n",
            st == CLT_ERR_OUT_OF_MEMORY && !*clt_last_error(ctx) ? "out of memory"
                                                                 : clt_last_error(ctx));
    rc = 1;
    goto out;
  }
  /* The rows: to --out, or to standard output when there is nothing else
     to print. */
  FILE *f = out_path ? fopen(out_path, "w") : !labels ? stdout : NULL;
  if (out_path && !f) {
    fprintf(stderr, "cltrain predict: --out %s: %s\n", out_path, strerror(errno));
    rc = 2;
    goto out;
  }
  if (f && (write_predictions(f, scores, ds.n, &ck.labels, proba, outputs_of(ck.loss)) != 0 ||
            (f != stdout && fclose(f) != 0))) {
    fprintf(stderr, "cltrain predict: --out %s: %s\n", out_path ? out_path : "(stdout)",
            strerror(errno));
    rc = 1;
    goto out;
  }
  if (json) {
    printf("{\"device\":");
    clt_json_string(stdout, clt_context_device_name(ctx));
    printf(",\"rows\":%zu", ds.n);
    if (labels) {
      printf(",\"correct\":%zu,\"accuracy\":%.6f,\"loss\":", correct,
             (double)correct / (double)ds.n);
      if (isfinite(loss)) printf("%.9g", loss);
      else printf("null");
      print_confusion(conf, &ck.labels, true);
    }
    if (out_path) {
      printf(",\"out\":");
      clt_json_string(stdout, out_path);
    }
    printf("}\n");
  } else if (labels) {
    printf("accuracy %.4f (%zu of %zu rows)", (double)correct / (double)ds.n, correct, ds.n);
    if (isfinite(loss)) printf(", loss %.4f", loss);
    printf(" on %s\n", clt_context_device_name(ctx));
    print_confusion(conf, &ck.labels, false);
  }
out:
  free(conf);
  free(scores);
  clt_tensor_destroy(X);
  clt_csr_destroy(Xs);
  clt_tensor_destroy(y);
  clt_model_destroy(model);
  clt_context_destroy(ctx);
  clt_dataset_free(&ds);
  clt_checkpoint_free(&ck);
  return rc;
}
