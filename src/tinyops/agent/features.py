"""The Pi side of a build's feature pipeline: raw input -> the model's input.

A build whose model was trained on feature definitions records them in its
manifest (``features.definitions``); the agent applies them with the same numpy
code training used (``tinyops.ml.features``, which imports no TensorFlow), so an
application on the Pi can post raw samples (audio, IMU counts) instead of
features. A WAV body is read with the standard library (mono, 16-bit PCM).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyops.errors import InputError
from tinyops.ml import features as transforms
from tinyops.wav import read_wav


def definitions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    f = manifest.get("features") or {}
    return list(f.get("definitions") or ([f["definition"]] if f.get("definition") else []))


def raw_shape(manifest: dict[str, Any]) -> list[int] | None:
    r = (manifest.get("features") or {}).get("raw_input") or {}
    return r.get("shape") or ([r["samples"]] if r.get("samples") else None)


def _key(defs: list[dict[str, Any]]) -> str:
    key = (defs[0].get("params") or {}).get("key", ["X"])
    return key[0] if isinstance(key, list) else key


def wav_samples(body: bytes, manifest: dict[str, Any]) -> np.ndarray:
    """int16 samples of a mono 16-bit WAV; the sample rate must be the definition's."""
    try:
        x, rate = read_wav(body, "the body")
    except InputError as e:
        raise ValueError(str(e)) from e
    want = next((int((d.get("params") or {})["sample_rate"]) for d in definitions(manifest)
                 if "sample_rate" in (d.get("params") or {})), None)
    if want and rate != want:
        raise ValueError(f"the WAV is sampled at {rate} Hz, the model's features take {want} Hz")
    return x


def model_inputs(manifest: dict[str, Any], raw: Any) -> np.ndarray:
    """Raw samples of one input -> float model inputs (one row per window the features cut)."""
    defs = definitions(manifest)
    if not defs:
        raise ValueError("this build's model takes its features directly (no feature pipeline): send \"input\"")
    x = np.asarray(raw, dtype=np.float64)
    shape = raw_shape(manifest)
    if shape is not None:
        if x.size != int(np.prod(shape)):
            raise ValueError(f"raw input has {x.size} values, the features take {int(np.prod(shape))} (shape {shape})")
        x = x.reshape(shape)
    if not np.all(np.isfinite(x)):
        raise ValueError("raw input holds NaN or infinity")
    arrays: dict[str, np.ndarray] = {_key(defs): x[None]}
    try:
        for d in defs:
            arrays = transforms.apply(d, arrays)
    except Exception as e:  # a transform's InputError names the problem
        raise ValueError(f"the features cannot be computed from this input: {e}") from e
    return np.asarray(arrays[_key(defs)], dtype=np.float64)
