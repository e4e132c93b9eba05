"""Models tinyops did not train: register, convert to int8, evaluate; bad input leaves nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest


def _data(tmp: Path, n: int = 240) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    X = (rng.normal(0, 0.3, (n, 12)) + y[:, None] * 2.0).astype(np.float32)
    csv = tmp / "d.csv"
    csv.write_text("," .join([f"f{i}" for i in range(12)] + ["cls"]) + "\n"
                   + "".join(",".join(f"{v:.4f}" for v in row) + f",{c}\n" for row, c in zip(X, y)))
    return csv, X, y


def _counts(root: Path) -> tuple[int, int, int]:
    with sqlite3.connect(root / ".tinyops/registry.db") as c:
        m = c.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0]
        v = c.execute("SELECT COUNT(*) FROM variants").fetchone()[0]
    blobs = sum(1 for p in (root / ".tinyops/blobs").rglob("*") if p.is_file())
    return m, v, blobs


@pytest.fixture(scope="module")
def user_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    d = tmp_path_factory.mktemp("user-models")
    _, X, y = _data(d)
    keras.utils.set_random_seed(1)
    # A functional model with two branches, batch size left unset.
    inp = keras.Input((12,))
    a = keras.layers.Dense(16, activation="relu")(inp)
    b = keras.layers.Dense(8, activation="tanh")(inp)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([a, b]))
    two = keras.Model(inp, out)
    two.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    two.fit(X, y, epochs=60, verbose=0)
    two.save(d / "two.keras")
    # A Conv1D model over (12 steps, 1 channel).
    seq = keras.Sequential([keras.Input((12, 1)), keras.layers.Conv1D(4, 3, activation="relu"),
                            keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    seq.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    seq.fit(X[..., None], y, epochs=60, verbose=0)
    seq.save(d / "conv1d.keras")
    # A .tflite made directly with the TFLite converter (full int8).
    conv = tf.lite.TFLiteConverter.from_keras_model(two)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[None]] for x in X[:100])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    (d / "own_int8.tflite").write_bytes(conv.convert())
    return {"two": d / "two.keras", "conv1d": d / "conv1d.keras", "tflite": d / "own_int8.tflite"}


def test_keras_models_made_elsewhere_convert_and_evaluate(tiny, tmp_path: Path, user_models: dict[str, Path]) -> None:
    csv, _, _ = _data(tmp_path)
    tiny("data", "add", "d", str(csv))
    for name in ("two", "conv1d"):
        reg = tiny.json("model", "register", name, str(user_models[name]), "--data", "d@1", "--inputs", "f*",
                        "--label", "cls")
        assert reg["format"] == "keras" and reg["expects"]["label"] == "cls"
        conv = tiny.json("convert", f"{name}@1", "--quant", "int8", "--calibration", "d@1")
        assert conv["quant"] == "int8" and conv["calibration"] == "d@1"
        ev = tiny.json("evaluate", f"{name}@1:int8", "--data", "d@1")
        assert ev["accuracy"] > 0.9 and abs(ev["accuracy_delta"]) < 5, (name, ev)
        assert ev["float_accuracy"] > 0.9
    # Registered without --data: convert needs --calibration and says so.
    tiny("model", "register", "bare", str(user_models["two"]))
    res = tiny("convert", "bare@1", "--quant", "int8", code=1)
    assert "--calibration" in res.output and "Traceback" not in res.output
    # d@1 has no `label` column, so all 13 numeric columns are inputs: a clear mismatch, no variant.
    res = tiny("convert", "bare@1", "--quant", "int8", "--calibration", "d@1", code=1)
    assert "13 values" in res.output and "wants 12" in res.output


def test_tflite_from_another_toolchain_is_a_variant_at_once(tiny, tmp_path: Path, user_models: dict[str, Path]) -> None:
    csv, _, _ = _data(tmp_path)
    tiny("data", "add", "d", str(csv))
    reg = tiny.json("model", "register", "own", str(user_models["tflite"]), "--data", "d@1", "--label", "cls")
    assert reg["format"] == "tflite" and reg["variant"] == "own@1:int8"
    ev = tiny.json("evaluate", "own@1:int8", "--data", "d@1")
    assert ev["accuracy"] > 0.9 and ev["agreement_with"] == "tflm"
    res = tiny("convert", "own@1", "--quant", "int8", code=1)
    assert "own@1:int8" in res.output


def test_bad_input_leaves_nothing(tiny, tmp_path: Path, user_models: dict[str, Path]) -> None:
    csv, _, _ = _data(tmp_path)
    tiny("data", "add", "d", str(csv))
    before = _counts(tiny.root)
    (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "x.keras").write_text("hello")
    cases = [["model", "register", "m", str(tmp_path / "junk.tflite")],
             ["model", "register", "m", str(tmp_path / "notamodel")],
             ["model", "register", "m", str(tmp_path / "x.keras")],
             ["model", "register", "m", str(tmp_path / "missing.keras")],
             ["model", "register", "m", str(user_models["two"]), "--data", "d@1", "--label", "nope"],
             ["model", "register", "m", str(user_models["two"]), "--data", "d@1", "--inputs", "zz*"],
             ["model", "register", "m", str(user_models["two"]), "--data", "nothere@1"]]
    for args in cases:
        res = tiny(*args, code=1)
        assert res.output.startswith("Error: ") and len(res.output.strip().splitlines()) == 1, res.output
    assert _counts(tiny.root) == before
    # A model whose input does not match the calibration rows: clear error, no variant.
    tiny("model", "register", "c", str(user_models["conv1d"]))
    tiny("data", "add", "small", str(_small(tmp_path)))
    before = _counts(tiny.root)
    res = tiny("convert", "c@1", "--quant", "int8", "--calibration", "small@1", code=1)
    assert "calibration samples have 2 values" in res.output, res.output
    assert _counts(tiny.root) == before


def _small(tmp: Path) -> Path:
    p = tmp / "small.csv"
    p.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20)))
    return p
