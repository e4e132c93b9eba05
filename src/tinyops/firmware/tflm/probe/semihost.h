/* From ../shared/third_party/example (Apache-2.0), unchanged. */
/* Arm semihosting (QEMU: -semihosting-config enable=on,target=native). */
#ifndef SEMIHOST_H_
#define SEMIHOST_H_
#ifdef __cplusplus
extern "C" {
#endif

static inline int semihost_call(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* SYS_WRITE0: print a NUL-terminated string on the host's stdout. */
static inline void semihost_write0(const char* s) { semihost_call(0x04, s); }

/* SYS_EXIT: ADP_Stopped_ApplicationExit (0x20026) -> QEMU exits with 0;
 * any other reason -> QEMU exits with 1. */
static inline void __attribute__((noreturn)) semihost_exit(int rc) {
  semihost_call(0x18, (const void*)(rc == 0 ? 0x20026 : 0x20023));
  for (;;) {
  }
}

#ifdef __cplusplus
}
#endif
#endif  /* SEMIHOST_H_ */
