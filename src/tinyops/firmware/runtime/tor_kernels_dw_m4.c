/* DEPTHWISE_CONV_2D on DSP cores (Cortex-M4 and up): 3x3 and 5x5 kernels with depth
 * multiplier 1 and requantization on rq4's fast path. Weights are pre-widened into the SMLAD
 * lane order once per call (on the stack), then one asm routine runs a run of output pixels,
 * each over every 4-channel group of a chunk, and requantizes each group in registers.
 * Bit-exact with TFLM's reference_integer_ops kernel (see tor_conv_common.h). */
#define TOR_HOT_FILE 1 /* optimised for speed in -Os builds too (tor_conv_common.h) */
#include "tor_conv_common.h"

#if defined(__ARM_FEATURE_DSP)
/* Taps go in pairs: the two tap words are packed with PKHBT/PKHTB so each SXTB16 yields one
 * channel's two taps, and one SMLAD does both MACs. Per group the stream holds 2 * bias_eff[4],
 * then per tap pair {offset of tap 2j, 4 weight words (channel i: 2 * tap 2j in the low half,
 * 2 * tap 2j+1 in the high half), offset of tap 2j+1} (one LDM), then {offset, [w2|w0], [w3|w1]}
 * (doubled) of the last tap, then {m_i, e_i, (2 * output_offset + 1) << e_i} (e = -shift - 1) of
 * channels 0 and 1, the number of groups after this one, the same of channels 2 and 3. The
 * doubled weights give 2 * acc, which DW_RQ's SMMLAR takes. An interior pixel reads tap k
 * at p + offset (the offsets include the group's 4 * g); a clipped one (dw_edge*) reads
 * p + tab[k] instead, p stepping 4 per group, padded taps pointing at the zero-point row:
 * tab[k] = bit k of mask ? z : full[k], made on entry. The frame holds the first 8 words of
 * a dw_ctl (and the edge variants tab[K] after them). */
typedef struct {
  int32_t unused;         /* 0 */
  int32_t z;              /* 4: the zero-point row - p (edge variants) */
  uint32_t lo4, hi4;      /* 8, 12: activation range per byte lane */
  int32_t pstep, oskip;   /* 16, 20: added to p and out after each pixel */
  const uint32_t *ws;     /* 24: the stream, again for the next pixel */
  int8_t *oend;           /* 28: the run ends when out reaches it */
  const int32_t *full;    /* 32: the taps' offsets (edge variants) */
  uint32_t mask;          /* 36: bit k: tap k is outside the input (edge variants) */
} dw_ctl;

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
#define DW_T2(o) "ldrd r3, r12, [sp, #32 + " #o "]\n\t"
#define DW_T1(o) "ldr r3, [sp, #32 + " #o "]\n\t"
#define DW_P4(a, b, c, d) DW_PAIR(a) DW_PAIR(b) DW_PAIR(c) DW_PAIR(d)
/* rq_pair's lane on a doubled accumulator a, in four instructions: with k = off2 << e,
 * (x + (x < 0 ? -1 : 0)) >> e + off2 = (x + (x < 0 ? -1 : 0) + k) >> e, and SMMLAR adds its
 * accumulator to SMMULR's result. The sign of a stands for that of x = SMMULR(a, m): they
 * differ only when x = 0 > a, and then both give off ((off2 - 1) >> 1 = off2 >> 1). With
 * |x| <= 2^30 and |k| < 2^29 (e <= 21, checked) nothing wraps. */
#define DW_RQ(a, m, e, k, t)                                                              \
  "add " t ", " k ", " a ", asr #31\n\tsmmlar " a ", " a ", " m ", " t "\n\tasr " a ", " a ", " e \
  "\n\tssat " a ", #8, " a ", asr #1\n\t"
/* lanes 0 and 1, then r3 = the groups left after this one, lanes 2 and 3 */
#define DW_RQ4                                                                                          \
  "ldmia r1!, {r8-r12, lr}\n\t" DW_RQ("r4", "r8", "r9", "r10", "r3") DW_RQ("r5", "r11", "r12", "lr", "r3") \
  "bfi r4, r5, #8, #8\n\tldmia r1!, {r3, r8-r12, lr}\n\t" DW_RQ("r6", "r8", "r9", "r10", "r5")           \
  DW_RQ("r7", "r11", "r12", "lr", "r5") "bfi r6, r7, #8, #8\n\tpkhbt r4, r4, r6, lsl #16\n\t"
