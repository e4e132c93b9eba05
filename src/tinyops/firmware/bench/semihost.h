/* ARM semihosting calls used by the bench (QEMU -semihosting-config enable=on,target=native). */
#ifndef BENCH_SEMIHOST_H
#define BENCH_SEMIHOST_H
#include <stdint.h>

int sh_open(const char *path, int mode); /* mode 1 = "rb", 5 = "wb" */
int sh_close(int fd);
int sh_flen(int fd);
int sh_read(int fd, void *buf, uint32_t n);  /* returns bytes NOT read */
int sh_write(int fd, const void *buf, uint32_t n);
void sh_puts(const char *s);
void sh_exit(int code);
#endif
