/* The MAC-loop helpers that several kernel files call (CONV_2D, FULLY_CONNECTED): one copy
 * each in flash instead of one per file. Prototypes in tor_conv_common.h. */
#define TOR_HOT_FILE 1 /* optimised for speed in -Os builds too (tor_conv_common.h) */
#include "tor_conv_common.h"

void tor_rq_slow(const requant_t *r, const int32_t *acc, int32_t oc, int32_t n, int8_t *o) {
  for (int32_t k = 0; k < n; k++) o[k] = requant(r, oc + k, acc[k]);
}

#if defined(__ARM_FEATURE_DSP)
#include "tor_rq_loop.h"
#endif

#if defined(__ARM_FEATURE_MVE)
/* acc[k] += dot(a, b + k*stride) over n bytes, k = 0..3 */
void tor_dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n, int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3], i = 0;
  const int8_t *b1 = b + stride, *b2 = b1 + stride, *b3 = b2 + stride;
  for (; i + 16 <= n; i += 16) TOR_MVE_DOTS(TOR_LD, 0);
  if (i < n) {
    const mve_pred16_t p = vctp8q((uint32_t)(n - i));
    TOR_MVE_DOTS(TOR_LDZ, p);
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}
#elif defined(__ARM_FEATURE_DSP)
/* acc[k] += dot(a, b + k*stride) over n bytes, k = 0..3 (int32 sums wrap the same in any
 * order, so the result equals the plain loop's). Two words per loop iteration: 46
 * instructions per 32 MACs plus the compare and branch. */
void tor_dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n, int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
  const int8_t *b1 = b + stride;
  const int32_t s2off = 2 * stride;
  const int32_t words = n >> 2;
  uint32_t x, xo, w, t;
  if (words & 1) {
    __asm__(TOR_DOT4_STEP
            : [a] "+r"(a), [b] "+r"(b), [b1] "+r"(b1), [s0] "+r"(s0), [s1] "+r"(s1), [s2a] "+r"(s2), [s3] "+r"(s3),
              [x] "=&r"(x), [xo] "=&r"(xo), [w] "=&r"(w), [t] "=&r"(t)
            : [s2] "r"(s2off)
            : "memory");
  }
  if (words >= 2) {
    const int8_t *end = a + 4 * (words & ~1);
    __asm__("1:\n\t" TOR_DOT4_STEP TOR_DOT4_STEP
            "cmp %[a], %[end]\n\t"
            "bcc 1b\n\t"
            : [a] "+r"(a), [b] "+r"(b), [b1] "+r"(b1), [s0] "+r"(s0), [s1] "+r"(s1), [s2a] "+r"(s2), [s3] "+r"(s3),
              [x] "=&r"(x), [xo] "=&r"(xo), [w] "=&r"(w), [t] "=&r"(t)
            : [s2] "r"(s2off), [end] "r"(end)
            : "cc", "memory");
  }
  for (int32_t i = 0; i < (n & 3); i++) {
    const int32_t xi = a[i];
    s0 += xi * b[i];
    s1 += xi * b1[i];
    s2 += xi * b[s2off + i];
    s3 += xi * b1[s2off + i];
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}
#endif
