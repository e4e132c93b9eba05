"""The TFLM export every Cortex-M build carries, proven on the emulated Cortex-M4.

model_data.cc + op_resolver.h + arena.h are compiled against TFLM (reference kernels,
built from $TFLM_DIR) with a generated main and run under QEMU mps2-an386 with exactly
the arena arena.h declares: outputs identical to the build's golden vectors, and one
byte less does not allocate. Needs TFLM: a missing TFLM_DIR fails here, it never skips.
"""

from __future__ import annotations

import json

from fixtures_builds import trained_template, trained_ws  # noqa: F401 - pytest fixtures
from fixtures_tflm import prove_export

from tinyops.devices import build, tflm_build
from tinyops.registry import builds
from tinyops.cli.common import resolve_variant


def test_export_runs_on_cortex_m4_with_exactly_the_declared_arena(trained_ws) -> None:
    assert tflm_build.available(), "TFLM_DIR must name a TFLM tree (../shared/third_party)"
    r = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "qemu-mps2-an386")
    assert r.manifest["tflm_arena"]["measured_on"] == "cortex-m4"
    text = builds.file_bytes(trained_ws, r.build, "arena.h").decode()
    assert "bisected on the target" in text and "kArenaMarginBytes = 0;" in text
    res = prove_export(trained_ws, r.build)
    assert res.instructions > 0 and res.arena_used <= res.min_arena


def test_arena_header_from_the_target_differs_from_the_host_figure_with_margin(trained_ws) -> None:
    # esp32 is not a Cortex-M: its arena.h keeps the host measurement plus the stated margin.
    r = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "esp32")
    text = builds.file_bytes(trained_ws, r.build, "arena.h").decode()
    assert r.manifest["tflm_arena"]["measured_on"] == "host" and "on the host" in text


def test_device_profile_check_shows_every_runtime_side_by_side(trained_ws) -> None:
    from click.testing import CliRunner

    from tinyops.cli.main import cli

    res = CliRunner().invoke(cli, ["--workspace", str(trained_ws.root), "device-profile", "check", "digits@1:int8",
                                   "--device", "qemu-mps2-an386", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = {r["runtime"]: r for r in json.loads(res.stdout)["runtimes"]}
    assert set(rows) == {"tinyops-c", "tflm", "tflm-cmsis-nn"} and rows["tinyops-c"]["auto"]
    assert not rows["tflm"]["auto"] and not rows["tflm-cmsis-nn"]["auto"]
    for r in rows.values():  # measured on QEMU, scaled to the profile's 25 MHz
        assert r["fits"] and r["instructions_per_inference"] > 1000, r
        assert r["ms_at_profile_clock"] == round(r["instructions_per_inference"] / 25e6 * 1000, 3)
    assert rows["tflm"]["flash_needed_bytes"] > rows["tinyops-c"]["flash_needed_bytes"]
