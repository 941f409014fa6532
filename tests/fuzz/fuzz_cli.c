/* libFuzzer harness for the tool's flag parsing: every subcommand's
 * argument loop and the checks that follow it (host/cli/; see
 * tests/fuzz/README.md). The input's first byte picks the command (devices,
 * train, predict, gradcheck, export), the rest is split at NUL and newline bytes
 * into up to 24 arguments. The harness appends arguments that stop the
 * command right after parsing (train: --data on a directory that does not
 * exist; predict and export: a model that does not exist; gradcheck: the
 * smallest problem), so that no input trains or writes anything. A command must
 * return 0, 1 or 2, and every 2 (bad usage or input) must say why on
 * stderr; a crash, a sanitizer report or a hang is a finding. Built against
 * the reference-only library (no OpenCL). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno */
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_file.h"

#define MAX_ARGS 24
#define ARG_LEN 256

static const struct {
  const char *name;
  int (*run)(int, char **);
  const char *guard[6]; /* appended: parsing done, nothing runs */
} commands[] = {
    {"devices", clt_cmd_devices, {NULL}},
    {"train", clt_cmd_train, {"--data", "/nonexistent-cltrain-fuzz/", NULL}},
    {"predict", clt_cmd_predict, {"--model", "/nonexistent-cltrain-fuzz.ckpt", NULL}},
    {"gradcheck", clt_cmd_gradcheck, {"--n", "1", "--d", "1", "--c", "2"}},
    {"export", clt_cmd_export, {"--model", "/nonexistent-cltrain-fuzz.ckpt", NULL}},
};

/* What the commands print: stdout is not looked at; stderr goes to a
   temporary file whose growth tells whether a refusal said anything. Only
   the streams stdout and stderr are swapped during a command, so
   libFuzzer's and the sanitizers' reports still reach the real stderr. */
static FILE *g_out, *g_err;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  setenv("CLT_DEVICE", "ref", 1);
  const char *err_path;
  int fd = fuzz_temp("cli_stderr", &err_path);
  g_err = fdopen(fd, "w");
  g_out = fopen("/dev/null", "w");
  if (!g_err || !g_out) abort();
  setvbuf(g_err, NULL, _IONBF, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t cmd = data[0] % (sizeof commands / sizeof commands[0]);
  static char args[MAX_ARGS][ARG_LEN];
  char *argv[1 + MAX_ARGS + 6 + 1];
  int argc = 0;
  argv[argc++] = (char *)commands[cmd].name;
  size_t n = 0, len = 0;
  for (size_t i = 1; i <= size && n < MAX_ARGS; i++) {
    if (i == size || data[i] == '\0' || data[i] == '\n') {
      args[n][len] = '\0';
      argv[argc++] = args[n++];
      len = 0;
    } else if (len + 1 < ARG_LEN) {
      args[n][len++] = (char)data[i];
    }
  }
  for (size_t g = 0; g < 6 && commands[cmd].guard[g]; g++)
    argv[argc++] = (char *)commands[cmd].guard[g];
  argv[argc] = NULL;

  if (ftell(g_err) > (1L << 20) && ftruncate(fileno(g_err), 0) == 0) rewind(g_err);
  long before = ftell(g_err);
  FILE *out = stdout, *err = stderr;
  stdout = g_out;
  stderr = g_err;
  int rc = commands[cmd].run(argc, argv);
  stdout = out;
  stderr = err;
  if (rc < 0 || rc > 2) abort();
  if (rc == 2 && ftell(g_err) <= before) abort(); /* a refusal says why */
  return 0;
}
