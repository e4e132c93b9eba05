"""Every tinyops-c op, with random shapes, strides, paddings, dilations and quantization,
gives exactly TFLite Micro's output (hypothesis; single-op models built per example)."""

from __future__ import annotations

import numpy as np
from fixtures_tflite_ops import OpSpec, T, TflmOracle, build, options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyops.runtimes.tinyops_c.native import NativeRuntime
from paths import FIRMWARE

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
ACTS = {"NONE": 0, "RELU": 1, "RELU6": 3}


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _act_q(rng: np.random.Generator, lo: float = 0.005, hi: float = 0.2) -> tuple[list[float], list[int]]:
    return [float(np.float32(rng.uniform(lo, hi)))], [int(rng.integers(-128, 128))]


def _int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def check(oracle: TflmOracle, spec: OpSpec, inputs: list[np.ndarray]) -> None:
    model = build(spec)
    want = oracle.run(model, inputs, len(spec.outputs))
    got = NativeRuntime(model).run_all(inputs)
    for w, g in zip(want, got):
        assert w.dtype == g.dtype and w.shape == g.shape
        np.testing.assert_array_equal(g, w, err_msg=f"{spec.op} differs from TFLM")


def _out_size(padding: str, n: int, k: int, stride: int, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return (n + stride - 1) // stride if padding == "SAME" else (n - eff) // stride + 1


conv_cases = st.fixed_dictionaries({
    "h": st.integers(1, 10), "w": st.integers(1, 10), "c": st.integers(1, 6), "oc": st.integers(1, 6),
    "kh": st.integers(1, 4), "kw": st.integers(1, 4), "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "dh": st.integers(1, 2), "dw": st.integers(1, 2), "padding": st.sampled_from(["SAME", "VALID"]),
    "act": st.sampled_from(list(ACTS)), "bias": st.booleans(), "mult": st.integers(1, 3),
    "seed": st.integers(0, 2**31),
})


def _conv_spec(p: dict, depthwise: bool) -> tuple[OpSpec, list[np.ndarray]] | None:
    rng = _rng(p["seed"])
    oh = _out_size(p["padding"], p["h"], p["kh"], p["sh"], p["dh"])
    ow = _out_size(p["padding"], p["w"], p["kw"], p["sw"], p["dw"])
    if oh < 1 or ow < 1:
        return None
    c = p["c"]
    oc = c * p["mult"] if depthwise else p["oc"]
    xs, xz = _act_q(rng)
    wscale = [float(np.float32(v)) for v in rng.uniform(0.002, 0.05, size=oc)]
    wshape = (1, p["kh"], p["kw"], oc) if depthwise else (oc, p["kh"], p["kw"], c)
    w = T(wshape, scale=wscale, zero_point=[0] * oc, data=_int8(rng, wshape), quantized_dimension=3 if depthwise else 0)
    fan_in = p["kh"] * p["kw"] * (1 if depthwise else c)
    # "yk" scales the output scale (< 1: multipliers past rq4's fast path; > 1e5: shifts past -22)
    ys = [float(np.float32(xs[0] * np.mean(wscale) * np.sqrt(fan_in) * rng.uniform(20, 150) * p.get("yk", 1.0)))]
    yz = [int(rng.integers(-128, 128))]
    bias = None
    if p["bias"] or depthwise:  # TFLM depthwise dereferences the bias: always give one
        bscale = [float(np.float32(xs[0] * s)) for s in wscale]
        bias = T((oc,), "int32", bscale, [0] * oc, rng.integers(-3000, 3000, size=oc).astype(np.int32), 0)
    pad = 0 if p["padding"] == "SAME" else 1
    if depthwise:
        opts = options("DepthwiseConv2DOptions", padding=pad, strideW=p["sw"], strideH=p["sh"],
                       depthMultiplier=p["mult"], fusedActivationFunction=ACTS[p["act"]],
                       dilationWFactor=p["dw"], dilationHFactor=p["dh"])
    else:
        opts = options("Conv2DOptions", padding=pad, strideW=p["sw"], strideH=p["sh"],
                       fusedActivationFunction=ACTS[p["act"]], dilationWFactor=p["dw"], dilationHFactor=p["dh"])
    spec = OpSpec("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
                  [T((1, p["h"], p["w"], c), scale=xs, zero_point=xz), w, bias],
                  [T((1, oh, ow, oc), scale=ys, zero_point=yz)], opts,
                  "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions", graph_inputs=[0])
    return spec, [_int8(rng, (1, p["h"], p["w"], c))]


@EXAMPLES
@given(conv_cases)
def test_conv2d(oracle, p) -> None:
    made = _conv_spec(p, depthwise=False)
    if made:
        check(oracle, *made)


@EXAMPLES
@given(conv_cases)
def test_depthwise_conv2d(oracle, p) -> None:
    made = _conv_spec(p, depthwise=True)
    if made:
        check(oracle, *made)


@EXAMPLES
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 12), st.sampled_from(list(ACTS)), st.booleans(),
       st.integers(0, 2**31))
