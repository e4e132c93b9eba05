/* libFuzzer target: the firmware's byte stream parser — SLIP frames, the
 * update protocol commands and MLPerf ASCII commands — on a RAM flash.
 * Built and run by run_frames_fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fw.h"
#include "hal.h"
#include "proto.h"
#include "slots.h"

static uint8_t g_flash[4u * 1024u * 1024u];
static uint64_t g_clock;

void hal_init(void) {}
const char *hal_board_name(void) { return "fuzz"; }
int hal_uart_getc(void) { return -1; }
void hal_uart_write(const uint8_t *data, size_t len) {
  /* Touch every byte so ASan sees any out-of-bounds reply. */
  volatile uint8_t sink = 0;
  size_t i;
  for (i = 0; i < len; i++) sink ^= data[i];
  (void)sink;
}
uint32_t hal_flash_size(void) { return slots_region_size(); }
int hal_flash_read(uint32_t addr, void *dst, uint32_t len) {
  if ((uint64_t)addr + len > hal_flash_size()) return -1;
  memcpy(dst, g_flash + addr, len);
  return 0;
}
int hal_flash_write(uint32_t addr, const void *src, uint32_t len) {
  if ((uint64_t)addr + len > hal_flash_size()) return -1;
  memcpy(g_flash + addr, src, len);
  return 0;
}
int hal_flash_erase_page(uint32_t addr) {
  addr -= addr % HAL_FLASH_PAGE;
  if ((uint64_t)addr + HAL_FLASH_PAGE > hal_flash_size()) return -1;
  memset(g_flash + addr, 0xFF, HAL_FLASH_PAGE);
  return 0;
}
uint64_t hal_counter(void) { return g_clock += 7; }
uint32_t hal_counter_unit(void) { return HAL_UNIT_NANOSECONDS; }
uint64_t hal_micros(void) { return g_clock / 1000u; }
void hal_reset(void) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t i;
  if (sizeof g_flash < hal_flash_size()) __builtin_trap();
  memset(g_flash, 0xFF, hal_flash_size());
  fw_init();
  for (i = 0; i < size; i++) {
    fw_feed(data[i]);
    if (g_reset_requested) fw_init();
  }
  return 0;
}
