/* Fixed-point arithmetic with exactly the rounding of TFLite Micro's reference kernels
 * (gemmlowp's SaturatingRoundingDoublingHighMul / RoundingDivideByPOT, the fixed-point
 * exp, logistic, tanh and reciprocal). Public algorithms; our code. */
#ifndef TOR_FIXEDPOINT_H
#define TOR_FIXEDPOINT_H

#include <stdint.h>

static inline __attribute__((always_inline)) int32_t tor_srdhm(int32_t a, int32_t b) {
  /* gemmlowp: (ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31, truncating. For every int64 ab
   * that equals floor((ab + 2^30) / 2^31): one add and an arithmetic shift (SMULL, ADDS,
   * ADC, shift on Cortex-M4) instead of a sign-dependent 64-bit division. */
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = (int64_t)a * (int64_t)b;
  return (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
}

static inline __attribute__((always_inline)) int32_t tor_rdbypot(int32_t x, int exponent) {
  /* gemmlowp RoundingDivideByPOT: round half away from zero; 32-bit only (a 64-bit
   * formulation costs ~25 instructions on Cortex-M4 for the variable shifts). */
  const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding); shift in [-31, 30]. */
static inline __attribute__((always_inline)) int32_t tor_mbqm(int32_t x, int32_t multiplier, int shift) {
  int left = shift > 0 ? shift : 0;
  int right = shift > 0 ? 0 : -shift;
  return tor_rdbypot(tor_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int32_t tor_clamp(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0. */
static inline int32_t tor_sat_shl(int32_t x, int exponent) {
  int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

static inline int tor_clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) { x <<= 1; n++; }
  return n;
}

/* exp(x) for x <= 0 given with `integer_bits` integer bits; result has 0 integer bits. */
static inline int32_t tor_exp_on_interval(int32_t a) {
  const int32_t constant_term = 1895147668, one_third = 715827883;
  int32_t x = a + (1 << 28);
  int32_t x2 = tor_srdhm(x, x), x3 = tor_srdhm(x2, x), x4 = tor_srdhm(x2, x2);
  int32_t x4_over_4 = tor_rdbypot(x4, 2);
  int32_t poly = tor_rdbypot(tor_srdhm(x4_over_4 + x3, one_third) + x2, 1);
  return constant_term + tor_srdhm(constant_term, x + poly);
}

static inline int32_t tor_exp_on_negative_values(int32_t a, int integer_bits) {
  static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int frac = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (frac - 2);
  int32_t a_mod = (a & (one_quarter - 1)) - one_quarter;
  /* Rescale to 0 integer bits: exact (|a_mod| <= 1/4), so a plain shift. */
  int32_t result = tor_exp_on_interval((int32_t)((uint32_t)a_mod << integer_bits));
  int32_t remainder = a_mod - a;
  for (int e = -2; e <= 4; e++) {
    if (integer_bits > e && (remainder & ((int32_t)1 << (frac + e)))) result = tor_srdhm(result, mults[e + 2]);
  }
  return a == 0 ? INT32_MAX : result;
}

static inline int32_t tor_rounding_half_sum(int32_t a, int32_t b) {
  int64_t sum = (int64_t)a + (int64_t)b;
  int64_t sign = sum >= 0 ? 1 : -1;
  return (int32_t)((sum + sign) / 2);
}

/* Newton-Raphson 1/(1+x) on [0,1); returns the F2 estimate x (2 integer bits). */
static inline int32_t tor_newton_half_recip(int32_t half_denominator) {
  int32_t x = 1515870810 + tor_srdhm(half_denominator, -1010580540);
  for (int i = 0; i < 3; i++) {
    int32_t hdx = tor_srdhm(half_denominator, x);
    int32_t one_minus = (1 << 29) - hdx;
    x = x + tor_sat_shl(tor_srdhm(x, one_minus), 2);
  }
  return x;
}

static inline int32_t tor_one_over_one_plus_x(int32_t a) {
  int32_t x = tor_newton_half_recip(tor_rounding_half_sum(a, INT32_MAX));
  return tor_sat_shl(x, 1);
}

static inline int32_t tor_one_minus_x_over_one_plus_x(int32_t a) {
  int32_t x = tor_newton_half_recip(tor_rounding_half_sum(a, INT32_MAX));
  return tor_sat_shl(x - (1 << 29), 2);
}

/* gemmlowp::logistic for an input with 4 integer bits. */
static inline int32_t tor_logistic_q4(int32_t a) {
  if (a == 0) return 1 << 30;
  int32_t abs_a = a > 0 ? a : -a;
  int32_t pos = tor_one_over_one_plus_x(tor_exp_on_negative_values(-abs_a, 4));
  return a > 0 ? pos : INT32_MAX - pos;
}

/* gemmlowp::tanh for an input with 4 integer bits. */
static inline int32_t tor_tanh_q4(int32_t a) {
  if (a == 0) return 0;
  int32_t n = a < 0 ? a : -a;
  /* ExactMulByPot<1>: same raw value read with 5 integer bits. */
  int32_t t = tor_one_minus_x_over_one_plus_x(tor_exp_on_negative_values(n, 5));
  return a < 0 ? -t : t;
}

#endif
