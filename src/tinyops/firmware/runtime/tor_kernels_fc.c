/* FULLY_CONNECTED, int8, bit-exact with TFLM's reference_integer_ops FullyConnected.
 *
 * sum((x + io) * (w + fo)) + bias == sum(x * w) + fo * sum(x) + bias_eff, exactly, in
 * int32 (the compiler folds the input-offset terms into bias_eff per unit).
 *
 * Layout 1 (depth a multiple of 4, see FORMAT.md): the first 4 * (units / 4) rows are
 * stored in groups of four rows, word-interleaved: word i of rows 4g..4g+3 are 16
 * consecutive bytes. On Cortex-M4 the input is widened once into the int16 scratch
 * (per input word: SXTB16 lanes (0, 2), then SXTB16 ROR #8 lanes (1, 3)), so one step
 * of four rows is LDRD (input) + LDM (16 weight bytes) + 8 SXTB16 + 8 SMLAD: 18
 * instructions per 16 MACs, four steps per loop pass. Remaining rows (units % 4) are
 * plain rows. */
#define TOR_HOT_FILE 1 /* optimised for speed in -Os builds too (tor_conv_common.h) */
#include "tor_conv_common.h"

/* acc[k] += dot(x, row k of the group at g), k = 0..3, over `words` input words. */
#if defined(__ARM_FEATURE_MVE)
static void group4(const int8_t *x, const void *xw, const int8_t *g, int32_t words, int32_t *acc) {
  (void)xw;
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3], i = 0;
  /* VLD4 (32-bit lanes) de-interleaves 64 bytes into 16 contiguous bytes of each row */
  for (; i + 4 <= words; i += 4) {
    const int8x16_t xv = vldrbq_s8(x + 4 * i);
    const int32x4x4_t v = vld4q_s32((const int32_t *)(const void *)(g + 16 * i));
    s0 = vmladavaq_s8(s0, xv, vreinterpretq_s8_s32(v.val[0]));
    s1 = vmladavaq_s8(s1, xv, vreinterpretq_s8_s32(v.val[1]));
    s2 = vmladavaq_s8(s2, xv, vreinterpretq_s8_s32(v.val[2]));
    s3 = vmladavaq_s8(s3, xv, vreinterpretq_s8_s32(v.val[3]));
  }
  for (; i < words; i++)
    for (int32_t b = 0; b < 4; b++) {
      const int32_t xi = x[4 * i + b];
      const int8_t *q = g + 16 * i + b;
      s0 += xi * q[0], s1 += xi * q[4], s2 += xi * q[8], s3 += xi * q[12];
    }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}
#elif defined(__ARM_FEATURE_DSP)
/* r0 = widened input, r1 = group, r2 = end of the widened input, r3 = acc[4] (in/out). */
void tor_fc_group4(const uint32_t *xw, const int8_t *g, const uint32_t *xw_end, int32_t *acc);
#define TOR_FC_ROW(w, s)                \
  "sxtb16 r3, " w "\n\t"                \
  "smlad " s ", r8, r3, " s "\n\t"      \
  "sxtb16 " w ", " w ", ror #8\n\t"     \
  "smlad " s ", r9, " w ", " s "\n\t"
#define TOR_FC_STEP                                                            \
  "ldrd r8, r9, [r0], #8\n\t"                                                  \
  "ldm r1!, {r10, r11, r12, lr}\n\t" TOR_FC_ROW("r10", "r4") TOR_FC_ROW("r11", "r5") \
      TOR_FC_ROW("r12", "r6") TOR_FC_ROW("lr", "r7")
__asm__(".section .text.tor_fc_group4,\"ax\",%progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".align 2\n\t"
        ".global tor_fc_group4\n\t"
        ".hidden tor_fc_group4\n\t"
        ".type tor_fc_group4, %function\n\t"
        ".thumb_func\n"
        "tor_fc_group4:\n\t"
        "push {r3-r11, lr}\n\t"
        "ldm r3, {r4-r7}\n\t"
        "sub r3, r2, r0\n\t"
        "tst r3, #8\n\t" /* odd word count: one step first */
        "beq 1f\n\t" TOR_FC_STEP
        "1:\n\t"
        "sub r3, r2, r0\n\t" /* (the step used r3) */
        "tst r3, #16\n\t" /* then two if words % 4 is 2 or 3 */
        "beq 4f\n\t" TOR_FC_STEP TOR_FC_STEP
        "4:\n\t"
        "cmp r0, r2\n\t"
        "bcs 3f\n"
        "2:\n\t" TOR_FC_STEP TOR_FC_STEP TOR_FC_STEP TOR_FC_STEP
        "cmp r0, r2\n\t"
        "bcc 2b\n"
        "3:\n\t"
        "pop {r3}\n\t"
        "stm r3, {r4-r7}\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size tor_fc_group4, .-tor_fc_group4\n\t"
        ".text");
