"""AVERAGE_POOL_2D and MAX_POOL_2D on the Cortex-M4 build (four channels a word: SXTAB16 sums,
SSUB8/SEL maxima, when C % 4 == 0; the plain loop for the rest and for average windows of more
than 256 taps) give TFLite Micro's exact output under qemu-system-arm."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tflite_ops import OpSpec, T, build, options
from test_runtime_ops import ACTS

from tinyops.devices.qemu_bench import run_image
from tinyops.runtimes.tinyops_c import compile_image

CASES = [  # op, (h, w, c), (fh, fw), (sh, sw), padding, act
    ("AVERAGE_POOL_2D", (25, 5, 64), (25, 5), (1, 1), "VALID", "NONE"),  # DS-CNN's global pool, 125 taps
    ("AVERAGE_POOL_2D", (7, 6, 8), (3, 3), (2, 2), "SAME", "RELU"),  # clipped windows: counts 4, 6, 9
    ("AVERAGE_POOL_2D", (17, 16, 4), (17, 16), (1, 1), "VALID", "NONE"),  # 272 taps: the plain loop
    ("AVERAGE_POOL_2D", (16, 16, 4), (16, 16), (1, 1), "VALID", "RELU6"),  # 256 taps: sums at the lane's edge
    ("AVERAGE_POOL_2D", (5, 5, 6), (2, 2), (1, 1), "SAME", "NONE"),  # C % 4 != 0
    ("MAX_POOL_2D", (8, 8, 12), (2, 2), (2, 2), "VALID", "NONE"),
    ("MAX_POOL_2D", (7, 5, 4), (3, 3), (2, 1), "SAME", "RELU"),
    ("MAX_POOL_2D", (6, 6, 5), (3, 2), (1, 2), "SAME", "RELU6"),
]


@pytest.mark.parametrize("op,hwc,f,s,padding,act", CASES)
def test_m4_pooling_matches_tflm(oracle, op: str, hwc: tuple, f: tuple, s: tuple, padding: str, act: str) -> None:
    rng = np.random.default_rng(sum(hwc) + f[0])
    (h, w, c), (fh, fw), (sh, sw) = hwc, f, s
    oh, ow = ((h - fh) // sh + 1, (w - fw) // sw + 1) if padding == "VALID" else (-(-h // sh), -(-w // sw))
    xs, xz = float(np.float32(rng.uniform(0.01, 0.1))), int(rng.integers(-128, 128))
    spec = OpSpec(op, [T((1, h, w, c), scale=[xs], zero_point=[xz])], [T((1, oh, ow, c), scale=[xs], zero_point=[xz])],
                  options("Pool2DOptions", padding=0 if padding == "SAME" else 1, strideW=sw, strideH=sh,
                          filterWidth=fw, filterHeight=fh, fusedActivationFunction=ACTS[act]), "Pool2DOptions")
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    if fh * fw == 256:
        x[..., :2] = -128  # the most negative sums a halfword lane holds: -32,768
    model = build(spec)
    want = oracle.run(model, [x], 1)[0]
    run = run_image(compile_image(model).image, x.tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want)
