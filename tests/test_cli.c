/* The command-line tool: exit codes, messages, JSON, checkpoints, predict. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "testutil.h"

static char dir[] = "/tmp/clt-cli-XXXXXX";
static char out[1 << 16];

/* Runs the tool with args (a shell fragment), stderr to `out` and stdout
   too unless redirect sends it elsewhere (">/dev/full", ">&-"); returns the
   exit status. */
static int cltrain_redirected(const char *args, const char *redirect) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd %s && CLT_DEVICE= %s %s 2>&1 %s", dir, CLT_CLI_PATH,
           args, redirect);
  return tu_shell(cmd, out, sizeof out);
}

static int cltrain(const char *args) { return cltrain_redirected(args, ""); }
static int cltrain_argv(char *const argv[], const char *clt_device);

#define EXPECT_RUN(code, args, needle)                                        \
  do {                                                                        \
    int rc_ = cltrain(args);                                                  \
    cr_assert_eq(rc_, (code), "cltrain %s: exit %d, wanted %d:\n%s", (args),  \
                 rc_, (code), out);                                           \
    const char *needle_ = (needle);                                           \
    if (needle_)                                                              \
      cr_assert_not_null(strstr(out, needle_),                                \
                         "cltrain %s: output lacks '%s':\n%s", (args),        \
                         needle_, out);                                       \
  } while (0)

static void write_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* A CSV of three well separated classes in two features. */
static void write_blobs(const char *name, size_t n, uint64_t seed) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  float noise[2];
  fprintf(f, "label,x,y\n");
  for (size_t i = 0; i < n; i++) {
    tu_fill_uniform(noise, 2, seed + i, -1, 1);
    int c = (int)(i % 3);
    fprintf(f, "%d,%.4f,%.4f\n", c, 4.0 * (c == 1) + noise[0],
            4.0 * (c == 2) + noise[1]);
  }
  fclose(f);
}

static void setup(void) {
  cr_assert_not_null(mkdtemp(dir));
  write_blobs("train.csv", 600, 1);
  write_blobs("test.csv", 150, 99);
}

static void teardown(void) { tu_rm_tree(dir); }

TestSuite(cli, .init = setup, .fini = teardown);

Test(cli, version_help_and_unknown_commands) {
  EXPECT_RUN(0, "--version", CLT_VERSION_STRING);
  EXPECT_RUN(0, "--help", "commands:");
  EXPECT_RUN(2, "", "usage");
  EXPECT_RUN(2, "frobnicate", "unknown command 'frobnicate'");
  EXPECT_RUN(0, "train --help", "--optim");
  EXPECT_RUN(0, "predict --help", "--model");
  EXPECT_RUN(0, "help", "commands:");
  EXPECT_RUN(0, "help train", "--optim");
  EXPECT_RUN(0, "help export", "--format npz|safetensors");
  EXPECT_RUN(2, "help frobnicate", "unknown command 'frobnicate'");
}

Test(cli, devices_lists_and_says_what_auto_picks) {
  EXPECT_RUN(0, "devices", "auto picks:");
  EXPECT_RUN(0, "devices --json", "\"auto\":");
  EXPECT_RUN(2, "devices --bogus", "--bogus");
}

Test(cli, bad_flags_are_named) {
  EXPECT_RUN(2, "train --bogus 1", "--bogus");
  EXPECT_RUN(2, "train --lr abc", "--lr 'abc'");
  EXPECT_RUN(2, "train --lr -1", "--lr");
  EXPECT_RUN(2, "train --epochs 0", "--epochs");
  EXPECT_RUN(2, "train --init-std -1", "--init-std");
  EXPECT_RUN(2, "train --batch 1.5", "--batch");
  EXPECT_RUN(2, "train --loss nope", "--loss 'nope'");
  EXPECT_RUN(2, "train --optim nope", "--optim 'nope'");
  EXPECT_RUN(2, "train --schedule nope", "--schedule 'nope'");
  EXPECT_RUN(2, "train --data synthetic:10,x,3", "synthetic:N,D,C");
  EXPECT_RUN(2, "train --epochs", "--epochs needs a value");
  EXPECT_RUN(2, "train --data synthetic:200,4,3 --device no-such-device-xyz",
             "no-such-device-xyz");
  EXPECT_RUN(2, "predict", "--model FILE is required");
}

/* One strict parser: the whole value is the number, in range, and every
   refusal states the range. */
Test(cli, numbers_are_whole_in_range_and_the_range_is_named) {
  EXPECT_RUN(2, "train --seed ' -1'", "an integer in [0, 18446744073709551615]");
  EXPECT_RUN(2, "train --seed ' 1'", "--seed ' 1'");
  EXPECT_RUN(2, "train --seed +1", "--seed '+1'");
  EXPECT_RUN(2, "train --lr 1e30", "a number in [0, 1e+06]");
  EXPECT_RUN(2, "train --lr ' 0.1'", "--lr ' 0.1'");
  EXPECT_RUN(2, "train --lr 0x1p-3", "--lr '0x1p-3'");
  EXPECT_RUN(2, "train --lr inf", "a number in [0, 1e+06]");
  EXPECT_RUN(2, "train --epochs 0", "an integer in [1, 1000000]");
  EXPECT_RUN(2, "train --batch 1.5", "an integer in [0, 1099511627776]");
  EXPECT_RUN(2, "train --data synthetic:-5,3,2", "each an integer in [1, 2147483647]");
  EXPECT_RUN(2, "train --data synthetic:5,3", "synthetic:N,D,C");
  EXPECT_RUN(2, "train --data synthetic:5,3,2,", "synthetic:N,D,C");
  EXPECT_RUN(2, "gradcheck --l1 1e39", "a number in [0, 1e+06]");
  EXPECT_RUN(2, "gradcheck --h 0", "a number in (0, 1]");
  EXPECT_RUN(2, "gradcheck --seed ' 1'", "--seed");
  EXPECT_RUN(0, "train --data synthetic:200,4,3 --device ref --epochs 1 --quiet --lr 1e-320", NULL);
}

Test(cli, bad_data_files_are_named_with_status_2) {
  EXPECT_RUN(2, "train --data /nonexistent-dir", "/nonexistent-dir");
  write_file("bad.csv", "label,a\n0,1.5\n1,abc\n");
  EXPECT_RUN(2, "train --data bad.csv --test test.csv", "bad.csv");
  EXPECT_RUN(2, "train --data train.csv --test-labels y.npy", "--test-labels needs --test");
  write_file("narrow.csv", "0,1\n1,2\n");
  EXPECT_RUN(2, "train --data train.csv --test narrow.csv", "features");
  write_file("junk.ckpt", "not a checkpoint at all");
  EXPECT_RUN(2, "predict --model junk.ckpt --data test.csv", "junk.ckpt");
}

