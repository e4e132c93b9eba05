"""`tinyops flash BUILD`: a registered build onto a board, with self-test,
deployment record, resume after a disconnect, and clear errors."""

from __future__ import annotations

import json

from click.testing import CliRunner
from fixtures_boards import LinkProxy, boards, firmware_bins, model_images, proxies  # noqa: F401
from fixtures_builds import trained_template, trained_ws  # noqa: F401

from tinyops.cli.main import cli
from tinyops.devices import build as device_build
from tinyops.devices.serial import flash
from tinyops.registry import deployments
from tinyops.cli.common import resolve_variant


def _tiny(ws, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--workspace", str(ws.root), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_flash_build_cli_records_deployment(trained_ws, boards) -> None:
    b = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "posix-sim").build
    board = boards.start("posix")
    out = json.loads(_tiny(trained_ws, "flash", b.id, "--port", board.url, "--json").stdout)
    assert out["build"] == b.id and out["activated"] is True and out["self_test"] == "pass"
    assert out["bytes"] > 0 and out["seconds"] > 0 and out["self_test_detail"]["vectors"] == 8
    deps = deployments.list_deployments(trained_ws, build=b.id)
    assert len(deps) == 1 and deps[0].device == board.url and deps[0].self_test == "pass"
    # Flashing it again finds it active; --trace dumps frames on stderr.
    again = _tiny(trained_ws, "flash", b.id[:8], "--port", board.url, "--trace")
    assert "already active" in again.stdout and "Self-test: pass" in again.stdout
    assert "tx " in again.stderr and "rx " in again.stderr
    info = json.loads(_tiny(trained_ws, "device", "info", "--port", board.url, "--json").stdout)
    assert info["active_sha256"] == out["sha256"] and info["board"] == "posix" and len(info["slots"]) == 2


def test_qemu_build_flashes_and_passes_self_test(trained_ws, boards) -> None:
    b = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "qemu-mps2-an386").build
    board = boards.start("qemu-mps2-an386")
    r = flash.flash_build(trained_ws, b.id, board.url)
    assert r.self_test == "pass" and r.self_test_detail["unit"] == "instructions" and r.deployment


def test_disconnect_mid_transfer_resumes_from_acknowledged_offset(boards, model_images, proxies) -> None:
    m = model_images["ds_cnn_kws"]  # 31 KB: several DATA frames
    board = boards.start("posix")
    proxy = LinkProxy(board.port, cut_after=9000)  # the first connection dies after ~4 frames
    proxies.append(proxy)
    r = flash.flash_image(proxy.url, m.image, m.inputs, m.outputs)
    assert proxy.connections >= 2 and 0 < r.resumed_from < len(m.image) and r.resumed_from % 2048 == 0
    assert r.self_test == "pass"


def test_interrupted_flash_resumes_on_the_next_flash(boards, model_images) -> None:
    m = model_images["ds_cnn_kws"]
    board = boards.start("posix")

    class Stop(Exception):
        pass

    def stop_half_way(done: int, total: int) -> None:
        if done > total // 2:
            raise Stop

    try:
        flash.flash_image(board.url, m.image, progress=stop_half_way)
    except Stop:
        pass
    r = flash.flash_image(board.url, m.image, m.inputs, m.outputs)
    assert r.resumed_from > len(m.image) // 2 and r.self_test == "pass"


def test_bad_builds_and_ports_are_explained(trained_ws) -> None:
    pi = device_build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "raspberry-pi-4").build
    res = _tiny(trained_ws, "flash", pi.id, "--port", "socket://127.0.0.1:9", code=1)
    assert "has no model image" in res.output and "tinyops-c profile" in res.output
    res = _tiny(trained_ws, "flash", "ffffffff", "--port", "socket://127.0.0.1:9", code=1)
    assert "build" in res.output.lower()
    res = _tiny(trained_ws, "flash", "--port", "socket://127.0.0.1:9", code=1)
    assert "give a BUILD id" in res.output
    assert deployments.list_deployments(trained_ws) == []
