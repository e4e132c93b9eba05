#include "slots.h"

#include <stddef.h>
#include <string.h>

#include "config.h"
#include "crc32.h"
#include "hal.h"
#include "proto.h"
#include "sha256.h"

#define HEADER_MAGIC 0x484c5354u /* "TSLH" */
#define COMMIT_MAGIC 0x544d4354u /* "TCMT" */
#define RECORD_BYTES 256u
#define RECORDS_PER_PAGE (HAL_FLASH_PAGE / RECORD_BYTES)
#define MARKS_OFFSET 256u /* progress marks inside the header page */
#define BLOCK HAL_FLASH_PAGE
#define BLOCKS ((FW_SLOT_CAPACITY + BLOCK - 1u) / BLOCK)
#define MARK_DONE 0x00u

/* Flash is erased to 0xFF; a block's mark goes 0xFF -> 0x00 only after the
 * block's bytes are written, so the resume point never covers torn data. */

typedef struct {
  uint32_t magic, size;
  uint8_t sha256[32];
  uint8_t kind, pad[3];
  uint32_t crc; /* over the bytes above */
} slot_header;

typedef struct {
  uint32_t magic, generation, slot, size, image_crc;
  uint8_t sha256[32];
  fw_trust trust;
  uint8_t reserved[RECORD_BYTES - 56u - sizeof(fw_trust)];
  uint32_t crc; /* over the bytes above */
} commit_record;

typedef char record_fits_its_place[sizeof(commit_record) == RECORD_BYTES ? 1 : -1];

fw_slot g_slots[SLOT_COUNT];

static uint32_t commit_page(uint8_t s) { return (uint32_t)s * HAL_FLASH_PAGE; }
static uint32_t header_addr(uint8_t s) {
  return 2u * HAL_FLASH_PAGE + (uint32_t)s * (HAL_FLASH_PAGE + BLOCKS * BLOCK);
}
static uint32_t data_addr(uint8_t s) { return header_addr(s) + HAL_FLASH_PAGE; }

uint32_t slots_region_size(void) { return header_addr(SLOT_COUNT); }
uint32_t slots_data_offset(uint8_t s) { return data_addr(s); }

static void scan_one(uint8_t s) {
  fw_slot *sl = &g_slots[s];
  slot_header h;
  commit_record r;
  uint8_t marks[BLOCKS];
  uint32_t i, best_gen = 0;
  memset(sl, 0, sizeof *sl);
  if (hal_flash_read(header_addr(s), &h, sizeof h) == 0 && h.magic == HEADER_MAGIC &&
      h.crc == fw_crc32(0, &h, offsetof(slot_header, crc)) && h.size > 0 &&
      h.size <= FW_SLOT_CAPACITY) {
    uint32_t blocks = (h.size + BLOCK - 1u) / BLOCK, done = 0;
    sl->size = h.size;
    sl->kind = h.kind;
    memcpy(sl->sha256, h.sha256, 32);
    if (hal_flash_read(header_addr(s) + MARKS_OFFSET, marks, blocks) == 0) {
      while (done < blocks && marks[done] == MARK_DONE) done++;
    }
    sl->received = done == blocks ? h.size : done * BLOCK;
    sl->state = SLOT_RECEIVING;
  }
  for (i = 0; i < RECORDS_PER_PAGE; i++) {
    if (hal_flash_read(commit_page(s) + i * RECORD_BYTES, &r, sizeof r) != 0) break;
    if (r.magic == 0xFFFFFFFFu && r.crc == 0xFFFFFFFFu && r.generation == 0xFFFFFFFFu) break;
    sl->records = i + 1u; /* a torn record still uses its place */
    if (r.magic != COMMIT_MAGIC || r.crc != fw_crc32(0, &r, offsetof(commit_record, crc))) continue;
    if (r.slot != s || r.generation <= best_gen) continue;
    /* A record counts only if the header still describes the same image. */
    if (sl->state == SLOT_EMPTY || r.size != sl->size || sl->received != sl->size ||
        memcmp(r.sha256, sl->sha256, 32) != 0)
      continue;
    best_gen = r.generation;
    sl->image_crc = r.image_crc;
    sl->trust = r.trust;
  }
  if (best_gen) {
    sl->generation = best_gen;
    sl->state = SLOT_COMMITTED;
  }
}

int slots_scan(void) {
  uint8_t s;
  for (s = 0; s < SLOT_COUNT; s++) scan_one(s);
  return 0;
}

uint32_t slots_newest_generation(void) {
  uint32_t g = 0;
  uint8_t s;
  for (s = 0; s < SLOT_COUNT; s++)
    if (g_slots[s].generation > g) g = g_slots[s].generation;
  return g;
}

int slots_begin(uint8_t s, uint32_t size, const uint8_t sha256[32], uint8_t kind) {
  fw_slot *sl = &g_slots[s];
  slot_header h;
  if (sl->state != SLOT_EMPTY && sl->state != SLOT_CORRUPT && sl->size == size &&
      sl->kind == kind && memcmp(sl->sha256, sha256, 32) == 0)
    return ST_OK; /* same image: resume from sl->received */
  /* Invalidate the old commit first, then the header: a cut in between leaves
   * a slot that is simply not bootable, never a mix of old and new. */
  if (hal_flash_erase_page(commit_page(s)) || hal_flash_erase_page(header_addr(s))) return ST_FLASH;
  memset(sl, 0, sizeof *sl);
  memset(&h, 0, sizeof h);
  h.magic = HEADER_MAGIC;
  h.size = size;
  memcpy(h.sha256, sha256, 32);
  h.kind = kind;
  h.crc = fw_crc32(0, &h, offsetof(slot_header, crc));
  if (hal_flash_write(header_addr(s), &h, sizeof h)) return ST_FLASH;
  sl->state = SLOT_RECEIVING;
  sl->size = size;
  sl->kind = kind;
  memcpy(sl->sha256, sha256, 32);
  return ST_OK;
}

