/* libFuzzer harness for the tinyops-c loader (and, when an image loads, the kernels).
 *
 * Each input is tried twice: as given (exercising magic/version/size/CRC checks), and
 * with its CRC recomputed, so mutations reach the table and op validation behind the
 * CRC. Whatever validates is then invoked on a zeroed arena: a validated image must
 * never read or write out of bounds (AddressSanitizer watches every access). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyops_rt.h"

#define MAX_IMAGE (64u * 1024u)
#define MAX_ARENA (32u * 1024u)

static uint32_t crc32_ieee(const uint8_t *p, uint32_t n, uint32_t crc) {
  for (uint32_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc;
}

static void seal(uint8_t *img, uint32_t size) {
  uint32_t declared;
  memcpy(&declared, img + 8, 4);
  if (declared < 64 || declared > size) return;
  static const uint8_t zero[4] = {0, 0, 0, 0};
  uint32_t crc = crc32_ieee(img, 12, 0xffffffffu);
  crc = crc32_ieee(zero, 4, crc);
  crc = crc32_ieee(img + 16, declared - 16, crc) ^ 0xffffffffu;
  memcpy(img + 12, &crc, 4);
}

static void try_image(const uint8_t *img, uint32_t size) {
  uint32_t need = 0;
  if (tor_validate(img, size, &need) != TOR_OK || need > MAX_ARENA) return;
  /* exact-size heap arena: ASan flags any access past the planned arena */
  uint8_t *arena = aligned_alloc(16, need ? (need + 15u) / 16u * 16u : 16u);
  if (!arena) return;
  memset(arena, 0, need ? need : 1);
  tor_model m;
  if (tor_load(&m, img, size, arena, need) == TOR_OK) {
    (void)tor_load(&m, img, size, arena, need ? need - 1 : 0); /* too small: must refuse */
    tor_load(&m, img, size, arena, need);
    for (uint32_t i = 0; i < tor_input_count(&m); i++) {
      int8_t *in;
      uint32_t bytes;
      if (tor_input(&m, i, &in, &bytes) == TOR_OK) memset(in, (int)(i * 37u + 5u), bytes);
    }
    (void)tor_invoke(&m);
    const int8_t *out;
    uint32_t bytes;
    float scale;
    int32_t zp;
    for (uint32_t i = 0; i < tor_output_count(&m) + 1; i++) {
      (void)tor_output(&m, i, &out, &bytes);
      (void)tor_output_quant(&m, i, &scale, &zp);
    }
  }
  free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_IMAGE) return 0;
  /* exact-size heap copy (rounded to 4 for alignment): reads past the end are caught */
  uint8_t *img = aligned_alloc(16, size ? (size + 15u) / 16u * 16u : 16u);
  if (!img) return 0;
  memcpy(img, data, size);
  try_image(img, (uint32_t)size);
  if (size >= 64) {
    seal(img, (uint32_t)size);
    try_image(img, (uint32_t)size);
  }
  (void)tor_status_message((tor_status)(size % 16u));
  free(img);
  return 0;
}
