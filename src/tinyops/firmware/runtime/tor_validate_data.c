/* Load-time checks for COPY, RESIZE_BILINEAR, TRANSPOSE_CONV and SVDF: every offset a
 * kernel computes from the parameters stays inside its tensor. */
#include "tor_validate.h"

static tor_status copy(const uint8_t *image, const ctx_t *c, const tor_copy_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && out && (p->contiguous == 0 || p->contiguous == 1), TOR_ERR_SHAPE);
  int64_t n = 0, hi = 0, last = p->out_base;
  CHECK(p->out_base >= 0, TOR_ERR_BOUNDS);
  CHECK(tor_all_in(p->dims, 4, 1, 1 << 24) && tor_all_in(p->out_strides, 4, 0, 1 << 24), TOR_ERR_SHAPE);
  for (int d = 0; d < 4; d++) {
    n += (d == 3 && p->contiguous) ? 1 : p->dims[d];
    last += (int64_t)(p->dims[d] - 1) * p->out_strides[d];
  }
  CHECK(last < tor_elems(out), TOR_ERR_BOUNDS);
  CHECK(p->contiguous == 0 || p->out_strides[3] == 1, TOR_ERR_SHAPE);
  CHECK(n <= 0x7fffffff && tor_table_ok(c, p->tables_off, (int32_t)n), TOR_ERR_BOUNDS);
  const int32_t *t = (const int32_t *)(const void *)(image + p->tables_off);
  for (int d = 0; d < 4; d++) {
    const int32_t len = (d == 3 && p->contiguous) ? 1 : p->dims[d];
    int32_t mn = t[0], mx = t[0];
    for (int32_t i = 1; i < len; i++) {
      mn = t[i] < mn ? t[i] : mn;
      mx = t[i] > mx ? t[i] : mx;
    }
    if (d == 3 && p->contiguous) mx += p->dims[3] - 1;
    CHECK(mn >= 0, TOR_ERR_BOUNDS); /* so every partial sum in the kernel stays in range */
    hi += mx;
    t += len;
  }
  CHECK(hi < tor_elems(in), TOR_ERR_BOUNDS);
  CHECK(tor_disjoint(c, p->output, p->input), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status resize(const ctx_t *c, const tor_resize_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && out && in->dims[0] == out->dims[0] && in->dims[3] == out->dims[3], TOR_ERR_SHAPE);
  CHECK((p->align_corners == 0 || p->align_corners == 1) && (p->half_pixel_centers == 0 || p->half_pixel_centers == 1) &&
            !(p->align_corners && p->half_pixel_centers),
        TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status tconv(const uint8_t *image, const ctx_t *c, const tor_tconv_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0), *f = tor_vtensor(c, p->filter, TOR_DT_INT8, 0);
  const tor_tensor *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && f && out, TOR_ERR_SHAPE);
  const int32_t oc = out->dims[3];
  CHECK(in->dims[0] == out->dims[0] && f->dims[0] == oc && f->dims[3] == in->dims[3], TOR_ERR_SHAPE);
  CHECK(tor_all_in(FIELDS(p, tor_tconv_params, stride_w), 2, 1, TOR_MAX_DIM) &&
            tor_all_in(FIELDS(p, tor_tconv_params, pad_w), 2, 0, TOR_MAX_DIM),
        TOR_ERR_SHAPE);
  CHECK(tor_offsets_act_ok(FIELDS(p, tor_tconv_params, input_offset), 2), TOR_ERR_SHAPE);
  const int64_t taps = (int64_t)oc * f->dims[1] * f->dims[2];
  CHECK(taps <= 0x7fffffff, TOR_ERR_SHAPE);
  CHECK(tor_table_ok(c, p->multipliers_off, oc) && tor_table_ok(c, p->shifts_off, oc) &&
            tor_table_ok(c, p->bias_off, oc) && tor_table_ok(c, p->tap_sums_off, (int32_t)taps),
        TOR_ERR_BOUNDS);
  CHECK(tor_shifts_ok(image, p->shifts_off, oc), TOR_ERR_SHAPE);
  CHECK(tor_disjoint(c, p->output, p->input) && tor_disjoint(c, p->output, p->filter), TOR_ERR_BOUNDS);
  return TOR_OK;
}

static tor_status svdf(const ctx_t *c, const tor_svdf_params *p) {
  const tor_tensor *in = tor_vtensor(c, p->input, TOR_DT_INT8, 0);
  const tor_tensor *wf = tor_vtensor(c, p->weights_feature, TOR_DT_INT8, 0);
  const tor_tensor *wt = tor_vtensor(c, p->weights_time, TOR_DT_INT8, 0);
  const tor_tensor *st = tor_vtensor(c, p->state, TOR_DT_INT8, 1);
  const tor_tensor *out = tor_vtensor(c, p->output, TOR_DT_INT8, 1);
  CHECK(in && wf && wt && st && out && in->rank == 2 && wf->rank == 2 && wt->rank == 2 && st->rank == 2,
        TOR_ERR_SHAPE);
  CHECK(st->storage == TOR_IN_STATE && out->storage == TOR_IN_ARENA, TOR_ERR_SHAPE);
  const int32_t batches = in->dims[2], n_filter = wf->dims[2], n_memory = wt->dims[3];
  CHECK(wf->dims[3] == in->dims[3] && wt->dims[2] == n_filter && p->rank >= 1 && n_filter % p->rank == 0, TOR_ERR_SHAPE);
  CHECK(st->dims[2] == batches && (int64_t)st->dims[3] == (int64_t)n_filter * n_memory, TOR_ERR_SHAPE);
  CHECK(out->dims[2] == batches && out->dims[3] == n_filter / p->rank, TOR_ERR_SHAPE);
  CHECK(small(p->input_zp) && p->state_zp >= -128 && p->state_zp <= 127 && small(p->output_zp), TOR_ERR_SHAPE);
  CHECK(shift_ok(p->shift1) && shift_ok(p->shift2), TOR_ERR_SHAPE);
  CHECK(tor_table_ok(c, p->bias_off, out->dims[3]), TOR_ERR_BOUNDS);
  CHECK(tor_disjoint(c, p->output, p->input) && tor_disjoint(c, p->output, p->state) &&
            tor_disjoint(c, p->state, p->input),
        TOR_ERR_BOUNDS);
  return TOR_OK;
}

tor_status tor_validate_op_data(const uint8_t *image, const tor_op *op) {
  ctx_t c = {tor_hdr(image), tor_tensors(image), 0};
  switch (op->code) {
    case TOR_OP_COPY: { PARAMS(tor_copy_params); return copy(image, &c, p); }
    case TOR_OP_RESIZE_BILINEAR: { PARAMS(tor_resize_params); return resize(&c, p); }
    case TOR_OP_TRANSPOSE_CONV: { PARAMS(tor_tconv_params); return tconv(image, &c, p); }
    case TOR_OP_SVDF: { PARAMS(tor_svdf_params); return svdf(&c, p); }
    default:
      return TOR_ERR_OP;
  }
}
