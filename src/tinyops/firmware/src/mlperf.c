#include "mlperf.h"

#include <string.h>

#include "config.h"
#include "hal.h"
#include "model.h"
#include "out.h"

/* Model id for `profile%`. The runner accepts any id; MLPerf's are kws01,
 * vww01, ad01 and ic01. We report "tinyops" plus the slot's model. */
static uint32_t g_db_expected, g_db_loaded;

void mlperf_reset(void) { g_db_expected = g_db_loaded = 0; }

static int next_token(char **cursor, char **tok) {
  char *p = *cursor;
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
  if (!*p) return 0;
  *tok = p;
  while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') p++;
  if (*p) *p++ = 0;
  *cursor = p;
  return 1;
}

/* Strict decimal parse; returns 0 on junk. Negative values allowed. */
static int parse_int(const char *s, int64_t *v) {
  int neg = 0;
  int64_t x = 0;
  if (*s == '-') { neg = 1; s++; }
  if (!*s) return 0;
  while (*s) {
    if (*s < '0' || *s > '9' || x > 100000000) return 0;
    x = x * 10 + (*s++ - '0');
  }
  *v = neg ? -x : x;
  return 1;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void print_results(void) {
  uint32_t n = model_tensor_output_bytes(), i;
  out_str("m-results-[");
  for (i = 0; i < n; i++) {
    int64_t milli = 0;
    if (i) out_str(",");
    (void)model_output_value_milli(i, &milli);
    out_milli(milli);
  }
  out_str("]\r\n");
}

static void cmd_db(char **cursor) {
  char *arg;
  if (!next_token(cursor, &arg)) {
    out_str("e-[Command 'db' requires a subcommand or hex bytes]\r\n");
    return;
  }
  if (strcmp(arg, "load") == 0) {
    char *num;
    int64_t n;
    if (!next_token(cursor, &num)) { out_str("e-[Command 'db load' requires the # of bytes]\r\n"); return; }
    if (!parse_int(num, &n) || n <= 0) { out_str("e-[Command 'db load' must be >0 bytes]\r\n"); return; }
    if ((uint64_t)n > FW_INPUT_CAPACITY) {
      out_str("e-[Command 'db load' exceeds the buffer of ");
      out_u64(FW_INPUT_CAPACITY);
      out_str(" bytes]\r\n");
      return;
    }
    g_db_expected = (uint32_t)n;
    g_db_loaded = 0;
    out_str("m-[Expecting ");
    out_u64((uint64_t)n);
    out_str(" bytes]\r\n");
  } else if (strcmp(arg, "print") == 0) {
    char *tok;
    int64_t count = g_db_loaded, offset = 0, i;
    if (next_token(cursor, &tok) && !parse_int(tok, &count)) count = 0;
    if (next_token(cursor, &tok) && !parse_int(tok, &offset)) offset = 0;
    if (offset < 0) offset = 0;
    if (count < 0 || offset + count > (int64_t)FW_INPUT_CAPACITY) count = 0;
    for (i = 0; i < count; i++) {
      out_str(i % 8 == 0 ? "m-buffer-" : "-");
      out_hex8(g_input[offset + i]);
      if (i % 8 == 7 || i == count - 1) out_str("\r\n");
    }
  } else {
    size_t len = strlen(arg), i;
    if (len % 2) { out_str("e-[Insufficent number of hex digits]\r\n"); return; }
    for (i = 0; i < len; i++) {
      if (hex_value(arg[i]) < 0) {
        char msg[] = "e-[Invalid hex digit 'X']\r\n";
        msg[22] = arg[i];
        out_str(msg);
        return;
      }
    }
    for (i = 0; i < len && g_db_loaded < g_db_expected; i += 2)
      g_input[g_db_loaded++] = (uint8_t)(hex_value(arg[i]) * 16 + hex_value(arg[i + 1]));
    if (g_db_expected && g_db_loaded == g_db_expected) {
      out_str("m-load-done\r\n");
      g_db_expected = 0;
    }
  }
}

static void lap(void) {
  out_str("m-lap-us-");
  out_u64(hal_micros());
  out_str("\r\n");
}

static void cmd_infer(char **cursor) {
  char *tok;
  int64_t n = 1, w = 10, i;
  uint64_t count;
  if (next_token(cursor, &tok) && !parse_int(tok, &n)) n = 0;
  if (next_token(cursor, &tok) && !parse_int(tok, &w)) w = -1;
  if (n <= 0) { out_str("e-[Inference iterations must be >0]\r\n"); return; }
  if (w < 0) { out_str("e-[Inference warmup must be >=0]\r\n"); return; }
  if (!model_loaded()) { out_str("e-[No model loaded: flash one with `tinyops flash`]\r\n"); return; }
  out_str("m-warmup-start-"); out_u64((uint64_t)w); out_str("\r\n");
  for (i = 0; i < w; i++) (void)model_run_tensor(&count);
  out_str("m-warmup-done\r\n");
  out_str("m-infer-start-"); out_u64((uint64_t)n); out_str("\r\n");
  lap();
  for (i = 0; i < n; i++) {
    if (model_run_tensor(&count) != TOR_OK) break;
  }
  lap();
  out_str("m-infer-done\r\n");
  print_results();
}

static void cmd_help(void) {
  out_str(FW_NAME " MLPerf Tiny commands (end each with %):\r\n");
  out_str("help           this list\r\n");
  out_str("name           device name\r\n");
  out_str("profile        firmware profile and model\r\n");
  out_str("timestamp      microseconds since boot\r\n");
  out_str("db load N      expect N input bytes\r\n");
  out_str("db HEX         load input bytes as hex digits\r\n");
  out_str("db print [N] [OFFSET]  print the input buffer\r\n");
  out_str("infer N W      run N inferences after W warmup runs\r\n");
  out_str("results        print the last output vector\r\n");
  out_str("Binary update frames (SLIP, first byte 0xC0): see firmware/PROTOCOL.md\r\n");
}

void mlperf_command(char *line) {
  char *cursor = line, *cmd;
  g_counters.ascii_commands++;
  if (next_token(&cursor, &cmd)) {
    if (strcmp(cmd, "name") == 0) {
      out_str("m-name-dut-[" FW_NAME "-");
      out_str(hal_board_name());
      out_str("]\r\n");
    } else if (strcmp(cmd, "profile") == 0) {
      out_str("m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\n");
      out_str(model_loaded() ? "m-model-[tinyops-slot-" : "m-model-[none");
      if (model_loaded()) out_u64(g_active_slot);
      out_str("]\r\n");
    } else if (strcmp(cmd, "timestamp") == 0) {
      lap();
    } else if (strcmp(cmd, "help") == 0) {
      cmd_help();
    } else if (strcmp(cmd, "db") == 0) {
      cmd_db(&cursor);
    } else if (strcmp(cmd, "infer") == 0) {
      cmd_infer(&cursor);
    } else if (strcmp(cmd, "results") == 0) {
      if (model_loaded()) print_results();
      else out_str("e-[No model loaded: flash one with `tinyops flash`]\r\n");
    } else {
      out_str("e-[Unknown command: ");
      out_str(cmd);
      out_str("]\r\n");
    }
  }
  out_str("m-ready\r\n");
}
