/* Internal helpers shared by the loader and the kernels. */
#ifndef TOR_INTERNAL_H
#define TOR_INTERNAL_H

#include "tinyops_rt.h"
#include "tor_format.h"
#include "tor_opset.h"

/* A bound tensor: where its bytes are, and its canonical 4-D shape. */
typedef struct {
  const tor_tensor *t;
  uint8_t *data; /* points into the arena, or (const-cast) into the image for constants */
} tor_view;

static inline const tor_header *tor_hdr(const uint8_t *image) { return (const tor_header *)(const void *)image; }
static inline const tor_tensor *tor_tensors(const uint8_t *image) {
  return (const tor_tensor *)(const void *)(image + tor_hdr(image)->tensors_off);
}
static inline int32_t tor_elems(const tor_tensor *t) { return t->dims[0] * t->dims[1] * t->dims[2] * t->dims[3]; }

/* Validate one op's parameters against the tensor table (tor_validate_ops.c). */
tor_status tor_validate_op(const uint8_t *image, const tor_op *op);
/* The same for a SEGMENT's member (CONV_2D, DEPTHWISE_CONV_2D, ADD): it may name window
 * tensors, and its output may overlap its inputs (tor_validate_segment checks the rest). */
tor_status tor_validate_member(const uint8_t *image, const tor_op *op);
/* The same for COPY, RESIZE_BILINEAR, TRANSPOSE_CONV and SVDF (tor_validate_data.c). */
tor_status tor_validate_op_data(const uint8_t *image, const tor_op *op);

/* Run one op (tor_invoke.c dispatches to the kernels). */
tor_status tor_run_conv(const uint8_t *image, uint8_t *arena, const tor_conv_params *p, int depthwise);
/* The same on a view: ti/in and to/out may be a band of rows of the tensors p names (the
 * params' pad_h adjusted to the band), as a SEGMENT runs it (tor_stream.c). */
tor_status tor_conv_view(const uint8_t *image, uint8_t *arena, const tor_conv_params *p, int dw,
                         const tor_tensor *ti, const int8_t *in, const tor_tensor *to, int8_t *out, int32_t *memo);
/* ADD of n elements of equal-shape operands a, b into out (as tor_run_binary computes it). */
void tor_add_same(const uint8_t *image, const tor_binary_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                  int32_t n);
/* The generic element loop of tor_run_binary2 for equal shapes. */
void tor_binary_same(const tor_binary_params *p, uint32_t code, const int8_t *a, const int8_t *b, int8_t *out,
                     int32_t n);
tor_status tor_run_segment(const uint8_t *image, uint8_t *arena, const tor_segment_params *p);
tor_status tor_validate_segment(const uint8_t *image, const tor_segment_params *p);
tor_status tor_run_fc(const uint8_t *image, uint8_t *arena, const tor_fc_params *p);
tor_status tor_run_pool(const uint8_t *image, uint8_t *arena, const tor_pool_params *p, int is_max);
tor_status tor_run_reduce(const uint8_t *image, uint8_t *arena, const tor_mean_params *p, uint32_t code);
tor_status tor_run_arg(const uint8_t *image, uint8_t *arena, const tor_arg_params *p, int is_min);
tor_status tor_run_binary(const uint8_t *image, uint8_t *arena, const tor_binary_params *p, int is_mul);
tor_status tor_run_softmax(const uint8_t *image, uint8_t *arena, const tor_softmax_params *p);
tor_status tor_run_sigmoid(const uint8_t *image, uint8_t *arena, const tor_sigmoid_params *p, int is_tanh);
tor_status tor_run_quantize(const uint8_t *image, uint8_t *arena, const tor_quantize_params *p);
tor_status tor_run_dequantize(const uint8_t *image, uint8_t *arena, const tor_dequantize_params *p);
tor_status tor_run_pad(const uint8_t *image, uint8_t *arena, const tor_pad_params *p);
tor_status tor_run_concat(const uint8_t *image, uint8_t *arena, const tor_concat_params *p);
tor_status tor_run_reshape(const uint8_t *image, uint8_t *arena, const tor_reshape_params *p);
tor_status tor_run_copy(const uint8_t *image, uint8_t *arena, const tor_copy_params *p);
tor_status tor_run_resize_bilinear(const uint8_t *image, uint8_t *arena, const tor_resize_params *p);
tor_status tor_run_tconv(const uint8_t *image, uint8_t *arena, const tor_tconv_params *p);
tor_status tor_run_lut(const uint8_t *image, uint8_t *arena, const tor_lut_params *p);
tor_status tor_run_binary2(const uint8_t *image, uint8_t *arena, const tor_binary_params *p, uint32_t code);
tor_status tor_run_svdf(const uint8_t *image, uint8_t *arena, const tor_svdf_params *p);

/* Data pointer of tensor i (validated indices only). */
static inline uint8_t *tor_data(const uint8_t *image, uint8_t *arena, int32_t i) {
  const tor_tensor *t = &tor_tensors(image)[i];
  return t->storage != TOR_IN_IMAGE ? arena + t->offset : (uint8_t *)(uintptr_t)(image + t->offset);
}

#endif
