// TFLM probe for QEMU mps2-an386: runs a build's TFLM export (model_data.cc +
// op_resolver.h + arena.h) the way a user's firmware would, and prints over
// semihosting:
//   MIN <bytes>           smallest arena AllocateTensors() accepts (bisected here, on the target)
//   ALLOC <bytes> <0|1>   AllocateTensors() with exactly kArenaSize - 1 and kArenaSize bytes
//   OUT <i> <hex>         output bytes of golden input i, run with exactly kArenaSize bytes
//   INSTR <n>             instructions of the last Invoke() (-icount shift=0, SysTick x 40)
//   USED <bytes>          arena_used_bytes() with kArenaSize
//   DONE
// Inputs come from probe_data.cc (g_probe_inputs: count x bytes, concatenated).
#include <new>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "model_data.h"
#include "op_resolver.h"
#include "semihost.h"
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

extern const unsigned char g_probe_inputs[];
extern const unsigned int g_probe_input_count;
extern const unsigned int g_probe_input_bytes;

namespace ns = PROBE_NAMESPACE;
#define MODEL_DATA PROBE_MODEL_DATA

#ifndef PROBE_ARENA_MAX
#define PROBE_ARENA_MAX (1024u * 1024u)
#endif
alignas(16) static uint8_t g_arena[PROBE_ARENA_MAX];
alignas(tflite::MicroInterpreter) static uint8_t g_interp_mem[sizeof(tflite::MicroInterpreter)];
static ns::OpResolver g_resolver;

static void out(const char* s) { semihost_write0(s); }
static void log_cb(const char* s) { (void)s; }  // allocation failures are expected while bisecting

#define SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018u)
static volatile uint32_t g_wraps = 0;
extern "C" void SysTick_Handler(void) { g_wraps++; }
static void systick_start(void) {
  SYST_CSR = 0; SYST_RVR = 0x00FFFFFFu; SYST_CVR = 0; SYST_CSR = 0x7u;
  while (SYST_CVR == 0) {
  }
  g_wraps = 0;
}
static uint64_t systick_now(void) {
  uint32_t w1, w2, v;
  do { w1 = g_wraps; v = SYST_CVR; w2 = g_wraps; } while (w1 != w2);
  return (uint64_t)w1 * 0x1000000ull + (0x00FFFFFFu - v);
}

static tflite::MicroInterpreter* make(size_t arena_bytes) {
  return new (g_interp_mem) tflite::MicroInterpreter(tflite::GetModel(MODEL_DATA), g_resolver, g_arena, arena_bytes);
}
static void drop(tflite::MicroInterpreter* it) { it->~MicroInterpreter(); }

static bool allocates(size_t arena_bytes) {
  tflite::MicroInterpreter* it = make(arena_bytes);
  bool ok = it->AllocateTensors() == kTfLiteOk;
  drop(it);
  return ok;
}

int main(void) {
  char line[96];
  RegisterDebugLogCallback(log_cb);
  systick_start();
  if (ns::RegisterOps(g_resolver) != kTfLiteOk) { out("ERROR RegisterOps\n"); return 1; }
  if (!allocates(PROBE_ARENA_MAX)) { out("ERROR model does not allocate in PROBE_ARENA_MAX\n"); return 1; }
  size_t lo = 0, hi = PROBE_ARENA_MAX;  // allocates(hi), !allocates(lo)
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (allocates(mid)) hi = mid; else lo = mid;
  }
  snprintf(line, sizeof line, "MIN %u\n", (unsigned)hi); out(line);
  const size_t size = ns::kArenaSize;
  if (size > PROBE_ARENA_MAX) { out("ERROR kArenaSize > PROBE_ARENA_MAX\n"); return 1; }
  snprintf(line, sizeof line, "ALLOC %u %d\n", (unsigned)(size - 1), allocates(size - 1) ? 1 : 0); out(line);
  snprintf(line, sizeof line, "ALLOC %u %d\n", (unsigned)size, allocates(size) ? 1 : 0); out(line);

  tflite::MicroInterpreter* it = make(size);
  if (it->AllocateTensors() != kTfLiteOk) { out("ERROR AllocateTensors with kArenaSize\n"); return 1; }
  TfLiteTensor* in = it->input(0);
  if (in->bytes != g_probe_input_bytes) { out("ERROR input size differs from the probe data\n"); return 1; }
  uint64_t ticks = 0;
  for (unsigned i = 0; i < g_probe_input_count; ++i) {
    memcpy(in->data.raw, g_probe_inputs + (size_t)i * g_probe_input_bytes, g_probe_input_bytes);
    uint64_t t0 = systick_now();
    if (it->Invoke() != kTfLiteOk) { out("ERROR Invoke\n"); return 1; }
    ticks = systick_now() - t0;
    snprintf(line, sizeof line, "OUT %u ", i); out(line);
    for (size_t k = 0; k < it->outputs_size(); ++k) {
      TfLiteTensor* o = it->output(k);
      for (size_t b = 0; b < o->bytes; ++b) {
        snprintf(line, sizeof line, "%02x", (unsigned)(uint8_t)o->data.raw[b]); out(line);
      }
    }
    out("\n");
  }
  snprintf(line, sizeof line, "INSTR %lu\n", (unsigned long)(ticks * 40u)); out(line);
  snprintf(line, sizeof line, "USED %u\n", (unsigned)it->arena_used_bytes()); out(line);
  out("DONE\n");
  return 0;
}
