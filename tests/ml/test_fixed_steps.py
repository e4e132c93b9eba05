"""standardize / clip_scale / fft_bins / sliding_window on the device: the firmware's C code
(firmware/features/tfs_steps.c) equals the numpy integer reference bit for bit, and the
integer reference stays within the documented bound of the float transform."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tinyops.devices import feature_image, features_native
from tinyops.errors import InputError
from tinyops.ml import features, fixed_steps

Q = 2.0 ** -16
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def raw_samples(draw: st.DrawFn, max_steps: int = 96) -> np.ndarray:
    steps = draw(st.integers(2, max_steps))
    shape = (steps,) if draw(st.booleans()) else (steps, draw(st.integers(1, 6)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = draw(st.sampled_from(["full", "noise", "quiet", "zeros"]))
    n = draw(st.integers(1, 3))
    if style == "full":
        x = rng.choice([-32768, 32767], size=(n,) + shape)
    elif style == "zeros":
        x = np.zeros((n,) + shape)
    elif style == "quiet":
        x = rng.integers(-3, 4, size=(n,) + shape)
    else:
        x = rng.normal(0, 10 ** rng.uniform(0, 4.3), size=(n,) + shape)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _float(defs: list[dict], raw: np.ndarray) -> np.ndarray:
    arrays = {"X": raw.astype(np.float64)}
    for d in defs:
        arrays = features.apply(d, arrays)
    return arrays["X"].astype(np.float64)


def _check_c(defs: list[dict], raw: np.ndarray, scale: float = 0.05, zp: int = 3) -> np.ndarray:
    """The C chain equals the reference for every sample and window; returns the reference (Q16)."""
    chain = fixed_steps.compile_chain(defs, raw.shape[1:])
    ref = fixed_steps.chain_q16(chain, raw)
    ref8 = feature_image.steps_reference_int8(chain, raw, scale, zp)
    native = features_native.NativeSteps(feature_image.steps_blob(chain, scale, zp))
    assert native.windows == chain["windows"] == ref.shape[1]
    for i in range(len(raw)):
        for w in range(native.windows):
            q16, q8 = native.run(raw[i], w)
            assert np.array_equal(q16.astype(np.int64), ref[i, w].reshape(-1)), (i, w)
            assert np.array_equal(q8, ref8[i, w].reshape(-1)), (i, w)
    return ref


def _within(ref: np.ndarray, fl: np.ndarray, bound: np.ndarray) -> None:
    """The bound holds where the float value fits the device's Q16 range; beyond it both saturate."""
    bound = np.broadcast_to(bound, fl.shape)
    inside = np.abs(fl) + bound < 32768 - Q  # the largest Q16 int32 value
    assert np.all((np.abs(ref - fl) <= bound)[inside])
    assert np.all(np.abs(ref[~inside]) >= (32768 - Q - 2 * bound)[~inside])  # saturated (or at the edge)


def _standardize(raw: np.ndarray, draw: st.DrawFn) -> dict:
    n = raw.shape[-1]
    mean = draw(st.lists(st.floats(-3000, 3000), min_size=n, max_size=n))
    std = draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-2, 1e4)), min_size=n, max_size=n))
    return {"kind": "standardize", "params": {"mean": mean, "std": std}}


@SETTINGS
@given(raw_samples(), st.data())
def test_standardize_c_equals_reference_and_stays_within_bound(raw, data):
    d = _standardize(raw, data.draw)
    ref = _check_c([d], raw)[:, 0] / 65536
    fl = _float([d], raw)
    std = np.asarray(d["params"]["std"])
    k = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 1.0)
    _within(ref, fl, Q * (1 + k) + 2.0 ** -23 * np.abs(fl))


@SETTINGS
@given(raw_samples(), st.floats(-20000, 20000), st.floats(1, 20000), st.booleans(),
       st.floats(-100, 100), st.floats(0.01, 200))
