/* Shared by the CONV_2D/FULLY_CONNECTED and DEPTHWISE_CONV_2D kernel files: the int8 dot
 * products (SXTB16 + SMLAD on Cortex-M4 and up, plain C elsewhere), per-channel
 * requantization and the valid-tap range of a window. Include once per kernel file. */
#ifndef TOR_CONV_COMMON_H
#define TOR_CONV_COMMON_H

#include <string.h>

#include "tor_fixedpoint.h"
#include "tor_internal.h"
/* The MAC loops' drivers are the runtime's hot path: a file that defines TOR_HOT_FILE before
 * this include is optimised for speed even in -Os builds, and TOR_HOT marks one such function
 * in a file that stays at -Os (define TOR_NO_O2_KERNELS to keep -Os everywhere). */
#if defined(__GNUC__) && !defined(__clang__) && !defined(TOR_NO_O2_KERNELS)
#if defined(TOR_HOT_FILE)
#pragma GCC optimize("O2")
#endif
#define TOR_HOT __attribute__((optimize("O2")))
#else
#define TOR_HOT
#endif

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

static inline __attribute__((always_inline)) uint32_t rd32(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4); /* unaligned LDR is fine on Cortex-M4 */
  return v;
}
#define EVEN(w) ((int32_t)__sxtb16(w))
/* SXTB16 with the rotate folded in (GCC does not fuse __sxtb16(__ror(w, 8))) */
static inline __attribute__((always_inline)) int32_t odd_bytes(uint32_t w) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  return r;
}
#define ODD(w) odd_bytes(w)
#endif

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>

/* Helium (Cortex-M55): one VMLADAVA.S8 is 16 int8 MACs into an exact int32 sum, so each
 * result equals the scalar loop's. Whole 16-byte blocks load unpredicated; the tail is
 * one predicated step (VCTP8: lanes past n load as 0 and read no memory). */
#define TOR_MVE_DOTS(ld, p)                            \
  do {                                                 \
    const int8x16_t x = ld(a + i, p);                  \
    s0 = vmladavaq_s8(s0, x, ld(b + i, p));            \
    s1 = vmladavaq_s8(s1, x, ld(b1 + i, p));           \
    s2 = vmladavaq_s8(s2, x, ld(b2 + i, p));           \
    s3 = vmladavaq_s8(s3, x, ld(b3 + i, p));           \
  } while (0)
#define TOR_LD(ptr, p) vldrbq_s8(ptr)
#define TOR_LDZ(ptr, p) vldrbq_z_s8(ptr, p)

/* acc[k] += dot(a, b + k*stride) over n bytes, k = 0..3 (tor_kernels_mac.c) */
void tor_dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n, int32_t *acc);

static inline __attribute__((always_inline)) int32_t dot1(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t s = 0, i = 0;
  for (; i + 16 <= n; i += 16) s = vmladavaq_s8(s, vldrbq_s8(a + i), vldrbq_s8(b + i));
  if (i < n) {
    const mve_pred16_t p = vctp8q((uint32_t)(n - i));
    s = vmladavaq_s8(s, vldrbq_z_s8(a + i, p), vldrbq_z_s8(b + i, p));
  }
  return s;
}
#elif defined(__ARM_FEATURE_DSP)

/* One word (4 bytes) of the input against one word of each of four filter rows: the input
 * word is widened once (SXTB16, and SXTB16 ROR #8 for the odd bytes), then each row costs
 * LDR + 2 SXTB16 + 2 SMLAD. Rows 0 and 1 are at b and b1, rows 2 and 3 at b + s2 and
 * b1 + s2; the b/b1 loads post-increment. Written as asm because GCC, with 13 values
 * live, spills the loop bound or the stride to the stack every iteration. */
#define TOR_DOT4_ROW(ptr, off, post, s)                  \
  "ldr %[w], [%[" ptr "]" off "]" post "\n\t"          \
  "sxtb16 %[t], %[w]\n\t"                              \
  "sxtb16 %[w], %[w], ror #8\n\t"                      \
  "smlad %[" s "], %[x], %[t], %[" s "]\n\t"           \
  "smlad %[" s "], %[xo], %[w], %[" s "]\n\t"
