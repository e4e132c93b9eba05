#ifndef TINYOPS_OUT_H
#define TINYOPS_OUT_H
#include <stdint.h>
/* Text output on the UART without printf (keeps flash small, no float printf). */
void out_str(const char *s);
void out_u64(uint64_t v);
void out_i64(int64_t v);
void out_hex8(uint8_t v);
void out_milli(int64_t milli); /* 1234 -> "1.234", -5 -> "-0.005" */
#endif
