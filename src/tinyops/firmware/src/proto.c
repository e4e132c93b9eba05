#include "proto.h"

#include <string.h>

#include "config.h"
#include "crc32.h"
#include "hal.h"
#include "model.h"
#include "slots.h"

int g_reset_requested;

/* The last reply, so a retransmitted request (same seq: our reply was lost)
 * is answered again without being executed twice — ROLLBACK must not flip
 * twice, DATA must not be written twice. */
static uint8_t g_reply[FW_MAX_FRAME];
static uint32_t g_reply_len;
static int32_t g_last_seq = -1;
static uint8_t g_transfer_slot = SLOT_NONE;

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void proto_reset_state(void) {
  g_last_seq = -1;
  g_reply_len = 0;
  g_transfer_slot = SLOT_NONE;
}

static void slip_put(uint8_t *buf, uint32_t *n, uint8_t b) {
  if (b == SLIP_END) { buf[(*n)++] = SLIP_ESC; buf[(*n)++] = SLIP_ESC_END; }
  else if (b == SLIP_ESC) { buf[(*n)++] = SLIP_ESC; buf[(*n)++] = SLIP_ESC_ESC; }
  else buf[(*n)++] = b;
}

void proto_send(const uint8_t *payload, uint32_t len) {
  /* Encode in small pieces so no second frame-sized buffer is needed. */
  uint8_t buf[130];
  uint32_t n = 0, i;
  uint8_t crc[4];
  put_u32(crc, fw_crc32(0, payload, len));
  buf[n++] = SLIP_END;
  for (i = 0; i < len + 4u; i++) {
    slip_put(buf, &n, i < len ? payload[i] : crc[i - len]);
    if (n >= sizeof buf - 2u) { hal_uart_write(buf, n); n = 0; }
  }
  buf[n++] = SLIP_END;
  hal_uart_write(buf, n);
}

/* ---- command handlers: fill body (after cmd, seq, status), return status */

static uint32_t g_body_len;
#define BODY (g_reply + 4)
#define BODY_CAP (sizeof g_reply - 4u)

static int cmd_info(void) {
  uint8_t *p = BODY;
  const char *name = hal_board_name();
  uint32_t nlen = (uint32_t)strlen(name), s;
  if (nlen > 32) nlen = 32;
  p[0] = FW_PROTOCOL_VERSION; p[1] = FW_VERSION_MAJOR; p[2] = FW_VERSION_MINOR; p[3] = FW_VERSION_PATCH;
  p[4] = (uint8_t)hal_counter_unit();
  p[5] = g_active_slot;
  put_u16(p + 6, FW_MAX_FRAME);
  put_u32(p + 8, FW_MAX_CHUNK);
  put_u32(p + 12, FW_RX_WINDOW);
  put_u32(p + 16, FW_ARENA_CAPACITY);
  put_u32(p + 20, FW_SLOT_CAPACITY);
  put_u32(p + 24, g_counters.boots);
  put_u32(p + 28, model_input_bytes());
  put_u32(p + 32, model_output_bytes());
  p[36] = (uint8_t)nlen;
  memcpy(p + 37, name, nlen);
  p += 37 + nlen;
  for (s = 0; s < SLOT_COUNT; s++) {
    const fw_slot *sl = &g_slots[s];
    p[0] = sl->state; p[1] = sl->kind;
    put_u32(p + 2, sl->generation);
    put_u32(p + 6, sl->size);
    put_u32(p + 10, sl->received);
    memcpy(p + 14, sl->sha256, 32);
    p += 46;
  }
  p += model_runtime_info(p, (uint32_t)BODY_CAP - (uint32_t)(p - BODY));
  g_body_len = (uint32_t)(p - BODY);
  return ST_OK;
}

static uint8_t inactive_slot(void) {
  if (g_active_slot == 0) return 1;
  if (g_active_slot == 1) return 0;
  /* No model running: prefer a slot that is not committed. */
  return g_slots[0].state == SLOT_COMMITTED && g_slots[1].state != SLOT_COMMITTED ? 1 : 0;
}