#define DW_CLAMP "ldrd r8, r9, [sp, #8]\n\tssub8 r10, r4, r8\n\tsel r4, r4, r8\n\tssub8 r10, r4, r9\n\tsel r4, r9, r4\n\t"
#define DW_ENTER "push {r4-r11, lr}\n\tldmia r3, {r4-r11}\n\tpush {r4-r11}\n\t1:\n\t2:\n\tldmia r1!, {r4-r7}\n\t"
#define DW_ENTER_TAB(bytes, taps)                                                   \
  "push {r4-r11, lr}\n\tsub sp, sp, #" #bytes "\n\tmov r12, sp\n\tldmia r3!, {r4-r11}\n\t" \
  "stmia r12!, {r4-r11}\n\tldmia r3, {r6, r7}\n\t" taps "1:\n\t2:\n\tldmia r1!, {r4-r7}\n\t"
/* tab: full's offsets copied (r6 full, r12 the frame's tab), then z (r5) stored at each bit
 * of the mask (r7, never 0: a clipped window has a tap outside), lowest first */
#define DW_COPY6 "ldmia r6!, {r3, r4, r8-r11}\n\tstmia r12!, {r3, r4, r8-r11}\n\t"
#define DW_PATCH                                                                              \
  "add r12, sp, #32\n\t3:\n\trbit r8, r7\n\tclz r8, r8\n\tstr r5, [r12, r8, lsl #2]\n\t" \
  "sub r9, r7, #1\n\tands r7, r7, r9\n\tbne 3b\n\t"
/* the group's word out; next group, else next pixel, else return */
#define DW_LEAVE(step, bytes)                                                       \
  "str r4, [r2], #4\n\t" step "cmp r3, #0\n\tbne 2b\n\t"                                \
  "ldrd r3, r12, [sp, #16]\n\tadd r0, r0, r3\n\tadd r2, r2, r12\n\t"                  \
  "ldrd r1, r12, [sp, #24]\n\tcmp r2, r12\n\tbne 1b\n\t"                              \
  "add sp, sp, #" #bytes "\n\tpop {r4-r11, pc}\n\t"
#define DW_STEP "adds r0, r0, #4\n\t"
#define DW_IN9 DW_P4("", "", "", "") DW_LAST("")
#define DW_IN25 DW_P4("", "", "", "") DW_P4("", "", "", "") DW_P4("", "", "", "") DW_LAST("")
#define DW_EDGE9 DW_P4(DW_T2(0), DW_T2(8), DW_T2(16), DW_T2(24)) DW_LAST(DW_T1(32))
#define DW_EDGE25                                                                                   \
  DW_P4(DW_T2(0), DW_T2(8), DW_T2(16), DW_T2(24)) DW_P4(DW_T2(32), DW_T2(40), DW_T2(48), DW_T2(56)) \
  DW_P4(DW_T2(64), DW_T2(72), DW_T2(80), DW_T2(88)) DW_LAST(DW_T1(96))
#define DW_C9 DW_COPY6 "ldmia r6, {r3, r4, r8}\n\tstmia r12, {r3, r4, r8}\n\t" DW_PATCH
#define DW_C25 DW_COPY6 DW_COPY6 DW_COPY6 DW_COPY6 "ldr r3, [r6]\n\tstr r3, [r12]\n\t" DW_PATCH

typedef void dw_fn(const int8_t *p, const uint32_t *ws, int8_t *out, const dw_ctl *ctl);
#define DW_U __attribute__((unused))
#define DW_FN(name, body)                                                                               \
  static __attribute__((naked, noinline, noipa)) void name(const int8_t *p DW_U, const uint32_t *ws DW_U, \
                                                            int8_t *out DW_U, const dw_ctl *ctl DW_U) {   \
    __asm__ volatile(body);                                                                             \
  }
DW_FN(dw_in9, DW_ENTER DW_IN9 DW_RQ4 DW_LEAVE("", 32))
DW_FN(dw_in9c, DW_ENTER DW_IN9 DW_RQ4 DW_CLAMP DW_LEAVE("", 32))
DW_FN(dw_in25c, DW_ENTER DW_IN25 DW_RQ4 DW_CLAMP DW_LEAVE("", 32))
DW_FN(dw_edge9, DW_ENTER_TAB(68, DW_C9) DW_EDGE9 DW_RQ4 DW_LEAVE(DW_STEP, 68))
DW_FN(dw_edge9c, DW_ENTER_TAB(68, DW_C9) DW_EDGE9 DW_RQ4 DW_CLAMP DW_LEAVE(DW_STEP, 68))
DW_FN(dw_edge25c, DW_ENTER_TAB(132, DW_C25) DW_EDGE25 DW_RQ4 DW_CLAMP DW_LEAVE(DW_STEP, 132))

