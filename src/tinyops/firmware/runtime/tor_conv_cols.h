/* CONV_2D on Cortex-M4 class cores with the DSP extension but no Helium (included once,
 * by tor_kernels_conv.c). Two output pixels at a time: each pixel's K input bytes are
 * widened ONCE into int16 lanes of a scratch buffer, two pixels interleaved, so the MAC
 * loop widens only the weights. Per group of 4 taps the buffer holds four words:
 *   col[4g + 0] = SXTB16(x0 word)        lanes (x[4g], x[4g+2]) of pixel 0
 *   col[4g + 1] = SXTB16(x0 word, ROR 8) lanes (x[4g+1], x[4g+3]) of pixel 0
 *   col[4g + 2], col[4g + 3]             the same for pixel 1
 * matching a weight word's SXTB16 / SXTB16 ROR 8 lanes. Taps past K (K % 4 != 0) are 0
 * in the buffer, so the weight bytes read there (the next row's, or the image's guard
 * bytes after the filter: see lower.py) add nothing. Values are the raw int8 inputs:
 * bias_eff carries input_offset * sum(w). */
#ifndef TOR_CONV_COLS_H
#define TOR_CONV_COLS_H

/* The n bytes at src (n a multiple of 4) widened into a pixel slot from dst on (4 words a
 * group); returns the slot's next group. Two groups per loop iteration. */
static inline __attribute__((always_inline)) uint32_t *widen_run(const int8_t *src, int32_t n, uint32_t *dst) {
  const int8_t *end = src + n;
  uint32_t w, e, v, f;
  if (n & 4) {
    w = rd32(src);
    src += 4;
    dst[0] = (uint32_t)EVEN(w);
    dst[1] = (uint32_t)ODD(w);
    dst += 4;
  }
  if (end - src >= 16 && ((uintptr_t)src & 3) == 0) { /* word-aligned: LDRD, 16 bytes a step */
    const int8_t *end16 = end - 15;
    __asm__("1:\n\t"
            "ldrd %[w], %[v], [%[s]], #8\n\t"
            "sxtb16 %[e], %[w]\n\t"
            "sxtb16 %[w], %[w], ror #8\n\t"
            "sxtb16 %[f], %[v]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "strd %[e], %[w], [%[d]], #16\n\t"
            "strd %[f], %[v], [%[d]], #16\n\t"
            "ldrd %[w], %[v], [%[s]], #8\n\t"
            "sxtb16 %[e], %[w]\n\t"
            "sxtb16 %[w], %[w], ror #8\n\t"
            "sxtb16 %[f], %[v]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "strd %[e], %[w], [%[d]], #16\n\t"
            "strd %[f], %[v], [%[d]], #16\n\t"
            "cmp %[s], %[end]\n\t"
            "bcc 1b"
            : [s] "+r"(src), [d] "+r"(dst), [w] "=&r"(w), [e] "=&r"(e), [v] "=&r"(v), [f] "=&r"(f)
            : [end] "r"(end16)
            : "cc", "memory");
  }
  if (src < end)
    __asm__("1:\n\t"
            "ldr %[w], [%[s]], #4\n\t"
            "ldr %[v], [%[s]], #4\n\t"
            "sxtb16 %[e], %[w]\n\t"
            "sxtb16 %[w], %[w], ror #8\n\t"
            "sxtb16 %[f], %[v]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "strd %[e], %[w], [%[d]], #16\n\t"
            "strd %[f], %[v], [%[d]], #16\n\t"
            "cmp %[s], %[end]\n\t"
            "bcc 1b"
            : [s] "+r"(src), [d] "+r"(dst), [w] "=&r"(w), [e] "=&r"(e), [v] "=&r"(v), [f] "=&r"(f)
            : [end] "r"(end)
            : "cc", "memory");
  return dst;
}

/* `groups` groups of a pixel slot set to the widened words ze, zo. */
static inline __attribute__((always_inline)) uint32_t *fill_run(uint32_t *dst, int32_t groups, uint32_t ze,
                                                                uint32_t zo) {
  for (; groups > 0; groups--, dst += 4) dst[0] = ze, dst[1] = zo;
  return dst;
}

