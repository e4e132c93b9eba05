"""Integer references of ``standardize``, ``clip_scale``, ``fft_bins`` and ``sliding_window``.

The firmware's C code (``firmware/features/tfs_steps.c``) equals these bit for bit.
Values are Q16 integers (value x 2^16) in int64 here and int32 on the device; every
step's result saturates to int32. Raw int16 samples enter as ``x << 16`` (exact).
Rounding is round-half-up for shifts (``(v * M + 2^(s-1)) >> s``, an arithmetic shift)
and half away from zero for divisions (``div_round``).

- ``standardize``: ``(x - round(mean * 2^16)) * M >> s`` per feature (element index mod
  the number of features), ``M / 2^s ~ 1 / std`` with ``2^29 <= M < 2^30`` (std 0: 1).
- ``clip_scale``: clamp to ``round(low * 2^16) .. round(high * 2^16)``; scaled:
  ``round(out_low * 2^16) + ((c - low_q) * M >> s)``, ``M / 2^s ~ (out_high - out_low) / (high - low)``.
- ``fft_bins``: a DFT over the T steps with Q15 twiddles (``round(cos(2 pi k n / T) * 2^15)``),
  int64 sums, ``div_round(sum, T * 2^15)`` -> Q16 re/im of ``X / T``, the floor integer
  square root of re^2 + im^2 (uint64), then ``div_round`` of each band's sum by its width.
- ``sliding_window``: copies; window ``w`` is rows ``w * stride .. w * stride + size - 1``.

Bounds against the float versions (``ml.features``) for the same input, held by
``tests/ml/test_fixed_steps.py`` (``q`` = 2^-16, ``k`` = the step's scale factor):
standardize and clip_scale ``<= q * (1 + k) + 2^-23 * |out|``; fft_bins
``<= 2^-14 * (max |x| + 1)`` (the Q15 twiddles); sliding_window exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyops.errors import InputError

STEP_KINDS = ("standardize", "clip_scale", "fft_bins", "sliding_window")
Q16 = 1 << 16
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
LIMIT = 32767.0  # parameters must be Q16-representable in int32


def sat32(v: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(v, np.int64), I32_MIN, I32_MAX)


def to_q16(x: float, kind: str, name: str) -> int:
    if not abs(x) <= LIMIT:
        raise InputError(f"{kind}: {name} = {x:g} is outside +-{LIMIT:g}, which a device's Q16 numbers cannot hold",
                         hint="build without raw input (the host computes the features)")
    return int(round(x * Q16))


def multiplier(k: float, kind: str) -> tuple[int, int]:
    """(M, s) with M / 2^s ~ k, 2^29 <= M < 2^30 (k > 0), s in 0..62."""
    if not 0 < k < 2.0 ** 29:
        raise InputError(f"{kind}: the scale factor {k:g} is out of the device's range (0 .. 2^29)",
                         hint="build without raw input (the host computes the features)")
    s = 29 - math.floor(math.log2(k))
    m = round(k * 2.0 ** s)
    if m >= 1 << 30:
        s, m = s - 1, round(k * 2.0 ** (s - 1))
    if not 0 <= s <= 62:
        raise InputError(f"{kind}: the scale factor {k:g} is too small for the device",
                         hint="build without raw input (the host computes the features)")
    return int(m), int(s)


def mul_shift(v: np.ndarray, m: Any, s: Any) -> np.ndarray:
    v, m, s = np.asarray(v, np.int64), np.asarray(m, np.int64), np.asarray(s, np.int64)
    half = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    return (v * m + half) >> s


def div_round(a: np.ndarray, d: int) -> np.ndarray:
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, (a + d // 2) // d, -((-a + d // 2) // d))


# ---- per-kind tables (what the device blob carries) ------------------------------
def standardize_table(p: dict[str, Any], key: str) -> dict[str, Any]:
    mean, std = p["mean"][key], p["std"][key]
    ms = [multiplier(1.0 / s if s > 0 else 1.0, "standardize") for s in std]
    return {"mean": np.array([to_q16(m, "standardize", "mean") for m in mean], np.int64),
            "mult": np.array([m for m, _ in ms], np.int64), "shift": np.array([s for _, s in ms], np.int64)}


def clip_table(p: dict[str, Any]) -> dict[str, Any]:
    t = {"low": to_q16(p["low"], "clip_scale", "low"), "high": to_q16(p["high"], "clip_scale", "high"),
         "scale": "out_low" in p, "out_low": 0, "mult": 0, "shift": 0}
    if t["scale"]:
        t["out_low"] = to_q16(p["out_low"], "clip_scale", "out_low")
        to_q16(p["out_high"], "clip_scale", "out_high")
        t["mult"], t["shift"] = multiplier((p["out_high"] - p["out_low"]) / (p["high"] - p["low"]), "clip_scale")
    return t


def fft_table(p: dict[str, Any], steps: int) -> dict[str, Any]:
    F = steps // 2 + 1 - (1 if p["drop_dc"] else 0)
    if p["n_bins"] > F:
        raise InputError(f"fft_bins: n_bins {p['n_bins']} exceeds the {F} frequencies of a {steps}-step window",
                         hint=f"use n_bins <= {F}")
    edges = np.floor(np.linspace(0, F, p["n_bins"] + 1)).astype(int)
    n = np.arange(steps)
    return {"steps": steps, "cos": np.round(np.cos(2 * np.pi * n / steps) * 32768).clip(-32768, 32767).astype(np.int64),
            "sin": np.round(np.sin(2 * np.pi * n / steps) * 32768).clip(-32768, 32767).astype(np.int64),
            "first": edges[:-1] + (1 if p["drop_dc"] else 0), "count": np.diff(edges)}


# ---- the integer steps on Q16 arrays --------------------------------------------
def standardize_q16(x: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    """x: (..., P) Q16 with the features on the last axis (flattened per sample: index mod P)."""
    return sat32(mul_shift(np.asarray(x, np.int64) - t["mean"], t["mult"], t["shift"]))


def clip_scale_q16(x: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    c = np.clip(np.asarray(x, np.int64), t["low"], t["high"])
    if not t["scale"]:
        return c
    return sat32(t["out_low"] + mul_shift(c - t["low"], t["mult"], t["shift"]))


_isqrt = np.frompyfunc(math.isqrt, 1, 1)


def fft_bins_q16(x: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    """x: (N, T) or (N, T, C) Q16 -> (N, n_bins[, C])."""
    x = np.asarray(x, np.int64)
    flat = x if x.ndim == 3 else x[..., None]
    T = t["steps"]
    k = np.arange(T // 2 + 1)
    idx = (k[:, None] * np.arange(T)[None, :]) % T  # (F, T)
    re = np.einsum("ft,ntc->nfc", t["cos"][idx], flat)
    im = np.einsum("ft,ntc->nfc", t["sin"][idx], flat)
    d = T * 32768
    re16, im16 = div_round(re, d), div_round(im, d)
    power = re16.astype(object) ** 2 + im16.astype(object) ** 2
    mag = _isqrt(power).astype(np.int64)
    bands = np.stack([mag[:, f:f + c].sum(axis=1) for f, c in zip(t["first"], t["count"])], axis=1)
    out = sat32(np.stack([div_round(bands[:, i], int(c)) for i, c in enumerate(t["count"])], axis=1))
    return out if x.ndim == 3 else out[..., 0]


def window_starts(p: dict[str, Any], steps: int) -> np.ndarray:
    if p["size"] > steps:
        raise InputError(f"sliding_window: size {p['size']} is longer than the time axis ({steps})",
                         hint=f"use size <= {steps}")
    return np.arange(0, steps - p["size"] + 1, p["stride"])


# ---- a chain of steps, as a device build carries it -------------------------------
def compile_chain(defs: list[dict[str, Any]], raw_shape: tuple[int, ...]) -> dict[str, Any]:
    """Validated steps with their tables for one raw sample of ``raw_shape`` ((T,) or (T, C)).

    Raises InputError when the chain is not one a device can run (the host then computes it).
    """
    from tinyops.ml import features

    shape, windows, steps, key = tuple(int(v) for v in raw_shape), 1, [], None
    for i, d in enumerate(defs):
        kind = d.get("kind")
        if kind not in STEP_KINDS:
            raise InputError(f"a device cannot compute {kind!r} in a chain", hint="build without raw input")
        p = features.validate(str(kind), dict(d.get("params") or {}))
        if len(p["key"]) != 1 or (key is not None and p["key"] != [key]):
            raise InputError(f"{kind}: a device chain transforms one array", hint="use one key for every step")
        key = p["key"][0]
        step: dict[str, Any] = {"kind": kind}
        if kind == "sliding_window":
            if i or len(shape) != 2:
                raise InputError("sliding_window: a device cuts windows only first, from (T, C) samples",
                                 hint="build without raw input")
            starts = window_starts(p, shape[0])
            windows, shape = len(starts), (p["size"], shape[1])
            step.update(size=p["size"], stride=p["stride"])
        elif kind == "standardize":
            if "mean" not in p:
                raise InputError("standardize: the definition has no fitted state", hint="fit it first")
            step["table"] = standardize_table(p, key)
            if len(step["table"]["mean"]) != shape[-1]:
                raise InputError(f"standardize: {len(step['table']['mean'])} features, the data has {shape[-1]}",
                                 hint="apply it to data shaped like fit_on")
        elif kind == "clip_scale":
            step["table"] = clip_table(p)
        else:
            step["table"] = fft_table(p, shape[0])
            shape = (p["n_bins"],) + shape[1:]
        steps.append(step)
    return {"key": key or "X", "raw_shape": tuple(int(v) for v in raw_shape), "windows": windows,
            "out_shape": shape, "steps": steps}


def chain_q16(chain: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """Raw int16 samples (N, *raw_shape) -> Q16 int64 (N, windows, *out_shape)."""
    x = np.asarray(raw).astype(np.int64) << 16
    if tuple(x.shape[1:]) != chain["raw_shape"]:
        raise InputError(f"raw samples of shape {x.shape[1:]}, the chain takes {chain['raw_shape']}",
                         hint="give samples shaped like the training data")
    n = len(x)
    x = x[:, None]  # (N, 1, ...): one window unless the chain cuts several
    for s in chain["steps"]:
        if s["kind"] == "sliding_window":
            starts = np.arange(chain["windows"]) * s["stride"]
            x = np.stack([x[:, 0, a:a + s["size"]] for a in starts], axis=1)
        elif s["kind"] == "standardize":
            x = standardize_q16(x, s["table"])
        elif s["kind"] == "clip_scale":
            x = clip_scale_q16(x, s["table"])
        else:
            w = x.shape[1]
            y = fft_bins_q16(x.reshape((n * w,) + x.shape[2:]), s["table"])
            x = y.reshape((n, w) + y.shape[1:])
    return x
