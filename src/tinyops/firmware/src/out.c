#include "out.h"

#include <string.h>

#include "hal.h"

void out_str(const char *s) { hal_uart_write((const uint8_t *)s, strlen(s)); }

void out_u64(uint64_t v) {
  char buf[21];
  int i = 20;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v);
  out_str(buf + i);
}

void out_i64(int64_t v) {
  if (v < 0) {
    out_str("-");
    out_u64((uint64_t)(-(v + 1)) + 1u);
  } else {
    out_u64((uint64_t)v);
  }
}

void out_hex8(uint8_t v) {
  static const char digits[] = "0123456789abcdef";
  char s[3];
  s[0] = digits[v >> 4];
  s[1] = digits[v & 15u];
  s[2] = 0;
  out_str(s);
}

void out_milli(int64_t milli) {
  uint64_t a;
  char frac[4];
  if (milli < 0) {
    out_str("-");
    a = (uint64_t)(-(milli + 1)) + 1u;
  } else {
    a = (uint64_t)milli;
  }
  out_u64(a / 1000u);
  frac[0] = '.';
  frac[1] = (char)('0' + (int)((a / 100u) % 10u));
  frac[2] = (char)('0' + (int)((a / 10u) % 10u));
  frac[3] = (char)('0' + (int)(a % 10u));
  hal_uart_write((const uint8_t *)frac, 4);
}
