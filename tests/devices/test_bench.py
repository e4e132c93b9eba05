"""`tinyops bench`: MLPerf Tiny commands against a flashed board; results
linked to the build."""

from __future__ import annotations

import json

from click.testing import CliRunner
from fixtures_boards import boards, firmware_bins, model_images  # noqa: F401
from fixtures_builds import trained_template, trained_ws  # noqa: F401

from tinyops.cli.main import cli
from tinyops.devices import build as device_build
from tinyops.devices.serial import bench, flash
from tinyops.registry import deployments
from tinyops.cli.common import resolve_variant


def test_bench_on_qemu_reports_instructions_and_agreement(trained_ws, boards) -> None:
    b = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "qemu-mps2-an386").build
    board = boards.start("qemu-mps2-an386")
    flash.flash_build(trained_ws, b.id, board.url)
    res = CliRunner().invoke(cli, ["--workspace", str(trained_ws.root), "bench", "--port", board.url,
                                   "--runs", "3", "--warmup", "1", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["runs"] == 3 and out["build"] == b.id and out["agreement"] == 1.0
    assert out["instructions_per_inference"] > 1000 and out["latency_us"] is None
    assert out["results_agreement"] == 1.0  # `results%` floats = dequantized golden output
    stored = deployments.list_bench(trained_ws, build=b.id)
    assert len(stored) == 1 and stored[0].unit == "instructions"
    assert stored[0].per_inference == out["instructions_per_inference"]


def test_bench_without_workspace_on_posix(boards, model_images) -> None:
    m = model_images["imu_cnn"]
    board = boards.start("posix")
    flash.flash_image(board.url, m.image)
    r = bench.bench(board.url, runs=4, warmup=0)
    assert r.latency_us and r.latency_us > 0 and r.instructions_per_inference is None
    assert r.agreement is None and r.build is None and r.dut_name == "tinyops-fw-posix"
    assert r.model_image_bytes == len(m.image)


def test_bench_needs_a_model(boards) -> None:
    board = boards.start("posix")
    res = CliRunner().invoke(cli, ["bench", "--port", board.url], catch_exceptions=False)
    assert res.exit_code == 1 and "no active model" in res.output and "tinyops flash" in res.output