def test_fully_connected(oracle, batches, depth, units, act, with_bias, seed) -> None:
    rng = _rng(seed)
    xs, xz = _act_q(rng)
    ws = float(np.float32(rng.uniform(0.002, 0.05)))
    ys = [float(np.float32(xs[0] * ws * np.sqrt(depth) * rng.uniform(20, 150)))]
    bias = T((units,), "int32", [float(np.float32(xs[0] * ws))], [0],
             rng.integers(-3000, 3000, size=units).astype(np.int32)) if with_bias else None
    spec = OpSpec("FULLY_CONNECTED", [T((batches, depth), scale=xs, zero_point=xz),
                                      T((units, depth), scale=[ws], zero_point=[0], data=_int8(rng, (units, depth))), bias],
                  [T((batches, units), scale=ys, zero_point=[int(rng.integers(-128, 128))])],
                  options("FullyConnectedOptions", fusedActivationFunction=ACTS[act]), "FullyConnectedOptions",
                  graph_inputs=[0])
    check(oracle, spec, [_int8(rng, (batches, depth))])


@EXAMPLES
@given(st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]), st.integers(1, 10), st.integers(1, 10),
       st.integers(1, 5), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from(["SAME", "VALID"]), st.sampled_from(list(ACTS)), st.integers(0, 2**31))
def test_pooling(oracle, op, h, w, c, fh, fw, sh, sw, padding, act, seed) -> None:
    rng = _rng(seed)
    oh, ow = _out_size(padding, h, fh, sh, 1), _out_size(padding, w, fw, sw, 1)
    if oh < 1 or ow < 1:
        return
    xs, xz = _act_q(rng)
    spec = OpSpec(op, [T((1, h, w, c), scale=xs, zero_point=xz)], [T((1, oh, ow, c), scale=xs, zero_point=xz)],
                  options("Pool2DOptions", padding=0 if padding == "SAME" else 1, strideW=sw, strideH=sh,
                          filterWidth=fw, filterHeight=fh, fusedActivationFunction=ACTS[act]), "Pool2DOptions")
    check(oracle, spec, [_int8(rng, (1, h, w, c))])


@EXAMPLES
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.data(), st.booleans(), st.booleans(),
       st.integers(0, 2**31))
