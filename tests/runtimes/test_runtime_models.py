"""Whole models through tinyops-c: the four MLPerf Tiny architectures and two small
example-like models give 100% identical int8 outputs to TFLite Micro."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_models import MODEL_NAMES, model_bytes

from tinyops.runtimes.tinyops_c.native import NativeRuntime
from tinyops.runtimes import open_runtime

SAMPLES = 6


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_whole_model_identical_to_tflm(name: str) -> None:
    data = model_bytes(name)
    ours = NativeRuntime(data)
    rng = np.random.default_rng(42)
    shape = ours.inputs[0].shape
    # random int8 inputs plus the two extremes, which drive every saturation path
    xs = rng.integers(-128, 128, size=(SAMPLES, *shape[1:]), dtype=np.int8)
    xs[0] = -128
    xs[1] = 127
    with open_runtime("tflm", data) as ref:
        want = ref.run_many(xs)
    got = ours.run_many(xs)
    assert got.shape == want.shape and got.dtype == want.dtype
    identical = float(np.mean(got == want))
    assert identical == 1.0, f"{name}: only {identical:.4%} of output values match TFLM"
    assert [i.shape for i in ours.inputs] == [tuple(shape)]


def test_open_runtime_tinyops_c_matches_interface() -> None:
    data = model_bytes("digits_cnn")
    rt = open_runtime("tinyops-c", data)
    x = np.zeros(rt.inputs[0].shape, np.int8)
    y = rt.run(x)
    assert y.shape == rt.outputs[0].shape and y.dtype == np.int8
    assert rt.inputs[0].scale is not None and rt.outputs[0].zero_point == -128
