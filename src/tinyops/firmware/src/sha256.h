#ifndef TINYOPS_SHA256_H
#define TINYOPS_SHA256_H
#include <stddef.h>
#include <stdint.h>
/* FIPS 180-4 SHA-256, streaming. */
typedef struct {
  uint32_t h[8];
  uint64_t length;
  uint8_t block[64];
  uint32_t used;
} fw_sha256;

void fw_sha256_init(fw_sha256 *s);
void fw_sha256_update(fw_sha256 *s, const void *data, size_t len);
void fw_sha256_final(fw_sha256 *s, uint8_t out[32]);
#endif
