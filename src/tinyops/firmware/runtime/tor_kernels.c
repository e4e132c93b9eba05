/* Pooling, ADD/MUL, SOFTMAX, LOGISTIC/TANH, (DE)QUANTIZE, PAD, CONCATENATION and
 * RESHAPE, matching TFLM's int8 reference kernels bit for bit. */
#include <math.h>
#include <string.h>

#include "tor_internal.h"
#include "tor_fixedpoint.h"

#if defined(__ARM_FEATURE_DSP)
/* Four channels of one pooling window a word (C % 4 == 0): MAX_POOL keeps the byte-wise
 * maximum with SSUB8 + SEL; AVERAGE_POOL (at most 256 taps, so every sum fits a halfword
 * lane) adds bytes 0 and 2, and rotated 1 and 3, into two halfword lanes each with SXTAB16.
 * The sums are exact, so the rounding division below gives TFLM's result. */
static __attribute__((noinline)) void pool_window4(const int8_t *q, int32_t ny, int32_t nx, int32_t C, intptr_t rskip,
                                                   int is_max, int32_t *s) {
  uint32_t e = is_max ? 0x80808080u : 0, o = 0, t, w, v;
  if (rskip == 0) nx *= ny, ny = 1; /* whole rows: one run of pixels */
  for (int32_t fy = 0; fy < ny; fy++, q += rskip) {
    int32_t fx = nx;
    for (; fx >= 2; fx -= 2, q += 2 * C) { /* two pixels a step */
      memcpy(&w, q, 4);
      memcpy(&v, q + C, 4);
      if (is_max)
        __asm__("ssub8 %1, %2, %0\n\tsel %0, %2, %0\n\tssub8 %1, %3, %0\n\tsel %0, %3, %0"
                : "+r"(e), "=&r"(t) : "r"(w), "r"(v) : "cc");
      else
        __asm__("sxtab16 %0, %0, %2\n\tsxtab16 %1, %1, %2, ror #8\n\t"
                "sxtab16 %0, %0, %3\n\tsxtab16 %1, %1, %3, ror #8"
                : "+r"(e), "+r"(o) : "r"(w), "r"(v));
    }
    if (fx) {
      memcpy(&w, q, 4);
      q += C;
      if (is_max)
        __asm__("ssub8 %1, %2, %0\n\tsel %0, %2, %0" : "+r"(e), "=&r"(t) : "r"(w) : "cc");
      else
        __asm__("sxtab16 %0, %0, %2\n\tsxtab16 %1, %1, %2, ror #8" : "+r"(e), "+r"(o) : "r"(w));
    }
  }
  if (is_max) {
    for (int k = 0; k < 4; k++) s[k] = (int8_t)(e >> (8 * k));
    return;
  }
  s[0] = (int16_t)e, s[1] = (int16_t)o, s[2] = (int16_t)(e >> 16), s[3] = (int16_t)(o >> 16);
}
#endif

/* One pooled output from a window's maximum or sum over count taps (TFLM's rounding division). */
static inline int8_t pool_out(const tor_pool_params *p, int is_max, int32_t acc, int32_t count) {
  if (!is_max) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
  return (int8_t)tor_clamp(acc, p->act_min, p->act_max);
}

