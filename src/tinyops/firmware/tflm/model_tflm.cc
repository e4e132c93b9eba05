// The firmware's model runtime on TensorFlow Lite Micro (RUNTIME=tflm|tflm-cmsis-nn):
// the same interface as src/model.c (model.h), so the update protocol, A/B slots,
// golden self-test, MLPerf commands and STATS are the firmware's own, unchanged.
//
// A slot holds a TFLM image (firmware/tflm/FORMAT.md):
//   "TFLM" | arena_bytes u32 | model_len u32 | reserved u32 (0) | .tflite flatbuffer
// The flatbuffer starts 16 bytes in, so it stays 16-byte aligned in the RAM copy;
// the interpreter gets exactly arena_bytes (at most FW_ARENA_CAPACITY).
#include <new>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "hal.h"
#include "model.h"
#include "proto.h"
#include "slots.h"
}
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#define TFLM_OP(name, method, stems) +1
static constexpr unsigned kOpCount = 0
#include "ops.def"
    ;
#undef TFLM_OP
#define TFLM_OP(name, method, stems) " " #name
static const char kOps[] =
#include "ops.def"
    ;
#undef TFLM_OP

#ifndef FW_TFLM_KERNELS
#define FW_TFLM_KERNELS "tflm"
#endif

static uint8_t g_image[FW_SLOT_CAPACITY] __attribute__((aligned(16)));
static uint8_t g_arena[FW_ARENA_CAPACITY] __attribute__((aligned(16)));
alignas(tflite::MicroInterpreter) static uint8_t g_interp_mem[sizeof(tflite::MicroInterpreter)];
static tflite::MicroInterpreter* g_interp;
// Constructed in place on first use: the boards' start-up code runs no C++ constructors.
using Resolver = tflite::MicroMutableOpResolver<kOpCount>;
alignas(Resolver) static uint8_t g_resolver_mem[sizeof(Resolver)];
static Resolver* g_resolver;
static int g_loaded;

fw_counters g_counters;
uint8_t g_active_slot = SLOT_NONE;
uint8_t g_input[FW_INPUT_CAPACITY] __attribute__((aligned(16)));
uint32_t g_hist_features = 1;
uint32_t g_hist[FW_HIST_MAX_FEATURES * FW_HIST_BINS];

static uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

static void register_ops(void) {
  if (g_resolver) return;
  g_resolver = new (g_resolver_mem) Resolver();
#define TFLM_OP(name, method, stems) (void)g_resolver->method();
#include "ops.def"
#undef TFLM_OP
}

extern "C" uint32_t model_runtime_info(uint8_t* dst, uint32_t cap) {
  // runtime name, then the builtin ops this firmware registers (space-separated)
  static const char kName[] = FW_TFLM_KERNELS;
  uint32_t n = sizeof kName - 1, m = sizeof kOps - 2;  // kOps starts with a space
  if (cap < 3 + n + m) return 0;
  dst[0] = (uint8_t)n;
  memcpy(dst + 1, kName, n);
  dst[1 + n] = (uint8_t)(m & 0xFF);
  dst[2 + n] = (uint8_t)(m >> 8);
  memcpy(dst + 3 + n, kOps + 1, m);
  return 3 + n + m;
}

extern "C" int model_loaded(void) { return g_loaded; }

extern "C" void model_unload(void) {
  if (g_interp) {
    g_interp->~MicroInterpreter();
    g_interp = nullptr;
  }
  g_loaded = 0;
  g_active_slot = SLOT_NONE;
}

extern "C" int model_activate_slot(uint8_t slot, uint8_t* tor_code) {
  *tor_code = 0;
  model_unload();
  int st = slots_read_verified(slot, g_image, sizeof g_image);
  if (st) return st;
  uint32_t size = g_slots[slot].size;
  tor_status ts = TOR_OK;
  uint32_t arena = 0, len = 0;
  if (size < 16u || memcmp(g_image, "TFLM", 4) != 0) ts = TOR_ERR_MAGIC;
  if (ts == TOR_OK) {
    arena = rd32(g_image + 4);
    len = rd32(g_image + 8);
    if (len > size - 16u) ts = TOR_ERR_TRUNCATED;
    else if (arena == 0 || arena > sizeof g_arena) ts = TOR_ERR_ARENA;
  }
  if (ts == TOR_OK) {
    const tflite::Model* m = tflite::GetModel(g_image + 16);
    if (m->version() != TFLITE_SCHEMA_VERSION) ts = TOR_ERR_VERSION;
    if (ts == TOR_OK) {
      register_ops();
      g_interp = new (g_interp_mem) tflite::MicroInterpreter(m, *g_resolver, g_arena, arena);
      if (g_interp->AllocateTensors() != kTfLiteOk) ts = TOR_ERR_ARENA;  // or an op this firmware lacks
    }
  }
  if (ts != TOR_OK) {
    if (g_interp) { g_interp->~MicroInterpreter(); g_interp = nullptr; }
    *tor_code = (uint8_t)ts;
    g_counters.load_failures++;
    return ST_IMAGE_INVALID;
  }
  g_loaded = 1;
  g_active_slot = slot;
  return ST_OK;
}

