/* CONV_2D on Cortex-M4, small filters (included once, by tor_conv_cols.h): the first
 * OC & ~3 filter rows are widened once per call into the scratch too, so the MAC loop
 * only loads and multiplies. */
#ifndef TOR_CONV_WIDE_H
#define TOR_CONV_WIDE_H

/* Filters whose rows are widened too (TOR_WIDE_BYTES of the
 * scratch, after the column; see lower.py): rows 2j, 2j+1 hold per group the four words
 *   wq[4g + 0..1] = SXTB16 / SXTB16 ROR 8 of row 2j's taps 4g..4g+3 (taps past K zero)
 *   wq[4g + 2..3]   the same for row 2j + 1
 * so tor_mat2x2w's step is two LDM and 8 SMLAD: 10 instructions per 16 MACs. */
#define TOR_WIDE_G 16
#define TOR_WIDE_BYTES(K, OC) (((OC) & ~3) * (((K) + 3) >> 2) * 8)

/* The first `rows` (even) rows of K bytes at filt widened into wq as above. */
static inline __attribute__((always_inline)) uint32_t *widen_pair(uint32_t a, uint32_t b, uint32_t *wq) {
  wq[0] = (uint32_t)EVEN(a), wq[1] = (uint32_t)ODD(a), wq[2] = (uint32_t)EVEN(b), wq[3] = (uint32_t)ODD(b);
  return wq + 4;
}

static void widen_filter(const int8_t *filt, int32_t K, int32_t rows, uint32_t *wq) {
  const int32_t K4 = K & ~3;
  const uint32_t mask = (1u << (8 * (K & 3))) - 1;
  for (int32_t j = 0; j < rows; j += 2, filt += 2 * K) {
    for (int32_t i = 0; i < K4; i += 4) wq = widen_pair(rd32(filt + i), rd32(filt + K + i), wq);
    if (K4 < K) wq = widen_pair(rd32(filt + K4) & mask, rd32(filt + K + K4) & mask, wq);
  }
}

/* tor_mat2x2 with widened rows wq (groups <= TOR_WIDE_G): the groups are unrolled in full,
 * entered at step TOR_WIDE_G - groups (40 bytes a step). acc layout as tor_mat2x2. */
void tor_mat2x2w(const uint32_t *col, const uint32_t *wq, int32_t groups, const int32_t *be, int32_t *acc,
                 int32_t pairs);
#define TOR_WIDE_STEP                \
  "ldm.w r0!, {r2, r3, r12, lr}\n\t" \
  "ldm.w r1!, {r8-r11}\n\t"          \
  "smlad r4, r2, r8, r4\n\t"         \
  "smlad r4, r3, r9, r4\n\t"         \
  "smlad r5, r2, r10, r5\n\t"        \
  "smlad r5, r3, r11, r5\n\t"        \
  "smlad r6, r12, r8, r6\n\t"        \
  "smlad r6, lr, r9, r6\n\t"         \
  "smlad r7, r12, r10, r7\n\t"       \
  "smlad r7, lr, r11, r7\n\t"
#define TOR_WIDE_STEP2 TOR_WIDE_STEP TOR_WIDE_STEP
__asm__(".section .text.tor_mat2x2w,\"ax\",%progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".align 2\n\t"
        ".global tor_mat2x2w\n\t"
        ".hidden tor_mat2x2w\n\t"
        ".type tor_mat2x2w, %function\n\t"
        ".thumb_func\n"
        "tor_mat2x2w:\n\t"
        "push {r4-r11, lr}\n\t"
        /* [sp] = column, #4 = be, #8 = acc, #12 = acc end, #16 = entry; stack arguments:
         * acc #60, pairs #64 */
        "sub sp, sp, #24\n\t"
        "strd r0, r3, [sp]\n\t"
        "ldrd r4, r5, [sp, #60]\n\t"
        "add r5, r4, r5, lsl #3\n\t"
        "strd r4, r5, [sp, #8]\n\t"
        "rsb r2, r2, #16\n\t" /* TOR_WIDE_G */
        "movs r5, #40\n\t"
        "mul r2, r2, r5\n\t"
        "adr r5, 2f\n\t"
        "add r2, r2, r5\n\t"
        "orr r2, r2, #1\n\t"
        "str r2, [sp, #16]\n"
        "1:\n\t"
        "ldrd r0, r8, [sp]\n\t"
        "ldrd r4, r5, [r8], #8\n\t"
        "str r8, [sp, #4]\n\t"
        "mov r6, r4\n\t"
        "mov r7, r5\n\t"
        "ldr r9, [sp, #16]\n\t"
        "bx r9\n\t"
        ".align 2\n"
        "2:\n\t" TOR_WIDE_STEP2 TOR_WIDE_STEP2 TOR_WIDE_STEP2 TOR_WIDE_STEP2 TOR_WIDE_STEP2 TOR_WIDE_STEP2
            TOR_WIDE_STEP2 TOR_WIDE_STEP2
        "ldrd r8, r9, [sp, #8]\n\t"
        "strd r6, r7, [r8, #128]\n\t"
        "strd r4, r5, [r8], #8\n\t"
        "str r8, [sp, #8]\n\t"
        "cmp r8, r9\n\t"
        "bne 1b\n\t"
        "add sp, sp, #24\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size tor_mat2x2w, .-tor_mat2x2w\n\t"
        ".text");

