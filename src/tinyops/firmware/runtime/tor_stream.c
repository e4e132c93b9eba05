/* SEGMENT: a chain of CONV_2D / DEPTHWISE_CONV_2D / ADD members run band by band.
 * The last member's output rows are produced in order; a member's row pulls the rows of
 * its inputs it needs from earlier members (recursively), which write them into their
 * windows. The kernels run on views: a band of input rows [lo, hi) with pad_h adjusted,
 * one output row. The compiler (tinyops/runtimes/tinyops_c/stream.py) mirrors this
 * schedule byte for byte to place the windows and to overlap the segment's output with
 * input rows already consumed. */
#include <string.h>

#include "tor_validate.h"

typedef struct {
  const uint8_t *image;
  uint8_t *arena;
  const tor_segment_params *sp;
  int32_t done[TOR_MAX_SEGMENT], base[TOR_MAX_SEGMENT];
  int32_t memo[TOR_MAX_SEGMENT]; /* per conv member: what tor_conv_view keeps between calls */
} seg_t;

typedef struct {
  uint32_t code, params_off, params_size, window_off, window_rows, step;
} member_t;

static member_t member_of(const tor_segment_params *p, int j) {
  const member_t m = {p->code[j], p->params_off[j], p->params_size[j], p->window_off[j], p->window_rows[j],
                      p->rows_per_call[j]};
  return m;
}
static member_t member(const seg_t *s, int j) { return member_of(s->sp, j); }
static const void *mparams(const uint8_t *image, member_t m) { return image + m.params_off; }

/* Activation inputs of a member (1 or 2) and its output tensor. */
static int member_io(const uint8_t *image, member_t m, int32_t in[2], int32_t *out) {
  if (m.code == TOR_OP_ADD) {
    const tor_binary_params *p = (const tor_binary_params *)mparams(image, m);
    in[0] = p->input1;
    in[1] = p->input2;
    *out = p->output;
    return 2;
  }
  const tor_conv_params *p = (const tor_conv_params *)mparams(image, m);
  in[0] = p->input;
  *out = p->output;
  return 1;
}

/* Rows [lo, hi) of the member's inputs that its output row y reads. */
static void need(const uint8_t *image, member_t m, int32_t y, int32_t *lo, int32_t *hi) {
  if (m.code == TOR_OP_ADD) {
    *lo = y;
    *hi = y + 1;
    return;
  }
  const tor_conv_params *p = (const tor_conv_params *)mparams(image, m);
  const tor_tensor *t = tor_tensors(image);
  const int32_t top = y * p->stride_h - p->pad_h, kh = t[p->filter].dims[1], h = t[p->input].dims[1];
  const int32_t bottom = top + (kh - 1) * p->dilation_h + 1;
  *lo = top > 0 ? top : 0;
  *hi = bottom < h ? bottom : h;
}

/* Rows [lo, hi) the member's output rows [y, y + r) read. */
static void band(const uint8_t *image, member_t m, int32_t y, int32_t r, int32_t *lo, int32_t *hi) {
  int32_t l2;
  need(image, m, y + r - 1, &l2, hi);
  need(image, m, y, lo, &l2);
}

static int32_t row_bytes(const tor_tensor *t) { return t->dims[2] * t->dims[3]; }

/* The member (index < j) that writes tensor i, or -1 (a tensor of the arena or image). */
static int source(const seg_t *s, int j, int32_t i) {
  for (int k = 0; k < j; k++) {
    int32_t in[2], out;
    member_io(s->image, member(s, k), in, &out);
    if (out == i) return k;
  }
  return -1;
}

/* Row y of tensor i as member j (its writer, or -1) holds it. */
static int8_t *row_ptr(const seg_t *s, int j, int32_t i, int32_t y) {
  const tor_tensor *t = &tor_tensors(s->image)[i];
  if (j < 0 || s->sp->window_rows[j] == 0) return (int8_t *)tor_data(s->image, s->arena, i) + y * row_bytes(t);
  return (int8_t *)(s->arena + s->sp->window_off[j]) + (y - s->base[j]) * row_bytes(t);
}

/* Room for rows [y, y + r) in member j's window: drop the rows no later member still needs. */
static tor_status make_room(seg_t *s, int j, int32_t i, int32_t y, int32_t r) {
  const member_t m = member(s, j);
  if (m.window_rows == 0 || y + r - s->base[j] <= (int32_t)m.window_rows) return TOR_OK;
  int32_t keep = y;
  for (int c = j + 1; c < s->sp->n_members; c++) {
    int32_t in[2] = {-1, -1}, out, lo, hi;
    const int n = member_io(s->image, member(s, c), in, &out);
    if (s->done[c] >= tor_tensors(s->image)[out].dims[1] || !(in[0] == i || (n == 2 && in[1] == i))) continue;
    need(s->image, member(s, c), s->done[c], &lo, &hi);
    keep = lo < keep ? lo : keep;
  }
  if (keep < s->base[j]) return TOR_ERR_BOUNDS;
  const int32_t rb = row_bytes(&tor_tensors(s->image)[i]);
  uint8_t *w = s->arena + m.window_off;
  memmove(w, w + (keep - s->base[j]) * rb, (size_t)(y - keep) * (size_t)rb);
  s->base[j] = keep;
  return y + r - keep <= (int32_t)m.window_rows ? TOR_OK : TOR_ERR_BOUNDS;
}

