/* The requantization shortcut's block loops in Cortex-M asm (rq_loop, rq_loop_p2), included
 * by tor_conv_common.h after requant_t; rq_block there picks one. */
#ifndef TOR_RQ_LOOP_H
#define TOR_RQ_LOOP_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP)
/* Two lanes of the fast path in asm: LDRD the accumulators and multipliers (post-increment),
 * then the shifts into the multipliers' registers, so a pair needs four temporaries; the
 * result is rq_pair's (lane 0 in bits 0-7, lane 1 in bits 8-15). */
#define TOR_RQ_PAIR(A0, A1)                                                                   \
  "ldrd %[" A0 "], %[" A1 "], [%[acc]], #8\n\t"                                               \
  "ldrd %[t0], %[t1], [%[m]], #8\n\t"                                                         \
  "lsl %[" A0 "], %[" A0 "], #1\n\t"                                                          \
  "smmulr %[" A0 "], %[" A0 "], %[t0]\n\t"                                                    \
  "lsl %[" A1 "], %[" A1 "], #1\n\t"                                                          \
  "smmulr %[" A1 "], %[" A1 "], %[t1]\n\t"                                                    \
  "ldrd %[t0], %[t1], [%[s]], #8\n\t" TOR_RQ_TAIL(A0, "t0") TOR_RQ_TAIL(A1, "t1")            \
  "bfi %[" A0 "], %[" A1 "], #8, #8\n\t"
#define TOR_RQ_TAIL(a, s)                         \
  "add %[" a "], %[" a "], %[" a "], asr #31\n\t" \
  "mvn %[" s "], %[" s "]\n\t"                    \
  "asr %[" a "], %[" a "], %[" s "]\n\t"          \
  "add %[" a "], %[" a "], %[off2]\n\t"           \
  "ssat %[" a "], #8, %[" a "], asr #1\n\t"

/* The fast path over acc[0..n) (n a positive multiple of 4) with m[], s[] into o[]: one loop
 * pass per four channels, every pointer and constant in a register (GCC's version of the
 * same loop spilled the output pointer, the end and the clamp words: 53 instructions per
 * four outputs, here 45; 40 when `lim` is 0: the range is all of int8 and SSAT clamped). */
static __attribute__((noinline, unused)) void rq_loop(const int32_t *acc, const int32_t *end, const int32_t *m,
                                                      const int32_t *s, int8_t *o, int32_t off2,
                                                      const uint32_t *lim) {
  uint32_t w, a1, b, t0, t1;
  if (lim)
    __asm__ volatile("1:\n\t" TOR_RQ_PAIR("w", "a1") TOR_RQ_PAIR("b", "a1")
                     "pkhbt %[w], %[w], %[b], lsl #16\n\t"
                     "ldrd %[t0], %[t1], [%[lim]]\n\t"
                     "ssub8 %[a1], %[w], %[t0]\n\t"
                     "sel %[w], %[w], %[t0]\n\t"
                     "ssub8 %[a1], %[w], %[t1]\n\t"
                     "sel %[w], %[t1], %[w]\n\t"
                     "str %[w], [%[o]], #4\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [acc] "+r"(acc), [m] "+r"(m), [s] "+r"(s), [o] "+r"(o), [w] "=&r"(w), [a1] "=&r"(a1),
                       [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [end] "r"(end), [off2] "r"(off2), [lim] "r"(lim)
                     : "cc", "memory");
  else
    __asm__ volatile("1:\n\t" TOR_RQ_PAIR("w", "a1") TOR_RQ_PAIR("b", "a1")
                     "pkhbt %[w], %[w], %[b], lsl #16\n\t"
                     "str %[w], [%[o]], #4\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [acc] "+r"(acc), [m] "+r"(m), [s] "+r"(s), [o] "+r"(o), [w] "=&r"(w), [a1] "=&r"(a1),
                       [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [end] "r"(end), [off2] "r"(off2)
                     : "cc", "memory");
}

/* With 2^(33 - e) per channel (p2), the shift and the output offset are one SMMLA:
 * floor(x / 2^(e - 1)) + off2 = off2 + floor(x * 2^(33 - e) / 2^32), the product exact in 64
 * bits; 5 instructions a lane instead of 7 (37 per four clamped outputs, 32 unclamped). */
#define TOR_RQ_PAIR_P(A0, A1)                                                                 \
  "ldrd %[" A0 "], %[" A1 "], [%[acc]], #8\n\t"                                               \
  "ldrd %[t0], %[t1], [%[m]], #8\n\t"                                                         \
  "lsl %[" A0 "], %[" A0 "], #1\n\t"                                                          \
  "smmulr %[" A0 "], %[" A0 "], %[t0]\n\t"                                                    \
  "lsl %[" A1 "], %[" A1 "], #1\n\t"                                                          \
  "smmulr %[" A1 "], %[" A1 "], %[t1]\n\t"                                                    \
  "ldrd %[t0], %[t1], [%[s]], #8\n\t" TOR_RQ_TAIL_P(A0, "t0") TOR_RQ_TAIL_P(A1, "t1")        \
  "bfi %[" A0 "], %[" A1 "], #8, #8\n\t"
#define TOR_RQ_TAIL_P(a, p)                       \
  "add %[" a "], %[" a "], %[" a "], asr #31\n\t" \
  "smmla %[" a "], %[" a "], %[" p "], %[off2]\n\t" \
  "ssat %[" a "], #8, %[" a "], asr #1\n\t"

/* rq_loop with s[] = p2[] (2^(33 - e) per channel) instead of the shifts. */
static __attribute__((noinline, unused)) void rq_loop_p2(const int32_t *acc, const int32_t *end, const int32_t *m,
                                                         const int32_t *s, int8_t *o, int32_t off2,
                                                         const uint32_t *lim) {
  uint32_t w, a1, b, t0, t1;
  if (lim)
    __asm__ volatile("1:\n\t" TOR_RQ_PAIR_P("w", "a1") TOR_RQ_PAIR_P("b", "a1")
                     "pkhbt %[w], %[w], %[b], lsl #16\n\t"
                     "ldrd %[t0], %[t1], [%[lim]]\n\t"
                     "ssub8 %[a1], %[w], %[t0]\n\t"
                     "sel %[w], %[w], %[t0]\n\t"
                     "ssub8 %[a1], %[w], %[t1]\n\t"
                     "sel %[w], %[t1], %[w]\n\t"
                     "str %[w], [%[o]], #4\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [acc] "+r"(acc), [m] "+r"(m), [s] "+r"(s), [o] "+r"(o), [w] "=&r"(w), [a1] "=&r"(a1),
                       [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [end] "r"(end), [off2] "r"(off2), [lim] "r"(lim)
                     : "cc", "memory");
  else
    __asm__ volatile("1:\n\t" TOR_RQ_PAIR_P("w", "a1") TOR_RQ_PAIR_P("b", "a1")
                     "pkhbt %[w], %[w], %[b], lsl #16\n\t"
                     "str %[w], [%[o]], #4\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [acc] "+r"(acc), [m] "+r"(m), [s] "+r"(s), [o] "+r"(o), [w] "=&r"(w), [a1] "=&r"(a1),
                       [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [end] "r"(end), [off2] "r"(off2)
                     : "cc", "memory");
}
#undef TOR_RQ_PAIR
#undef TOR_RQ_TAIL
#undef TOR_RQ_PAIR_P
#undef TOR_RQ_TAIL_P
#endif

#endif
