"""Conversion to float32/float16/dynamic/int8 variants; reuse; calibration recorded; bad input."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from fixtures_trained import Trained, fresh_trained_workspace  # noqa: F401 - pytest fixture

from tinyops.errors import InputError, NotFoundError
from tinyops.ml.convert import convert
from tinyops.registry import datasets, models, runs, variants


def _second_version(ws) -> str:
    """digits@2: the same trained artifact and run, but no variants yet."""
    mv = models.resolve(ws, "digits@1")
    return models.register(ws, "digits", models.artifact_bytes(ws, mv), run_id=mv.run_id).ref


def test_quantizations_sizes_and_reuse(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    f32 = convert(ws, "digits@1", "float32")
    dyn = convert(ws, "digits@1", "dynamic")
    assert f32.created and dyn.created and f32.ref == "digits@1:float32"
    int8 = convert(ws, "digits@1", "int8")
    assert not int8.created  # the fixture made it; same request → same variant
    assert int8.size_bytes < f32.size_bytes and dyn.size_bytes < f32.size_bytes
    again = convert(ws, "digits@1", "float32")
    assert not again.created and again.sha256 == f32.sha256
    v = variants.get(ws, "digits@1:int8")
    assert [t["dtype"] for t in v.details["inputs"] + v.details["outputs"]] == ["int8", "int8"]
    assert v.calibration == "digits@1" and v.params["samples"] == 200 and "digits@1:train" in v.params["rows"]


def test_int8_with_explicit_calibration_is_recorded(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    ref = _second_version(ws)
    calls: list[tuple[int, int]] = []
    r = convert(ws, ref, "int8", calibration="digits@1", samples=50, progress=lambda d, t: calls.append((d, t)))
    assert r.created and r.calibration == "digits@1" and r.arena_bytes
    assert calls and calls[-1] == (50, 50) and all(t == 50 for _, t in calls)  # one tick per calibration sample
    v = variants.get(ws, r.ref)
    assert v.params == {"samples": 50, "rows": "digits@1:all (50 samples)"}


def test_bad_input_registers_nothing(fresh_trained_workspace: Trained, tmp_path) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    ref = _second_version(ws)
    small = tmp_path / "small.csv"
    small.write_text("p0,p1,p2,label\n" + "\n".join(f"{i},{i},{i},{i % 2}" for i in range(20)) + "\n")
    datasets.add_file(ws, "small", small)
    before = len(variants.list_variants(ws))
    with pytest.raises(InputError, match="cannot be reshaped"):
        convert(ws, ref, "int8", calibration="small@1")  # calibration data of the wrong shape
    with pytest.raises(InputError, match="only applies to --quant int8"):
        convert(ws, ref, "float32", calibration="digits@1")
    with pytest.raises(InputError, match="at least 1"):
        convert(ws, ref, "int8", samples=0)
    with pytest.raises(InputError, match="unknown quantization"):
        convert(ws, ref, "int4")
    with pytest.raises(NotFoundError):
        convert(ws, "digits@9", "int8")
    with pytest.raises(NotFoundError):
        convert(ws, ref, "int8", calibration="nothing@1")
    assert len(variants.list_variants(ws)) == before


def test_model_without_run_or_data_asks_for_calibration(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    mv = models.resolve(ws, "digits@1")
    other = models.register(ws, "loose", models.artifact_bytes(ws, mv))
    with pytest.raises(InputError, match="registered without data.*--calibration DATA@V"):
        convert(ws, other.ref, "int8")
    assert variants.list_variants(ws, "loose") == []
    assert len(runs.list_runs(ws)) == 1


def test_cli_convert_json_reuses_without_tensorflow(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k != "TINYOPS_HOME"}
    out = subprocess.run(["tinyops", "--workspace", str(fresh_trained_workspace.root), "convert", "digits@1",
                          "--quant", "int8", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ref"] == "digits@1:int8" and data["size_bytes"] > 0 and data["created"] is False
    bad = subprocess.run(["tinyops", "--workspace", str(fresh_trained_workspace.root), "convert", "nope@1"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 1 and "no model named 'nope'" in bad.stderr
