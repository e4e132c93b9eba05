/* tinyops-c bench for QEMU mps2-an386: loads model.img and input.bin through
 * semihosting, runs the runtime, writes output.bin and prints one result line:
 *   TOR status=<code> arena=<bytes> ticks=<systick ticks> cal=<instructions per 1000 ticks>
 * With `-icount shift=0` QEMU's SysTick advances with executed instructions, so
 * ticks x cal / 1000 is the instruction count of one tor_invoke (calibrated against a
 * loop of known length, since the tick/instruction ratio depends on the board clock). */
#include <stdint.h>
#include <stdio.h>

#include "semihost.h"
#include "tinyops_rt.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

#ifndef BENCH_IMAGE_MAX
#define BENCH_IMAGE_MAX (1536u * 1024u)
#endif
#ifndef BENCH_ARENA_MAX
#define BENCH_ARENA_MAX (512u * 1024u)
#endif

static uint8_t image[BENCH_IMAGE_MAX] __attribute__((aligned(16)));
static uint8_t arena[BENCH_ARENA_MAX] __attribute__((aligned(16)));
static volatile uint32_t wraps;

void systick_handler(void) { wraps++; }

static uint64_t now(void) {
  uint32_t w, v;
  do {
    w = wraps;
    v = SYST_CVR;
  } while (w != wraps);
  return (uint64_t)w * (1u << 24) + ((1u << 24) - 1u - v);
}

static int load_file(const char *name, uint8_t *dst, uint32_t cap, uint32_t *size) {
  int fd = sh_open(name, 1);
  if (fd < 0) return -1;
  int n = sh_flen(fd);
  if (n < 0 || (uint32_t)n > cap) return -2;
  if (sh_read(fd, dst, (uint32_t)n) != 0) return -3;
  sh_close(fd);
  *size = (uint32_t)n;
  return 0;
}

/* 2 instructions per iteration (subs + taken bne). */
static void spin(uint32_t n) { __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n)); }

int main(void) {
  char line[160];
  SYST_RVR = (1u << 24) - 1u;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
  while (SYST_CVR == 0u) {
  } /* the first tick reloads the counter; only then is now() monotonic */

  const uint32_t loops = 200000u;
  uint64_t c0 = now();
  spin(loops);
  uint64_t cal_ticks = now() - c0;
  uint32_t cal = (uint32_t)((2ull * loops * 1000ull) / (cal_ticks ? cal_ticks : 1));

  uint32_t image_size = 0, input_size = 0;
  if (load_file("model.img", image, sizeof image, &image_size) != 0) {
    sh_puts("TOR error=cannot read model.img\n");
    sh_exit(2);
  }
  uint32_t need = 0;
  tor_validate(image, image_size, &need);
  tor_model m;
  tor_status s = tor_load(&m, image, image_size, arena, sizeof arena);
  if (s != TOR_OK) {
    snprintf(line, sizeof line, "TOR status=%d arena=0 ticks=0 cal=%lu message=%s\n", (int)s, (unsigned long)cal,
             tor_status_message(s));
    sh_puts(line);
    sh_exit(1);
  }
  int8_t *in;
  uint32_t in_bytes;
  tor_input(&m, 0, &in, &in_bytes);
  if (load_file("input.bin", (uint8_t *)in, in_bytes, &input_size) != 0 || input_size != in_bytes) {
    sh_puts("TOR error=input.bin missing or of the wrong size\n");
    sh_exit(2);
  }
  uint64_t t0 = now();
  s = tor_invoke(&m);
  uint64_t ticks = now() - t0;
  const int8_t *out;
  uint32_t out_bytes;
  tor_output(&m, 0, &out, &out_bytes);
  int fd = sh_open("output.bin", 5);
  sh_write(fd, out, out_bytes);
  sh_close(fd);
  /* Then per-op ticks ("TOR op=i ticks=t"), on the same input read again: the arena
   * plan reuses the input's bytes, so a second run needs a fresh copy. */
  load_file("input.bin", (uint8_t *)in, in_bytes, &input_size);
  int trace = sh_open("trace.on", 1);
  if (trace >= 0) sh_close(trace);
  for (uint32_t i = 0; i < tor_op_count(&m); i++) {
    uint64_t p0 = now();
    tor_invoke_op(&m, i);
    uint64_t pt = now() - p0;
    if (trace >= 0) { /* debugging aid: the arena after every op, arena_<i>.bin */
      char name[32];
      snprintf(name, sizeof name, "arena_%lu.bin", (unsigned long)i);
      int fd = sh_open(name, 5);
      sh_write(fd, arena, need);
      sh_close(fd);
    }
    snprintf(line, sizeof line, "TOR op=%lu ticks=%lu\n", (unsigned long)i, (unsigned long)pt);
    sh_puts(line);
  }
  snprintf(line, sizeof line, "TOR status=%d arena=%lu ticks=%lu cal=%lu\n", (int)s, (unsigned long)need,
           (unsigned long)ticks, (unsigned long)cal);
  sh_puts(line);
  sh_exit(s == TOR_OK ? 0 : 1);
  return 0;
}
