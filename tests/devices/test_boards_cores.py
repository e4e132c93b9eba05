"""Every Cortex-M class under QEMU (M0 on the micro:bit's nRF51, M3, M4, M7, M33, M55 on
Arm's MPS2/MPS3 images):
the same firmware sources built per core, flashed over the update protocol,
self-tested against TFLM's outputs, benched; every core's outputs are
bit-identical to the TFLM interpreter's, hence to each other's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures_boards import Boards, make_model_image

from tinyops.devices import profiles, sim
from tinyops.devices.serial import bench, flash, ops
from tinyops.devices.serial.link import Link

CORES = {"qemu-microbit": "cortex-m0", "qemu-mps2-an385": "cortex-m3", "qemu-mps2-an386": "cortex-m4f", "qemu-mps2-an500": "cortex-m7",
         "qemu-mps2-an505": "cortex-m33", "qemu-mps3-an547": "cortex-m55"}


@pytest.fixture(scope="module")
def core_firmware() -> dict[str, Path]:
    return {b: sim.build_firmware(b) for b in CORES}


@pytest.fixture(scope="module")
def digits():
    return make_model_image("digits_cnn", count=4, seed=16)


@pytest.fixture
def core_boards(core_firmware, tmp_path):
    b = Boards(core_firmware, tmp_path)
    try:
        yield b
    finally:
        b.stop_all()


@pytest.mark.parametrize("board", list(CORES))
def test_flash_self_test_and_bench_on_every_core(core_boards, digits, board) -> None:
    prof = profiles.load(board)
    assert prof.core == CORES[board] and prof.emulated and board in sim.BOARDS
    b = core_boards.start(board)
    rep = flash.flash_image(b.url, digits.image, digits.inputs, digits.outputs)
    assert rep.board == board and rep.activated and rep.self_test == "pass"
    assert rep.self_test_detail["identical_share"] == 1.0
    with Link(b.url) as link:
        link.drain()
        info = ops.info(link)
        assert info.counter_unit == "instructions" and info.active_sha256 == digits.sha256
        for x, y in zip(digits.inputs, digits.outputs):
            out = ops.run(link, x.tobytes(), max_chunk=info.max_chunk).output
            assert np.array_equal(np.frombuffer(out, np.int8), y.reshape(-1)), board
    r = bench.bench_device(b.url, runs=2, warmup=0, golden_inputs=digits.inputs, golden_outputs=digits.outputs)
    assert r.agreement == 1.0 and r.counter_unit == "instructions"
    # The timer rate per board is right when the count is near the M4 build's (88 k): the
    # M0 has no SMLAD and 8 registers, ~2.7x.
    assert 40_000 < r.instructions_per_inference < 400_000, r.instructions_per_inference
