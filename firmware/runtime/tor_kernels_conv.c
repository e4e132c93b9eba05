/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, int8 with per-channel requantization,
 * bit-exact with TFLM's reference_integer_ops kernels. The input offset is folded out of
 * the inner loop (sum((x+o)*w) == sum(x*w) + o*sum(w), exact in int32), so the hot loop
 * is a plain int8 dot product; on Cortex-M4 it runs two MACs per SMLAD. */
#include "tor_internal.h"
#include "tor_fixedpoint.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#include <string.h>

/* Sign-extend bytes 0,2 and 1,3 of a word to two int16 pairs (SXTB16). */
static inline int32_t dot_int8(const int8_t *a, const int8_t *b, int32_t n, int32_t *wsum) {
  int32_t acc = 0, ws = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t wa, wb;
    memcpy(&wa, a + i, 4);
    memcpy(&wb, b + i, 4);
    int32_t a_even = (int32_t)__sxtb16(wa), a_odd = (int32_t)__sxtb16((wa >> 8) | (wa << 24));
    int32_t b_even = (int32_t)__sxtb16(wb), b_odd = (int32_t)__sxtb16((wb >> 8) | (wb << 24));
    acc = __smlad(a_even, b_even, acc);
    acc = __smlad(a_odd, b_odd, acc);
    ws = __smlad(b_even, 0x00010001, ws);
    ws = __smlad(b_odd, 0x00010001, ws);
  }
  for (; i < n; i++) {
    acc += a[i] * b[i];
    ws += b[i];
  }
  *wsum += ws;
  return acc;
}
#else
static inline int32_t dot_int8(const int8_t *a, const int8_t *b, int32_t n, int32_t *wsum) {
  int32_t acc = 0, ws = 0;
  for (int32_t i = 0; i < n; i++) {
    acc += a[i] * b[i];
    ws += b[i];
  }
  *wsum += ws;
  return acc;
}
#endif

static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift, const tor_conv_params *p) {
  acc = tor_mbqm(acc, mult, shift) + p->output_offset;
  return (int8_t)tor_clamp(acc, p->act_min, p->act_max);
}

static void conv2d(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                   const int8_t *filt, const int32_t *bias, int8_t *out, const int32_t *mult,
                   const int32_t *shift, const tor_conv_params *p) {
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2];
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + (((int64_t)b * OH + oy) * OW + ox) * OC;
        for (int32_t oc = 0; oc < OC; oc++) {
          int32_t acc = 0, wsum = 0;
          for (int32_t fy = 0; fy < KH; fy++) {
            const int32_t iy = y0 + fy * p->dilation_h;
            if (iy < 0 || iy >= H) continue;
            /* contiguous run of valid fx when dilation is 1: one dot product over KW*C */
            for (int32_t fx = 0; fx < KW; fx++) {
              const int32_t ix = x0 + fx * p->dilation_w;
              if (ix < 0 || ix >= W) continue;
              const int8_t *ip = in + (((int64_t)b * H + iy) * W + ix) * C;
              const int8_t *fp = filt + (((int64_t)oc * KH + fy) * KW + fx) * C;
              if (p->dilation_w == 1) {
                int32_t run = KW - fx;
                if (run > W - ix) run = W - ix;
                acc += dot_int8(ip, fp, run * C, &wsum);
                break;
              }
              acc += dot_int8(ip, fp, C, &wsum);
            }
          }
          acc += p->input_offset * wsum;
          if (bias) acc += bias[oc];
          o[oc] = requant(acc, mult[oc], shift[oc], p);
        }
      }
}

static void depthwise(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                      const int8_t *filt, const int32_t *bias, int8_t *out, const int32_t *mult,
                      const int32_t *shift, const tor_conv_params *p) {
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2], M = p->depth_multiplier;
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + (((int64_t)b * OH + oy) * OW + ox) * OC;
        for (int32_t ic = 0; ic < C; ic++)
          for (int32_t m = 0; m < M; m++) {
            const int32_t oc = ic * M + m;
            int32_t acc = 0, wsum = 0;
            for (int32_t fy = 0; fy < KH; fy++) {
              const int32_t iy = y0 + fy * p->dilation_h;
              if (iy < 0 || iy >= H) continue;
              const int8_t *row = in + (((int64_t)b * H + iy) * W) * C + ic;
              const int8_t *frow = filt + ((int64_t)fy * KW) * OC + oc;
              for (int32_t fx = 0; fx < KW; fx++) {
                const int32_t ix = x0 + fx * p->dilation_w;
                if (ix < 0 || ix >= W) continue;
                const int32_t w = frow[(int64_t)fx * OC];
                acc += row[(int64_t)ix * C] * w;
                wsum += w;
              }
            }
            acc += p->input_offset * wsum;
            if (bias) acc += bias[oc];
            o[oc] = requant(acc, mult[oc], shift[oc], p);
          }
      }
}

tor_status tor_run_conv(const uint8_t *image, uint8_t *arena, const tor_conv_params *p, int dw) {
  const tor_tensor *t = tor_tensors(image);
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *filt = (const int8_t *)tor_data(image, arena, p->filter);
  const int32_t *bias = p->bias >= 0 ? (const int32_t *)(const void *)tor_data(image, arena, p->bias) : 0;
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  const int32_t *shift = (const int32_t *)(const void *)(image + p->shifts_off);
  if (dw)
    depthwise(&t[p->input], &t[p->filter], &t[p->output], in, filt, bias, out, mult, shift, p);
  else
    conv2d(&t[p->input], &t[p->filter], &t[p->output], in, filt, bias, out, mult, shift, p);
  return TOR_OK;
}

tor_status tor_run_fc(const uint8_t *image, uint8_t *arena, const tor_fc_params *p) {
  const tor_tensor *t = tor_tensors(image);
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *filt = (const int8_t *)tor_data(image, arena, p->filter);
  const int32_t *bias = p->bias >= 0 ? (const int32_t *)(const void *)tor_data(image, arena, p->bias) : 0;
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  const int32_t *shift = (const int32_t *)(const void *)(image + p->shifts_off);
  const int32_t units = t[p->filter].dims[2], depth = t[p->filter].dims[3];
  const int32_t batches = tor_elems(&t[p->input]) / depth;
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + (int64_t)b * depth;
    int32_t xsum = 0;
    if (p->filter_offset)
      for (int32_t d = 0; d < depth; d++) xsum += x[d];
    for (int32_t u = 0; u < units; u++) {
      int32_t wsum = 0;
      /* sum((x+io)*(w+fo)) = sum(x*w) + io*sum(w) + fo*sum(x) + io*fo*depth */
      int32_t acc = dot_int8(x, filt + (int64_t)u * depth, depth, &wsum);
      acc += p->input_offset * wsum + p->filter_offset * xsum + p->input_offset * p->filter_offset * depth;
      if (bias) acc += bias[u];
      const int32_t k = p->n_multipliers > 1 ? u : 0;
      acc = tor_mbqm(acc, mult[k], shift[k]) + p->output_offset;
      out[(int64_t)b * units + u] = (int8_t)tor_clamp(acc, p->act_min, p->act_max);
    }
  }
  return TOR_OK;
}
