#include "proto.h"

#include <string.h>

#include "config.h"
#include "crc32.h"
#include "hal.h"
#include "model.h"
#include "slots.h"
#include "trust.h"

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
#define BODY (g_reply + LEN_REP)
#define BODY_CAP (sizeof g_reply - (uint32_t)LEN_REP)

static int cmd_info(void) {
  uint8_t *p = BODY;
  const char *name = hal_board_name();
  uint32_t nlen = (uint32_t)strlen(name), s;
  if (nlen > 32) nlen = 32;
  p[OFF_INFO_PROTOCOL] = FW_PROTOCOL_VERSION;
  p[OFF_INFO_MAJOR] = FW_VERSION_MAJOR; p[OFF_INFO_MINOR] = FW_VERSION_MINOR; p[OFF_INFO_PATCH] = FW_VERSION_PATCH;
  p[OFF_INFO_COUNTER_UNIT] = (uint8_t)hal_counter_unit();
  p[OFF_INFO_ACTIVE_SLOT] = g_active_slot;
  put_u16(p + OFF_INFO_MAX_FRAME, FW_MAX_FRAME);
  put_u32(p + OFF_INFO_MAX_CHUNK, FW_MAX_CHUNK);
  put_u32(p + OFF_INFO_RX_WINDOW, FW_RX_WINDOW);
  put_u32(p + OFF_INFO_ARENA_CAPACITY, FW_ARENA_CAPACITY);
  put_u32(p + OFF_INFO_SLOT_CAPACITY, FW_SLOT_CAPACITY);
  put_u32(p + OFF_INFO_BOOTS, g_counters.boots);
  put_u32(p + OFF_INFO_INPUT_BYTES, model_input_bytes());
  put_u32(p + OFF_INFO_OUTPUT_BYTES, model_output_bytes());
  p[OFF_INFO_NAME_LEN] = (uint8_t)nlen;
  memcpy(p + LEN_INFO, name, nlen);
  p += LEN_INFO + nlen;
  for (s = 0; s < SLOT_COUNT; s++) {
    const fw_slot *sl = &g_slots[s];
    p[OFF_SLOT_STATE] = sl->state; p[OFF_SLOT_KIND] = sl->kind;
    put_u32(p + OFF_SLOT_GENERATION, sl->generation);
    put_u32(p + OFF_SLOT_SIZE, sl->size);
    put_u32(p + OFF_SLOT_RECEIVED, sl->received);
    memcpy(p + OFF_SLOT_SHA256, sl->sha256, 32);
    p += LEN_SLOT;
  }
  p += model_runtime_info(p, (uint32_t)BODY_CAP - (uint32_t)(p - BODY));
  p += trust_info(p, (uint32_t)BODY_CAP - (uint32_t)(p - BODY));
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
  if (n != LEN_BEGIN) return ST_BAD_LENGTH;
  slot = b[OFF_BEGIN_SLOT] == SLOT_NONE ? inactive_slot() : b[OFF_BEGIN_SLOT];
  size = get_u32(b + OFF_BEGIN_SIZE);
  if (slot >= SLOT_COUNT) return ST_BAD_SLOT;
  if (slot == g_active_slot) return ST_SLOT_ACTIVE;
  if (b[OFF_BEGIN_KIND] != IMAGE_KIND_MODEL) return ST_UNSUPPORTED_KIND;
  if (size == 0 || size > FW_SLOT_CAPACITY) return ST_TOO_LARGE;
  st = slots_begin(slot, size, b + OFF_BEGIN_SHA256, b[OFF_BEGIN_KIND]);
  if (st) return st;
  g_transfer_slot = slot;
  BODY[OFF_BEGIN_REPLY_SLOT] = slot;
  put_u32(BODY + OFF_BEGIN_REPLY_RECEIVED, g_slots[slot].received);
  g_body_len = LEN_BEGIN_REPLY;
  return ST_OK;
}