/* Member j's output rows [y, y + r) from its input band (out of line: the recursion in produce
 * keeps a small stack frame per member). */
static __attribute__((noinline)) void run_row(seg_t *s, int j, int32_t y, int32_t r, const int32_t in[2],
                                              const int32_t src[2], int32_t out) {
  const member_t m = member(s, j);
  const tor_tensor *t = tor_tensors(s->image);
  int8_t *o = row_ptr(s, j, out, y);
  if (m.code == TOR_OP_ADD) {
    tor_add_same(s->image, (const tor_binary_params *)mparams(s->image, m), row_ptr(s, src[0], in[0], y),
                 row_ptr(s, src[1], in[1], y), o, r * row_bytes(&t[out]));
    return;
  }
  int32_t lo, hi;
  band(s->image, m, y, r, &lo, &hi);
  const tor_conv_params *p = (const tor_conv_params *)mparams(s->image, m);
  tor_conv_params bp = *p;
  bp.pad_h = p->pad_h + lo - y * p->stride_h;
  tor_tensor ti = t[in[0]], to = t[out];
  ti.dims[1] = hi - lo;
  to.dims[1] = r;
  /* a 1x1 kernel with pad_h > 0 changes kernel path between bands: no memo */
  const int same_path = t[p->filter].dims[1] > 1 || t[p->filter].dims[2] > 1 || p->pad_h == 0;
  tor_conv_view(s->image, s->arena, &bp, m.code == TOR_OP_DEPTHWISE_CONV_2D, &ti,
                row_ptr(s, src[0], in[0], lo), &to, o, same_path ? &s->memo[j] : 0);
}

static tor_status produce(seg_t *s, int j, int32_t y) {
  const member_t m = member(s, j);
  int32_t in[2] = {-1, -1}, out, lo, hi, src[2] = {-1, -1};
  const int n = member_io(s->image, m, in, &out);
  const int32_t left = tor_tensors(s->image)[out].dims[1] - y;
  const int32_t r = (int32_t)m.step < left ? (int32_t)m.step : left;
  band(s->image, m, y, r, &lo, &hi);
  for (int k = 0; k < n; k++) {
    src[k] = source(s, j, in[k]);
    if (src[k] < 0) continue;
    while (s->done[src[k]] < hi) {
      const tor_status st = produce(s, src[k], s->done[src[k]]);
      if (st != TOR_OK) return st;
    }
  }
  for (int k = 0; k < n; k++)
    if (src[k] >= 0 && lo < s->base[src[k]]) return TOR_ERR_BOUNDS;
  const tor_status st = make_room(s, j, out, y, r);
  if (st != TOR_OK) return st;
  run_row(s, j, y, r, in, src, out);
  s->done[j] = y + r;
  return TOR_OK;
}

tor_status tor_run_segment(const uint8_t *image, uint8_t *arena, const tor_segment_params *p) {
  seg_t s;
  s.image = image;
  s.arena = arena;
  s.sp = p;
  for (int j = 0; j < TOR_MAX_SEGMENT; j++) s.done[j] = s.base[j] = 0, s.memo[j] = -1;
  const int last = p->n_members - 1;
  int32_t in[2], out;
  member_io(image, member_of(p, last), in, &out);
  for (int32_t y = 0; y < tor_tensors(image)[out].dims[1]; y = s.done[last]) {
    const tor_status st = produce(&s, last, y);
    if (st != TOR_OK) return st;
  }
  return TOR_OK;
}

/* ---- validation ---- */

static int apart(uint32_t a, uint32_t na, uint32_t b, uint32_t nb) {
  return (uint64_t)a + na <= b || (uint64_t)b + nb <= a;
}

static int rows_ok(const tor_tensor *t) { return t->dims[0] == 1 && row_bytes(t) % 4 == 0; }

/* Member j: its shapes can be run one output row at a time. */
static tor_status member_shapes(const seg_t *s, int j) {
  const member_t m = member(s, j);
  const tor_tensor *t = tor_tensors(s->image);
  int32_t in[2], out;
  const int n = member_io(s->image, m, in, &out);
  CHECK(rows_ok(&t[out]) && rows_ok(&t[in[0]]), TOR_ERR_SHAPE);
  if (n == 2) {
    for (int d = 0; d < 4; d++)
      CHECK(t[in[0]].dims[d] == t[out].dims[d] && t[in[1]].dims[d] == t[out].dims[d], TOR_ERR_SHAPE);
    return TOR_OK;
  }
  const tor_conv_params *p = (const tor_conv_params *)mparams(s->image, m);
  const int32_t kh = t[p->filter].dims[1];
  /* every output row reads at least one input row */
  CHECK((int64_t)p->pad_h <= (int64_t)(kh - 1) * p->dilation_h &&
            (int64_t)(t[out].dims[1] - 1) * p->stride_h - p->pad_h <= t[in[0]].dims[1] - 1,
        TOR_ERR_SHAPE);
  return TOR_OK;
}

