#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cltrain.h"

static const struct {
  const char *name;
  int (*run)(int, char **);
  const char *help;
} commands[] = {
    {"devices", clt_cmd_devices, "list OpenCL devices and the one auto picks"},
    {"tune", clt_cmd_tune, "time the kernels' variants on a device and keep the fastest"},
    {"train", clt_cmd_train, "train a linear classifier"},
    {"predict", clt_cmd_predict, "predictions, probabilities and accuracy of a saved model"},
    {"gradcheck", clt_cmd_gradcheck, "check analytic gradients numerically"},
    {"export", clt_cmd_export, "write a saved model as .npz or .safetensors"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: cltrain COMMAND [options]   (cltrain %s)\n\ncommands:\n",
          clt_version());
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'cltrain help COMMAND' (or 'cltrain COMMAND --help') describes a "
             "command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "help") == 0 && argc <= 3) {
    if (argc == 2) {
      usage(stdout);
      return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      if (strcmp(argv[2], commands[i].name) == 0)
        return commands[i].run(2, (char *[]){argv[2], "--help", NULL});
    fprintf(stderr, "cltrain help: unknown command '%s'\n", argv[2]);
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("cltrain %s\n", clt_version());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      int rc = commands[i].run(argc - 1, argv + 1);
      /* What was printed must have reached stdout: a full disk or a closed
         stdout is a failure, not a success with the output lost. */
      if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
        fprintf(stderr, "cltrain %s: standard output: %s\n", argv[1], strerror(errno));
        rc = 1;
      }
      return rc;
    }
  fprintf(stderr, "cltrain: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
