# qemu-mps2-an386: Cortex-M4F under qemu-system-arm.
# No -ffreestanding: the kernels read packed words with memcpy(&w, p, 4), which
# GCC turns into one load only when memcpy is a builtin (3.4x fewer instructions).
BOARD_CC = arm-none-eabi-gcc
BOARD_CFLAGS = -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -g -Wall -Wextra \
  -std=c99 -ffunction-sections -fdata-sections
BOARD_LDFLAGS = -nostartfiles -T boards/qemu-mps2-an386/link.ld -Wl,--gc-sections \
  -Wl,-Map=$(OUT)/tinyops-fw.map --specs=nano.specs -lc -lm -lgcc
BOARD_SRCS = boards/qemu-mps2-an386/startup.c boards/qemu-mps2-an386/hal_qemu.c
BOARD_OUT = tinyops-fw.elf