#define TOR_DOT4_STEP                                                  \
  "ldr %[x], [%[a]], #4\n\t"                                           \
  "sxtb16 %[xo], %[x], ror #8\n\t"                                     \
  "sxtb16 %[x], %[x]\n\t"                                              \
  TOR_DOT4_ROW("b", ", %[s2]", "", "s2a") TOR_DOT4_ROW("b", "", ", #4", "s0") \
  TOR_DOT4_ROW("b1", ", %[s2]", "", "s3") TOR_DOT4_ROW("b1", "", ", #4", "s1")

/* acc[k] += dot(a, b + k*stride) over n bytes, k = 0..3 (tor_kernels_mac.c) */
void tor_dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n, int32_t *acc);

static inline __attribute__((always_inline)) int32_t dot1(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t s = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t x = rd32(a + i), w = rd32(b + i);
    s = __smlad(EVEN(x), EVEN(w), s);
    s = __smlad(ODD(x), ODD(w), s);
  }
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}
#else
static inline __attribute__((always_inline, unused)) void tor_dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n, int32_t *acc) {
  for (int k = 0; k < 4; k++) {
    const int8_t *bk = b + k * stride;
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) s += a[i] * bk[i];
    acc[k] += s;
  }
}

static inline __attribute__((always_inline)) int32_t dot1(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t s = 0;
  for (int32_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
#endif

static inline int32_t wsum1(const int8_t *b, int32_t n) {
  int32_t s = 0;
  for (int32_t i = 0; i < n; i++) s += b[i];
  return s;
}

typedef struct {
  const tor_conv_params *p;
  const int32_t *mult, *shift, *bias_eff, *bias;
  const int32_t *pow2; /* 2^(33 - e) per channel (tor_conv_params.pow2_off), or 0 */
  int32_t fast; /* every channel fits rq4's fast path (see rq_fast_ok) */
  uint32_t lo4, hi4; /* act_min / act_max in each byte lane */
  int32_t off2;      /* 2 * output_offset + 1 */
  int32_t full;      /* act_min..act_max is -128..127: SSAT alone clamps */
  int32_t wide_ready; /* CONV_2D in a SEGMENT, after its first call: a whole widened filter is
                         still in the scratch (nothing else writes there during the segment) */
} requant_t;

/* The fast path below equals tor_mbqm + offset + clamp exactly when, for every channel,
 * the multiplier is >= 0 (never INT32_MIN, so SRDHM cannot saturate), the shift is a right
 * shift of at least 2, and every accumulator is below 2^30 in magnitude (so 2 * acc
 * fits): then SRDHM(acc, m) = SMMULR(2 * acc, m), and RoundingDivideByPOT(x, e) followed
 * by + off is ((sat(x + (x < 0 ? -1 : 0)) >> (e - 1)) + 2 * off + 1) >> 1. `bound` is the
 * largest |acc| the op's taps can reach without the bias. */
static inline int32_t rq_fast_ok(const requant_t *r, int32_t n, int64_t bound) {
#if defined(__ARM_FEATURE_DSP)
  int64_t b = 0;
  for (int32_t k = 0; k < n; k++) {
    if (r->mult[k] < 0 || r->shift[k] > -2) return 0;
    const int64_t be = r->bias_eff[k] < 0 ? -(int64_t)r->bias_eff[k] : r->bias_eff[k];
    const int64_t bb = r->bias ? (r->bias[k] < 0 ? -(int64_t)r->bias[k] : r->bias[k]) : 0;
    if (be > b) b = be;
    if (bb > b) b = bb;
  }
  return bound + b < ((int64_t)1 << 30);
#else
  (void)r, (void)n, (void)bound;
  return 0;
#endif
}

static inline void rq_init(requant_t *r, int32_t n, int64_t bound) {
  const uint32_t lo = (uint8_t)r->p->act_min, hi = (uint8_t)r->p->act_max;
  r->lo4 = lo * 0x01010101u;
  r->hi4 = hi * 0x01010101u;
  r->off2 = 2 * r->p->output_offset + 1;
  r->full = r->p->act_min == -128 && r->p->act_max == 127;
  r->fast = rq_fast_ok(r, n, bound);
  r->pow2 = 0;
}

#if defined(__ARM_FEATURE_DSP)
/* Two lanes of the fast path: acc[0..1] with m[0..1], s[0..1] (word-aligned, one LDRD each)
 * to two int8 in the low halfword (lane 0 in bits 0-7, lane 1 in bits 8-15). */
/* sat(x + (x < 0 ? -1 : 0)) is one ADD ... ASR #31: with |acc| < 2^30, |2 acc| <= 2^31 - 2
 * and 0 <= m < 2^31, so |2 acc * m| < 2^62 and |SMMULR(2 acc, m)| <= 2^30; then
 * x + (x >> 31) >= -2^30 - 1 > INT32_MIN, and the saturation of QADD never happens. */
#define TOR_RQ_LANE(a, m, s)                   \
  "lsl %[" a "], %[" a "], #1\n\t"             \
  "smmulr %[" a "], %[" a "], %[" m "]\n\t"    \
  "add %[" a "], %[" a "], %[" a "], asr #31\n\t" \
  "mvn %[" s "], %[" s "]\n\t"                 \
  "asr %[" a "], %[" a "], %[" s "]\n\t"       \
  "add %[" a "], %[" a "], %[off2]\n\t"        \
  "ssat %[" a "], #8, %[" a "], asr #1\n\t"
static inline __attribute__((always_inline)) uint32_t rq_pair(const int32_t *acc, const int32_t *m, const int32_t *s,
                                                              int32_t off2) {
  uint32_t a0, a1, m0, m1, s0, s1;
  __asm__("ldrd %[a0], %[a1], [%[acc]]\n\t"
          "ldrd %[m0], %[m1], [%[mp]]\n\t"
          "ldrd %[s0], %[s1], [%[sp_]]\n\t" TOR_RQ_LANE("a0", "m0", "s0") TOR_RQ_LANE("a1", "m1", "s1")
          "bfi %[a0], %[a1], #8, #8"
          : [a0] "=&r"(a0), [a1] "=&r"(a1), [m0] "=&r"(m0), [m1] "=&r"(m1), [s0] "=&r"(s0), [s1] "=&r"(s1)
          : [acc] "r"(acc), [mp] "r"(m), [sp_] "r"(s), [off2] "r"(off2)
          : "memory");
  return a0;
}
#endif

#if defined(__ARM_FEATURE_DSP)
/* Four channels without the activation clamp (the range is all of int8: SSAT did it). */
static inline __attribute__((always_inline)) void rq4_fast_full(const int32_t *acc, const int32_t *m, const int32_t *s,
                                                                int32_t off2, int8_t *o) {
  const uint32_t lo = rq_pair(acc, m, s, off2), hi = rq_pair(acc + 2, m + 2, s + 2, off2);
  uint32_t w;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(w) : "r"(lo), "r"(hi));
  __asm__("str %1, [%0]" : : "r"(o), "r"(w) : "memory");
}

/* The fast path for four channels: acc[0..3] with m[0..3], s[0..3] into o[0..3]. */
static inline __attribute__((always_inline)) void rq4_fast(const int32_t *acc, const int32_t *m, const int32_t *s,
                                                           int32_t off2, uint32_t lo4, uint32_t hi4, int8_t *o) {
  const uint32_t lo = rq_pair(acc, m, s, off2), hi = rq_pair(acc + 2, m + 2, s + 2, off2);
  uint32_t w, t;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(w) : "r"(lo), "r"(hi));
  __asm__("ssub8 %[t], %[w], %[lo]\n\t"
          "sel %[w], %[w], %[lo]\n\t"
          "ssub8 %[t], %[w], %[hi]\n\t"
          "sel %[w], %[hi], %[w]"
          : [w] "+r"(w), [t] "=&r"(t)
          : [lo] "r"(lo4), [hi] "r"(hi4)
          : "cc");
  __asm__("str %1, [%0]" : : "r"(o), "r"(w) : "memory"); /* unaligned STR is fine on M4 */
}
#endif

