/* Strict numbers for the tool's flags: the whole value is the number,
   decimal (no leading blank, sign where none belongs, hexadecimal or
   trailing text), finite, and within the flag's range, which every refusal
   states. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool clt_cli_real(const char *s, double lo, double hi, bool open_lo, double *out,
                  char *want, size_t wantlen) {
  snprintf(want, wantlen, "a number in %c%g, %g]", open_lo ? '(' : '[', lo, hi);
  /* decimal only: strtod also reads hexadecimal ("0x1p-3") */
  if (!s || !*s || isspace((unsigned char)*s) || strpbrk(s, "xX")) return false;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  /* An underflow (1e-320) is a number, rounded towards 0; an overflow is
     refused by the range. */
  if (end == s || *end || !isfinite(v) || (errno == ERANGE && fabs(v) >= 1.0)) return false;
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
