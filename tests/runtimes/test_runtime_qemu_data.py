"""The COPY, RESIZE_BILINEAR, TRANSPOSE_CONV and SVDF kernels built for Cortex-M4 (the bench
firmware under qemu-system-arm) give TFLite Micro's exact output."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tflite_ops import build, data_seed_specs

from tinyops.devices.qemu_bench import run_image
from tinyops.runtimes.tinyops_c import compile_image


@pytest.mark.parametrize("name", list(data_seed_specs()))
def test_m4_build_matches_tflm(oracle, name: str) -> None:
    spec = data_seed_specs()[name]
    model = build(spec)
    x = np.random.default_rng(3).integers(-128, 128, size=spec.inputs[spec.graph_inputs[0]].shape, dtype=np.int8)
    want = oracle.run(model, [x], 1)[0]
    run = run_image(compile_image(model).image, x.tobytes())
    assert run.status == 0
    np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want)
