/* Does the emulated Cortex-M55 (qemu-system-arm -M mps3-an547) execute Helium (MVE)?
 * Loads two int8 vectors with VLDRB.8 and takes their dot product with VMLADAV.S8, then
 * prints it next to a scalar loop's result over semihosting. Any fault (NOCP, UNDEFINSTR)
 * prints the CFSR and exits 1. -DNO_CPACR leaves CP10/CP11 off: the control that must fault.
 * Built by benchmarks/cores.py with firmware/bench/semihost.c and the AN547 linker script. */
#include <stdint.h>

#include "semihost.h"

void Reset_Handler(void);
static void Fault_Handler(void);

__attribute__((section(".isr_vector"), used)) static void (*const g_vectors[])(void) = {
    (void (*)(void))0x11200000u, Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler,
};

static const int8_t g_a[16] = {-128, -100, -7, -1, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 127};
static const int8_t g_b[16] = {127, -128, 3, -5, 7, -9, 11, -13, 17, -19, 23, -29, 31, -37, 41, -43};

static void put_int(const char *label, long v) {
  char buf[32];
  int i = 31;
  int neg = v < 0;
  unsigned long u = neg ? (unsigned long)(-v) : (unsigned long)v;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + u % 10u);
    u /= 10u;
  } while (u);
  if (neg) buf[--i] = '-';
  sh_puts(label);
  sh_puts(&buf[i]);
}

static void Fault_Handler(void) {
  put_int("MVE FAULT cfsr=", (long)*(volatile uint32_t *)0xE000ED28u);
  sh_puts("\n");
  sh_exit(1);
}

void Reset_Handler(void) {
#ifndef NO_CPACR
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CP10/CP11: FPU and MVE */
  __asm volatile("dsb\n isb");
#endif
  register int32_t mve __asm__("r4"); /* VMLADAV wants an even Rda */
  __asm volatile("vldrb.8 q0, [%1]\n vldrb.8 q1, [%2]\n vmladav.s8 %0, q0, q1"
                 : "=r"(mve) : "r"(g_a), "r"(g_b) : "d0", "d1", "d2", "d3", "memory");
  int32_t scalar = 0;
  for (int i = 0; i < 16; i++) scalar += (int32_t)g_a[i] * g_b[i];
  put_int("MVE vmladav.s8=", mve);
  put_int(" scalar=", scalar);
  sh_puts("\n");
  sh_exit(0);
}
