/* Strict numbers for the tool's flags: the whole value is the number
   (host/number.h's grammar, the one data files' cells follow), finite, and
   within the flag's range, which every refusal states; integers also have
   no sign. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "number.h"

bool clt_cli_real(const char *s, double lo, double hi, bool open_lo, double *out,
                  char *want, size_t wantlen) {
  snprintf(want, wantlen, "a number in %c%g, %g]", open_lo ? '(' : '[', lo, hi);
  double v;
  if (!s || clt_parse_number(s, s + strlen(s), &v) != CLT_NUMBER_FINITE) return false;
  if (v < lo || v > hi || (open_lo && v == lo)) return false;
  *out = v;
  return true;
}

bool clt_cli_uint(const char *s, unsigned long long lo, unsigned long long hi,
                  unsigned long long *out, char *want, size_t wantlen) {
  snprintf(want, wantlen, "an integer in [%llu, %llu]", lo, hi);
  if (!s || !isdigit((unsigned char)*s)) return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}
