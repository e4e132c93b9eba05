"""The TFLM firmware on the emulated Cortex-M4: a model with an op tinyops-c lacks goes
`build --runtime auto` -> flash -> golden self-test -> bench; `flash` refuses, before any
transfer, an image the firmware cannot run. Needs $TFLM_DIR (fails, never skips, without it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures_boards import Boards
from fixtures_builds import trained_template, trained_ws  # noqa: F401 - pytest fixtures
from fixtures_tflm import prove_export

from tinyops.cli.main import cli
from tinyops.devices import build as device_build
from tinyops.devices import profiles, sim
from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError, InputError
from tinyops.registry import models
from tinyops.cli.common import resolve_variant

BOARD = "qemu-mps2-an386"


def add_leaky_model(ws) -> str:
    """digits@2: digits@1's recipe and data, with LeakyReLU + hard-swish hidden layers and a log-softmax
    output (LOG_SOFTMAX: TFLM has it, tinyops-c does not)."""
    import keras
    from keras import layers as L

    from tinyops.ml import convert
    from tinyops.ml.train import _keras_bytes

    x = inp = keras.Input((64,), batch_size=1)
    x = L.LeakyReLU(negative_slope=0.1)(L.Dense(24)(x))
    x = L.Activation("hard_silu")(L.Dense(16)(x))
    model = keras.Model(inp, L.Activation("log_softmax")(L.Dense(10)(x)))
    base = models.resolve(ws, "digits@1")
    models.register(ws, "digits", _keras_bytes(model), run_id=base.run_id, description="leaky test model")
    convert.convert(ws, "digits@2", "int8")
    return "digits@2:int8"


def flash_and_bench(ws, build_id: str, url: str, *, warmup: int) -> tuple[flash.FlashReport, dict]:
    """Flash a build (activated, self-test pass), then `tinyops bench --json` on the board."""
    rep = flash.flash_build(ws, build_id, url)
    assert rep.activated and rep.self_test == "pass", rep.self_test_detail
    res = CliRunner().invoke(cli, ["--workspace", str(ws.root), "bench", "--port", url,
                                   "--runs", "2", "--warmup", str(warmup), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return rep, json.loads(res.stdout)


@pytest.fixture
def tflm_boards(tmp_path: Path):
    """start(runtime) -> a board running the TFLM firmware with those kernels."""
    started: list[Boards] = []

    def start(runtime: str, board: str = BOARD):
        b = Boards({board: sim.build_firmware(board, runtime)}, tmp_path / f"{board}-{runtime}")
        started.append(b)
        return b.start(board)

    try:
        yield start
    finally:
        for b in started:
            b.stop_all()


def test_auto_picks_tflm_cmsis_nn_for_an_op_tinyops_c_lacks_and_it_runs_on_the_board(trained_ws, tflm_boards) -> None:
    ref = add_leaky_model(trained_ws)
    r = device_build.build(trained_ws, resolve_variant(trained_ws, ref), BOARD)  # --runtime auto
    tinyops_c_ops = set(profiles.load(BOARD).ops)
    assert set(r.manifest["ops"]) - tinyops_c_ops, "the test model must use an op tinyops-c lacks"
    assert r.build.runtime == "tflm-cmsis-nn" and r.manifest["image"]["runtime"] == "tflm-cmsis-nn"
    assert r.manifest["tflm_arena"]["kernels"] == "cmsisnn"
    prove_export(trained_ws, r.build)

    board = tflm_boards("tflm-cmsis-nn")
    with Link(board.url) as link:
        info = ops.info(link)
    assert info.runtime == "tflm-cmsis-nn" and {"LEAKY_RELU", "HARD_SWISH", "CONV_2D"} <= set(info.runtime_ops)
    _, out = flash_and_bench(trained_ws, r.build.id, board.url, warmup=1)
    assert out["build"] == r.build.id and out["agreement"] == 1.0 and out["instructions_per_inference"] > 1000


def test_reference_kernel_firmware_self_tests_benches_and_refuses_a_tinyops_c_image(trained_ws, tflm_boards) -> None:
    ref = add_leaky_model(trained_ws)
    r = device_build.build(trained_ws, resolve_variant(trained_ws, ref), BOARD, runtime="tflm")
    assert r.build.runtime == "tflm" and r.manifest["tflm_arena"]["kernels"] == "ref"
    board = tflm_boards("tflm")
    # bench drives the MLPerf Tiny runner's commands (db load / db / infer / results)
    rep, out = flash_and_bench(trained_ws, r.build.id, board.url, warmup=0)
    assert out["agreement"] == 1.0 and out["results_agreement"] == 1.0 and out["dut_name"] == "tinyops-fw-qemu-mps2-an386"
    # a tinyops-c image is refused by the TFLM firmware before any transfer
    c = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), BOARD, runtime="tinyops-c")
    with pytest.raises(DeviceError, match="tinyops-c model image"):
        flash.flash_build(trained_ws, c.build.id, board.url)
    with Link(board.url) as link:
        assert ops.info(link).active_sha256 == rep.sha256  # still the TFLM model


def test_tinyops_c_firmware_refuses_a_tflm_build_before_any_transfer(trained_ws, tmp_path: Path) -> None:
    r = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), BOARD, runtime="tflm")
    assert r.build.runtime == "tflm" and r.manifest["image"]["arena_bytes"] == r.manifest["tflm_arena"]["bytes"]
    b = Boards({BOARD: sim.build_firmware(BOARD)}, tmp_path / "c")
    try:
        board = b.start(BOARD)
        with pytest.raises(DeviceError, match="needs TFLM firmware"):
            flash.flash_build(trained_ws, r.build.id, board.url)
        with Link(board.url) as link:
            info = ops.info(link)
        assert info.runtime == "tinyops-c" and [s.state for s in info.slots] == ["empty", "empty"]
    finally:
        b.stop_all()


def test_posix_firmware_runs_tflm_reference_kernels_for_an_op_tinyops_c_lacks(trained_ws, tflm_boards) -> None:
    """The same firmware as a native process, TFLM built with the host compiler (reference kernels)."""
    ref = add_leaky_model(trained_ws)
    r = device_build.build(trained_ws, resolve_variant(trained_ws, ref), "posix-sim")  # --runtime auto
    assert r.build.runtime == "tflm" and r.manifest["image"]["runtime"] == "tflm"
    with pytest.raises(InputError, match="CMSIS-NN|cannot run"):
        device_build.build(trained_ws, resolve_variant(trained_ws, ref), "posix-sim", runtime="tflm-cmsis-nn")
    board = tflm_boards("tflm", "posix-sim")
    with Link(board.url) as link:
        info = ops.info(link)
    assert info.runtime == "tflm" and {"LOG_SOFTMAX", "LEAKY_RELU", "HARD_SWISH"} <= set(info.runtime_ops)
    _, out = flash_and_bench(trained_ws, r.build.id, board.url, warmup=0)
    assert out["agreement"] == 1.0 and out["results_agreement"] == 1.0 and out["dut_name"] == "tinyops-fw-posix"
    c = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "posix-sim", runtime="tinyops-c")
    with pytest.raises(DeviceError, match="tinyops-c model image"):
        flash.flash_build(trained_ws, c.build.id, board.url)