Test(cli, trains_prints_json_metrics_and_predicts) {
  EXPECT_RUN(0,
             "train --data train.csv --test test.csv --epochs 4 --batch 32 "
             "--lr 0.05 --device ref --checkpoint m.ckpt --metrics m.csv --json",
             "\"test_accuracy\":");
  /* The JSON object is the last line, with every documented key. */
  char *last = strrchr(out, '{');
  const char *keys[] = {"device", "loss", "optimizer", "epochs", "train_loss", "train_accuracy",
                        "test_loss", "test_accuracy", "seconds",
                        "samples_per_second"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", keys[i]);
    cr_assert_not_null(strstr(last, k), "JSON lacks %s: %s", k, last);
  }
  double acc = atof(strstr(last, "\"test_accuracy\":") + 16);
  cr_assert_geq(acc, 0.95, "%s", last);
  /* The training set's accuracy: separable blobs, as well learnt. */
  double train_acc = atof(strstr(last, "\"train_accuracy\":") + 17);
  cr_assert(train_acc >= 0.95 && train_acc <= 1.0, "%s", last);
  /* Metrics: a header and one row per epoch. */
  char path[256];
  snprintf(path, sizeof path, "%s/m.csv", dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char line[512];
  int lines = 0;
  while (fgets(line, sizeof line, f)) lines++;
  fclose(f);
  cr_assert_eq(lines, 5);
  EXPECT_RUN(0, "predict --model m.ckpt --data test.csv --device ref --json",
             "\"accuracy\":");
  double pacc = atof(strstr(out, "\"accuracy\":") + 11);
  cr_assert_float_eq(pacc, acc, 1e-9, "predict %.6f vs train %.6f", pacc, acc);
}

Test(cli, resume_continues_to_the_same_result) {
  /* A constant schedule: with cosine, a run of 2 epochs is not the first
     half of a run of 4 (the schedule spans --epochs). */
  const char *common = "train --data train.csv --test test.csv --batch 50 "
                       "--optim momentum --lr 0.05 --schedule constant --json "
                       "--device ref";
  char args[512];
  snprintf(args, sizeof args, "%s --epochs 4", common);
  EXPECT_RUN(0, args, "\"epochs\":4");
  char straight[1024];
  snprintf(straight, sizeof straight, "%s", strrchr(out, '{'));
  snprintf(args, sizeof args, "%s --epochs 2 --checkpoint r.ckpt", common);
  EXPECT_RUN(0, args, "\"epochs\":2");
  snprintf(args, sizeof args, "%s --epochs 4 --resume r.ckpt", common);
  EXPECT_RUN(0, args, "\"epochs\":4");
  /* Everything but the timings agrees. */
  char *resumed = strrchr(out, '{');
  size_t upto = (size_t)(strstr(straight, "\"seconds\"") - straight);
  cr_assert(strncmp(straight, resumed, upto) == 0, "straight %s\nresumed %s",
            straight, resumed);
  /* A checkpoint of another optimizer is refused. */
  EXPECT_RUN(2,
             "train --data train.csv --test test.csv --batch 50 --optim adam "
             "--epochs 4 --resume r.ckpt --device ref",
             "r.ckpt");
}

/* A run killed after writing an epoch's metrics row and before its
   checkpoint left that row behind (older versions wrote the row first): a
   resume keeps the rows of the checkpoint's epochs only, so every epoch
   appears once. */
Test(cli, resume_keeps_one_metrics_row_per_epoch) {
  const char *common = "train --data train.csv --test test.csv --batch 50 --quiet "
                       "--device ref --checkpoint k.ckpt --metrics k.csv";
  char args[512];
  snprintf(args, sizeof args, "%s --epochs 2", common);
  EXPECT_RUN(0, args, NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/k.csv", dir);
  FILE *f = fopen(path, "a");
  cr_assert_not_null(f);
  fputs("3,36,0.5,0.5,0.9,0.01,1000.0\n", f); /* the killed run's epoch 3 */
  fclose(f);
  snprintf(args, sizeof args, "%s --epochs 4 --resume k.ckpt", common);
  EXPECT_RUN(0, args, NULL);
  f = fopen(path, "r");
  cr_assert_not_null(f);
  char line[512];
  int rows = 0, seen[5] = {0};
  cr_assert_not_null(fgets(line, sizeof line, f));
  cr_assert(strncmp(line, "epoch,", 6) == 0, "header: %s", line);
  while (fgets(line, sizeof line, f)) {
    int e = atoi(line);
    cr_assert(e >= 1 && e <= 4, "row: %s", line);
    seen[e]++;
    rows++;
  }
  fclose(f);
  cr_assert_eq(rows, 4, "%d rows after resuming", rows);
  for (int e = 1; e <= 4; e++) cr_assert_eq(seen[e], 1, "epoch %d appears %d times", e, seen[e]);
}

/* A resume preprocesses with the checkpoint's statistics: a --preprocess
   that contradicts the checkpoint, or data of another width, is refused
   naming both; without the flag the checkpoint's mode is taken. */
Test(cli, resume_refuses_what_contradicts_the_checkpoint) {
  EXPECT_RUN(0, "train --data synthetic:200,4,3 --device ref --epochs 2 --quiet "
                "--preprocess none --checkpoint q.ckpt", NULL);
  EXPECT_RUN(2, "train --data synthetic:200,4,3 --device ref --epochs 3 --quiet "
                "--preprocess standardize --resume q.ckpt",
             "--preprocess standardize contradicts --resume q.ckpt, trained with --preprocess none");
  EXPECT_RUN(2, "train --data synthetic:200,5,3 --device ref --epochs 3 --quiet --resume q.ckpt",
             "4 features, --data has 5");
  EXPECT_RUN(2, "train --data synthetic:200,4,3 --device ref --epochs 3 --quiet --resume q.ckpt "
                "--weight-decay 0.5",
             "--weight-decay 0.5 contradicts --resume q.ckpt, trained with --weight-decay 0.05");
  EXPECT_RUN(0, "train --data synthetic:200,4,3 --device ref --epochs 3 --quiet --resume q.ckpt "
                "--weight-decay 0.05", NULL);
  EXPECT_RUN(0, "train --data synthetic:200,4,3 --device ref --epochs 4 --quiet --resume q.ckpt",
             NULL);
}

/* A model whose checksum is right but whose weights hold a NaN is refused
   at load (exit 2), not run into NaN scores. W's values start at byte 299
   of a version-4 checkpoint trained on the reference backend with
   --preprocess none on 3 classes (docs/CHECKPOINT.md): magic 8, version 4,
   kind "linear" 4 + 6, four u32, five u64, mode 4, scale 8, the settings
   (144 bytes without class weights), the labels "0", "1", "2" (3 x 5), the
   variant "reference" 4 + 9, shards 8, ranks 4, tensor count 4, then "W"
   4 + 1, rows 8, cols 8. */
Test(cli, models_with_non_finite_weights_are_refused_at_load) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --quiet "
                "--preprocess none --checkpoint nan.ckpt", NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/nan.ckpt", dir);
  FILE *f = fopen(path, "r+b");
  cr_assert_not_null(f);
  static unsigned char b[1 << 16];
  size_t len = fread(b, 1, sizeof b, f);
  cr_assert(len > 100 && len < sizeof b);
  const unsigned char nan_le[4] = {0x00, 0x00, 0xc0, 0x7f};
  const size_t w0 =
      8 + 4 + 4 + 6 + 4 * 4 + 5 * 8 + 4 + 8 + 144 + 3 * 5 + 13 + 8 + 4 + 4 + 4 + 1 + 8 + 8;
  cr_assert_eq(w0, 299);
  cr_assert_eq(memcmp(b + w0 - 21, "\x01\0\0\0W", 5), 0, "the W record is where expected");
  memcpy(b + w0, nan_le, 4);
  uint32_t crc = (uint32_t)crc32(0L, b, (uInt)(len - 4));
  for (int i = 0; i < 4; i++) b[len - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
  rewind(f);
  cr_assert_eq(fwrite(b, 1, len, f), len);
  fclose(f);
  EXPECT_RUN(2, "predict --model nan.ckpt --data test.csv --device ref", "W[0] = nan is not finite");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --epochs 2 --device ref --resume nan.ckpt",
             "not finite");
}

Test(cli, plot_draws_a_png) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0)
    cr_skip_test("gnuplot is not installed");
  EXPECT_RUN(0,
             "train --data train.csv --test test.csv --epochs 3 --device ref "
             "--quiet --plot curves.png",
             NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/curves.png", dir);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "no %s:\n%s", path, out);
  unsigned char magic[8] = {0};
  cr_assert_eq(fread(magic, 1, 8, f), 8);
  fclose(f);
  cr_assert(memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0, "not a PNG");
}

/* An SVG for a name ending .svg, with the validation and test curves, the
   learning rate and a title naming the data set, the loss and the
   optimizer: the data set's name is only text, never gnuplot's script. */
Test(cli, plot_draws_an_svg_with_every_curve_and_a_title) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0)
    cr_skip_test("gnuplot is not installed");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cp %s/train.csv \"%s/t'; system('touch pwned_t'); x='.csv\"", dir,
           dir);
  cr_assert_eq(system(cmd), 0);
  char *const argv[] = {"cltrain", "train", "--data", "t'; system('touch pwned_t'); x='.csv",
                        "--test", "test.csv", "--val", "0.2", "--epochs", "3", "--device",
                        "ref", "--quiet", "--loss", "hinge", "--plot", "curves.svg", NULL};
  cr_assert_eq(cltrain_argv(argv, NULL), 0, "%s", out);
  char path[256];
  snprintf(path, sizeof path, "%s/curves.svg", dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "no %s:\n%s", path, out);
  static char svg[1 << 20];
  size_t n = fread(svg, 1, sizeof svg - 1, f);
  svg[n] = '\0';
  fclose(f);
  cr_assert_not_null(strstr(svg, "<svg"), "not an SVG");
  const char *want[] = {"validation", "test", "learning rate", "hinge, adamw lr 0.01",
                        "system("};
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
    cr_assert_not_null(strstr(svg, want[k]), "the SVG lacks '%s'", want[k]);
  snprintf(path, sizeof path, "%s/pwned_t", dir);
  cr_assert_neq(access(path, F_OK), 0, "the data set's name was interpreted");
}

/* Runs the tool in dir with an argument vector (no shell) and CLT_DEVICE
   set to clt_device (NULL: unset); output as cltrain() gives it. */
static int cltrain_argv(char *const argv[], const char *clt_device) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (chdir(dir) != 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0) _exit(126);
    if (clt_device) setenv("CLT_DEVICE", clt_device, 1);
    else unsetenv("CLT_DEVICE");
    execv(CLT_CLI_PATH, argv);
    _exit(127);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
    n += (size_t)r;
  out[n] = '\0';
  close(fds[0]);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* A device asked for through CLT_DEVICE is named as such, and a resume to
   fewer epochs than the checkpoint holds is bad usage. */
Test(cli, device_requests_and_resume_epochs_are_reported_as_given) {
  char *const argv[] = {"cltrain", "train", "--data", "synthetic:200,4,3", "--epochs", "1", NULL};
  int rc = cltrain_argv(argv, "no-such-device-xyz");
  cr_assert_eq(rc, 2, "exit %d:\n%s", rc, out);
  cr_assert_not_null(strstr(out, "CLT_DEVICE=no-such-device-xyz"), "%s", out);
  EXPECT_RUN(0, "train --data synthetic:200,4,3 --device ref --epochs 3 --quiet --checkpoint e.ckpt",
             NULL);
  EXPECT_RUN(2, "train --data synthetic:200,4,3 --device ref --epochs 2 --quiet --resume e.ckpt",
             "already has 3 epochs");
}