#define TOR_DW_WS_WORDS 704 /* stack stream: 16 groups of a 3x3 kernel (64 channels), 7 of a 5x5 */

/* The stream of groups [g0, g0 + ng) (see above); off[k]: tap k's offset in group g0. Per tap
 * pair the two words are widened with SXTB16 (bytes 0 and 2, then 1 and 3), their lanes
 * interleaved with PKHBT / PKHTB and doubled with SADD16: 20 instructions, one STM. The
 * frame holds a dw_pk and the OR of every e + 10, returned: above 31 when an e exceeds 21. */
typedef struct {
  const int8_t *f;            /* 0: the first group's filter bytes (plus d: the group's) */
  const int32_t *be, *m, *sh; /* 4, 8, 12: its bias_eff, multipliers and shifts */
  int32_t ng, C;              /* 16, 20: groups left, channels */
  const int32_t *off;         /* 24 */
  int32_t pairs, off2, d;     /* 28, 32, 36: K / 2, 2 * output_offset + 1, 4 * (g - g0) */
} dw_pk;
#define DW_PK_RQ                                                                                   \
  "ldr r4, [r2], #4\n\tldr r5, [r3], #4\n\tmvn r5, r5\n\tlsl r6, r12, r5\n\tstmia r1!, {r4-r6}\n\t" \
  "add r7, r5, #10\n\torr r11, r11, r7\n\t"
#define DW_PK_PAIR                                                                                           \
  "ldr r10, [r3]\n\tldr r11, [r3, r12]\n\tadd r3, r3, r12, lsl #1\n\t"                                       \
  "sxtb16 r4, r10, ror #8\n\tsxtb16 r8, r11, ror #8\n\tpkhbt r6, r4, r8, lsl #16\n\tpkhtb r8, r8, r4, asr #16\n\t" \
  "sxtb16 r4, r10\n\tsxtb16 r7, r11\n\tpkhbt r5, r4, r7, lsl #16\n\tpkhtb r7, r7, r4, asr #16\n\t"           \
  "sadd16 r5, r5, r5\n\tsadd16 r6, r6, r6\n\tsadd16 r7, r7, r7\n\tsadd16 r8, r8, r8\n\t"                     \
  "ldmia r2!, {r4, r9}\n\tadd r4, r4, lr\n\tadd r9, r9, lr\n\tstmia r1!, {r4-r9}\n\t"
static __attribute__((naked, noinline, noipa)) uint32_t dw_pack_asm(uint32_t *ws DW_U, const dw_pk *a DW_U) {
  __asm__ volatile(
      "push {r4-r11, lr}\n\tsub sp, sp, #44\n\tldmia r1, {r2-r11}\n\tmov r12, sp\n\tstmia r12, {r2-r11}\n\t"
      "movs r2, #0\n\tstr r2, [sp, #40]\n\tmov r1, r0\n\t"
      "1:\n\tldr r3, [sp, #4]\n\tldmia r3!, {r4-r7}\n\tstr r3, [sp, #4]\n\t" /* 2 * bias_eff */
      "lsls r4, r4, #1\n\tlsls r5, r5, #1\n\tlsls r6, r6, #1\n\tlsls r7, r7, #1\n\tstmia r1!, {r4-r7}\n\t"
      "ldr r3, [sp]\n\tldrd r12, r2, [sp, #20]\n\tldr r0, [sp, #28]\n\tldr lr, [sp, #36]\n\tadd r3, r3, lr\n\t"
      "2:\n\t" DW_PK_PAIR DW_PK_PAIR "subs r0, r0, #2\n\tbne 2b\n\t" /* tap pairs (4 or 12) */
      "ldr r10, [r3]\n\tldr r4, [r2]\n\tadd r4, r4, lr\n\tsxtb16 r5, r10\n\tsxtb16 r6, r10, ror #8\n\t" /* last */
      "sadd16 r5, r5, r5\n\tsadd16 r6, r6, r6\n\tstmia r1!, {r4-r6}\n\t"
      "ldrd r2, r3, [sp, #8]\n\tldr r12, [sp, #32]\n\tldr r11, [sp, #40]\n\t" DW_PK_RQ DW_PK_RQ
      "ldr r4, [sp, #16]\n\tsubs r4, r4, #1\n\tstr r4, [r1], #4\n\t" /* groups left, after this one */
      DW_PK_RQ DW_PK_RQ "strd r2, r3, [sp, #8]\n\tstr r11, [sp, #40]\n\t"
      "add lr, lr, #4\n\tstr lr, [sp, #36]\n\t"
      "ldr r3, [sp, #16]\n\tsubs r3, r3, #1\n\tstr r3, [sp, #16]\n\tbne 1b\n\t"
      "ldr r0, [sp, #40]\n\tadd sp, sp, #44\n\tpop {r4-r11, pc}\n\t");
}

