/* Runs the op table in order. The image was fully validated by tor_load. */
#include "tor_internal.h"

static int loaded(const tor_model *m) { return m && m->image && (m->flags & 1u); }

uint32_t tor_op_count(const tor_model *m) { return loaded(m) ? tor_hdr(m->image)->n_ops : 0; }

tor_status tor_invoke_op(tor_model *m, uint32_t i) {
  if (!loaded(m)) return TOR_ERR_NULL;
  const uint8_t *image = m->image;
  uint8_t *arena = m->arena;
  const tor_header *h = tor_hdr(image);
  if (i >= h->n_ops) return TOR_ERR_INDEX;
  const tor_op *op = (const tor_op *)(const void *)(image + h->ops_off) + i;
  const void *p = image + op->params_off;
  switch (op->code) {
    case TOR_OP_CONV_2D: return tor_run_conv(image, arena, (const tor_conv_params *)p, 0);
    case TOR_OP_DEPTHWISE_CONV_2D: return tor_run_conv(image, arena, (const tor_conv_params *)p, 1);
    case TOR_OP_FULLY_CONNECTED: return tor_run_fc(image, arena, (const tor_fc_params *)p);
    case TOR_OP_AVERAGE_POOL_2D: return tor_run_pool(image, arena, (const tor_pool_params *)p, 0);
    case TOR_OP_MAX_POOL_2D: return tor_run_pool(image, arena, (const tor_pool_params *)p, 1);
    case TOR_OP_MEAN:
    case TOR_OP_SUM:
    case TOR_OP_REDUCE_MAX: return tor_run_reduce(image, arena, (const tor_mean_params *)p, op->code);
    case TOR_OP_ADD: return tor_run_binary(image, arena, (const tor_binary_params *)p, 0);
    case TOR_OP_MUL: return tor_run_binary(image, arena, (const tor_binary_params *)p, 1);
    case TOR_OP_RESHAPE: return tor_run_reshape(image, arena, (const tor_reshape_params *)p);
    case TOR_OP_SOFTMAX: return tor_run_softmax(image, arena, (const tor_softmax_params *)p);
    case TOR_OP_LOGISTIC: return tor_run_sigmoid(image, arena, (const tor_sigmoid_params *)p, 0);
    case TOR_OP_TANH: return tor_run_sigmoid(image, arena, (const tor_sigmoid_params *)p, 1);
    case TOR_OP_QUANTIZE: return tor_run_quantize(image, arena, (const tor_quantize_params *)p);
    case TOR_OP_DEQUANTIZE: return tor_run_dequantize(image, arena, (const tor_dequantize_params *)p);
    case TOR_OP_PAD: return tor_run_pad(image, arena, (const tor_pad_params *)p);
    case TOR_OP_CONCATENATION: return tor_run_concat(image, arena, (const tor_concat_params *)p);
    case TOR_OP_LUT: return tor_run_lut(image, arena, (const tor_lut_params *)p);
    case TOR_OP_SUB:
    case TOR_OP_PRELU:
    case TOR_OP_MAXIMUM:
    case TOR_OP_MINIMUM:
    case TOR_OP_SQUARED_DIFFERENCE:
    case TOR_OP_DIV: return tor_run_binary2(image, arena, (const tor_binary_params *)p, op->code);
    case TOR_OP_ARG_MAX: return tor_run_arg(image, arena, (const tor_arg_params *)p, 0);
    case TOR_OP_ARG_MIN: return tor_run_arg(image, arena, (const tor_arg_params *)p, 1);
    case TOR_OP_COPY: return tor_run_copy(image, arena, (const tor_copy_params *)p);
    case TOR_OP_RESIZE_BILINEAR: return tor_run_resize_bilinear(image, arena, (const tor_resize_params *)p);
    case TOR_OP_TRANSPOSE_CONV: return tor_run_tconv(image, arena, (const tor_tconv_params *)p);
    case TOR_OP_SVDF: return tor_run_svdf(image, arena, (const tor_svdf_params *)p);
    case TOR_OP_SEGMENT: return tor_run_segment(image, arena, (const tor_segment_params *)p);
    default: return TOR_ERR_OP;
  }
}

tor_status tor_invoke(tor_model *m) {
  if (!loaded(m)) return TOR_ERR_NULL;
  const uint32_t n = tor_op_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const tor_status s = tor_invoke_op(m, i);
    if (s != TOR_OK) return s;
  }
  return TOR_OK;
}
