"""The Cortex-M4 asm inner loops (dot4, the 2-pixel tor_mat2x2 over widened columns and tor_mat2x2w/v
over widened filters: every loop entry (groups % 4), K tails (C = 3 first convs), odd pixel counts,
channel blocks of 32 and OC tails; strided and padded 1x1; depthwise 3x3/5x5 tap pairs over strides,
padding, dilation, narrow inputs and channel chunks, padded taps through the zero-point row, channel
tails) give TFLite Micro's exact output when run under
qemu-system-arm. The host build never takes these paths."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tflite_ops import build
from test_runtime_ops import _conv_spec, _out_size

from tinyops.devices.qemu_bench import run_image
from tinyops.runtimes.tinyops_c import compile_image

BASE = {"sh": 1, "sw": 1, "dh": 1, "dw": 1, "padding": "SAME", "act": "NONE", "bias": True, "mult": 1}
CASES = [  # (depthwise, shape overrides)
    (False, {"h": 3, "w": 3, "c": 4, "oc": 8, "kh": 1, "kw": 1, "seed": 1}),  # 1 word: single step only
    (False, {"h": 4, "w": 3, "c": 12, "oc": 5, "kh": 1, "kw": 1, "seed": 2}),  # 3 words + dot1 channel tail
    (False, {"h": 5, "w": 6, "c": 8, "oc": 6, "kh": 1, "kw": 1, "sh": 2, "sw": 3, "padding": "VALID", "seed": 8}),
    (False, {"h": 5, "w": 4, "c": 7, "oc": 8, "kh": 3, "kw": 3, "act": "RELU", "seed": 3}),  # clipped runs, byte tails
    (False, {"h": 6, "w": 6, "c": 16, "oc": 12, "kh": 3, "kw": 3, "padding": "VALID", "seed": 4}),  # 12 words/row
    (False, {"h": 5, "w": 3, "c": 8, "oc": 8, "kh": 1, "kw": 1, "act": "RELU", "seed": 11}),  # pixel pairs + odd one
    (False, {"h": 3, "w": 2, "c": 12, "oc": 20, "kh": 1, "kw": 1, "seed": 13}),  # 3 words, 16 + 4 channels
    (False, {"h": 2, "w": 2, "c": 28, "oc": 4, "kh": 1, "kw": 1, "seed": 14}),  # 7 words: 1 + 2 + 4
    (False, {"h": 5, "w": 5, "c": 4, "oc": 4, "kh": 3, "kw": 3, "seed": 12}),  # im2col pairs, odd words, padding
    (False, {"h": 9, "w": 9, "c": 3, "oc": 8, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "act": "RELU6", "seed": 15}),  # K=27
    (False, {"h": 7, "w": 5, "c": 1, "oc": 6, "kh": 4, "kw": 2, "sh": 2, "sw": 1, "seed": 16}),  # K=8, 4 + 2 channels
    (False, {"h": 5, "w": 7, "c": 5, "oc": 7, "kh": 1, "kw": 1, "sh": 2, "sw": 2, "padding": "VALID", "seed": 17}),
    (False, {"h": 3, "w": 3, "c": 16, "oc": 70, "kh": 1, "kw": 1, "seed": 18}),  # 4 groups; 32 + 32 + 4 + 2 channels
    (False, {"h": 3, "w": 1, "c": 2, "oc": 3, "kh": 1, "kw": 1, "act": "RELU", "seed": 19}),  # 1 group, OC tail only
    (False, {"h": 4, "w": 3, "c": 6, "oc": 36, "kh": 2, "kw": 3, "dh": 2, "dw": 1, "seed": 20}),  # dilated, K=36
    (False, {"h": 12, "w": 8, "c": 1, "oc": 8, "kh": 10, "kw": 4, "sh": 2, "sw": 1, "seed": 21}),  # K=40: widened
    (False, {"h": 4, "w": 4, "c": 41, "oc": 8, "kh": 1, "kw": 1, "seed": 22}),  # 11 groups widened
    (False, {"h": 4, "w": 3, "c": 12, "oc": 66, "kh": 1, "kw": 1, "seed": 23}),  # over the slack: not widened
    (False, {"h": 4, "w": 4, "c": 12, "oc": 34, "kh": 1, "kw": 1, "seed": 24}),  # widened 32, tail of 2
    (False, {"h": 8, "w": 7, "c": 3, "oc": 12, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "seed": 25}),  # K=27 padded, widened
    (False, {"h": 4, "w": 5, "c": 64, "oc": 7, "kh": 1, "kw": 1, "seed": 26}),  # 16 groups widened, tail of 3
    (False, {"h": 4, "w": 4, "c": 65, "oc": 4, "kh": 1, "kw": 1, "seed": 27}),  # 17 groups: looped, entry 3
    (False, {"h": 4, "w": 4, "c": 72, "oc": 4, "kh": 1, "kw": 1, "seed": 29}),  # 18 groups: entry 2
    (False, {"h": 4, "w": 4, "c": 5, "oc": 6, "kh": 3, "kw": 5, "seed": 30}),  # K=75, 19 groups: entry 1, OC tail
    (False, {"h": 4, "w": 4, "c": 80, "oc": 5, "kh": 1, "kw": 1, "seed": 31}),  # 20 groups: entry 0
    (False, {"h": 4, "w": 4, "c": 2, "oc": 12, "kh": 3, "kw": 3, "dh": 2, "dw": 2, "seed": 28}),  # dilated, K=18
    (False, {"h": 4, "w": 5, "c": 4, "oc": 140, "kh": 1, "kw": 1, "seed": 32}),  # widened in chunks of 96 rows
    (False, {"h": 4, "w": 4, "c": 8, "oc": 70, "kh": 1, "kw": 1, "sh": 1, "seed": 33}),  # chunks of 32, tail of 2
    (True, {"h": 6, "w": 5, "c": 12, "kh": 3, "kw": 3, "seed": 5}),  # undilated 3-wide asm rows
    (True, {"h": 11, "w": 9, "c": 8, "kh": 5, "kw": 3, "dh": 2, "dw": 2, "padding": "VALID", "seed": 6}),  # dilated
    (True, {"h": 5, "w": 6, "c": 6, "kh": 2, "kw": 3, "act": "RELU6", "seed": 7}),  # 4 channels + 2 tail
    (True, {"h": 4, "w": 5, "c": 5, "kh": 2, "kw": 2, "seed": 9}),  # padded taps -> zero-point row, 1-tap loop
    (True, {"h": 3, "w": 3, "c": 8, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "act": "RELU", "seed": 10}),  # all edges
]
# Depthwise tap pairs (3x3 and 5x5, depth multiplier 1): strides, padding, dilation, channel tails,
# widths 1-3, more channels than one stack stream holds (3x3: 16 groups, 5x5: 7); then the other paths.
DW_PAIRS = [
    {"h": 7, "w": 6, "c": 13, "kh": 3, "kw": 3, "seed": 21},
    {"h": 8, "w": 7, "c": 16, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "seed": 22},
    {"h": 9, "w": 8, "c": 8, "kh": 3, "kw": 3, "sh": 2, "sw": 1, "padding": "VALID", "seed": 23},
    {"h": 5, "w": 1, "c": 4, "kh": 3, "kw": 3, "seed": 24},
    {"h": 4, "w": 2, "c": 7, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "act": "RELU6", "seed": 25},
    {"h": 6, "w": 3, "c": 12, "kh": 3, "kw": 3, "padding": "VALID", "seed": 26},
    {"h": 9, "w": 9, "c": 8, "kh": 3, "kw": 3, "dh": 2, "dw": 3, "seed": 27},
    {"h": 4, "w": 3, "c": 136, "kh": 3, "kw": 3, "act": "RELU", "seed": 28},
    {"h": 7, "w": 7, "c": 9, "kh": 5, "kw": 5, "seed": 29},
    {"h": 9, "w": 8, "c": 60, "kh": 5, "kw": 5, "sh": 2, "sw": 2, "seed": 30},
    {"h": 6, "w": 6, "c": 4, "kh": 5, "kw": 5, "padding": "VALID", "act": "RELU", "seed": 31},
    {"h": 4, "w": 40, "c": 4, "kh": 3, "kw": 3, "seed": 34},  # runs of interior pixels longer than one call
    {"h": 4, "w": 7, "c": 64, "kh": 3, "kw": 3, "sw": 2, "seed": 35},
    {"h": 6, "w": 5, "c": 4, "kh": 3, "kw": 3, "mult": 2, "seed": 32},
    {"h": 5, "w": 2, "c": 3, "kh": 3, "kw": 3, "mult": 3, "sh": 2, "seed": 33},
    # runs of interior pixels per call with requantization in registers: two channel chunks
    # (3x3: 16 groups each, 5x5: 7), clamped and full ranges, C = 8 rows, rows of one pixel,
    # inputs of 1-2 rows (all taps of a row outside), multipliers past the fast path
    {"h": 6, "w": 9, "c": 108, "kh": 3, "kw": 3, "act": "RELU6", "seed": 36},
    {"h": 5, "w": 8, "c": 116, "kh": 3, "kw": 3, "padding": "VALID", "seed": 37},
    {"h": 8, "w": 12, "c": 52, "kh": 5, "kw": 5, "act": "RELU", "seed": 38},
    {"h": 9, "w": 13, "c": 58, "kh": 5, "kw": 5, "sw": 2, "dh": 2, "padding": "VALID", "seed": 39},
    {"h": 5, "w": 30, "c": 8, "kh": 3, "kw": 3, "act": "RELU6", "seed": 40},
    {"h": 1, "w": 9, "c": 8, "kh": 3, "kw": 3, "seed": 41},
    {"h": 2, "w": 6, "c": 12, "kh": 3, "kw": 3, "sh": 2, "act": "RELU", "seed": 42},
    {"h": 7, "w": 1, "c": 20, "kh": 5, "kw": 5, "seed": 43},
    {"h": 6, "w": 7, "c": 16, "kh": 3, "kw": 3, "yk": 0.01, "seed": 44},
    {"h": 6, "w": 7, "c": 13, "kh": 5, "kw": 5, "yk": 0.004, "act": "RELU6", "seed": 45},
    {"h": 5, "w": 6, "c": 8, "kh": 3, "kw": 3, "yk": 3e5, "seed": 46},  # shifts past -22: the generic path
    {"h": 5, "w": 6, "c": 8, "kh": 3, "kw": 3, "yk": 1e4, "seed": 47},  # shifts near -20: the asm path
]


def _fits(over: dict) -> dict:
    """A random VALID window larger than the input has no output: such a draw runs SAME instead."""
    p = {**BASE, **over}
    if min(_out_size(p["padding"], p["h"], p["kh"], p["sh"], p["dh"]),
           _out_size(p["padding"], p["w"], p["kw"], p["sw"], p["dw"])) < 1:
        over["padding"] = "SAME"
    return over


def _random_dw(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    k = int(rng.choice([3, 5]))
    over = {"h": int(rng.integers(1, 10)), "w": int(rng.integers(1, 10)), "c": int(rng.integers(4, 40)), "kh": k,
            "kw": k, "sh": int(rng.integers(1, 3)), "sw": int(rng.integers(1, 3)), "dh": int(rng.integers(1, 3)),
            "dw": int(rng.integers(1, 3)), "padding": str(rng.choice(["SAME", "VALID"])),
            "act": str(rng.choice(["NONE", "RELU", "RELU6"])), "seed": seed}
    return _fits(over)


CASES += [(True, c) for c in DW_PAIRS] + [(True, _random_dw(s)) for s in range(100, 110)]


@pytest.mark.parametrize("depthwise,over", CASES)
def test_m4_kernels_match_tflm(oracle, depthwise: bool, over: dict) -> None:
    spec, inputs = _conv_spec({**BASE, **over}, depthwise)
    model = build(spec)
    want = oracle.run(model, inputs, 1)[0]
    run = run_image(compile_image(model).image, inputs[0].tobytes())
    assert run.status == 0
    got = np.frombuffer(run.output, np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(100, 108))
def test_m4_conv_random_shapes_match_tflm(oracle, seed: int) -> None:
    """CONV_2D of random shapes: any C (K tails), OC, strides, dilations, padding, odd pixel counts."""
    rng = np.random.default_rng(seed)
    kh, kw = (int(v) for v in rng.choice([1, 1, 2, 3, 5], 2))
    over = {"h": int(rng.integers(kh, kh + 7)), "w": int(rng.integers(kw, kw + 7)), "c": int(rng.integers(1, 40)),
            "oc": int(rng.integers(1, 45)), "kh": kh, "kw": kw, "sh": int(rng.integers(1, 3)),
            "sw": int(rng.integers(1, 3)), "dh": int(rng.choice([1, 1, 2])), "dw": int(rng.choice([1, 1, 2])),
            "padding": str(rng.choice(["SAME", "VALID"])), "act": str(rng.choice(["NONE", "RELU", "RELU6"])),
            "bias": bool(rng.integers(0, 2)), "seed": seed}
    made = _conv_spec({**BASE, **_fits(over)}, False)
    model = build(made[0])
    want = oracle.run(model, made[1], 1)[0]
    run = run_image(compile_image(model).image, made[1][0].tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want, err_msg=str(over))


@pytest.mark.parametrize("seed", range(200, 208))
def test_m4_conv_small_filters_match_tflm(oracle, seed: int) -> None:
    """CONV_2D with at most 16 groups of 4 taps, whose rows the kernel widens once into the scratch
    (when they fit the arena's slack: few channels; at least 16 output pixels)."""
    rng = np.random.default_rng(seed)
    kh, kw = (int(v) for v in rng.choice([1, 1, 2, 3], 2))
    c = int(rng.integers(1, 64 // (kh * kw) + 1))
    over = {"h": int(rng.integers(kh + 4, kh + 10)), "w": int(rng.integers(kw + 4, kw + 10)), "c": c,
            "oc": int(rng.integers(1, 24)), "kh": kh, "kw": kw, "sh": int(rng.integers(1, 3)),
            "sw": int(rng.integers(1, 3)), "padding": str(rng.choice(["SAME", "VALID"])),
            "act": str(rng.choice(["NONE", "RELU", "RELU6"])), "bias": bool(rng.integers(0, 2)), "seed": seed}
    made = _conv_spec({**BASE, **_fits(over)}, False)
    model = build(made[0])
    want = oracle.run(model, made[1], 1)[0]
    run = run_image(compile_image(model).image, made[1][0].tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want, err_msg=str(over))


ADD_CASES = [(1, False, "NONE", (1, 5, 7, 8)), (2, True, "RELU", (1, 5, 7, 8)), (3, False, "RELU6", (1, 5, 7, 8)),
             (4, False, "RELU", (1, 3, 5, 3)), (5, False, "NONE", (2, 3)), (6, True, "RELU6", (1, 7, 1, 9)),
             (7, False, "NONE", (1, 4, 4, 16)), (8, False, "RELU", (1, 1, 1, 3))]  # tails: 45, 6, 63 and 3 elements


@pytest.mark.parametrize("seed,same_scale,act,shape", ADD_CASES)
def test_m4_same_shape_add_matches_tflm(oracle, seed: int, same_scale: bool, act: str, shape: tuple) -> None:
    from fixtures_tflite_ops import OpSpec, T, options
    from test_runtime_ops import ACTS

    rng = np.random.default_rng(seed)
    sa = float(np.float32(rng.uniform(0.005, 0.2)))
    sb = sa if same_scale else float(np.float32(rng.uniform(0.005, 0.2)))  # equal scales: input shifts 0
    za, zb, zy = (int(v) for v in rng.integers(-128, 128, 3))
    x, y = (rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(2))
    # the bench feeds one input, so the second operand is a constant of the same shape
    spec = OpSpec("ADD", [T(shape, scale=[sa], zero_point=[za]), T(shape, scale=[sb], zero_point=[zb], data=y)],
                  [T(shape, scale=[float(np.float32(rng.uniform(0.01, 0.3)))], zero_point=[zy])],
                  options("AddOptions", fusedActivationFunction=ACTS[act]), "AddOptions")
    model = build(spec)
    want = oracle.run(model, [x], 1)[0]
    run = run_image(compile_image(model).image, x.tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want)


FC_CASES = [  # (batches, depth, units, act, per-channel weight scales, seed); words a row: 1 + 2 + 4k
    (1, 4, 4, "NONE", False, 20),  # 1 word: the odd step only, one group
    (1, 8, 4, "NONE", False, 21),  # 2 words: the pair only
    (1, 16, 7, "RELU", False, 22),  # 4 words: one loop pass, one group + 3 plain rows
    (2, 12, 20, "NONE", True, 23),  # 3 words (1 + 2), 16 + 4 units, two batch rows
    (1, 20, 12, "RELU", True, 27),  # 5 words (1 + 4)
    (1, 28, 8, "NONE", True, 28),  # 7 words (1 + 2 + 4)
    (1, 40, 33, "RELU6", True, 24),  # 10 words (2 + 8), two requant blocks + a tail unit
    (3, 6, 5, "NONE", False, 25),  # depth not a multiple of 4: plain rows (dot4 + dot1)
    (1, 256, 8, "NONE", False, 26),  # long rows
]


@pytest.mark.parametrize("batches,depth,units,act,per_channel,seed", FC_CASES)
def test_m4_fully_connected_matches_tflm(oracle, batches: int, depth: int, units: int, act: str, per_channel: bool,
                                         seed: int) -> None:
    from fixtures_tflite_ops import OpSpec, T, options
    from test_runtime_ops import ACTS

    rng = np.random.default_rng(seed)
    xs, xz = float(np.float32(rng.uniform(0.01, 0.1))), int(rng.integers(-128, 128))
    ws = [float(np.float32(v)) for v in rng.uniform(0.002, 0.05, units if per_channel else 1)]
    ys = float(np.float32(xs * max(ws) * np.sqrt(depth) * rng.uniform(20, 150)))
    bias = rng.integers(-3000, 3000, units).astype(np.int32)
    w = rng.integers(-127, 128, (units, depth)).astype(np.int8)
    bq = [float(np.float32(xs * s)) for s in ws]
    spec = OpSpec("FULLY_CONNECTED", [T((batches, depth), scale=[xs], zero_point=[xz]),
                                      T((units, depth), scale=ws, zero_point=[0] * len(ws), data=w),
                                      T((units,), "int32", bq, [0] * len(bq), bias)],
                  [T((batches, units), scale=[ys], zero_point=[int(rng.integers(-128, 128))])],
                  options("FullyConnectedOptions", fusedActivationFunction=ACTS[act]), "FullyConnectedOptions",
                  graph_inputs=[0])
    x = rng.integers(-128, 128, (batches, depth)).astype(np.int8)
    model = build(spec)
    want = oracle.run(model, [x], 1)[0]
    run = run_image(compile_image(model).image, x.tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want)
