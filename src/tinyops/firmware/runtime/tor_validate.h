/* Checks shared by the per-op validators (tor_validate_ops.c, tor_validate_data.c). */
#ifndef TOR_VALIDATE_H
#define TOR_VALIDATE_H

#include "tor_internal.h"

#define CHECK(cond, err) do { if (!(cond)) return (err); } while (0)

typedef struct {
  const tor_header *h;
  const tor_tensor *t;
} ctx_t;

static inline const tor_tensor *tensor(const ctx_t *c, int32_t i, uint32_t dtype, int writable) {
  if (i < 0 || (uint32_t)i >= c->h->n_tensors) return 0;
  const tor_tensor *t = &c->t[i];
  if (t->dtype != dtype) return 0;
  if (writable && t->storage == TOR_IN_IMAGE) return 0;
  return t;
}

/* An op never writes arena bytes it also reads (the compiler's plan guarantees it; a
 * hostile image must not make kernels read their own output or memcpy overlapping). */
static inline int disjoint(const ctx_t *c, int32_t a, int32_t b) {
  if (a < 0 || b < 0) return 1;
  const tor_tensor *x = &c->t[a], *y = &c->t[b];
  if (x->storage == TOR_IN_IMAGE || y->storage == TOR_IN_IMAGE) return 1;
  return (uint64_t)x->offset + x->bytes <= y->offset || (uint64_t)y->offset + y->bytes <= x->offset;
}

static inline int shift_ok(int32_t s) { return s >= -31 && s <= 30; }
static inline int small(int32_t v) { return v >= -256 && v <= 256; }
static inline int act_ok(int32_t lo, int32_t hi) { return lo >= -128 && hi <= 127 && lo <= hi; }

/* An int32[count] table inside the constant data region. */
static inline int table_ok(const ctx_t *c, uint32_t off, int32_t count) {
  if (count < 1 || (off & 3u) || off < c->h->data_off) return 0;
  return (uint64_t)off + (uint64_t)count * 4u <= (uint64_t)c->h->data_off + c->h->data_size;
}

static inline int shifts_ok(const uint8_t *image, uint32_t off, int32_t count) {
  const int32_t *s = (const int32_t *)(const void *)(image + off);
  for (int32_t i = 0; i < count; i++)
    if (!shift_ok(s[i])) return 0;
  return 1;
}

#define PARAMS(type) \
  if (op->params_size != sizeof(type)) return TOR_ERR_BOUNDS; \
  const type *p = (const type *)(const void *)(image + op->params_off)

#endif
