# qemu-mps2-an505: Cortex-M33 (Armv8-M Mainline, DSP, FPU, TrustZone). The core starts in the
# secure state, so everything uses the secure aliases: UART0 at 0x50200000 (0x40200000 + the
# secure bit 28), 20 MHz SYSCLK.
BOARD_CPU = -mcpu=cortex-m33 -mfloat-abi=hard -mfpu=fpv5-sp-d16
BOARD_DEFS = -DBOARD_NAME='"qemu-mps2-an505"' -DCMSDK_UART0=0x50200000u -DSYSCLK_HZ=20000000u
include boards/qemu-cmsdk/common.mk
