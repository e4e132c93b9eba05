"""inspect: ops, tensors, MACs, bytes, arena and warnings — without importing TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_trained import Trained, trained_workspace  # noqa: F401 - pytest fixture

from tinyops.errors import InputError
from tinyops.ml.inspect import _warnings, inspect
from tinyops.runtimes.tflite_file import Operator, Quantization, Tensor, TFLiteModel

# fixtures_trained's CNN: conv 3x3x1→8 on 8x8, pool, conv 3x3x8→16 on 4x4, pool, dense 64→32, dense 32→10
EXPECTED_MACS = 8 * 8 * 8 * 9 * 1 + 4 * 4 * 16 * 9 * 8 + 64 * 32 + 32 * 10


@pytest.fixture(scope="module")
def int8_file(trained_workspace: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    from tinyops.registry import variants

    ws = trained_workspace.open()
    path = tmp_path_factory.mktemp("inspect") / "digits_int8.tflite"
    path.write_bytes(variants.blob_bytes(ws, variants.get(ws, trained_workspace.variant)))
    return path


def test_int8_variant(trained_workspace: Trained) -> None:  # noqa: F811
    ws = trained_workspace.open()
    info = inspect(ws, trained_workspace.variant)
    assert info["ops"] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert info["op_counts"] == {"CONV_2D": 2, "MAX_POOL_2D": 2, "RESHAPE": 1, "FULLY_CONNECTED": 2, "SOFTMAX": 1}
    assert [o["op"] for o in info["operators"]][:2] == ["CONV_2D", "MAX_POOL_2D"]  # execution order
    assert info["macs"] == EXPECTED_MACS
    assert info["parameter_bytes"] == sum(t["bytes"] for t in info["tensors"] if t["constant"])
    assert info["arena_bytes"] and info["arena_bytes"] >= info["peak_activation_bytes"]
    assert info["inputs"][0]["dtype"] == "int8" and info["inputs"][0]["shape"] == [1, 8, 8, 1]
    conv_w = next(t for t in info["tensors"] if t["constant"] and t["shape"] == [16, 3, 3, 8])
    assert conv_w["per_channel"] and len(conv_w["scale"]) == 16 and conv_w["quantized_dimension"] == 0
    assert info["warnings"] == []


def test_float16_variant_warns_that_tflm_cannot_run_it(trained_workspace: Trained) -> None:  # noqa: F811
    info = inspect(trained_workspace.open(), trained_workspace.float16_variant)
    assert "DEQUANTIZE" in info["ops"] and info["arena_bytes"] is None
    assert any("TFLite Micro could not run" in w for w in info["warnings"])


def test_warnings_for_float_ops_in_int8_models_and_ops_tflm_lacks() -> None:
    q = Quantization((0.1,), (0,))
    tensors = [Tensor(0, "in", (1, 4), "int8", 0, None, q), Tensor(1, "mid", (1, 4), "float32", 0, None, None),
               Tensor(2, "out", (1, 4), "int8", 0, None, q)]
    ops = [Operator(0, "DEQUANTIZE", 6, 1, (0,), (1,)), Operator(1, "RFFT2D", 1, 1, (1,), (1,)),
           Operator(2, "QUANTIZE", 114, 1, (1,), (2,))]
    model = TFLiteModel(3, "", tensors, ops, [0], [2], 1, 100)
    warnings = _warnings(model, [{"op": o.opcode} for o in ops])
    assert any("float op inside an int8 model: RFFT2D" in w for w in warnings)
    assert any("no kernel for RFFT2D" in w for w in warnings)
    assert not any("DEQUANTIZE (" in w for w in warnings)  # boundary ops are expected to touch floats


def test_file_without_tensorflow_and_cached_arena(int8_file: Path, tmp_path: Path) -> None:
    code = (
        "import json, sys; from tinyops.ml.inspect import inspect; "
        f"info = inspect(None, {str(int8_file)!r}); "
        "assert 'tensorflow' not in sys.modules, 'inspect imported TensorFlow'; "
        "print(json.dumps({'arena': info['arena_bytes'], 'cached': info['arena']['cached']}))"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["arena"] == b["arena"] and not a["cached"] and b["cached"]


def test_bad_files(tmp_path: Path, int8_file: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a TFLite model"):
        inspect(None, str(junk))
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(int8_file.read_bytes()[:2000])
    with pytest.raises(InputError):
        inspect(None, str(cut))
    with pytest.raises(InputError, match="does not exist"):
        inspect(None, str(tmp_path / "missing.tflite"))


def test_cli_inspect_json(int8_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TINYOPS_HOME"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run(["tinyops", "inspect", str(int8_file), "--json"], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ops"][0] == "CONV_2D" and data["macs"] == EXPECTED_MACS
    assert data["size_bytes"] == int8_file.stat().st_size and data["arena_bytes"] > 0
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    bad = subprocess.run(["tinyops", "inspect", str(junk)], capture_output=True, text=True, timeout=60, env=env,
                         cwd=tmp_path)
    assert bad.returncode == 1 and "not a TFLite model" in bad.stderr


def _runs(info: dict) -> dict[str, bool]:
    return {r["runtime"]: r["runs"] for r in info["runtimes"]}


def test_runtimes_that_can_run_the_model(trained_workspace: Trained, tmp_path: Path) -> None:  # noqa: F811
    from fixtures_tflite_ops import OpSpec, T, build

    from tinyops.runtimes.support import TFLM_OPS, tflm_firmware_ops

    ws = trained_workspace.open()
    assert all(_runs(inspect(ws, trained_workspace.variant)).values())
    f16 = _runs(inspect(ws, trained_workspace.float16_variant))
    assert not f16["tinyops-c"] and not f16["tflm"] and not f16["tflite-micro"] and f16["litert"]
    # LOG_SOFTMAX: the TFLM firmware has it, tinyops-c does not (int8 output: scale 16/256, zero point 127)
    q = dict(scale=[0.05], zero_point=[3])
    leaky = tmp_path / "log_softmax.tflite"
    leaky.write_bytes(build(OpSpec("LOG_SOFTMAX", [T((1, 8), **q)], [T((1, 8), scale=[16 / 256], zero_point=[127])])))
    info = inspect(None, str(leaky))
    rows = {r["runtime"]: r for r in info["runtimes"]}
    assert not rows["tinyops-c"]["runs"] and rows["tinyops-c"]["missing_ops"] == ["LOG_SOFTMAX"]
    assert rows["tflm"]["runs"] and rows["tflm-cmsis-nn"]["runs"] and rows["tflite-micro"]["runs"]
    # an op TFLM has but the TFLM firmware is not built with: only your own TFLM build runs it
    op = sorted(TFLM_OPS - set(tflm_firmware_ops()) & {"ABS", "NEG", "EXP"})[0]
    other = tmp_path / "other.tflite"
    other.write_bytes(build(OpSpec(op, [T((1, 8), **q)], [T((1, 8), **q)])))
    runs = _runs(inspect(None, str(other), arena=False))
    assert runs == {"tinyops-c": False, "tflm": False, "tflm-cmsis-nn": False, "tflite-micro": True, "litert": True}
    res = subprocess.run(["tinyops", "inspect", str(leaky), "--no-arena"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("tinyops-c "))
    assert line.split()[1] == "no" and "LOG_SOFTMAX" in line
