/* Image validation and binding: every offset and size is checked against the image and
 * the arena before any kernel runs, so a hostile image is rejected, never executed. */
#include <string.h>

#include "tor_internal.h"

static const char *const kMessages[TOR_ERR_COUNT] = {
    "ok",
    "a required pointer was NULL",
    "image is shorter than its header or tables say",
    "not a tinyops model image (bad magic)",
    "image format version not supported by this runtime",
    "image CRC32 does not match (corrupt or incomplete transfer)",
    "an offset or size points outside the image or arena",
    "unknown or unsupported op code",
    "arena is smaller than the image needs",
    "inconsistent tensor shapes or op parameters",
    "input/output index out of range",
    "image or arena is misaligned",
};

const char *tor_status_message(tor_status s) {
  return ((unsigned)s < TOR_ERR_COUNT) ? kMessages[s] : "unknown status";
}

/* CRC-32 (IEEE, as zlib) with a 16-entry table: small flash, no mutable state. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint32_t n) {
  static const uint32_t k[16] = {0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
                                 0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
                                 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};
  for (uint32_t i = 0; i < n; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ k[crc & 15u];
    crc = (crc >> 4) ^ k[crc & 15u];
  }
  return crc;
}

static int range_ok(uint32_t off, uint64_t len, uint32_t limit) { return (uint64_t)off + len <= limit; }

static const uint32_t kElemSize[TOR_DT_COUNT] = {1, 4, 4};

static tor_status check_tensor(const tor_header *h, const tor_tensor *t) {
  if (t->dtype >= TOR_DT_COUNT || t->rank > 4 || t->storage > TOR_IN_WINDOW) return TOR_ERR_SHAPE;
  uint64_t n = kElemSize[t->dtype];
  for (int d = 0; d < 4; d++) {
    if (t->dims[d] < 1 || t->dims[d] > TOR_MAX_DIM) return TOR_ERR_SHAPE;
    if (d < 4 - (int)t->rank && t->dims[d] != 1) return TOR_ERR_SHAPE;
    n *= (uint64_t)t->dims[d];
    if (n > 0x7fffffffu) return TOR_ERR_SHAPE;
  }
  if (n != t->bytes) return TOR_ERR_SHAPE;
  if (t->offset % kElemSize[t->dtype] != 0) return TOR_ERR_ALIGN;
  if (t->storage == TOR_IN_WINDOW) {
    if (t->offset != 0) return TOR_ERR_BOUNDS;
  } else if (t->storage != TOR_IN_IMAGE) {
    if (!range_ok(t->offset, t->bytes, h->arena_bytes)) return TOR_ERR_BOUNDS;
  } else {
    if (t->offset < h->data_off || !range_ok(t->offset, t->bytes, h->data_off + h->data_size)) return TOR_ERR_BOUNDS;
  }
  return TOR_OK;
}

tor_status tor_validate(const uint8_t *image, uint32_t image_size, uint32_t *arena_needed) {
  if (!image) return TOR_ERR_NULL;
  if (((uintptr_t)image & 3u) != 0) return TOR_ERR_ALIGN;
  if (image_size < sizeof(tor_header)) return TOR_ERR_TRUNCATED;
  const tor_header *h = tor_hdr(image);
  if (h->magic != TOR_MAGIC) return TOR_ERR_MAGIC;
  if (h->version != TOR_FORMAT_VERSION) return TOR_ERR_VERSION;
  if (h->image_size < sizeof(tor_header) || h->image_size > image_size) return TOR_ERR_TRUNCATED;
  const uint32_t size = h->image_size;
  static const uint8_t zero[4] = {0, 0, 0, 0};
  uint32_t crc = crc_update(0xffffffffu, image, 12);
  crc = crc_update(crc, zero, 4);
  crc = crc_update(crc, image + 16, size - 16) ^ 0xffffffffu;
  if (crc != h->crc32) return TOR_ERR_CRC;
  if (h->n_tensors > TOR_MAX_TENSORS || h->n_ops > TOR_MAX_OPS || h->n_inputs > TOR_MAX_IO ||
      h->n_outputs > TOR_MAX_IO || h->n_inputs == 0 || h->n_outputs == 0)
    return TOR_ERR_SHAPE;
  if ((h->tensors_off | h->ops_off | h->io_off | h->data_off) & 3u) return TOR_ERR_ALIGN;
  if (!range_ok(h->tensors_off, (uint64_t)h->n_tensors * sizeof(tor_tensor), size) ||
      !range_ok(h->ops_off, (uint64_t)h->n_ops * sizeof(tor_op), size) ||
      !range_ok(h->io_off, (uint64_t)(h->n_inputs + h->n_outputs) * 4u, size) ||
      !range_ok(h->data_off, h->data_size, size))
    return TOR_ERR_BOUNDS;
  if (h->tensors_off < sizeof(tor_header) || h->ops_off < sizeof(tor_header) || h->io_off < sizeof(tor_header))
    return TOR_ERR_BOUNDS;
  const tor_tensor *tensors = tor_tensors(image);
  for (uint32_t i = 0; i < h->n_tensors; i++) {
    tor_status s = check_tensor(h, &tensors[i]);
    if (s != TOR_OK) return s;
  }
  const uint32_t *io = (const uint32_t *)(const void *)(image + h->io_off);
  for (uint32_t i = 0; i < h->n_inputs + h->n_outputs; i++) {
    if (io[i] >= h->n_tensors) return TOR_ERR_INDEX;
    if (tensors[io[i]].storage != TOR_IN_ARENA) return TOR_ERR_SHAPE;
  }
  const tor_op *ops = (const tor_op *)(const void *)(image + h->ops_off);
  for (uint32_t i = 0; i < h->n_ops; i++) {
    if (ops[i].code == 0 || ops[i].code >= TOR_OP_COUNT) return TOR_ERR_OP;
    if ((ops[i].params_off & 3u) || ops[i].params_off < sizeof(tor_header) ||
        !range_ok(ops[i].params_off, ops[i].params_size, size))
      return TOR_ERR_BOUNDS;
    tor_status s = tor_validate_op(image, &ops[i]);
    if (s != TOR_OK) return s;
  }
  if (arena_needed) *arena_needed = h->arena_bytes;
  return TOR_OK;
}

tor_status tor_load(tor_model *m, const uint8_t *image, uint32_t image_size, uint8_t *arena, uint32_t arena_size) {
  if (!m || !image || (!arena && arena_size)) return TOR_ERR_NULL;
  memset(m, 0, sizeof(*m));
  uint32_t needed = 0;
  tor_status s = tor_validate(image, image_size, &needed);
  if (s != TOR_OK) return s;
  if (arena_size < needed) return TOR_ERR_ARENA;
  if (needed && !arena) return TOR_ERR_NULL;
  if (((uintptr_t)arena & 15u) != 0) return TOR_ERR_ALIGN;
  m->image = image;
  m->image_size = tor_hdr(image)->image_size;
  m->arena = arena;
  m->arena_size = arena_size;
  m->flags = 1u; /* loaded */
  const tor_tensor *t = tor_tensors(image);
  for (uint32_t i = 0; i < tor_hdr(image)->n_tensors; i++)
    if (t[i].storage == TOR_IN_STATE) memset(arena + t[i].offset, (int)t[i].zero_point, t[i].bytes);
  return TOR_OK;
}

