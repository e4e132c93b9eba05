"""The data-movement ops tinyops-c lowers to its COPY kernel (STRIDED_SLICE, SLICE, SPLIT,
SPLIT_V, TRANSPOSE, PACK, UNPACK, GATHER, RESIZE_NEAREST_NEIGHBOR, MIRROR_PAD) give exactly
TFLite Micro's output on random shapes, masks, axes and modes (hypothesis); TILE, which TFLM
lacks, gives LiteRT's."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tflite_ops import OpSpec, T, build, options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runtime_ops import _act_q, _int8, _rng, check

from tinyops.errors import ModelError
from tinyops.runtimes.tinyops_c import compile_image
from tinyops.runtimes.tinyops_c.native import NativeRuntime

EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4)


def _i32(values) -> T:
    v = np.asarray(values, np.int32).reshape(-1)
    return T((len(v),), "int32", data=v)


@EXAMPLES
@given(shapes, st.data(), st.integers(0, 2**31))
def test_strided_slice(oracle, shape, data, seed) -> None:
    rng = _rng(seed)
    rank = len(shape)
    begin = [data.draw(st.integers(-d - 1, d + 1)) for d in shape]
    end = [data.draw(st.integers(-d - 1, d + 1)) for d in shape]
    strides = [data.draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in shape]
    masks = [data.draw(st.integers(0, 2**rank - 1)) for _ in range(3)]
    # A shrunk axis with a negative stride writes nothing in TFLM (its output is undefined).
    strides = [abs(s) if masks[2] >> a & 1 else s for a, s in enumerate(strides)]
    out = []
    for a, d in enumerate(shape):  # TFLM's own output-size rule (StartForAxis/StopForAxis)
        s = strides[a]
        b = begin[a] + (d if begin[a] < 0 else 0)
        b = min(max(b, 0), d) if s > 0 else min(max(b, -1), d - 1)
        if masks[0] >> a & 1:
            b = 0 if s > 0 else d - 1
        if masks[2] >> a & 1:
            if b >= d:
                return
            continue
        e = end[a] + (d if end[a] < 0 else 0)
        e = min(max(e, 0), d) if s > 0 else min(max(e, -1), d - 1)
        if masks[1] >> a & 1:
            e = d if s > 0 else -1
        n = max(0, -(-(e - b) // s))
        if n == 0:
            return
        out.append(n)
    xs, xz = _act_q(rng)
    spec = OpSpec("STRIDED_SLICE", [T(tuple(shape), scale=xs, zero_point=xz), _i32(begin), _i32(end), _i32(strides)],
                  [T(tuple(out) or (1,), scale=xs, zero_point=xz)],
                  options("StridedSliceOptions", beginMask=masks[0], endMask=masks[1], shrinkAxisMask=masks[2]),
                  "StridedSliceOptions", graph_inputs=[0])
    if not out:
        spec.outputs[0].shape = ()
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(shapes, st.data(), st.integers(0, 2**31))
def test_slice(oracle, shape, data, seed) -> None:
    rng = _rng(seed)
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, *range(1, d - b + 1)])) for d, b in zip(shape, begin)]
    out = tuple(d - b if s == -1 else s for d, b, s in zip(shape, begin, size))
    xs, xz = _act_q(rng)
    spec = OpSpec("SLICE", [T(tuple(shape), scale=xs, zero_point=xz), _i32(begin), _i32(size)],
                  [T(out, scale=xs, zero_point=xz)], graph_inputs=[0])
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(shapes, st.booleans(), st.data(), st.integers(0, 2**31))
def test_split_and_split_v(oracle, shape, variable, data, seed) -> None:
    rng = _rng(seed)
    rank = len(shape)
    axis = data.draw(st.integers(-rank, rank - 1))
    a = axis % rank
    n = data.draw(st.integers(1, 3))
    if variable:
        sizes = [data.draw(st.integers(1, 3)) for _ in range(n)]
    else:
        sizes = [data.draw(st.integers(1, 3))] * n
    full = list(shape)
    full[a] = sum(sizes)
    xs, xz = _act_q(rng)
    outs = [T(tuple(s if i == a else d for i, d in enumerate(full)), scale=xs, zero_point=xz) for s in sizes]
    x = T(tuple(full), scale=xs, zero_point=xz)
    if variable:
        spec = OpSpec("SPLIT_V", [x, _i32(sizes), T((1,), "int32", data=np.array([axis], np.int32))], outs,
                      options("SplitVOptions", numSplits=n), "SplitVOptions", graph_inputs=[0])
    else:
        spec = OpSpec("SPLIT", [T((1,), "int32", data=np.array([axis], np.int32)), x], outs,
                      options("SplitOptions", numSplits=n), "SplitOptions", graph_inputs=[1])
    check(oracle, spec, [_int8(rng, tuple(full))])


@EXAMPLES
@given(shapes, st.randoms(use_true_random=False), st.integers(0, 2**31))
def test_transpose(oracle, shape, r, seed) -> None:
    rng = _rng(seed)
    perm = list(range(len(shape)))
    r.shuffle(perm)
    xs, xz = _act_q(rng)
    spec = OpSpec("TRANSPOSE", [T(tuple(shape), scale=xs, zero_point=xz), _i32(perm)],
                  [T(tuple(shape[p] for p in perm), scale=xs, zero_point=xz)], graph_inputs=[0])
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(1, 4), st.data(), st.integers(0, 2**31))
def test_pack_unpack(oracle, shape, n, data, seed) -> None:
    rng = _rng(seed)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    a = axis % (len(shape) + 1)
    packed = tuple(shape[:a]) + (n,) + tuple(shape[a:])
    xs, xz = _act_q(rng)
    spec = OpSpec("PACK", [T(tuple(shape), scale=xs, zero_point=xz) for _ in range(n)],
                  [T(packed, scale=xs, zero_point=xz)], options("PackOptions", valuesCount=n, axis=axis), "PackOptions")
    check(oracle, spec, [_int8(rng, tuple(shape)) for _ in range(n)])
    spec = OpSpec("UNPACK", [T(packed, scale=xs, zero_point=xz)], [T(tuple(shape), scale=xs, zero_point=xz)] * n,
                  options("UnpackOptions", num=n, axis=axis), "UnpackOptions")
    spec.outputs = [T(tuple(shape), scale=xs, zero_point=xz) for _ in range(n)]
    check(oracle, spec, [_int8(rng, packed)])


@EXAMPLES
@given(shapes, st.lists(st.integers(0, 100), min_size=1, max_size=6), st.booleans(), st.data(),
       st.integers(0, 2**31))
def test_gather(oracle, shape, raw, matrix, data, seed) -> None:
    rng = _rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = axis % len(shape)
    idx = np.array([v % shape[a] for v in raw], np.int32)
    if matrix and len(idx) % 2 == 0:
        idx = idx.reshape(2, -1)
    out = tuple(shape[:a]) + idx.shape + tuple(shape[a + 1:])
    if len(out) > 4:
        return
    xs, xz = _act_q(rng)
    spec = OpSpec("GATHER", [T(tuple(shape), scale=xs, zero_point=xz), T(idx.shape, "int32", data=idx)],
                  [T(out, scale=xs, zero_point=xz)], options("GatherOptions", axis=axis), "GatherOptions",
                  graph_inputs=[0])
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(st.integers(1, 2), st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(1, 15),
       st.integers(1, 15), st.booleans(), st.booleans(), st.integers(0, 2**31))
def test_resize_nearest_neighbor(oracle, n, h, w, c, oh, ow, align, half, seed) -> None:
    rng = _rng(seed)
    xs, xz = _act_q(rng)
    spec = OpSpec("RESIZE_NEAREST_NEIGHBOR", [T((n, h, w, c), scale=xs, zero_point=xz), _i32([oh, ow])],
                  [T((n, oh, ow, c), scale=xs, zero_point=xz)],
                  options("ResizeNearestNeighborOptions", alignCorners=align, halfPixelCenters=half),
                  "ResizeNearestNeighborOptions", graph_inputs=[0])
    check(oracle, spec, [_int8(rng, (n, h, w, c))])


@EXAMPLES
@given(shapes, st.sampled_from([0, 1]), st.data(), st.integers(0, 2**31))
def test_mirror_pad(oracle, shape, mode, data, seed) -> None:
    rng = _rng(seed)
    limit = [d - (1 if mode == 0 else 0) for d in shape]
    pads = np.array([[data.draw(st.integers(0, m)), data.draw(st.integers(0, m))] for m in limit], np.int32)
    xs, xz = _act_q(rng)
    out = tuple(int(d + p[0] + p[1]) for d, p in zip(shape, pads))
    spec = OpSpec("MIRROR_PAD", [T(tuple(shape), scale=xs, zero_point=xz), T(pads.shape, "int32", data=pads)],
                  [T(out, scale=xs, zero_point=xz)], options("MirrorPadOptions", mode=mode), "MirrorPadOptions",
                  graph_inputs=[0])
    check(oracle, spec, [_int8(rng, tuple(shape))])


def test_copy_tables_stay_small() -> None:
    """A contiguous slice is one memcpy per row: the inner table holds one entry, not one per byte."""
    xs, xz = [0.1], [0]
    spec = OpSpec("SLICE", [T((1, 8, 8, 64), scale=xs, zero_point=xz), _i32([0, 2, 0, 0]), _i32([1, 4, 8, 64])],
                  [T((1, 4, 8, 64), scale=xs, zero_point=xz)], graph_inputs=[0])
    img = compile_image(build(spec))
    assert img.image_bytes < 600  # 2048 output bytes from one run of 4*8*64 consecutive inputs


def test_gather_with_runtime_indices_is_rejected_clearly() -> None:
    xs, xz = [0.1], [0]
    spec = OpSpec("GATHER", [T((5, 3), scale=xs, zero_point=xz), T((2,), "int32")], [T((2, 3), scale=xs, zero_point=xz)],
                  options("GatherOptions", axis=0), "GatherOptions")
    with pytest.raises(ModelError, match="indices must be a constant"):
        compile_image(build(spec))


@EXAMPLES
@given(shapes, st.data(), st.integers(0, 2**31))
def test_tile_matches_litert(shape, data, seed) -> None:
    """TILE (Keras UpSampling2D's nearest mode converts to it) has no TFLM kernel: LiteRT is the reference."""
    from tinyops.runtimes import open_runtime

    rng = _rng(seed)
    mult = [data.draw(st.integers(1, 3)) for _ in shape]
    xs, xz = _act_q(rng)
    spec = OpSpec("TILE", [T(tuple(shape), scale=xs, zero_point=xz), _i32(mult)],
                  [T(tuple(d * m for d, m in zip(shape, mult)), scale=xs, zero_point=xz)], graph_inputs=[0])
    model, x = build(spec), _int8(rng, tuple(shape))
    with open_runtime("litert", model, xnnpack=False) as ref:
        want = ref.run(x)
    np.testing.assert_array_equal(NativeRuntime(model).run_all([x])[0], want)
