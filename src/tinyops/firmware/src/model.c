#include "model.h"

#include <string.h>

#include "hal.h"
#include "proto.h"
#include "slots.h"
#include "tfe_features.h"
#include "tfs_steps.h"

/* The image is read from flash into RAM on boards whose flash is a host file;
 * with FW_XIP (memory-mapped flash: the nRF5 port) it runs in place from the
 * slot, verified once at activation (see PORTING.md). */
#ifdef FW_XIP
static const uint8_t *g_image;
#else
static uint8_t g_image_ram[FW_SLOT_CAPACITY] __attribute__((aligned(16)));
static const uint8_t *const g_image = g_image_ram;
#endif
static uint8_t g_arena[FW_ARENA_CAPACITY] __attribute__((aligned(16)));
static tor_model g_model;
static int g_loaded;
/* A slot may start with a feature pipeline (firmware/features): then the device
 * takes raw int16 samples and computes the model's input itself. */
static tfe_pipeline g_pipeline;
static int g_has_features;
/* ... or a chain of feature steps (standardize, clip_scale, fft_bins, sliding_window):
 * raw int16 samples too, and with sliding_window one model run per window, whose
 * outputs RUN returns concatenated. */
static tfs_pipeline g_steps;
static int g_has_steps;
#ifndef FW_MULTI_OUTPUT
#define FW_MULTI_OUTPUT 1024u
#endif
static uint8_t g_multi_out[FW_MULTI_OUTPUT];
static uint32_t g_multi_len; /* > 0: the last RUN ran several windows */

fw_counters g_counters;
uint8_t g_active_slot = SLOT_NONE;
uint8_t g_input[FW_INPUT_CAPACITY] __attribute__((aligned(16)));
uint32_t g_hist_features = 1;
uint32_t g_hist[FW_HIST_MAX_FEATURES * FW_HIST_BINS];

static uint32_t sum_bytes(int outputs);

int model_loaded(void) { return g_loaded; }

void model_unload(void) {
  g_loaded = 0;
  g_active_slot = SLOT_NONE;
}

int model_activate_slot(uint8_t slot, uint8_t *tor_code) {
  uint32_t needed = 0;
  tor_status ts;
  int st;
  *tor_code = 0;
  uint32_t off = 0, size;
  model_unload();
#ifdef FW_XIP
  st = slots_read_verified(slot, NULL, 0);
  if (st) return st;
  g_image = hal_flash_map(slots_data_offset(slot));
#else
  st = slots_read_verified(slot, g_image_ram, sizeof g_image_ram);
  if (st) return st;
#endif
  size = g_slots[slot].size;
  g_multi_len = 0;
  g_has_steps = size >= 4u && g_image[0] == 'T' && g_image[1] == 'F' && g_image[2] == 'S' && g_image[3] == '1';
  if (g_has_steps) {
    if (tfs_parse(&g_steps, g_image, size) != TFS_OK || tfs_input_bytes(&g_steps) > sizeof g_input) {
      *tor_code = FW_FEATURES_INVALID;
      g_counters.load_failures++;
      return ST_IMAGE_INVALID;
    }
    off = g_steps.total_size;
  }
  g_has_features = !g_has_steps && size >= 4u && g_image[0] == 'T' && g_image[1] == 'F' && g_image[2] == 'E' && g_image[3] == '1';
  if (g_has_features) {
    if (tfe_parse(&g_pipeline, g_image, size) != TFE_OK || tfe_input_bytes(&g_pipeline) > sizeof g_input) {
      *tor_code = FW_FEATURES_INVALID;
      g_counters.load_failures++;
      return ST_IMAGE_INVALID;
    }
    off = g_pipeline.total_size;
  }
  ts = tor_validate(g_image + off, size - off, &needed);
  if (ts == TOR_OK && needed > sizeof g_arena) ts = TOR_ERR_ARENA;
  if (ts == TOR_OK) ts = tor_load(&g_model, g_image + off, size - off, g_arena, sizeof g_arena);
  if (ts == TOR_OK && g_has_features) {
    int8_t *p;
    uint32_t b = 0;
    if (tor_input_count(&g_model) != 1u || tor_input(&g_model, 0, &p, &b) != TOR_OK ||
        b != tfe_output_count(&g_pipeline))
      ts = (tor_status)FW_FEATURES_INVALID;
  }
  if (ts == TOR_OK && g_has_steps) {
    int8_t *p;
    uint32_t b = 0;
    if (tor_input_count(&g_model) != 1u || tor_input(&g_model, 0, &p, &b) != TOR_OK ||
        b != tfs_output_count(&g_steps) || (g_steps.windows > 1u && sum_bytes(1) * g_steps.windows > sizeof g_multi_out))
      ts = (tor_status)FW_FEATURES_INVALID;
  }
  if (ts != TOR_OK) {
    *tor_code = (uint8_t)ts;
    g_counters.load_failures++;
    return ST_IMAGE_INVALID;
  }
  g_loaded = 1;
  g_active_slot = slot;
  return ST_OK;
}