/* Arena bytes [off, off + n) a member touches besides the windows: its scratch, its
 * arena inputs and output. k: 0 scratch, 1.. the tensors. */
static int arena_range(const seg_t *s, int j, int k, uint32_t *off, uint32_t *n) {
  const member_t m = member(s, j);
  const tor_tensor *t = tor_tensors(s->image);
  int32_t in[2], out, idx = -1;
  const int ni = member_io(s->image, m, in, &out);
  if (k == 0 && m.code != TOR_OP_ADD) idx = ((const tor_conv_params *)mparams(s->image, m))->scratch;
  if (k >= 1 && k <= ni) idx = in[k - 1];
  if (k == ni + 1) idx = out;
  if (idx < 0 || t[idx].storage == TOR_IN_IMAGE || t[idx].storage == TOR_IN_WINDOW) return 0;
  *off = t[idx].offset;
  *n = t[idx].bytes;
  return 1;
}

tor_status tor_validate_segment(const uint8_t *image, const tor_segment_params *p) {
  const tor_header *h = tor_hdr(image);
  const tor_tensor *t = tor_tensors(image);
  CHECK(p->n_members >= 1 && p->n_members <= TOR_MAX_SEGMENT && tor_all_in(p->reserved, 3, 0, 0), TOR_ERR_SHAPE);
  seg_t s;
  s.image = image;
  s.arena = 0;
  s.sp = p;
  for (int j = 0; j < p->n_members; j++) {
    const member_t m = member_of(p, j);
    CHECK((m.code == TOR_OP_CONV_2D || m.code == TOR_OP_DEPTHWISE_CONV_2D || m.code == TOR_OP_ADD) && TOR_HAS(m.code),
          TOR_ERR_OP);
    CHECK((m.params_off & 3u) == 0 && m.params_off >= sizeof(tor_header) &&
              (uint64_t)m.params_off + m.params_size <= h->image_size,
          TOR_ERR_BOUNDS);
    const tor_op op = {m.code, m.params_off, m.params_size};
    tor_status st = tor_validate_member(image, &op);
    if (st != TOR_OK) return st;
    st = member_shapes(&s, j);
    if (st != TOR_OK) return st;
    int32_t in[2], out;
    const int n = member_io(image, m, in, &out);
    for (int k = 0; k < n; k++) /* a window tensor comes from an earlier member */
      CHECK(t[in[k]].storage != TOR_IN_WINDOW || source(&s, j, in[k]) >= 0, TOR_ERR_SHAPE);
    CHECK(source(&s, j, out) < 0 && t[out].storage != TOR_IN_STATE && m.step >= 1 &&
              (int32_t)m.step <= t[out].dims[1],
          TOR_ERR_SHAPE);
    if (j == p->n_members - 1) {
      CHECK(t[out].storage == TOR_IN_ARENA && m.window_off == 0 && m.window_rows == 0, TOR_ERR_SHAPE);
    } else {
      CHECK(t[out].storage == TOR_IN_WINDOW && m.window_rows >= 1 && (int32_t)m.window_rows <= t[out].dims[1] &&
                (m.window_off & 3u) == 0,
            TOR_ERR_SHAPE);
      const uint64_t bytes = (uint64_t)m.window_rows * (uint32_t)row_bytes(&t[out]);
      CHECK(bytes <= h->arena_bytes && m.window_off <= h->arena_bytes - bytes, TOR_ERR_BOUNDS);
    }
  }
  /* windows apart from each other, from every member's arena tensors and scratch; a
   * scratch apart from the arena tensors and the other scratches (a widened filter stays
   * there from one call to the next; the segment's output may overlap its inputs'
   * consumed rows: the compiler's plan orders those bytes) */
  for (int j = 0; j < p->n_members; j++) {
    const member_t m = member_of(p, j);
    int32_t in[2], out;
    member_io(image, m, in, &out);
    const uint32_t wn = m.window_rows * (uint32_t)row_bytes(&t[out]);
    for (int k = 0; k < p->n_members; k++) {
      const member_t o = member_of(p, k);
      member_io(image, o, in, &out);
      if (k != j && wn && o.window_rows)
        CHECK(apart(m.window_off, wn, o.window_off, o.window_rows * (uint32_t)row_bytes(&t[out])), TOR_ERR_BOUNDS);
      for (int r = 0; r < 4; r++) {
        uint32_t off, n, soff, sn;
        if (!arena_range(&s, k, r, &off, &n)) continue;
        if (wn) CHECK(apart(m.window_off, wn, off, n), TOR_ERR_BOUNDS);
        if ((r > 0 || k != j) && arena_range(&s, j, 0, &soff, &sn)) CHECK(apart(soff, sn, off, n), TOR_ERR_BOUNDS);
      }
    }
  }
  return TOR_OK;
}
