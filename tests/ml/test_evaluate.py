"""Evaluation: metrics, delta vs float on the same rows, LiteRT-vs-TFLM agreement, stored results."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from fixtures_trained import Trained, fresh_trained_workspace  # noqa: F401 - pytest fixture

from tinyops.errors import InputError, ModelError
from tinyops.cli.common import resolve_model
from tinyops.ml.evaluate import agreement, evaluate
from tinyops.registry import variants


def test_agreement_measures() -> None:
    a = np.array([[1, 2, 3], [4, 5, 6]], np.int8)
    b = np.array([[1, 2, 3], [4, 7, 6]], np.int8)
    r = agreement(a, b)
    assert r["max_lsb_diff"] == 2 and r["identical_share"] == 0.5 and r["identical_element_share"] == 5 / 6
    assert r["prediction_agreement"] == 0.5  # argmax of row 2 moved from 2 to 1


def test_keras_model_metrics(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    r = evaluate(ws, resolve_model(ws, "digits@1"))
    assert r["runtime"] == "keras" and r["data"] == "digits@1:test" and r["rows"] == 180
    cm = np.array(r["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 180
    assert r["accuracy"] == pytest.approx(np.trace(cm) / 180)
    assert 0.5 < r["accuracy"] <= 1.0 and 0 < r["macro_f1"] <= 1.0
    full = evaluate(ws, resolve_model(ws, "digits@1"), data="digits@1")
    assert full["rows"] == 1797 and full["data"] == "digits@1:all"


def test_int8_litert_vs_tflm_agreement_and_delta(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    lite = evaluate(ws, resolve_model(ws, "digits@1:int8"))
    assert lite["runtime"] == "litert" and lite["agreement_with"] == "tflm"
    assert lite["accuracy_delta"] == pytest.approx((lite["accuracy"] - lite["float_accuracy"]) * 100, abs=1e-3)
    assert abs(lite["accuracy_delta"]) <= 5.0
    micro = evaluate(ws, resolve_model(ws, "digits@1:int8"), runtime="tflm")
    assert micro["agreement_with"] == "litert"
    assert micro["max_lsb_diff"] == lite["max_lsb_diff"] and micro["identical_share"] == lite["identical_share"]
    assert 0.0 <= micro["identical_share"] <= 1.0 and micro["prediction_agreement"] >= 0.95
    # LiteRT's builtin (reference-style) kernels and TFLM agree to within 2 LSB
    assert micro["litert_builtin_vs_tflm"]["max_lsb_diff"] <= 2
    stored = variants.get(ws, "digits@1:int8").evaluations
    assert set(stored) == {"litert|digits@1:test", "tflm|digits@1:test"}
    assert stored["tflm|digits@1:test"]["accuracy"] == micro["accuracy"]


def test_float_variant_failing_on_tflm_is_clear_and_stores_nothing(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    with pytest.raises(ModelError, match="digits@1:float16 does not run on tflm"):
        evaluate(ws, resolve_model(ws, "digits@1:float16"), runtime="tflm")
    assert variants.get(ws, "digits@1:float16").evaluations == {}
    with pytest.raises(InputError, match="keras runs the float model"):
        evaluate(ws, resolve_model(ws, "digits@1:int8"), runtime="keras")
    with pytest.raises(InputError, match="convert first"):
        evaluate(ws, resolve_model(ws, "digits@1"), runtime="tflm")


def test_cli_evaluate_json(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k != "TINYOPS_HOME"}
    out = subprocess.run(["tinyops", "--workspace", str(fresh_trained_workspace.root), "evaluate", "digits@1:int8",
                          "--runtime", "tflm", "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("accuracy", "accuracy_delta", "macro_f1", "confusion_matrix", "identical_share", "max_lsb_diff"):
        assert key in data
    bad = subprocess.run(["tinyops", "--workspace", str(fresh_trained_workspace.root), "evaluate", "digits@1:float16",
                          "--runtime", "tflm"], capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 1 and "does not run on tflm" in bad.stderr


def test_tinyops_c_runtime_is_compared_with_tflm(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    r = evaluate(ws, resolve_model(ws, "digits@1:int8"), runtime="tinyops-c")
    assert r["runtime"] == "tinyops-c" and r["agreement_with"] == "tflm"
    assert r["max_lsb_diff"] == 0 and r["identical_share"] == 1.0  # our C runtime is bit-exact with TFLM
    assert "tinyops-c|digits@1:test" in variants.get(ws, "digits@1:int8").evaluations