/* Requantize four accumulators of channels oc..oc+3 into o[0..3]. */
static inline __attribute__((always_inline)) void rq4(const requant_t *r, const int32_t *acc, int32_t oc, int8_t *o) {
  const int32_t *m = r->mult + oc, *s = r->shift + oc;
#if defined(__ARM_FEATURE_DSP)
  if (r->fast) {
    if (r->full) rq4_fast_full(acc, m, s, r->off2, o);
    else rq4_fast(acc, m, s, r->off2, r->lo4, r->hi4, o);
    return;
  }
#endif
  const int32_t off = r->p->output_offset, lo = r->p->act_min, hi = r->p->act_max;
  for (int k = 0; k < 4; k++) o[k] = (int8_t)tor_clamp(tor_mbqm(acc[k], m[k], s[k]) + off, lo, hi);
}

static inline __attribute__((always_inline)) int8_t requant(const requant_t *r, int32_t oc, int32_t acc) {
  acc = tor_mbqm(acc, r->mult[oc], r->shift[oc]) + r->p->output_offset;
  return (int8_t)tor_clamp(acc, r->p->act_min, r->p->act_max);
}

/* The portable requantization of n accumulators (channels oc..oc+n-1) into o, and on DSP
 * cores the shortcut's asm block loops (tor_rq_loop.h); one copy each, in tor_kernels_mac.c. */
