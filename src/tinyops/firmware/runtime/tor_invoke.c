/* Runs the op table in order. The image was fully validated by tor_load. A TOR_OPSET build
 * (tor_opset.h) links only its ops' kernels: tor_validate refused every other op. */
#include "tor_internal.h"

static int loaded(const tor_model *m) { return m && m->image && (m->flags & 1u); }

uint32_t tor_op_count(const tor_model *m) { return loaded(m) ? tor_hdr(m->image)->n_ops : 0; }

/* One case of the op switch: the kernel call when the build has the op (tor_opset.h);
 * without it the call folds away, so the kernel is not linked. P: the op's params. */
#define RUN(name, call) \
  case TOR_OP_##name:   \
    return TOR_HAS(TOR_OP_##name) ? (call) : TOR_ERR_OP
#define P(kind) ((const tor_##kind##_params *)p)

tor_status tor_invoke_op(tor_model *m, uint32_t i) {
  if (!loaded(m)) return TOR_ERR_NULL;
  const uint8_t *image = m->image;
  uint8_t *arena = m->arena;
  const tor_header *h = tor_hdr(image);
  if (i >= h->n_ops) return TOR_ERR_INDEX;
  const tor_op *op = (const tor_op *)(const void *)(image + h->ops_off) + i;
  const void *p = image + op->params_off;
  switch (op->code) {
    RUN(CONV_2D, tor_run_conv(image, arena, P(conv), 0));
    RUN(DEPTHWISE_CONV_2D, tor_run_conv(image, arena, P(conv), 1));
    RUN(FULLY_CONNECTED, tor_run_fc(image, arena, P(fc)));
    RUN(AVERAGE_POOL_2D, tor_run_pool(image, arena, P(pool), 0));
    RUN(MAX_POOL_2D, tor_run_pool(image, arena, P(pool), 1));
    RUN(MEAN, tor_run_reduce(image, arena, P(mean), op->code));
    RUN(SUM, tor_run_reduce(image, arena, P(mean), op->code));
    RUN(REDUCE_MAX, tor_run_reduce(image, arena, P(mean), op->code));
    RUN(ADD, tor_run_binary(image, arena, P(binary), 0));
    RUN(MUL, tor_run_binary(image, arena, P(binary), 1));
    RUN(RESHAPE, tor_run_reshape(image, arena, P(reshape)));
    RUN(SOFTMAX, tor_run_softmax(image, arena, P(softmax)));
    RUN(LOGISTIC, tor_run_sigmoid(image, arena, P(sigmoid), 0));
    RUN(TANH, tor_run_sigmoid(image, arena, P(sigmoid), 1));
    RUN(QUANTIZE, tor_run_quantize(image, arena, P(quantize)));
    RUN(DEQUANTIZE, tor_run_dequantize(image, arena, P(dequantize)));
    RUN(PAD, tor_run_pad(image, arena, P(pad)));
    RUN(CONCATENATION, tor_run_concat(image, arena, P(concat)));
    RUN(LUT, tor_run_lut(image, arena, P(lut)));
    RUN(SUB, tor_run_binary2(image, arena, P(binary), op->code));
    RUN(PRELU, tor_run_binary2(image, arena, P(binary), op->code));
    RUN(MAXIMUM, tor_run_binary2(image, arena, P(binary), op->code));
    RUN(MINIMUM, tor_run_binary2(image, arena, P(binary), op->code));
    RUN(SQUARED_DIFFERENCE, tor_run_binary2(image, arena, P(binary), op->code));
    RUN(DIV, tor_run_binary2(image, arena, P(binary), op->code));
    RUN(ARG_MAX, tor_run_arg(image, arena, P(arg), 0));
    RUN(ARG_MIN, tor_run_arg(image, arena, P(arg), 1));
    RUN(COPY, tor_run_copy(image, arena, P(copy)));
    RUN(RESIZE_BILINEAR, tor_run_resize_bilinear(image, arena, P(resize)));
    RUN(TRANSPOSE_CONV, tor_run_tconv(image, arena, P(tconv)));
    RUN(SVDF, tor_run_svdf(image, arena, P(svdf)));
    RUN(SEGMENT, tor_run_segment(image, arena, P(segment)));
    default: return TOR_ERR_OP;
  }
}
#undef RUN
#undef P

tor_status tor_invoke(tor_model *m) {
  if (!loaded(m)) return TOR_ERR_NULL;
  const uint32_t n = tor_op_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const tor_status s = tor_invoke_op(m, i);
    if (s != TOR_OK) return s;
  }
  return TOR_OK;
}
