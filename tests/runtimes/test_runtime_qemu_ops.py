"""The element-wise and reduction kernels built for Cortex-M4 (arm-none-eabi-gcc -Os)
give TFLite Micro's exact output under qemu-system-arm: every int8 value through a LUT
op, DIV (all dividends, divisors including the zero point), SUB, PRELU, SQUARED_DIFFERENCE
with a broadcast constant, SUM / REDUCE_MAX, and ARG_MAX's int32 indices."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tflite_ops import OpSpec, T, build, options

from tinyops.devices.qemu_bench import run_image
from tinyops.runtimes.tinyops_c import compile_image


def _q(s: float, z: int) -> dict:
    return {"scale": [s], "zero_point": [z]}


R = np.random.default_rng(7)
SWEEP = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
DIVISORS = R.integers(-128, 128, (16, 16), dtype=np.int8)
DIVISORS[::5, ::3] = 9  # the zero point: 0 divisors
ROW = R.integers(-128, 128, (1, 16), dtype=np.int8)


def _case(name: str) -> tuple[OpSpec, np.ndarray]:
    x = T((16, 16), **_q(0.0625, -3))
    if name == "hard_swish":
        return OpSpec("HARD_SWISH", [x], [T((16, 16), **_q(0.03, 5))]), SWEEP
    if name == "leaky_relu":
        return OpSpec("LEAKY_RELU", [x], [T((16, 16), **_q(0.05, -20))], options("LeakyReluOptions", alpha=0.2),
                      "LeakyReluOptions"), SWEEP
    if name == "div":
        return OpSpec("DIV", [x, T((16, 16), **_q(0.125, 9), data=DIVISORS)], [T((16, 16), **_q(0.02, 2))],
                      options("DivOptions"), "DivOptions", graph_inputs=[0]), SWEEP
    if name in ("sub", "squared_difference"):
        op = name.upper()
        opts = (options("SubOptions", fusedActivationFunction=1), "SubOptions") if op == "SUB" else (None, None)
        return OpSpec(op, [x, T((1, 16), **_q(0.1, 4), data=ROW)], [T((16, 16), **_q(0.3 if op == "SUB" else 1.5, -7))],
                      *opts, graph_inputs=[0]), SWEEP
    if name == "prelu":
        return OpSpec("PRELU", [x, T((16,), **_q(0.004, -10), data=ROW[0])], [T((16, 16), **_q(0.05, 1))],
                      graph_inputs=[0]), SWEEP
    op = {"sum": "SUM", "reduce_max": "REDUCE_MAX"}.get(name)
    if op:
        out = T((16,), **(_q(0.0625, -3) if op == "REDUCE_MAX" else _q(0.5, 11)))
        return OpSpec(op, [x, T((1,), "int32", data=np.array([0], np.int32))], [out],
                      options("ReducerOptions", keepDims=False), "ReducerOptions"), SWEEP
    return OpSpec("ARG_MAX", [x, T((1,), "int32", data=np.array([-1], np.int32))], [T((16,), "int32")],
                  options("ArgMaxOptions", outputType=2), "ArgMaxOptions"), (SWEEP % 5).astype(np.int8)


@pytest.mark.parametrize("name", ["hard_swish", "leaky_relu", "div", "sub", "squared_difference", "prelu", "sum",
                                  "reduce_max", "arg_max"])
def test_m4_elementwise_and_reduce_match_tflm(oracle, name: str) -> None:
    spec, x = _case(name)
    model = build(spec)
    want = oracle.run(model, [x], 1)[0]
    run = run_image(compile_image(model).image, x.tobytes())
    assert run.status == 0
    got = np.frombuffer(run.output, want.dtype).reshape(want.shape)
    np.testing.assert_array_equal(got, want)