static uint32_t sum_bytes(int outputs) {
  uint32_t n = outputs ? tor_output_count(&g_model) : tor_input_count(&g_model);
  uint32_t i, total = 0;
  for (i = 0; i < n; i++) {
    uint32_t b = 0;
    if (outputs) {
      const int8_t *p;
      if (tor_output(&g_model, i, &p, &b) != TOR_OK) b = 0;
    } else {
      int8_t *p;
      if (tor_input(&g_model, i, &p, &b) != TOR_OK) b = 0;
    }
    total += b;
  }
  return total;
}

uint32_t model_input_bytes(void) {
  if (!g_loaded) return 0;
  if (g_has_steps) return tfs_input_bytes(&g_steps);
  return g_has_features ? tfe_input_bytes(&g_pipeline) : sum_bytes(0);
}
uint32_t model_tensor_output_bytes(void) { return g_loaded ? sum_bytes(1) : 0; }
uint32_t model_output_bytes(void) {
  return g_loaded ? sum_bytes(1) * (g_has_steps ? g_steps.windows : 1u) : 0;
}

void model_hist_reset(void) { memset(g_hist, 0, sizeof g_hist); }

uint32_t model_runtime_info(uint8_t *dst, uint32_t cap) {
  static const char name[] = "tinyops-c";
  if (cap < sizeof name + 2u) return 0;
  dst[0] = (uint8_t)(sizeof name - 1u);
  memcpy(dst + 1, name, sizeof name - 1u);
  dst[sizeof name] = dst[sizeof name + 1u] = 0; /* no op list: the loader checks ops itself */
  return sizeof name + 2u;
}

static void observe_features(const uint8_t *in, uint32_t n) {
  uint32_t i, f = 0, features = g_hist_features ? g_hist_features : 1u;
  for (i = 0; i < n; i++) {
    uint32_t bin = (uint32_t)((int32_t)(int8_t)in[i] + 128) >> 4; /* 16 bins over int8 */
    if (f < FW_HIST_MAX_FEATURES) g_hist[f * FW_HIST_BINS + bin]++;
    if (++f == features) f = 0;
  }
}

static void observe_input(uint32_t n) { observe_features(g_input, n); }
static tor_status finish_run(tor_status ts, uint64_t elapsed, uint64_t *count);
static uint32_t copy_tensors(uint8_t *dst, uint32_t cap);

