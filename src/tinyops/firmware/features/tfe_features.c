#include "tfe_features.h"

#include <string.h>

static int32_t g_re[TFE_MAX_FFT], g_im[TFE_MAX_FFT];
static int32_t g_frame_out[TFE_MAX_MELS];
static uint16_t g_rev[TFE_MAX_FFT]; /* bit-reversed index of each frame sample, set per run */

static uint32_t rd32(const uint8_t *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
static uint32_t align4(uint32_t v) { return (v + 3u) & ~3u; }

int tfe_parse(tfe_pipeline *p, const uint8_t *b, uint32_t size) {
  uint32_t off, i, n_w = 0;
  if (!p || !b) return TFE_ERR_NULL;
  if (size < 64u) return TFE_ERR_SIZE;
  if (rd32(b) != TFE_MAGIC) return TFE_ERR_MAGIC;
  if (((uintptr_t)b & 3u) != 0) return TFE_ERR_PARAMS;
  memset(p, 0, sizeof *p);
  p->total_size = rd32(b + 4);
  p->kind = rd16(b + 8);
  p->n_samples = rd32(b + 12);
  p->frame_length = rd16(b + 16);
  p->hop = rd16(b + 18);
  p->n_fft = rd16(b + 20);
  p->n_mels = rd16(b + 22);
  p->n_mfcc = rd16(b + 24);
  p->n_frames = rd16(b + 26);
  p->power_shift = b[28];
  p->floor_q16 = (int32_t)rd32(b + 32);
  p->q_mult = (int32_t)rd32(b + 36);
  p->q_shift = (int32_t)rd32(b + 40);
  p->q_zp = (int32_t)rd32(b + 44);
  p->ln2_q30 = (int32_t)rd32(b + 48);
  if (p->total_size > size || (p->total_size & 15u)) return TFE_ERR_SIZE;
  if (p->kind != TFE_KIND_LOG_MEL && p->kind != TFE_KIND_MFCC) return TFE_ERR_PARAMS;
  if (p->n_fft < 16u || p->n_fft > TFE_MAX_FFT || (p->n_fft & (p->n_fft - 1u))) return TFE_ERR_PARAMS;
  if (p->frame_length < 2u || p->frame_length > p->n_fft || p->hop == 0) return TFE_ERR_PARAMS;
  if (p->n_mels < 2u || p->n_mels > TFE_MAX_MELS || p->n_mels > p->n_fft / 2u + 1u) return TFE_ERR_PARAMS;
  if (p->kind == TFE_KIND_MFCC && (p->n_mfcc == 0 || p->n_mfcc > p->n_mels)) return TFE_ERR_PARAMS;
  if (p->n_samples < p->frame_length || p->n_frames != 1u + (p->n_samples - p->frame_length) / p->hop)
    return TFE_ERR_PARAMS;
  if (p->q_shift < 1 || p->q_shift > 62 || p->power_shift > 62u) return TFE_ERR_PARAMS;
  off = 64u;
  p->log2_table = (const int32_t *)(const void *)(b + off);
  off += 33u * 4u;
  p->cos_q30 = (const int32_t *)(const void *)(b + off);
  off += p->n_fft / 2u * 4u;
  p->sin_q30 = (const int32_t *)(const void *)(b + off);
  off += p->n_fft / 2u * 4u;
  p->window = (const uint16_t *)(const void *)(b + off);
  off = align4(off + p->frame_length * 2u);
  if (off + p->n_mels * 4u > p->total_size) return TFE_ERR_SIZE;
  p->mel_ranges = (const uint16_t *)(const void *)(b + off);
  for (i = 0; i < p->n_mels; i++) {
    uint32_t first = p->mel_ranges[2 * i], count = p->mel_ranges[2 * i + 1];
    if (first + count > p->n_fft / 2u + 1u) return TFE_ERR_PARAMS;
    n_w += count;
  }
  off += p->n_mels * 4u;
  p->mel_weights = (const uint16_t *)(const void *)(b + off);
  off = align4(off + n_w * 2u);
  p->dct = (const int16_t *)(const void *)(b + off);
  if (p->kind == TFE_KIND_MFCC) off += (uint32_t)p->n_mfcc * p->n_mels * 2u;
  if (off > p->total_size) return TFE_ERR_SIZE;
  return TFE_OK;
}

uint32_t tfe_input_bytes(const tfe_pipeline *p) { return p->n_samples * 2u; }

uint32_t tfe_output_count(const tfe_pipeline *p) {
  return (uint32_t)p->n_frames * (p->kind == TFE_KIND_MFCC ? p->n_mfcc : p->n_mels);
}

/* In-order complex FFT of g_re/g_im (already in bit-reversed order). The j = 0
 * butterfly of each group has the twiddle 1 (cos 2^30, sin 0), for which the
 * rounded Q30 product is the value itself: it is done without multiplying. */
static void fft(const tfe_pipeline *p) {
  uint32_t n = p->n_fft, size, half, step, g, j;
  for (size = 2; size <= n; size <<= 1) {
    half = size >> 1;
    step = n / size;
    for (g = 0; g < n; g += size) {
      int32_t *r0 = &g_re[g], *i0 = &g_im[g];
      int32_t ar = r0[0], ai = i0[0], tr = r0[half], ti = i0[half];
      r0[0] = ar + tr;
      i0[0] = ai + ti;
      r0[half] = ar - tr;
      i0[half] = ai - ti;
      for (j = 1; j < half; j++) {
        int32_t c = p->cos_q30[j * step], s = p->sin_q30[j * step];
        int32_t br = r0[j + half], bi = i0[j + half];
        tr = (int32_t)(((int64_t)br * c + (int64_t)bi * s + (1LL << 29)) >> 30);
        ti = (int32_t)(((int64_t)bi * c - (int64_t)br * s + (1LL << 29)) >> 30);
        ar = r0[j];
        ai = i0[j];
        r0[j] = ar + tr;
        i0[j] = ai + ti;
        r0[j + half] = ar - tr;
        i0[j + half] = ai - ti;
      }
    }
  }
}

static int32_t log_q16(const tfe_pipeline *p, int64_t v, int32_t offset) {
  int32_t e, i, r, l2;
  uint64_t m;
  int64_t ln;
  if (v <= 0) return p->floor_q16;
  e = 63 - __builtin_clzll((unsigned long long)v);
  m = (uint64_t)v << (62 - e);
  r = (int32_t)((m >> 46) & 0xFFFFu);
  i = r >> 11;
  r &= 2047;
  l2 = e * 65536 + p->log2_table[i] + (((p->log2_table[i + 1] - p->log2_table[i]) * r + 1024) >> 11);
  ln = ((int64_t)(l2 - offset * 65536) * p->ln2_q30 + (1LL << 29)) >> 30;
  return ln < p->floor_q16 ? p->floor_q16 : (int32_t)ln;
}

static int8_t quantize(const tfe_pipeline *p, int32_t v) {
  int64_t q = (((int64_t)v * p->q_mult + (1LL << (p->q_shift - 1))) >> p->q_shift) + p->q_zp;
  return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

static void one_frame(const tfe_pipeline *p, const int16_t *x) {
  uint32_t L = p->frame_length, n = p->n_fft, i, m, k;
  int32_t peak = 0, s = 0, offset;
  const uint16_t *w = p->mel_weights;
  memset(g_re, 0, n * sizeof g_re[0]);
  memset(g_im, 0, n * sizeof g_im[0]);
  for (i = 0; i < L; i++) { /* Q15 products, |.| <= 2^30; kept in g_re until scaled */
    int32_t v = (int32_t)x[i] * (int32_t)p->window[i], a = v < 0 ? -v : v;
    g_re[g_rev[i]] = v;
    if (a > peak) peak = a;
  }
  if (peak > 0)
    while (s < 15 && ((int64_t)peak << (s + 1)) <= (32767LL << 15)) s++;
  for (i = 0; i < L; i++) { /* every |product| <= peak, so product * 2^s < 2^30 */
    int32_t *r = &g_re[g_rev[i]];
    *r = (*r * (1 << s) + (1 << 14)) >> 15;
  }
  fft(p);
  offset = 2 * s + 45 - (int32_t)p->power_shift;
  for (m = 0; m < p->n_mels; m++) {
    uint32_t first = p->mel_ranges[2 * m], count = p->mel_ranges[2 * m + 1];
    int64_t acc = 0;
    for (k = 0; k < count; k++) {
      int64_t re = g_re[first + k], im = g_im[first + k];
      acc += ((re * re + im * im) >> p->power_shift) * (int64_t)w[k];
    }
    w += count;
    g_frame_out[m] = log_q16(p, acc, offset);
  }
}

int tfe_run(const tfe_pipeline *p, const int16_t *samples, int32_t *q16, int8_t *q8) {
  uint32_t f, c, m, n_out;
  if (!p || !samples) return TFE_ERR_NULL;
  n_out = p->kind == TFE_KIND_MFCC ? p->n_mfcc : p->n_mels;
  {
    uint32_t i, j, bits = 0;
    while ((1u << bits) < p->n_fft) bits++;
    for (i = 0; i < p->frame_length; i++) {
      uint32_t rev = 0, v = i;
      for (j = 0; j < bits; j++, v >>= 1) rev = (rev << 1) | (v & 1u);
      g_rev[i] = (uint16_t)rev;
    }
  }
  for (f = 0; f < p->n_frames; f++) {
    one_frame(p, samples + (uint32_t)f * p->hop);
    for (c = 0; c < n_out; c++) {
      int32_t v = g_frame_out[c];
      if (p->kind == TFE_KIND_MFCC) {
        int64_t acc = 0;
        const int16_t *d = p->dct + c * p->n_mels;
        for (m = 0; m < p->n_mels; m++) acc += (int64_t)d[m] * g_frame_out[m];
        v = (int32_t)((acc + (1 << 14)) >> 15);
      }
      if (q16) q16[f * n_out + c] = v;
      if (q8) q8[f * n_out + c] = quantize(p, v);
    }
  }
  return TFE_OK;
}
