/* tinyops-c model image layout (see FORMAT.md). Little-endian, every record made of
 * 32-bit words so the structs have no padding on any C99 target. Internal header:
 * the firmware uses tinyops_rt.h only. */
#ifndef TOR_FORMAT_H
#define TOR_FORMAT_H

#include <stdint.h>

#define TOR_MAGIC 0x49524f54u /* "TORI" read as a little-endian u32 */
#define TOR_FORMAT_VERSION 2u
#define TOR_MAX_TENSORS 4096u
#define TOR_MAX_OPS 4096u
#define TOR_MAX_IO 16u
#define TOR_MAX_DIM 65535
#define TOR_MAX_CONCAT 16
#define TOR_MAX_SEGMENT 8

enum { TOR_DT_INT8 = 0, TOR_DT_INT32 = 1, TOR_DT_FLOAT32 = 2, TOR_DT_COUNT };
/* TOR_IN_STATE: an arena tensor that keeps its value from one invoke to the next (a
 * TFLite variable, e.g. SVDF's activation state), set to its zero point by tor_load.
 * TOR_IN_WINDOW: a tensor that never exists whole, only as rows in a SEGMENT's window
 * (offset 0; only the members of a SEGMENT may name it). */
enum { TOR_IN_ARENA = 0, TOR_IN_IMAGE = 1, TOR_IN_STATE = 2, TOR_IN_WINDOW = 3 };

enum {
  TOR_OP_CONV_2D = 1, TOR_OP_DEPTHWISE_CONV_2D = 2, TOR_OP_FULLY_CONNECTED = 3,
  TOR_OP_AVERAGE_POOL_2D = 4, TOR_OP_MAX_POOL_2D = 5, TOR_OP_MEAN = 6, TOR_OP_ADD = 7,
  TOR_OP_MUL = 8, TOR_OP_RESHAPE = 9, TOR_OP_SOFTMAX = 10, TOR_OP_LOGISTIC = 11,
  TOR_OP_TANH = 12, TOR_OP_QUANTIZE = 13, TOR_OP_DEQUANTIZE = 14, TOR_OP_PAD = 15,
  TOR_OP_CONCATENATION = 16, TOR_OP_LUT = 17, TOR_OP_SUB = 18, TOR_OP_PRELU = 19, TOR_OP_MAXIMUM = 20,
  TOR_OP_MINIMUM = 21, TOR_OP_SQUARED_DIFFERENCE = 22, TOR_OP_DIV = 23, TOR_OP_ARG_MAX = 24,
  TOR_OP_ARG_MIN = 25, TOR_OP_REDUCE_MAX = 26, TOR_OP_SUM = 27,
  /* 32..: data movement lowered on the host, resizing, transposed convolution, SVDF */
  TOR_OP_COPY = 32, TOR_OP_RESIZE_BILINEAR = 33, TOR_OP_TRANSPOSE_CONV = 34, TOR_OP_SVDF = 35,
  TOR_OP_SEGMENT = 36,
  TOR_OP_COUNT
};

typedef struct {
  uint32_t magic, version, image_size, crc32; /* crc over the image with this field = 0 */
  uint32_t arena_bytes;
  uint32_t n_tensors, tensors_off;
  uint32_t n_ops, ops_off;
  uint32_t n_inputs, n_outputs, io_off; /* io: n_inputs then n_outputs u32 tensor indices */
  uint32_t data_off, data_size;          /* constant data region */
  uint32_t flags, reserved;
} tor_header; /* 64 bytes */

typedef struct {
  uint32_t dtype, rank, storage;
  int32_t dims[4]; /* shape left-padded with 1s to 4 dims (NHWC for 4-D tensors) */
  uint32_t offset, bytes;
  float scale;
  int32_t zero_point;
} tor_tensor; /* 44 bytes */

typedef struct {
  uint32_t code, params_off, params_size;
} tor_op; /* 12 bytes */

/* Tensor index -1 means "absent" (e.g. no bias). Shapes come from the tensor table. */
typedef struct {
  int32_t input, filter, bias, output;
  int32_t stride_w, stride_h, dilation_w, dilation_h, pad_w, pad_h, depth_multiplier;
  int32_t input_offset, output_offset, act_min, act_max;
  uint32_t multipliers_off, shifts_off; /* image offsets of int32[output channels] */
  uint32_t bias_eff_off; /* int32[output channels]: bias + input_offset * sum(weights of the channel) */
  int32_t scratch;       /* CONV_2D: int8 arena tensor of >= KH*KW*C bytes (im2col, widened
                            input columns: see FORMAT.md), or -1;
                            DEPTHWISE_CONV_2D: int8 image constant of C bytes, all the input
                            zero point (padded taps read it), or -1 */
  uint32_t pow2_off;     /* 0, or the image offset of int32[output channels]: 2^(33 - e) for each
                            channel's right shift e = -shift, 3 <= e <= 31 (FORMAT.md) */
} tor_conv_params;

typedef struct {
  int32_t input, filter, bias, output;
  int32_t input_offset, filter_offset, output_offset, act_min, act_max;
  int32_t n_multipliers; /* 1 (per tensor) or output units (per channel) */
  uint32_t multipliers_off, shifts_off;
  uint32_t bias_eff_off; /* int32[units]: bias + input_offset*(sum(w) + filter_offset*depth) */
  int32_t scratch;       /* arena tensor of >= 2*depth bytes (the input widened to int16), or -1 */
  int32_t layout;        /* 0: plain rows; 1: rows in groups of four, word-interleaved (FORMAT.md) */
  int32_t rq_fast;       /* 1: the requantization shortcut's conditions hold (FORMAT.md), else 0 */
} tor_fc_params;

