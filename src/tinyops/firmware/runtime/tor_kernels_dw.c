/* DEPTHWISE_CONV_2D, int8 with per-channel requantization, bit-exact with TFLM's
 * reference_integer_ops kernel (see tor_conv_common.h for the shared pieces). On DSP cores
 * 3x3 and 5x5 kernels with depth multiplier 1 take tor_dw_pairs (tor_kernels_dw_m4.c, two
 * taps per SMLAD); other shapes take dw_taps / dw_pixel; cores without DSP run plain C loops. */
#if !defined(__ARM_FEATURE_DSP) || defined(__ARM_FEATURE_MVE)
#define TOR_HOT_FILE 1 /* without the M4 kernels (tor_kernels_dw_m4.c) this file is the hot path */
#endif
#include "tor_conv_common.h"

#if defined(__ARM_FEATURE_DSP)
/* One tap, four channels: a0..a3 += xv[k] * wv[k] (xv/wv overwritten, temporaries t/u). */
#define TOR_DW_TAP_ASM                            \
  "sxtb16 %[t], %[xv]\n\t"                        \
  "sxtb16 %[u], %[wv]\n\t"                        \
  "smlabb %[a0], %[t], %[u], %[a0]\n\t"           \
  "smlatt %[a2], %[t], %[u], %[a2]\n\t"           \
  "sxtb16 %[xv], %[xv], ror #8\n\t"               \
  "sxtb16 %[wv], %[wv], ror #8\n\t"               \
  "smlabb %[a1], %[xv], %[wv], %[a1]\n\t"         \
  "smlatt %[a3], %[xv], %[wv], %[a3]\n\t"
#endif

/* One output pixel of a depthwise convolution with depth multiplier 1, all channels,
 * over the valid taps [fy0, fy1) x [fx0, fx1). Four channels per step: one word of
 * input and one of weights feed four per-lane MACs (SXTB16 + SMLABB/SMLATT). A window
 * fully inside the input needs no weight sums (the compiler folded input_offset * sum(w)
 * into bias_eff); a clipped one sums the weights it uses in packed 16-bit lanes, which
 * cannot overflow for <= 256 taps (the caller checks). */
