"""log_mel / mfcc: the firmware's C code equals the numpy integer reference bit for bit,
and the integer reference stays within the documented bound of the float version."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tinyops.devices import feature_image, features_native
from tinyops.errors import InputError
from tinyops.ml import features, signal_features

BOUND = 0.02  # ln units, documented in ml/signal_features.py


@st.composite
def setups(draw: st.DrawFn) -> tuple[str, dict, np.ndarray]:
    kind = draw(st.sampled_from(["log_mel", "mfcc"]))
    n_fft = draw(st.sampled_from([64, 128, 256, 512, 1024]))
    n_mels = draw(st.integers(2, min(64, n_fft // 2)))
    params = {"n_fft": n_fft, "frame_length": draw(st.integers(2, n_fft)), "hop": draw(st.integers(1, 400)),
              "n_mels": n_mels, "window": draw(st.sampled_from(["hann", "hamming", "rect"])),
              "f_min": draw(st.sampled_from([0.0, 20.0, 300.0])),
              "f_max": draw(st.sampled_from([4000.0, 8000.0])),
              "log_floor": draw(st.sampled_from([1e-12, 1e-6, 1e-3]))}
    if kind == "mfcc":
        params["n_mfcc"] = draw(st.integers(1, n_mels))
    n = draw(st.integers(params["frame_length"], params["frame_length"] + 1200))
    style = draw(st.sampled_from(["noise", "full", "quiet", "zeros", "tone"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if style == "full":
        x = rng.choice([-32768, 32767], size=n)
    elif style == "zeros":
        x = np.zeros(n)
    elif style == "quiet":
        x = rng.integers(-3, 4, size=n)
    elif style == "tone":
        x = 30000 * np.sin(2 * np.pi * rng.uniform(20, 8000) * np.arange(n) / 16000)
    else:
        x = rng.normal(0, 10 ** rng.uniform(0, 4.5), size=n)
    return kind, params, np.clip(np.round(x), -32768, 32767).astype(np.int16)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups(), st.floats(1e-3, 1.0), st.integers(-128, 127))
def test_c_equals_integer_reference_bit_for_bit(setup, scale, zero_point):
    kind, params, x = setup
    definition = {"kind": kind, "params": params}
    p = features.validate(kind, dict(params))
    blob = feature_image.pipeline_blob(definition, len(x), scale, zero_point)
    q16, q8 = features_native.NativePipeline(blob).run(x)
    ref = signal_features.fixed_features_q16(kind, p, x[None])[0].reshape(-1)
    assert np.array_equal(q16.astype(np.int64), ref)
    assert np.array_equal(q8, feature_image.reference_int8(definition, x[None], scale, zero_point)[0].reshape(-1))


@settings(max_examples=40, deadline=None)
@given(setups())
def test_integer_reference_within_bound_of_float(setup):
    kind, params, x = setup
    p = features.validate("log_mel", {k: v for k, v in params.items() if k != "n_mfcc"})
    fl = signal_features.float_features("log_mel", p, x[None])
    fx = signal_features.fixed_features_q16("log_mel", p, x[None]) / 65536
    mel = np.exp(fl)
    # the band's mean power against the frame's strongest FFT bin (-40 dB), as documented
    fr = signal_features._frames(x[None].astype(np.float64) / 32768, p) * signal_features.window(p)
    peak = (np.abs(np.fft.rfft(fr, n=p["n_fft"], axis=-1)) ** 2).max(axis=-1, keepdims=True)
    band = mel / np.maximum(signal_features.mel_filterbank(p).sum(axis=1), 1e-30)
    ok = (band >= 1e-4 * peak) & (mel > p["log_floor"])
    assert np.all(np.abs(fl - fx)[ok] <= BOUND)
    assert np.all(fx >= np.log(p["log_floor"]) - 1e-4)  # the floor holds in both
    if kind == "mfcc":
        pm = features.validate("mfcc", dict(params))
        a = signal_features.float_features("mfcc", pm, x[None])
        b = signal_features.fixed_features_q16("mfcc", pm, x[None]) / 65536
        rows = ok.all(axis=-1)
        assert np.all(np.abs(a - b)[rows] <= BOUND * np.sqrt(p["n_mels"]))


def test_float_version_matches_a_direct_computation():
    """A 1 kHz tone lands in the mel band whose centre is nearest 1 kHz."""
    x = (20000 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)).astype(np.int16)[None]
    out = features.apply({"kind": "log_mel", "params": {"f_max": 8000.0}}, {"X": x, "y": np.array([3])})
    assert out["X"].shape == (1, 49, 40) and out["X"].dtype == np.float32 and out["y"].tolist() == [3]
    fb = signal_features.mel_filterbank(features.validate("log_mel", {"f_max": 8000.0}))
    assert int(np.argmax(out["X"][0, 10])) == int(np.argmax(fb[:, 1000 * 512 // 16000]))
    fixed = features.apply({"kind": "mfcc", "params": {"arithmetic": "fixed"}}, {"X": x})["X"]
    assert fixed.shape == (1, 49, 10)


@pytest.mark.parametrize("params, message", [
    ({"n_fft": 500}, "power of two"),
    ({"frame_length": 600}, "longer than n_fft"),
    ({"f_max": 9000.0}, "f_max"),
    ({"n_mfcc": 50}, "exceeds n_mels"),
    ({"log_floor": 0.0}, "positive"),
    ({"window": "kaiser"}, "one of"),
])
def test_bad_parameters_say_what_to_do(params, message):
    with pytest.raises(InputError, match=message):
        features.validate("mfcc", params)


def test_code_hash_names_the_kind_and_bad_blobs_are_refused():
    assert features.code_hash("mfcc") != features.code_hash("log_mel")
    blob = bytearray(feature_image.pipeline_blob({"kind": "mfcc", "params": {}}, 16000, 0.1, 0))
    blob[20] = 100  # n_fft not a power of two
    with pytest.raises(Exception, match="rejected"):
        features_native.NativePipeline(bytes(blob))
    with pytest.raises(InputError, match="only"):
        feature_image.pipeline_blob({"kind": "standardize", "params": {}}, 16000, 0.1, 0)
