# Shared by the MPS2/MPS3 boards under qemu-system-arm. A board's board.mk sets
#   BOARD_CPU   (-mcpu/-mfpu/-mfloat-abi flags)
#   BOARD_DEFS  (-DBOARD_NAME=... -DCMSDK_UART0=... -DSYSCLK_HZ=...)
# and includes this file; its link.ld holds the memory map.
# No -ffreestanding: the kernels read packed words with memcpy(&w, p, 4), which
# GCC turns into one load only when memcpy is a builtin (3.4x fewer instructions).
# -Os as on the real boards: the runtime's hot kernels are built for speed anyway
# (TOR_HOT_FILE / TOR_HOT, runtime/tor_conv_common.h), so the emulated firmware's flash
# and instruction counts are the ones a device gets.
BOARD_CC = arm-none-eabi-gcc
BOARD_CFLAGS = $(BOARD_CPU) -mthumb -Os -g -Wall -Wextra -std=c99 -ffunction-sections -fdata-sections \
  $(BOARD_DEFS)
BOARD_LDFLAGS = -nostartfiles -L boards/qemu-cmsdk -T boards/$(BOARD)/link.ld -Wl,--gc-sections \
  -Wl,-Map=$(OUT)/tinyops-fw.map --specs=nano.specs -lc -lm -lgcc
BOARD_SRCS = boards/qemu-cmsdk/startup.c boards/qemu-cmsdk/hal_cmsdk.c
BOARD_OUT = tinyops-fw.elf
BOARD_DEPS = boards/qemu-cmsdk/common.mk
