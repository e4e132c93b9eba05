"""Feature transforms (tinyops.ml.features): shapes, values against plain numpy, determinism, alignment."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinyops.errors import InputError
from tinyops.ml import features as F

RNG = np.random.default_rng(7)
X3 = RNG.normal(2.0, 3.0, size=(6, 40, 3))  # (N, T, C) samples
Y3 = np.array([0, 1, 2, 1, 0, 2])


def window(size: int, stride: int | None = None, **extra) -> dict:
    params = {"size": size, **({"stride": stride} if stride else {}), **extra}
    return {"kind": "sliding_window", "params": params}


def test_window_per_sample_shapes_values_and_labels() -> None:
    out = F.apply(window(10, 5), {"X": X3, "y": Y3})
    W = (40 - 10) // 5 + 1
    assert out["X"].shape == (6 * W, 10, 3) and out["X"].dtype == np.float32
    for n in range(6):
        for w in range(W):
            np.testing.assert_array_equal(out["X"][n * W + w], X3[n, w * 5: w * 5 + 10].astype(np.float32))
            assert out["y"][n * W + w] == Y3[n]  # every window keeps its sample's label
    assert out["y"].dtype == Y3.dtype


def test_window_long_signal_label_last_and_majority() -> None:
    sig = np.arange(30, dtype=np.float64).reshape(15, 2)  # (T, C)
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0, 0])
    names = np.array(["a", "b", "c"])  # not per-step: passes through unchanged
    last = F.apply(window(4, 3), {"X": sig, "y": labels, "names": names})
    starts = [0, 3, 6, 9]
    assert last["X"].shape == (4, 4, 2)
    for i, s in enumerate(starts):
        np.testing.assert_array_equal(last["X"][i], sig[s: s + 4])
    assert last["y"].tolist() == [labels[s + 3] for s in starts]
    np.testing.assert_array_equal(last["names"], names)
    maj = F.apply(window(4, 3, label="majority"), {"X": sig, "y": labels})
    expected = [np.bincount(labels[s: s + 4]).argmax() for s in starts]
    assert maj["y"].tolist() == expected


def test_window_default_stride_is_size_and_1d_signal() -> None:
    out = F.apply(window(5), {"X": np.arange(12.0)})
    assert out["X"].tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_standardize_fit_and_apply_matches_numpy() -> None:
    params = F.fit("standardize", {"fit_on": "d@1"}, {"X": X3})
    flat = X3.reshape(-1, 3)
    np.testing.assert_allclose(params["mean"]["X"], flat.mean(0))
    np.testing.assert_allclose(params["std"]["X"], flat.std(0))
    other = RNG.normal(size=(4, 40, 3))
    out = F.apply({"kind": "standardize", "params": params}, {"X": other, "y": Y3[:4]})
    np.testing.assert_allclose(out["X"], ((other - flat.mean(0)) / flat.std(0)).astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(out["y"], Y3[:4])


def test_standardize_constant_feature_is_zero_not_nan() -> None:
    X = np.stack([np.full(10, 5.0), np.arange(10.0)], axis=1)
    params = F.fit("standardize", {}, {"X": X})
    out = F.apply({"kind": "standardize", "params": params}, {"X": X})["X"]
    assert np.all(out[:, 0] == 0) and np.isfinite(out).all()


def test_standardize_given_state_and_wrong_width() -> None:
    d = {"kind": "standardize", "params": {"mean": [1.0, 2.0, 3.0], "std": [1.0, 2.0, 4.0]}}
    out = F.apply(d, {"X": X3})["X"]
    np.testing.assert_allclose(out, ((X3 - [1, 2, 3]) / [1, 2, 4]).astype(np.float32), rtol=1e-6)
    with pytest.raises(InputError, match="'X' has 2 features on its last axis, but mean/std were fitted on 3"):
        F.apply(d, {"X": X3[..., :2]})


def test_fft_bins_matches_reference_loop() -> None:
    out = F.apply({"kind": "fft_bins", "params": {"n_bins": 5}}, {"X": X3, "y": Y3})["X"]
    T = 40
    F_ = T // 2 + 1
    edges = [int(np.floor(i * F_ / 5)) for i in range(6)]
    ref = np.zeros((6, 5, 3))
    for n in range(6):
        for c in range(3):
            mag = np.abs(np.fft.fft(X3[n, :, c]))[:F_] / T
            for b in range(5):
                ref[n, b, c] = mag[edges[b]: edges[b + 1]].mean()
    assert out.shape == (6, 5, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_fft_finds_the_tone_and_drop_dc() -> None:
    t = np.arange(64)
    tone = 3.0 + np.sin(2 * np.pi * 8 * t / 64)  # DC 3, tone at frequency index 8
    full = F.apply({"kind": "fft_bins", "params": {"n_bins": 33}}, {"X": tone[None]})["X"][0]
    assert np.argmax(full) == 0 and full[0] == pytest.approx(3.0) and full[8] == pytest.approx(0.5)
    nodc = F.apply({"kind": "fft_bins", "params": {"n_bins": 32, "drop_dc": True}}, {"X": tone[None]})["X"][0]
    assert np.argmax(nodc) == 7


def test_clip_and_scale() -> None:
    x = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
    clip = F.apply({"kind": "clip_scale", "params": {"low": -2, "high": 2}}, {"X": x})["X"]
    assert clip.tolist() == [-2, -1, 0, 1, 2]
    scaled = F.apply({"kind": "clip_scale", "params": {"low": -2, "high": 2, "out_low": 0, "out_high": 1}}, {"X": x})
    np.testing.assert_allclose(scaled["X"], [0, 0.25, 0.5, 0.75, 1])


def test_multiple_keys_transform_each_named_array() -> None:
    arrays = {"a": np.array([1.0, 9.0]), "b": np.array([-9.0, 0.5]), "y": np.array([0, 1])}
    out = F.apply({"kind": "clip_scale", "params": {"low": 0, "high": 1, "key": ["a", "b"]}}, arrays)
    assert out["a"].tolist() == [1, 1] and out["b"].tolist() == [0, 0.5] and out["y"].tolist() == [0, 1]


def test_deterministic_across_processes() -> None:
    """Same definition, same bytes out — also in a fresh interpreter (what the agent does)."""
    d = {"kind": "fft_bins", "params": {"n_bins": 4}}
    x = np.linspace(-1, 1, 2 * 16 * 2).reshape(2, 16, 2)
    here = F.apply(d, {"X": x})["X"].tobytes().hex()
    code = ("import numpy as np; from tinyops.ml import features as F; "
            "x=np.linspace(-1,1,64).reshape(2,16,2); "
            "print(F.apply({'kind':'fft_bins','params':{'n_bins':4}},{'X':x})['X'].tobytes().hex()); "
            "import sys; print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [here, "False"]  # identical, and no TensorFlow imported
    assert F.apply(d, {"X": x})["X"].tobytes().hex() == here


def test_code_hash_is_stable_and_differs_by_kind() -> None:
    hashes = {k: F.code_hash(k) for k in F.KINDS}
    assert len(set(hashes.values())) == len(F.KINDS)
    assert hashes["standardize"] == F.code_hash("standardize")


@pytest.mark.parametrize("kind, params, match", [
    ("nope", {}, "unknown feature kind 'nope'"),
    ("sliding_window", {}, "'size' is missing"),
    ("sliding_window", {"size": 0}, "'size' must be at least 1"),
    ("sliding_window", {"size": 2.5}, "'size' must be a whole number"),
    ("sliding_window", {"size": 4, "colour": 1}, "'colour' is not known"),
    ("sliding_window", {"size": 4, "label": "mode"}, "'label' must be one of last, majority"),
    ("standardize", {}, "'fit_on' is missing"),
    ("standardize", {"mean": [1.0]}, "'std' is missing"),
    ("standardize", {"mean": [1.0], "std": [-1.0]}, "'std' must not be negative"),
    ("fft_bins", {"n_bins": True}, "'n_bins' must be a whole number"),
    ("clip_scale", {"low": 1, "high": 0}, "'high' must be greater than low"),
    ("clip_scale", {"low": 0, "high": 1, "out_low": 0}, "'out_high' is missing"),
    ("clip_scale", {"low": 0, "high": 1, "key": []}, "'key' must be an array name"),
])
def test_bad_params_name_the_key(kind: str, params: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        F.validate(kind, params)


@pytest.mark.parametrize("definition, arrays, match", [
    (window(50), {"X": X3}, "size 50 is longer than the time axis"),
    (window(4), {"Z": X3}, "no array 'X' \\(it has: Z\\)"),
    (window(4), {"X": np.array(["a", "b", "c", "d"])}, "not numeric"),
    ({"kind": "fft_bins", "params": {"n_bins": 30}}, {"X": X3}, "n_bins 30 exceeds the 21 frequencies"),
    ({"kind": "fft_bins", "params": {"n_bins": 3}}, {"X": np.arange(8.0)}, "cut a long signal with sliding_window"),
    ({"kind": "standardize", "params": {"fit_on": "d@1"}}, {"X": X3}, "no fitted state"),
])
def test_bad_data_is_a_clear_error(definition: dict, arrays: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        F.apply(definition, arrays)
