/* The active model: image bytes in RAM, the runtime handle, staged input,
 * counters and input histograms (for STATS and telemetry). */
#ifndef TINYOPS_MODEL_H
#define TINYOPS_MODEL_H

#include <stdint.h>

#include "config.h"
#include "tinyops_rt.h"

typedef struct {
  uint32_t boots, frames_ok, frames_bad_crc, frames_dropped, unknown_commands;
  uint32_t runs, run_errors, ascii_commands, activations, rollbacks, load_failures;
  uint32_t last_count_lo, last_count_hi;
} fw_counters;
#define FW_COUNTER_WORDS (sizeof(fw_counters) / 4u)

extern fw_counters g_counters;
extern uint8_t g_active_slot; /* SLOT_NONE if no model */
extern uint8_t g_input[FW_INPUT_CAPACITY];
extern uint32_t g_hist_features;
extern uint32_t g_hist[FW_HIST_MAX_FEATURES * FW_HIST_BINS];

/* Load a slot's image into RAM, verify it and bind it to the arena.
 * Returns 0, or a protocol status (ST_IMAGE_INVALID sets *tor_code). */
int model_activate_slot(uint8_t slot, uint8_t *tor_code);
void model_unload(void);
int model_loaded(void);
uint32_t model_input_bytes(void);
uint32_t model_output_bytes(void); /* of a RUN: windows x the model's outputs with a windowing chain */
uint32_t model_tensor_output_bytes(void); /* of one model invocation (MLPerf) */
/* Copy the staged input into the tensors (or, when the slot carries a feature
 * pipeline, compute them from the staged raw samples), invoke, and measure. */
tor_status model_run(uint64_t *count);
/* The same with the staged input always taken as the model's tensor input. */
tor_status model_run_tensor(uint64_t *count);
/* tor_code of ST_IMAGE_INVALID when the slot's feature pipeline is bad. */
#define FW_FEATURES_INVALID 0xFEu
/* Output bytes concatenated, and the dequantized value of output element i. */
uint32_t model_copy_output(uint8_t *dst, uint32_t cap);
int model_output_value_milli(uint32_t i, int64_t *milli);
void model_hist_reset(void);
/* INFO's tail: runtime name (len u8 + bytes), then the builtin ops it was built with
 * (len u16 + space-separated names; empty = the tinyops-c op set of its version). */
uint32_t model_runtime_info(uint8_t *dst, uint32_t cap);

#endif