static int file_exists(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

static int is_png(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  unsigned char magic[8] = {0};
  int ok = f && fread(magic, 1, 8, f) == 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0;
  if (f) fclose(f);
  return ok;
}

/* Paths are file names and nothing else: shell command substitution,
   backticks, variables, double quotes that would end a shell string, single
   quotes that would end a gnuplot string and inject system(), and a
   newline; as --plot and as --metrics. Each would create a pwned_* file in
   dir if anything interpreted it. */
Test(cli, plot_and_metrics_paths_are_never_interpreted) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0)
    cr_skip_test("gnuplot is not installed");
  static const char *const names[] = {
      "a$(touch pwned_a).png",
      "b`touch pwned_b`.png",
      "c$HOME${PATH}.png",
      "d\"; touch pwned_d; echo \".png",
      "e'; system('touch pwned_e'); set output 'e2.png",
      "f\nsystem('touch pwned_f')\n.png",
      "g'\"$(touch pwned_g)`touch pwned_h`;|&<>*?~!#%\\.png",
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char metrics[256];
    snprintf(metrics, sizeof metrics, "%s.csv", names[i]);
    char *const argv[] = {"cltrain", "train", "--data", "train.csv", "--test", "test.csv",
                          "--epochs", "2", "--device", "ref", "--quiet",
                          "--plot", (char *)names[i], "--metrics", metrics, NULL};
    int rc = cltrain_argv(argv, NULL);
    cr_assert_eq(rc, 0, "--plot '%s': exit %d:\n%s", names[i], rc, out);
    cr_assert(is_png(names[i]), "--plot '%s' drew no PNG under its literal name:\n%s",
              names[i], out);
    cr_assert(file_exists(metrics), "--metrics '%s' not written under its literal name",
              metrics);
  }
  static const char *const pwned[] = {"pwned_a", "pwned_b", "pwned_d", "pwned_e",
                                      "pwned_f", "pwned_g", "pwned_h", "e2.png"};
  for (size_t i = 0; i < sizeof pwned / sizeof pwned[0]; i++)
    cr_assert(!file_exists(pwned[i]), "%s exists: a path was interpreted", pwned[i]);
}

/* A misspelt name is reported as such before any data is read, also where
   the default data set is missing. */
Test(cli, bad_names_are_named_before_the_data_is_read) {
  setenv("CLT_DATA_DIR", "/nonexistent-fashion-mnist", 1);
  static const char *const flags[][2] = {
      {"--loss", "nope"}, {"--optim", "nope"}, {"--schedule", "nope"}, {"--preprocess", "nope"}};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    char *const argv[] = {"cltrain", "train", (char *)flags[i][0], (char *)flags[i][1], NULL};
    int rc = cltrain_argv(argv, NULL);
    char want[64];
    snprintf(want, sizeof want, "%s 'nope'", flags[i][0]);
    cr_assert_eq(rc, 2, "%s nope: exit %d:\n%s", flags[i][0], rc, out);
    cr_assert_not_null(strstr(out, want), "%s nope: output lacks \"%s\":\n%s", flags[i][0],
                       want, out);
  }
  unsetenv("CLT_DATA_DIR");
}

/* Output that could not be written is a failure naming where it went: a
   metrics file on a full disk, stdout on a full disk or closed. */
Test(cli, output_that_cannot_be_written_exits_1) {
  const char *run = "train --data train.csv --test test.csv --epochs 2 --device ref --quiet";
  char args[512];
  snprintf(args, sizeof args, "%s --json", run);
  int rc = cltrain_redirected(args, ">/dev/full");
  cr_assert_eq(rc, 1, "--json to a full disk: exit %d:\n%s", rc, out);
  cr_assert_not_null(strstr(out, "standard output"), "%s", out);
  rc = cltrain_redirected(args, ">&-");
  cr_assert_eq(rc, 1, "--json to a closed stdout: exit %d:\n%s", rc, out);
  rc = cltrain_redirected("devices", ">/dev/full");
  cr_assert_eq(rc, 1, "devices to a full disk: exit %d:\n%s", rc, out);
}

/* Checkpoints, metrics and plots go to regular files or new paths only:
   a device, FIFO or directory is refused with exit 2 before any training,
   and stays what it was; a symbolic link's target is replaced, the link
   kept. */
Test(cli, outputs_are_regular_files_and_links_are_followed) {
  const char *run = "train --data train.csv --test test.csv --epochs 2 --device ref";
  char args[512], path[256];
  snprintf(path, sizeof path, "%s/fifo", dir);
  cr_assert_eq(mkfifo(path, 0600), 0);
  snprintf(path, sizeof path, "%s/subdir", dir);
  cr_assert_eq(mkdir(path, 0700), 0);
  static const char *const refused[][2] = {{"--checkpoint", "/dev/null"},
                                           {"--checkpoint", "fifo"},
                                           {"--checkpoint", "subdir"},
                                           {"--metrics", "/dev/full"},
                                           {"--plot", "fifo"}};
  for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
    snprintf(args, sizeof args, "%s %s %s", run, refused[k][0], refused[k][1]);
    EXPECT_RUN(2, args, "not a regular file");
    cr_assert_null(strstr(out, "epoch"), "%s: trained before refusing:\n%s", args, out);
  }
  struct stat st;
  cr_assert(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null was replaced");
  write_file("target.ckpt", "");
  snprintf(path, sizeof path, "%s/link.ckpt", dir);
  cr_assert_eq(symlink("target.ckpt", path), 0);
  snprintf(args, sizeof args, "%s --quiet --checkpoint link.ckpt", run);
  EXPECT_RUN(0, args, NULL);
  cr_assert(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
  snprintf(path, sizeof path, "%s/target.ckpt", dir);
  cr_assert(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0,
            "the link's target holds no checkpoint");
  snprintf(args, sizeof args,
           "train --data train.csv --test test.csv --epochs 3 --device ref --quiet "
           "--resume link.ckpt");
  EXPECT_RUN(0, args, NULL);
}

/* Inputs that are not regular files are refused at once, not read: a
   FIFO would block open forever, /dev/zero would fill memory. */
Test(cli, inputs_that_are_not_regular_files_are_refused) {
  char path[256];
  snprintf(path, sizeof path, "%s/pipe.csv", dir);
  cr_assert_eq(mkfifo(path, 0600), 0);
  EXPECT_RUN(2, "train --data pipe.csv --test test.csv --device ref", "not a regular file");
  EXPECT_RUN(2, "train --data train.csv --test pipe.csv --device ref", "not a regular file");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --device ref --resume pipe.csv",
             "not a regular file");
  EXPECT_RUN(2, "predict --model pipe.csv --data test.csv --device ref", "not a regular file");
  EXPECT_RUN(2, "predict --model /dev/zero --data test.csv --device ref", "not a regular file");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --device ref --resume /dev/zero",
             "not a regular file");
}

/* SIGTERM while checkpoints are written leaves no temporary file (a
   handler removes the one in progress; SIGKILL cannot be handled). The
   kills land at staggered times, some during a write. */
Test(cli, terminated_runs_leave_no_temporary_checkpoint) {
  for (int k = 0; k < 12; k++) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      if (chdir(dir) != 0 || null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
      execl(CLT_CLI_PATH, "cltrain", "train", "--data", "synthetic:2000,300,10", "--device",
            "ref", "--epochs", "50", "--batch", "2000", "--checkpoint", "term.ckpt",
            (char *)NULL);
      _exit(127);
    }
    nanosleep(&(struct timespec){0, 60000000L + 23000000L * k}, NULL);
    kill(pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
  }
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  for (struct dirent *e; (e = readdir(d));)
    cr_assert_null(strstr(e->d_name, ".tmp."), "left behind: %s", e->d_name);
  closedir(d);
}

Test(cli, plot_that_cannot_be_written_exits_1_naming_it) {
  if (system("command -v gnuplot >/dev/null 2>&1") != 0)
    cr_skip_test("gnuplot is not installed");
  EXPECT_RUN(1,
             "train --data train.csv --test test.csv --epochs 2 --device ref "
             "--quiet --plot no-such-dir/curves.png",
             "no-such-dir/curves.png");
}

Test(cli, divergence_exits_1_naming_step_and_rate) {
  EXPECT_RUN(1,
             "train --data train.csv --test test.csv --loss mse --optim sgd "
             "--lr 10 --schedule constant --batch 20 --epochs 3 --device ref",
             "diverged");
  cr_assert_not_null(strstr(out, "learning rate 10"), "%s", out);
}

/* --profile: after the result, a table of every kernel (reference: op),
   transfer and wait, longest first; with --json a "profile" object keyed
   by name inside the result object. Without --profile, neither. */
