/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, int8 with per-channel requantization,
 * bit-exact with TFLM's reference_integer_ops kernels.
 *
 * sum((x + o) * w) + bias == sum(x * w) + (bias + o * sum(w)), exactly, in int32. The
 * compiler stores the bracket per channel (bias_eff), so windows that lie fully inside
 * the input run a plain int8 dot product, four output channels at a time so each input
 * word is loaded and widened once. On Cortex-M4 (__ARM_FEATURE_DSP) the dot products use
 * SXTB16 + SMLAD: two multiply-accumulates per instruction. Windows that touch padding
 * sum the weights they actually use (the reference skips padded taps). */
#include <string.h>

#include "tor_fixedpoint.h"
#include "tor_internal.h"

#if defined(__GNUC__) && !defined(__clang__) && !defined(TOR_NO_O2_KERNELS)
/* The MAC loops are the runtime's hot path: optimise them for speed even in -Os builds
 * (costs about 1 KB of flash; define TOR_NO_O2_KERNELS to keep -Os here too). */
#pragma GCC optimize("O2")
#endif

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

static inline __attribute__((always_inline)) uint32_t rd32(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4); /* unaligned LDR is fine on Cortex-M4 */
  return v;
}
#define EVEN(w) ((int32_t)__sxtb16(w))
/* SXTB16 with the rotate folded in (GCC does not fuse __sxtb16(__ror(w, 8))) */
static inline __attribute__((always_inline)) int32_t odd_bytes(uint32_t w) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  return r;
}
#define ODD(w) odd_bytes(w)

/* One word (4 bytes) of the input against one word of each of four filter rows: the input
 * word is widened once (SXTB16, and SXTB16 ROR #8 for the odd bytes), then each row costs
 * LDR + 2 SXTB16 + 2 SMLAD. Rows 0 and 1 are at b and b1, rows 2 and 3 at b + s2 and
 * b1 + s2; the b/b1 loads post-increment. Written as asm because GCC, with 13 values
 * live, spills the loop bound or the stride to the stack every iteration. */
#define TOR_DOT4_ROW(ptr, off, post, s)                  \
  "ldr %[w], [%[" ptr "]" off "]" post "\n\t"          \
  "sxtb16 %[t], %[w]\n\t"                              \
  "sxtb16 %[w], %[w], ror #8\n\t"                      \
  "smlad %[" s "], %[x], %[t], %[" s "]\n\t"           \
  "smlad %[" s "], %[xo], %[w], %[" s "]\n\t"
#define TOR_DOT4_STEP                                                  \
  "ldr %[x], [%[a]], #4\n\t"                                           \
  "sxtb16 %[xo], %[x], ror #8\n\t"                                     \
  "sxtb16 %[x], %[x]\n\t"                                              \
  TOR_DOT4_ROW("b", ", %[s2]", "", "s2a") TOR_DOT4_ROW("b", "", ", #4", "s0") \
  TOR_DOT4_ROW("b1", ", %[s2]", "", "s3") TOR_DOT4_ROW("b1", "", ", #4", "s1")

/* acc[k] += dot(a, b + k*stride) over n bytes, k = 0..3 (int32 sums wrap the same in any
 * order, so the result equals the plain loop's). Two words per loop iteration: 46
 * instructions per 32 MACs plus the compare and branch. */
