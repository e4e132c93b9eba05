/* RESIZE_BILINEAR for int8, TFLM's ResizeBilinearInteger bit for bit: 10-bit fixed-point
 * source coordinates, four-tap weights, round half away from zero on the 20-bit sum. */
#include "tor_internal.h"

typedef struct {
  int32_t lo, hi, frac; /* frac = scaled - 1024 * lo, may be negative at the border */
} tap_t;

static tap_t tap(int32_t v, int32_t scale_10, int half_pixel, int32_t in_size) {
  const int32_t scaled = half_pixel ? v * scale_10 + scale_10 / 2 - (1 << 9) : v * scale_10;
  tap_t t;
  t.lo = scaled / (1 << 10) > 0 ? scaled / (1 << 10) : 0;
  t.hi = (scaled + (1 << 10) - 1) / (1 << 10);
  t.hi = t.hi < in_size - 1 ? t.hi : in_size - 1;
  t.frac = scaled - (1 << 10) * t.lo;
  return t;
}

static int32_t scale_10(int32_t in, int32_t out, int align) {
  if (align && out > 1) return ((1 << 10) * (in - 1) + (out - 1) / 2) / (out - 1);
  return ((1 << 10) * in + out / 2) / out;
}

tor_status tor_run_resize_bilinear(const uint8_t *image, uint8_t *arena, const tor_resize_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input], *to = &tor_tensors(image)[p->output];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t OH = to->dims[1], OW = to->dims[2];
  const int32_t sh = scale_10(H, OH, p->align_corners), sw = scale_10(W, OW, p->align_corners);
  for (int32_t b = 0; b < N; b++)
    for (int32_t y = 0; y < OH; y++) {
      const tap_t ty = tap(y, sh, p->half_pixel_centers, H);
      const int8_t *r0 = in + ((int64_t)b * H + ty.lo) * W * C, *r1 = in + ((int64_t)b * H + ty.hi) * W * C;
      for (int32_t x = 0; x < OW; x++) {
        const tap_t tx = tap(x, sw, p->half_pixel_centers, W);
        const int32_t w00 = ((1 << 10) - ty.frac) * ((1 << 10) - tx.frac), w10 = ty.frac * ((1 << 10) - tx.frac);
        const int32_t w01 = ((1 << 10) - ty.frac) * tx.frac, w11 = ty.frac * tx.frac;
        for (int32_t c = 0; c < C; c++) {
          /* the y and x weights each sum to at most 2048 in magnitude: |v| <= 128 * 2048^2 = 2^29 */
          const int32_t v = r0[tx.lo * C + c] * w00 + r1[tx.lo * C + c] * w10 + r0[tx.hi * C + c] * w01 +
                            r1[tx.hi * C + c] * w11;
          const int32_t round = v > 0 ? (1 << 19) : -(1 << 19);
          *out++ = (int8_t)((v + round) / (1 << 20));
        }
      }
    }
  return TOR_OK;
}
