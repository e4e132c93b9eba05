/* Checks shared by the per-op validators (tor_validate_ops.c, tor_validate_data.c). */
#ifndef TOR_VALIDATE_H
#define TOR_VALIDATE_H

#include <stddef.h>

#include "tor_internal.h"

#define CHECK(cond, err) do { if (!(cond)) return (err); } while (0)

typedef struct {
  const tor_header *h;
  const tor_tensor *t;
  int segment; /* validating a SEGMENT's member: window tensors allowed, overlaps checked by the segment */
} ctx_t;

/* One out-of-line copy each for both validator files (tor_validate_ops.c): flash. */
/* Tensor i if it exists with this dtype (and, if writable, lives in the arena); else 0. */
const tor_tensor *tor_vtensor(const ctx_t *c, int32_t i, uint32_t dtype, int writable);
/* An op never writes arena bytes it also reads (the compiler's plan guarantees it; a
 * hostile image must not make kernels read their own output or memcpy overlapping). */
int tor_disjoint(const ctx_t *c, int32_t a, int32_t b);
/* An int32[count] table inside the constant data region. */
int tor_table_ok(const ctx_t *c, uint32_t off, int32_t count);
/* Every int32 of image[off..] (count of them, inside the image) is a valid shift. */
int tor_shifts_ok(const uint8_t *image, uint32_t off, int32_t count);
/* v[0..n-1] all in [lo, hi]. */
int tor_all_in(const int32_t *v, int n, int32_t lo, int32_t hi);
/* n zero-point offsets v[0..n-1] (small), then act_min, act_max (act_ok). */
int tor_offsets_act_ok(const int32_t *v, int n);

static inline int shift_ok(int32_t s) { return s >= -31 && s <= 30; }
static inline int small(int32_t v) { return v >= -256 && v <= 256; }
static inline int act_ok(int32_t lo, int32_t hi) { return lo >= -128 && hi <= 127 && lo <= hi; }

/* The int32 field f of the params record p (of type T) and the ones after it, as an array. */
#define FIELDS(p, T, f) ((const int32_t *)(const void *)((const uint8_t *)(p) + offsetof(T, f)))

/* The op's params record; tor_validate_op checked its size (kParamsSize) first. */
#define PARAMS(type) const type *p = (const type *)(const void *)(image + op->params_off)

#endif
