#include "trust.h"

#include <string.h>

#include "ed25519.h"
#include "proto.h"
#include "slots.h"

static const char TICKET_DOMAIN[] = "tinyops-image-ticket/1\n";
static const char LINK_DOMAIN[] = "tinyops-key-link/1\n";

typedef struct {
  int valid;
  uint8_t sha256[32], line[8], key[32];
  uint32_t version, flags, key_generation;
} pending_ticket;

static pending_ticket g_pending;

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The trust of the newest commit (the active image, or the last one committed). */
static const fw_trust *current(void) {
  const fw_trust *t = NULL;
  uint32_t best = 0;
  uint8_t s;
  for (s = 0; s < SLOT_COUNT; s++)
    if (g_slots[s].generation > best) {
      best = g_slots[s].generation;
      t = &g_slots[s].trust;
    }
  return t;
}

void trust_clear_pending(void) { memset(&g_pending, 0, sizeof g_pending); }

int trust_authorize(const uint8_t *b, uint32_t n) {
  const fw_trust *cur = current();
  uint8_t key[32], msg[32 + 32 + 4];
  uint32_t gen = 0, i, links;
  int pinned = cur && (cur->flags & TRUST_KEY);
  trust_clear_pending();
  if (n < TICKET_BYTES || (n - TICKET_BYTES) % LINK_BYTES) return ST_BAD_LENGTH;
  links = (n - TICKET_BYTES) / LINK_BYTES;
  if (links > TRUST_MAX_LINKS || get_u32(b) != TICKET_MAGIC) return ST_BAD_LENGTH;
  if (pinned) {
    memcpy(key, cur->key, 32);
    gen = cur->key_generation;
    for (i = 0; i < links; i++) {
      const uint8_t *l = b + TICKET_BYTES + i * LINK_BYTES;
      uint32_t lgen = get_u32(l + 32);
      if (lgen <= gen) continue; /* a link this device already passed */
      memcpy(msg, key, 32);
      memcpy(msg + 32, l, 32);
      memcpy(msg + 64, l + 32, 4);
      if (fw_ed25519_verify(l + 36, key, (const uint8_t *)LINK_DOMAIN, sizeof LINK_DOMAIN - 1u, msg, sizeof msg))
        return ST_BAD_SIGNATURE;
      memcpy(key, l, 32);
      gen = lgen;
    }
    /* The ticket must be signed by the key trusted now: a retired or foreign key is refused. */
    if (memcmp(b + 8, key, 32) != 0 || get_u32(b + 4) != gen) return ST_UNTRUSTED_KEY;
  } else {
    memcpy(key, b + 8, 32); /* first use: the ticket's key gets pinned when its image is committed */
    gen = get_u32(b + 4);
  }
  if (fw_ed25519_verify(b + 96, key, (const uint8_t *)TICKET_DOMAIN, sizeof TICKET_DOMAIN - 1u, b, 96))
    return ST_BAD_SIGNATURE;
  g_pending.valid = 1;
  memcpy(g_pending.sha256, b + 40, 32);
  memcpy(g_pending.line, b + 72, 8);
  g_pending.version = get_u32(b + 80);
  g_pending.flags = get_u32(b + 84);
  memcpy(g_pending.key, key, 32);
  g_pending.key_generation = gen;
  return ST_OK;
}

static uint32_t floor_of(const fw_floor *f, const uint8_t line[8]) {
  uint32_t i;
  for (i = 0; i < TRUST_LINES; i++)
    if (memcmp(f[i].line, line, 8) == 0) return f[i].version;
  return 0;
}

/* Raise (or add, most recent first) a line's floor. */
static void floor_raise(fw_floor *f, const uint8_t line[8], uint32_t version) {
  fw_floor keep = {{0}, 0};
  uint32_t i, at = TRUST_LINES - 1u;
  static const uint8_t none[8] = {0};
  if (memcmp(line, none, 8) == 0) return;
  for (i = 0; i < TRUST_LINES; i++)
    if (memcmp(f[i].line, line, 8) == 0) { at = i; break; }
  memcpy(keep.line, line, 8);
  keep.version = f[at].version > version && memcmp(f[at].line, line, 8) == 0 ? f[at].version : version;
  memmove(f + 1, f, at * sizeof *f);
  f[0] = keep;
}

int trust_check_switch(uint8_t slot, int fresh, fw_trust *out) {
  const fw_trust *cur = current();
  const fw_trust *own = &g_slots[slot].trust; /* a committed slot's record, when going back */
  int pinned = cur && (cur->flags & TRUST_KEY);
  int ticket = g_pending.valid && memcmp(g_pending.sha256, g_slots[slot].sha256, 32) == 0;
  memset(out, 0, sizeof *out);
  if (cur) {
    memcpy(out->floors, cur->floors, sizeof out->floors);
    out->flags = cur->flags & TRUST_KEY;
    out->key_generation = cur->key_generation;
    memcpy(out->key, cur->key, 32);
  }
  if (ticket) {
    /* The running image becomes history: its version joins the floors it is checked against. */
    if (cur && (cur->flags & TRUST_TICKET)) floor_raise(out->floors, cur->line, cur->version);
    if (g_pending.version < floor_of(out->floors, g_pending.line) && !(g_pending.flags & TICKET_ROLLBACK))
      return ST_ROLLBACK_REFUSED;
    out->flags = TRUST_KEY | TRUST_TICKET;
    out->key_generation = g_pending.key_generation;
    memcpy(out->key, g_pending.key, 32);
    memcpy(out->line, g_pending.line, 8);
    out->version = g_pending.version;
    return ST_OK;
  }
  if (fresh) {
    if (pinned) return ST_NOT_AUTHORISED; /* a new image on a pinned device needs its ticket */
    if (cur && (cur->flags & TRUST_TICKET)) floor_raise(out->floors, cur->line, cur->version);
    return ST_OK; /* not provisioned yet: images without tickets, as before */
  }
  /* Going back to the other committed image (a failed self-test, `rollback`): it was
   * authorised when installed; it must still be at or above the floors that were
   * in force before the image being left. */
  if (pinned && !(own->flags & TRUST_TICKET)) return ST_NOT_AUTHORISED;
  if ((own->flags & TRUST_TICKET) && own->version < floor_of(out->floors, own->line)) return ST_ROLLBACK_REFUSED;
  memcpy(out->line, own->line, 8);
  out->version = own->version;
  out->flags |= own->flags & TRUST_TICKET;
  return ST_OK;
}

uint32_t trust_info(uint8_t *dst, uint32_t cap) {
  const fw_trust *cur = current();
  uint32_t v;
  if (cap < 20u) return 0;
  memset(dst, 0, 20);
  if (!cur) return 20;
  dst[0] = (uint8_t)cur->flags;
  v = cur->key_generation;
  dst[1] = (uint8_t)v; dst[2] = (uint8_t)(v >> 8); dst[3] = (uint8_t)(v >> 16);
  memcpy(dst + 4, cur->key, 8);
  v = cur->version;
  dst[12] = (uint8_t)v; dst[13] = (uint8_t)(v >> 8); dst[14] = (uint8_t)(v >> 16); dst[15] = (uint8_t)(v >> 24);
  v = floor_of(cur->floors, cur->line);
  dst[16] = (uint8_t)v; dst[17] = (uint8_t)(v >> 8); dst[18] = (uint8_t)(v >> 16); dst[19] = (uint8_t)(v >> 24);
  return 20;
}
