/* DEPTHWISE_CONV_2D, int8 with per-channel requantization, bit-exact with TFLM's
 * reference_integer_ops kernel (see tor_conv_common.h for the shared pieces). On DSP cores
 * 3x3 and 5x5 kernels with depth multiplier 1 take dw_pairs (two taps per SMLAD); other
 * shapes take dw_taps / dw_pixel; cores without DSP run the plain C loops. */
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
#if defined(TOR_NO_O2_KERNELS) /* at -Os GCC finds no 13 registers for the row asm next to rq4's fast path */
    for (int k = 0; k < 4; k++) o[c + k] = requant(r, c + k, acc[k]);
#else
    rq4(r, acc, c, o + c);
#endif
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

#if defined(__ARM_FEATURE_DSP)
/* 3x3 and 5x5 kernels, depth multiplier 1: weights pre-widened into the SMLAD lane order once
 * per call (on the stack), then one asm routine per output pixel runs every 4-channel group.
 * Taps go in pairs: the two tap words are packed with PKHBT/PKHTB so each SXTB16 yields one
 * channel's two taps, and one SMLAD does both MACs. Per group the stream holds bias_eff[4],
 * then per tap pair {offset of tap 2j, 4 weight words (channel i: tap 2j in the low half,
 * tap 2j+1 in the high half), offset of tap 2j+1} (one LDM), then {offset, [w2|w0], [w3|w1]}
 * of the last tap. A window inside the input reads tap k at p + offset (the offsets include
 * the group's 4 * g); a clipped one (dw_edge*) reads p + tab[k] instead, p stepping 4 per
 * group, padded taps pointing at the zero-point row. The loop ends when acc reaches `end`. */
#define DW_PAIR(ld)                    \
  "ldmia r1!, {r3, r8-r12}\n\t" ld    \
  "ldr r3, [r0, r3]\n\t"               \
  "ldr r12, [r0, r12]\n\t"             \
  "pkhbt lr, r3, r12, lsl #16\n\t"     \
  "pkhtb r12, r12, r3, asr #16\n\t"    \
  "sxtb16 r3, lr\n\t"                  \
  "smlad r4, r3, r8, r4\n\t"           \
  "sxtb16 r3, lr, ror #8\n\t"          \
  "smlad r5, r3, r9, r5\n\t"           \
  "sxtb16 r3, r12\n\t"                 \
  "smlad r6, r3, r10, r6\n\t"          \
  "sxtb16 r3, r12, ror #8\n\t"         \
  "smlad r7, r3, r11, r7\n\t"
#define DW_LAST(ld)                    \
  "ldmia r1!, {r3, r8, r9}\n\t" ld    \
  "ldr r3, [r0, r3]\n\t"               \
  "sxtb16 r12, r3\n\t"                 \
  "smlabb r4, r12, r8, r4\n\t"         \
  "smlatt r6, r12, r8, r6\n\t"         \
  "sxtb16 r12, r3, ror #8\n\t"         \
  "smlabb r5, r12, r9, r5\n\t"         \
  "smlatt r7, r12, r9, r7\n\t"
#define DW_T2(o) "ldrd r3, r12, [sp, #" #o "]\n\t"
#define DW_T1(o) "ldr r3, [sp, #" #o "]\n\t"
#define DW_COPY8 "ldmia r3!, {r4-r11}\n\tstmia r12!, {r4-r11}\n\t"
/* the edge variants copy tab[0..K] (K offsets, then end) to [sp] */
#define DW_ENTER_TAB(bytes, copies)                                                 \
  "push {r4-r11, lr}\n\tsub sp, sp, #" #bytes "\n\tmov r12, sp\n\t" copies          \
  "ldmia r3, {r4, r5}\n\tstmia r12, {r4, r5}\n\t1:\n\tldmia r1!, {r4-r7}\n\t"
#define DW_ENTER "push {r3-r11, lr}\n\t1:\n\tldmia r1!, {r4-r7}\n\t"
#define DW_LEAVE(step, end, bytes)                                                  \
  "stmia r2!, {r4-r7}\n\t" step "ldr r3, [sp, #" #end "]\n\tcmp r2, r3\n\t"         \
  "bne 1b\n\tadd sp, sp, #" #bytes "\n\tpop {r4-r11, pc}\n\t"
