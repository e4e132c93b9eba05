"""Power cuts: SIGKILL the emulated board at random moments while a model is
being transferred and activated, power it up again on the same flash file.
It must always run a valid model (the old or the new one, never none or a
broken one), and the interrupted flash must resume and complete."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from fixtures_boards import boards, firmware_bins, model_images  # noqa: F401

from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError

CUTS = {"posix": 20, "qemu-mps2-an386": 20}


def _check_valid(url: str, models: dict) -> str:
    """The board runs one of the known models, and runs it correctly."""
    by_sha = {m.sha256: m for m in models.values()}
    with Link(url) as link:
        link.drain()
        info = ops.info(link)
        assert info.active_sha256 in by_sha, f"no valid model after a power cut: {info}"
        m = by_sha[info.active_sha256]
        out = ops.run(link, m.inputs[0].tobytes(), max_chunk=info.max_chunk).output
        assert np.array_equal(np.frombuffer(out, np.int8), m.outputs[0].reshape(-1))
        return info.active_sha256


@pytest.mark.parametrize("board_name", list(CUTS))
def test_power_cut_during_transfer_and_activation(boards, model_images, tmp_path, board_name) -> None:
    rng = random.Random(20261126)
    names = ["digits_cnn", "ds_cnn_kws", "imu_cnn"]
    disk = tmp_path / "board.flash"
    b = boards.start(board_name, flash=disk)
    first = model_images[names[0]]
    flash.flash_image(b.url, first.image)
    active = first.sha256
    # Calibrate: how long a full flash of the largest image takes on this board.
    t0 = time.monotonic()
    flash.flash_image(b.url, model_images["ds_cnn_kws"].image)
    full = time.monotonic() - t0
    active = model_images["ds_cnn_kws"].sha256
    resumed = 0
    outcomes = {"old": 0, "new": 0}
    for cut in range(CUTS[board_name]):
        target = model_images[[n for n in names if model_images[n].sha256 != active][cut % 2]]
        errors: list[Exception] = []

        def run() -> None:
            try:
                flash.flash_image(b.url, target.image, reconnect_attempts=0)
            except DeviceError as e:  # the board died under it: expected
                errors.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(rng.uniform(0.0, 1.1 * full))
        boards.kill(b)
        worker.join(30)
        assert not worker.is_alive()
        b = boards.start(board_name, flash=disk)
        now = _check_valid(b.url, model_images)
        assert now in (active, target.sha256), "a power cut switched to a model nobody flashed"
        outcomes["old" if now == active else "new"] += 1
        # Power is back: the same flash resumes where the device's marks say, and completes.
        r = flash.flash_image(b.url, target.image, target.inputs, target.outputs)
        assert r.activated and r.self_test == "pass"
        resumed += r.resumed_from > 0
        active = target.sha256
        assert _check_valid(b.url, model_images) == active
    assert resumed > 0, "no cut ever left a partial transfer to resume"
    assert outcomes["old"] > 0, outcomes  # some cuts hit the transfer, before the commit record