static __attribute__((noinline)) void dw_pixel(const int8_t *in, int32_t origin, const int8_t *filt, int32_t C,
                                               int32_t KW, int32_t fy0, int32_t fy1, int32_t fx0, int32_t fx1,
                                               int32_t dstep, int32_t rstep, int8_t *o, const requant_t *r, int full) {
  const int32_t ioff = r->p->input_offset;
  const int8_t *ip = in + (origin + fy0 * rstep + fx0 * dstep);
  const int8_t *fb = filt + (fy0 * KW + fx0) * C;
  const int32_t nx = fx1 - fx0, ny = fy1 - fy0;
  const int32_t rskip = rstep - nx * dstep, wskip = (KW - nx) * C;
  (void)rskip, (void)wskip; /* only the C paths use them */
  int32_t c = 0;
#if defined(__ARM_FEATURE_DSP)
  for (; c + 4 <= C; c += 4) {
    int32_t a0, a1, a2, a3;
    const int8_t *x = ip + c, *w = fb + c;
    if (full) {
      a0 = r->bias_eff[c], a1 = r->bias_eff[c + 1], a2 = r->bias_eff[c + 2], a3 = r->bias_eff[c + 3];
      for (int32_t fy = 0; fy < ny; fy++, x += rskip, w += wskip)
        for (int32_t fx = 0; fx < nx; fx++, x += dstep, w += C) {
          const uint32_t xv = rd32(x), wv = rd32(w);
          const int32_t xe = EVEN(xv), xo = ODD(xv), we = EVEN(wv), wo = ODD(wv);
          a0 = __smlabb(xe, we, a0);
          a2 = __smlatt(xe, we, a2);
          a1 = __smlabb(xo, wo, a1);
          a3 = __smlatt(xo, wo, a3);
        }
    } else {
      uint32_t se = 0, so = 0;
      a0 = a1 = a2 = a3 = 0;
      for (int32_t fy = 0; fy < ny; fy++, x += rskip, w += wskip)
        for (int32_t fx = 0; fx < nx; fx++, x += dstep, w += C) {
          const uint32_t xv = rd32(x), wv = rd32(w);
          const int32_t xe = EVEN(xv), xo = ODD(xv), we = EVEN(wv), wo = ODD(wv);
          a0 = __smlabb(xe, we, a0);
          a2 = __smlatt(xe, we, a2);
          a1 = __smlabb(xo, wo, a1);
          a3 = __smlatt(xo, wo, a3);
          se = __sadd16(se, (uint32_t)we);
          so = __sadd16(so, (uint32_t)wo);
        }
      a0 += ioff * (int16_t)(se & 0xffffu), a2 += ioff * (int16_t)(se >> 16);
      a1 += ioff * (int16_t)(so & 0xffffu), a3 += ioff * (int16_t)(so >> 16);
      if (r->bias) a0 += r->bias[c], a1 += r->bias[c + 1], a2 += r->bias[c + 2], a3 += r->bias[c + 3];
    }
    const int32_t acc[4] = {a0, a1, a2, a3};
    for (int k = 0; k < 4; k++) o[c + k] = requant(r, c + k, acc[k]); /* (at -Os rq4 leaves the asm no 13 registers) */
  }
#endif
  const int32_t *mult = r->mult, *shift = r->shift;
  const int32_t off = r->p->output_offset, lo = r->p->act_min, hi = r->p->act_max;
  for (; c < C; c++) {
    int32_t a = 0, ws = 0;
    for (int32_t fy = 0; fy < ny; fy++)
      for (int32_t fx = 0; fx < nx; fx++) {
        const int32_t w = fb[(fy * KW + fx) * C + c];
        a += ip[fy * rstep + fx * dstep + c] * w;
        ws += w;
      }
    if (full) {
      a += r->bias_eff[c];
    } else {
      a += ioff * ws;
      if (r->bias) a += r->bias[c];
    }
    o[c] = (int8_t)tor_clamp(tor_mbqm(a, mult[c], shift[c]) + off, lo, hi);
  }
}

#if defined(__ARM_FEATURE_DSP)
#define TOR_DW_MAX_TAPS 25
#define TOR_DW_PTAP_ASM                \
  "ldr %[d], [%[tp]], #4\n\t"         \
  "ldr %[wv], [%[w]]\n\t"             \
  "ldr %[xv], [%[w], %[d]]\n\t"       \
  "add %[w], %[w], %[C]\n\t" TOR_DW_TAP_ASM

/* One output pixel from K tap pointers: tap k reads input channel c at w + d[k], where w is
 * the filter's tap-k channel-c address (d[k] = tap row - filter row k). Padded taps point at
 * the zero-point row, so every window is a full one: bias_eff plus a plain dot product. */
