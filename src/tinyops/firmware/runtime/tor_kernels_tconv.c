/* TRANSPOSE_CONV for int8 with per-channel requantization, equal to TFLM's reference
 * kernel. TFLM scatters every input pixel into an int32 buffer the size of the output;
 * here each output gathers the taps that reach it (the same int32 sum, no buffer):
 * output (oy, ox) takes filter tap (ky, kx) from input ((oy + pad_h - ky) / stride_h, ...)
 * when that division is exact and inside the input. sum((x + input_offset) * w) is the
 * int8 dot product plus input_offset times the tap's weight sum (precomputed). */
#include "tor_conv_common.h"

tor_status tor_run_tconv(const uint8_t *image, uint8_t *arena, const tor_tconv_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input], *tf = &tor_tensors(image)[p->filter];
  const tor_tensor *to = &tor_tensors(image)[p->output];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *w = (const int8_t *)tor_data(image, arena, p->filter);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  const int32_t *shift = (const int32_t *)(const void *)(image + p->shifts_off);
  const int32_t *bias = (const int32_t *)(const void *)(image + p->bias_off);
  const int32_t *tap_sum = (const int32_t *)(const void *)(image + p->tap_sums_off);
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2], OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++)
        for (int32_t oc = 0; oc < OC; oc++) {
          int32_t acc = bias[oc];
          for (int32_t ky = 0; ky < KH; ky++) {
            const int32_t ny = oy + p->pad_h - ky;
            if (ny < 0 || ny % p->stride_h) continue;
            const int32_t iy = ny / p->stride_h;
            if (iy >= H) continue;
            for (int32_t kx = 0; kx < KW; kx++) {
              const int32_t nx = ox + p->pad_w - kx;
              if (nx < 0 || nx % p->stride_w) continue;
              const int32_t ix = nx / p->stride_w;
              if (ix >= W) continue;
              const int32_t tapi = (oc * KH + ky) * KW + kx;
              acc += dot1(in + (((int64_t)b * H + iy) * W + ix) * C, w + (int64_t)tapi * C, C) +
                     p->input_offset * tap_sum[tapi];
            }
          }
          acc = tor_mbqm(acc, mult[oc], shift[oc]) + p->output_offset;
          *out++ = (int8_t)tor_clamp(acc, p->act_min, p->act_max);
        }
  return TOR_OK;
}
