/* Checks the runtime's shortcut formulas for SaturatingRoundingDoublingHighMul and
 * RoundingDivideByPOT (tor_fixedpoint.h) against gemmlowp's original formulations, on
 * edge cases and 50 million pseudo-random operands. Host program, run by the tests:
 *   gcc -O2 -I../runtime check_fixedpoint.c -o check && ./check   -> "mismatches=0" */
#include <stdint.h>
#include <stdio.h>

#include "tor_fixedpoint.h"

static int32_t ref_srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * b;
  int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static int32_t ref_rdbypot(int32_t x, int e) {
  int32_t mask = (int32_t)(((uint32_t)1 << e) - 1u);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

static uint64_t state = 88172645463325252ull;
static uint32_t next(void) { /* xorshift64 */
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return (uint32_t)state;
}

int main(void) {
  static const int32_t edge[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 30, -(1 << 30),
                                 (1 << 30) + 1, -(1 << 30) - 1, 3, -3, 12345, -12345};
  const int n = (int)(sizeof edge / sizeof edge[0]);
  long bad = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      bad += tor_srdhm(edge[i], edge[j]) != ref_srdhm(edge[i], edge[j]);
      for (int e = 0; e < 32; e++) bad += tor_rdbypot(edge[i], e) != ref_rdbypot(edge[i], e);
    }
  for (long k = 0; k < 50000000; k++) {
    int32_t a = (int32_t)next(), b = (int32_t)next();
    if (k & 1) a >>= next() % 31; /* small magnitudes too */
    bad += tor_srdhm(a, b) != ref_srdhm(a, b);
    const int e = (int)(next() % 32);
    bad += tor_rdbypot(a, e) != ref_rdbypot(a, e);
  }
  printf("mismatches=%ld\n", bad);
  return bad != 0;
}