static void group4(const int8_t *x, const void *xw, const int8_t *g, int32_t words, int32_t *acc) {
  (void)x;
  tor_fc_group4((const uint32_t *)xw, g, (const uint32_t *)xw + 2 * words, acc);
}
#else
static void group4(const int8_t *x, const void *xw, const int8_t *g, int32_t words, int32_t *acc) {
  (void)xw;
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
  for (int32_t i = 0; i < 4 * words; i++) {
    const int32_t xi = x[i];
    const int8_t *q = g + 4 * i - 3 * (i & 3); /* word i/4 of the group: 16 bytes, rows 4 apart */
    s0 += xi * q[0], s1 += xi * q[4], s2 += xi * q[8], s3 += xi * q[12];
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}
#endif

typedef struct { int32_t v[4]; } q4_t; /* four accumulators: one LDM/STM pair */

/* One batch row of a layout-1 op: groups of four units, up to 16 units per requant block. */
static void fc_grouped(const int8_t *x, const void *xw, const int8_t *filt, int32_t depth, int32_t units,
                       int32_t xterm, requant_t *r, const int32_t *mult, const int32_t *shift, int32_t per_unit,
                       int8_t *o) {
  const int32_t words = depth >> 2, g4 = units & ~3;
  int32_t acc[16];
  for (int32_t u = 0; u < g4; u += 16) {
    const int32_t n = g4 - u < 16 ? g4 - u : 16;
    for (int32_t k = 0; k < n; k += 4) *(q4_t *)(void *)(acc + k) = *(const q4_t *)(const void *)(r->bias_eff + u + k);
    if (xterm)
      for (int32_t k = 0; k < n; k++) acc[k] += xterm;
    for (int32_t k = 0; k < n; k += 4) group4(x, xw, filt + (u + k) * depth, words, acc + k);
    if (per_unit) r->mult = mult + u, r->shift = shift + u;
    rq_block(r, acc, 0, n, o + u);
  }
  if (per_unit) r->mult = mult, r->shift = shift;
  for (int32_t u = g4; u < units; u++)
    o[u] = requant(r, per_unit ? u : 0, dot1(x, filt + u * depth, depth) + r->bias_eff[u] + xterm);
}

/* Layout 0: plain rows, four at a time through dot4. */
static void fc_rows(const int8_t *x, const int8_t *filt, int32_t depth, int32_t units, int32_t xterm,
                    const requant_t *r, int32_t per_unit, int8_t *o) {
  int32_t acc[4];
  for (int32_t u = 0; u < units; u++) {
    if ((u & 3) == 0) {
      acc[0] = acc[1] = acc[2] = acc[3] = 0;
      if (u + 4 <= units) tor_dot4(x, filt + u * depth, depth, depth, acc);
      else
        for (int32_t k = 0; u + k < units; k++) acc[k] = dot1(x, filt + (u + k) * depth, depth);
    }
    o[u] = requant(r, per_unit ? u : 0, acc[u & 3] + xterm + r->bias_eff[u]);
  }
}

tor_status tor_run_fc(const uint8_t *image, uint8_t *arena, const tor_fc_params *p) {
  const tor_tensor *t = tor_tensors(image);
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *filt = (const int8_t *)tor_data(image, arena, p->filter);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  const int32_t *shift = (const int32_t *)(const void *)(image + p->shifts_off);
  const int32_t units = t[p->filter].dims[2], depth = t[p->filter].dims[3];
  const int32_t batches = tor_elems(&t[p->input]) / depth, per_unit = p->n_multipliers > 1;
  tor_conv_params cp; /* what the shared requantization reads of an op */
  memset(&cp, 0, sizeof cp);
  cp.output_offset = p->output_offset, cp.act_min = p->act_min, cp.act_max = p->act_max;
  int32_t m16[16], s16[16];
  requant_t r;
  r.p = &cp;
  r.mult = mult, r.shift = shift, r.bias = 0;
  r.bias_eff = (const int32_t *)(const void *)(image + p->bias_eff_off);
  rq_init(&r, 0, 0);
  r.fast = p->rq_fast; /* checked by the loader (tor_validate_ops.c) */
  if (!per_unit) {
    for (int k = 0; k < 16; k++) m16[k] = mult[0], s16[k] = shift[0];
    r.mult = m16, r.shift = s16;
  }
  void *xw = p->scratch >= 0 ? (void *)tor_data(image, arena, p->scratch) : 0;
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + b * depth;
    const int32_t xterm = p->filter_offset ? p->filter_offset * wsum1(x, depth) : 0;
    if (p->layout == 1) {
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)
      uint32_t *w = (uint32_t *)xw; /* the input once, widened to int16 pairs */
      for (int32_t i = 0; i < depth; i += 4) {
        const uint32_t v = rd32(x + i);
        *w++ = (uint32_t)EVEN(v);
        *w++ = (uint32_t)ODD(v);
      }
#endif
      fc_grouped(x, xw, filt, depth, units, xterm, &r, per_unit ? mult : m16, per_unit ? shift : s16, per_unit,
                 out + b * units);
    } else {
      fc_rows(x, filt, depth, units, xterm, &r, per_unit, out + b * units);
    }
  }
  return TOR_OK;
}