/* Pixel slot at dst (col, or col + 2 for the second pixel) from the K bytes at src. */
static TOR_HOT void widen_col(const int8_t *src, int32_t K, uint32_t *dst) {
  const int32_t i = K & ~3;
  dst = widen_run(src, i, dst);
  if (i < K) { /* the last K - i bytes, the lanes past K zero */
    uint32_t w = 0;
    if (K >= 4)
      w = rd32(src + K - 4) >> (8 * (4 - (K - i)));
    else
      for (int32_t j = 0; i + j < K; j++) w |= (uint32_t)(uint8_t)src[i + j] << (8 * j);
    dst[0] = (uint32_t)EVEN(w);
    dst[1] = (uint32_t)ODD(w);
  }
}

/* Undilated taps [lo, hi) of a row window at x0 that lie inside [0, W). */
static inline int32_t tap_lo(int32_t x0, int32_t KW) { return x0 >= 0 ? 0 : -x0 < KW ? -x0 : KW; }
static inline int32_t tap_hi(int32_t x0, int32_t KW, int32_t W, int32_t lo) {
  const int32_t hi = x0 + KW <= W ? KW : W - x0;
  return hi < lo ? lo : hi;
}

/* The window at (y0, x0) of an input with C % 4 == 0 widened straight into a pixel slot:
 * every run of taps is whole groups; padded taps get the input zero point. */
static TOR_HOT void gather_cols(const int8_t *in, int32_t H, int32_t W, int32_t C, int32_t KH, int32_t KW, int32_t y0,
                        int32_t x0, const tor_conv_params *p, uint32_t *dst) {
  const uint32_t z = (uint8_t)(-p->input_offset) * 0x01010101u, ze = (uint32_t)EVEN(z), zo = (uint32_t)ODD(z);
  for (int32_t fy = 0; fy < KH; fy++) {
    const int32_t iy = y0 + fy * p->dilation_h;
    if (iy < 0 || iy >= H) {
      dst = fill_run(dst, (KW * C) >> 2, ze, zo);
      continue;
    }
    const int8_t *row = in + iy * W * C;
    if (p->dilation_w == 1 && x0 >= 0 && x0 + KW <= W) {
      dst = widen_run(row + x0 * C, KW * C, dst);
      continue;
    }
    if (p->dilation_w == 1) { /* padding, the taps inside, padding */
      const int32_t lo = tap_lo(x0, KW), hi = tap_hi(x0, KW, W, lo);
      dst = fill_run(dst, (lo * C) >> 2, ze, zo);
      dst = widen_run(row + (x0 + lo) * C, (hi - lo) * C, dst);
      dst = fill_run(dst, ((KW - hi) * C) >> 2, ze, zo);
      continue;
    }
    for (int32_t fx = 0; fx < KW; fx++) {
      const int32_t ix = x0 + fx * p->dilation_w;
      dst = ix < 0 || ix >= W ? fill_run(dst, C >> 2, ze, zo) : widen_run(row + ix * C, C, dst);
    }
  }
}

/* n bytes from s to d with unaligned word copies (small C: memcpy's call costs more). */
static inline __attribute__((always_inline)) int8_t *copy_run(int8_t *d, const int8_t *s, int32_t n) {
  for (; n >= 4; n -= 4, s += 4, d += 4) {
    const uint32_t v = rd32(s);
    memcpy(d, &v, 4);
  }
  for (; n > 0; n--) *d++ = *s++;
  return d;
}

static inline __attribute__((always_inline)) int8_t *fill_bytes(int8_t *d, int8_t v, int32_t n) {
  for (; n > 0; n--) *d++ = v;
  return d;
}

/* An undilated window inside the input: `rows` runs of n bytes, `stride` bytes apart. */
static TOR_HOT __attribute__((noinline)) void gather_inside(const int8_t *s, int32_t stride, int32_t rows, int32_t n,
                                                    int8_t *d) {
  if (n < 4) {
    for (; rows > 0; rows--, s += stride) d = copy_run(d, s, n);
    return;
  }
  for (; rows > 0; rows--, s += stride, d += n) { /* whole words, the last one overlapping */
    int32_t i = 0;
    for (; i + 4 < n; i += 4) {
      const uint32_t v = rd32(s + i);
      memcpy(d + i, &v, 4);
    }
    const uint32_t v = rd32(s + n - 4);
    memcpy(d + n - 4, &v, 4);
  }
}

/* im2col (tor_kernels_conv.c) for any C, with the copies above; padded taps get the input
 * zero point. */
