/* Runs the op table in order. The image was fully validated by tor_load. A TOR_OPSET build
 * (tor_opset.h) links only its ops' kernels: tor_validate refused every other op. */
#include "tor_internal.h"

static int loaded(const tor_model *m) { return m && m->image && (m->flags & 1u); }

uint32_t tor_op_count(const tor_model *m) { return loaded(m) ? tor_hdr(m->image)->n_ops : 0; }

/* ON(op): the build has the op; without it, the call below is folded away and not linked. */
#define ON(name) TOR_HAS(TOR_OP_##name)

tor_status tor_invoke_op(tor_model *m, uint32_t i) {
  if (!loaded(m)) return TOR_ERR_NULL;
  const uint8_t *image = m->image;
  uint8_t *arena = m->arena;
  const tor_header *h = tor_hdr(image);
  if (i >= h->n_ops) return TOR_ERR_INDEX;
  const tor_op *op = (const tor_op *)(const void *)(image + h->ops_off) + i;
  const void *p = image + op->params_off;
  switch (op->code) {
    case TOR_OP_CONV_2D: return ON(CONV_2D) ? tor_run_conv(image, arena, (const tor_conv_params *)p, 0) : TOR_ERR_OP;
    case TOR_OP_DEPTHWISE_CONV_2D: return ON(DEPTHWISE_CONV_2D)
               ? tor_run_conv(image, arena, (const tor_conv_params *)p, 1) : TOR_ERR_OP;
    case TOR_OP_FULLY_CONNECTED: return ON(FULLY_CONNECTED)
               ? tor_run_fc(image, arena, (const tor_fc_params *)p) : TOR_ERR_OP;
    case TOR_OP_AVERAGE_POOL_2D: return ON(AVERAGE_POOL_2D)
               ? tor_run_pool(image, arena, (const tor_pool_params *)p, 0) : TOR_ERR_OP;
    case TOR_OP_MAX_POOL_2D: return ON(MAX_POOL_2D)
               ? tor_run_pool(image, arena, (const tor_pool_params *)p, 1) : TOR_ERR_OP;
    case TOR_OP_MEAN:
    case TOR_OP_SUM:
    case TOR_OP_REDUCE_MAX: return (ON(MEAN) || ON(SUM) || ON(REDUCE_MAX))
               ? tor_run_reduce(image, arena, (const tor_mean_params *)p, op->code) : TOR_ERR_OP;
    case TOR_OP_ADD: return ON(ADD) ? tor_run_binary(image, arena, (const tor_binary_params *)p, 0) : TOR_ERR_OP;
    case TOR_OP_MUL: return ON(MUL) ? tor_run_binary(image, arena, (const tor_binary_params *)p, 1) : TOR_ERR_OP;
    case TOR_OP_RESHAPE: return ON(RESHAPE)
               ? tor_run_reshape(image, arena, (const tor_reshape_params *)p) : TOR_ERR_OP;
    case TOR_OP_SOFTMAX: return ON(SOFTMAX)
               ? tor_run_softmax(image, arena, (const tor_softmax_params *)p) : TOR_ERR_OP;
    case TOR_OP_LOGISTIC: return ON(LOGISTIC)
               ? tor_run_sigmoid(image, arena, (const tor_sigmoid_params *)p, 0) : TOR_ERR_OP;
    case TOR_OP_TANH: return ON(TANH) ? tor_run_sigmoid(image, arena, (const tor_sigmoid_params *)p, 1) : TOR_ERR_OP;
    case TOR_OP_QUANTIZE: return ON(QUANTIZE)
               ? tor_run_quantize(image, arena, (const tor_quantize_params *)p) : TOR_ERR_OP;
    case TOR_OP_DEQUANTIZE: return ON(DEQUANTIZE)
               ? tor_run_dequantize(image, arena, (const tor_dequantize_params *)p) : TOR_ERR_OP;
    case TOR_OP_PAD: return ON(PAD) ? tor_run_pad(image, arena, (const tor_pad_params *)p) : TOR_ERR_OP;
    case TOR_OP_CONCATENATION: return ON(CONCATENATION)
               ? tor_run_concat(image, arena, (const tor_concat_params *)p) : TOR_ERR_OP;
    case TOR_OP_LUT: return ON(LUT) ? tor_run_lut(image, arena, (const tor_lut_params *)p) : TOR_ERR_OP;
    case TOR_OP_SUB:
    case TOR_OP_PRELU:
    case TOR_OP_MAXIMUM:
    case TOR_OP_MINIMUM:
    case TOR_OP_SQUARED_DIFFERENCE:
    case TOR_OP_DIV: return (ON(SUB) || ON(PRELU) || ON(MAXIMUM) || ON(MINIMUM) || ON(SQUARED_DIFFERENCE) || ON(DIV))
               ? tor_run_binary2(image, arena, (const tor_binary_params *)p, op->code) : TOR_ERR_OP;
    case TOR_OP_ARG_MAX: return ON(ARG_MAX) ? tor_run_arg(image, arena, (const tor_arg_params *)p, 0) : TOR_ERR_OP;
    case TOR_OP_ARG_MIN: return ON(ARG_MIN) ? tor_run_arg(image, arena, (const tor_arg_params *)p, 1) : TOR_ERR_OP;
    case TOR_OP_COPY: return ON(COPY) ? tor_run_copy(image, arena, (const tor_copy_params *)p) : TOR_ERR_OP;
    case TOR_OP_RESIZE_BILINEAR: return ON(RESIZE_BILINEAR)
               ? tor_run_resize_bilinear(image, arena, (const tor_resize_params *)p) : TOR_ERR_OP;
    case TOR_OP_TRANSPOSE_CONV: return ON(TRANSPOSE_CONV)
               ? tor_run_tconv(image, arena, (const tor_tconv_params *)p) : TOR_ERR_OP;
    case TOR_OP_SVDF: return ON(SVDF) ? tor_run_svdf(image, arena, (const tor_svdf_params *)p) : TOR_ERR_OP;
    case TOR_OP_SEGMENT: return ON(SEGMENT)
               ? tor_run_segment(image, arena, (const tor_segment_params *)p) : TOR_ERR_OP;
    default: return TOR_ERR_OP;
  }
}
#undef ON

tor_status tor_invoke(tor_model *m) {
  if (!loaded(m)) return TOR_ERR_NULL;
  const uint32_t n = tor_op_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const tor_status s = tor_invoke_op(m, i);
    if (s != TOR_OK) return s;
  }
  return TOR_OK;
}
