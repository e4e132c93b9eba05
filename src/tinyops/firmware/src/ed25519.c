/* Ed25519 verification after TweetNaCl (Bernstein et al., public domain):
 * field elements are 16 limbs of 16 bits in int64, points extended (X:Y:Z:T). */
#include "ed25519.h"

#include <string.h>

#include "sha512.h"

typedef int64_t gf[16];

static const gf GF0 = {0}, GF1 = {1};
static const gf D2 = {0xf159, 0x26b2, 0x9b94, 0xebd6, 0xb156, 0x8283, 0x149a, 0x00e0,
                      0xd130, 0xeef3, 0x80f2, 0x198e, 0xfce7, 0x56df, 0xd9dc, 0x2406};
static const gf D = {0x78a3, 0x1359, 0x4dca, 0x75eb, 0xd8ab, 0x4141, 0x0a4d, 0x0070,
                     0xe898, 0x7779, 0x4079, 0x8cc7, 0xfe73, 0x2b6f, 0x6cee, 0x5203};
static const gf BX = {0xd51a, 0x8f25, 0x2d60, 0xc956, 0xa7b2, 0x9525, 0xc760, 0x692c,
                      0xdc5c, 0xfdd6, 0xe231, 0xc0a4, 0x53fe, 0xcd6e, 0x36d3, 0x2169};
static const gf BY = {0x6658, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666,
                      0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666};
static const gf SQRTM1 = {0xa0b0, 0x4a0e, 0x1b27, 0xc4ee, 0xe478, 0xad2f, 0x1806, 0x2f43,
                          0xd7a7, 0x3dfb, 0x0099, 0x2b4d, 0xdf0b, 0x4fc1, 0x2480, 0x2b83};
/* The group order L, little endian. */
static const int64_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                              0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};

static void set(gf r, const gf a) { memcpy(r, a, sizeof(gf)); }

static void carry(gf o) {
  int i;
  for (i = 0; i < 16; i++) {
    int64_t c;
    o[i] += (int64_t)1 << 16;
    c = o[i] >> 16;
    if (i < 15) o[i + 1] += c - 1;
    else o[0] += 38 * (c - 1);
    o[i] -= c * 65536;
  }
}

static void cswap_f(gf p, gf q, int b) { /* swap p, q when b == 1 */
  int64_t c = ~((int64_t)b - 1), t;
  int i;
  for (i = 0; i < 16; i++) {
    t = c & (p[i] ^ q[i]);
    p[i] ^= t;
    q[i] ^= t;
  }
}

static void pack(uint8_t o[32], const gf n) {
  gf m, t;
  int i, j, b;
  set(t, n);
  carry(t);
  carry(t);
  carry(t);
  for (j = 0; j < 2; j++) {
    m[0] = t[0] - 0xffed;
    for (i = 1; i < 15; i++) {
      m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
      m[i - 1] &= 0xffff;
    }
    m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
    b = (int)((m[15] >> 16) & 1);
    m[14] &= 0xffff;
    cswap_f(t, m, 1 - b);
  }
  for (i = 0; i < 16; i++) {
    o[2 * i] = (uint8_t)(t[i] & 0xff);
    o[2 * i + 1] = (uint8_t)((t[i] >> 8) & 0xff);
  }
}

static int differ(const gf a, const gf b) {
  uint8_t c[32], d[32];
  pack(c, a);
  pack(d, b);
  return memcmp(c, d, 32) != 0;
}

static int parity(const gf a) {
  uint8_t d[32];
  pack(d, a);
  return d[0] & 1;
}

static void unpack(gf o, const uint8_t n[32]) {
  int i;
  for (i = 0; i < 16; i++) o[i] = n[2 * i] + ((int64_t)n[2 * i + 1] << 8);
  o[15] &= 0x7fff;
}

static void add_f(gf o, const gf a, const gf b) {
  int i;
  for (i = 0; i < 16; i++) o[i] = a[i] + b[i];
}

static void sub_f(gf o, const gf a, const gf b) {
  int i;
  for (i = 0; i < 16; i++) o[i] = a[i] - b[i];
}

static void mul_f(gf o, const gf a, const gf b) {
  int64_t t[31];
  int i, j;
  memset(t, 0, sizeof t);
  for (i = 0; i < 16; i++)
    for (j = 0; j < 16; j++) t[i + j] += a[i] * b[j];
  for (i = 0; i < 15; i++) t[i] += 38 * t[i + 16];
  for (i = 0; i < 16; i++) o[i] = t[i];
  carry(o);
  carry(o);
}

static void pow2523(gf o, const gf i) { /* i^((p-5)/8) */
  gf c;
  int a;
  set(c, i);
  for (a = 250; a >= 0; a--) {
    mul_f(c, c, c);
    if (a != 1) mul_f(c, c, i);
  }
  set(o, c);
}

static void invert(gf o, const gf i) {
  gf c;
  int a;
  set(c, i);
  for (a = 253; a >= 0; a--) {
    mul_f(c, c, c);
    if (a != 2 && a != 4) mul_f(c, c, i);
  }
  set(o, c);
}

