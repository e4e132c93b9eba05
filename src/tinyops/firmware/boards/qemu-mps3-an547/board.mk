# qemu-mps3-an547: Cortex-M55 (Armv8.1-M, DSP, FPU, Helium/MVE), secure state: UART0 at
# 0x59303000 (secure alias of 0x49303000), 32 MHz SYSCLK.
BOARD_CPU = -mcpu=cortex-m55 -mfloat-abi=hard
BOARD_DEFS = -DBOARD_NAME='"qemu-mps3-an547"' -DCMSDK_UART0=0x59303000u -DSYSCLK_HZ=32000000u
include boards/qemu-cmsdk/common.mk
