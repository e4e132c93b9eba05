/* Feature steps on the device: standardize, clip_scale, fft_bins, sliding_window.
 *
 * A step chain is a blob made by the host (tinyops/devices/feature_image.py): a 48-byte
 * header and one record per step with every table it needs. Values are Q16 integers
 * (int32; raw int16 samples enter as x << 16); the arithmetic equals the numpy integer
 * reference (tinyops/ml/fixed_steps.py) bit for bit. Layout: FORMAT.md in this folder. */
#ifndef TINYOPS_TFS_STEPS_H
#define TINYOPS_TFS_STEPS_H

#include <stdint.h>

#ifndef TFS_MAX_VALUES
#define TFS_MAX_VALUES 1024u /* values of one window at any step */
#endif
#ifndef TFS_MAX_STEPS
#define TFS_MAX_STEPS 8u
#endif

#define TFS_MAGIC 0x31534654u /* "TFS1" little-endian */
#define TFS_STANDARDIZE 3u
#define TFS_CLIP_SCALE 4u
#define TFS_FFT_BINS 5u
#define TFS_SLIDING_WINDOW 6u

enum { TFS_OK = 0, TFS_ERR_MAGIC = -1, TFS_ERR_SIZE = -2, TFS_ERR_PARAMS = -3, TFS_ERR_NULL = -4 };

typedef struct {
  uint16_t kind, flags;
  const uint8_t *body; /* the step's record after its 8-byte header */
} tfs_step;

typedef struct {
  uint32_t total_size; /* bytes of the chain; a model image may follow */
  uint16_t n_steps, rows, cols, windows, out_rows, out_cols;
  int32_t q_mult, q_shift, q_zp;
  tfs_step steps[TFS_MAX_STEPS];
} tfs_pipeline;

/* Check a blob and bind the chain to it (the blob must stay in memory). */
int tfs_parse(tfs_pipeline *p, const uint8_t *blob, uint32_t size);
/* Raw input bytes (int16 samples, rows x cols) per run, windows per run, values per window. */
uint32_t tfs_input_bytes(const tfs_pipeline *p);
uint32_t tfs_windows(const tfs_pipeline *p);
uint32_t tfs_output_count(const tfs_pipeline *p);
/* Features of window `window` of the raw samples: Q16 values (q16 may be NULL) and/or the
 * model's int8 input (q8 may be NULL). */
int tfs_run(const tfs_pipeline *p, const int16_t *samples, uint32_t window, int32_t *q16, int8_t *q8);

#endif
