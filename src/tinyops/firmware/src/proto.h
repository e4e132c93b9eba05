/* Binary update protocol: see firmware/PROTOCOL.md. */
#ifndef TINYOPS_PROTO_H
#define TINYOPS_PROTO_H

#include <stdint.h>

#define SLIP_END 0xC0u
#define SLIP_ESC 0xDBu
#define SLIP_ESC_END 0xDCu
#define SLIP_ESC_ESC 0xDDu

enum {
  CMD_INFO = 0x01, CMD_BEGIN = 0x02, CMD_DATA = 0x03, CMD_END = 0x04, CMD_ACTIVATE = 0x05,
  CMD_ROLLBACK = 0x06, CMD_RUN = 0x07, CMD_STATS = 0x08, CMD_RESET = 0x09, CMD_AUTHORIZE = 0x0A
};
#define CMD_REPLY 0x80u

enum {
  ST_OK = 0, ST_BAD_COMMAND = 1, ST_BAD_LENGTH = 2, ST_BAD_SLOT = 3, ST_SLOT_ACTIVE = 4,
  ST_TOO_LARGE = 5, ST_NO_TRANSFER = 6, ST_OFFSET = 7, ST_INCOMPLETE = 8,
  ST_SHA_MISMATCH = 9, ST_NOT_VERIFIED = 10, ST_IMAGE_INVALID = 11, ST_NO_MODEL = 12,
  ST_NO_ROLLBACK = 13, ST_FLASH = 14, ST_UNSUPPORTED_KIND = 15, ST_INPUT_SIZE = 16,
  ST_RUN_FAILED = 17, ST_BAD_SIGNATURE = 18, ST_UNTRUSTED_KEY = 19, ST_NOT_AUTHORISED = 20,
  ST_ROLLBACK_REFUSED = 21
};

/* Byte offsets of every fixed field on the wire (PROTOCOL.md), little-endian, no
 * padding: OFF_<MESSAGE>_<FIELD>, and LEN_<MESSAGE> for the fixed part's length.
 * tests/devices/test_wire_spec.py compiles these and checks them, field by field,
 * against the layouts in devices/serial/framing.py and protocol.py. */
enum { OFF_REQ_CMD = 0, OFF_REQ_SEQ = 1, LEN_REQ = 3 };
enum { OFF_REP_CMD = 0, OFF_REP_SEQ = 1, OFF_REP_STATUS = 3, LEN_REP = 4 };
enum {
  OFF_INFO_PROTOCOL = 0, OFF_INFO_MAJOR = 1, OFF_INFO_MINOR = 2, OFF_INFO_PATCH = 3,
  OFF_INFO_COUNTER_UNIT = 4, OFF_INFO_ACTIVE_SLOT = 5, OFF_INFO_MAX_FRAME = 6, OFF_INFO_MAX_CHUNK = 8,
  OFF_INFO_RX_WINDOW = 12, OFF_INFO_ARENA_CAPACITY = 16, OFF_INFO_SLOT_CAPACITY = 20,
  OFF_INFO_BOOTS = 24, OFF_INFO_INPUT_BYTES = 28, OFF_INFO_OUTPUT_BYTES = 32, OFF_INFO_NAME_LEN = 36,
  LEN_INFO = 37 /* then the board name, SLOT_COUNT slot records, the runtime tail */
};
enum {
  OFF_SLOT_STATE = 0, OFF_SLOT_KIND = 1, OFF_SLOT_GENERATION = 2, OFF_SLOT_SIZE = 6,
  OFF_SLOT_RECEIVED = 10, OFF_SLOT_SHA256 = 14, LEN_SLOT = 46
};
enum { OFF_BEGIN_SLOT = 0, OFF_BEGIN_SIZE = 1, OFF_BEGIN_SHA256 = 5, OFF_BEGIN_KIND = 37, LEN_BEGIN = 38 };
enum { OFF_BEGIN_REPLY_SLOT = 0, OFF_BEGIN_REPLY_RECEIVED = 1, LEN_BEGIN_REPLY = 5 };
enum { OFF_DATA_OFFSET = 0, LEN_DATA = 4 /* then the chunk */ };
enum { OFF_DATA_REPLY_RECEIVED = 0, LEN_DATA_REPLY = 4 };
enum { OFF_RUN_OFFSET = 0, OFF_RUN_FLAGS = 4, LEN_RUN = 5 /* then input bytes */ };
enum {
  OFF_RUN_REPLY_UNIT = 0, OFF_RUN_REPLY_COUNT_LO = 1, OFF_RUN_REPLY_COUNT_HI = 5,
  OFF_RUN_REPLY_OUTPUT_LEN = 9, LEN_RUN_REPLY = 13 /* then the output */
};
enum { OFF_STATS_FLAGS = 0, OFF_STATS_FEATURES = 1, LEN_STATS = 3 };

/* Handle one decoded frame (CRC included). Sends the reply itself. */
void proto_handle_frame(const uint8_t *frame, uint32_t len);
void proto_reset_state(void);
/* Set when a RESET reply has been sent; the main loop then resets. */
extern int g_reset_requested;

/* SLIP-encode and send one reply payload (CRC appended here). */
void proto_send(const uint8_t *payload, uint32_t len);

#endif
