/* libFuzzer harness for the tool's number parser, host/cli/numbers.c (see
 * tests/fuzz/README.md). The input is a flag's value. It is parsed as a
 * real and as an integer over fixed ranges; a value is accepted only when
 * it is entirely a decimal number inside the range, and every call leaves
 * the range in words for the refusal. Anything else aborts (a finding). */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void check_real(const char *s, double lo, double hi, bool open_lo) {
  double v = -1;
  char want[CLT_CLI_WANT] = "";
  bool ok = clt_cli_real(s, lo, hi, open_lo, &v, want, sizeof want);
  if (!want[0]) abort();
  if (!ok) return;
  if (!isfinite(v) || v < lo || v > hi || (open_lo && v == lo)) abort();
  if (!*s || isspace((unsigned char)*s) || strpbrk(s, "xX")) abort();
  if (strtod(s, NULL) != v) abort();
}

static void check_uint(const char *s, unsigned long long lo, unsigned long long hi) {
  unsigned long long v = 0;
  char want[CLT_CLI_WANT] = "";
  bool ok = clt_cli_uint(s, lo, hi, &v, want, sizeof want);
  if (!want[0]) abort();
  if (!ok) return;
  if (v < lo || v > hi) abort();
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  check_real(s, 0, 1e6, false);
  check_real(s, 0, 1, true);
  check_real(s, -INFINITY, INFINITY, false);
  check_uint(s, 0, UINT64_MAX);
  check_uint(s, 1, 1000000);
  free(s);
  return 0;
}
