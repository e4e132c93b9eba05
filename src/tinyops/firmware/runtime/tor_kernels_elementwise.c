/* Element-wise int8 ops beyond ADD/MUL: table lookups (RELU, RELU6, LEAKY_RELU,
 * HARD_SWISH; the compiler fills the table with TFLM's integer arithmetic) and the
 * broadcasting binary ops SUB, PRELU, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and DIV, and
 * ADD/MUL where tor_kernels.c has no fast path, matching TFLM's int8 reference kernels
 * bit for bit. */
#include "tor_internal.h"
#include "tor_fixedpoint.h"

tor_status tor_run_lut(const uint8_t *image, uint8_t *arena, const tor_lut_params *p) {
  const int32_t n = tor_elems(&tor_tensors(image)[p->input]);
  const uint8_t *in = tor_data(image, arena, p->input);
  uint8_t *out = tor_data(image, arena, p->output);
  const uint8_t *table = image + p->table_off;
  for (int32_t i = 0; i < n; i++) out[i] = table[in[i]];
  return TOR_OK;
}

/* gemmlowp RoundingDivideByPOT as TFLM's x86 build evaluates it for any exponent in
 * [0, 63]: the mask comes from a 64-bit shift, the value shift uses the low 5 bits.
 * DIV reaches exponents above 31 for small quotients (e.g. 0 / y). */
static int32_t div_rdbypot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(uint32_t)(((uint64_t)1 << (exponent & 63)) - 1u);
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> (exponent & 31)) + ((x & mask) > threshold ? 1 : 0);
}

/* One out-of-line copy: these ops are not the hot path, flash is (-Os keeps ~0.4 KB). */
static __attribute__((noinline)) int32_t mbqm(int32_t x, int32_t multiplier, int shift) {
  return tor_mbqm(x, multiplier, shift);
}

static int leading_sign_bits(int32_t x) { /* __builtin_clrsb; 31 for 0 */
  return tor_clz32((uint32_t)(x < 0 ? ~x : x)) - 1;
}

static int32_t quotient(const tor_binary_params *p, int32_t x, int32_t y) {
  if (y < 0) { /* TFLM makes the divisor positive */
    x = -x;
    y = -y;
  }
  const int headroom_plus_one = tor_clz32((uint32_t)y); /* 32 for y == 0 */
  const int recip_shift = 31 - headroom_plus_one;
  const int32_t shifted = headroom_plus_one == 32 ? INT32_MIN
                                                  : (int32_t)(((uint32_t)y << headroom_plus_one) - (1u << 31));
  const int32_t inv = tor_one_over_one_plus_x(shifted);
  const int headroom = leading_sign_bits(x);
  const int32_t unscaled = tor_srdhm((int32_t)((uint32_t)x << headroom), inv);
  const int total_shift = p->output_shift - recip_shift - headroom; /* <= 0 (validated output_shift) */
  return div_rdbypot(tor_srdhm(unscaled, p->output_multiplier), -total_shift) + p->output_offset;
}

static int32_t element(const tor_binary_params *p, uint32_t code, int32_t a, int32_t b) {
  const int32_t x = p->input1_offset + a, y = p->input2_offset + b;
  switch (code) {
    case TOR_OP_MAXIMUM: return a > b ? a : b;
    case TOR_OP_MINIMUM: return a < b ? a : b;
    case TOR_OP_PRELU:
      if (x >= 0) return mbqm(x, p->input1_multiplier, p->input1_shift) + p->output_offset;
      return mbqm(x * y, p->input2_multiplier, p->input2_shift) + p->output_offset;
    case TOR_OP_DIV: return quotient(p, x, y);
    case TOR_OP_MUL: return mbqm(x * y, p->output_multiplier, p->output_shift) + p->output_offset;
    default: { /* ADD, SUB, SQUARED_DIFFERENCE */
      const int32_t sx = mbqm(x * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
      const int32_t sy = mbqm(y * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
      const int32_t d = (int32_t)(code == TOR_OP_ADD ? (uint32_t)sx + (uint32_t)sy : (uint32_t)sx - (uint32_t)sy);
      if (code != TOR_OP_SQUARED_DIFFERENCE) return mbqm(d, p->output_multiplier, p->output_shift) + p->output_offset;
      return mbqm((int32_t)((uint32_t)d * (uint32_t)d), p->output_multiplier, p->output_shift) + p->output_offset;
    }
  }
}

void tor_binary_same(const tor_binary_params *p, uint32_t code, const int8_t *a, const int8_t *b, int8_t *out,
                     int32_t n) {
  for (int32_t i = 0; i < n; i++) out[i] = (int8_t)tor_clamp(element(p, code, a[i], b[i]), p->act_min, p->act_max);
}

tor_status tor_run_binary2(const uint8_t *image, uint8_t *arena, const tor_binary_params *p, uint32_t code) {
  const tor_tensor *ta = &tor_tensors(image)[p->input1], *tb = &tor_tensors(image)[p->input2];
  const tor_tensor *to = &tor_tensors(image)[p->output];
  const int8_t *a = (const int8_t *)tor_data(image, arena, p->input1);
  const int8_t *b = (const int8_t *)tor_data(image, arena, p->input2);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  int32_t sa[4], sb[4]; /* strides, 0 along broadcast dims (sizes fit: <= arena or image) */
  int32_t ra = 1, rb = 1;
  for (int d = 3; d >= 0; d--) {
    sa[d] = ta->dims[d] == 1 ? 0 : ra;
    sb[d] = tb->dims[d] == 1 ? 0 : rb;
    ra *= ta->dims[d];
    rb *= tb->dims[d];
  }
  int32_t o = 0;
  for (int32_t i = 0; i < to->dims[0]; i++)
    for (int32_t j = 0; j < to->dims[1]; j++)
      for (int32_t k = 0; k < to->dims[2]; k++) {
        const int8_t *ra_ = a + i * sa[0] + j * sa[1] + k * sa[2], *rb_ = b + i * sb[0] + j * sb[1] + k * sb[2];
        for (int32_t l = 0; l < to->dims[3]; l++) {
          const int32_t r = element(p, code, ra_[l * sa[3]], rb_[l * sb[3]]);
          out[o++] = (int8_t)tor_clamp(r, p->act_min, p->act_max);
        }
      }
  return TOR_OK;
}
