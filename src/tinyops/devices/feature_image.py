"""The feature pipeline a device build carries: a blob the firmware's C code interprets.

``pipeline_blob(definition, n_samples, scale, zero_point)`` packs a ``log_mel`` or
``mfcc`` definition's fixed-point tables (``ml.signal_features.fixed_tables``) and the
model input's int8 quantization into the layout of ``firmware/features/FORMAT.md``.
A build puts the blob in front of the model image (``raw_image``); the firmware sees
the magic, computes the features from raw int16 samples, and runs the model on them.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from tinyops.errors import InputError
from tinyops.ml import features, fixed_steps, signal_features

MAGIC = b"TFE1"
STEPS_MAGIC = b"TFS1"
STEPS_HEADER = struct.Struct("<4sIHHHHHHHHiii12x")  # 48 bytes
STEP_CODES = {"standardize": 3, "clip_scale": 4, "fft_bins": 5, "sliding_window": 6}
HEADER = struct.Struct("<4sIHHIHHHHHHBBHiiiiiI8x")  # 64 bytes
KIND_CODES = {"log_mel": 1, "mfcc": 2}


def _pad(b: bytes, to: int) -> bytes:
    return b + b"\0" * (-len(b) % to)


def pipeline_blob(definition: dict[str, Any], n_samples: int, scale: float, zero_point: int) -> bytes:
    kind = definition.get("kind")
    if kind not in KIND_CODES:
        raise InputError(f"a device can compute only {', '.join(KIND_CODES)} features, not {kind!r}",
                         hint="build without raw input (the host computes the features)")
    p = features.validate(kind, definition.get("params") or {})
    t = signal_features.fixed_tables(p)
    frames = signal_features.n_frames(p, n_samples)
    mult, shift, zp = signal_features.quant_params(scale, zero_point)
    ranges, weights = [], []
    for row in t["mel"]:
        nz = np.nonzero(row)[0]
        first, count = (int(nz[0]), int(nz[-1] - nz[0] + 1)) if len(nz) else (0, 0)
        ranges += [first, count]
        weights += [int(v) for v in row[first:first + count]]
    body = b"".join([
        np.asarray(t["log2_table"], "<i4").tobytes(), np.asarray(t["cos"], "<i4").tobytes(),
        np.asarray(t["sin"], "<i4").tobytes(), _pad(np.asarray(t["window"], "<u2").tobytes(), 4),
        np.asarray(ranges, "<u2").tobytes(), _pad(np.asarray(weights, "<u2").tobytes(), 4),
        np.asarray(t["dct"], "<i2").tobytes() if kind == "mfcc" else b"",
    ])
    total = HEADER.size + len(body)
    total += -total % 16
    head = HEADER.pack(MAGIC, total, KIND_CODES[kind], 0, n_samples, p["frame_length"], p["hop"], p["n_fft"],
                       p["n_mels"], p.get("n_mfcc", 0), frames, t["power_shift"], 0, 0, t["floor_q16"], mult,
                       shift, zp, signal_features.LN2_Q30, 0)
    return _pad(head + body, 16)


def _step_record(step: dict[str, Any]) -> bytes:
    kind, t, flags = step["kind"], step.get("table"), 0
    if kind == "standardize":
        body = struct.pack("<I", len(t["mean"])) + b"".join(
            np.asarray(t[n], "<i4").tobytes() for n in ("mean", "mult", "shift"))
    elif kind == "clip_scale":
        flags = int(t["scale"])
        body = struct.pack("<5i", t["low"], t["high"], t["out_low"], t["mult"], t["shift"])
    elif kind == "fft_bins":
        pairs = np.stack([t["first"], t["count"]], axis=1)
        body = _pad(struct.pack("<HH", t["steps"], len(t["first"])) + np.asarray(t["cos"], "<i2").tobytes()
                    + np.asarray(t["sin"], "<i2").tobytes(), 4) + np.asarray(pairs, "<u2").tobytes()
    else:
        body = struct.pack("<HH", step["size"], step["stride"])
    body = _pad(body, 4)
    return struct.pack("<HHI", STEP_CODES[kind], flags, 8 + len(body)) + body


def steps_blob(chain: dict[str, Any], scale: float, zero_point: int) -> bytes:
    """A chain from ``fixed_steps.compile_chain`` as the ``TFS1`` blob of ``firmware/features/FORMAT.md``."""
    rows, cols = (chain["raw_shape"] + (1,))[:2]
    out_rows, out_cols = (tuple(chain["out_shape"]) + (1,))[:2]
    mult, shift, zp = signal_features.quant_params(scale, zero_point)
    body = b"".join(_step_record(s) for s in chain["steps"])
    total = STEPS_HEADER.size + len(body)
    total += -total % 16
    head = STEPS_HEADER.pack(STEPS_MAGIC, total, len(chain["steps"]), 0, rows, cols, chain["windows"],
                             out_rows, out_cols, 0, mult, shift, zp)
    return _pad(head + body, 16)


def steps_reference_int8(chain: dict[str, Any], samples: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """What the device feeds its model for raw samples (N, *raw_shape): (N, windows, *out_shape) int8."""
    mult, shift, zp = signal_features.quant_params(scale, zero_point)
    return signal_features.quantize_q16(fixed_steps.chain_q16(chain, samples), mult, shift, zp)


def raw_image(blob: bytes, model_image: bytes) -> bytes:
    """What goes into a flash slot: the pipeline, then the model image (16-byte aligned)."""
    return blob + bytes(model_image)


def split_image(data: bytes) -> tuple[bytes | None, bytes]:
    """(pipeline blob or None, model image) of a slot's content."""
    if data[:4] not in (MAGIC, STEPS_MAGIC):
        return None, data
    total = struct.unpack_from("<I", data, 4)[0]
    return data[:total], data[total:]


def device_pipeline(feature_defs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one signal definition a device computes, when a model's features are exactly that."""
    if len(feature_defs) == 1 and feature_defs[0].get("kind") in KIND_CODES:
        return feature_defs[0]
    return None


def reference_int8(definition: dict[str, Any], samples: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """What the device feeds its model for int16 clips (N, T): the integer reference, quantized."""
    kind = definition["kind"]
    p = features.validate(kind, definition.get("params") or {})
    q16 = signal_features.fixed_features_q16(kind, p, samples)
    mult, shift, zp = signal_features.quant_params(scale, zero_point)
    return signal_features.quantize_q16(q16, mult, shift, zp)


def build_reference_int8(feats: dict[str, Any], samples: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """A raw-input build's model inputs for raw samples (N, ...), from its manifest's ``features``:
    (N, windows, ...) int8, as its board computes them."""
    d = feats.get("definition")
    if d is not None and d.get("kind") in KIND_CODES:
        return reference_int8(d, samples, scale, zero_point)[:, None]
    chain = fixed_steps.compile_chain(feats["definitions"], np.asarray(samples).shape[1:])
    return steps_reference_int8(chain, samples, scale, zero_point)