Test(cli, profile_prints_the_timings_table_and_json) {
  const char *devices[] = {"ref", "cpu"};
  for (size_t d = 0; d < (tu_have_opencl() ? 2 : 1); d++) {
    bool ref = d == 0;
    char args[512];
    snprintf(args, sizeof args,
             "train --data train.csv --test test.csv --epochs 2 --batch 32 "
             "--device %s --quiet --profile", devices[d]);
    EXPECT_RUN(0, args, "profile: ");
    cr_assert_not_null(strstr(out, ref ? "linear_forward" : "clt_"), "%s", out);
    cr_assert_not_null(strstr(out, ref ? "optim_step" : "host wait"), "%s", out);
    cr_assert_not_null(strstr(out, "write "), "%s", out);
    /* Longest first: the totals (ms, fourth column) never increase. */
    double prev = INFINITY;
    int rows = 0;
    for (const char *l = strchr(strstr(out, "share"), '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
      char name[64], kind[16];
      unsigned long long count;
      double ms;
      if (sscanf(l + 1, "%63s %15s %llu %lf", name, kind, &count, &ms) != 4) continue;
      if (strcmp(kind, "wait") == 0) continue;
      cr_assert_leq(ms, prev, "%s after a shorter row:\n%s", name, out);
      cr_assert_geq(count, 1);
      prev = ms, rows++;
    }
    cr_assert_geq(rows, 4, "%s", out);

    snprintf(args, sizeof args,
             "train --data train.csv --test test.csv --epochs 2 --batch 32 "
             "--device %s --json --profile", devices[d]);
    EXPECT_RUN(0, args, "\"profile\":{\"");
    const char *p = strstr(out, "\"profile\":{");
    cr_assert_not_null(strstr(p, "\"kind\":\"kernel\",\"count\":"), "%s", p);
    cr_assert_not_null(strstr(p, "\"kind\":\"transfer\""), "%s", p);
    cr_assert_not_null(strstr(p, "}}}\n"), "the object closes the result: %s", p);
    cr_assert_not_null(strstr(out, "\"test_accuracy\":"), "%s", out);
  }
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --json", NULL);
  cr_assert_null(strstr(out, "profile"), "%s", out);
}

/* Checkpoints of older versions, written by the last writer of each
   (tests/golden/old-checkpoints.sh): they load as models
   whose classes are named 0..C-1 and that record no variant, and resuming the epoch-1 one to 2 epochs
   with the script's flags gives the bits of the old writer's own 2-epoch run,
   written back in the current version. */
static void old_checkpoint_loads_and_resumes(uint32_t version) {
  char cmd[2048], epoch2[512], nobias[512], out_path[512];
  snprintf(epoch2, sizeof epoch2, "%s/ckpt-v%u/epoch2.ckpt", CLT_GOLDEN_DIR, version);
  snprintf(nobias, sizeof nobias, "%s/ckpt-v%u/nobias.ckpt", CLT_GOLDEN_DIR, version);
  snprintf(out_path, sizeof out_path, "%s/resumed.ckpt", dir);
  clt_checkpoint want, got, nb;
  cr_assert_eq(clt_checkpoint_load(NULL, epoch2, &want), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert_eq(want.version, version);
  cr_assert_eq(want.has_settings, version >= 3);
  cr_assert_str_eq(want.variant, "", "no version before 4 records a variant");
  cr_assert_eq(want.labels.n, 3);
  cr_assert_str_eq(want.labels.name[2], "2");
  cr_assert_str_eq(want.kind->name, "linear");
  cr_assert(want.ntensors == 2 && want.epochs == 2);
  cr_assert_eq(clt_checkpoint_load(NULL, nobias, &nb), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert_eq(nb.ntensors, 1, "no bias: W alone");
  cr_assert_str_eq(nb.tensor[0].name, "W");
  clt_checkpoint_free(&nb);

  snprintf(cmd, sizeof cmd, "cp %s/ckpt-v%u/epoch1.ckpt %s/old.ckpt", CLT_GOLDEN_DIR, version,
           dir);
  cr_assert_eq(system(cmd), 0);
  EXPECT_RUN(0,
             "train --data synthetic:300,7,3 --batch 32 --optim adam --lr 0.01 "
             "--schedule constant --seed 5 --device ref --quiet --epochs 2 "
             "--resume old.ckpt --checkpoint resumed.ckpt",
             NULL);
  cr_assert_eq(clt_checkpoint_load(NULL, out_path, &got), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert_eq(got.version, CLT_CHECKPOINT_VERSION);
  cr_assert(got.step == want.step && got.epochs == 2 && got.rng == want.rng);
  for (size_t i = 0; i < 2; i++) {
    cr_assert_str_eq(got.tensor[i].name, want.tensor[i].name);
    size_t n = want.tensor[i].rows * want.tensor[i].cols;
    cr_assert_eq(memcmp(got.tensor[i].data, want.tensor[i].data, n * 4), 0,
                 "%s differs from the version-%u writer's", want.tensor[i].name, version);
  }
  cr_assert_eq(got.optim_len, want.optim_len);
  cr_assert_eq(memcmp(got.optim_state, want.optim_state, want.optim_len), 0,
               "the optimizer's record differs");
  clt_checkpoint_free(&got);
  clt_checkpoint_free(&want);
  /* Both versions predict the same through the model interface. */
  char csv[4096] = "";
  float row[7];
  for (int i = 0; i < 20; i++) {
    tu_fill_uniform(row, 7, 40 + (uint64_t)i, -2, 2);
    size_t used = strlen(csv);
    snprintf(csv + used, sizeof csv - used, "%d,%g,%g,%g,%g,%g,%g,%g\n", i % 3, row[0],
             row[1], row[2], row[3], row[4], row[5], row[6]);
  }
  write_file("seven.csv", csv);
  char first[512];
  snprintf(cmd, sizeof cmd, "predict --model %s --data seven.csv --device ref --json", epoch2);
  EXPECT_RUN(0, cmd, "\"accuracy\":");
  snprintf(first, sizeof first, "%s", strstr(out, "\"rows\""));
  EXPECT_RUN(0, "predict --model resumed.ckpt --data seven.csv --device ref --json",
             first);
}

Test(cli, old_checkpoints_load_and_resume_bit_identically) {
  old_checkpoint_loads_and_resumes(1);
  old_checkpoint_loads_and_resumes(2);
  old_checkpoint_loads_and_resumes(3);
}

/* Predictions out: --data is required; --no-labels takes a CSV of
   features only and writes a row per sample; --out with --proba writes
   probabilities that sum to 1 (softmax) and the JSON holds the confusion
   matrix, whose diagonal is the correct count. */
Test(cli, predict_writes_predictions_probabilities_and_confusion) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 2 --batch 32 --lr 0.05 "
                "--device ref --quiet --checkpoint p.ckpt", NULL);
  EXPECT_RUN(2, "predict --model p.ckpt", "--data PATH");
  EXPECT_RUN(2, "predict --model p.ckpt --data fashion-mnist --no-labels",
             "fashion-mnist has 784 features, the model expects 2");
  EXPECT_RUN(2, "predict --model p.ckpt --data test.csv --out .", "--out .");

  /* test.csv without its label column */
  char rows[8192] = "x,y\n";
  FILE *f = fopen(strcat(strcpy((char[512]){0}, dir), "/test.csv"), "r");
  cr_assert_not_null(f);
  char line[256];
  int n = -1;
  while (fgets(line, sizeof line, f)) {
    if (n++ < 0) continue;
    strcat(rows, strchr(line, ',') + 1);
  }
  fclose(f);
  write_file("features.csv", rows);
  EXPECT_RUN(0, "predict --model p.ckpt --data features.csv --no-labels --device ref",
             "prediction\n");
  int lines = 0;
  for (const char *p = out; (p = strchr(p, '\n')); p++) lines++;
  cr_assert_eq(lines, n + 1, "a header and %d rows:\n%s", n, out);
  cr_assert_null(strstr(out, "accuracy"), "no labels, no accuracy: %s", out);

  EXPECT_RUN(0, "predict --model p.ckpt --data test.csv --device ref --proba --out pr.csv --json",
             "\"confusion\":[[");
  size_t correct = (size_t)atol(strstr(out, "\"correct\":") + 10);
  const char *m = strstr(out, "\"confusion\":[[") + 13;
  size_t total = 0, diag = 0;
  for (int t = 0; t < 3; t++) {
    cr_assert_eq(*m, '[', "%s", out);
    m++;
    for (int k = 0; k < 3; k++) {
      char *e;
      size_t v = strtoul(m, &e, 10);
      total += v;
      if (t == k) diag += v;
      m = e + 1;
    }
    if (*m == ',') m++;
  }
  cr_assert_eq(total, (size_t)n, "every row counted once: %s", out);
  cr_assert_eq(diag, correct, "the diagonal is the correct count: %s", out);
  char path[512];
  snprintf(path, sizeof path, "%s/pr.csv", dir);
  f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_assert_not_null(fgets(line, sizeof line, f));
  cr_assert_str_eq(line, "prediction,p_0,p_1,p_2\n");
  int read = 0;
  while (fgets(line, sizeof line, f)) {
    int cls;
    double p[3];
    cr_assert_eq(sscanf(line, "%d,%lf,%lf,%lf", &cls, &p[0], &p[1], &p[2]), 4, "%s", line);
    cr_assert(fabs(p[0] + p[1] + p[2] - 1) < 1e-6, "probabilities sum to 1: %s", line);
    cr_assert(p[cls] >= p[0] && p[cls] >= p[1] && p[cls] >= p[2], "%s", line);
    read++;
  }
  fclose(f);
  cr_assert_eq(read, n);
}

/* export: npz and safetensors files of the model (their contents are
   checked with numpy in tests/export_roundtrip.sh); refusals exit 2. */
Test(cli, export_writes_npz_and_safetensors) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --quiet "
                "--checkpoint e.ckpt", NULL);
  EXPECT_RUN(0, "export --model e.ckpt --format npz",
             "wrote e.ckpt.npz: W (2, 3) float32, b (1, 3) float32, preprocess_scale () float64");
  EXPECT_RUN(0, "export --model e.ckpt --format safetensors --out e.st", "wrote e.st:");
  char path[512];
  snprintf(path, sizeof path, "%s/e.ckpt.npz", dir);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  unsigned char head[4];
  cr_assert_eq(fread(head, 1, 4, f), 4);
  fclose(f);
  cr_assert_eq(memcmp(head, "PK\x03\x04", 4), 0, "a zip");
  EXPECT_RUN(2, "export --model e.ckpt", "--format (missing): expected npz or safetensors");
  EXPECT_RUN(2, "export --model e.ckpt --format csv", "expected npz or safetensors");
  EXPECT_RUN(2, "export --format npz", "--model FILE is required");
  EXPECT_RUN(2, "export --model nothere.ckpt --format npz", "nothere.ckpt: cannot open");
  EXPECT_RUN(2, "export --model e.ckpt --format npz --out .", "--out .");
  EXPECT_RUN(0, "export --help", "preprocess_std");
}