static int cmd_begin(const uint8_t *b, uint32_t n) {
  uint8_t slot;
  uint32_t size;
  int st;
  if (n != 1 + 4 + 32 + 1) return ST_BAD_LENGTH;
  slot = b[0] == SLOT_NONE ? inactive_slot() : b[0];
  size = get_u32(b + 1);
  if (slot >= SLOT_COUNT) return ST_BAD_SLOT;
  if (slot == g_active_slot) return ST_SLOT_ACTIVE;
  if (b[37] != IMAGE_KIND_MODEL) return ST_UNSUPPORTED_KIND;
  if (size == 0 || size > FW_SLOT_CAPACITY) return ST_TOO_LARGE;
  st = slots_begin(slot, size, b + 5, b[37]);
  if (st) return st;
  g_transfer_slot = slot;
  BODY[0] = slot;
  put_u32(BODY + 1, g_slots[slot].received);
  g_body_len = 5;
  return ST_OK;
}

static int cmd_data(const uint8_t *b, uint32_t n) {
  int st;
  if (n < 4 || n - 4 > FW_MAX_CHUNK) return ST_BAD_LENGTH;
  if (g_transfer_slot == SLOT_NONE) return ST_NO_TRANSFER;
  st = slots_write(g_transfer_slot, get_u32(b), b + 4, n - 4);
  put_u32(BODY, g_slots[g_transfer_slot].received); /* the resume point, also on ST_OFFSET */
  g_body_len = 4;
  return st;
}

static int cmd_end(uint32_t n) {
  int st;
  if (n != 0) return ST_BAD_LENGTH;
  if (g_transfer_slot == SLOT_NONE) return ST_NO_TRANSFER;
  st = slots_finish(g_transfer_slot);
  if (st == ST_OK) {
    BODY[0] = g_transfer_slot;
    g_body_len = 1;
  }
  if (st == ST_SHA_MISMATCH) g_transfer_slot = SLOT_NONE;
  return st;
}

/* Make `slot` the running model, then write its commit record last. */
static int switch_to(uint8_t slot) {
  uint8_t previous = g_active_slot, code = 0;
  int st = model_activate_slot(slot, &code);
  if (st == ST_OK) st = slots_commit(slot);
  if (st != ST_OK) {
    uint8_t ignored;
    BODY[0] = code;
    g_body_len = 1;
    if (previous != SLOT_NONE) (void)model_activate_slot(previous, &ignored);
    return st;
  }
  BODY[0] = slot;
  g_body_len = 1;
  return ST_OK;
}

static int cmd_activate(const uint8_t *b, uint32_t n) {
  uint8_t slot;
  int st;
  if (n != 1) return ST_BAD_LENGTH;
  slot = b[0] == SLOT_NONE ? g_transfer_slot : b[0];
  if (slot >= SLOT_COUNT) return ST_BAD_SLOT;
  if (slot == g_active_slot) { BODY[0] = slot; g_body_len = 1; return ST_OK; }
  if (g_slots[slot].state != SLOT_COMPLETE && g_slots[slot].state != SLOT_COMMITTED) return ST_NOT_VERIFIED;
  st = switch_to(slot);
  if (st == ST_OK) { g_counters.activations++; g_transfer_slot = SLOT_NONE; }
  return st;
}

static int cmd_rollback(uint32_t n) {
  uint8_t other;
  int st;
  if (n != 0) return ST_BAD_LENGTH;
  other = g_active_slot == SLOT_NONE ? SLOT_NONE : (uint8_t)(1u - g_active_slot);
  if (other == SLOT_NONE || g_slots[other].state != SLOT_COMMITTED) return ST_NO_ROLLBACK;
  st = switch_to(other);
  if (st == ST_OK) g_counters.rollbacks++;
  return st;
}

