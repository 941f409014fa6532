/* The one strict number grammar of cltrain, for the tool's flag values
   (host/cli/numbers.c) and the cells of data files (host/data.c) alike: a
   field is a number only when it is wholly a decimal number as strtod
   reads one (sign, digits, point, exponent): no blank, no hexadecimal
   ("0x1p3"), no trailing text. inf, nan and values beyond double's range
   are numbers that are not finite, for the caller to refuse with its own
   message. Header-only: the fuzz harnesses build it with either user. */
#ifndef CLT_NUMBER_H
#define CLT_NUMBER_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum clt_number_kind {
  CLT_NUMBER_FINITE,
  CLT_NUMBER_NOT_FINITE, /* inf, nan, or an overflow: *out is inf or nan */
  CLT_NUMBER_NONE        /* not a decimal number */
} clt_number_kind;

/* [s, e) as a number into *out; the character at e must not continue a
   number (',', a blank, '\0'). An underflow (1e-320) rounds towards 0. */
static inline clt_number_kind clt_parse_number(const char *s, const char *e,
                                               double *out) {
  if (s == e) return CLT_NUMBER_NONE;
  size_t len = (size_t)(e - s);
  char *end;
  double v = strtod(s, &end);
  if (end != e) return CLT_NUMBER_NONE;
  *out = v;
  if (strspn(s, "0123456789+-.eE") >= len)
    return isfinite(v) ? CLT_NUMBER_FINITE : CLT_NUMBER_NOT_FINITE; /* 1e400 */
  /* strtod's other spellings: inf and nan are numbers that are not finite;
     leading blanks and hexadecimal are not numbers here. */
  if (isfinite(v) || memchr(s, 'x', len) || memchr(s, 'X', len)) return CLT_NUMBER_NONE;
  return CLT_NUMBER_NOT_FINITE;
}

#endif /* CLT_NUMBER_H */