/* Defaults by data size: below 16384 rows batches of 32 and at least 4000
   steps (600 rows: 19 steps an epoch, 211 epochs); from 16384 rows the
   Fashion-MNIST recipe, 20 epochs of 256. A run that ends within 5 % of
   its starting loss warns and names what to change; --quiet keeps the
   result line. */
Test(cli, defaults_follow_the_data_size_and_untrained_runs_warn) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --json",
             "\"epochs\":211,\"batch\":32,");
  cr_assert_null(strstr(out, "warning"), "%s", out);
  EXPECT_RUN(0, "train --data synthetic:16384,3,2 --device ref --json",
             "\"epochs\":20,\"batch\":256,");
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --lr 1e-7 --epochs 1 --quiet",
             "warning: the training loss");
  cr_assert_not_null(strstr(out, "raise --lr (now 1e-07)"), "%s", out);
  cr_assert_not_null(strstr(out, "test accuracy"), "--quiet keeps the result: %s", out);
}

/* The optimizer's own flags: each for the optimizers that have it, in its
   range, echoed in --json with every effective hyper-parameter, and on
   resume refused when it contradicts the checkpoint (both values named). */
Test(cli, optimizer_flags_apply_echo_and_hold_on_resume) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 2 --optim adam "
                "--betas 0.8,0.99 --eps 1e-7 --clip-grad-norm 1 --json --checkpoint o.ckpt",
             "\"optimizer\":\"adam\"");
  const char *want[] = {"\"loss\":\"cross-entropy\"", "\"betas\":[0.8,0.99]",
                        "\"eps\":1e-07", "\"clip_grad_norm\":1", "\"lr\":0.001,",
                        "\"train_rows\":600", "\"test_rows\":150", "\"features\":2",
                        "\"classes\":3", "\"schedule\":\"cosine\"",
                        "\"preprocess\":\"standardize\""};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert_not_null(strstr(out, want[i]), "JSON lacks %s: %s", want[i], out);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 1 "
                "--loss softmax --optim nesterov --momentum 0.5 --json",
             "\"momentum\":0.5,\"nesterov\":true");
  cr_assert_not_null(strstr(out, "\"loss\":\"cross-entropy\",\"optimizer\":\"sgd\""), "%s", out);
  EXPECT_RUN(2, "train --data train.csv --test test.csv --optim sgd --betas 0.9,0.9",
             "--betas does not apply to --optim sgd");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --optim lars --eps 1e-8",
             "--eps does not apply to --optim lars");
  EXPECT_RUN(2, "train --optim adam --betas 0.9,1", "two numbers B1,B2 in [0, 1)");
  EXPECT_RUN(2, "train --optim adam --betas 0.9", "two numbers B1,B2 in [0, 1)");
  EXPECT_RUN(2, "train --momentum -1", "a number in [0, 1e+06]");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --device ref --epochs 3 --optim adam "
                "--resume o.ckpt --checkpoint o2.ckpt --betas 0.9,0.999",
             "--betas 0.9,0.999 contradicts --resume o.ckpt, trained with --betas 0.8,0.99");
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 3 --optim adam "
                "--resume o.ckpt --checkpoint o2.ckpt --betas 0.8,0.99 --eps 1e-7 --json",
             "\"epochs\":3");
}

/* Resume does what the user means: without --checkpoint it says that the
   new epochs are not saved and leaves the resumed file as it was; resuming
   a finished run says so, exits 0 and reports the model's real test
   accuracy (not a zero), with train_loss null in --json. */
Test(cli, resume_of_a_finished_run_and_without_checkpoint) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 2 --json "
                "--checkpoint f.ckpt", "\"test_accuracy\":");
  char acc[32];
  snprintf(acc, sizeof acc, "%.8s", strstr(out, "\"test_accuracy\":") + 16);
  char path[512];
  snprintf(path, sizeof path, "%s/f.ckpt", dir);
  struct stat before, after;
  cr_assert_eq(stat(path, &before), 0);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 2 --json "
                "--resume f.ckpt", "already holds the 2 epochs asked for: nothing to train");
  cr_assert_not_null(strstr(out, "\"train_loss\":null"), "%s", out);
  char want[64];
  snprintf(want, sizeof want, "\"test_accuracy\":%s", acc);
  cr_assert_not_null(strstr(out, want), "the model's accuracy, %s: %s", acc, out);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 3 --quiet "
                "--resume f.ckpt", "no --checkpoint, so the epochs of this run are not saved");
  cr_assert_eq(stat(path, &after), 0);
  cr_assert(before.st_size == after.st_size && before.st_mtime == after.st_mtime &&
                before.st_ino == after.st_ino, "the resumed file was rewritten");
  /* without a test set, the validation set's accuracy, never a NaN */
  EXPECT_RUN(0, "train --data train.csv --val test.csv --device ref --epochs 2 --resume f.ckpt",
             "validation accuracy ");
  cr_assert_null(strstr(out, "nan"), "%s", out);
}

/* Validation: --val F holds out a stratified fraction of the training set
   (600 rows of 3 balanced classes: 40 of each), reported every epoch, in
   the metrics and in --json; --early-stop N stops after N epochs without a
   lower validation loss (lr 0: none after the first), and --checkpoint
   also keeps the best epoch's model, which predict runs. */
Test(cli, validation_early_stop_and_best_checkpoint) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 3 --val 0.2 --json "
                "--metrics v.csv", "\"val_rows\":120,");
  cr_assert_not_null(strstr(out, "\"train_rows\":480,"), "%s", out);
  cr_assert_not_null(strstr(out, "\"val_accuracy\":"), "%s", out);
  char path[512], line[512];
  snprintf(path, sizeof path, "%s/v.csv", dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_assert_not_null(fgets(line, sizeof line, f));
  cr_assert_str_eq(line, "epoch,step,train_loss,test_loss,test_accuracy,seconds,"
                         "samples_per_second,val_loss,val_accuracy,train_accuracy,lr\n");
  /* every cell filled: a test and a validation set, the training accuracy */
  cr_assert_not_null(fgets(line, sizeof line, f));
  cr_assert_null(strstr(line, ",,"), "%s", line);
  fclose(f);

  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --epochs 10 --val 0.2 "
                "--early-stop 1 --optim sgd --lr 0 --json --checkpoint v.ckpt",
             "early stop after epoch 2: no lower validation loss for 1 epochs");
  cr_assert_not_null(strstr(out, "\"best_epoch\":1,\"stopped_early\":true"), "%s", out);
  cr_assert_not_null(strstr(out, "\"best_checkpoint\":\"v.best.ckpt\""), "%s", out);
  cr_assert_not_null(strstr(out, "\"epochs\":2,"), "%s", out);
  EXPECT_RUN(0, "predict --model v.best.ckpt --data test.csv --device ref", "accuracy");

  EXPECT_RUN(2, "train --data train.csv --test test.csv --val 1.5",
             "expected a fraction in (0, 1) of the training set, or a data set's path");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --early-stop 2",
             "--early-stop needs a validation set (--val)");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --val nothere.csv", "nothere.csv");
}

/* --------------------------------------------------------- data formats */

/* A copy of train.csv / test.csv with the label last and named as text
   ("c0", "c1", "c2" for 0, 1, 2), through the delimiter sep. */
static void write_named(const char *from, const char *to, char sep) {
  char src[256], dst[256], line[256];
  snprintf(src, sizeof src, "%s/%s", dir, from);
  snprintf(dst, sizeof dst, "%s/%s", dir, to);
  FILE *f = fopen(src, "r"), *g = fopen(dst, "w");
  cr_assert(f && g);
  cr_assert_not_null(fgets(line, sizeof line, f)); /* the header */
  fprintf(g, "x%cy%cspecies\n", sep, sep);
  while (fgets(line, sizeof line, f)) {
    int c;
    double x, y;
    cr_assert_eq(sscanf(line, "%d,%lf,%lf", &c, &x, &y), 3);
    fprintf(g, "%.4f%c%.4f%cc%d\n", x, sep, y, sep, c);
  }
  fclose(f);
  fclose(g);
}

/* Text labels in a named column: the model learns them as classes, in
   sorted order, and predict writes them back; the same data as numbers
   trains to the same accuracy. */