/* 0 when a shift is below -22 (DW_RQ's k would not fit) */
static int dw_pack(const int8_t *filt, const requant_t *r, const int32_t *off, int32_t C, int32_t K, int32_t g0,
                   int32_t ng, uint32_t *ws) {
  const dw_pk a = {filt + 4 * g0, r->bias_eff + 4 * g0, r->mult + 4 * g0, r->shift + 4 * g0, ng, C, off, K / 2,
                   r->off2, 0};
  return dw_pack_asm(ws, &a) < 32;
}

/* Channels [4G, C) of n pixels from p (tap k at p + t[k], or the zero-point row z if bit k
 * of mask is set; pixel step ps) into o (step C). */
static void dw_tail(uintptr_t p, const int32_t *t, uint32_t mask, const int8_t *z, int32_t K, int32_t n,
                    int32_t ps, const int8_t *filt, int32_t C, int8_t *o, const requant_t *r) {
  for (int32_t j = 0; j < n; j++, p += (uintptr_t)ps, o += C)
    for (int32_t c = C & ~3; c < C; c++) {
      int32_t a = r->bias_eff[c];
      for (int32_t k = 0; k < K; k++) {
        const int8_t *x = mask >> k & 1u ? z : (const int8_t *)(p + (uintptr_t)t[k]);
        a += x[c] * filt[k * C + c];
      }
      o[c] = requant(r, c, a);
    }
}

/* Bit k set for the taps k of the columns outside [0, W) of a window at column x0. */
static uint32_t dw_colmask(int32_t x0, int32_t KH, int32_t KW, int32_t dil, int32_t W) {
  uint32_t cm = 0, m = 0;
  for (int32_t fx = 0, ix = x0; fx < KW; fx++, ix += dil) cm |= (uint32_t)((uint32_t)ix >= (uint32_t)W) << fx;
  for (int32_t fy = 0; fy < KH && cm; fy++) m |= cm << (fy * KW);
  return m;
}

#if defined(__GNUC__) && !defined(__clang__) && !defined(TOR_NO_O2_KERNELS)
#define TOR_DW_DRIVER __attribute__((optimize("Os"))) /* the per-call C: smaller than at O2, as fast */
#else
#define TOR_DW_DRIVER
#endif

