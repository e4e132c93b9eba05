/* Portable firmware entry points; a board's main() calls these. */
#ifndef TINYOPS_FW_H
#define TINYOPS_FW_H
#include <stdint.h>
/* Boot: scan slots, start the newest committed valid model, print banner. */
void fw_init(void);
/* Feed one received UART byte. */
void fw_feed(uint8_t byte);
/* The board's main loop: read bytes forever, reset when asked. */
void fw_run(void);
#endif
