/* Nordic nRF51/nRF52 board, register level (no SDK): the legacy UART0 (polled),
 * NVMC page erases and word writes on the memory-mapped internal flash (the
 * model region runs in place: FW_XIP), TIMER0 as a 16 MHz timestamp counter.
 * The same code serves the nRF51822 (BBC micro:bit, also under QEMU) and the
 * nRF52840: the peripherals sit at the same addresses with the same layouts.
 *
 * Per board (board.mk): BOARD_NAME, NRF_UART_TX_PIN/RX_PIN, NRF_REGION_BASE (CPU
 * address of the model region, page aligned), NRF_FLASH_PAGE (1 KB nRF51, 4 KB
 * nRF52), and NRF_FLASH_MIRROR on QEMU: QEMU keeps the nRF51 flash in host RAM
 * only, so every erase/write is also applied to a host file through semihosting
 * and the file is programmed back into flash (through the NVMC) at boot. */
#include <stdint.h>
#include <string.h>

#include "fw.h"
#include "hal.h"
#include "slots.h"

#ifndef BOARD_NAME
#error "board.mk must define BOARD_NAME"
#endif
#if !defined(NRF_REGION_BASE) || !defined(NRF_FLASH_PAGE) || !defined(NRF_UART_TX_PIN) || !defined(NRF_UART_RX_PIN)
#error "board.mk must define NRF_REGION_BASE, NRF_FLASH_PAGE, NRF_UART_TX_PIN and NRF_UART_RX_PIN"
#endif
#if HAL_FLASH_PAGE % NRF_FLASH_PAGE != 0
#error "HAL_FLASH_PAGE must be a multiple of the NVMC page"
#endif

#define REG(a) (*(volatile uint32_t *)(a))

/* UART0 (legacy, non-DMA) */
#define UART0 0x40002000u
#define UART_STARTRX REG(UART0 + 0x000u)
#define UART_STARTTX REG(UART0 + 0x008u)
#define UART_RXDRDY REG(UART0 + 0x108u)
#define UART_TXDRDY REG(UART0 + 0x11Cu)
#define UART_ENABLE REG(UART0 + 0x500u)
#define UART_PSELTXD REG(UART0 + 0x50Cu)
#define UART_PSELRXD REG(UART0 + 0x514u)
#define UART_RXD REG(UART0 + 0x518u)
#define UART_TXD REG(UART0 + 0x51Cu)
#define UART_BAUDRATE REG(UART0 + 0x524u)
#define UART_BAUD_115200 0x01D7E000u

/* NVMC */
#define NVMC 0x4001E000u
#define NVMC_READY REG(NVMC + 0x400u)
#define NVMC_CONFIG REG(NVMC + 0x504u)
#define NVMC_ERASEPAGE REG(NVMC + 0x508u)
#define NVMC_REN 0u
#define NVMC_WEN 1u
#define NVMC_EEN 2u

/* TIMER0: 32 bit, prescaler 0 = 16 MHz */
#define TIMER0 0x40008000u
#define TIMER_START REG(TIMER0 + 0x000u)
#define TIMER_CAPTURE0 REG(TIMER0 + 0x040u)
#define TIMER_MODE REG(TIMER0 + 0x504u)
#define TIMER_BITMODE REG(TIMER0 + 0x508u)
#define TIMER_PRESCALER REG(TIMER0 + 0x510u)
#define TIMER_CC0 REG(TIMER0 + 0x540u)

#define SCB_AIRCR REG(0xE000ED0Cu)

static uint32_t g_timer_last, g_timer_wraps;

/* Nothing uses SysTick here; the shared start-up's vector table names it. */
void SysTick_Handler(void) {}

const char *hal_board_name(void) { return BOARD_NAME; }

static void nvmc_wait(void) {
  while (!(NVMC_READY & 1u)) {
  }
}

