/* Board abstraction: the only code a port to a new board has to write.
 * See firmware/PORTING.md. Everything else in firmware/src is portable C99. */
#ifndef TINYOPS_HAL_H
#define TINYOPS_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Counter units reported by RUN and INFO. */
#define HAL_UNIT_INSTRUCTIONS 0u /* QEMU with -icount shift=0 */
#define HAL_UNIT_NANOSECONDS 1u  /* posix board, real boards with a us/ns timer */
#define HAL_UNIT_CYCLES 2u       /* real boards with a cycle counter (DWT) */

/* Flash geometry used by the slot layout (slots.c). */
#define HAL_FLASH_PAGE 4096u

void hal_init(void);
const char *hal_board_name(void);

/* UART: blocking read of one byte; writes may block until sent. */
int hal_uart_getc(void);
void hal_uart_write(const uint8_t *data, size_t len);

/* Flash: erase sets a page to 0xFF; write programs bytes (the firmware always
 * erases first); all return 0 on success. Addresses are offsets from the start
 * of the model-storage region, which is hal_flash_size() bytes long. */
uint32_t hal_flash_size(void);
int hal_flash_read(uint32_t addr, void *dst, uint32_t len);
int hal_flash_erase_page(uint32_t addr);
int hal_flash_write(uint32_t addr, const void *src, uint32_t len);
/* Boards built with FW_XIP only: the CPU address of a region offset (memory-mapped
 * flash), so the active model runs in place instead of from a RAM copy. */
const uint8_t *hal_flash_map(uint32_t addr);

/* Free-running counter (64 bit) in hal_counter_unit() units, and microseconds. */
uint64_t hal_counter(void);
uint32_t hal_counter_unit(void);
uint64_t hal_micros(void);

/* Called by the firmware after the RESET reply went out. May return on boards
 * that restart by re-running fw_init (posix, fuzz). */
void hal_reset(void);

#endif
