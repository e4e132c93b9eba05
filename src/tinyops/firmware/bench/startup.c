/* Minimal Cortex-M4 start-up for the bench: vector table, .data/.bss init, FPU on. */
#include <stdint.h>
#include <string.h>

extern uint32_t _etext, _sdata, _edata, _sbss, _ebss, _stack_top;
int main(void);
void systick_handler(void);

void reset_handler(void) {
  memcpy(&_sdata, &_etext, (size_t)((uint8_t *)&_edata - (uint8_t *)&_sdata));
  memset(&_sbss, 0, (size_t)((uint8_t *)&_ebss - (uint8_t *)&_sbss));
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10/CP11 (FPU) */
  __asm volatile("dsb\n isb");
  main();
  for (;;) {
  }
}

static void default_handler(void) {
  for (;;) {
  }
}

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &_stack_top, (void *)reset_handler, (void *)default_handler, (void *)default_handler,
    (void *)default_handler, (void *)default_handler, (void *)default_handler, 0, 0, 0, 0,
    (void *)default_handler, (void *)default_handler, 0, (void *)default_handler, (void *)systick_handler,
};
