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
  CMD_ROLLBACK = 0x06, CMD_RUN = 0x07, CMD_STATS = 0x08, CMD_RESET = 0x09
};
#define CMD_REPLY 0x80u

enum {
  ST_OK = 0, ST_BAD_COMMAND = 1, ST_BAD_LENGTH = 2, ST_BAD_SLOT = 3, ST_SLOT_ACTIVE = 4,
  ST_TOO_LARGE = 5, ST_NO_TRANSFER = 6, ST_OFFSET = 7, ST_INCOMPLETE = 8,
  ST_SHA_MISMATCH = 9, ST_NOT_VERIFIED = 10, ST_IMAGE_INVALID = 11, ST_NO_MODEL = 12,
  ST_NO_ROLLBACK = 13, ST_FLASH = 14, ST_UNSUPPORTED_KIND = 15, ST_INPUT_SIZE = 16,
  ST_RUN_FAILED = 17
};

/* Handle one decoded frame (CRC included). Sends the reply itself. */
void proto_handle_frame(const uint8_t *frame, uint32_t len);
void proto_reset_state(void);
/* Set when a RESET reply has been sent; the main loop then resets. */
extern int g_reset_requested;

/* SLIP-encode and send one reply payload (CRC appended here). */
void proto_send(const uint8_t *payload, uint32_t len);

#endif
