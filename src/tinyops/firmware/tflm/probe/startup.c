/* From ../shared/third_party/example (Apache-2.0), unchanged. */
/* Minimal Cortex-M4 startup for QEMU mps2-an386 (bare metal, no CMSIS device
 * files needed). Copies .data, zeroes .bss, enables the FPU, runs C++ static
 * constructors, calls main() and reports its return code via semihosting. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__,
    __bss_end__, __StackTop;
extern int main(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".isr_vector"), used))
const void* const g_vectors[16 + 32] = {
    &__StackTop,              /* initial MSP */
    Reset_Handler,            /* reset */
    Default_Handler,          /* NMI */
    HardFault_Handler,        /* HardFault */
    HardFault_Handler,        /* MemManage */
    HardFault_Handler,        /* BusFault */
    HardFault_Handler,        /* UsageFault */
    0, 0, 0, 0,
    Default_Handler,          /* SVCall */
    Default_Handler,          /* DebugMon */
    0,
    Default_Handler,          /* PendSV */
    SysTick_Handler,          /* SysTick */
    /* external IRQs: unused, all default */
    [16 ... 47] = Default_Handler,
};

void Reset_Handler(void) {
  /* Enable CP10/CP11 (FPU) full access; needed for -mfloat-abi=hard code. */
  volatile uint32_t* cpacr = (volatile uint32_t*)0xE000ED88u;
  *cpacr |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");

  uint32_t* src = &__etext;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;

  __libc_init_array();
  int rc = main();
  semihost_exit(rc);
}

void Default_Handler(void) {
  semihost_write0("Unexpected exception\n");
  semihost_exit(2);
}

void HardFault_Handler(void) {
  semihost_write0("HardFault\n");
  semihost_exit(3);
}

/* newlib's __libc_init_array calls _init(); nothing to do here. */
void _init(void) {}
void _fini(void) {}

/* Needed by C++ static objects with destructors when linking with
 * -nostartfiles (normally provided by crtbegin.o). Never used at run time. */
void* __dso_handle = 0;