int slots_write(uint8_t s, uint32_t offset, const uint8_t *data, uint32_t len) {
  fw_slot *sl = &g_slots[s];
  static const uint8_t done_mark = MARK_DONE;
  if (offset > sl->received) return ST_OFFSET;
  if (offset + len <= sl->received) return ST_OK; /* duplicate: already stored */
  /* Skip the part we already have (overlapping retransmit). */
  data += sl->received - offset;
  len -= sl->received - offset;
  offset = sl->received;
  if (offset + len > sl->size) return ST_TOO_LARGE;
  while (len > 0) {
    uint32_t in_block = offset % BLOCK;
    uint32_t take = BLOCK - in_block;
    if (take > len) take = len;
    if (in_block == 0 && hal_flash_erase_page(data_addr(s) + offset)) return ST_FLASH;
    if (hal_flash_write(data_addr(s) + offset, data, take)) return ST_FLASH;
    offset += take;
    data += take;
    len -= take;
    sl->received = offset;
    if (offset % BLOCK == 0 || offset == sl->size) {
      uint32_t block = (offset - 1u) / BLOCK;
      if (hal_flash_write(header_addr(s) + MARKS_OFFSET + block, &done_mark, 1)) return ST_FLASH;
    }
  }
  return ST_OK;
}

/* Stream the slot's bytes through sha256 and CRC32 (and into buf if given). */
static int digest(uint8_t s, uint8_t *buf, uint32_t cap, uint8_t sha[32], uint32_t *crc) {
  fw_slot *sl = &g_slots[s];
  uint8_t chunk[256];
  fw_sha256 h;
  uint32_t off = 0;
  if (buf && sl->size > cap) return ST_TOO_LARGE;
  fw_sha256_init(&h);
  *crc = 0;
  while (off < sl->size) {
    uint32_t take = sl->size - off;
    uint8_t *dst;
    if (buf) {
      dst = buf + off;
      if (take > 4096u) take = 4096u;
    } else {
      dst = chunk;
      if (take > sizeof chunk) take = sizeof chunk;
    }
    if (hal_flash_read(data_addr(s) + off, dst, take)) return ST_FLASH;
    fw_sha256_update(&h, dst, take);
    *crc = fw_crc32(*crc, dst, take);
    off += take;
  }
  fw_sha256_final(&h, sha);
  return ST_OK;
}

int slots_finish(uint8_t s) {
  fw_slot *sl = &g_slots[s];
  uint8_t sha[32];
  uint32_t crc;
  int st;
  if (sl->state == SLOT_EMPTY) return ST_NO_TRANSFER;
  if (sl->received != sl->size) return ST_INCOMPLETE;
  st = digest(s, NULL, 0, sha, &crc);
  if (st) return st;
  if (memcmp(sha, sl->sha256, 32) != 0) {
    /* Wrong bytes in flash: forget the transfer so it starts over clean. */
    if (hal_flash_erase_page(header_addr(s))) return ST_FLASH;
    memset(sl, 0, sizeof *sl);
    return ST_SHA_MISMATCH;
  }
  sl->image_crc = crc;
  if (sl->state == SLOT_RECEIVING) sl->state = SLOT_COMPLETE;
  return ST_OK;
}

int slots_read_verified(uint8_t s, uint8_t *buf, uint32_t cap) {
  fw_slot *sl = &g_slots[s];
  uint8_t sha[32];
  uint32_t crc;
  int st;
  if (sl->state != SLOT_COMPLETE && sl->state != SLOT_COMMITTED) return ST_NOT_VERIFIED;
  st = digest(s, buf, cap, sha, &crc);
  if (st) return st;
  if (memcmp(sha, sl->sha256, 32) != 0 || (sl->image_crc && crc != sl->image_crc)) {
    sl->state = SLOT_CORRUPT;
    return ST_SHA_MISMATCH;
  }
  sl->image_crc = crc;
  return ST_OK;
}

int slots_commit(uint8_t s, const fw_trust *trust) {
  fw_slot *sl = &g_slots[s];
  commit_record r;
  if (sl->records >= RECORDS_PER_PAGE) {
    /* Log page full. Only called for a slot about to become active, while the
     * current active slot keeps its own record: erasing here is safe. */
    if (hal_flash_erase_page(commit_page(s))) return ST_FLASH;
    sl->records = 0;
  }
  memset(&r, 0, sizeof r);
  r.magic = COMMIT_MAGIC;
  r.generation = slots_newest_generation() + 1u;
  r.slot = s;
  r.size = sl->size;
  r.image_crc = sl->image_crc;
  memcpy(r.sha256, sl->sha256, 32);
  r.trust = *trust;
  r.crc = fw_crc32(0, &r, offsetof(commit_record, crc));
  sl->records++;
  if (hal_flash_write(commit_page(s) + (sl->records - 1u) * RECORD_BYTES, &r, sizeof r))
    return ST_FLASH;
  sl->generation = r.generation;
  sl->trust = *trust;
  sl->state = SLOT_COMMITTED;
  return ST_OK;
}