static void nvmc_erase(uint32_t cpu_addr) {
  NVMC_CONFIG = NVMC_EEN;
  nvmc_wait();
  NVMC_ERASEPAGE = cpu_addr;
  nvmc_wait();
  NVMC_CONFIG = NVMC_REN;
  nvmc_wait();
}

/* Program bytes at any alignment: whole words, bytes outside [p, p+len) kept.
 * NOR flash only clears bits, so the merged word re-programs the kept bytes
 * with their own values (a no-op on the cells). */
static void nvmc_program(uint32_t cpu_addr, const uint8_t *p, uint32_t len) {
  NVMC_CONFIG = NVMC_WEN;
  nvmc_wait();
  while (len > 0) {
    uint32_t base = cpu_addr & ~3u, lane = cpu_addr & 3u, take = 4u - lane, w;
    if (take > len) take = len;
    w = REG(base);
    memcpy((uint8_t *)&w + lane, p, take);
    REG(base) = w;
    nvmc_wait();
    cpu_addr += take;
    p += take;
    len -= take;
  }
  NVMC_CONFIG = NVMC_REN;
  nvmc_wait();
}

#ifdef NRF_FLASH_MIRROR
/* ---- the QEMU flash file (semihosting, "bkpt 0xAB") ---- */
static int g_file = -1;
static char g_cmdline[160];