void tor_rq_slow(const requant_t *r, const int32_t *acc, int32_t oc, int32_t n, int8_t *o);
#if defined(__ARM_FEATURE_DSP)
void tor_rq_loop(const int32_t *acc, const int32_t *end, const int32_t *m, const int32_t *s, int8_t *o, int32_t off2,
                 const uint32_t *lim);
void tor_rq_loop_p2(const int32_t *acc, const int32_t *end, const int32_t *m, const int32_t *s, int8_t *o,
                    int32_t off2, const uint32_t *lim);
#endif

/* rq4 over n (a multiple of 4) accumulators of channels oc..oc+n-1 into o. */
static inline __attribute__((always_inline, unused)) void rq_block(const requant_t *r, const int32_t *acc, int32_t oc,
                                                                   int32_t n, int8_t *o) {
#if defined(__ARM_FEATURE_DSP)
  if (r->fast) {
    if (n > 0 && r->pow2)
      tor_rq_loop_p2(acc, acc + n, r->mult + oc, r->pow2 + oc, o, r->off2, r->full ? 0 : &r->lo4);
    else if (n > 0)
      tor_rq_loop(acc, acc + n, r->mult + oc, r->shift + oc, o, r->off2, r->full ? 0 : &r->lo4);
    return;
  }
#endif
  tor_rq_slow(r, acc, oc, n, o);
}

/* Valid filter taps [lo, hi) along one axis for an output position starting at `origin`. */
static inline void tap_range(int32_t origin, int32_t k, int32_t dil, int32_t size, int32_t *lo, int32_t *hi) {
  int32_t a = 0, b = k;
  while (a < b && origin + a * dil < 0) a++;
  while (b > a && origin + (b - 1) * dil >= size) b--;
  *lo = a;
  *hi = b;
}

/* DEPTHWISE_CONV_2D (tor_kernels_dw.c). */
void tor_depthwise(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                   const int8_t *filt, int8_t *out, const requant_t *r, const int8_t *zrow);
/* Its 3x3 / 5x5 path on DSP cores (tor_kernels_dw_m4.c); returns 0 (nothing written) when
 * that path does not apply. */
int tor_dw_pairs(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                 const int8_t *filt, int8_t *out, const requant_t *r, const int8_t *zrow);

#endif
