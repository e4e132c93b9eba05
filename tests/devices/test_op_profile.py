"""`tinyops bench --per-op`: instructions per op of a model on the QEMU Cortex-M4 bench board."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fixtures_models import model_bytes, model_path

from tinyops.devices.op_profile import profile_ops
from tinyops.runtimes.tinyops_c import compile_image


def test_per_op_json_on_qemu(tiny) -> None:
    r = tiny.json("bench", "--per-op", model_path("digits_cnn"))
    compiled = compile_image(model_bytes("digits_cnn"))
    assert [row["op"] for row in r["rows"]] == [o["op"] for o in compiled.op_table]
    assert r["arena_bytes"] == compiled.arena_bytes and r["macs"] == 9024
    assert all(row["instructions"] > 0 for row in r["rows"])
    # the ops run alone add up to the whole invoke (bench overhead aside)
    assert 0.95 * r["instructions"] <= sum(row["instructions"] for row in r["rows"]) <= 1.05 * r["instructions"]
    conv = r["rows"][0]
    assert conv["op"] == "CONV_2D" and conv["macs"] == 4608 and conv["output"] == [1, 8, 8, 8]
    assert conv["instructions_per_mac"] == round(conv["instructions"] / 4608, 3)
    assert abs(sum(row["share"] for row in r["rows"]) - 1) < 0.01


def test_per_op_table_and_input_file(tiny, tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(64))
    out = tiny("bench", "--per-op", model_path("digits_cnn"), "--input", zeros)
    assert "instructions" in out.output and "MAX_POOL_2D" in out.output and "FULLY_CONNECTED" in out.output
    x = np.random.default_rng(1).integers(-128, 128, 64, dtype=np.int8).tobytes()
    prof = profile_ops(model_bytes("digits_cnn"), x)
    assert len(prof.rows) == 6 and prof.instructions_per_mac == round(prof.instructions / 9024, 3)
    short = tmp_path / "short.bin"
    short.write_bytes(bytes(10))
    bad = tiny("bench", "--per-op", model_path("digits_cnn"), "--input", short, ok=False)
    assert bad.exit_code == 1 and "64" in bad.output


def test_bench_needs_port_or_per_op(tiny) -> None:
    assert tiny("bench", ok=False).exit_code == 2
    assert tiny("bench", "--port", "socket://127.0.0.1:1", "--per-op", "x.tflite", ok=False).exit_code == 2
