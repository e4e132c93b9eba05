/* Pooling, ADD/MUL, SOFTMAX, LOGISTIC/TANH, (DE)QUANTIZE, PAD, CONCATENATION and
 * RESHAPE, matching TFLM's int8 reference kernels bit for bit. */
#include <math.h>
#include <string.h>

#include "tor_internal.h"
#include "tor_fixedpoint.h"

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
        for (int32_t c = 0; c < C; c++) {
          int32_t acc = is_max ? -128 : 0;
          const int8_t *q = pix + c;
          if (is_max)
            for (int32_t fy = 0; fy < ny; fy++, q += rskip)
              for (int32_t fx = 0; fx < nx; fx++, q += C) acc = *q > acc ? *q : acc;
          else
            for (int32_t fy = 0; fy < ny; fy++, q += rskip)
              for (int32_t fx = 0; fx < nx; fx++, q += C) acc += *q;
          if (!is_max) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          o[c] = (int8_t)tor_clamp(acc, p->act_min, p->act_max);
        }
      }
  return TOR_OK;
}

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* SRDHM(v, m) for m >= 0 and |v| < 2^30: SMMULR of 2v (no saturation case, no 64-bit add). */
static inline __attribute__((always_inline)) int32_t add_srdhm(int32_t v, int32_t m) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"((int32_t)((uint32_t)v << 1)), "r"(m));
  return r;
}
/* RoundingDivideByPOT(v, e) for e >= 1: floor((sat(v - (v < 0)) / 2^(e-1) + 1) / 2). */
static inline __attribute__((always_inline)) int32_t add_rdbypot(int32_t v, int32_t e) {
  return ((__qadd(v, v >> 31) >> (e - 1)) + 1) >> 1;
}

/* ADD of two same-shape tensors on Cortex-M4, equal to the generic loop below when both
 * input shifts are <= 0 and the output shift <= -1, all multipliers >= 0 (checked by the
 * caller): the scaled inputs stay below 2^29 and their sum below 2^30, so every
 * SaturatingRoundingDoublingHighMul is one SMMULR and no saturation can happen. */
static void add_same_shape(const int8_t *a, const int8_t *b, int8_t *out, int32_t n, const tor_binary_params *p) {
  const int32_t o1 = p->input1_offset, o2 = p->input2_offset, ls = p->left_shift;
  const int32_t m1 = p->input1_multiplier, m2 = p->input2_multiplier, mo = p->output_multiplier;
  const int32_t e1 = -p->input1_shift, e2 = -p->input2_shift, eo = -p->output_shift;
  const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
  for (int32_t i = 0; i < n; i++) {
    int32_t sx = add_srdhm((a[i] + o1) << ls, m1), sy = add_srdhm((b[i] + o2) << ls, m2);
    if (e1) sx = add_rdbypot(sx, e1);
    if (e2) sy = add_rdbypot(sy, e2);
    const int32_t r = add_rdbypot(add_srdhm(sx + sy, mo), eo) + off;
    out[i] = (int8_t)tor_clamp(r, lo, hi);
  }
}
#endif

tor_status tor_run_binary(const uint8_t *image, uint8_t *arena, const tor_binary_params *p, int is_mul) {
#if defined(__ARM_FEATURE_DSP)
  const int32_t n = tor_elems(&tor_tensors(image)[p->output]);
  if (!is_mul && p->left_shift >= 0 && p->left_shift <= 20 && p->input1_shift <= 0 && p->input2_shift <= 0 &&
      p->output_shift <= -1 && p->input1_multiplier >= 0 && p->input2_multiplier >= 0 &&
      p->output_multiplier >= 0 && tor_elems(&tor_tensors(image)[p->input1]) == n &&
      tor_elems(&tor_tensors(image)[p->input2]) == n) {
    add_same_shape((const int8_t *)tor_data(image, arena, p->input1), (const int8_t *)tor_data(image, arena, p->input2),
                   (int8_t *)tor_data(image, arena, p->output), n, p);
    return TOR_OK;
  }
#endif
  /* broadcasting, or MUL: the generic loop of tor_kernels_elementwise.c */
  return tor_run_binary2(image, arena, p, is_mul ? TOR_OP_MUL : TOR_OP_ADD);
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
