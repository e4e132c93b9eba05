/* posix board: the firmware as a native Linux process.
 *   tinyops-fw-posix --flash FILE [--port N | --pty] [--host ADDR]
 * UART = one TCP client at a time (or a pty); flash = a file, written with
 * pwrite in small words like a real flash controller, so a kill tears pages.
 * With --port 0 the chosen port is printed on stdout as "PORT n". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fw.h"
#include "hal.h"
#include "slots.h"

#define FLASH_WORD 16u /* bytes per program operation */

static int g_flash_fd = -1;
static int g_listen_fd = -1;
static int g_io_fd = -1; /* connected client or pty master */
static int g_is_pty;
static uint8_t g_rx[4096];
static ssize_t g_rx_len, g_rx_pos;
static uint64_t g_t0;

static void die(const char *what) {
  fprintf(stderr, "tinyops-fw-posix: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *hal_board_name(void) { return "posix"; }
uint64_t hal_counter(void) { return now_ns() - g_t0; }
uint32_t hal_counter_unit(void) { return HAL_UNIT_NANOSECONDS; }
uint64_t hal_micros(void) { return (now_ns() - g_t0) / 1000u; }
void hal_init(void) { g_t0 = now_ns(); }
void hal_reset(void) { g_rx_len = g_rx_pos = 0; /* fw_run re-runs fw_init */ }

static void accept_client(void) {
  int one = 1;
  if (g_is_pty) return;
  for (;;) {
    g_io_fd = accept(g_listen_fd, NULL, NULL);
    if (g_io_fd >= 0) break;
    if (errno != EINTR) die("accept");
  }
  setsockopt(g_io_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int hal_uart_getc(void) {
  while (g_rx_pos >= g_rx_len) {
    if (g_io_fd < 0) accept_client();
    g_rx_len = read(g_io_fd, g_rx, sizeof g_rx);
    g_rx_pos = 0;
    if (g_rx_len <= 0) {
      if (g_rx_len < 0 && errno == EINTR) continue;
      if (g_is_pty) { usleep(10000); g_rx_len = 0; continue; } /* no reader yet */
      close(g_io_fd); /* client left: wait for the next one */
      g_io_fd = -1;
      g_rx_len = 0;
    }
  }
  return g_rx[g_rx_pos++];
}

void hal_uart_write(const uint8_t *data, size_t len) {
  while (len > 0 && g_io_fd >= 0) {
    ssize_t n = write(g_io_fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { usleep(1000); continue; }
      return; /* nobody listening: bytes are lost, as on a real UART */
    }
    data += n;
    len -= (size_t)n;
  }
}

uint32_t hal_flash_size(void) { return slots_region_size(); }

int hal_flash_read(uint32_t addr, void *dst, uint32_t len) {
  if ((uint64_t)addr + len > hal_flash_size()) return -1;
  return pread(g_flash_fd, dst, len, addr) == (ssize_t)len ? 0 : -1;
}

int hal_flash_write(uint32_t addr, const void *src, uint32_t len) {
  const uint8_t *p = (const uint8_t *)src;
  if ((uint64_t)addr + len > hal_flash_size()) return -1;
  while (len > 0) {
    uint32_t take = len < FLASH_WORD ? len : FLASH_WORD;
    if (pwrite(g_flash_fd, p, take, addr) != (ssize_t)take) return -1;
    p += take;
    addr += take;
    len -= take;
  }
  return 0;
}

int hal_flash_erase_page(uint32_t addr) {
  uint8_t ff[256];
  uint32_t i;
  addr -= addr % HAL_FLASH_PAGE;
  memset(ff, 0xFF, sizeof ff);
  for (i = 0; i < HAL_FLASH_PAGE; i += sizeof ff)
    if (hal_flash_write(addr + i, ff, sizeof ff)) return -1;
  return 0;
}

static void open_flash(const char *path) {
  struct stat st;
  g_flash_fd = open(path, O_RDWR | O_CREAT, 0644);
  if (g_flash_fd < 0) die(path);
  if (fstat(g_flash_fd, &st) != 0) die(path);
  if ((uint64_t)st.st_size < hal_flash_size()) {
    /* Fresh (or short) file: the missing part reads as erased flash. */
    uint8_t ff[4096];
    off_t off = st.st_size;
    memset(ff, 0xFF, sizeof ff);
    while ((uint64_t)off < hal_flash_size()) {
      size_t take = hal_flash_size() - (uint64_t)off < sizeof ff ? hal_flash_size() - (uint64_t)off : sizeof ff;
      if (pwrite(g_flash_fd, ff, take, off) != (ssize_t)take) die(path);
      off += (off_t)take;
    }
  }
}

int main(int argc, char **argv) {
  const char *flash = "tinyops-flash.bin", *host = "127.0.0.1";
  int port = -1, use_pty = 0, i;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--flash") && i + 1 < argc) flash = argv[++i];
    else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
    else if (!strcmp(argv[i], "--pty")) use_pty = 1;
    else {
      fprintf(stderr, "usage: %s --flash FILE (--port N | --pty) [--host ADDR]\n", argv[0]);
      return 2;
    }
  }
  if (port < 0 && !use_pty) port = 0;
  signal(SIGPIPE, SIG_IGN);
  hal_init();
  open_flash(flash);
  if (use_pty) {
    g_io_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (g_io_fd < 0 || grantpt(g_io_fd) || unlockpt(g_io_fd)) die("pty");
    g_is_pty = 1;
    printf("PTY %s\n", ptsname(g_io_fd));
  } else {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1;
    g_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (g_listen_fd < 0) die("socket");
    setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("--host");
    if (bind(g_listen_fd, (struct sockaddr *)&a, sizeof a) || listen(g_listen_fd, 1)) die("bind");
    getsockname(g_listen_fd, (struct sockaddr *)&a, &alen);
    printf("PORT %d\n", ntohs(a.sin_port));
  }
  fflush(stdout);
  fw_run();
  return 0;
}