static int loaded(const tor_model *m) { return m && m->image && (m->flags & 1u); }

uint32_t tor_input_count(const tor_model *m) { return loaded(m) ? tor_hdr(m->image)->n_inputs : 0; }
uint32_t tor_output_count(const tor_model *m) { return loaded(m) ? tor_hdr(m->image)->n_outputs : 0; }

static const tor_tensor *io_tensor(const tor_model *m, uint32_t slot) {
  const tor_header *h = tor_hdr(m->image);
  const uint32_t *io = (const uint32_t *)(const void *)(m->image + h->io_off);
  return &tor_tensors(m->image)[io[slot]];
}

tor_status tor_input(const tor_model *m, uint32_t i, int8_t **data, uint32_t *bytes) {
  if (!loaded(m) || !data) return TOR_ERR_NULL;
  if (i >= tor_hdr(m->image)->n_inputs) return TOR_ERR_INDEX;
  const tor_tensor *t = io_tensor(m, i);
  *data = (int8_t *)(m->arena + t->offset);
  if (bytes) *bytes = t->bytes;
  return TOR_OK;
}

tor_status tor_output(const tor_model *m, uint32_t i, const int8_t **data, uint32_t *bytes) {
  if (!loaded(m) || !data) return TOR_ERR_NULL;
  if (i >= tor_hdr(m->image)->n_outputs) return TOR_ERR_INDEX;
  const tor_tensor *t = io_tensor(m, tor_hdr(m->image)->n_inputs + i);
  *data = (const int8_t *)(m->arena + t->offset);
  if (bytes) *bytes = t->bytes;
  return TOR_OK;
}

static tor_status quant_of(const tor_model *m, uint32_t slot, float *scale, int32_t *zero_point) {
  const tor_tensor *t = io_tensor(m, slot);
  if (scale) *scale = t->scale;
  if (zero_point) *zero_point = t->zero_point;
  return TOR_OK;
}

tor_status tor_input_quant(const tor_model *m, uint32_t i, float *scale, int32_t *zero_point) {
  if (!loaded(m)) return TOR_ERR_NULL;
  if (i >= tor_hdr(m->image)->n_inputs) return TOR_ERR_INDEX;
  return quant_of(m, i, scale, zero_point);
}

tor_status tor_output_quant(const tor_model *m, uint32_t i, float *scale, int32_t *zero_point) {
  if (!loaded(m)) return TOR_ERR_NULL;
  if (i >= tor_hdr(m->image)->n_outputs) return TOR_ERR_INDEX;
  return quant_of(m, tor_hdr(m->image)->n_inputs + i, scale, zero_point);
}
