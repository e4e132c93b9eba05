#include "tfs_steps.h"

#include <string.h>

static int32_t g_a[TFS_MAX_VALUES], g_b[TFS_MAX_VALUES];

static uint32_t rd32(const uint8_t *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
static int32_t rdi32(const uint8_t *b) { return (int32_t)rd32(b); }

static int32_t sat32(int64_t v) { return v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : (int32_t)v); }
static int64_t mul_shift(int64_t v, int32_t m, int32_t s) {
  return (v * m + (s > 0 ? (1LL << (s - 1)) : 0)) >> s;
}
static int64_t div_round(int64_t a, int64_t d) { return a >= 0 ? (a + d / 2) / d : -((-a + d / 2) / d); }
static uint64_t isqrt64(uint64_t v) {
  uint64_t r = 0, bit = 1ULL << 62;
  while (bit > v) bit >>= 2;
  while (bit) {
    if (v >= r + bit) {
      v -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return r;
}

static int check_shift(int32_t m, int32_t s) { return m >= 0 && m < (1 << 30) && s >= 0 && s <= 62; }

/* One step's shape change; 0 when its record is inconsistent. */
static int step_shape(const tfs_step *st, uint32_t len, uint32_t *rows, uint32_t cols, uint32_t in_rows,
                      uint32_t *windows, int first) {
  const uint8_t *b = st->body;
  uint32_t i;
  switch (st->kind) {
    case TFS_STANDARDIZE: {
      uint32_t n = len >= 4u ? rd32(b) : 0;
      if (n == 0 || len < 4u + 12u * n || (*rows * cols) % n != 0) return 0;
      for (i = 0; i < n; i++)
        if (!check_shift(rdi32(b + 4u + 4u * (n + i)), rdi32(b + 4u + 4u * (2u * n + i)))) return 0;
      return 1;
    }
    case TFS_CLIP_SCALE:
      return len >= 20u && rdi32(b) <= rdi32(b + 4) && check_shift(rdi32(b + 12), rdi32(b + 16));
    case TFS_FFT_BINS: {
      uint32_t t = len >= 4u ? rd16(b) : 0, nb = len >= 4u ? rd16(b + 2) : 0, off;
      if (t != *rows || t < 2u || nb == 0) return 0;
      off = (4u + 4u * t + 3u) & ~3u;
      if (len < off + 4u * nb) return 0;
      for (i = 0; i < nb; i++) {
        uint32_t f = rd16(b + off + 4u * i), c = rd16(b + off + 4u * i + 2u);
        if (c == 0 || f + c > t / 2u + 1u) return 0;
      }
      *rows = nb;
      return 1;
    }
    case TFS_SLIDING_WINDOW: {
      uint32_t size = len >= 4u ? rd16(b) : 0, stride = len >= 4u ? rd16(b + 2) : 0;
      if (!first || size == 0 || stride == 0 || size > in_rows) return 0;
      *windows = 1u + (in_rows - size) / stride;
      *rows = size;
      return 1;
    }
    default:
      return 0;
  }
}

int tfs_parse(tfs_pipeline *p, const uint8_t *b, uint32_t size) {
  uint32_t off = 48u, i, rows, windows = 1;
  if (!p || !b) return TFS_ERR_NULL;
  if (size < 48u) return TFS_ERR_SIZE;
  if (rd32(b) != TFS_MAGIC) return TFS_ERR_MAGIC;
  if (((uintptr_t)b & 3u) != 0) return TFS_ERR_PARAMS;
  memset(p, 0, sizeof *p);
  p->total_size = rd32(b + 4);
  p->n_steps = rd16(b + 8);
  p->rows = rd16(b + 12);
  p->cols = rd16(b + 14);
  p->windows = rd16(b + 16);
  p->out_rows = rd16(b + 18);
  p->out_cols = rd16(b + 20);
  p->q_mult = rdi32(b + 24);
  p->q_shift = rdi32(b + 28);
  p->q_zp = rdi32(b + 32);
  if (p->total_size > size || (p->total_size & 15u) || p->total_size < 48u) return TFS_ERR_SIZE;
  if (p->n_steps > TFS_MAX_STEPS || p->rows == 0 || p->cols == 0) return TFS_ERR_PARAMS;
  if (p->q_shift < 1 || p->q_shift > 62) return TFS_ERR_PARAMS;
  rows = p->rows;
  for (i = 0; i < p->n_steps; i++) {
    uint32_t len;
    if (off + 8u > p->total_size) return TFS_ERR_SIZE;
    len = rd32(b + off + 4);
    if (len < 8u || (len & 3u) || off + len > p->total_size) return TFS_ERR_SIZE;
    p->steps[i].kind = rd16(b + off);
    p->steps[i].flags = rd16(b + off + 2);
    p->steps[i].body = b + off + 8u;
    if (!step_shape(&p->steps[i], len - 8u, &rows, p->cols, p->rows, &windows, i == 0)) return TFS_ERR_PARAMS;
    if ((i > 0 || p->steps[0].kind != TFS_SLIDING_WINDOW) && rows * p->cols > TFS_MAX_VALUES) return TFS_ERR_PARAMS;
    off += len;
  }
  if ((uint32_t)p->rows * p->cols > TFS_MAX_VALUES && !(p->n_steps && p->steps[0].kind == TFS_SLIDING_WINDOW))
    return TFS_ERR_PARAMS;
  if (rows * p->cols > TFS_MAX_VALUES) return TFS_ERR_PARAMS;
  if (windows != p->windows || rows != p->out_rows || p->cols != p->out_cols) return TFS_ERR_PARAMS;
  return TFS_OK;
}

uint32_t tfs_input_bytes(const tfs_pipeline *p) { return (uint32_t)p->rows * p->cols * 2u; }
uint32_t tfs_windows(const tfs_pipeline *p) { return p->windows; }
uint32_t tfs_output_count(const tfs_pipeline *p) { return (uint32_t)p->out_rows * p->out_cols; }

static void standardize(const uint8_t *b, int32_t *x, uint32_t n) {
  uint32_t P = rd32(b), i, j = 0;
  const uint8_t *mean = b + 4, *mult = b + 4 + 4u * P, *shift = b + 4 + 8u * P;
  for (i = 0; i < n; i++) {
    x[i] = sat32(mul_shift((int64_t)x[i] - rdi32(mean + 4u * j), rdi32(mult + 4u * j), rdi32(shift + 4u * j)));
    if (++j == P) j = 0;
  }
}

static void clip_scale(const uint8_t *b, uint16_t flags, int32_t *x, uint32_t n) {
  int32_t lo = rdi32(b), hi = rdi32(b + 4), out_lo = rdi32(b + 8), m = rdi32(b + 12), s = rdi32(b + 16);
  uint32_t i;
  for (i = 0; i < n; i++) {
    int32_t c = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
    x[i] = (flags & 1u) ? sat32((int64_t)out_lo + mul_shift((int64_t)c - lo, m, s)) : c;
  }
}

/* |DFT| / T of each channel, averaged over bands: from x (t x cols) into y (n_bins x cols). */
static void fft_bins(const uint8_t *b, const int32_t *x, int32_t *y, uint32_t cols) {
  uint32_t t = rd16(b), nb = rd16(b + 2), off = (4u + 4u * t + 3u) & ~3u, c, band, k, n;
  const uint8_t *cs = b + 4, *sn = b + 4 + 2u * t;
  int64_t d = (int64_t)t * 32768;
  for (c = 0; c < cols; c++) {
    for (band = 0; band < nb; band++) {
      uint32_t first = rd16(b + off + 4u * band), count = rd16(b + off + 4u * band + 2u);
      int64_t sum = 0;
      for (k = first; k < first + count; k++) {
        int64_t re = 0, im = 0, r16, i16;
        uint32_t idx = 0;
        for (n = 0; n < t; n++) {
          int64_t v = x[n * cols + c];
          re += v * (int16_t)rd16(cs + 2u * idx);
          im += v * (int16_t)rd16(sn + 2u * idx);
          idx += k;
          while (idx >= t) idx -= t;
        }
        r16 = div_round(re, d);
        i16 = div_round(im, d);
        sum += (int64_t)isqrt64((uint64_t)(r16 * r16) + (uint64_t)(i16 * i16));
      }
      y[band * cols + c] = sat32(div_round(sum, (int64_t)count));
    }
  }
}

int tfs_run(const tfs_pipeline *p, const int16_t *samples, uint32_t window, int32_t *q16, int8_t *q8) {
  uint32_t rows, cols, i, s0 = 0, start = 0;
  int32_t *x = g_a, *y = g_b, *tmp;
  if (!p || !samples) return TFS_ERR_NULL;
  rows = p->rows;
  cols = p->cols;
  if (window >= p->windows) return TFS_ERR_PARAMS;
  if (p->n_steps && p->steps[0].kind == TFS_SLIDING_WINDOW) {
    rows = rd16(p->steps[0].body);
    start = window * rd16(p->steps[0].body + 2);
    s0 = 1;
  }
  for (i = 0; i < rows * cols; i++) x[i] = (int32_t)((uint32_t)(int32_t)samples[start * cols + i] << 16);
  for (; s0 < p->n_steps; s0++) {
    const tfs_step *st = &p->steps[s0];
    if (st->kind == TFS_STANDARDIZE) {
      standardize(st->body, x, rows * cols);
    } else if (st->kind == TFS_CLIP_SCALE) {
      clip_scale(st->body, st->flags, x, rows * cols);
    } else if (st->kind == TFS_FFT_BINS) {
      fft_bins(st->body, x, y, cols);
      rows = rd16(st->body + 2);
      tmp = x;
      x = y;
      y = tmp;
    }
  }
  for (i = 0; i < rows * cols; i++) {
    if (q16) q16[i] = x[i];
    if (q8) {
      int64_t q = (((int64_t)x[i] * p->q_mult + (1LL << (p->q_shift - 1))) >> p->q_shift) + p->q_zp;
      q8[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
  }
  return TFS_OK;
}
