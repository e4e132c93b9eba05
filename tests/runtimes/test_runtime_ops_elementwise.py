"""The element-wise and reduction ops added after the first 19 (RELU, RELU6, LEAKY_RELU,
HARD_SWISH, EXP (against LiteRT: TFLM has no int8 EXP), SUB, PRELU, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, DIV, SUM, REDUCE_MAX,
ARG_MAX, ARG_MIN), with random shapes, broadcasting and quantization, give exactly
TFLite Micro's output (hypothesis; single-op models built per example)."""

from __future__ import annotations

import numpy as np
from fixtures_tflite_ops import OpSpec, T, build, options
from hypothesis import given
from hypothesis import strategies as st
from test_runtime_ops import ACTS, EXAMPLES, _act_q, _int8, _rng, check

from tinyops.runtimes.tinyops_c.native import NativeRuntime


# Round scales make exact rounding ties, where a multiplier computed in float instead of
# double (TFLM computes them in double) changes results.
NICE = [0.125, 0.25, 0.0625, 0.5, 0.02, 0.03, 0.1, 0.011]
SCALES = st.one_of(st.sampled_from(NICE), st.floats(0.001, 0.3))


def _nice_q(rng: np.random.Generator) -> tuple[list[float], list[int]]:
    if rng.random() < 0.5:
        return [float(rng.choice(NICE))], [int(rng.integers(-128, 128))]
    return _act_q(rng)


def _q(scale: float, zp: int) -> dict:
    return {"scale": [float(np.float32(scale))], "zero_point": [zp]}


def _sweep_or_random(rng: np.random.Generator, n: int) -> np.ndarray:
    """Every int8 value when n >= 256 (the whole table), else random bytes."""
    return (np.resize(np.arange(-128, 128, dtype=np.int8), n) if n >= 256 else _int8(rng, (n,))).reshape(1, n)


@EXAMPLES
@given(st.sampled_from(["RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH"]), st.integers(1, 300),
       SCALES, st.one_of(st.sampled_from([0.16, 0.5, 0.8, 2.0]), st.floats(0.05, 3.0)),
       st.one_of(st.sampled_from([0.1, 0.2, 0.3]), st.floats(-1.5, 1.5)), st.integers(0, 2**31))
def test_unary(oracle, op, n, scale, ratio, alpha, seed) -> None:
    rng = _rng(seed)
    xz, yz = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    out_scale = scale * ratio
    if op == "RELU6":  # the converter gives RELU6 its input's quantization; TFLM ignores the output's
        out_scale, yz = scale, xz
    opts = (options("LeakyReluOptions", alpha=alpha), "LeakyReluOptions") if op == "LEAKY_RELU" else (None, None)
    spec = OpSpec(op, [T((1, n), **_q(scale, xz))], [T((1, n), **_q(out_scale, yz))], *opts)
    check(oracle, spec, [_sweep_or_random(rng, n)])


def _broadcast_pair(data: st.DataObject, out_shape: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    mask = data.draw(st.lists(st.booleans(), min_size=len(out_shape), max_size=len(out_shape)))
    a = tuple(1 if m else d for m, d in zip(mask, out_shape))
    b = tuple(out_shape)
    return (a, b) if data.draw(st.booleans()) else (b, a)


@EXAMPLES
@given(st.sampled_from(["SUB", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "DIV"]),
       st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data(), st.sampled_from(list(ACTS)),
       st.integers(0, 2**31))
def test_binary(oracle, op, out_shape, data, act, seed) -> None:
    rng = _rng(seed)
    a_shape, b_shape = _broadcast_pair(data, out_shape)
    (as_, az), (bs, bz) = _nice_q(rng), _nice_q(rng)
    if op in ("MAXIMUM", "MINIMUM"):  # the converter shares one quantization; TFLM compares raw values
        bs, bz = as_, az
    spread = {"SUB": 1.0, "MAXIMUM": 1.0, "MINIMUM": 1.0, "SQUARED_DIFFERENCE": max(as_[0], bs[0]) * 128,
              "DIV": 128 / bs[0]}[op]
    ratio = float(rng.choice([0.16, 0.5, 0.8, 2.0])) if rng.random() < 0.5 else rng.uniform(0.3, 3.0)
    ys = [float(np.float32(as_[0] * spread * ratio / 2))] if op != "SUB" else \
        [float(np.float32(max(as_[0], bs[0]) * ratio))]
    yz = [int(rng.integers(-128, 128))]
    if op in ("MAXIMUM", "MINIMUM"):
        ys, yz = as_, az
    opt = {"SUB": "SubOptions", "DIV": "DivOptions"}.get(op)
    opts = (options(opt, fusedActivationFunction=ACTS[act]), opt) if opt else (None, None)
    spec = OpSpec(op, [T(a_shape, scale=as_, zero_point=az), T(b_shape, scale=bs, zero_point=bz)],
                  [T(tuple(out_shape), scale=ys, zero_point=yz)], *opts)
    check(oracle, spec, [_int8(rng, a_shape), _int8(rng, b_shape)])


@EXAMPLES
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.sampled_from(["c", "1,1,c", "h,w,c"]),
       st.integers(0, 2**31))
