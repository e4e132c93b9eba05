"""Signal features are computed once per (definition, code, input): a second call reads the
per-user cache and gives the same arrays; another input or definition is another entry."""

from __future__ import annotations

import numpy as np

from tinyops.ml import feature_cache, features

MFCC = {"kind": "mfcc", "params": {"n_mels": 20, "n_mfcc": 8, "f_max": 4000.0, "arithmetic": "fixed"}}


def test_cached_signal_features_equal_computed_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TINYOPS_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    arrays = {"X": rng.integers(-3000, 3000, size=(12, 16000)).astype(np.int16), "y": np.array(["a", "b"] * 6)}
    want = features.apply(MFCC, arrays)
    first = feature_cache.apply(MFCC, arrays)
    entries = list((tmp_path / "feature-cache").glob("*.npz"))
    assert len(entries) == 1
    second = feature_cache.apply(MFCC, arrays)
    for out in (first, second):
        assert np.array_equal(out["X"], want["X"]) and out["X"].dtype == want["X"].dtype
        assert np.array_equal(out["y"], arrays["y"])
    other = dict(arrays, X=arrays["X"] + 1)
    assert not np.array_equal(feature_cache.apply(MFCC, other)["X"], want["X"])
    log_mel = {"kind": "log_mel", "params": {"n_mels": 20, "f_max": 4000.0}}
    feature_cache.apply(log_mel, arrays)
    assert len(list((tmp_path / "feature-cache").glob("*.npz"))) == 3
    entries[0].write_bytes(b"damaged")  # a broken entry is computed again
    assert np.array_equal(feature_cache.apply(MFCC, arrays)["X"], want["X"])


def test_cheap_kinds_are_not_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TINYOPS_CACHE", str(tmp_path))
    arrays = {"X": np.ones((1000, 200))}
    out = feature_cache.apply({"kind": "clip_scale", "params": {"low": 0.0, "high": 0.5}}, arrays)
    assert np.all(out["X"] == 0.5) and not (tmp_path / "feature-cache").exists()
