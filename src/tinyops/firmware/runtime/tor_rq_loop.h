/* The requantization shortcut's block loops in Cortex-M asm (tor_rq_loop, tor_rq_loop_p2),
 * defined once in tor_kernels_mac.c; rq_block (tor_conv_common.h) picks one. */
#ifndef TOR_RQ_LOOP_H
#define TOR_RQ_LOOP_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP)
/* Two lanes of the fast path in asm: LDRD the accumulators and multipliers (post-increment),
 * then the per-channel words (s[]) into the multipliers' registers, so a pair needs four
 * temporaries; TAIL finishes a lane from SMMULR(2 acc, m) and its s word. The result is
 * rq_pair's (lane 0 in bits 0-7, lane 1 in bits 8-15). */
#define TOR_RQ_PAIR(TAIL, A0, A1)                                                             \
  "ldrd %[" A0 "], %[" A1 "], [%[acc]], #8\n\t"                                               \
  "ldrd %[t0], %[t1], [%[m]], #8\n\t"                                                         \
  "lsl %[" A0 "], %[" A0 "], #1\n\t"                                                          \
  "smmulr %[" A0 "], %[" A0 "], %[t0]\n\t"                                                    \
  "lsl %[" A1 "], %[" A1 "], #1\n\t"                                                          \
  "smmulr %[" A1 "], %[" A1 "], %[t1]\n\t"                                                    \
  "ldrd %[t0], %[t1], [%[s]], #8\n\t" TAIL(A0, "t0") TAIL(A1, "t1")                          \
  "bfi %[" A0 "], %[" A1 "], #8, #8\n\t"
/* s[] = the shifts: RoundingDivideByPOT by e = -s as ((x + sign) >> (e - 1) + off2) >> 1 */
#define TOR_RQ_TAIL_SHIFT(a, s)                   \
  "add %[" a "], %[" a "], %[" a "], asr #31\n\t" \
  "mvn %[" s "], %[" s "]\n\t"                    \
  "asr %[" a "], %[" a "], %[" s "]\n\t"          \
  "add %[" a "], %[" a "], %[off2]\n\t"           \
  "ssat %[" a "], #8, %[" a "], asr #1\n\t"
/* s[] = 2^(33 - e) per channel: the shift and the output offset are one SMMLA,
 * floor(x / 2^(e - 1)) + off2 = off2 + floor(x * 2^(33 - e) / 2^32), the product exact in 64 bits */
#define TOR_RQ_TAIL_POW2(a, p)                      \
  "add %[" a "], %[" a "], %[" a "], asr #31\n\t"   \
  "smmla %[" a "], %[" a "], %[" p "], %[off2]\n\t" \
  "ssat %[" a "], #8, %[" a "], asr #1\n\t"

/* Four outputs packed in w, then (TOR_RQ_NEXT) stored, and on to the next four. */
#define TOR_RQ_FOUR(TAIL) \
  "1:\n\t" TOR_RQ_PAIR(TAIL, "w", "a1") TOR_RQ_PAIR(TAIL, "b", "a1") "pkhbt %[w], %[w], %[b], lsl #16\n\t"
#define TOR_RQ_NEXT "str %[w], [%[o]], #4\n\t" "cmp %[acc], %[end]\n\t" "bne 1b"
#define TOR_RQ_OUTS                                                                              \
  [acc] "+r"(acc), [m] "+r"(m), [s] "+r"(s), [o] "+r"(o), [w] "=&r"(w), [a1] "=&r"(a1), [b] "=&r"(b), \
      [t0] "=&r"(t0), [t1] "=&r"(t1)
/* The loop over acc[0..n) (n a positive multiple of 4) with m[], s[] into o[]: one pass per
 * four channels, every pointer and constant in a register; with lim (act_min, act_max in each
 * byte) the SSUB8/SEL clamp, without it (the range is all of int8) SSAT alone clamps. */
#define TOR_RQ_LOOP(TAIL)                                                                        \
  uint32_t w, a1, b, t0, t1;                                                                     \
  if (lim)                                                                                       \
    __asm__ volatile(TOR_RQ_FOUR(TAIL) "ldrd %[t0], %[t1], [%[lim]]\n\t"                          \
                     "ssub8 %[a1], %[w], %[t0]\n\t"                                               \
                     "sel %[w], %[w], %[t0]\n\t"                                                  \
                     "ssub8 %[a1], %[w], %[t1]\n\t"                                               \
                     "sel %[w], %[t1], %[w]\n\t" TOR_RQ_NEXT                                      \
                     : TOR_RQ_OUTS                                                               \
                     : [end] "r"(end), [off2] "r"(off2), [lim] "r"(lim)                          \
                     : "cc", "memory");                                                          \
  else                                                                                           \
    __asm__ volatile(TOR_RQ_FOUR(TAIL) TOR_RQ_NEXT                                               \
                     : TOR_RQ_OUTS                                                               \
                     : [end] "r"(end), [off2] "r"(off2)                                          \
                     : "cc", "memory")

/* s[] the shifts: 45 instructions per four clamped outputs, 40 unclamped (GCC's version of the
 * same loop spilled the output pointer, the end and the clamp words: 53). */
void tor_rq_loop(const int32_t *acc, const int32_t *end, const int32_t *m, const int32_t *s, int8_t *o, int32_t off2,
                 const uint32_t *lim) {
  TOR_RQ_LOOP(TOR_RQ_TAIL_SHIFT);
}

/* s[] = 2^(33 - e) per channel (tor_conv_params.pow2_off): 37 per four clamped outputs, 32 unclamped. */
void tor_rq_loop_p2(const int32_t *acc, const int32_t *end, const int32_t *m, const int32_t *s, int8_t *o,
                    int32_t off2, const uint32_t *lim) {
  TOR_RQ_LOOP(TOR_RQ_TAIL_POW2);
}
#undef TOR_RQ_LOOP
#undef TOR_RQ_FOUR
#undef TOR_RQ_NEXT
#undef TOR_RQ_OUTS
#undef TOR_RQ_PAIR
#undef TOR_RQ_TAIL_SHIFT
#undef TOR_RQ_TAIL_POW2
#endif

#endif
