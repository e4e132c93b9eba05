"""Field samples → labelled dataset with lineage → retrain on the union → new linked version."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from fixtures_builds import trained_template, trained_ws  # noqa: F401

from tinyops.errors import InputError, NotFoundError
from tinyops.monitor.window import WindowAccumulator
from tinyops.pipeline import retrain
from tinyops.registry import datasets, models, runs
from tinyops.registry import telemetry as tel

MANIFEST = {"build": "b0b0b0b0b0b0b0b0", "labels": [str(i) for i in range(10)],
            "outputs": [{"scale": None, "zero_point": None}], "baseline": {"features": []}}


def field_windows(ws, n_windows=3, per=20):
    dv = datasets.resolve(ws, "digits@1")
    a = datasets.load_arrays(ws, dv)
    X = np.stack([a[f"p{i}"] for i in range(64)], axis=-1)
    truth = {}
    wins = []
    rng = np.random.default_rng(0)
    for k in range(n_windows):
        acc = WindowAccumulator(MANIFEST, f"pi-{k}", reservoir=8, seed=k)
        for _ in range(per):
            i = int(rng.integers(len(X)))
            x = (X[i] * 0.8 + 2.0)[None, :]  # a sensor that reads brighter and flatter
            y = np.eye(10)[int(a["label"][i])]
            acc.observe(x, y, 0.001)
        wins.append(acc.snapshot())
    tel.store_batch(ws, wins, [])
    for w in tel.load_windows(ws, with_samples=True):
        for j, s in enumerate(w.sample):
            truth[f"w{w.id}-{j}"] = s["pred"]  # the test's ground truth: the one-hot label it fed
    return truth


def test_field_samples_to_dataset_to_retrained_model(trained_ws, tmp_path):  # noqa: F811
    ws = trained_ws
    truth = field_windows(ws)
    out = tmp_path / "samples.csv"
    info = retrain.export_samples(ws, out)
    assert info["samples"] == 24 and info["devices"] == ["pi-0", "pi-1", "pi-2"]
    rows = list(csv.DictReader(out.open()))
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample", "label"])
        for r in rows:
            w.writerow([r["sample"], truth[r["sample"]]])
    dv, created = retrain.field_dataset(ws, "digits-field", labels)
    assert created and dv.rows == 24
    assert "devices pi-0,pi-1,pi-2" in dv.source and "windows" in dv.source
    arr = datasets.load_arrays(ws, dv)
    assert arr["x"].shape == (24, 64) and set(arr["device"]) == {"pi-0", "pi-1", "pi-2"}

    res = retrain.retrain(ws, "digits@1", [dv.ref])
    assert res["model"] == "digits@2" and res["previous"] == "digits@1"
    assert models.resolve(ws, "digits@2").parent == "digits@1"
    union = datasets.resolve(ws, res["dataset"])
    assert union.rows == datasets.resolve(ws, "digits@1").rows + 24
    assert union.parents == ["digits@1", dv.ref]
    ua, oa = datasets.load_arrays(ws, union), datasets.load_arrays(ws, datasets.resolve(ws, "digits@1"))
    assert np.array_equal(ua["X"][:5, 10], oa["p10"][:5].astype(np.float32))  # input order kept (not p0, p1, p10…)
    assert np.allclose(ua["X"][-24:], arr["x"])
    run = runs.get(ws, res["run"])
    assert run.params["retrained_from"] == "digits@1" and run.datasets == [union.ref]
    assert run.recipe["architecture"] == runs.get(ws, models.resolve(ws, "digits@1").run_id).recipe["architecture"]


def test_wrong_schema_and_bad_labels_write_nothing(trained_ws, tmp_path):  # noqa: F811
    ws = trained_ws
    wrong, _ = datasets.add_arrays(ws, "other", {"x": np.zeros((5, 10), np.float32), "label": np.array(["1"] * 5)},
                                   source="field samples: devices x")
    nolabel, _ = datasets.add_arrays(ws, "other2", {"a": np.zeros((5, 3))}, source="manual")
    with pytest.raises(InputError, match="wrong schema"):
        retrain.retrain(ws, "digits@1", [nolabel.ref])
    badlab, _ = datasets.add_arrays(ws, "other3", {"x": np.zeros((5, 64), np.float32), "label": np.array(["cat"] * 5)},
                                    source="field samples: devices y")
    n_ds, n_models = len(datasets.list_versions(ws)), len(models.list_versions(ws, "digits"))
    with pytest.raises(InputError, match="shape"):
        retrain.retrain(ws, "digits@1", [wrong.ref])
    with pytest.raises(InputError, match="not classes"):
        retrain.retrain(ws, "digits@1", [badlab.ref])
    assert len(datasets.list_versions(ws)) == n_ds and len(models.list_versions(ws, "digits")) == n_models
    labels = tmp_path / "l.csv"
    labels.write_text("sample,label\nw999-0,3\n")
    with pytest.raises(NotFoundError):
        retrain.field_dataset(ws, "f", labels)
    labels.write_text("id,label\n")
    with pytest.raises(InputError):
        retrain.field_dataset(ws, "f", labels)
