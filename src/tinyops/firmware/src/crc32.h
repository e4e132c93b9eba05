#ifndef TINYOPS_CRC32_H
#define TINYOPS_CRC32_H
#include <stddef.h>
#include <stdint.h>
/* CRC-32/ISO-HDLC (zlib's crc32): reflected, poly 0xEDB88320, init/xorout ~0.
 * Pass 0 as crc to start, feed the previous result to continue. */
uint32_t fw_crc32(uint32_t crc, const void *data, size_t len);
#endif
