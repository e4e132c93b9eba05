/* Runs the op table in order. The image was fully validated by tor_load. */
#include "tor_internal.h"

tor_status tor_invoke(tor_model *m) {
  if (!m || !m->image || !(m->flags & 1u)) return TOR_ERR_NULL;
  const uint8_t *image = m->image;
  uint8_t *arena = m->arena;
  const tor_header *h = tor_hdr(image);
  const tor_op *ops = (const tor_op *)(const void *)(image + h->ops_off);
  for (uint32_t i = 0; i < h->n_ops; i++) {
    const void *p = image + ops[i].params_off;
    tor_status s;
    switch (ops[i].code) {
      case TOR_OP_CONV_2D: s = tor_run_conv(image, arena, (const tor_conv_params *)p, 0); break;
      case TOR_OP_DEPTHWISE_CONV_2D: s = tor_run_conv(image, arena, (const tor_conv_params *)p, 1); break;
      case TOR_OP_FULLY_CONNECTED: s = tor_run_fc(image, arena, (const tor_fc_params *)p); break;
      case TOR_OP_AVERAGE_POOL_2D: s = tor_run_pool(image, arena, (const tor_pool_params *)p, 0); break;
      case TOR_OP_MAX_POOL_2D: s = tor_run_pool(image, arena, (const tor_pool_params *)p, 1); break;
      case TOR_OP_MEAN: s = tor_run_mean(image, arena, (const tor_mean_params *)p); break;
      case TOR_OP_ADD: s = tor_run_binary(image, arena, (const tor_binary_params *)p, 0); break;
      case TOR_OP_MUL: s = tor_run_binary(image, arena, (const tor_binary_params *)p, 1); break;
      case TOR_OP_RESHAPE: s = tor_run_reshape(image, arena, (const tor_reshape_params *)p); break;
      case TOR_OP_SOFTMAX: s = tor_run_softmax(image, arena, (const tor_softmax_params *)p); break;
      case TOR_OP_LOGISTIC: s = tor_run_sigmoid(image, arena, (const tor_sigmoid_params *)p, 0); break;
      case TOR_OP_TANH: s = tor_run_sigmoid(image, arena, (const tor_sigmoid_params *)p, 1); break;
      case TOR_OP_QUANTIZE: s = tor_run_quantize(image, arena, (const tor_quantize_params *)p); break;
      case TOR_OP_DEQUANTIZE: s = tor_run_dequantize(image, arena, (const tor_dequantize_params *)p); break;
      case TOR_OP_PAD: s = tor_run_pad(image, arena, (const tor_pad_params *)p); break;
      case TOR_OP_CONCATENATION: s = tor_run_concat(image, arena, (const tor_concat_params *)p); break;
      default: s = TOR_ERR_OP; break;
    }
    if (s != TOR_OK) return s;
  }
  return TOR_OK;
}
