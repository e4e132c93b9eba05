# qemu-mps2-an500: Cortex-M7 (DSP, double-precision FPU), CMSDK UART0 at 0x40004000, 25 MHz.
BOARD_CPU = -mcpu=cortex-m7 -mfloat-abi=hard -mfpu=fpv5-d16
BOARD_DEFS = -DBOARD_NAME='"qemu-mps2-an500"' -DCMSDK_UART0=0x40004000u -DSYSCLK_HZ=25000000u
include boards/qemu-cmsdk/common.mk