static uint32_t sum_bytes(int outputs) {
  uint32_t total = 0;
  size_t n = outputs ? g_interp->outputs_size() : g_interp->inputs_size();
  for (size_t i = 0; i < n; i++) total += (uint32_t)(outputs ? g_interp->output(i) : g_interp->input(i))->bytes;
  return total;
}

extern "C" uint32_t model_input_bytes(void) { return g_loaded ? sum_bytes(0) : 0; }
extern "C" uint32_t model_output_bytes(void) { return g_loaded ? sum_bytes(1) : 0; }
// TFLM builds carry no feature chain: a RUN is one invocation.
extern "C" uint32_t model_tensor_output_bytes(void) { return model_output_bytes(); }
extern "C" void model_hist_reset(void) { memset(g_hist, 0, sizeof g_hist); }

static void observe_input(uint32_t n) {
  uint32_t f = 0, features = g_hist_features ? g_hist_features : 1u;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t bin = (uint32_t)((int32_t)(int8_t)g_input[i] + 128) >> 4;
    if (f < FW_HIST_MAX_FEATURES) g_hist[f * FW_HIST_BINS + bin]++;
    if (++f == features) f = 0;
  }
}

extern "C" tor_status model_run_tensor(uint64_t* count) {
  if (!g_loaded) return TOR_ERR_NULL;
  uint32_t off = 0;
  for (size_t i = 0; i < g_interp->inputs_size(); i++) {
    TfLiteTensor* t = g_interp->input(i);
    if (off + t->bytes > sizeof g_input) return TOR_ERR_BOUNDS;
    memcpy(t->data.raw, g_input + off, t->bytes);  // before every Invoke: the planner reuses the buffer
    off += (uint32_t)t->bytes;
  }
  observe_input(off);
  uint64_t t0 = hal_counter();
  TfLiteStatus s = g_interp->Invoke();
  uint64_t t1 = hal_counter();
  tor_status ts = s == kTfLiteOk ? TOR_OK : TOR_ERR_SHAPE;
  *count = t1 - t0;
  g_counters.runs++;
  if (ts != TOR_OK) g_counters.run_errors++;
  g_counters.last_count_lo = (uint32_t)*count;
  g_counters.last_count_hi = (uint32_t)(*count >> 32);
  return ts;
}

// Feature pipelines (TFE1 slots) are a tinyops-c firmware feature; TFLM slots hold tensor input.
extern "C" tor_status model_run(uint64_t* count) { return model_run_tensor(count); }

extern "C" uint32_t model_copy_output(uint8_t* dst, uint32_t cap) {
  uint32_t off = 0;
  for (size_t i = 0; g_loaded && i < g_interp->outputs_size(); i++) {
    TfLiteTensor* t = g_interp->output(i);
    if (off + t->bytes > cap) break;
    memcpy(dst + off, t->data.raw, t->bytes);
    off += (uint32_t)t->bytes;
  }
  return off;
}

extern "C" int model_output_value_milli(uint32_t index, int64_t* milli) {
  for (size_t i = 0; g_loaded && i < g_interp->outputs_size(); i++) {
    TfLiteTensor* t = g_interp->output(i);
    size_t elem = t->type == kTfLiteFloat32 ? 4 : 1;
    size_t n = t->bytes / elem;
    if (index < n) {
      float v;
      if (t->type == kTfLiteFloat32) v = t->data.f[index] * 1000.0f;
      else if (t->type == kTfLiteInt8) v = ((float)t->data.int8[index] - (float)t->params.zero_point) * t->params.scale * 1000.0f;
      else if (t->type == kTfLiteUInt8) v = ((float)t->data.uint8[index] - (float)t->params.zero_point) * t->params.scale * 1000.0f;
      else return -1;
      *milli = (int64_t)(v < 0 ? v - 0.5f : v + 0.5f);
      return 0;
    }
    index -= (uint32_t)n;
  }
  return -1;
}

extern "C" {
// Static C++ objects with destructors need it under -nostartfiles; never used at run time.
__attribute__((weak)) void* __dso_handle = 0;
// libstdc++ pulls in malloc; the firmware has no heap (TFLM allocates from the arena only).
__attribute__((weak)) void* _sbrk(int incr) { (void)incr; return (void*)-1; }
}