static __attribute__((noinline)) void dw_taps(const int32_t *d, int32_t K, const int8_t *filt, int32_t C,
                                              int8_t *o, const requant_t *r) {
  int32_t c = 0;
  for (; c + 4 <= C; c += 4) {
    int32_t a0 = r->bias_eff[c], a1 = r->bias_eff[c + 1], a2 = r->bias_eff[c + 2], a3 = r->bias_eff[c + 3];
    const int32_t *t = d;
    const int8_t *w = filt + c;
    int32_t n = K, dd;
    uint32_t xv, wv, tt, u;
    if (K % 3 == 0) {
      n = K / 3;
      __asm__("1:\n\t" TOR_DW_PTAP_ASM TOR_DW_PTAP_ASM TOR_DW_PTAP_ASM
              "subs %[n], %[n], #1\n\t"
              "bne 1b\n\t"
              : [tp] "+r"(t), [w] "+r"(w), [n] "+r"(n), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                [d] "=&r"(dd), [xv] "=&r"(xv), [wv] "=&r"(wv), [t] "=&r"(tt), [u] "=&r"(u)
              : [C] "r"(C)
              : "cc", "memory");
    } else {
      __asm__("1:\n\t" TOR_DW_PTAP_ASM
              "subs %[n], %[n], #1\n\t"
              "bne 1b\n\t"
              : [tp] "+r"(t), [w] "+r"(w), [n] "+r"(n), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                [d] "=&r"(dd), [xv] "=&r"(xv), [wv] "=&r"(wv), [t] "=&r"(tt), [u] "=&r"(u)
              : [C] "r"(C)
              : "cc", "memory");
    }
    const int32_t acc[4] = {a0, a1, a2, a3};
    rq4(r, acc, c, o + c);
  }
  for (; c < C; c++) {
    int32_t a = r->bias_eff[c];
    for (int32_t k = 0; k < K; k++) {
      const int8_t *w = filt + k * C + c;
      a += w[d[k]] * w[0];
    }
    o[c] = requant(r, c, a);
  }
}
#endif

void tor_depthwise(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                   const int8_t *filt, int8_t *out, const requant_t *r, const int8_t *zrow) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2], M = p->depth_multiplier;
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  const int small = KH * KW <= 256; /* packed 16-bit weight sums cannot overflow */
  (void)zrow; /* only the Cortex-M4 path points padded taps at it */
#if defined(__ARM_FEATURE_DSP)
  if (tor_dw_pairs(ti, tf, to, in, filt, out, r, zrow)) return;
#endif
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + ((b * OH + oy) * OW + ox) * OC;
        int32_t fy0, fy1, fx0, fx1;
        tap_range(y0, KH, p->dilation_h, H, &fy0, &fy1);
        tap_range(x0, KW, p->dilation_w, W, &fx0, &fx1);
        const int full = fy0 == 0 && fy1 == KH && fx0 == 0 && fx1 == KW;
        const int32_t origin = ((b * H + y0) * W + x0) * C; /* may be negative: only valid taps */
#if defined(__ARM_FEATURE_DSP)
        if (!full && zrow && KH * KW <= TOR_DW_MAX_TAPS) { /* M == 1: the loader checked */
          int32_t d[TOR_DW_MAX_TAPS];
          for (int32_t fy = 0, k = 0; fy < KH; fy++)
            for (int32_t fx = 0; fx < KW; fx++, k++) {
              const int32_t iy = y0 + fy * p->dilation_h, ix = x0 + fx * p->dilation_w;
              const int8_t *src = iy >= 0 && iy < H && ix >= 0 && ix < W ? in + ((b * H + iy) * W + ix) * C : zrow;
              d[k] = (int32_t)(src - (filt + k * C));
            }
          dw_taps(d, KH * KW, filt, C, o, r);
          continue;
        }
#endif
        if (M == 1 && (full || small)) {
          dw_pixel(in, origin, filt, C, KW, fy0, fy1, fx0, fx1, p->dilation_w * C, p->dilation_h * W * C, o, r, full);
          continue;
        }
        for (int32_t ic = 0; ic < C; ic++)
          for (int32_t m = 0; m < M; m++) {
            const int32_t oc = ic * M + m;
            int32_t acc = 0, ws = 0;
            for (int32_t fy = fy0; fy < fy1; fy++)
              for (int32_t fx = fx0; fx < fx1; fx++) {
                const int32_t w = filt[(fy * KW + fx) * OC + oc];
                acc += in[((b * H + y0 + fy * p->dilation_h) * W + x0 + fx * p->dilation_w) * C + ic] * w;
                ws += w;
              }
            if (full) {
              acc += r->bias_eff[oc];
            } else {
              acc += p->input_offset * ws;
              if (r->bias) acc += r->bias[oc];
            }
            o[oc] = requant(r, oc, acc);
          }
      }
}
