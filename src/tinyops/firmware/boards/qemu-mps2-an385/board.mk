# qemu-mps2-an385: Cortex-M3 (no DSP extension, no FPU: the kernels' plain C path),
# CMSDK UART0 at 0x40004000, 25 MHz.
BOARD_CPU = -mcpu=cortex-m3 -mfloat-abi=soft
BOARD_DEFS = -DBOARD_NAME='"qemu-mps2-an385"' -DCMSDK_UART0=0x40004000u -DSYSCLK_HZ=25000000u
include boards/qemu-cmsdk/common.mk