static int cmd_data(const uint8_t *b, uint32_t n) {
  int st;
  if (n < LEN_DATA || n - LEN_DATA > FW_MAX_CHUNK) return ST_BAD_LENGTH;
  if (g_transfer_slot == SLOT_NONE) return ST_NO_TRANSFER;
  st = slots_write(g_transfer_slot, get_u32(b + OFF_DATA_OFFSET), b + LEN_DATA, n - LEN_DATA);
  /* the resume point, also on ST_OFFSET */
  put_u32(BODY + OFF_DATA_REPLY_RECEIVED, g_slots[g_transfer_slot].received);
  g_body_len = LEN_DATA_REPLY;
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

/* Make `slot` the running model, then write its commit record last. The trust
 * check comes first: a refused image is never even loaded. */
static int switch_to(uint8_t slot, int fresh) {
  uint8_t previous = g_active_slot, code = 0;
  fw_trust trust;
  int st = trust_check_switch(slot, fresh, &trust);
  if (st != ST_OK) return st;
  st = model_activate_slot(slot, &code);
  if (st == ST_OK) st = slots_commit(slot, &trust);
  if (st == ST_OK) trust_clear_pending();
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
  st = switch_to(slot, g_slots[slot].state == SLOT_COMPLETE);
  if (st == ST_OK) { g_counters.activations++; g_transfer_slot = SLOT_NONE; }
  return st;
}

static int cmd_rollback(uint32_t n) {
  uint8_t other;
  int st;
  if (n != 0) return ST_BAD_LENGTH;
  other = g_active_slot == SLOT_NONE ? SLOT_NONE : (uint8_t)(1u - g_active_slot);
  if (other == SLOT_NONE || g_slots[other].state != SLOT_COMMITTED) return ST_NO_ROLLBACK;
  st = switch_to(other, 0);
  if (st == ST_OK) g_counters.rollbacks++;
  return st;
}

static int cmd_run(const uint8_t *b, uint32_t n) {
  uint32_t off, len, in_bytes;
  uint64_t count = 0;
  tor_status ts;
  if (n < LEN_RUN) return ST_BAD_LENGTH;
  if (!model_loaded()) return ST_NO_MODEL;
  off = get_u32(b + OFF_RUN_OFFSET);
  len = n - LEN_RUN;
  in_bytes = model_input_bytes();
  if (off > in_bytes || len > in_bytes - off) return ST_INPUT_SIZE;
  memcpy(g_input + off, b + LEN_RUN, len);
  if (!(b[OFF_RUN_FLAGS] & 1u)) { put_u32(BODY, off + len); g_body_len = 4; return ST_OK; }
  ts = model_run(&count);
  if (ts != TOR_OK) { BODY[0] = (uint8_t)ts; g_body_len = 1; return ST_RUN_FAILED; }
  BODY[OFF_RUN_REPLY_UNIT] = (uint8_t)hal_counter_unit();
  put_u32(BODY + OFF_RUN_REPLY_COUNT_LO, (uint32_t)count);
  put_u32(BODY + OFF_RUN_REPLY_COUNT_HI, (uint32_t)(count >> 32));
  len = model_copy_output(BODY + LEN_RUN_REPLY, BODY_CAP - (uint32_t)LEN_RUN_REPLY);
  put_u32(BODY + OFF_RUN_REPLY_OUTPUT_LEN, len);
  g_body_len = LEN_RUN_REPLY + len;
  return ST_OK;
}

static int cmd_stats(const uint8_t *b, uint32_t n) {
  uint32_t i, features, words;
  const uint32_t *c = (const uint32_t *)(const void *)&g_counters;
  uint8_t *p = BODY;
  if (n != LEN_STATS) return ST_BAD_LENGTH;
  features = (uint32_t)b[OFF_STATS_FEATURES] | ((uint32_t)b[OFF_STATS_FEATURES + 1] << 8);
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
  if (b[OFF_STATS_FLAGS] & 1u) model_hist_reset();
  return ST_OK;
}

void proto_handle_frame(const uint8_t *f, uint32_t len) {
  uint32_t seq, body_len;
  int st;
  if (len < LEN_REQ + 4u || fw_crc32(0, f, len - 4) != get_u32(f + len - 4)) {
    g_counters.frames_bad_crc++; /* silent: the host times out and retransmits */
    return;
  }
  g_counters.frames_ok++;
  seq = (uint32_t)f[OFF_REQ_SEQ] | ((uint32_t)f[OFF_REQ_SEQ + 1] << 8);
  if ((int32_t)seq == g_last_seq && g_reply_len && (g_reply[OFF_REP_CMD] & 0x7Fu) == f[OFF_REQ_CMD]) {
    proto_send(g_reply, g_reply_len);
    return;
  }
  body_len = len - LEN_REQ - 4u;
  g_body_len = 0;
  switch (f[OFF_REQ_CMD]) {
    case CMD_INFO: st = body_len ? ST_BAD_LENGTH : cmd_info(); break;
    case CMD_BEGIN: st = cmd_begin(f + LEN_REQ, body_len); break;
    case CMD_DATA: st = cmd_data(f + LEN_REQ, body_len); break;
    case CMD_END: st = cmd_end(body_len); break;
    case CMD_ACTIVATE: st = cmd_activate(f + LEN_REQ, body_len); break;
    case CMD_ROLLBACK: st = cmd_rollback(body_len); break;
    case CMD_RUN: st = cmd_run(f + LEN_REQ, body_len); break;
    case CMD_STATS: st = cmd_stats(f + LEN_REQ, body_len); break;
    case CMD_RESET: st = ST_OK; g_reset_requested = 1; break;
    case CMD_AUTHORIZE: st = trust_authorize(f + 3, body_len); break;
    default: st = ST_BAD_COMMAND; g_counters.unknown_commands++; break;
  }
  g_reply[OFF_REP_CMD] = (uint8_t)(f[OFF_REQ_CMD] | CMD_REPLY);
  g_reply[OFF_REP_SEQ] = f[OFF_REQ_SEQ];
  g_reply[OFF_REP_SEQ + 1] = f[OFF_REQ_SEQ + 1];
  g_reply[OFF_REP_STATUS] = (uint8_t)st;
  g_reply_len = LEN_REP + g_body_len;
  g_last_seq = (int32_t)seq;
  proto_send(g_reply, g_reply_len);
}
