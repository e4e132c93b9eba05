"""CONV_2D kernels larger than 1x1 with their filter widened in chunks of 32 rows (when the
arena's headroom holds a chunk but not all rows): each chunk gathers the windows again and
must give TFLite Micro's exact output under qemu-system-arm (Cortex-M4)."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tflite_ops import build
from test_runtime_ops import _conv_spec

from tinyops.devices.qemu_bench import run_image
from tinyops.runtimes.tinyops_c import compile_image, lower_conv

BASE = {"sh": 1, "sw": 1, "dh": 1, "dw": 1, "padding": "SAME", "act": "NONE", "bias": True, "mult": 1}
CASES = [  # at least 16 output pixels (WIDE_MIN_PIXELS), at least 36 channels
    {"h": 6, "w": 5, "c": 3, "oc": 40, "kh": 3, "kw": 3, "seed": 41},  # K=27: 32 + 8 rows
    {"h": 9, "w": 9, "c": 4, "oc": 70, "kh": 3, "kw": 3, "sh": 2, "sw": 2, "act": "RELU", "seed": 42},  # 32+32+6
    {"h": 12, "w": 5, "c": 1, "oc": 66, "kh": 10, "kw": 4, "sh": 2, "sw": 1, "seed": 43},  # K=40 (DS-CNN's first)
    {"h": 8, "w": 7, "c": 6, "oc": 37, "kh": 2, "kw": 3, "dh": 2, "padding": "VALID", "act": "RELU6", "seed": 44},
]


@pytest.mark.parametrize("over", CASES)
def test_m4_conv_widened_in_chunks_matches_tflm(oracle, monkeypatch, over: dict) -> None:
    spec, inputs = _conv_spec({**BASE, **over}, False)
    model = build(spec)
    k = over["kh"] * over["kw"] * over["c"]
    row = (k + 3) // 4 * 8
    # room for the columns and 32 widened rows, not for all of them
    monkeypatch.setattr(lower_conv, "_arena_headroom", lambda _m, _op: 16 * ((k + 3) // 4) + 2 * k + 4 + 32 * row)
    compiled = compile_image(model)
    cols = 16 * ((k + 3) // 4) + ((k + 3) & ~3 if over["c"] % 4 else 0)
    assert [t["bytes"] for t in compiled.plan["live"] if t["tensor"] == "scratch"] == [cols + 32 * row]
    want = oracle.run(model, inputs, 1)[0]
    run = run_image(compiled.image, inputs[0].tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want, err_msg=str(over))