#define DW_STEP "adds r0, r0, #4\n\t"
#define DW_P4(a, b, c, d) DW_PAIR(a) DW_PAIR(b) DW_PAIR(c) DW_PAIR(d)

#define DW_ARGS const int8_t *p DW_U, const uint32_t *ws DW_U, int32_t *acc DW_U, const void *end_or_tab DW_U
#define DW_U __attribute__((unused))
#define DW_FN static __attribute__((naked, noinline, noipa)) void
DW_FN dw_in9(DW_ARGS) { __asm__ volatile(DW_ENTER DW_P4("", "", "", "") DW_LAST("") DW_LEAVE("", 0, 4)); }
DW_FN dw_in25(DW_ARGS) {
  __asm__ volatile(DW_ENTER DW_P4("", "", "", "") DW_P4("", "", "", "") DW_P4("", "", "", "") DW_LAST("")
                       DW_LEAVE("", 0, 4));
}
DW_FN dw_edge9(DW_ARGS) {
  __asm__ volatile(DW_ENTER_TAB(40, DW_COPY8) DW_P4(DW_T2(0), DW_T2(8), DW_T2(16), DW_T2(24)) DW_LAST(DW_T1(32))
                       DW_LEAVE(DW_STEP, 36, 40));
}
DW_FN dw_edge25(DW_ARGS) {
  __asm__ volatile(DW_ENTER_TAB(104, DW_COPY8 DW_COPY8 DW_COPY8) DW_P4(DW_T2(0), DW_T2(8), DW_T2(16), DW_T2(24))
                       DW_P4(DW_T2(32), DW_T2(40), DW_T2(48), DW_T2(56))
                           DW_P4(DW_T2(64), DW_T2(72), DW_T2(80), DW_T2(88)) DW_LAST(DW_T1(96))
                               DW_LEAVE(DW_STEP, 100, 104));
}

#define TOR_DW_WS_WORDS 992 /* stack stream: 32 groups of a 3x3 kernel, 12 of a 5x5 */
#define TOR_DW_ACC_GROUPS 32

/* The stream of groups [g0, g0 + ng) (see above); off[k]: tap k's offset in group g0. */
static void dw_pack(const int8_t *filt, const int32_t *bias_eff, const int32_t *off, int32_t C, int32_t K,
                    int32_t g0, int32_t ng, uint32_t *ws) {
  for (int32_t g = g0; g < g0 + ng; g++) {
    const int8_t *f = filt + 4 * g;
    const uint32_t d = (uint32_t)(4 * (g - g0));
    for (int i = 0; i < 4; i++) *ws++ = (uint32_t)bias_eff[4 * g + i];
    /* channel i of taps k, k + 1 as int16 halves: SXTB16 splits a tap's four channels
     * into lanes (0, 2) and, rotated, (1, 3); PKHBT/PKHTB-style masks pair the taps */
    for (int32_t k = 0; k + 1 < K; k += 2) {
      const uint32_t a = rd32(f + k * C), b = rd32(f + (k + 1) * C);
      const uint32_t a02 = (uint32_t)EVEN(a), a13 = (uint32_t)ODD(a), b02 = (uint32_t)EVEN(b), b13 = (uint32_t)ODD(b);
      ws[0] = (uint32_t)off[k] + d;
      ws[1] = (a02 & 0xFFFFu) | b02 << 16;
      ws[2] = (a13 & 0xFFFFu) | b13 << 16;
      ws[3] = a02 >> 16 | (b02 & 0xFFFF0000u);
      ws[4] = a13 >> 16 | (b13 & 0xFFFF0000u);
      ws[5] = (uint32_t)off[k + 1] + d;
      ws += 6;
    }
    const uint32_t l = rd32(f + (K - 1) * C);
    *ws++ = (uint32_t)off[K - 1] + d;
    *ws++ = (uint32_t)EVEN(l); /* channels 0 and 2 of the last tap */
    *ws++ = (uint32_t)ODD(l);
  }
}