static __attribute__((noinline)) void dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n,
                                           int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
  const int8_t *b1 = b + stride;
  const int32_t s2off = 2 * stride;
  const int32_t words = n >> 2;
  uint32_t x, xo, w, t;
  if (words & 1) {
    __asm__(TOR_DOT4_STEP
            : [a] "+r"(a), [b] "+r"(b), [b1] "+r"(b1), [s0] "+r"(s0), [s1] "+r"(s1), [s2a] "+r"(s2), [s3] "+r"(s3),
              [x] "=&r"(x), [xo] "=&r"(xo), [w] "=&r"(w), [t] "=&r"(t)
            : [s2] "r"(s2off)
            : "memory");
  }
  if (words >= 2) {
    const int8_t *end = a + 4 * (words & ~1);
    __asm__("1:\n\t" TOR_DOT4_STEP TOR_DOT4_STEP
            "cmp %[a], %[end]\n\t"
            "bcc 1b\n\t"
            : [a] "+r"(a), [b] "+r"(b), [b1] "+r"(b1), [s0] "+r"(s0), [s1] "+r"(s1), [s2a] "+r"(s2), [s3] "+r"(s3),
              [x] "=&r"(x), [xo] "=&r"(xo), [w] "=&r"(w), [t] "=&r"(t)
            : [s2] "r"(s2off), [end] "r"(end)
            : "cc", "memory");
  }
  for (int32_t i = 0; i < (n & 3); i++) {
    const int32_t xi = a[i];
    s0 += xi * b[i];
    s1 += xi * b1[i];
    s2 += xi * b[s2off + i];
    s3 += xi * b1[s2off + i];
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

static inline __attribute__((always_inline)) int32_t dot1(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t s = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t x = rd32(a + i), w = rd32(b + i);
    s = __smlad(EVEN(x), EVEN(w), s);
    s = __smlad(ODD(x), ODD(w), s);
  }
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}
#else
static inline __attribute__((always_inline)) void dot4(const int8_t *a, const int8_t *b, int32_t stride, int32_t n, int32_t *acc) {
  for (int k = 0; k < 4; k++) {
    const int8_t *bk = b + k * stride;
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) s += a[i] * bk[i];
    acc[k] += s;
  }
}

static inline __attribute__((always_inline)) int32_t dot1(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t s = 0;
  for (int32_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
#endif

static inline int32_t wsum1(const int8_t *b, int32_t n) {
  int32_t s = 0;
  for (int32_t i = 0; i < n; i++) s += b[i];
  return s;
}

typedef struct {
  const tor_conv_params *p;
  const int32_t *mult, *shift, *bias_eff, *bias;
} requant_t;

static inline __attribute__((always_inline)) int8_t requant(const requant_t *r, int32_t oc, int32_t acc) {
  acc = tor_mbqm(acc, r->mult[oc], r->shift[oc]) + r->p->output_offset;
  return (int8_t)tor_clamp(acc, r->p->act_min, r->p->act_max);
}

/* Valid filter taps [lo, hi) along one axis for an output position starting at `origin`. */
static inline void tap_range(int32_t origin, int32_t k, int32_t dil, int32_t size, int32_t *lo, int32_t *hi) {
  int32_t a = 0, b = k;
  while (a < b && origin + a * dil < 0) a++;
  while (b > a && origin + (b - 1) * dil >= size) b--;
  *lo = a;
  *hi = b;
}

/* Gather the window at (y0, x0) into col[KH*KW*C]; taps in the padding get the input
 * zero point, whose (x + input_offset) is 0 — exactly the reference's skipped tap. */
static void im2col(const int8_t *in, int32_t H, int32_t W, int32_t C, int32_t KH, int32_t KW, int32_t y0, int32_t x0,
                   const tor_conv_params *p, int8_t *col) {
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

static __attribute__((noinline)) void conv2d_im2col(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to,
                                                    const int8_t *in, const int8_t *filt, int8_t *out, int8_t *col,
                                                    const requant_t *r) {
  const tor_conv_params *p = r->p;
  const int32_t *be = r->bias_eff, *mult = r->mult, *shift = r->shift;
  const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2];
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  const int32_t K = KH * KW * C;
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        im2col(in + b * H * W * C, H, W, C, KH, KW, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, p, col);
        int8_t *o = out + ((b * OH + oy) * OW + ox) * OC;
        int32_t oc = 0;
        for (; oc + 4 <= OC; oc += 4) {
          int32_t acc[4] = {be[oc], be[oc + 1], be[oc + 2], be[oc + 3]};
          dot4(col, filt + oc * K, K, K, acc);
          for (int k = 0; k < 4; k++)
            o[oc + k] = (int8_t)tor_clamp(tor_mbqm(acc[k], mult[oc + k], shift[oc + k]) + off, lo, hi);
        }
        for (; oc < OC; oc++)
          o[oc] = (int8_t)tor_clamp(tor_mbqm(dot1(col, filt + oc * K, K) + be[oc], mult[oc], shift[oc]) + off, lo, hi);
      }
}

/* 1x1 kernel, no padding: every window is one input pixel, always fully inside. */
static __attribute__((noinline)) void conv1x1(const tor_tensor *ti, const tor_tensor *to, const int8_t *in,
                                              const int8_t *filt, int8_t *out, const requant_t *r) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  const int32_t *be = r->bias_eff, *mult = r->mult, *shift = r->shift;
  const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
  for (int32_t b = 0; b < N; b++)
    for (int32_t oy = 0; oy < OH; oy++)
      for (int32_t ox = 0; ox < OW; ox++) {
        const int8_t *ip = in + ((b * H + oy * p->stride_h) * W + ox * p->stride_w) * C;
        int8_t *o = out + ((b * OH + oy) * OW + ox) * OC;
        int32_t oc = 0;
        for (; oc + 4 <= OC; oc += 4) {
          int32_t acc[4] = {be[oc], be[oc + 1], be[oc + 2], be[oc + 3]};
          dot4(ip, filt + oc * C, C, C, acc);
          for (int k = 0; k < 4; k++)
            o[oc + k] = (int8_t)tor_clamp(tor_mbqm(acc[k], mult[oc + k], shift[oc + k]) + off, lo, hi);
        }
        for (; oc < OC; oc++)
          o[oc] = (int8_t)tor_clamp(tor_mbqm(dot1(ip, filt + oc * C, C) + be[oc], mult[oc], shift[oc]) + off, lo, hi);
      }
}

