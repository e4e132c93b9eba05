/* Arm MPS2/MPS3 FPGA images under QEMU (AN385 M3, AN386 M4, AN500 M7, AN505 M33,
 * AN547 M55): CMSDK UART0, SysTick as instruction counter, flash = a host file
 * through semihosting. Per board (board.mk): BOARD_NAME, CMSDK_UART0 (base address
 * as the core sees it: the secure alias on the TrustZone images), SYSCLK_HZ. */
#include <stdint.h>
#include <string.h>

#include "fw.h"
#include "hal.h"
#include "slots.h"

#ifndef BOARD_NAME
#error "board.mk must define BOARD_NAME"
#endif
#ifndef CMSDK_UART0
#define CMSDK_UART0 0x40004000u
#endif
#ifndef SYSCLK_HZ
#define SYSCLK_HZ 25000000u
#endif
#define UART0 CMSDK_UART0
#define UART_DATA (*(volatile uint32_t *)(UART0 + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0 + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0 + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0 + 0x10u))
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
/* With `-icount shift=0` QEMU advances virtual time 1 ns per instruction, and
 * SysTick ticks at SYSCLK (25 MHz on MPS2, 20 MHz on AN505, 32 MHz on AN547):
 * one tick = 40, 50 or 31.25 instructions. */
#define NS_PER_TICK_X4 (4000000000u / SYSCLK_HZ) /* x4: 31.25 ns at 32 MHz stays exact */

#ifndef FLASH_WORD
#define FLASH_WORD 16u /* bytes per semihosting write: a kill can tear a page */
#endif

static volatile uint32_t g_systick_wraps;
static int g_flash = -1;
static uint32_t g_flash_pos = 0xFFFFFFFFu;

void SysTick_Handler(void) { g_systick_wraps++; }

/* ---- semihosting (ARM "bkpt 0xAB" convention) ---- */
static int semihost(int op, void *arg) {
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
enum { SYS_OPEN = 0x01, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_SEEK = 0x0A, SYS_FLEN = 0x0C,
       SYS_GET_CMDLINE = 0x15 };

static int sh_seek(uint32_t pos) {
  uint32_t a[2];
  if (pos == g_flash_pos) return 0;
  a[0] = (uint32_t)g_flash;
  a[1] = pos;
  if (semihost(SYS_SEEK, a) != 0) return -1;
  g_flash_pos = pos;
  return 0;
}

static int sh_write(const void *p, uint32_t len) {
  uint32_t a[3];
  a[0] = (uint32_t)g_flash; a[1] = (uint32_t)p; a[2] = len;
  if (semihost(SYS_WRITE, a) != 0) { g_flash_pos = 0xFFFFFFFFu; return -1; }
  g_flash_pos += len;
  return 0;
}

static int sh_open(const char *name, int mode) {
  uint32_t a[3];
  a[0] = (uint32_t)name; a[1] = (uint32_t)mode; a[2] = (uint32_t)strlen(name);
  return semihost(SYS_OPEN, a);
}

const char *hal_board_name(void) { return BOARD_NAME; }

static char g_cmdline[256];

static const char *flash_path(void) {
  uint32_t a[2];
  char *p;
  a[0] = (uint32_t)g_cmdline; a[1] = sizeof g_cmdline - 1u;
  if (semihost(SYS_GET_CMDLINE, a) != 0) return "tinyops-flash.bin";
  g_cmdline[sizeof g_cmdline - 1u] = 0;
  /* "<argv0> <flash file>": the path is the second word. */
  p = strchr(g_cmdline, ' ');
  if (!p || !p[1]) return "tinyops-flash.bin";
  return p + 1;
}

void hal_init(void) {
  UART_BAUDDIV = SYSCLK_HZ / 115200u;
  UART_CTRL = 3u; /* TX and RX enable, polled */
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
  if (g_flash < 0) {
    const char *path = flash_path();
    uint32_t h;
    g_flash = sh_open(path, 3 /* "r+b" */);
    if (g_flash < 0) g_flash = sh_open(path, 7 /* "w+b": create */);
    g_flash_pos = 0xFFFFFFFFu;
    h = (uint32_t)g_flash;
    if (g_flash >= 0 && (uint32_t)semihost(SYS_FLEN, &h) < hal_flash_size()) {
      /* New flash file: fill the rest with the erased value. */
      static uint8_t ff[4096];
      uint32_t len = (uint32_t)semihost(SYS_FLEN, &h);
      memset(ff, 0xFF, sizeof ff);
      if (sh_seek(len) == 0)
        while (len < hal_flash_size()) {
          uint32_t take = hal_flash_size() - len < sizeof ff ? hal_flash_size() - len : sizeof ff;
          if (sh_write(ff, take)) break;
          len += take;
        }
    }
  }
}

int hal_uart_getc(void) {
  while (!(UART_STATE & STATE_RX_FULL)) {
  }
  return (int)(UART_DATA & 0xFFu);
}

void hal_uart_write(const uint8_t *data, size_t len) {
  while (len--) {
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = *data++;
  }
}

uint32_t hal_flash_size(void) { return slots_region_size(); }

int hal_flash_read(uint32_t addr, void *dst, uint32_t len) {
  uint32_t a[3];
  if (g_flash < 0 || (uint64_t)addr + len > hal_flash_size()) return -1;
  if (sh_seek(addr)) return -1;
  a[0] = (uint32_t)g_flash; a[1] = (uint32_t)dst; a[2] = len;
  if (semihost(SYS_READ, a) != 0) { g_flash_pos = 0xFFFFFFFFu; return -1; }
  g_flash_pos += len;
  return 0;
}

int hal_flash_write(uint32_t addr, const void *src, uint32_t len) {
  const uint8_t *p = (const uint8_t *)src;
  if (g_flash < 0 || (uint64_t)addr + len > hal_flash_size()) return -1;
  if (sh_seek(addr)) return -1;
  while (len > 0) {
    uint32_t take = len < FLASH_WORD ? len : FLASH_WORD;
    if (sh_write(p, take)) return -1;
    p += take;
    len -= take;
  }
  return 0;
}

int hal_flash_erase_page(uint32_t addr) {
  static const uint8_t ff[FLASH_WORD] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                          0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  uint32_t i;
  addr -= addr % HAL_FLASH_PAGE;
  for (i = 0; i < HAL_FLASH_PAGE; i += FLASH_WORD)
    if (hal_flash_write(addr + i, ff, FLASH_WORD)) return -1;
  return 0;
}

uint64_t hal_counter(void) {
  uint32_t w1, w2, v;
  do {
    w1 = g_systick_wraps;
    v = SYST_CVR;
    w2 = g_systick_wraps;
  } while (w1 != w2);
  /* SysTick counts down from 0xFFFFFF. */
  return ((uint64_t)w1 * 0x1000000u + (0xFFFFFFu - v)) * NS_PER_TICK_X4 / 4u;
}

uint32_t hal_counter_unit(void) { return HAL_UNIT_INSTRUCTIONS; }
uint64_t hal_micros(void) { return hal_counter() / 1000u; }

void hal_reset(void) {
  SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ: QEMU resets the whole machine */
  for (;;) {
  }
}

int main(void) {
  hal_init();
  fw_run();
  return 0;
}