typedef struct {
  int32_t input, output;
  int32_t stride_w, stride_h, filter_w, filter_h, pad_w, pad_h, act_min, act_max;
} tor_pool_params;

typedef struct {
  int32_t input, output;
  int32_t axis_mask; /* bit i: reduce canonical dim i */
  int32_t exact;     /* reserved, must be 0 */
  int32_t input_zp, output_zp, multiplier, shift;
} tor_mean_params; /* MEAN, SUM and REDUCE_MAX */

typedef struct {
  int32_t input1, input2, output;
  int32_t input1_offset, input2_offset, output_offset, left_shift;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift, act_min, act_max;
  uint32_t tables_off; /* same-shape ADD: image offset of int32[2][256] (FORMAT.md), or 0 */
} tor_binary_params; /* ADD, MUL, SUB, PRELU, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, DIV */

typedef struct { int32_t input, output; } tor_reshape_params;

/* Any int8 -> int8 function of one element (RELU, RELU6, LEAKY_RELU, HARD_SWISH): the
 * compiler evaluates TFLM's integer arithmetic for all 256 inputs. */
typedef struct {
  int32_t input, output;
  uint32_t table_off; /* image offset of int8[256], indexed by the input byte as uint8 */
} tor_lut_params;

typedef struct {
  int32_t input, output; /* int8 in, int32 out (one rank less) */
  int32_t axis;          /* canonical dim 0..3 of the input */
} tor_arg_params; /* ARG_MAX and ARG_MIN */

typedef struct {
  int32_t input, output, input_multiplier, input_left_shift, diff_min;
} tor_softmax_params;

typedef struct {
  int32_t input, output, input_zp, input_range_radius, input_multiplier, input_left_shift;
} tor_sigmoid_params; /* LOGISTIC and TANH */

typedef struct {
  int32_t input, output;
  int32_t multiplier, shift, input_zp, output_zp; /* int8 -> int8 requantize */
  float scale;                                    /* float32 -> int8 */
} tor_quantize_params;

typedef struct { int32_t input, output; } tor_dequantize_params;

typedef struct {
  int32_t input, output, before[4], after[4], pad_value;
} tor_pad_params;

typedef struct {
  int32_t output, axis, n_inputs, inputs[TOR_MAX_CONCAT];
} tor_concat_params;

/* COPY: out[out_base + sum_d i_d * out_strides[d]] = in[sum_d table_d[i_d]] for i_d < dims[d].
 * STRIDED_SLICE, SLICE, SPLIT(_V), TRANSPOSE, PACK, UNPACK, GATHER (constant indices),
 * RESIZE_NEAREST_NEIGHBOR and MIRROR_PAD are all lowered to it on the host. */
typedef struct {
  int32_t input, output;
  int32_t dims[4];
  int32_t out_base, out_strides[4];
  uint32_t tables_off; /* int32 input element offsets: dims[0] + dims[1] + dims[2] + (contiguous ? 1 : dims[3]) */
  int32_t contiguous;  /* 1: the innermost dim is one run of dims[3] consecutive elements from its table's
                          single entry, and out_strides[3] == 1 */
} tor_copy_params;

typedef struct {
  int32_t input, output, align_corners, half_pixel_centers;
} tor_resize_params; /* RESIZE_BILINEAR; the 10-bit scales are computed from the shapes, as in TFLM */

typedef struct {
  int32_t input, filter, output;
  int32_t stride_w, stride_h, pad_w, pad_h;
  int32_t input_offset, output_offset, act_min, act_max;
  uint32_t multipliers_off, shifts_off; /* int32[output channels] */
  uint32_t bias_off;                    /* int32[output channels]: the bias, or zeros */
  uint32_t tap_sums_off;                /* int32[OC*KH*KW]: sum over input channels of each filter tap */
} tor_tconv_params; /* TRANSPOSE_CONV */

typedef struct {
  int32_t input, weights_feature, weights_time, state, output; /* state: TOR_IN_STATE [batch, filters*memory] */
  int32_t rank, input_zp, state_zp, output_zp;
  int32_t multiplier1, shift1; /* input*feature -> state scale (TFLM effective_scale_1) */
  int32_t multiplier2, shift2; /* state*time -> output scale (effective_scale_2) */
  uint32_t bias_off;           /* int32[units] */
} tor_svdf_params; /* SVDF, int8 weights and state (TFLM EvalInt8SvdfReference) */

/* SEGMENT: member ops (CONV_2D, DEPTHWISE_CONV_2D, ADD of equal shapes) run row by row:
 * the last member's output rows are produced in order, each pulling the rows it needs
 * through the chain. A member other than the last writes a TOR_IN_WINDOW tensor into
 * window_rows rows at arena offset window_off (rows no later member needs are dropped
 * by moving the kept rows to the window's start); the last member writes its arena
 * tensor (window_off = window_rows = 0). Members' params are ordinary param blocks; a
 * member makes rows_per_call output rows per kernel call (the last call fewer). */
typedef struct {
  int32_t n_members, reserved[3];
  /* member j: op code, its params block (image offset, size), its output window */
  uint32_t code[TOR_MAX_SEGMENT], params_off[TOR_MAX_SEGMENT], params_size[TOR_MAX_SEGMENT];
  uint32_t window_off[TOR_MAX_SEGMENT], window_rows[TOR_MAX_SEGMENT];
  uint32_t rows_per_call[TOR_MAX_SEGMENT]; /* output rows per kernel call (1..H) */
} tor_segment_params;

#endif