/* tor_mat2x2w for any groups (> TOR_WIDE_G): each row's two words loaded on their own, so a
 * register holds the column's end; 11 instructions per 16 MACs, unrolled 4 times and
 * entered at step (-groups) & 3 (44 bytes a step). */
void tor_mat2x2v(const uint32_t *col, const uint32_t *wq, int32_t groups, const int32_t *be, int32_t *acc,
                 int32_t pairs);
#define TOR_WIDE_STEP1               \
  "ldm.w r0!, {r2, r3, r12, lr}\n\t" \
  "ldm.w r1!, {r8, r9}\n\t"          \
  "smlad r4, r2, r8, r4\n\t"         \
  "smlad r4, r3, r9, r4\n\t"         \
  "smlad r6, r12, r8, r6\n\t"        \
  "smlad r6, lr, r9, r6\n\t"         \
  "ldm.w r1!, {r8, r9}\n\t"          \
  "smlad r5, r2, r8, r5\n\t"         \
  "smlad r5, r3, r9, r5\n\t"         \
  "smlad r7, r12, r8, r7\n\t"        \
  "smlad r7, lr, r9, r7\n\t"
__asm__(".section .text.tor_mat2x2v,\"ax\",%progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".align 2\n\t"
        ".global tor_mat2x2v\n\t"
        ".hidden tor_mat2x2v\n\t"
        ".type tor_mat2x2v, %function\n\t"
        ".thumb_func\n"
        "tor_mat2x2v:\n\t"
        "push {r4-r11, lr}\n\t"
        /* [sp] = column, #4 = be, #8 = acc, #12 = acc end; r10 = column end, r11 = entry;
         * stack arguments: acc #52, pairs #56 */
        "sub sp, sp, #16\n\t"
        "strd r0, r3, [sp]\n\t"
        "ldrd r4, r5, [sp, #52]\n\t"
        "add r5, r4, r5, lsl #3\n\t"
        "strd r4, r5, [sp, #8]\n\t"
        "add r10, r0, r2, lsl #4\n\t"
        "rsb r2, r2, #0\n\t"
        "and r2, r2, #3\n\t"
        "movs r5, #44\n\t"
        "mul r2, r2, r5\n\t"
        "adr r11, 2f\n\t"
        "add r11, r11, r2\n\t"
        "orr r11, r11, #1\n"
        "1:\n\t"
        "ldrd r0, r8, [sp]\n\t"
        "ldrd r4, r5, [r8], #8\n\t"
        "str r8, [sp, #4]\n\t"
        "mov r6, r4\n\t"
        "mov r7, r5\n\t"
        "bx r11\n\t"
        ".align 2\n"
        "2:\n\t" TOR_WIDE_STEP1 TOR_WIDE_STEP1 TOR_WIDE_STEP1 TOR_WIDE_STEP1
        "cmp r0, r10\n\t"
        "bcc 2b\n\t"
        "ldrd r8, r9, [sp, #8]\n\t"
        "strd r6, r7, [r8, #128]\n\t"
        "strd r4, r5, [r8], #8\n\t"
        "str r8, [sp, #8]\n\t"
        "cmp r8, r9\n\t"
        "bne 1b\n\t"
        "add sp, sp, #16\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size tor_mat2x2v, .-tor_mat2x2v\n\t"
        ".text");

/* The filter widened at col + at (a multiple of 4), as many rows as the scratch has room
 * for (a multiple of 4, at most OC & ~3) in *rows; 0 when that is neither all of them nor
 * min_rows. With ready, a widening of all rows by an earlier call is still there. */
static uint32_t *wide_filter(int8_t *col, int32_t bytes, int32_t at, const int8_t *filt, int32_t K, int32_t OC,
                             int32_t min_rows, int32_t *rows, int32_t ready) {
  const int32_t row = TOR_WIDE_BYTES(K, 4) >> 2, all = OC & ~3;
  int32_t n = bytes > at ? ((bytes - at) / row) & ~3 : 0;
  n = n < all ? n : all;
  if (n < 4 || (n < all && n < min_rows)) return 0;
  uint32_t *wq = (uint32_t *)(void *)(col + at);
  if (!ready || n < all) widen_filter(filt, K, n, wq);
  *rows = n;
  return wq;
}

#endif