static void conv2d(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
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
                dot4(ip, fp, fstride, run, acc);
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
            acc += r->bias_eff[oc]; /* the only case the compiler leaves here: 1x1 kernels */
          } else {
            acc += p->input_offset * ws;
            if (r->bias) acc += r->bias[oc];
          }
          o[oc] = requant(r, oc, acc);
        }
      }
}

#if defined(__ARM_FEATURE_DSP)
/* One tap, four channels: a0..a3 += x[k] * w[k]. */
#define DW_TAP(xp, wp)                                                              \
  do {                                                                              \
    const uint32_t xv_ = rd32(xp), wv_ = rd32(wp);                                  \
    const int32_t xe_ = EVEN(xv_), xo_ = ODD(xv_), we_ = EVEN(wv_), wo_ = ODD(wv_); \
    a0 = __smlabb(xe_, we_, a0);                                                    \
    a2 = __smlatt(xe_, we_, a2);                                                    \
    a1 = __smlabb(xo_, wo_, a1);                                                    \
    a3 = __smlatt(xo_, wo_, a3);                                                    \
  } while (0)
/* the same tap in asm on xv/wv (overwritten), temporaries t/u */
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
  const int32_t *mult = r->mult, *shift = r->shift;
  const int32_t off = r->p->output_offset, lo = r->p->act_min, hi = r->p->act_max, ioff = r->p->input_offset;
  const int8_t *ip = in + (origin + fy0 * rstep + fx0 * dstep);
  const int8_t *fb = filt + (fy0 * KW + fx0) * C;
  const int32_t nx = fx1 - fx0, ny = fy1 - fy0;
  const int32_t rskip = rstep - nx * dstep, wskip = (KW - nx) * C;
  int32_t c = 0;
#if defined(__ARM_FEATURE_DSP)
  for (; c + 4 <= C; c += 4) {
    int32_t a0, a1, a2, a3;
    const int8_t *x = ip + c, *w = fb + c;
    if (full && nx == 3) { /* the common 3-wide kernel, its row unrolled */
      int32_t ny_done = 0;
      a0 = r->bias_eff[c], a1 = r->bias_eff[c + 1], a2 = r->bias_eff[c + 2], a3 = r->bias_eff[c + 3];
      if (dstep == C && ny > 0) {
        /* undilated: one register steps both input and weights; asm keeps a0..a3 in
         * registers (GCC spills them across the row) */
        const int32_t rs = rstep - 2 * C;
        int32_t n = ny;
        uint32_t xv, wv, t, u;
        __asm__("1:\n\t"
                "ldr %[xv], [%[x]]\n\t"
                "ldr %[wv], [%[w]]\n\t" TOR_DW_TAP_ASM
                "ldr %[xv], [%[x], %[c]]\n\t"
                "ldr %[wv], [%[w], %[c]]\n\t" TOR_DW_TAP_ASM
                "add %[x], %[x], %[c], lsl #1\n\t"
                "add %[w], %[w], %[c], lsl #1\n\t"
                "ldr %[xv], [%[x]]\n\t"
                "ldr %[wv], [%[w]]\n\t" TOR_DW_TAP_ASM
                "add %[x], %[x], %[rs]\n\t"
                "add %[w], %[w], %[c]\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b\n\t"
                : [x] "+r"(x), [w] "+r"(w), [n] "+r"(n), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),
                  [a3] "+r"(a3), [xv] "=&r"(xv), [wv] "=&r"(wv), [t] "=&r"(t), [u] "=&r"(u)
                : [c] "r"(C), [rs] "r"(rs)
                : "cc", "memory");
        ny_done = ny;
      }
      const int32_t d2 = 2 * dstep, c2 = 2 * C;
      for (int32_t fy = ny_done; fy < ny; fy++, x += rstep, w += 3 * C) {
        DW_TAP(x, w);
        DW_TAP(x + dstep, w + C);
        DW_TAP(x + d2, w + c2);
      }
    } else if (full) {
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
    o[c] = (int8_t)tor_clamp(tor_mbqm(a0, mult[c], shift[c]) + off, lo, hi);
    o[c + 1] = (int8_t)tor_clamp(tor_mbqm(a1, mult[c + 1], shift[c + 1]) + off, lo, hi);
    o[c + 2] = (int8_t)tor_clamp(tor_mbqm(a2, mult[c + 2], shift[c + 2]) + off, lo, hi);
    o[c + 3] = (int8_t)tor_clamp(tor_mbqm(a3, mult[c + 3], shift[c + 3]) + off, lo, hi);
  }
