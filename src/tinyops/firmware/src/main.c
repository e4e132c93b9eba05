#include <string.h>

#include "config.h"
#include "fw.h"
#include "hal.h"
#include "mlperf.h"
#include "model.h"
#include "out.h"
#include "proto.h"
#include "slots.h"

/* One UART, two protocols: a 0xC0 byte opens a binary SLIP frame; anything
 * else is an MLPerf ASCII command up to '%'. */
enum { MODE_ASCII, MODE_FRAME, MODE_FRAME_ESC, MODE_FRAME_DROP };
static uint8_t g_mode;
static uint8_t g_frame[FW_MAX_FRAME];
static uint32_t g_frame_len;
static char g_line[FW_ASCII_MAX + 1];
static uint32_t g_line_len;

/* Try committed slots from the newest generation down; first that verifies
 * and loads wins. A corrupt or torn newest slot falls back to the older one. */
static void boot_select(void) {
  uint8_t tried[SLOT_COUNT] = {0};
  int round;
  for (round = 0; round < SLOT_COUNT; round++) {
    uint8_t s, best = SLOT_NONE, code;
    for (s = 0; s < SLOT_COUNT; s++) {
      if (tried[s] || g_slots[s].state != SLOT_COMMITTED) continue;
      if (best == SLOT_NONE || g_slots[s].generation > g_slots[best].generation) best = s;
    }
    if (best == SLOT_NONE) return;
    tried[best] = 1;
    if (model_activate_slot(best, &code) == ST_OK) return;
    if (g_slots[best].state == SLOT_COMMITTED) g_slots[best].state = SLOT_CORRUPT;
  }
}

void fw_init(void) {
  uint32_t boots = g_counters.boots;
  memset(&g_counters, 0, sizeof g_counters);
  g_counters.boots = boots + 1u;
  g_mode = MODE_ASCII;
  g_frame_len = g_line_len = 0;
  g_reset_requested = 0;
  proto_reset_state();
  mlperf_reset();
  model_unload();
  model_hist_reset();
  g_hist_features = 1;
  slots_scan();
  boot_select();
  out_str("m-timestamp-mode-performance\r\n");
  out_str("m-init-done\r\n");
  out_str("m-ready\r\n");
}

static void frame_byte(uint8_t b) {
  if (g_frame_len >= sizeof g_frame) {
    g_mode = MODE_FRAME_DROP; /* oversize: discard until the next END */
    g_counters.frames_dropped++;
    return;
  }
  g_frame[g_frame_len++] = b;
}

void fw_feed(uint8_t b) {
  switch (g_mode) {
    case MODE_ASCII:
      if (b == SLIP_END) {
        g_mode = MODE_FRAME;
        g_frame_len = 0;
        g_line_len = 0; /* a frame aborts a half-typed command */
      } else if (b == '%') {
        g_line[g_line_len] = 0;
        mlperf_command(g_line);
        g_line_len = 0;
      } else if (g_line_len < FW_ASCII_MAX) {
        g_line[g_line_len++] = (char)b;
      }
      /* Over-long lines are truncated; the runner never sends them. */
      break;
    case MODE_FRAME:
      if (b == SLIP_END) {
        if (g_frame_len == 0) break; /* back-to-back ENDs: still opening */
        proto_handle_frame(g_frame, g_frame_len);
        g_mode = MODE_ASCII;
      } else if (b == SLIP_ESC) {
        g_mode = MODE_FRAME_ESC;
      } else {
        frame_byte(b);
      }
      break;
    case MODE_FRAME_ESC:
      if (b == SLIP_ESC_END) { g_mode = MODE_FRAME; frame_byte(SLIP_END); }
      else if (b == SLIP_ESC_ESC) { g_mode = MODE_FRAME; frame_byte(SLIP_ESC); }
      else if (b == SLIP_END) { g_counters.frames_dropped++; g_frame_len = 0; g_mode = MODE_FRAME; }
      else { g_counters.frames_dropped++; g_mode = MODE_FRAME_DROP; }
      break;
    default: /* MODE_FRAME_DROP */
      if (b == SLIP_END) g_mode = MODE_ASCII;
      break;
  }
}

void fw_run(void) {
  fw_init();
  for (;;) {
    int c = hal_uart_getc();
    if (c < 0) continue;
    fw_feed((uint8_t)c);
    if (g_reset_requested) {
      hal_reset();
      fw_init(); /* boards whose hal_reset returns restart here */
    }
  }
}