tor_status tor_run_pool(const uint8_t *image, uint8_t *arena, const tor_pool_params *p, int is_max) {
  const tor_tensor *ti = &tor_tensors(image)[p->input], *to = &tor_tensors(image)[p->output];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t OH = to->dims[1], OW = to->dims[2];
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        const int32_t fy0 = y0 < 0 ? -y0 : 0, fx0 = x0 < 0 ? -x0 : 0;
        const int32_t fy1 = p->filter_h < H - y0 ? p->filter_h : H - y0;
        const int32_t fx1 = p->filter_w < W - x0 ? p->filter_w : W - x0;
        const int32_t nx = fx1 - fx0, ny = fy1 - fy0, count = nx > 0 && ny > 0 ? nx * ny : 0;
        if (count == 0) return TOR_ERR_SHAPE; /* window entirely in padding: TFLM errors too */
        /* the window's first pixel, then pointer steps: one pixel (C) and to the next row */
        const int8_t *pix = in + (((intptr_t)b * H + y0 + fy0) * W + x0 + fx0) * C;
        const intptr_t rskip = (intptr_t)(W - nx) * C;
        int8_t *o = out + (((intptr_t)b * OH + oy) * OW + ox) * C;
        int32_t c = 0;
#if defined(__ARM_FEATURE_DSP)
        if ((C & 3) == 0 && (is_max || count <= 256))
          for (; c < C; c += 4) {
            int32_t s4[4];
            pool_window4(pix + c, ny, nx, C, rskip, is_max, s4);
            for (int k = 0; k < 4; k++) o[c + k] = pool_out(p, is_max, s4[k], count);
          }
#endif
        for (; c < C; c++) {
          int32_t acc = is_max ? -128 : 0;
          const int8_t *q = pix + c;
          if (is_max)
            for (int32_t fy = 0; fy < ny; fy++, q += rskip)
              for (int32_t fx = 0; fx < nx; fx++, q += C) acc = *q > acc ? *q : acc;
          else
            for (int32_t fy = 0; fy < ny; fy++, q += rskip)
              for (int32_t fx = 0; fx < nx; fx++, q += C) acc += *q;
          o[c] = pool_out(p, is_max, acc, count);
        }
      }
  return TOR_OK;
}

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Same-shape ADD with the compiler's tables (tables_off): t1[a] + t2[b] is twice TFLM's
 * raw_sum of scaled inputs, exactly (each input's scaled value depends only on its byte),
 * and |raw_sum| < 2^30 (the compiler checks every pair). Then only the output requant runs
 * per element. On Cortex-M4, for output multiplier >= 0 and output shift <= -1 (eo >= 1):
 * SRDHM(raw_sum, mo) = SMMULR(2 * raw_sum, mo) (no saturation case: |2 raw_sum| < 2^31, so
 * |v| < 2^30), and RoundingDivideByPOT(v, eo) + off = ((v + (v >> 31)) >> (eo - 1) + 2 off +
 * 1) >> 1 (the QADD of the general shortcut cannot saturate for |v| < 2^30); SSAT #8 of
 * that >> 1 is the int8 clamp, and the activation clamp is skipped for the full range. */
#if defined(__ARM_FEATURE_DSP)
/* Four elements a step: r0 = a, r1 = b, r2 = out, r3 = end of a; k = {t1, t2, mo, eo - 1,
 * 2 off + 1, act_min in each byte, act_max in each byte}. Results packed into one word,
 * clamped with SSUB8/SEL, one STR: 51 instructions per 4 elements. */
void tor_add_tables4(const uint8_t *a, const uint8_t *b, int8_t *out, const uint8_t *end, const int32_t *k);
#define TOR_ADD_ELEM(pack)                \
  "ldrb r11, [r0], #1\n\t"                \
  "ldrb r12, [r1], #1\n\t"                \
  "ldr r11, [r4, r11, lsl #2]\n\t"        \
  "ldr r12, [r5, r12, lsl #2]\n\t"        \
  "add r11, r11, r12\n\t"                 \
  "smmulr r11, r11, r6\n\t"               \
  "add r11, r11, r11, asr #31\n\t"        \
  "asr r11, r11, r7\n\t"                  \
  "add r11, r11, r8\n\t"                  \
  "ssat r11, #8, r11, asr #1\n\t" pack "\n\t"
__asm__(".section .text.tor_add_tables4,\"ax\",%progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".align 2\n\t"
        ".global tor_add_tables4\n\t"
        ".hidden tor_add_tables4\n\t"
        ".type tor_add_tables4, %function\n\t"
        ".thumb_func\n"
        "tor_add_tables4:\n\t"
        "push {r4-r11, lr}\n\t"
        "ldr r12, [sp, #36]\n\t"
        "ldm r12, {r4-r10}\n"
        "1:\n\t" TOR_ADD_ELEM("uxtb lr, r11") TOR_ADD_ELEM("bfi lr, r11, #8, #8")
        TOR_ADD_ELEM("bfi lr, r11, #16, #8") TOR_ADD_ELEM("bfi lr, r11, #24, #8")
        "ssub8 r11, lr, r9\n\t"
        "sel lr, lr, r9\n\t"
        "ssub8 r11, lr, r10\n\t"
        "sel lr, r10, lr\n\t"
        "str lr, [r2], #4\n\t"
        "cmp r0, r3\n\t"
        "bne 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size tor_add_tables4, .-tor_add_tables4\n\t"
        ".text");
#endif

/* Same-shape ADD with the compiler's tables (tables_off): t1[a] + t2[b] is twice TFLM's
 * raw_sum of scaled inputs, exactly (each input's scaled value depends only on its byte),
 * and |raw_sum| < 2^30 (the compiler checks every pair). Then only the output requant runs
 * per element. On Cortex-M4, for output multiplier >= 0 and output shift <= -1 (eo >= 1):
 * SRDHM(raw_sum, mo) = SMMULR(2 * raw_sum, mo) (no saturation case: |2 raw_sum| < 2^31, so
 * |v| < 2^30), and RoundingDivideByPOT(v, eo) + off = ((v + (v >> 31)) >> (eo - 1) + 2 off +
 * 1) >> 1 (the general shortcut's QADD cannot saturate for |v| < 2^30, so a plain ADD);
 * SSAT #8 of that >> 1 is the int8 clamp, SSUB8/SEL the activation clamp. */
static void add_tables(const uint8_t *a, const uint8_t *b, int8_t *out, int32_t n, const int32_t *t1,
                       const int32_t *t2, const tor_binary_params *p) {
  const int32_t lo = p->act_min, hi = p->act_max;
  int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
  if (p->output_multiplier >= 0 && p->output_shift <= -1 && n >= 4) {
    const int32_t k[7] = {(int32_t)(intptr_t)t1, (int32_t)(intptr_t)t2, p->output_multiplier, -p->output_shift - 1,
                          2 * p->output_offset + 1, (int32_t)((uint32_t)(uint8_t)lo * 0x01010101u),
                          (int32_t)((uint32_t)(uint8_t)hi * 0x01010101u)};
    i = n & ~3;
    tor_add_tables4(a, b, out, a + i, k);
  }
#endif
  for (; i < n; i++) {
    const int32_t r = tor_mbqm((t1[a[i]] + t2[b[i]]) >> 1, p->output_multiplier, p->output_shift);
    out[i] = (int8_t)tor_clamp(r + p->output_offset, lo, hi);
  }
}

tor_status tor_run_binary(const uint8_t *image, uint8_t *arena, const tor_binary_params *p, int is_mul) {
  if (!is_mul && p->tables_off) {
    const int32_t *t = (const int32_t *)(const void *)(image + p->tables_off);
    add_tables(tor_data(image, arena, p->input1), tor_data(image, arena, p->input2),
               (int8_t *)tor_data(image, arena, p->output), tor_elems(&tor_tensors(image)[p->output]), t, t + 256, p);
    return TOR_OK;
  }
  /* broadcasting, or MUL: the generic loop of tor_kernels_elementwise.c */
  return tor_run_binary2(image, arena, p, is_mul ? TOR_OP_MUL : TOR_OP_ADD);
}

void tor_add_same(const uint8_t *image, const tor_binary_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                  int32_t n) {
  if (p->tables_off) {
    const int32_t *t = (const int32_t *)(const void *)(image + p->tables_off);
    add_tables((const uint8_t *)a, (const uint8_t *)b, out, n, t, t + 256, p);
    return;
  }
  tor_binary_same(p, TOR_OP_ADD, a, b, out, n);
}

tor_status tor_run_softmax(const uint8_t *image, uint8_t *arena, const tor_softmax_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t depth = ti->dims[3], outer = tor_elems(ti) / depth;
  for (int32_t i = 0; i < outer; i++) {
    const int8_t *x = in + (int64_t)i * depth;
    int8_t *y = out + (int64_t)i * depth;
    int32_t max = -128;
    for (int32_t c = 0; c < depth; c++) max = x[c] > max ? x[c] : max;
    int32_t sum = 0; /* 12 integer bits */
    for (int32_t c = 0; c < depth; c++) {
      const int32_t diff = x[c] - max;
      if (diff >= p->diff_min) {
        const int32_t scaled = tor_srdhm(diff * (1 << p->input_left_shift), p->input_multiplier);
        sum += tor_rdbypot(tor_exp_on_negative_values(scaled, 5), 12);
      }
    }
    const int headroom = tor_clz32((uint32_t)sum);
    const int bits_over_unit = 12 - headroom;
    const int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
    const int32_t scale = tor_one_over_one_plus_x(shifted);
    for (int32_t c = 0; c < depth; c++) {
      const int32_t diff = x[c] - max;
      if (diff >= p->diff_min) {
        const int32_t scaled = tor_srdhm(diff * (1 << p->input_left_shift), p->input_multiplier);
        const int32_t e = tor_exp_on_negative_values(scaled, 5);
        const int32_t v = tor_rdbypot(tor_srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
        y[c] = (int8_t)tor_clamp(v, -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
  return TOR_OK;
}

tor_status tor_run_sigmoid(const uint8_t *image, uint8_t *arena, const tor_sigmoid_params *p, int is_tanh) {
  const int32_t n = tor_elems(&tor_tensors(image)[p->input]);
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  for (int32_t i = 0; i < n; i++) {
    const int32_t x = in[i] - p->input_zp;
    int32_t v;
    if (x <= -p->input_range_radius) {
      v = -128;
    } else if (x >= p->input_range_radius) {
      v = 127;
    } else {
      const int32_t q4 = tor_mbqm(x, p->input_multiplier, p->input_left_shift);
      if (is_tanh) {
        v = tor_clamp(tor_rdbypot(tor_tanh_q4(q4), 24), -128, 127);
      } else {
        v = tor_clamp(tor_rdbypot(tor_logistic_q4(q4), 23) - 128, -128, 127);
      }
    }
    out[i] = (int8_t)v;
  }
  return TOR_OK;
}

tor_status tor_run_quantize(const uint8_t *image, uint8_t *arena, const tor_quantize_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input], *to = &tor_tensors(image)[p->output];
  const int32_t n = tor_elems(ti);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  if (ti->dtype == TOR_DT_FLOAT32) {
    const float *in = (const float *)(const void *)tor_data(image, arena, p->input);
    for (int32_t i = 0; i < n; i++) {
      float q = roundf(in[i] / to->scale);
      q = q != q ? 0.0f : q; /* NaN */
      q = q < -1e9f ? -1e9f : (q > 1e9f ? 1e9f : q);
      out[i] = (int8_t)tor_clamp((int32_t)q + to->zero_point, -128, 127);
    }
  } else {
    const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
    for (int32_t i = 0; i < n; i++) {
      const int32_t v = tor_mbqm(in[i] - p->input_zp, p->multiplier, p->shift) + p->output_zp;
      out[i] = (int8_t)tor_clamp(v, -128, 127);
    }
  }
  return TOR_OK;
}

tor_status tor_run_dequantize(const uint8_t *image, uint8_t *arena, const tor_dequantize_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  float *out = (float *)(void *)tor_data(image, arena, p->output);
  const double scale = ti->scale;
  for (int32_t i = 0; i < tor_elems(ti); i++) out[i] = (float)(scale * (double)(in[i] - ti->zero_point));
  return TOR_OK;
}

tor_status tor_run_pad(const uint8_t *image, uint8_t *arena, const tor_pad_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input], *to = &tor_tensors(image)[p->output];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  memset(out, p->pad_value, to->bytes);
  const int32_t *d = ti->dims, *od = to->dims;
  for (int32_t i = 0; i < d[0]; i++)
    for (int32_t j = 0; j < d[1]; j++)
      for (int32_t k = 0; k < d[2]; k++) {
        const int8_t *src = in + (((int64_t)i * d[1] + j) * d[2] + k) * d[3];
        int8_t *dst = out + ((((int64_t)i + p->before[0]) * od[1] + j + p->before[1]) * od[2] + k + p->before[2]) * od[3] +
                      p->before[3];
        memcpy(dst, src, (size_t)d[3]);
      }
  return TOR_OK;
}

tor_status tor_run_concat(const uint8_t *image, uint8_t *arena, const tor_concat_params *p) {
  const tor_tensor *to = &tor_tensors(image)[p->output];
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  int64_t outer = 1, out_inner = 1;
  for (int d = 0; d < p->axis; d++) outer *= to->dims[d];
  for (int d = p->axis; d < 4; d++) out_inner *= to->dims[d];
  int64_t base = 0;
  for (int32_t k = 0; k < p->n_inputs; k++) {
    const tor_tensor *ti = &tor_tensors(image)[p->inputs[k]];
    const int8_t *in = (const int8_t *)tor_data(image, arena, p->inputs[k]);
    int64_t inner = 1;
    for (int d = p->axis; d < 4; d++) inner *= ti->dims[d];
    for (int64_t o = 0; o < outer; o++) memmove(out + o * out_inner + base, in + o * inner, (size_t)inner);
    base += inner;
  }
  return TOR_OK;
}

tor_status tor_run_reshape(const uint8_t *image, uint8_t *arena, const tor_reshape_params *p) {
  uint8_t *src = tor_data(image, arena, p->input), *dst = tor_data(image, arena, p->output);
  if (src != dst) memmove(dst, src, tor_tensors(image)[p->output].bytes); /* planner usually aliases */
  return TOR_OK;
}
