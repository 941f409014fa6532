/* The tool's context: one place that creates it for every command, names
   the request that failed (--device, or CLT_DEVICE when that chose) and
   maps the status to the exit code. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cltrain.h"

int clt_cli_context(const char *cmd, const char *device, int record_timings,
                    const char *variant, clt_context **out) {
  clt_context_options opt = {
      .device = device, .record_timings = record_timings, .variant = variant};
  clt_status st = clt_context_create(&opt, out);
  if (st == CLT_OK) return 0;
  const char *env = getenv("CLT_DEVICE");
  if (!device && env && *env)
    fprintf(stderr, "cltrain %s: CLT_DEVICE=%s: %s\n", cmd, env, clt_last_error(NULL));
  else
    fprintf(stderr, "cltrain %s: --device %s: %s\n", cmd, device ? device : "auto",
            clt_last_error(NULL));
  return st == CLT_ERR_NO_DEVICE || st == CLT_ERR_INVALID_ARG ? 2 : 1;
}

int clt_cli_failed(const char *cmd, const char *prefix, clt_status st) {
  fprintf(stderr, "cltrain %s: %s%s\n", cmd, prefix, clt_last_error(NULL));
  return st == CLT_ERR_OUT_OF_MEMORY ? 1 : 2;
}