static TOR_HOT void gather_bytes(const int8_t *in, int32_t H, int32_t W, int32_t C, int32_t KH, int32_t KW, int32_t y0,
                         int32_t x0, const tor_conv_params *p, int8_t *d) {
  const int8_t zp = (int8_t)(-p->input_offset);
  for (int32_t fy = 0; fy < KH; fy++) {
    const int32_t iy = y0 + fy * p->dilation_h;
    if (iy < 0 || iy >= H) {
      d = fill_bytes(d, zp, KW * C);
      continue;
    }
    const int8_t *row = in + iy * W * C;
    if (p->dilation_w == 1) {
      const int32_t lo = tap_lo(x0, KW), hi = tap_hi(x0, KW, W, lo);
      d = fill_bytes(d, zp, lo * C);
      d = copy_run(d, row + (x0 + lo) * C, (hi - lo) * C);
      d = fill_bytes(d, zp, (KW - hi) * C);
      continue;
    }
    for (int32_t fx = 0; fx < KW; fx++) {
      const int32_t ix = x0 + fx * p->dilation_w;
      d = ix < 0 || ix >= W ? fill_bytes(d, zp, C) : copy_run(d, row + ix * C, C);
    }
  }
}

/* For `pairs` (<= 16) pairs of filter rows from w (rows K bytes apart, read 4 bytes per
 * group, any alignment): acc[2j..2j+1] = be[2j..2j+1] + the dots of pixel 0 with rows 2j,
 * 2j+1, acc[32 + 2j..] the same for pixel 1, over `groups` >= 1 groups of col. Per group:
 * one LDM of the four column words, then per row LDR + 2 SXTB16 + 4 SMLAD: 15 instructions
 * per 16 MACs. The loop is unrolled 4 times and entered at step (-groups) & 3 (each step is
 * 60 bytes of 32-bit instructions). All 14 registers are live in the loop, so this is a
 * whole asm function. */
void tor_mat2x2(const uint32_t *col, const int8_t *w, int32_t K, int32_t groups, const int32_t *be, int32_t *acc,
                int32_t pairs);
#define TOR_MAT_STEP                 \
  "ldm.w r0!, {r8-r11}\n\t"          \
  "ldr.w r12, [r1, r2]\n\t"          \
  "sxtb16 lr, r12, ror #8\n\t"       \
  "sxtb16 r12, r12\n\t"              \
  "smlad r5, r8, r12, r5\n\t"        \
  "smlad r5, r9, lr, r5\n\t"         \
  "smlad r7, r10, r12, r7\n\t"       \
  "smlad r7, r11, lr, r7\n\t"        \
  "ldr.w r12, [r1], #4\n\t"          \
  "sxtb16 lr, r12, ror #8\n\t"       \
  "sxtb16 r12, r12\n\t"              \
  "smlad r4, r8, r12, r4\n\t"        \
  "smlad r4, r9, lr, r4\n\t"         \
  "smlad r6, r10, r12, r6\n\t"       \
  "smlad r6, r11, lr, r6\n\t"
__asm__(".section .text.tor_mat2x2,\"ax\",%progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".align 2\n\t"
        ".global tor_mat2x2\n\t"
        ".hidden tor_mat2x2\n\t"
        ".type tor_mat2x2, %function\n\t"
        ".thumb_func\n"
        "tor_mat2x2:\n\t"
        "push {r4-r11, lr}\n\t"
        /* [sp] = 2K - 4 groups, #4 = column bytes, #8 = acc, #12 = acc end, #16 = be, #20 =
         * loop entry; stack arguments: be #60, acc #64, pairs #68 */
        "sub sp, sp, #24\n\t"
        "lsl r12, r3, #4\n\t"
        "lsl lr, r2, #1\n\t"
        "sub lr, lr, r12, lsr #2\n\t"
        "strd lr, r12, [sp]\n\t"
        "ldrd r4, r5, [sp, #64]\n\t"
        "add r5, r4, r5, lsl #3\n\t"
        "strd r4, r5, [sp, #8]\n\t"
        "ldr r4, [sp, #60]\n\t"
        "rsb lr, r3, #0\n\t"
        "and lr, lr, #3\n\t"
        "movs r5, #60\n\t"
        "mul lr, lr, r5\n\t"
        "adr r5, 2f\n\t"
        "add lr, lr, r5\n\t"
        "orr lr, lr, #1\n\t"
        "strd r4, lr, [sp, #16]\n\t"
        "add r3, r0, r12\n" /* end of the column */
        "1:\n\t"
        "ldrd r8, r9, [sp, #16]\n\t"
        "ldrd r4, r5, [r8], #8\n\t"
        "str r8, [sp, #16]\n\t"
        "mov r6, r4\n\t"
        "mov r7, r5\n\t"
        "bx r9\n\t"
        ".align 2\n"
        "2:\n\t" TOR_MAT_STEP TOR_MAT_STEP TOR_MAT_STEP TOR_MAT_STEP
        "cmp r0, r3\n\t"
        "bcc 2b\n\t"
        "ldm sp, {r8-r11}\n\t"
        "sub r0, r3, r9\n\t"   /* back to the column's start */
        "add r1, r1, r8\n\t"   /* to the next pair's first row */
        "strd r6, r7, [r10, #128]\n\t"
        "strd r4, r5, [r10], #8\n\t"
        "str r10, [sp, #8]\n\t"
        "cmp r10, r11\n\t"
        "bne 1b\n\t"
        "add sp, sp, #24\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size tor_mat2x2, .-tor_mat2x2\n\t"
        ".text");