/* Each window of the raw samples through the step chain and the model. */
static tor_status run_steps(uint64_t *count) {
  uint32_t w, b, out = 0;
  uint64_t t0 = hal_counter(), t1;
  tor_status ts = TOR_OK;
  int8_t *p;
  for (w = 0; w < g_steps.windows && ts == TOR_OK; w++) {
    ts = tor_input(&g_model, 0, &p, &b);
    if (ts != TOR_OK) break;
    (void)tfs_run(&g_steps, (const int16_t *)(const void *)g_input, w, 0, p);
    observe_features((const uint8_t *)p, b);
    ts = tor_invoke(&g_model);
    if (ts == TOR_OK && g_steps.windows > 1u) out += copy_tensors(g_multi_out + out, sizeof g_multi_out - out);
  }
  t1 = hal_counter();
  ts = finish_run(ts, t1 - t0, count);
  g_multi_len = g_steps.windows > 1u ? out : 0;
  return ts;
}

static tor_status run(int features, uint64_t *count) {
  uint32_t n = tor_input_count(&g_model), i, off = 0;
  uint64_t t0, t1;
  tor_status ts;
  if (!g_loaded) return TOR_ERR_NULL;
  g_multi_len = 0;
  if (features && g_has_steps) return run_steps(count);
  if (features) {
    int8_t *p;
    uint32_t b;
    ts = tor_input(&g_model, 0, &p, &b);
    if (ts != TOR_OK) return ts;
    t0 = hal_counter();
    (void)tfe_run(&g_pipeline, (const int16_t *)(const void *)g_input, 0, p);
    observe_features((const uint8_t *)p, b);
    ts = tor_invoke(&g_model);
    t1 = hal_counter();
    return finish_run(ts, t1 - t0, count);
  }
  for (i = 0; i < n; i++) {
    int8_t *p;
    uint32_t b;
    ts = tor_input(&g_model, i, &p, &b);
    if (ts != TOR_OK) return ts;
    if (off + b > sizeof g_input) return TOR_ERR_BOUNDS;
    memcpy(p, g_input + off, b);
    off += b;
  }
  observe_input(off);
  t0 = hal_counter();
  ts = tor_invoke(&g_model);
  t1 = hal_counter();
  return finish_run(ts, t1 - t0, count);
}

/* RUN: raw samples when the slot carries a feature pipeline. MLPerf's `db`
 * input is always the model's own tensor input (preprocessed, as MLPerf defines it). */
tor_status model_run(uint64_t *count) { return run(g_has_features || g_has_steps, count); }
tor_status model_run_tensor(uint64_t *count) { return run(0, count); }

static tor_status finish_run(tor_status ts, uint64_t elapsed, uint64_t *count) {
  *count = elapsed;
  g_counters.runs++;
  if (ts != TOR_OK) g_counters.run_errors++;
  g_counters.last_count_lo = (uint32_t)*count;
  g_counters.last_count_hi = (uint32_t)(*count >> 32);
  return ts;
}

uint32_t model_copy_output(uint8_t *dst, uint32_t cap) {
  uint32_t len = g_multi_len < cap ? g_multi_len : cap;
  if (!g_multi_len) return copy_tensors(dst, cap);
  memcpy(dst, g_multi_out, len);
  return len;
}

static uint32_t copy_tensors(uint8_t *dst, uint32_t cap) {
  uint32_t n = tor_output_count(&g_model), i, off = 0;
  for (i = 0; i < n; i++) {
    const int8_t *p;
    uint32_t b;
    if (tor_output(&g_model, i, &p, &b) != TOR_OK) continue;
    if (off + b > cap) break;
    memcpy(dst + off, p, b);
    off += b;
  }
  return off;
}

int model_output_value_milli(uint32_t index, int64_t *milli) {
  uint32_t n = tor_output_count(&g_model), i;
  for (i = 0; i < n; i++) {
    const int8_t *p;
    uint32_t b;
    float scale;
    int32_t zp;
    if (tor_output(&g_model, i, &p, &b) != TOR_OK) return -1;
    if (index < b) {
      float v;
      if (tor_output_quant(&g_model, i, &scale, &zp) != TOR_OK) return -1;
      v = ((float)p[index] - (float)zp) * scale * 1000.0f;
      *milli = (int64_t)(v < 0 ? v - 0.5f : v + 0.5f);
      return 0;
    }
    index -= b;
  }
  return -1;
}
