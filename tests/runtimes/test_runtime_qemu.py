"""The runtime built for Cortex-M4 (arm-none-eabi-gcc, DSP intrinsics on) runs MLPerf
Tiny models under qemu-system-arm with exactly the host build's outputs."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_models import model_bytes

from tinyops.runtimes.tinyops_c import compile_image
from tinyops.runtimes.tinyops_c.native import NativeRuntime
from tinyops.devices.qemu_bench import run_image


@pytest.mark.parametrize("name", ["ds_cnn_kws", "mobilenet_vww", "resnet8_ic", "autoencoder_ad"])
def test_qemu_matches_host(name: str) -> None:
    data = model_bytes(name)
    compiled = compile_image(data)
    host = NativeRuntime(data, compiled=compiled)
    x = np.random.default_rng(5).integers(-128, 128, size=host.inputs[0].shape, dtype=np.int8)
    want = host.run(x)
    run = run_image(compiled.image, x.tobytes())
    assert run.status == 0
    assert run.arena_bytes == compiled.arena_bytes
    got = np.frombuffer(run.output, np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want)
    assert run.instructions > 0
    assert 0.9 * run.instructions <= sum(run.op_instructions) <= 1.1 * run.instructions


def test_qemu_rejects_corrupt_image() -> None:
    image = bytearray(compile_image(model_bytes("digits_cnn")).image)
    image[200] ^= 0xFF
    run = run_image(bytes(image), bytes(64))
    assert run.status == 5  # TOR_ERR_CRC, reported by the firmware, no crash