#include "tor_conv_wide.h"

/* One filter row against both pixels of col: *a += dot with pixel 0, *b with pixel 1. */
static void col_dot1(const uint32_t *col, const int8_t *w, int32_t groups, int32_t *a, int32_t *b) {
  int32_t s = *a, t = *b;
  for (int32_t g = 0; g < groups; g++, col += 4) {
    const uint32_t x = rd32(w + 4 * g);
    const uint32_t e = (uint32_t)EVEN(x), o = (uint32_t)ODD(x);
    s = __smlad(col[0], e, s);
    s = __smlad(col[1], o, s);
    t = __smlad(col[2], e, t);
    t = __smlad(col[3], o, t);
  }
  *a = s, *b = t;
}

/* Output pixels o0 and o1 (o1 may be 0: only pixel 0 is wanted) from col, channels [oc, end)
 * of the rows of K bytes at filt (or, when wq is not 0, widened there from row oc on, all but
 * the last end % 4 when end is OC): up to 32 channels per tor_mat2x2 call, the last rows past
 * a multiple of 4 one row at a time. */
static TOR_HOT void pixel_pair_cols(const uint32_t *col, const int8_t *filt, const uint32_t *wq, int32_t K, int32_t oc,
                            int32_t end, int8_t *o0, int8_t *o1, const requant_t *r) {
  const int32_t groups = (K + 3) >> 2;
  int32_t acc[64];
  const int32_t oc0 = oc;
  while (end - oc >= 4) {
    const int32_t n = end - oc >= 32 ? 32 : (end - oc) & ~3;
    const uint32_t *w = wq + (oc - oc0) * groups * 2;
    if (wq && groups <= TOR_WIDE_G) tor_mat2x2w(col, w, groups, r->bias_eff + oc, acc, n >> 1);
    else if (wq) tor_mat2x2v(col, w, groups, r->bias_eff + oc, acc, n >> 1);
    else tor_mat2x2(col, filt + oc * K, K, groups, r->bias_eff + oc, acc, n >> 1);
    rq_block(r, acc, oc, n, o0 + oc);
    if (o1) rq_block(r, acc + 32, oc, n, o1 + oc);
    oc += n;
  }
  for (; oc < end; oc++) {
    int32_t a = r->bias_eff[oc], b = a;
    col_dot1(col, filt + oc * K, groups, &a, &b);
    o0[oc] = requant(r, oc, a);
    if (o1) o1[oc] = requant(r, oc, b);
  }
}

/* The window at (y0, x0) into a pixel slot; win is room for K int8 taps, used when
 * C % 4 != 0 (the window is gathered there first). */
static TOR_HOT __attribute__((noinline)) void window_cols(const int8_t *in, int32_t H, int32_t W, int32_t C, int32_t KH,
                                                  int32_t KW, int32_t y0, int32_t x0, const tor_conv_params *p,
                                                  int8_t *win, uint32_t *slot) {
  if ((C & 3) == 0) {
    gather_cols(in, H, W, C, KH, KW, y0, x0, p, slot);
    return;
  }
  if (p->dilation_h == 1 && p->dilation_w == 1 && y0 >= 0 && y0 + KH <= H && x0 >= 0 && x0 + KW <= W)
    gather_inside(in + (y0 * W + x0) * C, W * C, KH, KW * C, win);
  else
    gather_bytes(in, H, W, C, KH, KW, y0, x0, p, win);
  widen_col(win, KH * KW * C, slot);
}

/* Bytes of scratch the column path needs for K taps: the widened pair, and (im2col) one
 * int8 window gathered before it is widened. */
#define TOR_COLS_BYTES(K) (16 * (((K) + 3) >> 2))
#define TOR_COLS_OK(col, bytes, need) ((col) && ((uintptr_t)(col) & 3) == 0 && (bytes) >= (need))

#endif
