/* A/B model slots in flash with commit records written last.
 *
 * Layout (offsets in the HAL flash region, pages of HAL_FLASH_PAGE bytes):
 *   page 0          commit log of slot 0 (append-only 256-byte records; each carries
 *                   the trust state: pinned key, security version, floors)
 *   page 1          commit log of slot 1
 *   slot 0 header   one page: header (size, sha256, kind, CRC) + progress marks
 *   slot 0 data     FW_SLOT_CAPACITY bytes
 *   slot 1 header, slot 1 data
 * A slot is active only through a valid commit record; boot picks the newest
 * generation whose image CRC32 and sha256 check out. */
#ifndef TINYOPS_SLOTS_H
#define TINYOPS_SLOTS_H

#include <stdint.h>

#include "trust.h"

#define SLOT_COUNT 2
#define SLOT_NONE 0xFFu

enum {
  SLOT_EMPTY = 0,     /* nothing usable */
  SLOT_RECEIVING = 1, /* transfer begun; `received` bytes are in flash */
  SLOT_COMPLETE = 2,  /* all bytes in, sha256 verified by END, not committed */
  SLOT_COMMITTED = 3, /* has a valid commit record */
  SLOT_CORRUPT = 4    /* committed, but its bytes no longer verify */
};

enum { IMAGE_KIND_MODEL = 1, IMAGE_KIND_FIRMWARE = 2 };

typedef struct {
  uint8_t state;
  uint8_t kind;
  uint32_t generation; /* of the newest valid commit record, 0 if none */
  uint32_t size;
  uint32_t received; /* contiguous bytes written (resume point) */
  uint32_t image_crc;
  uint32_t records; /* commit records used in the slot's log page */
  uint8_t sha256[32];
  fw_trust trust; /* from the newest valid commit record */
} fw_slot;

extern fw_slot g_slots[SLOT_COUNT];

/* Scan headers, progress marks and commit logs (no image verification). */
int slots_scan(void);
uint32_t slots_region_size(void);
/* Offset of a slot's image in the HAL flash region (execute-in-place boards). */
uint32_t slots_data_offset(uint8_t s);

/* Transfer. Return 0 or a protocol status (proto.h). */
int slots_begin(uint8_t slot, uint32_t size, const uint8_t sha256[32], uint8_t kind);
int slots_write(uint8_t slot, uint32_t offset, const uint8_t *data, uint32_t len);
int slots_finish(uint8_t slot); /* END: recompute sha256 over flash */

/* Read a slot's image into buf and check size, CRC (if known) and sha256. */
int slots_read_verified(uint8_t slot, uint8_t *buf, uint32_t cap);
/* Append a commit record with generation = newest + 1, carrying `trust`. Written last. */
int slots_commit(uint8_t slot, const fw_trust *trust);
uint32_t slots_newest_generation(void);

#endif
