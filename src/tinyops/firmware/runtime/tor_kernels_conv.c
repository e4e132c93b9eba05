/* CONV_2D (FULLY_CONNECTED: tor_kernels_fc.c, DEPTHWISE_CONV_2D: tor_kernels_dw.c), int8 with per-channel requantization,
 * bit-exact with TFLM's reference_integer_ops kernels.
 *
 * sum((x + o) * w) + bias == sum(x * w) + (bias + o * sum(w)), exactly, in int32. The
 * compiler stores the bracket per channel (bias_eff), so windows that lie fully inside
 * the input run a plain int8 dot product, four output channels at a time so each input
 * word is loaded and widened once. On Cortex-M4 (__ARM_FEATURE_DSP) the dot products use
 * SXTB16 + SMLAD: two multiply-accumulates per instruction; CONV_2D there widens each
 * output pixel's inputs once into a scratch column (tor_conv_cols.h) and runs pixel pairs
 * against pairs of filter rows. Windows that touch padding either get the input zero point
 * (im2col) or sum the weights they actually use (the reference skips padded taps). */
#if !defined(__ARM_FEATURE_DSP) || defined(__ARM_FEATURE_MVE)
#define TOR_HOT_FILE 1 /* the plain C and Helium paths have no TOR_HOT drivers: the whole file is hot there */
#endif
#include "tor_conv_common.h"

/* Gather the window at (y0, x0) into col[KH*KW*C]; taps in the padding get the input
 * zero point, whose (x + input_offset) is 0 — exactly the reference's skipped tap.
 * (Cortex-M4 builds use gather_bytes, tor_conv_cols.h.) */
static __attribute__((unused)) void im2col(const int8_t *in, int32_t H, int32_t W, int32_t C, int32_t KH,
                                           int32_t KW, int32_t y0, int32_t x0, const tor_conv_params *p,
                                           int8_t *col) {
  const int8_t zp = (int8_t)(-p->input_offset);
  for (int32_t fy = 0; fy < KH; fy++) {
    const int32_t iy = y0 + fy * p->dilation_h;
    int8_t *dst = col + fy * KW * C;
    if (iy < 0 || iy >= H) {
      memset(dst, zp, (size_t)(KW * C));
      continue;
    }
    if (p->dilation_w == 1 && x0 >= 0 && x0 + KW <= W) {
      memcpy(dst, in + (iy * W + x0) * C, (size_t)(KW * C));
      continue;
    }
    for (int32_t fx = 0; fx < KW; fx++) {
      const int32_t ix = x0 + fx * p->dilation_w;
      if (ix < 0 || ix >= W) memset(dst + fx * C, zp, (size_t)C);
      else memcpy(dst + fx * C, in + (iy * W + ix) * C, (size_t)C);
    }
  }
}

/* One output pixel: the dot products of the K bytes at ip with each K-byte filter row. */
static inline __attribute__((always_inline)) void pixel_rows(const int8_t *ip, const int8_t *filt, int32_t C, int32_t OC, int8_t *o, const requant_t *r) {
  const int32_t *be = r->bias_eff;
  int32_t oc = 0;
  for (; oc + 4 <= OC; oc += 4) {
    int32_t acc[4] = {be[oc], be[oc + 1], be[oc + 2], be[oc + 3]};
    tor_dot4(ip, filt + oc * C, C, C, acc);
    rq4(r, acc, oc, o + oc);
  }
  for (; oc < OC; oc++) o[oc] = requant(r, oc, dot1(ip, filt + oc * C, C) + be[oc]);
}

#if defined(__ARM_FEATURE_MVE)
/* tor_dot2x2 (below) with Helium: per 16 bytes, four loads and four VMLADAVA.S8 (64 MACs);
 * any K, the tail predicated as in dot4. */
#define TOR_MVE_2X2(ld, p)                                             \
  do {                                                                 \
    const int8x16_t x0 = ld(x + i, p), x1 = ld(x + K + i, p);          \
    const int8x16_t w0 = ld(w + i, p), w1 = ld(w + K + i, p);          \
    a0 = vmladavaq_s8(a0, x0, w0);                                     \
    a1 = vmladavaq_s8(a1, x0, w1);                                     \
    c0 = vmladavaq_s8(c0, x1, w0);                                     \
    c1 = vmladavaq_s8(c1, x1, w1);                                     \
  } while (0)
