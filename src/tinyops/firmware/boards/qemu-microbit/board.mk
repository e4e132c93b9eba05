# qemu-microbit: BBC micro:bit v1 (nRF51822: Cortex-M0, 256 KB flash, 16 KB RAM) under
# qemu-system-arm -M microbit. No DSP extension: the kernels' plain C path. UART TX P0.24,
# RX P0.25. The model region is flash from 64 KB on (2 x 88 KB slots, run in place); RAM holds
# only the arena (4 KB), staged input, frames and the stack. The flash is mirrored to a host
# file (NRF_FLASH_MIRROR) because QEMU keeps the nRF51 flash in host RAM only.
BOARD_CPU = -mcpu=cortex-m0 -mfloat-abi=soft
BOARD_DEFS = -DBOARD_NAME='"qemu-microbit"' -DNRF_UART_TX_PIN=24u -DNRF_UART_RX_PIN=25u \
  -DNRF_REGION_BASE=0x00010000u -DNRF_FLASH_PAGE=1024u -DNRF_FLASH_MIRROR \
  -DFW_SLOT_CAPACITY='(88u*1024u)' -DFW_ARENA_CAPACITY=4096u -DFW_INPUT_CAPACITY=1024u \
  -DFW_MAX_CHUNK=512u -DFW_RX_WINDOW=1024u -DFW_HIST_MAX_FEATURES=8u -DTFE_MAX_FFT=64u -DTFE_MAX_MELS=16u -DTFS_MAX_VALUES=128u -DFW_MULTI_OUTPUT=64u
include boards/nrf5/common.mk