/* Returns 0 (nothing written) when this path does not apply. */
static int dw_pairs(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                    const int8_t *filt, int8_t *out, const requant_t *r, const int8_t *zrow) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2], K = KH * KW, OH = to->dims[1], OW = to->dims[2];
  const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dwl = p->dilation_w;
  if (p->depth_multiplier != 1 || (K != 9 && K != 25) || C < 4) return 0;
  const int clipped = p->pad_h > 0 || p->pad_w > 0 || (OH - 1) * sh + (KH - 1) * dh >= H ||
                      (OW - 1) * sw + (KW - 1) * dwl >= W;
  if (clipped && !zrow) return 0;
  void (*in_fn)(const int8_t *, const uint32_t *, int32_t *, const void *) = K == 9 ? dw_in9 : dw_in25;
  void (*edge_fn)(const int8_t *, const uint32_t *, int32_t *, const void *) = K == 9 ? dw_edge9 : dw_edge25;
  const int32_t G = C / 4, gw = 4 + 6 * (K / 2) + 3, cap = TOR_DW_WS_WORDS / gw;
  const int32_t chunk = cap < TOR_DW_ACC_GROUPS ? cap : TOR_DW_ACC_GROUPS;
  uint32_t ws[TOR_DW_WS_WORDS];
  int32_t acc[4 * TOR_DW_ACC_GROUPS], full[26], tab[26];
  for (int32_t fy = 0, k = 0; fy < KH; fy++)
    for (int32_t fx = 0; fx < KW; fx++, k++) full[k] = (fy * dh * W + fx * dwl) * C;
  /* Rows in increasing order, each over all channel chunks; when the output does not overlap
   * the input and there is more than one chunk, chunks go outermost (each packed once). */
  const uintptr_t ib = (uintptr_t)in, ie = ib + (uintptr_t)(N * H * W * C);
  const uintptr_t ob = (uintptr_t)out, oe = ob + (uintptr_t)(N * OH * OW * C);
  const int32_t rows = N * OH, outer = G > chunk && (oe <= ib || ob >= ie) ? chunk : G;
  int32_t packed = -1;
  for (int32_t gc = 0; gc < G; gc += outer)
    for (int32_t row = 0; row < rows; row++) {
      const int32_t b = row / OH, oy = row % OH, y0 = oy * sh - p->pad_h;
      for (int32_t g0 = gc; g0 < G && g0 < gc + outer; g0 += chunk) {
        const int32_t ng = G - g0 < chunk ? G - g0 : chunk, c0 = 4 * g0, last = g0 + ng == G;
        if (packed != g0) dw_pack(filt, r->bias_eff, full, C, K, g0, ng, ws), packed = g0;
        full[K] = tab[K] = (int32_t)(uintptr_t)(acc + 4 * ng);
        for (int32_t ox = 0; ox < OW; ox++) {
          const int32_t x0 = ox * sw - p->pad_w;
          const uintptr_t pb = (uintptr_t)in + (uintptr_t)(((b * H + y0) * W + x0) * C);
          const int32_t *t = full;
          if (y0 < 0 || x0 < 0 || y0 + (KH - 1) * dh >= H || x0 + (KW - 1) * dwl >= W) {
            for (int32_t fy = 0, k = 0; fy < KH; fy++)
              for (int32_t fx = 0; fx < KW; fx++, k++) {
                const int32_t iy = y0 + fy * dh, ix = x0 + fx * dwl;
                tab[k] = iy >= 0 && iy < H && ix >= 0 && ix < W ? full[k] : (int32_t)((uintptr_t)zrow - pb);
              }
            t = tab;
          }
          int8_t *o = out + ((b * OH + oy) * OW + ox) * C;
          if (t == full)
            in_fn((const int8_t *)(pb + (uintptr_t)c0), ws, acc, acc + 4 * ng);
          else
            edge_fn((const int8_t *)(pb + (uintptr_t)c0), ws, acc, t);
          rq_block(r, acc, c0, 4 * ng, o + c0);
          for (int32_t c = 4 * G; last && c < C; c++) {
            int32_t a = r->bias_eff[c];
            for (int32_t k = 0; k < K; k++) a += ((const int8_t *)(pb + (uintptr_t)t[k]))[c] * filt[k * C + c];
            o[c] = requant(r, c, a);
          }
        }
      }
    }
  return 1;
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
  if (dw_pairs(ti, tf, to, in, filt, out, r, zrow)) return;
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