def test_clip_scale_c_equals_reference_and_stays_within_bound(raw, low, width, scaled, out_low, out_width):
    params = {"low": low, "high": min(low + width, 30000.0)}
    if scaled:
        params.update(out_low=out_low, out_high=out_low + out_width)
    d = {"kind": "clip_scale", "params": params}
    ref = _check_c([d], raw)[:, 0] / 65536
    fl = _float([d], raw)
    k = out_width / (params["high"] - params["low"]) if scaled else 1.0
    _within(ref, fl, Q * (1 + k) + 2.0 ** -23 * np.abs(fl))


@SETTINGS
@given(raw_samples(max_steps=128), st.data())
def test_fft_bins_c_equals_reference_and_stays_within_bound(raw, data):
    drop_dc = data.draw(st.booleans())
    freqs = raw.shape[1] // 2 + 1 - drop_dc
    if freqs < 1:
        return
    d = {"kind": "fft_bins", "params": {"n_bins": data.draw(st.integers(1, freqs)), "drop_dc": drop_dc}}
    ref = _check_c([d], raw)[:, 0] / 65536
    fl = _float([d], raw)
    peak = np.abs(raw.astype(np.float64)).reshape(len(raw), -1).max(axis=1)
    bound = 2.0 ** -14 * (peak + 1)
    assert np.all(np.abs(ref - fl) <= bound.reshape((-1,) + (1,) * (fl.ndim - 1)))


@SETTINGS
@given(st.integers(4, 160), st.integers(1, 4), st.data())
def test_sliding_window_c_equals_reference_exactly(steps, channels, data):
    size = data.draw(st.integers(1, steps))
    stride = data.draw(st.integers(1, size + 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    raw = rng.integers(-32768, 32768, size=(2, steps, channels)).astype(np.int16)
    d = {"kind": "sliding_window", "params": {"size": size, "stride": stride}}
    ref = _check_c([d], raw) / 65536
    fl = _float([d], raw)  # (N * W, size, C), windows of a sample in order
    assert np.array_equal(ref.reshape(fl.shape), fl)


def test_an_imu_chain_runs_in_c_like_the_reference() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(0, 2000, size=(4, 100, 6)).round().astype(np.int16)
    defs = [{"kind": "sliding_window", "params": {"size": 50, "stride": 25}},
            {"kind": "standardize", "params": {"mean": [10.0, -5, 0, 3, 2, 1], "std": [2000.0, 1500, 900, 0, 1, 50]}},
            {"kind": "clip_scale", "params": {"low": -4.0, "high": 4.0, "out_low": -1.0, "out_high": 1.0}},
            {"kind": "fft_bins", "params": {"n_bins": 8, "drop_dc": True}}]
    ref = _check_c(defs, raw)
    assert ref.shape == (4, 3, 8, 6)
    fl = _float(defs, raw).reshape(ref.shape)
    assert np.abs(ref / 65536 - fl).max() < 1e-3  # each step within its bound, compounded


@pytest.mark.parametrize("defs, match", [
    ([{"kind": "clip_scale", "params": {"low": 0.0, "high": 1.0}},
      {"kind": "sliding_window", "params": {"size": 4}}], "only first"),
    ([{"kind": "clip_scale", "params": {"low": -1e6, "high": 1.0}}], "outside"),
    ([{"kind": "standardize", "params": {"mean": [0.0], "std": [1e-12]}}], "out of the device's range"),
    ([{"kind": "mfcc", "params": {}}], "cannot compute"),
])
def test_chains_a_device_cannot_run_are_refused(defs, match) -> None:
    with pytest.raises(InputError, match=match):
        fixed_steps.compile_chain(defs, (16, 1))


def test_the_c_code_refuses_a_corrupted_chain() -> None:
    chain = fixed_steps.compile_chain([{"kind": "fft_bins", "params": {"n_bins": 4}}], (32, 2))
    blob = bytearray(feature_image.steps_blob(chain, 0.1, 0))
    features_native.NativeSteps(bytes(blob))
    blob[12] = 33  # the raw sample is now 33 steps: the fft record says 32
    with pytest.raises(Exception, match="rejected"):
        features_native.NativeSteps(bytes(blob))
