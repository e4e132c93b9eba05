# Shared by the nRF5 boards (hal_nrf5.c). A board's board.mk sets BOARD_CPU (-mcpu/-mfpu flags)
# and BOARD_DEFS (BOARD_NAME, NRF_* addresses and pins, FW_* sizes) and includes this file;
# its link.ld holds the memory map (code below NRF_REGION_BASE).
BOARD_CC = arm-none-eabi-gcc
BOARD_CFLAGS = $(BOARD_CPU) -mthumb -Os -g -Wall -Wextra -std=c99 -ffunction-sections -fdata-sections \
  -DFW_XIP $(BOARD_DEFS)
BOARD_LDFLAGS = -nostartfiles -L boards/nrf5 -T boards/$(BOARD)/link.ld -Wl,--gc-sections \
  -Wl,-Map=$(OUT)/tinyops-fw.map --specs=nano.specs -lc -lm -lgcc
BOARD_SRCS = boards/qemu-cmsdk/startup.c boards/nrf5/hal_nrf5.c
BOARD_OUT = tinyops-fw.elf
BOARD_DEPS = boards/nrf5/common.mk
