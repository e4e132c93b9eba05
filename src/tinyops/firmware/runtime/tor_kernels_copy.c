/* COPY: the one data-movement kernel. The compiler lowers STRIDED_SLICE, SLICE, SPLIT,
 * SPLIT_V, TRANSPOSE, PACK, UNPACK, GATHER with constant indices, RESIZE_NEAREST_NEIGHBOR
 * and MIRROR_PAD to per-dimension tables of input offsets (validated at load time), so
 * this loop is all the runtime needs for them. */
#include <string.h>

#include "tor_internal.h"

tor_status tor_run_copy(const uint8_t *image, uint8_t *arena, const tor_copy_params *p) {
  const int8_t *in = (const int8_t *)tor_data(image, arena, p->input);
  int8_t *out = (int8_t *)tor_data(image, arena, p->output);
  const int32_t *t0 = (const int32_t *)(const void *)(image + p->tables_off);
  const int32_t *t1 = t0 + p->dims[0], *t2 = t1 + p->dims[1], *t3 = t2 + p->dims[2];
  const int32_t *d = p->dims, *s = p->out_strides;
  for (int32_t i0 = 0; i0 < d[0]; i0++)
    for (int32_t i1 = 0; i1 < d[1]; i1++)
      for (int32_t i2 = 0; i2 < d[2]; i2++) {
        const int8_t *src = in + t0[i0] + t1[i1] + t2[i2];
        int8_t *dst = out + p->out_base + i0 * s[0] + i1 * s[1] + i2 * s[2];
        if (p->contiguous) {
          memcpy(dst, src + t3[0], (size_t)d[3]);
        } else {
          for (int32_t i3 = 0; i3 < d[3]; i3++) dst[i3 * s[3]] = src[t3[i3]];
        }
      }
  return TOR_OK;
}
