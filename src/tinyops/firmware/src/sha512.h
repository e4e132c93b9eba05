#ifndef TINYOPS_SHA512_H
#define TINYOPS_SHA512_H
#include <stddef.h>
#include <stdint.h>
/* FIPS 180-4 SHA-512, streaming (for Ed25519 verification). */
typedef struct {
  uint64_t h[8];
  uint64_t length;
  uint8_t block[128];
  uint32_t used;
} fw_sha512;

void fw_sha512_init(fw_sha512 *s);
void fw_sha512_update(fw_sha512 *s, const void *data, size_t len);
void fw_sha512_final(fw_sha512 *s, uint8_t out[64]);
#endif
