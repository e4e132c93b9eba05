"""RESIZE_BILINEAR, TRANSPOSE_CONV and SVDF in tinyops-c give exactly TFLite Micro's output on
random shapes, strides, paddings, modes and quantization (hypothesis)."""

from __future__ import annotations

import numpy as np
from fixtures_tflite_ops import OpSpec, T, build, options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runtime_ops import ACTS, _act_q, _int8, _rng, check

from tinyops.runtimes.tinyops_c.native import NativeRuntime

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@EXAMPLES
@given(st.integers(1, 2), st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(1, 16),
       st.integers(1, 16), st.sampled_from([(False, False), (True, False), (False, True)]), st.integers(0, 2**31))
def test_resize_bilinear(oracle, n, h, w, c, oh, ow, mode, seed) -> None:
    rng = _rng(seed)
    xs, xz = _act_q(rng)
    x = _int8(rng, (n, h, w, c))
    if seed % 3 == 0:
        x[...] = 127 if seed % 2 else -128  # extreme values: the rounding and the int8 cast at the ends
    spec = OpSpec("RESIZE_BILINEAR", [T((n, h, w, c), scale=xs, zero_point=xz),
                                      T((2,), "int32", data=np.array([oh, ow], np.int32))],
                  [T((n, oh, ow, c), scale=xs, zero_point=xz)],
                  options("ResizeBilinearOptions", alignCorners=mode[0], halfPixelCenters=mode[1]),
                  "ResizeBilinearOptions", graph_inputs=[0])
    check(oracle, spec, [x])


def _tconv_out(padding: str, n: int, k: int, s: int) -> int:
    return n * s if padding == "SAME" else (n - 1) * s + k


@EXAMPLES
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4),
       st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.sampled_from(["SAME", "VALID"]),
       st.sampled_from(list(ACTS)), st.booleans(), st.integers(0, 2), st.integers(0, 2**31))
def test_transpose_conv(oracle, h, w, c, oc, kh, kw, sh, sw, padding, act, with_bias, extra, seed) -> None:
    rng = _rng(seed)
    oh, ow = _tconv_out(padding, h, kh, sh), _tconv_out(padding, w, kw, sw)
    if padding == "VALID":  # TF lets VALID outputs be up to stride-1 larger than the minimum
        oh, ow = oh + min(extra, sh - 1), ow + min(extra, sw - 1)
    xs, xz = _act_q(rng)
    wscale = [float(np.float32(v)) for v in rng.uniform(0.002, 0.05, size=oc)]
    ys = [float(np.float32(xs[0] * np.mean(wscale) * np.sqrt(kh * kw * c) * rng.uniform(10, 100)))]
    wt = T((oc, kh, kw, c), scale=wscale, zero_point=[0] * oc, data=_int8(rng, (oc, kh, kw, c)))
    bias = T((oc,), "int32", [float(np.float32(xs[0] * s)) for s in wscale], [0] * oc,
             rng.integers(-3000, 3000, size=oc).astype(np.int32)) if with_bias else None
    ins = [T((4,), "int32", data=np.array([1, oh, ow, oc], np.int32)), wt, T((1, h, w, c), scale=xs, zero_point=xz)]
    spec = OpSpec("TRANSPOSE_CONV", ins + ([bias] if bias else []),
                  [T((1, oh, ow, oc), scale=ys, zero_point=[int(rng.integers(-128, 128))])],
                  options("TransposeConvOptions", padding=0 if padding == "SAME" else 1, strideW=sw, strideH=sh,
                          fusedActivationFunction=ACTS[act]), "TransposeConvOptions", graph_inputs=[2])
    check(oracle, spec, [_int8(rng, (1, h, w, c))])


@EXAMPLES
@given(st.integers(1, 2), st.integers(1, 10), st.integers(1, 4), st.integers(1, 2), st.integers(1, 5),
       st.integers(0, 2**31))
def test_svdf_over_several_invokes(oracle, batches, n_input, units, rank, memory, seed) -> None:
    """The activation state carries over between invokes exactly as in TFLM (four steps)."""
    rng = _rng(seed)
    n_filter = units * rank
    (xs, xz), (ss, sz) = _act_q(rng), _act_q(rng, 0.01, 0.1)
    wfs, wts = [float(np.float32(rng.uniform(0.002, 0.05)))], [float(np.float32(rng.uniform(0.002, 0.05)))]
    ys = [float(np.float32(ss[0] * wts[0] * np.sqrt(memory * rank) * rng.uniform(10, 100)))]
    bias = T((units,), "int32", [float(np.float32(ss[0] * wts[0]))], [0],
             rng.integers(-2000, 2000, size=units).astype(np.int32))
    spec = OpSpec("SVDF", [T((batches, n_input), scale=xs, zero_point=xz),
                           T((n_filter, n_input), scale=wfs, zero_point=[0], data=_int8(rng, (n_filter, n_input))),
                           T((n_filter, memory), scale=wts, zero_point=[0], data=_int8(rng, (n_filter, memory))),
                           bias, T((batches, n_filter * memory), scale=ss, zero_point=sz, variable=True)],
                  [T((batches, units), scale=ys, zero_point=[int(rng.integers(-128, 128))])],
                  options("SVDFOptions", rank=rank), "SVDFOptions", graph_inputs=[0])
    model = build(spec)
    steps = [[_int8(rng, (batches, n_input))] for _ in range(4)]
    want = oracle.run_steps(model, steps)
    ours = NativeRuntime(model)
    for k, (x, w) in enumerate(zip(steps, want)):
        np.testing.assert_array_equal(ours.run_all(x)[0], w[0], err_msg=f"SVDF differs from TFLM at step {k}")
