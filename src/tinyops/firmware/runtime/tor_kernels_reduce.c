/* Reductions: MEAN, SUM, REDUCE_MAX over any set of the 4 canonical dims, and ARG_MAX /
 * ARG_MIN along one, matching TFLM's int8 reference kernels bit for bit. */
#include "tor_internal.h"
#include "tor_fixedpoint.h"

tor_status tor_run_reduce(const uint8_t *image, uint8_t *arena, const tor_mean_params *p, uint32_t code) {
  const tor_tensor *ti = &tor_tensors(image)[p->input];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  int32_t lim[4], red[4], n_red = 1;
  for (int d = 0; d < 4; d++) {
    int r = (p->axis_mask >> d) & 1;
    lim[d] = r ? 1 : ti->dims[d];
    red[d] = r ? ti->dims[d] : 1;
    n_red *= red[d];
  }
  int32_t mult = p->multiplier, shift = p->shift;
  if (code == TOR_OP_MEAN) { /* TFLM folds 1/n into the multiplier (QuantizedMeanOrSum) */
    int s = 31 - tor_clz32((uint32_t)n_red); /* 63 - clz64(n) */
    s = s < 31 + shift ? s : 31 + shift;
    mult = (int32_t)(((int64_t)mult * ((int64_t)1 << s)) / n_red);
    shift = shift - s;
  }
  int64_t o = 0;
  for (int32_t a = 0; a < lim[0]; a++)
    for (int32_t b = 0; b < lim[1]; b++)
      for (int32_t c = 0; c < lim[2]; c++)
        for (int32_t d = 0; d < lim[3]; d++) {
          int32_t sum = 0, max = -128;
          for (int32_t i = 0; i < red[0]; i++)
            for (int32_t j = 0; j < red[1]; j++)
              for (int32_t k = 0; k < red[2]; k++)
                for (int32_t l = 0; l < red[3]; l++) {
                  int64_t idx = (((int64_t)(a + i) * ti->dims[1] + (b + j)) * ti->dims[2] + (c + k)) * ti->dims[3] + d + l;
                  sum += in[idx];
                  max = in[idx] > max ? in[idx] : max;
                }
          const int32_t v = code == TOR_OP_REDUCE_MAX ? max
                                                      : tor_mbqm(sum - p->input_zp * n_red, mult, shift) + p->output_zp;
          out[o++] = (int8_t)tor_clamp(v, -128, 127);
        }
  return TOR_OK;
}

tor_status tor_run_arg(const uint8_t *image, uint8_t *arena, const tor_arg_params *p, int is_min) {
  const tor_tensor *ti = &tor_tensors(image)[p->input];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int32_t *out = (int32_t *)(void *)tor_data(image, arena, p->output);
  int32_t outer = 1, inner = 1;
  for (int d = 0; d < p->axis; d++) outer *= ti->dims[d];
  for (int d = p->axis + 1; d < 4; d++) inner *= ti->dims[d];
  const int32_t n = ti->dims[p->axis];
  for (int32_t o = 0; o < outer; o++)
    for (int32_t k = 0; k < inner; k++) {
      const int8_t *x = in + (int64_t)o * n * inner + k;
      int32_t best = x[0], at = 0;
      for (int32_t i = 1; i < n; i++) {
        const int32_t v = x[(int64_t)i * inner];
        if (is_min ? v < best : v > best) {
          best = v;
          at = i;
        }
      }
      out[(int64_t)o * inner + k] = at;
    }
  return TOR_OK;
}
