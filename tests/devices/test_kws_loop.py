"""The keyword-spotting loop on audio: a new background noise shows as drift in the
features the device computes (against the build's baseline), and retraining unions the
raw WAV datasets so the MFCCs are recomputed from one definition."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from paths import EXAMPLES

from tinyops.devices import build as device_build, feature_image
from tinyops.ml import convert, feature_defs, recipes, train
from tinyops.monitor import stats
from tinyops.pipeline import retrain
from tinyops.registry import datasets
from tinyops.cli.common import resolve_variant


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("kws-loop")
    prep = [sys.executable, str(EXAMPLES / "kws" / "prepare.py"), str(out), "--size", "tiny"]
    subprocess.run(prep + ["--splits", "train,test"], check=True, capture_output=True)
    subprocess.run(prep + ["--splits", "field", "--noise", "hum", "--snr", "0,5", "--seed", "7"], check=True,
                   capture_output=True)
    return out


def _psi(baseline: dict, values: np.ndarray) -> float:
    edges = np.asarray(baseline["bin_edges"], np.float64)
    cur = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
    base = np.asarray(baseline["counts"], np.float64)
    p, q = base / base.sum(), cur / max(cur.sum(), 1)
    return float(stats.psi(p[None], q[None], np.ones((1, len(base)), bool))[0])


def test_hum_is_drift_and_retraining_unions_raw_clips(ws, clips) -> None:
    datasets.add_file(ws, "kws", clips / "train")
    datasets.add_file(ws, "kws-test", clips / "test")
    field, _ = datasets.add_file(ws, "kws-field", clips / "field")
    feature_defs.add(ws, "kws-mfcc", feature_defs.load_spec(EXAMPLES / "kws" / "mfcc.toml"))
    recipe = recipes.load(EXAMPLES / "kws" / "recipe.toml")
    recipe["architecture"]["filters"] = [8, 8]
    recipe["train"]["epochs"] = 2
    recipe["train"].pop("early_stopping", None)
    train.train(ws, recipe)
    convert.convert(ws, "kws@1", "int8")
    man = device_build.build(ws, resolve_variant(ws, "kws@1:int8"), "qemu-mps2-an386", golden_count=2).manifest
    base = man["baseline"]["features"][0]
    inp = man["inputs"][0]

    def device_features(ref: str) -> np.ndarray:  # what the board computes, dequantized as telemetry does
        x = datasets.load_arrays(ws, datasets.resolve(ws, ref))["X"]
        q = feature_image.reference_int8(man["features"]["definition"], x, inp["scale"], inp["zero_point"])
        return (q.astype(np.float64) - inp["zero_point"]) * inp["scale"]

    clean, hum = _psi(base, device_features("kws-test@1")), _psi(base, device_features("kws-field@1"))
    assert clean < 0.2 < hum, (clean, hum)

    out = retrain.retrain(ws, "kws@1", ["kws-field@1"])
    union = datasets.resolve(ws, out["dataset"])
    arrays = datasets.load_arrays(ws, union)
    assert union.rows == datasets.resolve(ws, "kws@1").rows + field.rows
    assert arrays["X"].dtype == np.int16 and arrays["X"].shape[1] == 16000  # raw clips, features recomputed
    assert out["model"] == "kws@2" and out["previous"] == "kws@1"