static int semihost(int op, void *arg) {
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
enum { SYS_OPEN = 0x01, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_SEEK = 0x0A, SYS_FLEN = 0x0C,
       SYS_GET_CMDLINE = 0x15 };

static int file_io(int op, uint32_t pos, const void *p, uint32_t len) {
  uint32_t a[3];
  a[0] = (uint32_t)g_file; a[1] = pos;
  if (semihost(SYS_SEEK, a) != 0) return -1;
  a[1] = (uint32_t)p; a[2] = len;
  return semihost(op, a) == 0 ? 0 : -1;
}

static int file_open(const char *name, int mode) {
  uint32_t a[3];
  a[0] = (uint32_t)name; a[1] = (uint32_t)mode; a[2] = (uint32_t)strlen(name);
  return semihost(SYS_OPEN, a);
}

static const char *file_path(void) {
  uint32_t a[2];
  char *p;
  a[0] = (uint32_t)g_cmdline; a[1] = sizeof g_cmdline - 1u;
  if (semihost(SYS_GET_CMDLINE, a) != 0) return "tinyops-flash.bin";
  g_cmdline[sizeof g_cmdline - 1u] = 0;
  p = strchr(g_cmdline, ' '); /* "<argv0> <flash file>" */
  return p && p[1] ? p + 1 : "tinyops-flash.bin";
}

/* Boot: the file holds the flash as the last run left it; program it back. */
static void mirror_restore(void) {
  uint8_t buf[256];
  uint32_t h, len, off;
  const char *path = file_path();
  g_file = file_open(path, 3 /* "r+b" */);
  if (g_file < 0) g_file = file_open(path, 7 /* "w+b" */);
  if (g_file < 0) return;
  h = (uint32_t)g_file;
  len = (uint32_t)semihost(SYS_FLEN, &h);
  memset(buf, 0xFF, sizeof buf);
  for (off = len; off < hal_flash_size(); off += sizeof buf) /* new file: erased */
    if (file_io(SYS_WRITE, off, buf, sizeof buf)) return;
  for (off = 0; off < hal_flash_size(); off += NRF_FLASH_PAGE) {
    uint32_t i, dirty = 0;
    for (i = 0; i < NRF_FLASH_PAGE; i += sizeof buf) {
      if (file_io(SYS_READ, off + i, buf, sizeof buf)) return;
      if (memcmp(buf, (const void *)(NRF_REGION_BASE + off + i), sizeof buf) != 0) dirty = 1;
    }
    if (!dirty) continue;
    nvmc_erase(NRF_REGION_BASE + off);
    for (i = 0; i < NRF_FLASH_PAGE; i += sizeof buf) {
      uint32_t k, erased = 1;
      if (file_io(SYS_READ, off + i, buf, sizeof buf)) return;
      for (k = 0; k < sizeof buf; k++) erased &= buf[k] == 0xFFu;
      if (!erased) nvmc_program(NRF_REGION_BASE + off + i, buf, sizeof buf);
    }
  }
}
#define MIRROR(addr, p, len) (g_file < 0 ? -1 : file_io(SYS_WRITE, (addr), (p), (len)))
#else
#define MIRROR(addr, p, len) 0
#endif

void hal_init(void) {
  UART_PSELTXD = NRF_UART_TX_PIN;
  UART_PSELRXD = NRF_UART_RX_PIN;
  UART_BAUDRATE = UART_BAUD_115200;
  UART_ENABLE = 4u;
  UART_STARTTX = 1u;
  UART_STARTRX = 1u;
  TIMER_MODE = 0u;
  TIMER_BITMODE = 3u; /* 32 bit */
  TIMER_PRESCALER = 0u;
  TIMER_START = 1u;
#ifdef NRF_FLASH_MIRROR
  if (g_file < 0) mirror_restore();
#endif
}

int hal_uart_getc(void) {
  while (!UART_RXDRDY) {
  }
  UART_RXDRDY = 0u; /* clear before reading RXD: the next byte raises it again */
  return (int)(UART_RXD & 0xFFu);
}

void hal_uart_write(const uint8_t *data, size_t len) {
  while (len--) {
    UART_TXDRDY = 0u;
    UART_TXD = *data++;
    while (!UART_TXDRDY) {
    }
  }
}

uint32_t hal_flash_size(void) { return slots_region_size(); }

const uint8_t *hal_flash_map(uint32_t addr) { return (const uint8_t *)(NRF_REGION_BASE + addr); }

int hal_flash_read(uint32_t addr, void *dst, uint32_t len) {
  if ((uint64_t)addr + len > hal_flash_size()) return -1;
  memcpy(dst, hal_flash_map(addr), len);
  return 0;
}

int hal_flash_write(uint32_t addr, const void *src, uint32_t len) {
  if ((uint64_t)addr + len > hal_flash_size()) return -1;
  nvmc_program(NRF_REGION_BASE + addr, (const uint8_t *)src, len);
  if (memcmp(hal_flash_map(addr), src, len) != 0) return -1; /* programmed over unerased bits */
  return MIRROR(addr, src, len);
}

int hal_flash_erase_page(uint32_t addr) {
  uint32_t i;
  addr -= addr % HAL_FLASH_PAGE;
  if (addr >= hal_flash_size()) return -1;
  for (i = 0; i < HAL_FLASH_PAGE; i += NRF_FLASH_PAGE) {
    nvmc_erase(NRF_REGION_BASE + addr + i);
#ifdef NRF_FLASH_MIRROR
    if (MIRROR(addr + i, (const void *)(NRF_REGION_BASE + addr + i), NRF_FLASH_PAGE)) return -1;
#endif
  }
  return 0;
}

/* 16 MHz ticks, widened to 64 bit on each read (a 32-bit wrap takes 268 s). */
static uint64_t ticks(void) {
  uint32_t now;
  TIMER_CAPTURE0 = 1u;
  now = TIMER_CC0;
  if (now < g_timer_last) g_timer_wraps++;
  g_timer_last = now;
  return ((uint64_t)g_timer_wraps << 32) | now;
}

/* One tick = 62.5 ns; under QEMU's -icount shift=0 that is 62.5 instructions. */
uint64_t hal_counter(void) { return ticks() * 125u / 2u; }
#ifdef NRF_FLASH_MIRROR
uint32_t hal_counter_unit(void) { return HAL_UNIT_INSTRUCTIONS; }
#else
uint32_t hal_counter_unit(void) { return HAL_UNIT_NANOSECONDS; }
#endif
uint64_t hal_micros(void) { return ticks() / 16u; }

void hal_reset(void) {
  SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ */
  for (;;) {
  }
}

int main(void) {
  hal_init();
  fw_run();
  return 0;
}