static void tor_dot2x2(const int8_t *x, const int8_t *w, int32_t K, int32_t words, const int32_t *be, int32_t *acc0,
                       int32_t *acc1, int32_t pairs) {
  (void)words;
  for (int32_t j = 0; j < 2 * pairs; j += 2, w += 2 * K) {
    int32_t a0 = be[j], a1 = be[j + 1], c0 = a0, c1 = a1, i = 0;
    for (; i + 16 <= K; i += 16) TOR_MVE_2X2(TOR_LD, 0);
    if (i < K) {
      const mve_pred16_t p = vctp8q((uint32_t)(K - i));
      TOR_MVE_2X2(TOR_LDZ, p);
    }
    acc0[j] = a0, acc0[j + 1] = a1, acc1[j] = c0, acc1[j + 1] = c1;
  }
}
#elif defined(__ARM_FEATURE_DSP)
#define TOR_COLS 1
#include "tor_conv_cols.h"
#endif

#if defined(__ARM_FEATURE_MVE)
/* Two output pixels (o, o + OC) from the K bytes at ip and ip + K, up to 16 channels per
 * tor_dot2x2 call; needs K and OC multiples of 4. */
static void pixel_pair_rows(const int8_t *ip, const int8_t *filt, int32_t K, int32_t OC, int8_t *o,
                            const requant_t *r) {
  int32_t acc0[16], acc1[16];
  for (int32_t oc = 0; oc < OC; oc += 16) {
    const int32_t n = OC - oc < 16 ? OC - oc : 16;
    tor_dot2x2(ip, filt + oc * K, K, K >> 2, r->bias_eff + oc, acc0, acc1, n >> 1);
    rq_block(r, acc0, oc, n, o + oc);
    rq_block(r, acc1, oc, n, o + OC + oc);
  }
}
#endif

/* Windows larger than 1x1 (or padded): each is gathered into col (im2col), then it is a 1x1
 * problem over K = KH*KW*C bytes. Output pixels go in pairs (the next pixel in row-major
 * order, wherever it is): on Cortex-M4 each window is widened into the column pair at col
 * (straight from the input when C % 4 == 0, else gathered at col + TOR_COLS_BYTES(K)
 * first, which needs K more bytes); with Helium both int8 windows sit in col. */
static TOR_HOT __attribute__((noinline)) void conv2d_im2col(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to,
                                                    const int8_t *in, const int8_t *filt, int8_t *out, int8_t *col,
                                                    int32_t col_bytes, const requant_t *r) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2];
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  const int32_t K = KH * KW * C, P = N * OH * OW;
  int32_t q = 0, b = 0, oy = 0, ox = 0; /* output pixel q = (b, oy, ox) */
#define TOR_NEXT_PIXEL() (++ox == OW ? (ox = 0, ++oy == OH ? (oy = 0, b++) : 0) : 0)
#if defined(TOR_COLS)
#define TOR_IM2COL gather_bytes
#else
#define TOR_IM2COL im2col
#endif
#define TOR_GATHER(dst) \
  TOR_IM2COL(in + b * H * W * C, H, W, C, KH, KW, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, p, dst)
#if defined(TOR_COLS)
  if (TOR_COLS_OK(col, col_bytes, TOR_COLS_BYTES(K) + ((C & 3) ? K : 0))) {
    uint32_t *wc = (uint32_t *)(void *)col;
    int8_t *win = col + TOR_COLS_BYTES(K);
    int32_t rows = OC;
    uint32_t *wq =
        wide_filter(col, col_bytes, TOR_COLS_BYTES(K) + ((C & 3) ? (K + 3) & ~3 : 0), filt, K, OC, 32, &rows, r->wide_ready);
#define TOR_WINDOW(slot)                                                                              \
  (window_cols(in + b * H * W * C, H, W, C, KH, KW, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, p, \
               win, slot),                                                                            \
   TOR_NEXT_PIXEL())
    /* channel chunks of the widened rows (at least 32 a chunk), the windows gathered again per chunk */
    for (int32_t oc = 0, end; oc < OC; oc = end) {
      end = oc + rows >= (OC & ~3) ? OC : oc + rows;
      if (wq && oc) widen_filter(filt + oc * K, K, (end & ~3) - oc, wq);
      for (q = 0, b = 0, oy = 0, ox = 0; q < P; q += 2) {
        TOR_WINDOW(wc);
        const int two = q + 1 < P;
        if (two) TOR_WINDOW(wc + 2);
        pixel_pair_cols(wc, filt, wq, K, oc, end, out + q * OC, two ? out + (q + 1) * OC : 0, r);
      }
    }
#undef TOR_WINDOW
    return;
  }
#elif defined(__ARM_FEATURE_MVE)
  if ((K & 3) == 0 && (OC & 3) == 0 && col_bytes >= 2 * K)
    for (; q + 2 <= P; q += 2) {
      TOR_GATHER(col);
      TOR_NEXT_PIXEL();
      TOR_GATHER(col + K);
      TOR_NEXT_PIXEL();
      pixel_pair_rows(col, filt, K, OC, out + q * OC, r);
    }
