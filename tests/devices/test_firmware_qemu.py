"""The firmware on a Cortex-M4 under qemu-system-arm: flash, self-test,
instruction counts, MLPerf commands, and the flash file persisting across a
QEMU restart (semihosting)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from fixtures_boards import boards, firmware_bins, model_images  # noqa: F401

from tinyops.cli.main import cli
from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link


def test_flash_run_and_count_instructions(boards, model_images, tmp_path) -> None:
    m = model_images["digits_cnn"]
    disk = tmp_path / "qemu.flash"
    b = boards.start("qemu-mps2-an386", flash=disk)
    rep = flash.flash_image(b.url, m.image, m.inputs, m.outputs)
    assert rep.board == "qemu-mps2-an386" and rep.activated and rep.self_test == "pass"
    assert rep.self_test_detail["identical_share"] == 1.0 and rep.self_test_detail["unit"] == "instructions"
    with Link(b.url) as link:
        link.drain()
        info = ops.info(link)
        assert info.counter_unit == "instructions" and info.active_sha256 == m.sha256
        runs = [ops.run(link, m.inputs[0].tobytes(), max_chunk=info.max_chunk) for _ in range(2)]
        # -icount shift=0 makes the count deterministic: same input, same instructions,
        # up to SysTick's resolution (one 25 MHz tick = 40 instructions).
        assert runs[0].count > 10_000 and abs(runs[0].count - runs[1].count) <= 40
        assert np.array_equal(np.frombuffer(runs[0].output, np.int8), m.outputs[0].reshape(-1))
        assert link.ascii("name") == ["m-name-dut-[tinyops-fw-qemu-mps2-an386]"]
        lines = link.ascii("infer 2 1")
        t0, t1 = (int(line[9:]) for line in lines if line.startswith("m-lap-us-"))
        # Laps are virtual microseconds (1 instruction = 1 ns): two runs take ~2 counts.
        assert abs((t1 - t0) * 1000 - 2 * runs[0].count) <= 0.2 * 2 * runs[0].count + 2000
    boards.kill(b)
    # Power comes back: the same flash file, a new QEMU; the model is still there.
    b2 = boards.start("qemu-mps2-an386", flash=disk)
    with Link(b2.url) as link:
        link.drain()
        info = ops.info(link)
        assert info.active_sha256 == m.sha256 and info.slots[info.active_slot].state == "committed"
        out = ops.run(link, m.inputs[1].tobytes(), max_chunk=info.max_chunk).output
        assert np.array_equal(np.frombuffer(out, np.int8), m.outputs[1].reshape(-1))


def test_second_model_and_rollback_on_qemu(boards, model_images) -> None:
    a, c = model_images["digits_cnn"], model_images["imu_cnn"]
    b = boards.start("qemu-mps2-an386")
    flash.flash_image(b.url, a.image)
    rep = flash.flash_image(b.url, c.image, c.inputs, c.outputs)
    assert rep.self_test == "pass" and rep.slot == 1
    res = CliRunner().invoke(cli, ["device", "rollback", "--port", b.url, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["active_sha256"] == a.sha256
    with Link(b.url) as link:
        link.drain()
        assert ops.info(link).active_sha256 == a.sha256
        ops.reset(link)  # SYSRESETREQ: QEMU resets the machine, the flash file stays
    with Link(b.url) as link:
        link.drain(0.5)
        info = ops.info(link)
        assert info.active_sha256 == a.sha256 and info.boots == 1


def test_rollback_with_nothing_to_roll_back_is_explained(boards, model_images) -> None:
    b = boards.start("qemu-mps2-an386")
    flash.flash_image(b.url, model_images["imu_cnn"].image)
    res = CliRunner().invoke(cli, ["device", "rollback", "--port", b.url], catch_exceptions=False)
    assert res.exit_code == 1 and "no committed earlier model" in res.output
