"""Feature store (tinyops.registry.features and `tinyops feature`): versions, dedupe, search, revert, apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyops.errors import ConflictError, InputError, NotFoundError, TinyOpsError
from tinyops.ml import features as transforms
from tinyops.ml import feature_defs
from tinyops.registry import datasets, features
from paths import DOCS

RNG = np.random.default_rng(3)
X = RNG.normal(1.5, 2.0, size=(12, 40, 3))
Y = np.arange(12) % 3

STD = {"kind": "standardize", "description": "Zero-mean unit-variance IMU channels",
       "tags": ["imu", "scaling"], "params": {"fit_on": "act@1", "key": "X"}}
WIN = {"kind": "sliding_window", "description": "Half-second windows", "tags": ["imu", "window"],
       "params": {"size": 10, "stride": 5}}


@pytest.fixture
def act(ws) -> datasets.DatasetVersion:
    dv, _ = datasets.add_arrays(ws, "act", {"X": X, "y": Y}, source="test")
    return dv


def count(ws) -> int:
    return ws.db.execute("SELECT COUNT(*) FROM features").fetchone()[0]


def test_add_versions_and_dedupes_the_same_spec(ws, act) -> None:
    v1, created = feature_defs.add(ws, "imu-std", STD)
    assert created and v1.ref == "imu-std@1" and v1.fit_dataset == "act@1" and feature_defs.code_current(v1)
    flat = X.reshape(-1, 3)
    np.testing.assert_allclose(v1.params["mean"]["X"], flat.mean(0))
    np.testing.assert_allclose(v1.params["std"]["X"], flat.std(0))
    # Same spec again — also spelled differently (tag order, unpinned dataset, key as a list).
    again, created = feature_defs.add(ws, "imu-std", {**STD, "tags": ["scaling", "imu", "imu"],
                                                  "params": {"fit_on": "act", "key": ["X"]}})
    assert not created and again.ref == "imu-std@1" and count(ws) == 1
    v2, created = feature_defs.add(ws, "imu-std", {**STD, "description": "Standardized IMU"})
    assert created and v2.version == 2 and features.resolve(ws, "imu-std").version == 2
    # Back to the first spec: reuses @1 rather than duplicating it.
    assert feature_defs.add(ws, "imu-std", STD) == (features.resolve(ws, "imu-std@1"), False)


def test_new_data_version_means_a_new_fit(ws, act) -> None:
    spec = {**STD, "params": {"fit_on": "act"}}
    v1, _ = feature_defs.add(ws, "imu-std", spec)
    datasets.add_arrays(ws, "act", {"X": X * 2, "y": Y}, source="test")
    v2, created = feature_defs.add(ws, "imu-std", spec)
    assert created and v2.fit_dataset == "act@2"
    np.testing.assert_allclose(v2.params["mean"]["X"], np.array(v1.params["mean"]["X"]) * 2)


def test_code_change_is_visible_and_makes_a_new_version(ws, act) -> None:
    v1, _ = feature_defs.add(ws, "win", WIN)
    assert v1.code_sha256 == transforms.code_hash("sliding_window")
    # As if @1 had been defined by an older release whose window code differed
    # (its identity hash covers that code hash, so it differs too).
    ws.db.execute("UPDATE features SET code_sha256 = 'old', sha256 = 'old-identity' WHERE name = 'win'")
    assert not feature_defs.code_current(features.resolve(ws, "win@1"))
    v2, created = feature_defs.add(ws, "win", WIN)
    assert created and v2.version == 2 and feature_defs.code_current(v2)


def test_search_name_description_tags(ws, act) -> None:
    feature_defs.add(ws, "imu-std", STD)
    feature_defs.add(ws, "win", WIN)
    feature_defs.add(ws, "spectrum", {"kind": "fft_bins", "description": "Vibration energy per band",
                                  "tags": ["audio"], "params": {"n_bins": 4}})
    refs = lambda q: sorted(fv.ref for fv in features.search(ws, q))  # noqa: E731
    assert refs("imu") == ["imu-std@1", "win@1"]  # tag (and name)
    assert refs("vibration") == ["spectrum@1"]  # description
    assert refs("spect") == ["spectrum@1"]  # prefix of the name
    assert refs("imu window") == ["win@1"]  # every word must match
    assert refs('imu" OR "audio') == []  # FTS operators in user text are just words
    assert refs("nothing-like-this") == []
    with pytest.raises(InputError, match="nothing to search for"):
        features.search(ws, "  -- ")


def test_revert_keeps_history(ws, act) -> None:
    v1, _ = feature_defs.add(ws, "win", WIN)
    feature_defs.add(ws, "win", {**WIN, "params": {"size": 20}})
    v3 = feature_defs.revert(ws, "win", 1)
    assert v3.version == 3 and v3.reverted_from == 1 and v3.params == v1.params and v3.sha256 == v1.sha256
    assert [fv.version for fv in features.list_versions(ws, "win")] == [1, 2, 3]
    assert features.resolve(ws, "win").version == 3
    assert [fv.ref for fv in features.list_features(ws)] == ["win@3"]
    with pytest.raises(ConflictError, match="already the current version"):
        feature_defs.revert(ws, "win", 3)
    with pytest.raises(NotFoundError, match="win has versions 1, 2, 3"):
        feature_defs.revert(ws, "win", 9)
    assert count(ws) == 3


def test_apply_materialises_a_dataset_version_with_lineage(ws, act) -> None:
    feature_defs.add(ws, "imu-std", STD)
    feature_defs.add(ws, "win", WIN)
    std_dv, created = feature_defs.apply(ws, features.resolve(ws, "imu-std@1"), datasets.resolve(ws, "act@1"))
    assert created and std_dv.ref == "act.imu-std@1"
    assert std_dv.parents == ["act@1"] and std_dv.feature == "imu-std@1"
    got = datasets.load_arrays(ws, std_dv)
    flat = X.reshape(-1, 3)
    np.testing.assert_allclose(got["X"], ((X - flat.mean(0)) / flat.std(0)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["y"], Y)
    # Chain: window the standardized data; labels stay with their samples.
    win_dv, _ = feature_defs.apply(ws, features.resolve(ws, "win"), datasets.resolve(ws, std_dv.ref), name="act-windows")
    assert win_dv.ref == "act-windows@1" and win_dv.parents == ["act.imu-std@1"] and win_dv.feature == "win@1"
    w = datasets.load_arrays(ws, win_dv)
    assert w["X"].shape == (12 * 7, 10, 3) and w["y"].tolist() == np.repeat(Y, 7).tolist()
    np.testing.assert_array_equal(w["X"][7 * 5 + 2], got["X"][5, 10:20])
    # Same feature on the same data again: the same version, nothing new.
    assert feature_defs.apply(ws, features.resolve(ws, "imu-std@1"), datasets.resolve(ws, "act@1"))[1] is False
    assert [dv.version for dv in datasets.list_versions(ws, "act.imu-std")] == [1]


def test_apply_bad_input_writes_nothing(ws, act) -> None:
    feature_defs.add(ws, "big", {"kind": "sliding_window", "params": {"size": 100}})
    before = len(datasets.list_versions(ws))
    with pytest.raises(InputError, match="size 100 is longer than the time axis"):
        feature_defs.apply(ws, features.resolve(ws, "big@1"), datasets.resolve(ws, "act@1"))
    with pytest.raises(NotFoundError):
        feature_defs.apply(ws, features.resolve(ws, "big@1"), datasets.resolve(ws, "nope@1"))
    with pytest.raises(NotFoundError, match="no feature named 'ghost'"):
        feature_defs.apply(ws, features.resolve(ws, "ghost"), datasets.resolve(ws, "act@1"))
    assert len(datasets.list_versions(ws)) == before


@pytest.mark.parametrize("spec, error, match", [
    ({**STD, "colour": "red"}, InputError, "unknown key 'colour'"),
    ({"description": "x"}, InputError, "has no 'kind'"),
    ({"kind": "pca"}, InputError, "unknown feature kind 'pca'"),
    ({"kind": "sliding_window", "params": {}}, InputError, "'size' is missing"),
    ({"kind": "sliding_window", "params": {"size": "ten"}}, InputError, "'size' must be a whole number"),
    ({"kind": "clip_scale", "params": {"low": 0, "high": 1, "scale": 2}}, InputError, "'scale' is not known"),
    ({**STD, "tags": "imu"}, InputError, "'tags' must be a list"),
    ({**STD, "params": {"fit_on": "missing@1"}}, NotFoundError, "no dataset named 'missing'"),
    ({**STD, "params": {"fit_on": "act@1", "key": "acc"}}, InputError, "no array 'acc' \\(it has: X, y\\)"),
])
def test_bad_specs_change_nothing(ws, act, spec: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        feature_defs.add(ws, "f", spec)
    assert count(ws) == 0
    assert feature_defs.add(ws, "f", WIN)[0].version == 1  # no version number was consumed


def test_load_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        feature_defs.load_spec(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "standardize\n')
    with pytest.raises(InputError, match="bad.toml is not valid TOML"):
        feature_defs.load_spec(bad)


# ---- CLI -----------------------------------------------------------------------
SPEC_TOML = '''kind = "standardize"
description = "Zero-mean unit-variance IMU channels"
tags = ["imu", "scaling"]
[params]
fit_on = "act@1"
key = "X"
'''


def test_cli_round_trip(tiny, act, tmp_path: Path) -> None:
    spec = tmp_path / "imu-std.toml"
    spec.write_text(SPEC_TOML)
    added = tiny.json("feature", "add", "imu-std", "--spec", spec)
    assert (added["name"], added["version"], added["created"]) == ("imu-std", 1, True) and len(added["sha256"]) == 64
    again = tiny("feature", "add", "imu-std", "--spec", spec)
    assert "already imu-std@1" in again.output and "reused the existing version" in again.output
    spec.write_text(SPEC_TOML.replace("Zero-mean", "Zero mean"))
    assert tiny.json("feature", "add", "imu-std", "--spec", spec)["version"] == 2
    assert [r["version"] for r in tiny.json("feature", "list", "imu-std")] == [1, 2]
    assert [r["ref"] for r in tiny.json("feature", "list")] == ["imu-std@2"]
    shown = tiny.json("feature", "show", "imu-std@1")
    assert shown["params"]["fit_on"] == "act@1" and len(shown["params"]["mean"]["X"]) == 3
    assert "fitted on    act@1" in tiny("feature", "show", "imu-std@1").output
    assert [r["ref"] for r in tiny.json("feature", "search", "scal")] == ["imu-std@2", "imu-std@1"]
    reverted = tiny.json("feature", "revert", "imu-std", "1")
    assert (reverted["version"], reverted["reverted_from"]) == (3, 1)
    applied = tiny.json("feature", "apply", "imu-std@3", "act@1")
    assert applied["name"] == "act.imu-std" and applied["version"] == 1 and len(applied["sha256"]) == 64
    assert applied["parents"] == ["act@1"] and applied["feature"] == "imu-std@3"
    assert "Unchanged: already act.imu-std@1" in tiny("feature", "apply", "imu-std@3", "act@1").output


def test_cli_errors_and_help(tiny, act, tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('kind = "sliding_window"\n[params]\nsize = 0\n')
    res = tiny("feature", "add", "w", "--spec", spec, code=1)
    assert "Error: sliding_window: parameter 'size' must be at least 1" in res.output
    assert tiny.json("feature", "list") == []
    assert "no feature named 'w'" in tiny("feature", "show", "w@1", code=1).output
    tiny("feature", "revert", "w", "0", code=2)  # usage error
    for cmd in ("add", "list", "show", "search", "revert", "apply"):
        assert "Example:" in tiny("feature", cmd, "--help").output


def test_every_error_is_a_tinyops_error(ws) -> None:
    with pytest.raises(TinyOpsError):
        feature_defs.add(ws, "bad name!", WIN)


def test_every_example_in_the_docs_is_a_valid_spec(ws) -> None:
    import re
    import tomllib

    doc = (DOCS / "features.md").read_text()
    specs = [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", doc, re.S)]
    assert sorted(s["kind"] for s in specs) == sorted(transforms.KINDS)
    datasets.add_arrays(ws, "activity", {"X": RNG.normal(size=(4, 100, 6)), "y": np.arange(4)}, source="test")
    clips = RNG.integers(-3000, 3000, size=(2, 16000)).astype(np.int16)
    datasets.add_arrays(ws, "audio", {"X": clips, "y": np.arange(2)}, source="test")
    for i, spec in enumerate(specs):
        fv, created = feature_defs.add(ws, f"doc{i}", spec)
        assert created
        source = "audio@1" if spec["kind"] in ("log_mel", "mfcc") else "activity@1"
        dv, _ = feature_defs.apply(ws, features.resolve(ws, fv.ref), datasets.resolve(ws, source))
        assert datasets.load_arrays(ws, dv)["X"].dtype == np.float32


def test_concurrent_adds_get_distinct_versions_and_one_shared(ws) -> None:
    """3 processes add 4 distinct specs each, plus one spec they all share, to one feature name."""
    import subprocess
    import sys

    code = ("import sys; from tinyops.workspace import Workspace; from tinyops.ml import feature_defs as features\n"
            "ws = Workspace.open(sys.argv[1]); p = int(sys.argv[2])\n"
            "for i in range(4):\n"
            "    features.add(ws, 'w', {'kind': 'sliding_window', 'params': {'size': 1 + p * 10 + i}})\n"
            "    features.add(ws, 'w', {'kind': 'sliding_window', 'params': {'size': 99}})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ws.root), str(p)]) for p in range(3)]
    try:
        assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    versions = features.list_versions(ws, "w")
    assert [fv.version for fv in versions] == list(range(1, 14))
    assert sorted(fv.params["size"] for fv in versions) == sorted([1 + p * 10 + i for p in range(3) for i in range(4)] + [99])
