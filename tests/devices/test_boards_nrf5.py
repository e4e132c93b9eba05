"""The register-level nRF5 port (firmware/boards/nrf5): UART, NVMC erases and writes for
the A/B slots, TIMER0 timestamps, the model run in place from flash, on QEMU's micro:bit
(nRF51822, 16 KB RAM); 20 random power cuts during transfer and activation; the same
driver compiled and linked for the nRF52840 DK."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures_boards import Boards, ModelImage, make_model_image

from tinyops.devices import sim
from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError

BOARD = "qemu-microbit"
CUTS = 20


@pytest.fixture(scope="module")
def microbit(tmp_path_factory):
    fw = {BOARD: sim.build_firmware(BOARD)}
    b = Boards(fw, tmp_path_factory.mktemp("microbit"))
    try:
        yield b
    finally:
        b.stop_all()


def _negated_weights(name: str) -> bytes:
    """The fixture model with its largest int8 weight tensor negated: a third small,
    valid, different model (the A/B test needs one the other slot does not hold)."""
    from fixtures_models import model_bytes

    from tinyops.runtimes import tflite_file

    tfl = model_bytes(name)
    t = max((t for t in tflite_file.read(tfl).tensors if t.is_constant and t.dtype == "int8"),
            key=lambda t: len(t.data))
    pos = tfl.find(t.data)
    assert pos > 0 and tfl.find(t.data, pos + 1) < 0
    neg = np.clip(-np.frombuffer(t.data, np.int8).astype(np.int16), -127, 127).astype(np.int8).tobytes()
    return tfl[:pos] + neg + tfl[pos + len(neg):]


def _image(name: str, tfl: bytes) -> ModelImage:
    from tinyops.runtimes import open_runtime
    from tinyops.runtimes.tinyops_c import compile_image

    compiled, rt = compile_image(tfl), open_runtime("tflm", tfl)
    xs = np.random.default_rng(5).integers(-128, 128, size=(2, *rt.inputs[0].shape[1:]), dtype=np.int8)
    ys = np.stack([np.asarray(rt.run(x[None]))[0] for x in xs])
    return ModelImage(name, compiled.image, compiled.arena_bytes, xs, ys)


@pytest.fixture(scope="module")
def small_models():
    # The fixture models whose arenas fit the nRF51's 4 KB (ds_cnn_kws needs 16 KB).
    m = {n: make_model_image(n, count=2, seed=5) for n in ("digits_cnn", "imu_cnn")}
    m["digits_neg"] = _image("digits_neg", _negated_weights("digits_cnn"))
    assert len({x.sha256 for x in m.values()}) == 3
    return m


def _check_valid(url: str, models: dict) -> str:
    by_sha = {m.sha256: m for m in models.values()}
    with Link(url) as link:
        link.drain()
        info = ops.info(link)
        assert info.active_sha256 in by_sha, f"no valid model after a power cut: {info}"
        m = by_sha[info.active_sha256]
        out = ops.run(link, m.inputs[0].tobytes(), max_chunk=info.max_chunk).output
        assert np.array_equal(np.frombuffer(out, np.int8), m.outputs[0].reshape(-1))
        return info.active_sha256


def test_nrf51_runs_in_place_and_keeps_flash_across_power_off(microbit, small_models, tmp_path) -> None:
    m = small_models["imu_cnn"]
    disk = tmp_path / "nrf51.flash"
    b = microbit.start(BOARD, flash=disk)
    with Link(b.url) as link:
        link.drain()
        info = ops.info(link)
    # The slots are larger than the whole RAM: the image cannot be a RAM copy.
    assert info.board == BOARD and info.slot_capacity > 16 * 1024 and info.arena_capacity == 4096
    rep = flash.flash_image(b.url, m.image, m.inputs, m.outputs)
    assert rep.activated and rep.self_test == "pass"
    with Link(b.url) as link:
        link.drain()
        t0 = ops.info(link)
        lines = link.ascii("infer 2 0")
        assert any(line.startswith("m-lap-us-") for line in lines)
    microbit.kill(b)
    # QEMU forgets the nRF51 flash; the firmware programs the host file back through the NVMC.
    b = microbit.start(BOARD, flash=disk)
    with Link(b.url) as link:
        link.drain()
        info = ops.info(link)
        assert info.active_sha256 == m.sha256 and info.boots == t0.boots
        out = ops.run(link, m.inputs[1].tobytes(), max_chunk=info.max_chunk).output
        assert np.array_equal(np.frombuffer(out, np.int8), m.outputs[1].reshape(-1))
        ops.reset(link)  # SYSRESETREQ
    with Link(b.url) as link:
        link.drain(0.5)
        assert ops.info(link).active_sha256 == m.sha256


def test_nrf51_power_cuts_during_transfer_and_activation(microbit, small_models, tmp_path) -> None:
    rng = random.Random(20261201)
    disk = tmp_path / "cuts.flash"
    names = list(small_models)
    b = microbit.start(BOARD, flash=disk)
    flash.flash_image(b.url, small_models[names[0]].image)
    t0 = time.monotonic()
    flash.flash_image(b.url, small_models[names[1]].image)
    full = time.monotonic() - t0
    active = small_models[names[1]].sha256
    resumed = 0
    outcomes = {"old": 0, "new": 0}
    for cut in range(CUTS):
        target = [m for m in small_models.values() if m.sha256 != active][cut % 2]
        errors: list[Exception] = []

        def run() -> None:
            try:
                flash.flash_image(b.url, target.image, reconnect_attempts=0)
            except DeviceError as e:  # the board died under it: expected
                errors.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(rng.uniform(0.0, 1.1 * full))
        microbit.kill(b)
        worker.join(30)
        assert not worker.is_alive()
        b = microbit.start(BOARD, flash=disk)
        now = _check_valid(b.url, small_models)
        assert now in (active, target.sha256), "a power cut switched to a model nobody flashed"
        outcomes["old" if now == active else "new"] += 1
        r = flash.flash_image(b.url, target.image, target.inputs, target.outputs)
        assert r.activated and r.self_test == "pass"
        resumed += r.resumed_from > 0
        active = target.sha256
        assert _check_valid(b.url, small_models) == active
    assert resumed > 0, "no cut ever left a partial transfer to resume"
    assert outcomes["old"] > 0, outcomes


def test_the_same_driver_links_for_the_nrf52840(tmp_path: Path) -> None:
    out = tmp_path / "nrf52840"
    proc = subprocess.run(["make", "-s", "-C", str(sim.firmware_dir()), "BOARD=nrf52840-dk", f"OUT={out}"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    elf = out / "tinyops-fw.elf"
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    names = {line.split()[-1]: int(line.split()[0], 16) for line in syms.splitlines() if len(line.split()) == 3}
    assert {"hal_flash_erase_page", "hal_flash_write", "hal_flash_map", "fw_run", "tor_invoke"} <= set(names)
    assert "semihost" not in names  # no host-file mirror on the real part
    # Code below the model region (0x40000), data in the nRF52840's 256 KB RAM.
    assert names["_etext" if "_etext" in names else "_sidata"] < 0x40000
    assert 0x20000000 <= names["_ebss"] <= 0x20040000 - 0x4000
    head = subprocess.run(["arm-none-eabi-readelf", "-h", str(elf)], capture_output=True, text=True).stdout
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True, text=True).stdout
    assert "ARM" in head and "Cortex-M4" in attrs.replace("cortex-m4", "Cortex-M4") or "v7E-M" in attrs