Test(cli, text_labels_in_any_column_round_trip_through_predict) {
  write_named("train.csv", "named.csv", ';');
  write_named("test.csv", "named_test.csv", ';');
  EXPECT_RUN(0, "train --data named.csv --test named_test.csv --label-column species "
                "--delimiter ';' --epochs 2 --device ref --json --checkpoint n.ckpt",
             "\"classes\":3");
  double named = atof(strstr(out, "\"test_accuracy\":") + 16);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 2 --device ref --json",
             "\"classes\":3");
  double numbered = atof(strstr(out, "\"test_accuracy\":") + 16);
  cr_assert_eq(named, numbered, "the same classes in the same order: %g vs %g", named,
               numbered);
  EXPECT_RUN(0, "predict --model n.ckpt --data named_test.csv --label-column last "
                "--delimiter ';' --device ref --json --out np.csv --proba",
             "\"classes\":[\"c0\",\"c1\",\"c2\"]");
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/np.csv", dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_assert_not_null(fgets(line, sizeof line, f));
  cr_assert_str_eq(line, "prediction,p_c0,p_c1,p_c2\n");
  cr_assert_not_null(fgets(line, sizeof line, f));
  cr_assert(strncmp(line, "c0,", 3) == 0 || strncmp(line, "c1,", 3) == 0 ||
                strncmp(line, "c2,", 3) == 0,
            "a class's label: %s", line);
  fclose(f);
  /* a label the model never saw is named */
  write_file("odd.csv", "x;y;species\n0;0;c7\n");
  EXPECT_RUN(2, "predict --model n.ckpt --data odd.csv --label-column species --delimiter ';' "
                "--device ref",
             "label 'c7' (row 1) is not one of the model's 3 classes");
  /* flags that the format does not take are refused */
  EXPECT_RUN(2, "train --data named.csv --label-column kind --delimiter ';' --device ref",
             "no column is named 'kind'");
  EXPECT_RUN(2, "train --data train.csv --zero-based --device ref", "--zero-based applies");
  EXPECT_RUN(2, "train --data train.csv --delimiter 5 --device ref", "--delimiter '5'");
}

/* Sparse rows: a svmlight file of text-like rows (three classes, each with
   its own words among shared ones) trains as sparse rows on both devices
   with no preprocessing by default, predicts, and resumes; centering is
   refused, standardizing scales; the generated sparse:N,D,C,NNZ data
   trains; a model of dense standardized rows predicts a svmlight file
   (made dense under its nonzero mean). */