def test_mean(oracle, shape, data, keep_dims, same_quant, seed) -> None:
    rng = _rng(seed)
    rank = len(shape)
    axes = sorted(data.draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
    out_shape = [1 if i in axes else d for i, d in enumerate(shape)] if keep_dims else \
        [d for i, d in enumerate(shape) if i not in axes]
    xs, xz = _act_q(rng)
    ys, yz = (xs, xz) if same_quant else _act_q(rng)
    spec = OpSpec("MEAN", [T(tuple(shape), scale=xs, zero_point=xz),
                           T((len(axes),), "int32", data=np.array(axes, np.int32))],
                  [T(tuple(out_shape) or (1,), scale=ys, zero_point=yz)],
                  options("ReducerOptions", keepDims=keep_dims), "ReducerOptions")
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(st.sampled_from(["ADD", "MUL"]), st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data(),
       st.sampled_from(list(ACTS)), st.integers(0, 2**31))
def test_add_mul(oracle, op, out_shape, data, act, seed) -> None:
    rng = _rng(seed)
    def operand() -> tuple[int, ...]:
        mask = data.draw(st.lists(st.booleans(), min_size=len(out_shape), max_size=len(out_shape)))
        return tuple(1 if m else d for m, d in zip(mask, out_shape))
    a_shape, b_shape = operand(), tuple(out_shape)
    if data.draw(st.booleans()):
        a_shape, b_shape = b_shape, a_shape
    (as_, az), (bs, bz) = _act_q(rng), _act_q(rng)
    ys = [float(np.float32(rng.uniform(0.01, 0.3) * (as_[0] * bs[0] * 128 if op == "MUL" else 1)))]
    opt = ("AddOptions" if op == "ADD" else "MulOptions")
    spec = OpSpec(op, [T(a_shape, scale=as_, zero_point=az), T(b_shape, scale=bs, zero_point=bz)],
                  [T(tuple(out_shape), scale=ys, zero_point=[int(rng.integers(-128, 128))])],
                  options(opt, fusedActivationFunction=ACTS[act]), opt)
    check(oracle, spec, [_int8(rng, a_shape), _int8(rng, b_shape)])


@EXAMPLES
@given(st.integers(1, 3), st.integers(1, 30), st.floats(0.002, 0.5), st.sampled_from([1.0, 0.5, 2.0]),
       st.integers(0, 2**31))
def test_softmax(oracle, rows, depth, scale, beta, seed) -> None:
    rng = _rng(seed)
    xs = [float(np.float32(scale))]
    spec = OpSpec("SOFTMAX", [T((rows, depth), scale=xs, zero_point=[int(rng.integers(-128, 128))])],
                  [T((rows, depth), scale=[1 / 256], zero_point=[-128])], options("SoftmaxOptions", beta=beta),
                  "SoftmaxOptions")
    check(oracle, spec, [_int8(rng, (rows, depth))])


@EXAMPLES
@given(st.sampled_from(["LOGISTIC", "TANH"]), st.integers(1, 300), st.floats(0.001, 0.3), st.integers(0, 2**31))
def test_logistic_tanh(oracle, op, n, scale, seed) -> None:
    rng = _rng(seed)
    out = ([1 / 256], [-128]) if op == "LOGISTIC" else ([1 / 128], [0])
    spec = OpSpec(op, [T((1, n), scale=[float(np.float32(scale))], zero_point=[int(rng.integers(-128, 128))])],
                  [T((1, n), scale=out[0], zero_point=out[1])])
    x = np.resize(np.arange(-128, 128, dtype=np.int8), n) if n >= 256 else _int8(rng, (1, n))  # full sweep
    check(oracle, spec, [x.reshape(1, n)])


@EXAMPLES
@given(st.booleans(), st.integers(1, 50), st.integers(0, 2**31))
def test_quantize_dequantize(oracle, from_float, n, seed) -> None:
    rng = _rng(seed)
    (xs, xz), (ys, yz) = _act_q(rng), _act_q(rng)
    if from_float:
        x = (rng.normal(0, 1, size=(1, n)) * 128 * ys[0]).astype(np.float32)
        check(oracle, OpSpec("QUANTIZE", [T((1, n), "float32")], [T((1, n), scale=ys, zero_point=yz)]), [x])
    else:
        check(oracle, OpSpec("QUANTIZE", [T((1, n), scale=xs, zero_point=xz)], [T((1, n), scale=ys, zero_point=yz)]),
              [_int8(rng, (1, n))])
    check(oracle, OpSpec("DEQUANTIZE", [T((1, n), scale=xs, zero_point=xz)], [T((1, n), "float32")]),
          [_int8(rng, (1, n))])


@EXAMPLES
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data(), st.booleans(), st.integers(0, 2**31))
def test_pad(oracle, shape, data, v2, seed) -> None:
    rng = _rng(seed)
    pads = np.array([[data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))] for _ in shape], np.int32)
    xs, xz = _act_q(rng)
    out_shape = tuple(int(d + a + b) for d, (a, b) in zip(shape, pads))
    ins = [T(tuple(shape), scale=xs, zero_point=xz), T((len(shape), 2), "int32", data=pads)]
    if v2:
        ins.append(T((1,), scale=xs, zero_point=xz, data=np.array([rng.integers(-128, 128)], np.int8)))
    spec = OpSpec("PADV2" if v2 else "PAD", ins, [T(out_shape, scale=xs, zero_point=xz)], graph_inputs=[0])
    check(oracle, spec, [_int8(rng, tuple(shape))])


@EXAMPLES
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(2, 3), st.data(), st.integers(0, 2**31))
def test_concatenation(oracle, shape, n, data, seed) -> None:
    rng = _rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    ax = axis % len(shape)
    shapes = [tuple(data.draw(st.integers(1, 4)) if i == ax else d for i, d in enumerate(shape)) for _ in range(n)]
    out_shape = tuple(sum(s[ax] for s in shapes) if i == ax else d for i, d in enumerate(shape))
    xs, xz = _act_q(rng)
    spec = OpSpec("CONCATENATION", [T(s, scale=xs, zero_point=xz) for s in shapes],
                  [T(out_shape, scale=xs, zero_point=xz)], options("ConcatenationOptions", axis=axis),
                  "ConcatenationOptions")
    check(oracle, spec, [_int8(rng, s) for s in shapes])


def test_reshape_runs_in_place(oracle) -> None:
    rng = _rng(3)
    xs, xz = _act_q(rng)
    spec = OpSpec("RESHAPE", [T((1, 4, 6), scale=xs, zero_point=xz), T((2,), "int32", data=np.array([1, 24], np.int32))],
                  [T((1, 24), scale=xs, zero_point=xz)], options("ReshapeOptions", newShape=[1, 24]), "ReshapeOptions")
    check(oracle, spec, [_int8(rng, (1, 4, 6))])
    rt = NativeRuntime(build(spec))
    assert rt.compiled.arena_bytes == 32  # one 24-byte buffer shared by input and output


def test_fixed_point_shortcuts_equal_gemmlowp(tmp_path) -> None:
    """The runtime's cheaper SaturatingRoundingDoublingHighMul / RoundingDivideByPOT
    equal gemmlowp's formulas on edge cases and 50 million random operands."""
    import subprocess
    from pathlib import Path

    root = FIRMWARE
    exe = tmp_path / "check_fixedpoint"
    subprocess.run(["gcc", "-O2", "-std=c99", f"-I{root / 'runtime'}", str(root / "bench" / "check_fixedpoint.c"),
                    "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "mismatches=0" in proc.stdout, proc.stdout
