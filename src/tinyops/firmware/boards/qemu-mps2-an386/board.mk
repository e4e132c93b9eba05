# qemu-mps2-an386: Cortex-M4F (DSP, single-precision FPU), CMSDK UART0 at 0x40004000, 25 MHz.
BOARD_CPU = -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
BOARD_DEFS = -DBOARD_NAME='"qemu-mps2-an386"' -DCMSDK_UART0=0x40004000u -DSYSCLK_HZ=25000000u
include boards/qemu-cmsdk/common.mk
