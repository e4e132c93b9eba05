/* Per-op validation: every tensor index, dtype, shape relation and parameter range a
 * kernel relies on is checked here, once, at load time. Kernels then index only inside
 * tensors whose bytes were checked against the image and arena. */
#include "tor_validate.h"

const tor_tensor *tor_vtensor(const ctx_t *c, int32_t i, uint32_t dtype, int writable) {
  if (i < 0 || (uint32_t)i >= c->h->n_tensors) return 0;
  const tor_tensor *t = &c->t[i];
  if (t->dtype != dtype) return 0;
  if (writable && t->storage == TOR_IN_IMAGE) return 0;
  if (t->storage == TOR_IN_WINDOW && !c->segment) return 0;
  return t;
}

int tor_disjoint(const ctx_t *c, int32_t a, int32_t b) {
  if (a < 0 || b < 0 || c->segment) return 1;
  const tor_tensor *x = &c->t[a], *y = &c->t[b];
  if (x->storage == TOR_IN_IMAGE || y->storage == TOR_IN_IMAGE) return 1;
  return (uint64_t)x->offset + x->bytes <= y->offset || (uint64_t)y->offset + y->bytes <= x->offset;
}

int tor_table_ok(const ctx_t *c, uint32_t off, int32_t count) {
  if (count < 1 || (off & 3u) || off < c->h->data_off) return 0;
  return (uint64_t)off + (uint64_t)count * 4u <= (uint64_t)c->h->data_off + c->h->data_size;
}

int tor_shifts_ok(const uint8_t *image, uint32_t off, int32_t count) {
  const int32_t *s = (const int32_t *)(const void *)(image + off);
  for (int32_t i = 0; i < count; i++)
    if (!shift_ok(s[i])) return 0;
  return 1;
}

int tor_all_in(const int32_t *v, int n, int32_t lo, int32_t hi) {
  for (int i = 0; i < n; i++)
    if (v[i] < lo || v[i] > hi) return 0;
  return 1;
}

int tor_offsets_act_ok(const int32_t *v, int n) { return tor_all_in(v, n, -256, 256) && act_ok(v[n], v[n + 1]); }

static tor_status conv(const uint8_t *image, const ctx_t *c, const tor_conv_params *p, int dw) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *f = tor_vtensor(c, p->filter, TOR_DT_INT8, 0);
  const tor_tensor *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && f && out, TOR_ERR_SHAPE);
  int32_t oc = out->dims[3];
  if (p->bias != -1) {
    const tor_tensor *b = tor_vtensor(c, p->bias, TOR_DT_INT32, 0);
    CHECK(b && tor_elems(b) == oc, TOR_ERR_SHAPE);
  }
  CHECK(in->dims[0] == out->dims[0], TOR_ERR_SHAPE);
  if (dw) {
    CHECK(f->dims[0] == 1 && f->dims[3] == oc && p->depth_multiplier >= 1 &&
              (int64_t)in->dims[3] * p->depth_multiplier == oc, TOR_ERR_SHAPE);
  } else {
    CHECK(f->dims[0] == oc && f->dims[3] == in->dims[3], TOR_ERR_SHAPE);
  }
  CHECK(tor_all_in(FIELDS(p, tor_conv_params, stride_w), 4, 1, TOR_MAX_DIM) && /* strides, dilations */
            tor_all_in(FIELDS(p, tor_conv_params, pad_w), 2, 0, TOR_MAX_DIM),
        TOR_ERR_SHAPE);
  CHECK(tor_offsets_act_ok(FIELDS(p, tor_conv_params, input_offset), 2), TOR_ERR_SHAPE);
  CHECK(tor_table_ok(c, p->multipliers_off, oc) && tor_table_ok(c, p->shifts_off, oc) &&
            tor_table_ok(c, p->bias_eff_off, oc),
        TOR_ERR_BOUNDS);
  CHECK(tor_shifts_ok(image, p->shifts_off, oc), TOR_ERR_SHAPE);
  if (p->pow2_off) { /* 2^(33 - e) for every channel's right shift e, 3 <= e <= 31 */
    CHECK(tor_table_ok(c, p->pow2_off, oc), TOR_ERR_BOUNDS);
    const int32_t *s = (const int32_t *)(const void *)(image + p->shifts_off);
    const int32_t *q = (const int32_t *)(const void *)(image + p->pow2_off);
    for (int32_t k = 0; k < oc; k++)
      CHECK(s[k] <= -3 && s[k] >= -31 && q[k] == (int32_t)1 << (33 + s[k]), TOR_ERR_SHAPE);
  }
  if (p->scratch != -1 && dw) { /* a constant row of the input zero point, one byte per channel */
    const tor_tensor *z = tor_vtensor(c, p->scratch, TOR_DT_INT8, 0);
    CHECK(z && z->storage == TOR_IN_IMAGE && p->depth_multiplier == 1 && tor_elems(z) == in->dims[3], TOR_ERR_SHAPE);
    for (int32_t k = 0; k < tor_elems(z); k++)
      CHECK((int8_t)image[z->offset + (uint32_t)k] == -p->input_offset, TOR_ERR_SHAPE);
  } else if (p->scratch != -1) {
    const tor_tensor *s = tor_vtensor(c, p->scratch, TOR_DT_INT8, 1);
    CHECK(s && (int64_t)f->dims[1] * f->dims[2] * f->dims[3] <= tor_elems(s), TOR_ERR_SHAPE);
    CHECK(tor_disjoint(c, p->scratch, p->input) && tor_disjoint(c, p->scratch, p->output) &&
              tor_disjoint(c, p->scratch, p->filter),
          TOR_ERR_BOUNDS);
  }
  CHECK(tor_disjoint(c, p->output, p->input) && tor_disjoint(c, p->output, p->filter) &&
            tor_disjoint(c, p->output, p->bias),
        TOR_ERR_BOUNDS);
  return TOR_OK;
}

