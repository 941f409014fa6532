/* cltrain tune [--device D]: tunes a device and keeps its variant in the
   tuning cache (clt_tune). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cltrain.h"

int clt_cmd_tune(int argc, char **argv) {
  const char *device = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      device = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0) {
      printf("usage: cltrain tune [--device D]\n"
             "Times the variants of the hot kernels on the device (default: the one\n"
             "auto picks; D as for cltrain train), each checked against the reference\n"
             "first, for at most 30 s, prints every candidate's times on stderr, and\n"
             "keeps the fastest in the tuning cache ($XDG_CACHE_HOME/cltrain/tune, else\n"
             "~/.cache/cltrain/tune), which every later context on the device uses. A\n"
             "device the cache has never seen is tuned at its first use anyway, unless\n"
             "CLT_TUNE=off; this command redoes it (after a noisy first run, say).\n");
      return 0;
    } else {
      fprintf(stderr, "cltrain tune: unknown option or missing value '%s'\n", argv[i]);
      return 2;
    }
  }
  char variant[1024], path[4096];
  clt_status st = clt_tune(device, 1, variant, sizeof variant, path, sizeof path);
  if (st != CLT_OK) {
    fprintf(stderr, "cltrain tune: --device %s: %s\n", device ? device : "auto",
            clt_last_error(NULL));
    return st == CLT_ERR_NO_DEVICE || st == CLT_ERR_INVALID_ARG ? 2 : 1;
  }
  printf("variant: %s\nkept in: %s\n", variant, path);
  return 0;
}