#else
  (void)col_bytes;
#endif
  for (; q < P; q++) {
    TOR_GATHER(col);
    TOR_NEXT_PIXEL();
    pixel_rows(col, filt, K, OC, out + q * OC, r);
  }
#undef TOR_NEXT_PIXEL
#undef TOR_GATHER
#undef TOR_IM2COL
}

/* The output pixel after (b, oy, ox) in row-major order. */
static inline void next_pixel(int32_t *b, int32_t *oy, int32_t *ox, int32_t OH, int32_t OW) {
  if (++*ox < OW) return;
  *ox = 0;
  if (++*oy < OH) return;
  *oy = 0;
  ++*b;
}

/* 1x1 kernel, no padding: every window is one input pixel, always fully inside. On
 * Cortex-M4 with a scratch col, output pixels go in pairs, each input pixel widened into
 * the column pair (any strides); with Helium, unit strides run contiguous pixel pairs
 * through tor_dot2x2. */
static TOR_HOT __attribute__((noinline)) void conv1x1(const tor_tensor *ti, const tor_tensor *to, const int8_t *in,
                                              const int8_t *filt, int8_t *out, int8_t *col, int32_t col_bytes,
                                              const requant_t *r) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
#define TOR_PIXEL_IN(b, oy, ox) (in + (((b) * H + (oy) * p->stride_h) * W + (ox) * p->stride_w) * C)
#if defined(TOR_COLS)
  if (TOR_COLS_OK(col, col_bytes, TOR_COLS_BYTES(C))) {
    uint32_t *wc = (uint32_t *)(void *)col;
    int32_t rows = OC;
    uint32_t *wq = wide_filter(col, col_bytes, TOR_COLS_BYTES(C), filt, C, OC, 32, &rows, r->wide_ready);
    const int32_t P = N * OH * OW;
    for (int32_t oc = 0, end; oc < OC; oc = end) { /* channel chunks of the widened rows */
      end = oc + rows >= (OC & ~3) ? OC : oc + rows;
      if (wq && oc) widen_filter(filt + oc * C, C, (end & ~3) - oc, wq);
      int32_t b = 0, oy = 0, ox = 0;
      for (int32_t q = 0; q < P; q += 2) {
        widen_col(TOR_PIXEL_IN(b, oy, ox), C, wc);
        next_pixel(&b, &oy, &ox, OH, OW);
        const int two = q + 1 < P;
        if (two) {
          widen_col(TOR_PIXEL_IN(b, oy, ox), C, wc + 2);
          next_pixel(&b, &oy, &ox, OH, OW);
        }
        pixel_pair_cols(wc, filt, wq, C, oc, end, out + q * OC, two ? out + (q + 1) * OC : 0, r);
      }
    }
    return;
  }
#elif defined(__ARM_FEATURE_MVE)
  if (p->stride_h == 1 && p->stride_w == 1 && (C & 3) == 0 && (OC & 3) == 0) {
    const int32_t P = N * OH * OW;
    int32_t px = 0;
    for (; px + 2 <= P; px += 2) pixel_pair_rows(in + px * C, filt, C, OC, out + px * OC, r);
    if (px < P) pixel_rows(in + px * C, filt, C, OC, out + px * OC, r);
    return;
  }
#endif
  (void)col, (void)col_bytes;
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++)
        pixel_rows(TOR_PIXEL_IN(b, oy, ox), filt, C, OC, out + ((b * OH + oy) * OW + ox) * OC, r);
#undef TOR_PIXEL_IN
}

