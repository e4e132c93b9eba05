/* SVDF with int8 weights and int8 activation state, equal to TFLM's
 * EvalIntegerSvdfReference<int8_t>: shift the state one step left, write each filter's
 * feature projection (requantized, clamped, plus the state zero point, cast to int8 as
 * TFLM does) into the newest slot, then the time filter, the rank reduction, the bias
 * and the output requantization. The state is a TOR_IN_STATE tensor: it survives
 * between invokes. */
#include <string.h>

#include "tor_fixedpoint.h"
#include "tor_internal.h"

tor_status tor_run_svdf(const uint8_t *image, uint8_t *arena, const tor_svdf_params *p) {
  const tor_tensor *ti = &tor_tensors(image)[p->input], *tf = &tor_tensors(image)[p->weights_feature];
  const tor_tensor *tt = &tor_tensors(image)[p->weights_time];
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  const int8_t *wf = (const int8_t *)tor_data(image, arena, p->weights_feature);
  const int8_t *wt = (const int8_t *)tor_data(image, arena, p->weights_time);
  int8_t *state = (int8_t *)tor_data(image, arena, p->state);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *bias = (const int32_t *)(const void *)(image + p->bias_off);
  const int32_t batches = ti->dims[2], n_input = ti->dims[3], n_filter = tf->dims[2], n_memory = tt->dims[3];
  const int32_t n_unit = n_filter / p->rank;
  memmove(state, state + 1, (size_t)(batches * n_filter * n_memory - 1));
  for (int32_t b = 0; b < batches; b++) {
    const int8_t *x = in + b * n_input;
    int8_t *s = state + b * n_filter * n_memory;
    for (int32_t f = 0; f < n_filter; f++) {
      const int8_t *w = wf + f * n_input;
      int32_t dot = 0;
      for (int32_t c = 0; c < n_input; c++) dot += w[c] * (x[c] - p->input_zp);
      dot = tor_clamp(tor_mbqm(dot, p->multiplier1, p->shift1), -128, 127);
      s[f * n_memory + n_memory - 1] = (int8_t)(p->state_zp + dot);
    }
    for (int32_t u = 0; u < n_unit; u++) {
      int32_t acc = bias[u];
      for (int32_t r = 0; r < p->rank; r++) {
        const int32_t f = u * p->rank + r;
        int32_t sum = 0;
        for (int32_t j = 0; j < n_memory; j++) sum += wt[f * n_memory + j] * (s[f * n_memory + j] - p->state_zp);
        acc += sum;
      }
      const int32_t v = tor_mbqm(acc, p->multiplier2, p->shift2) + p->output_zp;
      out[b * n_unit + u] = (int8_t)tor_clamp(v, -128, 127);
    }
  }
  return TOR_OK;
}
