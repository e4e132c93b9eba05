/* Which images may become active: the pinned signing key, signed image tickets,
 * key-rotation links and the anti-rollback floors (see firmware/PROTOCOL.md,
 * "Trust and anti-rollback").
 *
 * Nothing here has a flash page of its own: the trust state travels in the
 * commit record (slots.c), written last, so a key rotation or a raised floor
 * takes effect exactly when the image that carried it is committed. The first
 * ticket a device accepts pins its key (trust on first use at provisioning);
 * from then on every newly transferred image needs a ticket signed by that key
 * or by a key it rotated to through links signed by the key before. */
#ifndef TINYOPS_TRUST_H
#define TINYOPS_TRUST_H

#include <stdint.h>

#define TRUST_LINES 4u       /* model lines whose floors a device remembers */
#define TICKET_BYTES 160u    /* signed part (96) + Ed25519 signature (64) */
#define LINK_BYTES 100u      /* new key (32) + generation (4) + signature (64) */
#define TRUST_MAX_LINKS 4u
#define TICKET_MAGIC 0x31544b54u /* "TKT1" */
#define TICKET_ROLLBACK 1u

enum { TRUST_KEY = 1u, TRUST_TICKET = 2u };

typedef struct {
  uint8_t line[8];
  uint32_t version;
} fw_floor;

/* Stored in every commit record. */
typedef struct {
  uint32_t flags;          /* TRUST_KEY: key is pinned; TRUST_TICKET: image came with a ticket */
  uint32_t key_generation; /* of `key` in the workspace's rotation chain */
  uint8_t key[32];
  uint8_t line[8];         /* the committed image's model line and security version */
  uint32_t version;
  fw_floor floors[TRUST_LINES]; /* floors of the images before this one */
} fw_trust;

/* AUTHORIZE: ticket (+ links). Verified now, remembered until the next switch. */
int trust_authorize(const uint8_t *body, uint32_t len);
/* May `slot` become active? fresh: a newly transferred image (else a committed one
 * going back). Fills what its commit record must carry. Returns 0 or a status. */
int trust_check_switch(uint8_t slot, int fresh, fw_trust *out);
void trust_clear_pending(void);
/* INFO tail: flags, key generation, first 8 bytes of the pinned key, active line's floor. */
uint32_t trust_info(uint8_t *dst, uint32_t cap);

#endif
