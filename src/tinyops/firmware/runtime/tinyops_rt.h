/* tinyops-c: a dependency-free C99 int8 runtime for model images.
 *
 * CONTRACT shared by the runtime and the firmware.
 * The runtime owns the implementation; the firmware only uses this API.
 * No malloc, no globals: all state lives in the caller's tor_model and arena.
 */
#ifndef TINYOPS_RT_H
#define TINYOPS_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TOR_OK = 0,
  TOR_ERR_NULL = 1,          /* a required pointer was NULL */
  TOR_ERR_TRUNCATED = 2,     /* image shorter than its header/tables say */
  TOR_ERR_MAGIC = 3,         /* not a tinyops model image */
  TOR_ERR_VERSION = 4,       /* format version this runtime does not know */
  TOR_ERR_CRC = 5,           /* CRC32 over the image does not match */
  TOR_ERR_BOUNDS = 6,        /* an offset/size points outside the image or arena */
  TOR_ERR_OP = 7,            /* unknown or unsupported op code */
  TOR_ERR_ARENA = 8,         /* arena supplied is smaller than the image needs */
  TOR_ERR_SHAPE = 9,         /* inconsistent tensor shapes or parameters */
  TOR_ERR_INDEX = 10,        /* input/output index out of range */
  TOR_ERR_ALIGN = 11,        /* image or arena misaligned */
  TOR_ERR_COUNT
} tor_status;

/* Opaque-ish model handle; the caller allocates it (e.g. static or on stack). */
typedef struct {
  const uint8_t *image;
  uint32_t image_size;
  uint8_t *arena;
  uint32_t arena_size;
  uint32_t flags;
  uint32_t reserved[8];
} tor_model;

/* Human-readable message for a status code (never NULL). */
const char *tor_status_message(tor_status s);

/* Validate an image fully (magic, version, CRC, tables, every offset/size, ops)
 * without an arena. Returns the arena bytes needed through *arena_needed. */
tor_status tor_validate(const uint8_t *image, uint32_t image_size, uint32_t *arena_needed);

/* Validate and bind an image to an arena. The arena must be >= the planned size
 * and 16-byte aligned. */
tor_status tor_load(tor_model *m, const uint8_t *image, uint32_t image_size,
                    uint8_t *arena, uint32_t arena_size);

uint32_t tor_input_count(const tor_model *m);
uint32_t tor_output_count(const tor_model *m);
/* Pointer and byte size of input/output tensor i (int8 or as the image says). */
tor_status tor_input(const tor_model *m, uint32_t i, int8_t **data, uint32_t *bytes);
tor_status tor_output(const tor_model *m, uint32_t i, const int8_t **data, uint32_t *bytes);
/* Quantization of input/output i, for the MLPerf `results%` floats. */
tor_status tor_output_quant(const tor_model *m, uint32_t i, float *scale, int32_t *zero_point);
tor_status tor_input_quant(const tor_model *m, uint32_t i, float *scale, int32_t *zero_point);

tor_status tor_invoke(tor_model *m);

/* The number of ops, and running op i alone (tor_invoke runs
 * 0..n-1 in order) — for per-op profiling on devices. */
uint32_t tor_op_count(const tor_model *m);
tor_status tor_invoke_op(tor_model *m, uint32_t i);

#ifdef __cplusplus
}
#endif
#endif
