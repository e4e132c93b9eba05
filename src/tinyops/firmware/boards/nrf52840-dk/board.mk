# nrf52840-dk: Nordic nRF52840 DK (PCA10056; Cortex-M4F, 1 MB flash, 256 KB RAM). The same
# register-level driver as qemu-microbit (legacy UART0, NVMC, TIMER0), 4 KB NVMC pages, UART on
# the DK's interface-MCU pins (device profile nrf52840-dk: TX P0.06, RX P0.08). Model region at
# 256 KB: 2 x 256 KB slots, run in place. Flash it with nrfjprog/J-Link (see the profile).
BOARD_CPU = -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
BOARD_DEFS = -DBOARD_NAME='"nrf52840-dk"' -DNRF_UART_TX_PIN=6u -DNRF_UART_RX_PIN=8u \
  -DNRF_REGION_BASE=0x00040000u -DNRF_FLASH_PAGE=4096u \
  -DFW_SLOT_CAPACITY='(256u*1024u)' -DFW_ARENA_CAPACITY='(160u*1024u)' -DFW_INPUT_CAPACITY='(16u*1024u)'
include boards/nrf5/common.mk
