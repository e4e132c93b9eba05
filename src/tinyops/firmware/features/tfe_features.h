/* Signal features on the device: log-mel energies and MFCCs in fixed point.
 *
 * A feature pipeline is a blob made by the host (tinyops/devices/feature_image.py):
 * a 64-byte header and every table the computation needs (log2, twiddles, window,
 * mel filterbank, DCT). The code below only interprets it, so its outputs equal
 * the numpy integer reference (tinyops/ml/signal_features.py) bit for bit.
 * Layout: FORMAT.md in this folder. */
#ifndef TINYOPS_TFE_FEATURES_H
#define TINYOPS_TFE_FEATURES_H

#include <stdint.h>

#ifndef TFE_MAX_FFT
#define TFE_MAX_FFT 1024u
#endif
#ifndef TFE_MAX_MELS
#define TFE_MAX_MELS 128u
#endif

#define TFE_MAGIC 0x31454654u /* "TFE1" little-endian */
#define TFE_KIND_LOG_MEL 1u
#define TFE_KIND_MFCC 2u

enum {
  TFE_OK = 0,
  TFE_ERR_MAGIC = -1,
  TFE_ERR_SIZE = -2,
  TFE_ERR_PARAMS = -3,
  TFE_ERR_NULL = -4
};

typedef struct {
  uint32_t total_size; /* bytes of the pipeline; a model image may follow */
  uint16_t kind, frame_length, hop, n_fft, n_mels, n_mfcc, n_frames;
  uint8_t power_shift;
  uint32_t n_samples;
  int32_t floor_q16, q_mult, q_shift, q_zp, ln2_q30;
  const int32_t *log2_table; /* 33 entries, Q16 log2(1 + i/32) */
  const int32_t *cos_q30, *sin_q30; /* n_fft / 2 each */
  const uint16_t *window; /* frame_length, Q15 (scale 2^15) */
  const uint16_t *mel_ranges; /* n_mels pairs: first bin, bin count */
  const uint16_t *mel_weights; /* Q15, concatenated */
  const int16_t *dct; /* n_mfcc x n_mels, Q15 */
} tfe_pipeline;

/* Check a blob and bind the pipeline to it (the blob must stay in memory). */
int tfe_parse(tfe_pipeline *p, const uint8_t *blob, uint32_t size);
/* Raw input bytes (int16 samples) and feature values per run. */
uint32_t tfe_input_bytes(const tfe_pipeline *p);
uint32_t tfe_output_count(const tfe_pipeline *p);
/* Features of n_samples int16 samples: Q16 values (q16 may be NULL) and/or the
 * model's int8 input quantized with the blob's multiplier (q8 may be NULL). */
int tfe_run(const tfe_pipeline *p, const int16_t *samples, int32_t *q16, int8_t *q8);

#endif