TOR_DW_DRIVER int tor_dw_pairs(const tor_tensor *ti, const tor_tensor *tf, const tor_tensor *to, const int8_t *in,
                               const int8_t *filt, int8_t *out, const requant_t *r, const int8_t *zrow) {
  const tor_conv_params *p = r->p;
  const int32_t N = ti->dims[0], H = ti->dims[1], W = ti->dims[2], C = ti->dims[3];
  const int32_t KH = tf->dims[1], KW = tf->dims[2], K = KH * KW, OH = to->dims[1], OW = to->dims[2];
  const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dwl = p->dilation_w;
  if (p->depth_multiplier != 1 || (K != 9 && K != 25) || C < 4 || !r->fast) return 0;
  const int clipped = p->pad_h > 0 || p->pad_w > 0 || (OH - 1) * sh + (KH - 1) * dh >= H ||
                      (OW - 1) * sw + (KW - 1) * dwl >= W;
  if (clipped && !zrow) return 0;
  /* 5x5 kernels always clamp (for the range of all int8 too: one routine each, not two) */
  dw_fn *in_fn = K == 9 ? (r->full ? dw_in9 : dw_in9c) : dw_in25c;
  dw_fn *edge_fn = K == 9 ? (r->full ? dw_edge9 : dw_edge9c) : dw_edge25c;
  const int32_t G = C / 4, gw = 4 + 6 * (K / 2) + 3 + 13, chunk = TOR_DW_WS_WORDS / gw;
  uint32_t ws[TOR_DW_WS_WORDS];
  int32_t full[25];
  dw_ctl ctl;
  for (int32_t fy = 0, k = 0; fy < KH; fy++)
    for (int32_t fx = 0; fx < KW; fx++, k++) full[k] = (fy * dh * W + fx * dwl) * C;
  ctl.full = full, ctl.lo4 = r->lo4, ctl.hi4 = r->hi4, ctl.pstep = sw * C, ctl.ws = ws;
  /* interior columns: [xlo, xhi) */
  int32_t xlo = 0, xhi;
  while (xlo < OW && xlo * sw - p->pad_w < 0) xlo++;
  for (xhi = xlo; xhi < OW && xhi * sw - p->pad_w + (KW - 1) * dwl < W;) xhi++;
  uint32_t cml[4], cmr[4]; /* dw_colmask of columns 0..3 and xhi..xhi + 3 (those edge ones) */
  for (int32_t i = 0; i < 4; i++) {
    cml[i] = i < xlo ? dw_colmask(i * sw - p->pad_w, KH, KW, dwl, W) : 0;
    cmr[i] = xhi + i < OW ? dw_colmask((xhi + i) * sw - p->pad_w, KH, KW, dwl, W) : 0;
  }
  /* the first chunk's dw_pack checks its shifts before any output; the others' are checked here */
  for (int32_t c = 4 * chunk; c < (C & ~3); c++)
    if (r->shift[c] < -22) return 0;
  /* Rows in increasing order, each over all channel chunks; when the output does not overlap
   * the input and there is more than one chunk, chunks go outermost (each packed once). */
  const uintptr_t ib = (uintptr_t)in, ie = ib + (uintptr_t)(N * H * W * C);
  const uintptr_t ob = (uintptr_t)out, oe = ob + (uintptr_t)(N * OH * OW * C);
  const int32_t rows = N * OH, outer = G > chunk && (oe <= ib || ob >= ie) ? chunk : G;
  int32_t packed = -1;
  for (int32_t gc = 0; gc < G; gc += outer)
    for (int32_t row = 0; row < rows; row++) {
      const int32_t b = row / OH, oy = row % OH, y0 = oy * sh - p->pad_h;
      const int rin = y0 >= 0 && y0 + (KH - 1) * dh < H;
      uint32_t rmask = 0; /* the taps of rows outside the input */
      for (int32_t fy = 0, iy = y0; fy < KH && !rin; fy++, iy += dh)
        if ((uint32_t)iy >= (uint32_t)H) rmask |= ((1u << KW) - 1u) << (fy * KW);
      for (int32_t g0 = gc; g0 < G && g0 < gc + outer; g0 += chunk) {
        const int32_t ng = G - g0 < chunk ? G - g0 : chunk, c0 = 4 * g0, last = g0 + ng == G;
        if (packed != g0 && !dw_pack(filt, r, full, C, K, g0, ng, ws)) return 0;
        packed = g0;
        ctl.oskip = C - 4 * ng;
        for (int32_t ox = 0; ox < OW;) {
          const int32_t x0 = ox * sw - p->pad_w;
          const uintptr_t pb = (uintptr_t)in + (uintptr_t)(((b * H + y0) * W + x0) * C);
          int8_t *o = out + ((b * OH + oy) * OW + ox) * C;
          uint32_t mask = 0; /* a window off [xlo, xhi) or on a row of rmask has a bit set */
          int32_t n = 1;
          if (!rin || ox < xlo || ox >= xhi) {
            mask = rmask;
            if (ox < xlo || ox >= xhi)
              mask |= ox < xlo ? (ox < 4 ? cml[ox] : dw_colmask(x0, KH, KW, dwl, W))
                               : (ox - xhi < 4 ? cmr[ox - xhi] : dw_colmask(x0, KH, KW, dwl, W));
          }
          if (mask) {
            ctl.z = (int32_t)((uintptr_t)zrow - pb), ctl.mask = mask, ctl.oend = o + c0 + C;
            edge_fn((const int8_t *)(pb + (uintptr_t)c0), ws, o + c0, &ctl);
          } else {
            n = ox >= xlo && ox < xhi ? xhi - ox : 1;
            ctl.oend = o + c0 + n * C;
            in_fn((const int8_t *)(pb + (uintptr_t)c0), ws, o + c0, &ctl);
          }
          if (last && C % 4) dw_tail(pb, full, mask, zrow, K, n, sw * C, filt, C, o, r);
          ox += n;
        }
      }
    }
  return 1;
}
#endif