static void point_add(gf p[4], gf q[4]) {
  gf a, b, c, d, t, e, f, g, h;
  sub_f(a, p[1], p[0]);
  sub_f(t, q[1], q[0]);
  mul_f(a, a, t);
  add_f(b, p[0], p[1]);
  add_f(t, q[0], q[1]);
  mul_f(b, b, t);
  mul_f(c, p[3], q[3]);
  mul_f(c, c, D2);
  mul_f(d, p[2], q[2]);
  add_f(d, d, d);
  sub_f(e, b, a);
  sub_f(f, d, c);
  add_f(g, d, c);
  add_f(h, b, a);
  mul_f(p[0], e, f);
  mul_f(p[1], h, g);
  mul_f(p[2], g, f);
  mul_f(p[3], e, h);
}

static void point_swap(gf p[4], gf q[4], int b) {
  int i;
  for (i = 0; i < 4; i++) cswap_f(p[i], q[i], b);
}

static void point_pack(uint8_t r[32], gf p[4]) {
  gf tx, ty, zi;
  invert(zi, p[2]);
  mul_f(tx, p[0], zi);
  mul_f(ty, p[1], zi);
  pack(r, ty);
  r[31] ^= (uint8_t)(parity(tx) << 7);
}

static void scalarmult(gf p[4], gf q[4], const uint8_t s[32]) {
  int i;
  set(p[0], GF0);
  set(p[1], GF1);
  set(p[2], GF1);
  set(p[3], GF0);
  for (i = 255; i >= 0; --i) {
    int b = (s[i / 8] >> (i & 7)) & 1;
    point_swap(p, q, b);
    point_add(q, p);
    point_add(p, p);
    point_swap(p, q, b);
  }
}

/* r = x mod L, x given as 64 little-endian bytes in int64 limbs. */
static void mod_l(uint8_t r[32], int64_t x[64]) {
  int64_t c;
  int i, j;
  for (i = 63; i >= 32; --i) {
    c = 0;
    for (j = i - 32; j < i - 12; ++j) {
      x[j] += c - 16 * x[i] * L[j - (i - 32)];
      c = (x[j] + 128) >> 8;
      x[j] -= c * 256;
    }
    x[j] += c;
    x[i] = 0;
  }
  c = 0;
  for (j = 0; j < 32; j++) {
    x[j] += c - (x[31] >> 4) * L[j];
    c = x[j] >> 8;
    x[j] &= 255;
  }
  for (j = 0; j < 32; j++) x[j] -= c * L[j];
  for (i = 0; i < 32; i++) {
    x[i + 1] += x[i] >> 8;
    r[i] = (uint8_t)(x[i] & 255);
  }
}

/* -A from its encoding; -1 if it is not a point. */
static int unpack_neg(gf r[4], const uint8_t p[32]) {
  gf t, chk, num, den, den2, den4, den6;
  set(r[2], GF1);
  unpack(r[1], p);
  mul_f(num, r[1], r[1]);
  mul_f(den, num, D);
  sub_f(num, num, r[2]);
  add_f(den, r[2], den);
  mul_f(den2, den, den);
  mul_f(den4, den2, den2);
  mul_f(den6, den4, den2);
  mul_f(t, den6, num);
  mul_f(t, t, den);
  pow2523(t, t);
  mul_f(t, t, num);
  mul_f(t, t, den);
  mul_f(t, t, den);
  mul_f(r[0], t, den);
  mul_f(chk, r[0], r[0]);
  mul_f(chk, chk, den);
  if (differ(chk, num)) mul_f(r[0], r[0], SQRTM1);
  mul_f(chk, r[0], r[0]);
  mul_f(chk, chk, den);
  if (differ(chk, num)) return -1;
  if (parity(r[0]) == (p[31] >> 7)) sub_f(r[0], GF0, r[0]);
  mul_f(r[3], r[0], r[1]);
  return 0;
}

static int below_l(const uint8_t s[32]) { /* RFC 8032: S must be < L */
  int i;
  for (i = 31; i >= 0; i--) {
    if (s[i] < L[i]) return 1;
    if (s[i] > L[i]) return 0;
  }
  return 0;
}

int fw_ed25519_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *prefix, uint32_t prefix_len,
                      const uint8_t *msg, uint32_t msg_len) {
  /* Static: ~1 KB of points off the stack (small boards); verification is not reentrant. */
  static gf p[4], q[4];
  static int64_t x[64];
  uint8_t h[64], k[32], t[32];
  fw_sha512 s;
  int i;
  if (!below_l(sig + 32) || unpack_neg(q, pk)) return -1;
  fw_sha512_init(&s);
  fw_sha512_update(&s, sig, 32);
  fw_sha512_update(&s, pk, 32);
  if (prefix_len) fw_sha512_update(&s, prefix, prefix_len);
  if (msg_len) fw_sha512_update(&s, msg, msg_len);
  fw_sha512_final(&s, h);
  for (i = 0; i < 64; i++) x[i] = h[i];
  mod_l(k, x);
  scalarmult(p, q, k); /* p = -hA */
  set(q[0], BX);
  set(q[1], BY);
  set(q[2], GF1);
  mul_f(q[3], BX, BY);
  {
    static gf r[4];
    scalarmult(r, q, sig + 32); /* r = sB */
    point_add(p, r);
  }
  point_pack(t, p);
  return memcmp(t, sig, 32) == 0 ? 0 : -1;
}