def test_prelu(oracle, h, w, c, alpha_shape, seed) -> None:
    rng = _rng(seed)
    shape = {"c": (c,), "1,1,c": (1, 1, c), "h,w,c": (h, w, c)}[alpha_shape]
    xs, xz = _nice_q(rng)
    alpha = T(shape, **_q(rng.uniform(0.001, 0.01), int(rng.integers(-128, 128))), data=_int8(rng, shape))
    spec = OpSpec("PRELU", [T((1, h, w, c), scale=xs, zero_point=xz), alpha],
                  [T((1, h, w, c), **_q(xs[0] * rng.uniform(0.3, 3.0), int(rng.integers(-128, 128))))],
                  graph_inputs=[0])
    check(oracle, spec, [_int8(rng, (1, h, w, c))])


@EXAMPLES
@given(st.sampled_from(["SUM", "REDUCE_MAX"]), st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data(),
       st.booleans(), st.integers(0, 2**31))
def test_reduce(oracle, op, shape, data, keep_dims, seed) -> None:
    rng = _rng(seed)
    rank = len(shape)
    axes = sorted(data.draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
    out_shape = [1 if i in axes else d for i, d in enumerate(shape)] if keep_dims else \
        [d for i, d in enumerate(shape) if i not in axes]
    xs, xz = _nice_q(rng)
    n = int(np.prod([shape[a] for a in axes]))
    ys, yz = (xs, xz) if op == "REDUCE_MAX" else ([float(np.float32(xs[0] * np.sqrt(n) * rng.uniform(0.5, 3)))],
                                                   [int(rng.integers(-128, 128))])
    axis_values = [a - rank if data.draw(st.booleans()) else a for a in axes]  # negative axes too
    spec = OpSpec(op, [T(tuple(shape), scale=xs, zero_point=xz),
                       T((len(axes),), "int32", data=np.array(axis_values, np.int32))],
                  [T(tuple(out_shape) or (1,), scale=ys, zero_point=yz)],
                  options("ReducerOptions", keepDims=keep_dims), "ReducerOptions")
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(st.sampled_from(["ARG_MAX", "ARG_MIN"]), st.lists(st.integers(1, 7), min_size=1, max_size=4), st.data(),
       st.booleans(), st.integers(0, 2**31))
def test_arg_min_max(oracle, op, shape, data, few_values, seed) -> None:
    rng = _rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    out_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape)) or (1,)
    xs, xz = _act_q(rng)
    opt = "ArgMaxOptions" if op == "ARG_MAX" else "ArgMinOptions"
    spec = OpSpec(op, [T(tuple(shape), scale=xs, zero_point=xz), T((1,), "int32", data=np.array([axis], np.int32))],
                  [T(out_shape, "int32")], options(opt, outputType=2), opt)
    x = _int8(rng, tuple(shape))
    if few_values:  # ties: the first index wins, as in TFLM
        x = (x % 3).astype(np.int8)
    check(oracle, spec, [x])


@EXAMPLES
@given(SCALES, SCALES, st.one_of(st.sampled_from([0.02, 0.16, 0.5]), st.floats(0.02, 3.0)), st.sampled_from(list(ACTS)),
       st.integers(0, 2**31))
def test_div_every_dividend(oracle, as_, bs, ratio, act, seed) -> None:
    """All 256 dividends against random divisors (some equal to the zero point: 0 / 0)."""
    rng = _rng(seed)
    a_q, b_q = _q(as_, int(rng.integers(-128, 128))), _q(bs, int(rng.integers(-128, 128)))
    ys = as_ / bs * 128 * ratio / 128
    spec = OpSpec("DIV", [T((16, 16), **a_q), T((16, 16), **b_q)],
                  [T((16, 16), **_q(ys, int(rng.integers(-128, 128))))],
                  options("DivOptions", fusedActivationFunction=ACTS[act]), "DivOptions")
    b = _int8(rng, (16, 16))
    b[rng.random((16, 16)) < 0.1] = b_q["zero_point"][0]
    check(oracle, spec, [np.arange(-128, 128, dtype=np.int8).reshape(16, 16), b])


@EXAMPLES
@given(SCALES, st.floats(0.002, 0.5), st.integers(0, 2**31))
def test_exp_matches_litert(scale, out_scale, seed) -> None:
    """int8 EXP: TFLM runs float EXP only, so the reference is LiteRT's int8 kernel
    (a table built in float32), on every input value."""
    from tinyops.runtimes import open_runtime

    rng = _rng(seed)
    spec = OpSpec("EXP", [T((1, 256), **_q(scale, int(rng.integers(-128, 128))))],
                  [T((1, 256), **_q(out_scale, int(rng.integers(-128, 128))))])
    model, x = build(spec), np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    with open_runtime("litert", model) as ref:
        want = ref.run(x)
    np.testing.assert_array_equal(NativeRuntime(model).run_all([x])[0], want)