static __attribute__((noinline)) void conv2d(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                   const int8_t *filt, int8_t *out, const requant_t *r) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2];
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  const int32_t fstride = KH * KW * C; /* bytes per output channel's filter */
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + ((b * OH + oy) * OW + ox) * OC;
        int32_t fy0, fy1, fx0, fx1;
        tap_range(y0, KH, p->dilation_h, H, &fy0, &fy1);
        tap_range(x0, KW, p->dilation_w, W, &fx0, &fx1);
        const int full = fy0 == 0 && fy1 == KH && fx0 == 0 && fx1 == KW;
        if (p->dilation_w == 1) {
          /* valid taps of one filter row are one contiguous run in input and filter */
          const int32_t run = (fx1 - fx0) * C;
          int32_t oc = 0;
          for (; oc < OC; oc += 4) {
            const int32_t nb = OC - oc < 4 ? OC - oc : 4;
            int32_t acc[4] = {0, 0, 0, 0}, ws[4] = {0, 0, 0, 0};
            for (int32_t fy = fy0; fy < fy1; fy++) {
              const int8_t *ip = in + ((b * H + y0 + fy * p->dilation_h) * W + x0 + fx0) * C;
              const int8_t *fp = filt + oc * fstride + (fy * KW + fx0) * C;
              if (nb == 4) {
                tor_dot4(ip, fp, fstride, run, acc);
              } else {
                for (int32_t k = 0; k < nb; k++) acc[k] += dot1(ip, fp + k * fstride, run);
              }
              if (!full)
                for (int32_t k = 0; k < nb; k++) ws[k] += wsum1(fp + k * fstride, run);
            }
            for (int32_t k = 0; k < nb; k++) {
              int32_t a = acc[k];
              if (full) {
                a += r->bias_eff[oc + k];
              } else {
                a += p->input_offset * ws[k];
                if (r->bias) a += r->bias[oc + k];
              }
              o[oc + k] = requant(r, oc + k, a);
            }
          }
          continue;
        }
        for (int32_t oc = 0; oc < OC; oc++) {
          int32_t acc = 0, ws = 0;
          for (int32_t fy = fy0; fy < fy1; fy++)
            for (int32_t fx = fx0; fx < fx1; fx++) {
              const int8_t *ip = in + ((b * H + y0 + fy * p->dilation_h) * W + x0 + fx * p->dilation_w) * C;
              const int8_t *fp = filt + oc * fstride + (fy * KW + fx) * C;
              acc += dot1(ip, fp, C);
              ws += wsum1(fp, C);
            }
          if (full) {
            acc += r->bias_eff[oc]; /* a window inside the input: bias_eff holds the offset term */
          } else {
            acc += p->input_offset * ws;
            if (r->bias) acc += r->bias[oc];
          }
          o[oc] = requant(r, oc, acc);
        }
      }
}


tor_status tor_run_conv(const uint8_t *image, uint8_t *arena, const tor_conv_params *p, int dw) {
  const tor_tensor *t = tor_tensors(image);
  return tor_conv_view(image, arena, p, dw, &t[p->input], (const int8_t *)tor_data(image, arena, p->input),
                       &t[p->output], (int8_t *)tor_data(image, arena, p->output), 0);
}

TOR_HOT tor_status tor_conv_view(const uint8_t *image, uint8_t *arena, const tor_conv_params *p, int dw,
                         const tor_tensor *ti, const int8_t *in, const tor_tensor *to, int8_t *out, int32_t *memo) {
  const tor_tensor *t = tor_tensors(image);
  requant_t r;
  r.p = p;
  r.mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  r.shift = (const int32_t *)(const void *)(image + p->shifts_off);
  r.bias_eff = (const int32_t *)(const void *)(image + p->bias_eff_off);
  r.bias = p->bias >= 0 ? (const int32_t *)(const void *)tor_data(image, arena, p->bias) : 0;
  const int8_t *filt = (const int8_t *)tor_data(image, arena, p->filter);
  const tor_tensor *tf = &t[p->filter];
  /* |acc| without the bias: taps x (|x + input_offset| <= 255) x (|w| <= 128) */
  /* memo (a SEGMENT's member): -1 on its first call, then the fast-path flag of that call */
  const int again = memo && *memo >= 0;
  rq_init(&r, again ? 0 : to->dims[3], (int64_t)tf->dims[1] * tf->dims[2] * (dw ? 1 : tf->dims[3]) * 255 * 128);
  if (again) r.fast = *memo;
  else if (memo) *memo = r.fast;
  r.wide_ready = again;
  if (p->pow2_off) r.pow2 = (const int32_t *)(const void *)(image + p->pow2_off); /* checked by the loader */
  int8_t *col = !dw && p->scratch >= 0 ? (int8_t *)tor_data(image, arena, p->scratch) : 0;
  const int32_t col_bytes = col ? (int32_t)t[p->scratch].bytes : 0;
  if (dw)
    tor_depthwise(ti, tf, to, in, filt, out, &r,
                  p->scratch >= 0 ? (const int8_t *)tor_data(image, arena, p->scratch) : 0);
  else if (tf->dims[1] == 1 && tf->dims[2] == 1 && p->pad_h == 0 && p->pad_w == 0)
    conv1x1(ti, to, in, filt, out, col, col_bytes, &r);
  else if (col)
    conv2d_im2col(ti, tf, to, in, filt, out, col, col_bytes, &r);
  else
    conv2d(ti, tf, to, in, filt, out, &r);
  return TOR_OK;
}