Test(cli, sparse_rows_train_predict_and_resume, .timeout = 300) {
  char *text = malloc(1 << 20);
  cr_assert_not_null(text);
  for (int part = 0; part < 2; part++) {
    size_t len = 0;
    for (int i = 0; i < (part ? 90 : 600); i++) {
      int k = (i * 7 + part) % 3, w = 1 + (i * 13) % 50;
      len += (size_t)sprintf(text + len, "c%d %d:1 %d:0.5 %d:0.25\n", k, w, 100 + k * 40 + i % 40,
                             1000 + (i * 31) % 999);
    }
    write_file(part ? "txt-te.svm" : "txt-tr.svm", text);
  }
  free(text);
  /* The reference and, where there is one, the OpenCL CPU device. */
  const char *dev = tu_have_opencl() ? "cpu" : "ref", *devices[] = {"ref", dev};
  char args[512];
  for (int v = 0; v < 2; v++) {
    snprintf(args, sizeof args,
             "train --data txt-tr.svm --test txt-te.svm --device %s --optim sgd --lr 1 --epochs 8 "
             "--batch 32 --json --checkpoint sp.ckpt",
             devices[v]);
    EXPECT_RUN(0, args, "\"preprocess\":\"none\"");
    cr_assert_not_null(strstr(out, "\"features\":1998"), "%s", out);
    cr_assert_not_null(strstr(out, "\"nonzeros\":1800,\"update\":\"touched\""), "%s", out);
    cr_assert_not_null(strstr(out, "\"test_accuracy\":1.000000"), "%s", out);
    snprintf(args, sizeof args, "predict --model sp.ckpt --data txt-te.svm --device %s --json",
             devices[v]);
    EXPECT_RUN(0, args, "\"accuracy\":1.000000");
    cr_assert_not_null(strstr(out, "\"classes\":[\"c0\",\"c1\",\"c2\"]"), "%s", out);
  }
  /* Resumed from epoch 4 to 8 (a constant rate: a schedule's length is
     the first run's): the uninterrupted run's model, bit for bit. */
  const char *runs[] = {
      "--optim sgd --lr 1 --epochs 4 --batch 32 --schedule constant --checkpoint half.ckpt --seed 3",
      "--resume half.ckpt --epochs 8 --checkpoint resumed.ckpt",
      "--optim sgd --lr 1 --epochs 8 --batch 32 --schedule constant --checkpoint whole.ckpt "
      "--seed 3"};
  for (int k = 0; k < 3; k++) {
    snprintf(args, sizeof args, "train --data txt-tr.svm --device %s --quiet %s", dev, runs[k]);
    EXPECT_RUN(0, args, NULL);
  }
  clt_checkpoint a, b;
  char pa[512], pb[512];
  snprintf(pa, sizeof pa, "%s/resumed.ckpt", dir);
  snprintf(pb, sizeof pb, "%s/whole.ckpt", dir);
  cr_assert_eq(clt_checkpoint_load(NULL, pa, &a), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert_eq(clt_checkpoint_load(NULL, pb, &b), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert(a.ntensors == 2 && b.ntensors == 2 && a.step == b.step);
  for (size_t i = 0; i < 2; i++)
    cr_assert_eq(memcmp(a.tensor[i].data, b.tensor[i].data,
                        a.tensor[i].rows * a.tensor[i].cols * 4), 0,
                 "%s resumed differs from the uninterrupted run's", a.tensor[i].name);
  clt_checkpoint_free(&a);
  clt_checkpoint_free(&b);
  EXPECT_RUN(2, "train --data txt-tr.svm --device ref --preprocess center",
             "centering sparse rows would fill in their zeros");
  EXPECT_RUN(0, "train --data txt-tr.svm --device ref --preprocess standardize --epochs 1 --json",
             "\"preprocess\":\"standardize\"");
  cr_assert_not_null(strstr(out, "\"update\":\"dense\""), "adamw: %s", out);
  snprintf(args, sizeof args,
           "train --data sparse:3000,20000,4,40 --device %s --optim sgd --lr 2 --epochs 3 --json",
           dev);
  EXPECT_RUN(0, args, "\"features\":20000");
  cr_assert_not_null(strstr(out, "\"test_rows\":600"), "%s", out);
  write_file("d3.csv", "1,5,0,1\n0,0,5,2\n1,6,1,0\n0,1,6,2\n1,5,1,1\n0,0,6,1\n");
  write_file("d3.svm", "1 1:5 3:1\n0 2:5 3:2\n");
  EXPECT_RUN(0, "train --data d3.csv --device ref --epochs 30 --checkpoint d3.ckpt", NULL);
  EXPECT_RUN(0, "predict --model d3.ckpt --data d3.svm --device ref --json", "\"accuracy\":1.000000");
}

/* --cache: the first run parses the svmlight file and writes the cache,
   the second maps it and trains the same model bit for bit; a changed
   file is parsed again; the flag is refused for other formats and for
   generated data. */
Test(cli, svmlight_cache_trains_the_same_model, .timeout = 120) {
  char text[1 << 14];
  size_t len = 0;
  for (int i = 0; i < 200; i++)
    len += (size_t)sprintf(text + len, "c%d %d:1 %d:0.5\n", i % 3, 1 + i % 40, 50 + (i % 3) * 10);
  write_file("ca.svm", text);
  const char *dev = tu_have_opencl() ? "cpu" : "ref";
  char args[512], pa[512], pb[512];
  const char *common = "--optim sgd --lr 1 --epochs 3 --batch 16 --quiet";
  snprintf(args, sizeof args, "train --data ca.svm --device %s %s --checkpoint plain.ckpt", dev,
           common);
  EXPECT_RUN(0, args, NULL);
  snprintf(args, sizeof args,
           "train --data ca.svm --cache ca.cache --device %s %s --checkpoint first.ckpt", dev,
           common);
  EXPECT_RUN(0, args, NULL);
  snprintf(args, sizeof args, "train --data ca.svm --cache ca.cache --device %s --optim sgd --lr 1 "
           "--epochs 3 --batch 16 --checkpoint cached.ckpt", dev);
  EXPECT_RUN(0, args, "(svmlight, from its cache ca.cache)");
  snprintf(pa, sizeof pa, "%s/plain.ckpt", dir);
  snprintf(pb, sizeof pb, "%s/cached.ckpt", dir);
  clt_checkpoint a, b;
  cr_assert_eq(clt_checkpoint_load(NULL, pa, &a), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert_eq(clt_checkpoint_load(NULL, pb, &b), CLT_OK, "%s", clt_last_error(NULL));
  cr_assert(a.ntensors == 2 && b.ntensors == 2);
  for (size_t i = 0; i < 2; i++)
    cr_assert_eq(memcmp(a.tensor[i].data, b.tensor[i].data, a.tensor[i].rows * a.tensor[i].cols * 4),
                 0, "%s from the cache differs", a.tensor[i].name);
  clt_checkpoint_free(&a);
  clt_checkpoint_free(&b);
  /* predict reads with the model's width and base, which the cache has:
     the cache is used, not written again (a new file) */
  char cpath[512];
  struct stat before, after;
  snprintf(cpath, sizeof cpath, "%s/ca.cache", dir);
  cr_assert_eq(stat(cpath, &before), 0);
  EXPECT_RUN(0, "predict --model cached.ckpt --data ca.svm --cache ca.cache --device ref --json",
             "\"accuracy\":");
  cr_assert_eq(stat(cpath, &after), 0);
  cr_assert_eq(before.st_ino, after.st_ino, "predict wrote the cache again");
  write_file("ca.svm", "c0 1:1\nc1 2:1\n");
  EXPECT_RUN(0, "train --data ca.svm --cache ca.cache --device ref --epochs 1", "read");
  cr_assert_null(strstr(out, "from its cache"), "a changed file: %s", out);
  cr_assert_not_null(strstr(out, "2 rows"), "%s", out);
  /* a cache an older parser wrote (its magic's version) is read past and
     replaced, where a file of another kind never is */
  write_file("old.cache", "CLTSVMC1, then whatever that version wrote");
  EXPECT_RUN(0, "train --data ca.svm --cache old.cache --device ref --epochs 1", "read");
  cr_assert_null(strstr(out, "from its cache"), "an old cache used: %s", out);
  EXPECT_RUN(0, "train --data ca.svm --cache old.cache --device ref --epochs 1",
             "(svmlight, from its cache old.cache)");
  write_file("other.cache", "not a cache");
  EXPECT_RUN(0, "train --data ca.svm --cache other.cache --device ref --epochs 1",
             "warning: --cache other.cache not written: other.cache exists and is not an "
             "svmlight cache: not replaced");
  write_file("ca.csv", "1,5,0\n0,0,5\n");
  EXPECT_RUN(2, "train --data ca.csv --cache ca.cache --device ref", "--cache applies to");
  EXPECT_RUN(2, "train --data synthetic:50,3,2 --cache ca.cache --device ref", "--cache applies to");
}

/* svmlight files and .npy pairs train; a svmlight test file is read with
   the training file's width and base, and predict reads one with the
   model's. Without --test a run says it evaluates on no held-out data. */
Test(cli, svmlight_and_npy_train_and_predict) {
  write_file("tr.svm", "# two classes\n"
                       "1 1:1 2:0.1\n-1 2:1\n1 1:0.9 3:0.2\n-1 2:0.8\n"
                       "1 1:1.1\n-1 2:1.2 3:0.1\n1 1:0.8 2:0.2\n-1 1:0.1 2:0.9\n");
  write_file("te.svm", "1 1:1\n-1 2:1\n");
  EXPECT_RUN(0, "train --data tr.svm --test te.svm --device ref --epochs 50 --json "
                "--checkpoint s.ckpt",
             "\"features\":3");
  cr_assert_not_null(strstr(out, "\"test_accuracy\":1.000000"), "%s", out);
  EXPECT_RUN(0, "predict --model s.ckpt --data te.svm --device ref --out sp.csv --json",
             "\"classes\":[\"-1\",\"1\"]");
  cr_assert_not_null(strstr(out, "\"accuracy\":1.000000"), "%s", out);
  EXPECT_RUN(0, "train --data tr.svm --device ref --epochs 2", "no test or validation set");
  cr_assert_not_null(strstr(out, "training accuracy"), "%s", out);
  write_file("bad.svm", "1 1:1\n1 2:x\n");
  EXPECT_RUN(2, "train --data bad.svm --device ref", "bad.svm: line 2, column 3");

  /* .npy: numpy.save's format 1.0 of the same rows, written here */
  const float x[8] = {1, 0, 0, 1, 1.1f, 0.1f, 0.1f, 0.9f};
  const int64_t y[4] = {7, 3, 7, 3};
  const struct {
    const char *name, *descr, *shape;
    const void *data;
    size_t len;
  } arrays[] = {{"x.npy", "<f4", "(4, 2)", x, sizeof x}, {"y.npy", "<i8", "(4,)", y, sizeof y}};
  for (size_t k = 0; k < 2; k++) {
    char header[128], path[256];
    int h = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, "
                     "'shape': %s, }", arrays[k].descr, arrays[k].shape);
    size_t pad = (64 - (10 + (size_t)h + 1) % 64) % 64, hl = (size_t)h + pad + 1;
    snprintf(path, sizeof path, "%s/%s", dir, arrays[k].name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hl & 0xff), f);
    fputc((int)(hl >> 8), f);
    fwrite(header, 1, (size_t)h, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(arrays[k].data, 1, arrays[k].len, f);
    fclose(f);
  }
  EXPECT_RUN(0, "train --data x.npy --labels y.npy --test x.npy --test-labels y.npy "
                "--device ref --epochs 100 --json --checkpoint y.ckpt",
             "\"test_accuracy\":1.000000");
  EXPECT_RUN(0, "predict --model y.ckpt --data x.npy --no-labels --device ref", "prediction\n7\n3\n7\n3\n");
  /* float32 .npy rows are mapped from the file; streamed, they stay as
     read and each minibatch is standardised on the way: the resident
     run's figures */
  char streamed[512], resident[512];
  EXPECT_RUN(0, "train --data x.npy --labels y.npy --device ref --epochs 20 --batch 2 --json "
                "--stream", "\"stream\":true");
  snprintf(streamed, sizeof streamed, "%s", strstr(out, "\"train_loss\""));
  EXPECT_RUN(0, "train --data x.npy --labels y.npy --device ref --epochs 20 --batch 2 --json",
             "\"stream\":false");
  snprintf(resident, sizeof resident, "%s", strstr(out, "\"train_loss\""));
  *strstr(streamed, "\"seconds\"") = *strstr(resident, "\"seconds\"") = '\0';
  cr_assert_str_eq(streamed, resident, "streamed mapped rows and resident ones differ");
  EXPECT_RUN(2, "train --data x.npy --device ref", "--labels y.npy");
  EXPECT_RUN(2, "train --data train.csv --labels y.npy --device ref", "a labels file");
}

/* The classes are the training set's labels (scikit-learn's classes_;
   generated data: the generator's): a test or validation set's label
   outside them is refused, naming it, and a test set without some of them
   is evaluated; --features, svmlight's
   width, is refused for other formats. */
Test(cli, classes_come_from_the_training_set) {
  write_file("c3.svm", "3 1:1\n7 2:1\n10 3:1\n3 1:0.9\n7 2:0.8\n10 3:1.1\n");
  write_file("c4.svm", "3 1:1\n11 2:1\n");
  EXPECT_RUN(2, "train --data c3.svm --test c4.svm --device ref --epochs 1",
             "--test c4.svm: label '11' (row 2) is not one of the model's 3 classes");
  EXPECT_RUN(2, "train --data c3.svm --val c4.svm --device ref --epochs 1",
             "--val c4.svm: label '11' (row 2)");
  /* generated data: both sets' classes, the generator's (200 training rows
     may miss some of 100 classes that the test rows hold) */
  EXPECT_RUN(0, "train --data sparse:200,1000,100,10 --device ref --epochs 1", "test accuracy");
  write_file("c5.svm", "7 2:1\n10 3:1\n");
  EXPECT_RUN(0, "train --data c3.svm --test c5.svm --device ref --epochs 1 --json",
             "\"classes\":3");
  EXPECT_RUN(2, "train --data train.csv --features 5 --device ref",
             "--features applies to other formats");
}

/* ------------------------------------------------------------ loss flags */

Test(cli, loss_flags_apply_to_their_loss_and_are_echoed) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --json "
                "--loss hinge --margin 0.5 --hinge-p 2 --class-weight 1,2,0.5",
             "\"margin\":0.5,\"hinge_p\":2");
  cr_assert_not_null(strstr(out, "\"class_weight\":[1,2,0.5]"), "%s", out);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --json "
                "--label-smoothing 0.1 --class-weight balanced",
             "\"label_smoothing\":0.1");
  cr_assert_not_null(strstr(out, "\"class_weight\":[1,1,1]"), "balanced classes: %s", out);
  EXPECT_RUN(2, "train --data train.csv --test test.csv --margin 2 --device ref",
             "--margin applies to --loss hinge, not cross-entropy");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --loss mse --class-weight balanced "
                "--device ref",
             "--class-weight applies to --loss cross-entropy, hinge and bce-logits");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --class-weight 1,2 --device ref",
             "3 weights");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --label-smoothing 2 --device ref",
             "--label-smoothing '2'");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --loss hinge --hinge-p 3 --device ref",
             "--hinge-p '3'");
  /* the weights change the result */
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --json", NULL);
  double plain = atof(strstr(out, "\"train_loss\":") + 13);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --json "
                "--class-weight 1,5,1", NULL);
  cr_assert_neq(plain, atof(strstr(out, "\"train_loss\":") + 13));
}

/* ---------------------------------------------------------------- resume */

/* A checkpoint records every setting: a resume with no flags but the data
   continues exactly as the uninterrupted run (loss options, class
   weights, schedule, batch, epochs); a flag given again that contradicts
   the checkpoint is refused naming both values. */