static int cmd_run(const uint8_t *b, uint32_t n) {
  uint32_t off, len, in_bytes;
  uint64_t count = 0;
  tor_status ts;
  if (n < 5) return ST_BAD_LENGTH;
  if (!model_loaded()) return ST_NO_MODEL;
  off = get_u32(b);
  len = n - 5;
  in_bytes = model_input_bytes();
  if (off > in_bytes || len > in_bytes - off) return ST_INPUT_SIZE;
  memcpy(g_input + off, b + 5, len);
  if (!(b[4] & 1u)) { put_u32(BODY, off + len); g_body_len = 4; return ST_OK; }
  ts = model_run(&count);
  if (ts != TOR_OK) { BODY[0] = (uint8_t)ts; g_body_len = 1; return ST_RUN_FAILED; }
  BODY[0] = (uint8_t)hal_counter_unit();
  put_u32(BODY + 1, (uint32_t)count);
  put_u32(BODY + 5, (uint32_t)(count >> 32));
  len = model_copy_output(BODY + 13, BODY_CAP - 13u);
  put_u32(BODY + 9, len);
  g_body_len = 13 + len;
  return ST_OK;
}

static int cmd_stats(const uint8_t *b, uint32_t n) {
  uint32_t i, features, words;
  const uint32_t *c = (const uint32_t *)(const void *)&g_counters;
  uint8_t *p = BODY;
  if (n != 3) return ST_BAD_LENGTH;
  features = (uint32_t)b[1] | ((uint32_t)b[2] << 8);
  put_u16(p, FW_COUNTER_WORDS);
  p += 2;
  for (i = 0; i < FW_COUNTER_WORDS; i++, p += 4) put_u32(p, c[i]);
  words = (g_hist_features < FW_HIST_MAX_FEATURES ? g_hist_features : FW_HIST_MAX_FEATURES) * FW_HIST_BINS;
  if ((uint32_t)(p - BODY) + 4u + words * 4u > BODY_CAP) words = 0;
  put_u16(p, g_hist_features);
  put_u16(p + 2, FW_HIST_BINS);
  p += 4;
  for (i = 0; i < words; i++, p += 4) put_u32(p, g_hist[i]);
  g_body_len = (uint32_t)(p - BODY);
  /* Applied after the read, so the reply describes the window that closed. */
  if (features > FW_HIST_MAX_FEATURES) return ST_BAD_LENGTH;
  if (features) { g_hist_features = features; model_hist_reset(); }
  if (b[0] & 1u) model_hist_reset();
  return ST_OK;
}

void proto_handle_frame(const uint8_t *f, uint32_t len) {
  uint32_t seq, body_len;
  int st;
  if (len < 7 || fw_crc32(0, f, len - 4) != get_u32(f + len - 4)) {
    g_counters.frames_bad_crc++; /* silent: the host times out and retransmits */
    return;
  }
  g_counters.frames_ok++;
  seq = (uint32_t)f[1] | ((uint32_t)f[2] << 8);
  if ((int32_t)seq == g_last_seq && g_reply_len && (g_reply[0] & 0x7Fu) == f[0]) {
    proto_send(g_reply, g_reply_len);
    return;
  }
  body_len = len - 7;
  g_body_len = 0;
  switch (f[0]) {
    case CMD_INFO: st = body_len ? ST_BAD_LENGTH : cmd_info(); break;
    case CMD_BEGIN: st = cmd_begin(f + 3, body_len); break;
    case CMD_DATA: st = cmd_data(f + 3, body_len); break;
    case CMD_END: st = cmd_end(body_len); break;
    case CMD_ACTIVATE: st = cmd_activate(f + 3, body_len); break;
    case CMD_ROLLBACK: st = cmd_rollback(body_len); break;
    case CMD_RUN: st = cmd_run(f + 3, body_len); break;
    case CMD_STATS: st = cmd_stats(f + 3, body_len); break;
    case CMD_RESET: st = ST_OK; g_reset_requested = 1; break;
    default: st = ST_BAD_COMMAND; g_counters.unknown_commands++; break;
  }
  g_reply[0] = (uint8_t)(f[0] | CMD_REPLY);
  g_reply[1] = f[1];
  g_reply[2] = f[2];
  g_reply[3] = (uint8_t)st;
  g_reply_len = 4 + g_body_len;
  g_last_seq = (int32_t)seq;
  proto_send(g_reply, g_reply_len);
}