/* rq_fast: filter offset 0, multipliers >= 0, shifts <= -2, depth * 2^14 + max |bias_eff| < 2^30. */
static int fc_fast_ok(const uint8_t *image, const tor_fc_params *p, int32_t units, int32_t depth) {
  const int32_t *m = (const int32_t *)(const void *)(image + p->multipliers_off);
  const int32_t *s = (const int32_t *)(const void *)(image + p->shifts_off);
  const int32_t *be = (const int32_t *)(const void *)(image + p->bias_eff_off);
  if (p->filter_offset != 0) return 0;
  for (int32_t k = 0; k < p->n_multipliers; k++)
    if (m[k] < 0 || s[k] > -2) return 0;
  for (int32_t u = 0; u < units; u++)
    if ((int64_t)depth * 16384 + (be[u] < 0 ? -(int64_t)be[u] : be[u]) >= ((int64_t)1 << 30)) return 0;
  return 1;
}

static tor_status fc(const uint8_t *image, const ctx_t *c, const tor_fc_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *f = tor_vtensor(c, p->filter, TOR_DT_INT8, 0);
  const tor_tensor *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && f && out && f->rank == 2, TOR_ERR_SHAPE);
  int32_t units = f->dims[2], depth = f->dims[3];
  CHECK(tor_elems(in) % depth == 0, TOR_ERR_SHAPE);
  CHECK((int64_t)(tor_elems(in) / depth) * units == tor_elems(out), TOR_ERR_SHAPE);
  if (p->bias != -1) {
    const tor_tensor *b = tor_vtensor(c, p->bias, TOR_DT_INT32, 0);
    CHECK(b && tor_elems(b) == units, TOR_ERR_SHAPE);
  }
  CHECK(p->n_multipliers == 1 || p->n_multipliers == units, TOR_ERR_SHAPE);
  CHECK(tor_offsets_act_ok(FIELDS(p, tor_fc_params, input_offset), 3), TOR_ERR_SHAPE);
  CHECK(tor_table_ok(c, p->multipliers_off, p->n_multipliers) && tor_table_ok(c, p->shifts_off, p->n_multipliers) &&
            tor_table_ok(c, p->bias_eff_off, units),
        TOR_ERR_BOUNDS);
  CHECK(tor_shifts_ok(image, p->shifts_off, p->n_multipliers), TOR_ERR_SHAPE);
  CHECK(p->layout == 0 || (p->layout == 1 && depth % 4 == 0 && p->scratch != -1), TOR_ERR_SHAPE);
  CHECK(p->rq_fast == 0 || (p->rq_fast == 1 && fc_fast_ok(image, p, units, depth)), TOR_ERR_SHAPE);
  if (p->scratch != -1) {
    const tor_tensor *s = tor_vtensor(c, p->scratch, TOR_DT_INT8, 1);
    CHECK(s && s->storage == TOR_IN_ARENA && (s->offset & 3u) == 0 && 2 * (int64_t)depth <= tor_elems(s),
          TOR_ERR_SHAPE);
    CHECK(tor_disjoint(c, p->scratch, p->input) && tor_disjoint(c, p->scratch, p->output), TOR_ERR_BOUNDS);
  }
  CHECK(tor_disjoint(c, p->output, p->input) && tor_disjoint(c, p->output, p->filter) &&
            tor_disjoint(c, p->output, p->bias),
        TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status pool(const ctx_t *c, const tor_pool_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && out && in->dims[0] == out->dims[0] && in->dims[3] == out->dims[3], TOR_ERR_SHAPE);
  CHECK(tor_all_in(FIELDS(p, tor_pool_params, stride_w), 4, 1, TOR_MAX_DIM) && /* strides, filter size */
            tor_all_in(FIELDS(p, tor_pool_params, pad_w), 2, 0, TOR_MAX_DIM),
        TOR_ERR_SHAPE);
  CHECK(act_ok(p->act_min, p->act_max), TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status mean(const ctx_t *c, const tor_mean_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && out && p->axis_mask >= 1 && p->axis_mask <= 15 && p->exact == 0, TOR_ERR_SHAPE);
  int32_t kept = 1; /* <= the input's elements, < 2^31 */
  for (int d = 0; d < 4; d++)
    if (!(p->axis_mask & (1 << d))) kept *= in->dims[d];
  CHECK(kept == tor_elems(out) && tor_all_in(FIELDS(p, tor_mean_params, input_zp), 2, -256, 256) &&
            shift_ok(p->shift), TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status same_size(const ctx_t *c, int32_t i, uint32_t in_dt, int32_t o, uint32_t out_dt);

static tor_status lut(const ctx_t *c, const tor_lut_params *p) {
  CHECK(tor_table_ok(c, p->table_off, 64), TOR_ERR_BOUNDS); /* int8[256] */
  return same_size(c, p->input, TOR_DT_INT8, p->output, TOR_DT_INT8);
}

static tor_status arg(const ctx_t *c, const tor_arg_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *out = tor_vtensor(c, p->output, TOR_DT_INT32, 1);
  CHECK(in && out && p->axis >= 0 && p->axis < 4, TOR_ERR_SHAPE);
  CHECK(tor_elems(out) == tor_elems(in) / in->dims[p->axis], TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status binary(const ctx_t *c, const tor_binary_params *p, uint32_t code) {
  const tor_tensor *a = tor_vtensor(c, p->input1, TOR_DT_INT8, 0), *b = tor_vtensor(c, p->input2, TOR_DT_INT8, 0);
  const tor_tensor *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(a && b && out, TOR_ERR_SHAPE);
  for (int d = 0; d < 4; d++) {
    CHECK(a->dims[d] == out->dims[d] || a->dims[d] == 1, TOR_ERR_SHAPE);
    CHECK(b->dims[d] == out->dims[d] || b->dims[d] == 1, TOR_ERR_SHAPE);
  }
  CHECK(tor_all_in(FIELDS(p, tor_binary_params, input1_offset), 3, -256, 256), TOR_ERR_SHAPE);
  CHECK(p->left_shift >= 0 && p->left_shift <= 22, TOR_ERR_SHAPE);
  CHECK(shift_ok(p->input1_shift) && shift_ok(p->input2_shift) && shift_ok(p->output_shift), TOR_ERR_SHAPE);
  CHECK(act_ok(p->act_min, p->act_max), TOR_ERR_SHAPE);
  /* DIV: output_shift <= 22 keeps its final shift a right shift (|x| <= 384 has 22 sign bits). */
  CHECK(code != TOR_OP_DIV || p->output_shift <= 22, TOR_ERR_SHAPE);
  CHECK(p->tables_off == 0 || (code == TOR_OP_ADD && tor_table_ok(c, p->tables_off, 512) &&
                               tor_elems(a) == tor_elems(out) && tor_elems(b) == tor_elems(out)),
        TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input1) && tor_disjoint(c, p->output, p->input2), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status same_size(const ctx_t *c, int32_t i, uint32_t in_dt, int32_t o, uint32_t out_dt) {
  const tor_tensor *in = tor_vtensor(c, i, in_dt, 0), *out = tor_vtensor(c, o, out_dt, 1);
  CHECK(in && out && tor_elems(in) == tor_elems(out), TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, o, i), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status pad(const ctx_t *c, const tor_pad_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && out && p->pad_value >= -128 && p->pad_value <= 127, TOR_ERR_SHAPE);
  CHECK(tor_all_in(FIELDS(p, tor_pad_params, before), 8, 0, TOR_MAX_DIM), TOR_ERR_SHAPE); /* before, after */
  for (int d = 0; d < 4; d++) CHECK((int64_t)in->dims[d] + p->before[d] + p->after[d] == out->dims[d], TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status concat(const ctx_t *c, const tor_concat_params *p) {
  const tor_tensor *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(out && p->axis >= 0 && p->axis < 4 && p->n_inputs >= 1 && p->n_inputs <= TOR_MAX_CONCAT, TOR_ERR_SHAPE);
  int64_t total = 0;
  for (int32_t k = 0; k < p->n_inputs; k++) {
    const tor_tensor *in = tor_vtensor(c, p->inputs[k], TOR_DT_INT8, 0);
    CHECK(in && tor_disjoint(c, p->output, p->inputs[k]), TOR_ERR_SHAPE);
    for (int d = 0; d < 4; d++) CHECK(d == p->axis || in->dims[d] == out->dims[d], TOR_ERR_SHAPE);
    total += in->dims[p->axis];
  }
  CHECK(total == out->dims[p->axis], TOR_ERR_SHAPE);
  return TOR_OK;
}

/* sizeof the params record of every op code (0: not an op; tor_validate_op_data says so). */
static const uint8_t kParamsSize[TOR_OP_COUNT] = {
    [TOR_OP_CONV_2D] = sizeof(tor_conv_params), [TOR_OP_DEPTHWISE_CONV_2D] = sizeof(tor_conv_params),
    [TOR_OP_FULLY_CONNECTED] = sizeof(tor_fc_params), [TOR_OP_AVERAGE_POOL_2D] = sizeof(tor_pool_params),
    [TOR_OP_MAX_POOL_2D] = sizeof(tor_pool_params), [TOR_OP_MEAN] = sizeof(tor_mean_params),
    [TOR_OP_SUM] = sizeof(tor_mean_params), [TOR_OP_REDUCE_MAX] = sizeof(tor_mean_params),
    [TOR_OP_ADD] = sizeof(tor_binary_params), [TOR_OP_MUL] = sizeof(tor_binary_params),
    [TOR_OP_SUB] = sizeof(tor_binary_params), [TOR_OP_PRELU] = sizeof(tor_binary_params),
    [TOR_OP_MAXIMUM] = sizeof(tor_binary_params), [TOR_OP_MINIMUM] = sizeof(tor_binary_params),
    [TOR_OP_SQUARED_DIFFERENCE] = sizeof(tor_binary_params), [TOR_OP_DIV] = sizeof(tor_binary_params),
    [TOR_OP_LUT] = sizeof(tor_lut_params), [TOR_OP_ARG_MAX] = sizeof(tor_arg_params),
    [TOR_OP_ARG_MIN] = sizeof(tor_arg_params), [TOR_OP_RESHAPE] = sizeof(tor_reshape_params),
    [TOR_OP_SOFTMAX] = sizeof(tor_softmax_params), [TOR_OP_LOGISTIC] = sizeof(tor_sigmoid_params),
    [TOR_OP_TANH] = sizeof(tor_sigmoid_params), [TOR_OP_QUANTIZE] = sizeof(tor_quantize_params),
    [TOR_OP_DEQUANTIZE] = sizeof(tor_dequantize_params), [TOR_OP_PAD] = sizeof(tor_pad_params),
    [TOR_OP_CONCATENATION] = sizeof(tor_concat_params), [TOR_OP_COPY] = sizeof(tor_copy_params),
    [TOR_OP_RESIZE_BILINEAR] = sizeof(tor_resize_params), [TOR_OP_TRANSPOSE_CONV] = sizeof(tor_tconv_params),
    [TOR_OP_SVDF] = sizeof(tor_svdf_params), [TOR_OP_SEGMENT] = sizeof(tor_segment_params),
};

tor_status tor_validate_member(const uint8_t *image, const tor_op *op) {
  ctx_t c = {tor_hdr(image), tor_tensors(image), 1};
  CHECK(op->params_size == kParamsSize[op->code], TOR_ERR_BOUNDS);
  if (op->code == TOR_OP_ADD) {
    PARAMS(tor_binary_params);
    return binary(&c, p, op->code);
  }
  PARAMS(tor_conv_params);
  return conv(image, &c, p, op->code == TOR_OP_DEPTHWISE_CONV_2D);
}

tor_status tor_validate_op(const uint8_t *image, const tor_op *op) {
  ctx_t c = {tor_hdr(image), tor_tensors(image), 0};
  if (op->code >= 64 || !TOR_HAS(op->code)) return TOR_ERR_OP; /* not in this build's op set (tor_opset.h) */
  if (op->code < TOR_OP_COUNT && kParamsSize[op->code] && op->params_size != kParamsSize[op->code])
    return TOR_ERR_BOUNDS;
  switch (op->code) {
    case TOR_OP_CONV_2D:
    case TOR_OP_DEPTHWISE_CONV_2D: {
      PARAMS(tor_conv_params);
      return conv(image, &c, p, op->code == TOR_OP_DEPTHWISE_CONV_2D);
    }
    case TOR_OP_FULLY_CONNECTED: { PARAMS(tor_fc_params); return fc(image, &c, p); }
    case TOR_OP_AVERAGE_POOL_2D:
    case TOR_OP_MAX_POOL_2D: { PARAMS(tor_pool_params); return pool(&c, p); }
    case TOR_OP_MEAN:
    case TOR_OP_SUM:
    case TOR_OP_REDUCE_MAX: { PARAMS(tor_mean_params); return mean(&c, p); }
    case TOR_OP_ADD:
    case TOR_OP_MUL:
    case TOR_OP_SUB:
    case TOR_OP_PRELU:
    case TOR_OP_MAXIMUM:
    case TOR_OP_MINIMUM:
    case TOR_OP_SQUARED_DIFFERENCE:
    case TOR_OP_DIV: { PARAMS(tor_binary_params); return binary(&c, p, op->code); }
    case TOR_OP_LUT: { PARAMS(tor_lut_params); return lut(&c, p); }
    case TOR_OP_ARG_MAX:
    case TOR_OP_ARG_MIN: { PARAMS(tor_arg_params); return arg(&c, p); }
    case TOR_OP_RESHAPE: {
      PARAMS(tor_reshape_params);
      /* any dtype: tor_validate checked every tensor's dtype before the ops */
      CHECK(p->input >= 0 && (uint32_t)p->input < c.h->n_tensors, TOR_ERR_SHAPE);
      const tor_tensor *in = &c.t[p->input];
      CHECK(in->storage != TOR_IN_WINDOW, TOR_ERR_SHAPE);
      const tor_tensor *out = tor_vtensor(&c, p->output, in->dtype, 1);
      CHECK(out && out->bytes == in->bytes, TOR_ERR_SHAPE);
      /* in place, or apart */
      CHECK(out->offset == in->offset || tor_disjoint(&c, p->output, p->input), TOR_ERR_BOUNDS);
      return TOR_OK;
    }
    case TOR_OP_SOFTMAX: {
      PARAMS(tor_softmax_params);
      CHECK(p->input_left_shift >= 0 && p->input_left_shift <= 31 && p->diff_min <= 0, TOR_ERR_SHAPE);
      return same_size(&c, p->input, TOR_DT_INT8, p->output, TOR_DT_INT8);
    }
    case TOR_OP_LOGISTIC:
    case TOR_OP_TANH: {
      PARAMS(tor_sigmoid_params);
      CHECK(shift_ok(p->input_left_shift) && small(p->input_zp) && p->input_range_radius >= 0, TOR_ERR_SHAPE);
      return same_size(&c, p->input, TOR_DT_INT8, p->output, TOR_DT_INT8);
    }
    case TOR_OP_QUANTIZE: {
      PARAMS(tor_quantize_params);
      CHECK(shift_ok(p->shift) && tor_all_in(FIELDS(p, tor_quantize_params, input_zp), 2, -256, 256), TOR_ERR_SHAPE);
      if (same_size(&c, p->input, TOR_DT_FLOAT32, p->output, TOR_DT_INT8) == TOR_OK) return TOR_OK;
      return same_size(&c, p->input, TOR_DT_INT8, p->output, TOR_DT_INT8);
    }
    case TOR_OP_DEQUANTIZE: {
      PARAMS(tor_dequantize_params);
      return same_size(&c, p->input, TOR_DT_INT8, p->output, TOR_DT_FLOAT32);
    }
    case TOR_OP_PAD: { PARAMS(tor_pad_params); return pad(&c, p); }
    case TOR_OP_CONCATENATION: { PARAMS(tor_concat_params); return concat(&c, p); }
    case TOR_OP_SEGMENT: { PARAMS(tor_segment_params); return tor_validate_segment(image, p); }
    default:
      return tor_validate_op_data(image, op);
  }
}
