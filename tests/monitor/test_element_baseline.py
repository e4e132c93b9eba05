"""Drift on any input shape: every input element is a feature with its own bins, unless the recipe pools."""

from __future__ import annotations

import json

import numpy as np
import pytest
from paths import EXAMPLES

from tinyops.devices import golden
from tinyops.monitor.window import WindowAccumulator, validate
from tinyops.registry import datasets, runs

@pytest.fixture
def digits_ws(ws, tmp_path):
    import sys

    sys.path.insert(0, str(EXAMPLES / "digits"))
    try:
        from prepare import prepare
    finally:
        sys.path.pop(0)
    datasets.add_file(ws, "digits", prepare(tmp_path / "data"))
    return ws


SPEC = {"data": {"inputs": ["p*"], "label": "label", "reshape": [8, 8, 1], "features": []}, "dataset": "digits@1",
        "run": None}


def test_an_image_input_gets_one_feature_per_pixel_named_by_column(digits_ws):
    ws = digits_ws
    arrays = datasets.load_arrays(ws, datasets.resolve(ws, "digits@1"))
    x = np.stack([arrays[f"p{i}"] for i in range(64)], axis=1).reshape(-1, 8, 8, 1)
    b = golden.baseline(ws, SPEC, x, (8, 8, 1))
    assert b["axis"] == "element" and [f["name"] for f in b["features"]] == [f"p{i}" for i in range(64)]
    assert b["features"][19] == datasets.baseline_features(datasets.resolve(ws, "digits@1"), ["p19"])[0]
    # the device side bins pixel 19 into feature p19
    m = {"build": "abcd", "inputs": [{"shape": [1, 8, 8, 1], "dtype": "float32"}], "baseline": b, "labels": []}
    acc = WindowAccumulator(m, "pi-1")
    for row in x[:30]:
        acc.observe(row[None], np.eye(10)[0], 0.001)
    snap = acc.snapshot()
    want, _ = np.histogram(np.clip(x[:30, 2, 3, 0], *b["features"][19]["bin_edges"][::len(b["features"][19]["bin_edges"]) - 1]),
                           bins=b["features"][19]["bin_edges"])
    assert snap["histograms"]["p19"] == want.tolist()
    validate(json.dumps(snap).encode(), "pi-1", values_per_inference=1)


def test_multi_dim_arrays_are_named_by_index_and_a_recipe_can_pool(digits_ws):
    ws = digits_ws
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4, 3))
    spec = {"data": {"inputs": ["p*"], "label": "label", "reshape": [4, 3], "features": [{"x": 1}]},
            "dataset": "digits@1", "run": None}
    b = golden.baseline(ws, spec, x, (4, 3))
    assert [f["name"] for f in b["features"]][:4] == ["input[0,0]", "input[0,1]", "input[0,2]", "input[1,0]"]
    assert len(b["features"]) == 12 and b["shape"] == [4, 3]
    run = runs.start(ws, "train", recipe={"data": spec["data"], "monitor": {"pooling": "last-axis"}})
    pooled = golden.baseline(ws, {**spec, "run": run.id}, x, (4, 3))
    assert pooled["axis"] == "last" and [f["name"] for f in pooled["features"]] == ["input[0]", "input[1]", "input[2]"]
