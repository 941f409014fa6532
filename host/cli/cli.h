/* The cltrain command-line tool: one function per subcommand. Each returns
   the process exit status: 0 success, 1 run-time failure, 2 bad usage or
   bad input (message on stderr naming the flag or file). */
#ifndef CLT_CLI_H
#define CLT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cltrain.h"
#include "fileio.h" /* clt_json_string */

int clt_cmd_devices(int argc, char **argv);
int clt_cmd_train(int argc, char **argv);
int clt_cmd_predict(int argc, char **argv);
int clt_cmd_gradcheck(int argc, char **argv);
int clt_cmd_export(int argc, char **argv);

/* A context on device (NULL: auto, or CLT_DEVICE), recording timings when
   record_timings, into *out: 0, or the exit status after a message naming
   the request (host/cli/device.c). */
typedef struct clt_context clt_context;
int clt_cli_context(const char *cmd, const char *device, int record_timings,
                    clt_context **out);

/* Whether s ends with suffix. */
static inline bool clt_cli_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* After a failure outside a context (data, files, models): prints
   "cltrain CMD: PREFIX<the thread's detail>" and returns the exit status, 1
   for CLT_ERR_OUT_OF_MEMORY, else 2 (host/cli/device.c). */
int clt_cli_failed(const char *cmd, const char *prefix, clt_status st);

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

/* Draws the metrics CSV at csv as loss and accuracy curves into the PNG at
   png with gnuplot; neither path is ever interpreted by gnuplot or a
   shell. 0, or -1 after a message on stderr naming png. */
int clt_cli_plot(const char *csv, const char *png);

#endif