Test(cli, resume_restores_every_setting) {
  const char *run = "--loss hinge --margin 0.5 --class-weight 1,2,1 --optim momentum "
                    "--lr 0.03 --batch 40 --schedule constant --warmup 1 --l2 0.001 --l1 1e-4 "
                    "--seed 5 --init-std 0.01";
  char args[1024];
  snprintf(args, sizeof args, "train --data train.csv --test test.csv --device ref --json "
                              "--epochs 4 %s", run);
  EXPECT_RUN(0, args, "\"epochs\":4");
  char straight[2048];
  snprintf(straight, sizeof straight, "%s", strrchr(out, '{'));
  snprintf(args, sizeof args, "train --data train.csv --test test.csv --device ref --quiet "
                              "--epochs 2 --checkpoint rs.ckpt %s", run);
  EXPECT_RUN(0, args, NULL);
  /* nothing but the data, the checkpoint and a longer run */
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --resume rs.ckpt "
                "--epochs 4 --json", "\"margin\":0.5");
  char *resumed = strrchr(out, '{');
  size_t upto = (size_t)(strstr(straight, "\"seconds\"") - straight);
  cr_assert(strncmp(straight, resumed, upto) == 0, "straight %s\nresumed %s", straight,
            resumed);
  cr_assert_not_null(strstr(out, "\"class_weight\":[1,2,1]"), "%s", out);
  /* a decaying schedule resumes from its base rate, not the last step's */
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --quiet --epochs 2 "
                "--lr 0.03 --schedule cosine --checkpoint cos.ckpt", NULL);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --json --epochs 3 "
                "--resume cos.ckpt", "\"schedule\":\"cosine\"");
  cr_assert_not_null(strstr(out, "\"lr\":0.03,"), "%s", out);
  /* the epochs it was started with are done */
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device ref --resume rs.ckpt",
             "already holds the 2 epochs");
  const struct {
    const char *flag, *message;
  } contra[] = {
      {"--loss cross-entropy",
       "--loss cross-entropy contradicts --resume rs.ckpt, trained with --loss hinge"},
      {"--margin 1", "--margin 1 contradicts --resume rs.ckpt, trained with --margin 0.5"},
      {"--lr 0.1", "--lr 0.1 contradicts --resume rs.ckpt, trained with --lr 0.03"},
      {"--batch 10", "--batch 10 contradicts --resume rs.ckpt, trained with --batch 40"},
      {"--schedule cosine", "trained with --schedule constant"},
      {"--class-weight balanced", "trained with --class-weight 1,2,1"},
      {"--l2 0", "trained with --l2 0.001"},
      {"--seed 6", "trained with --seed 5"},
      {"--warmup 2", "trained with --warmup 1"},
      {"--optim adam", "trained with --optim sgd"},
      {"--momentum 0.5", "trained with --momentum 0.9"},
  };
  for (size_t k = 0; k < sizeof contra / sizeof contra[0]; k++) {
    snprintf(args, sizeof args, "train --data train.csv --test test.csv --device ref "
                                "--epochs 5 --resume rs.ckpt %s", contra[k].flag);
    EXPECT_RUN(2, args, contra[k].message);
  }
}

/* ------------------------------------------------------ feedback on data */

/* Where stderr is not a terminal (a pipe here, a log or mpirun's in use),
   a long read or epoch still says how far it has come: a line every
   --progress-every seconds (default 30), none with --quiet. */
Test(cli, progress_comes_as_lines_where_stderr_is_not_a_terminal) {
  const char *run = "train --data synthetic:20000,50,3 --epochs 2 --device ref";
  char args[256];
  snprintf(args, sizeof args, "%s --progress-every 1e-9", run);
  EXPECT_RUN(0, args, "cltrain: epoch 1/2  batch 16/79  loss ");
  cr_assert_not_null(strstr(out, "cltrain: epoch 2/2  batch 64/79  loss "), "%s", out);
  cr_assert_null(strstr(out, "batch 79/79"), "the epoch's line says its end: %s", out);
  cr_assert_null(strchr(out, '\r'), "no terminal redraws in a pipe: %s", out);
  snprintf(args, sizeof args, "%s --progress-every 1e-9 --json", run);
  EXPECT_RUN(0, args, "cltrain: epoch 2/2  batch 48/79  loss ");
  EXPECT_RUN(0, run, NULL);
  cr_assert_null(strstr(out, "  batch "), "a short run under the default: %s", out);
  snprintf(args, sizeof args, "%s --progress-every 1e-9 --quiet", run);
  EXPECT_RUN(0, args, NULL);
  cr_assert_null(strstr(out, "  batch "), "--quiet: %s", out);
  EXPECT_RUN(0, "train --data train.csv --epochs 1 --device ref --progress-every 1e-9 --quiet",
             NULL);
  cr_assert_null(strstr(out, "reading"), "--quiet: %s", out);
  EXPECT_RUN(0,
             "train --data train.csv --epochs 1 --device ref --progress-every 1e-9 "
             "--checkpoint p.ckpt",
             "cltrain: reading train.csv: ");
  EXPECT_RUN(0, "predict --model p.ckpt --data test.csv --device ref --progress-every 1e-9",
             "cltrain: reading test.csv: ");
  EXPECT_RUN(2, "train --data train.csv --progress-every -1",
             "--progress-every '-1' is not valid: expected a number in [0, 1e+09]");
}

/* A line per data set read (what, rows, MB/s) and per phase, none with
   --quiet; data that cannot fit the device is refused before it is read
   when its header says its size (an IDX file whose header promises more
   than the file holds is refused for its size, not for its truncation),
   and after reading otherwise, naming the limit. */
Test(cli, data_loading_reports_and_refuses_what_cannot_fit) {
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref",
             "cltrain: read train.csv (delimited text): 600 rows, 2 features, a header line in ");
  cr_assert_not_null(strstr(out, "cltrain: preprocessed (standardize) in "), "%s", out);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --quiet", NULL);
  cr_assert_null(strstr(out, "cltrain: read"), "--quiet: %s", out);
  cr_assert_not_null(strstr(out, "test accuracy"), "the result line stays: %s", out);

  char path[512];
  snprintf(path, sizeof path, "%s/big", dir);
  cr_assert_eq(mkdir(path, 0700), 0);
  const unsigned char images[16] = {0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
  const unsigned char labels[8] = {0, 0, 8, 1, 0, 0x10, 0, 0};
  const struct {
    const char *name;
    const unsigned char *bytes;
    size_t len;
  } files[] = {{"train-images-idx3-ubyte", images, 16}, {"train-labels-idx1-ubyte", labels, 8}};
  for (size_t k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/big/%s", dir, files[k].name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(files[k].bytes, 1, files[k].len, f);
    fclose(f);
  }
  /* A training set's header is no reason to refuse: it may stream. */
  EXPECT_RUN(2, "train --data big --device-memory-limit 1G", "truncated");
  /* Training rows over the limit stream; the same model as resident. */
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device-memory-limit 8K --epochs 2 "
                "--device ref --json --checkpoint streamed.ckpt",
             "the training set does not fit under --device-memory-limit: it stays in host "
             "memory and each minibatch is uploaded (--stream)");
  cr_assert_not_null(strstr(out, "\"stream\":true"), "%s", out);
  char streamed[512], resident[512];
  snprintf(streamed, sizeof streamed, "%s", strstr(out, "\"train_loss\""));
  EXPECT_RUN(0, "train --data train.csv --test test.csv --device-memory-limit 8K --epochs 1 "
                "--device ref --quiet", "it stays in host memory"); /* a note stays */
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 2 --device ref --json", NULL);
  cr_assert_not_null(strstr(out, "\"stream\":false"), "%s", out);
  snprintf(resident, sizeof resident, "%s", strstr(out, "\"train_loss\""));
  *strstr(streamed, "\"seconds\"") = *strstr(resident, "\"seconds\"") = '\0';
  cr_assert_str_eq(streamed, resident, "streamed and resident runs differ");
  EXPECT_RUN(2, "train --data train.csv --test test.csv --device-memory-limit 2K",
             "the model (2 features x 3 classes) and the test and validation sets (150 rows) "
             "with the training set streamed (3 staged minibatches of 32 rows x 2 features "
             "and all 600 rows' labels) needs a device buffer of 2.4 KB");
  EXPECT_RUN(2, "train --data train.csv --device-memory-limit 1000", "--device-memory-limit '1000'");
  EXPECT_RUN(2, "train --data train.csv --device-memory-limit 2048T", "from 1024 bytes to 2^50");
  EXPECT_RUN(2, "train --data train.csv --device-memory-limit 1048577G", "from 1024 bytes to 2^50");
  /* each OpenCL device's largest allocation (a reference-only build has none) */
  EXPECT_RUN(0, "devices", NULL);
  if (strstr(out, "no OpenCL device found")) return;
  cr_assert_not_null(strstr(out, "largest allocation"), "%s", out);
  /* predict, on a device's own limits: a test pair of 2^24 images */
  const unsigned char test_images[16] = {0, 0, 8, 3, 1, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
  snprintf(path, sizeof path, "%s/big/t10k-images-idx3-ubyte", dir);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  fwrite(test_images, 1, 16, f);
  fclose(f);
  EXPECT_RUN(0, "train --data train.csv --test test.csv --epochs 1 --device ref --quiet "
                "--checkpoint small.ckpt", NULL);
  EXPECT_RUN(2, "predict --model small.ckpt --data big --device cpu",
             "--data big (16777216 rows x 784 features) needs a device buffer of 52.6 GB");
  /* A test set is refused before reading: test sets stay on the device. */
  EXPECT_RUN(2, "train --data train.csv --test big --device cpu",
             "--test big (16777216 rows x 784 features) needs a device buffer of 52.6 GB");
  cr_assert_null(strstr(out, "truncated"), "refused before reading: %s", out);
}