#endif
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

static void depthwise(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                      const int8_t *filt, int8_t *out, const requant_t *r) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2], M = p->depth_multiplier;
  const int32_t OH = to->dims[1], OW = to->dims[2], OC = to->dims[3];
  const int small = KH * KW <= 256; /* packed 16-bit weight sums cannot overflow */
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

tor_status tor_run_conv(const uint8_t *image, uint8_t *arena, const tor_conv_params *p, int dw) {
  const tor_tensor *t = tor_tensors(image);
  requant_t r;
  r.p = p;
  r.mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  r.shift = (const int32_t *)(const void *)(image + p->shifts_off);
  r.bias_eff = (const int32_t *)(const void *)(image + p->bias_eff_off);
  r.bias = p->bias >= 0 ? (const int32_t *)(const void *)tor_data(image, arena, p->bias) : 0;
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *filt = (const int8_t *)tor_data(image, arena, p->filter);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  if (dw)
    depthwise(&t[p->input], &t[p->filter], &t[p->output], in, filt, out, &r);
  else if (p->scratch >= 0)
    conv2d_im2col(&t[p->input], &t[p->filter], &t[p->output], in, filt, out,
                  (int8_t *)tor_data(image, arena, p->scratch), &r);
  else if (t[p->filter].dims[1] == 1 && t[p->filter].dims[2] == 1 && p->pad_h == 0 && p->pad_w == 0)
    conv1x1(&t[p->input], &t[p->output], in, filt, out, &r);
  else
    conv2d(&t[p->input], &t[p->filter], &t[p->output], in, filt, out, &r);
  return TOR_OK;
}

tor_status tor_run_fc(const uint8_t *image, uint8_t *arena, const tor_fc_params *p) {
  const tor_tensor *t = tor_tensors(image);
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *filt = (const int8_t *)tor_data(image, arena, p->filter);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *mult = (const int32_t *)(const void *)(image + p->multipliers_off);
  const int32_t *shift = (const int32_t *)(const void *)(image + p->shifts_off);
  const int32_t *bias_eff = (const int32_t *)(const void *)(image + p->bias_eff_off);
  const int32_t units = t[p->filter].dims[2], depth = t[p->filter].dims[3];
  const int32_t batches = tor_elems(&t[p->input]) / depth;
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + b * depth;
    /* sum((x+io)*(w+fo)) + bias = sum(x*w) + fo*sum(x) + bias_eff */
    const int32_t xterm = p->filter_offset ? p->filter_offset * wsum1(x, depth) : 0;
    int32_t acc[4];
    for (int32_t u = 0; u < units; u++) {
      if ((u & 3) == 0) {
        acc[0] = acc[1] = acc[2] = acc[3] = 0;
        if (u + 4 <= units) dot4(x, filt + u * depth, depth, depth, acc);
        else
          for (int32_t k = 0; u + k < units; k++) acc[k] = dot1(x, filt + (u + k) * depth, depth);
      }
      const int32_t k = p->n_multipliers > 1 ? u : 0;
      const int32_t v = tor_mbqm(acc[u & 3] + xterm + bias_eff[u], mult[k], shift[k]) + p->output_offset;
      out[b * units + u] = (int8_t)tor_clamp(v, p->act_min, p->act_max);
    }
  }
  return TOR_OK;
}
