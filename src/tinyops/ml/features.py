"""Feature transforms, implemented once in numpy.

Training, evaluation and the Pi agent all call :func:`apply` with the same
definition, so a feature is computed identically everywhere. This module must
not import TensorFlow (the agent imports it).

A *definition* is ``{"kind": KIND, "params": {...}}``. Parameters name the
feature array(s) to transform (``key``, default ``"X"``); every other array
(labels, ids) passes through, re-aligned when windowing changes the row count.
Fitted state (standardize's mean/std) lives in the params, so a stored
definition is complete and replayable. Outputs are float32.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyops.errors import InputError
from tinyops.ml import signal_features

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "int" | "float" | "bool" | "choice" | "keys" | "str" | "state"
    help: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] = ()


_KEY = Param("key", "keys", "feature array name(s) to transform, e.g. \"X\" or [\"ax\", \"ay\"]", default=["X"])

PARAMS: dict[str, list[Param]] = {
    "sliding_window": [
        Param("size", "int", "window length in time steps", required=True, minimum=1),
        Param("stride", "int", "step between window starts (default: size, no overlap)", minimum=1),
        _KEY,
        Param("label", "choice", "label of a window cut from one long signal", default="last",
              choices=("last", "majority")),
    ],
    "standardize": [
        _KEY,
        Param("fit_on", "str", "dataset version to fit mean/std on, e.g. \"activity@1\""),
        Param("mean", "state", "per-feature means (fitted from fit_on, or given)"),
        Param("std", "state", "per-feature standard deviations (fitted from fit_on, or given)"),
    ],
    "fft_bins": [
        Param("n_bins", "int", "number of frequency bins per channel", required=True, minimum=1),
        _KEY,
        Param("drop_dc", "bool", "leave out the 0 Hz (mean) component", default=False),
    ],
    "clip_scale": [
        Param("low", "float", "clip values below this", required=True),
        Param("high", "float", "clip values above this", required=True),
        Param("out_low", "float", "then map low..high linearly onto out_low..out_high"),
        Param("out_high", "float", "upper end of the output range (with out_low)"),
        _KEY,
    ],
}


def _signal_params(mfcc: bool) -> list[Param]:
    return [
        Param("sample_rate", "int", "samples per second of the input clips", default=16000, minimum=1),
        Param("frame_length", "int", "samples per frame", default=480, minimum=2),
        Param("hop", "int", "samples between frame starts", default=320, minimum=1),
        Param("n_fft", "int", "FFT size (a power of two >= frame_length)", default=512, minimum=16),
        Param("window", "choice", "frame window", default="hann", choices=("hann", "hamming", "rect")),
        Param("n_mels", "int", "mel bands", default=40, minimum=2),
        Param("f_min", "float", "lowest mel band edge in Hz", default=20.0),
        Param("f_max", "float", "highest mel band edge in Hz (default: sample_rate / 2)"),
        *([Param("n_mfcc", "int", "cepstral coefficients kept", default=10, minimum=1)] if mfcc else []),
        Param("log_floor", "float", "energies below this are clamped before the log", default=1e-6),
        Param("arithmetic", "choice", "float numpy, or the fixed-point reference the firmware equals bit for bit",
              default="float", choices=("float", "fixed")),
        _KEY,
    ]


PARAMS["log_mel"] = _signal_params(False)
PARAMS["mfcc"] = _signal_params(True)
KINDS = tuple(PARAMS)


# ---- validation ------------------------------------------------------------
def _bad(kind: str, name: str, problem: str, fix: str) -> InputError:
    return InputError(f"{kind}: parameter '{name}' {problem}", hint=fix)


def _check_value(kind: str, p: Param, v: Any) -> Any:
    if p.type == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad(kind, p.name, f"must be a whole number, not {v!r}", f"write e.g. {p.name} = 32")
        if p.minimum is not None and v < p.minimum:
            raise _bad(kind, p.name, f"must be at least {p.minimum:g}, not {v}", f"write {p.name} = {int(p.minimum)} or more")
        return v
    if p.type == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _bad(kind, p.name, f"must be a finite number, not {v!r}", f"write e.g. {p.name} = 1.0")
        return float(v)
    if p.type == "bool":
        if not isinstance(v, bool):
            raise _bad(kind, p.name, f"must be true or false, not {v!r}", f"write {p.name} = true")
        return v
    if p.type == "choice":
        if v not in p.choices:
            raise _bad(kind, p.name, f"must be one of {', '.join(p.choices)}, not {v!r}", f"write {p.name} = \"{p.choices[0]}\"")
        return v
    if p.type == "str":
        if not isinstance(v, str) or not v:
            raise _bad(kind, p.name, f"must be a non-empty string, not {v!r}", f"write {p.name} = \"...\"")
        return v
    if p.type == "keys":
        keys = [v] if isinstance(v, str) else v
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys) \
                or len(set(keys)) != len(keys):
            raise _bad(kind, p.name, f"must be an array name or a list of distinct names, not {v!r}", "write key = \"X\"")
        return list(keys)
    return v  # "state": checked with the keys below


def validate(kind: str, params: dict[str, Any], *, fitting: bool = False) -> dict[str, Any]:
    """Check a kind and its params; return the params with defaults filled in (stored as such).

    ``fitting``: the caller is about to fit state from arrays, so none is required yet.
    """
    if kind not in PARAMS:
        raise InputError(f"unknown feature kind {kind!r}", hint=f"use one of: {', '.join(KINDS)}")
    if not isinstance(params, dict):
        raise InputError(f"{kind}: params must be a table", hint="put the parameters under [params]")
    schema = {p.name: p for p in PARAMS[kind]}
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise _bad(kind, unknown[0], "is not known", f"{kind} takes: {', '.join(schema)}")
    out: dict[str, Any] = {}
    for p in PARAMS[kind]:
        if p.name in params and params[p.name] is not None:
            out[p.name] = _check_value(kind, p, params[p.name])
        elif p.required:
            raise _bad(kind, p.name, "is missing", f"add `{p.name} = ...` under [params] ({p.help})")
        elif p.default is not None:
            out[p.name] = p.default
    if not fitting:
        _VALIDATORS.get(kind, lambda o: None)(out)
    return out


def _validate_window(p: dict[str, Any]) -> None:
    p.setdefault("stride", p["size"])


def _validate_standardize(p: dict[str, Any]) -> None:
    given = [n for n in ("mean", "std") if n in p]
    if len(given) == 1:
        raise _bad("standardize", "std" if given == ["mean"] else "mean", "is missing", "give both mean and std, or neither")
    if "fit_on" not in p and not given:
        raise _bad("standardize", "fit_on", "is missing (nor are mean and std given)",
                   "add `fit_on = \"DATASET@V\"` under [params] to fit mean/std on a dataset version")
    for n in given:  # a bare list is allowed when there is a single key
        v = p[n]
        if isinstance(v, list) and len(p["key"]) == 1:
            v = p[n] = {p["key"][0]: v}
        if not isinstance(v, dict) or set(v) != set(p["key"]) or not all(
                isinstance(xs, list) and xs and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                    and math.isfinite(x) for x in xs) for xs in v.values()):
            raise _bad("standardize", n, "must be a list of finite numbers per key", f"write {n} = [0.0, 1.5, ...] (one per feature)")
        p[n] = {k: [float(x) for x in xs] for k, xs in v.items()}
        if n == "std" and any(x < 0 for xs in p[n].values() for x in xs):
            raise _bad("standardize", "std", "must not be negative", "give standard deviations >= 0")
    if given and any(len(p["mean"][k]) != len(p["std"][k]) for k in p["key"]):
        raise _bad("standardize", "std", "must have as many entries as mean", "give one mean and one std per feature")


def _validate_clip(p: dict[str, Any]) -> None:
    if p["low"] >= p["high"]:
        raise _bad("clip_scale", "high", f"must be greater than low ({p['low']:g})", "write e.g. low = -4.0, high = 4.0")
    if ("out_low" in p) != ("out_high" in p):
        raise _bad("clip_scale", "out_high" if "out_low" in p else "out_low", "is missing",
                   "give both out_low and out_high to scale, or neither to only clip")
    if "out_low" in p and p["out_low"] >= p["out_high"]:
        raise _bad("clip_scale", "out_high", "must be greater than out_low", "write e.g. out_low = 0.0, out_high = 1.0")


_VALIDATORS: dict[str, Callable[[dict[str, Any]], None]] = {
    "sliding_window": _validate_window, "standardize": _validate_standardize, "clip_scale": _validate_clip,
    "log_mel": functools.partial(signal_features.validate_signal, "log_mel"),
    "mfcc": functools.partial(signal_features.validate_signal, "mfcc"),
}


# ---- shared helpers ----------------------------------------------------------
def _feature_array(arrays: Arrays, key: str, kind: str) -> np.ndarray:
    if key not in arrays:
        raise InputError(f"{kind}: the data has no array {key!r} (it has: {', '.join(sorted(arrays)) or 'none'})",
                         hint="set `key` under [params] to one of those names")
    a = np.asarray(arrays[key])
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise InputError(f"{kind}: array {key!r} is not numeric ({a.dtype})", hint="apply features to numeric arrays only")
    if a.ndim == 0 or a.shape[0] == 0:
        raise InputError(f"{kind}: array {key!r} is empty", hint="use a dataset version with rows")
    return a.astype(np.float64)


def _n_features(a: np.ndarray) -> int:
    return a.shape[-1] if a.ndim >= 2 else 1


# ---- sliding window ------------------------------------------------------
def _window_apply(p: dict[str, Any], arrays: Arrays) -> Arrays:
    size, stride, keys = p["size"], p["stride"], p["key"]
    first = _feature_array(arrays, keys[0], "sliding_window")
    # (N, T, C): cut each sample; (T,) or (T, C): cut one long signal.
    per_sample = first.ndim == 3
    if first.ndim > 3:
        raise InputError(f"sliding_window: array {keys[0]!r} has shape {first.shape}",
                         hint="window (N, T, C) samples or a (T,) / (T, C) signal")
    rows = first.shape[0]
    T = first.shape[1] if per_sample else first.shape[0]
    if size > T:
        raise InputError(f"sliding_window: size {size} is longer than the time axis ({T})", hint=f"use size <= {T}")
    starts = np.arange(0, T - size + 1, stride)
    idx = starts[:, None] + np.arange(size)[None, :]  # (W, size)
    W = len(starts)
    out: Arrays = {}
    for k in keys:
        a = _feature_array(arrays, k, "sliding_window")
        if a.ndim != first.ndim or a.shape[: 1 + per_sample] != first.shape[: 1 + per_sample]:
            raise InputError(f"sliding_window: array {k!r} {a.shape} does not line up with {keys[0]!r} {first.shape}",
                             hint="window arrays with the same leading axes together")
        w = a[:, idx] if per_sample else a[idx]  # (N, W, size, C) or (W, size, C)
        out[k] = w.reshape((-1, size) + a.shape[2 if per_sample else 1:]).astype(np.float32)
    for k, a in arrays.items():
        if k in out:
            continue
        a = np.asarray(a)
        if a.ndim == 0 or a.shape[0] != rows:
            out[k] = a  # not per-row data (e.g. class names): unchanged
        elif per_sample:
            out[k] = np.repeat(a, W, axis=0)  # sample n yields windows n*W .. n*W+W-1
        elif p["label"] == "majority" and a.ndim == 1:
            out[k] = np.array([_majority(a[i]) for i in idx], dtype=a.dtype)
        else:
            out[k] = a[starts + size - 1]  # label of the window's last step
    return out


def _majority(values: np.ndarray) -> Any:
    uniq, counts = np.unique(values, return_counts=True)
    return uniq[int(np.argmax(counts))]  # ties go to the smallest label: deterministic


# ---- standardize -------------------------------------------------------------
def _standardize_fit(p: dict[str, Any], arrays: Arrays) -> dict[str, Any]:
    p = dict(p, mean={}, std={})
    for k in p["key"]:
        a = _feature_array(arrays, k, "standardize")
        flat = a.reshape(-1, _n_features(a))  # every axis but the last is a sample axis
        p["mean"][k] = [float(x) for x in flat.mean(axis=0)]
        p["std"][k] = [float(x) for x in flat.std(axis=0)]
    return p


def _standardize_apply(p: dict[str, Any], arrays: Arrays) -> Arrays:
    out = dict(arrays)
    for k in p["key"]:
        a = _feature_array(arrays, k, "standardize")
        mean, std = np.array(p["mean"][k]), np.array(p["std"][k])
        if _n_features(a) != len(mean):
            raise InputError(f"standardize: array {k!r} has {_n_features(a)} features on its last axis, "
                             f"but mean/std were fitted on {len(mean)}", hint="apply it to data shaped like fit_on")
        std = np.where(std > 0, std, 1.0)  # a constant feature maps to 0, not to NaN
        out[k] = ((a - mean) / std).astype(np.float32)
    return out


# ---- FFT magnitude bins ----------------------------------------------------
def _fft_apply(p: dict[str, Any], arrays: Arrays) -> Arrays:
    out = dict(arrays)
    for k in p["key"]:
        a = _feature_array(arrays, k, "fft_bins")
        if a.ndim not in (2, 3):
            raise InputError(f"fft_bins: array {k!r} has shape {a.shape}",
                             hint="give windows (N, T) or (N, T, C); cut a long signal with sliding_window first")
        T = a.shape[1]
        mag = np.abs(np.fft.rfft(a, axis=1)) / T  # per channel, scaled so window length does not change the level
        if p["drop_dc"]:
            mag = mag[:, 1:]
        F = mag.shape[1]
        if p["n_bins"] > F:
            raise InputError(f"fft_bins: n_bins {p['n_bins']} exceeds the {F} frequencies of a {T}-step window",
                             hint=f"use n_bins <= {F}")
        edges = np.floor(np.linspace(0, F, p["n_bins"] + 1)).astype(int)  # contiguous, none empty
        sums = np.add.reduceat(mag, edges[:-1], axis=1)
        widths = np.diff(edges).reshape((1, -1) + (1,) * (a.ndim - 2))
        out[k] = (sums / widths).astype(np.float32)
    return out


# ---- clip / scale ------------------------------------------------------------
def _clip_apply(p: dict[str, Any], arrays: Arrays) -> Arrays:
    out = dict(arrays)
    for k in p["key"]:
        a = np.clip(_feature_array(arrays, k, "clip_scale"), p["low"], p["high"])
        if "out_low" in p:
            a = p["out_low"] + (a - p["low"]) * ((p["out_high"] - p["out_low"]) / (p["high"] - p["low"]))
        out[k] = a.astype(np.float32)
    return out


def _signal_apply(kind: str, p: dict[str, Any], arrays: Arrays) -> Arrays:
    out = dict(arrays)
    for k in p["key"]:
        out[k] = signal_features.apply_signal(kind, p, _feature_array(arrays, k, kind))
    return out


_APPLY: dict[str, Callable[[dict[str, Any], Arrays], Arrays]] = {
    "sliding_window": _window_apply, "standardize": _standardize_apply,
    "fft_bins": _fft_apply, "clip_scale": _clip_apply,
    "log_mel": functools.partial(_signal_apply, "log_mel"), "mfcc": functools.partial(_signal_apply, "mfcc"),
}
_FIT: dict[str, Callable[[dict[str, Any], Arrays], dict[str, Any]]] = {"standardize": _standardize_fit}


# ---- public API ----------------------------------------------------------------
def needs_fit(kind: str, params: dict[str, Any]) -> bool:
    """True when the params name a dataset to fit on and carry no fitted state yet."""
    return kind in _FIT and "fit_on" in params and "mean" not in params


def fit(kind: str, params: dict[str, Any], arrays: Arrays) -> dict[str, Any]:
    """Validated params with fitted state added (unchanged for kinds that fit nothing)."""
    if kind not in _FIT:
        return validate(kind, params)
    params = validate(kind, {k: v for k, v in params.items() if k not in ("mean", "std")}, fitting=True)
    return _FIT[kind](params, arrays)


def apply(definition: dict[str, Any], arrays: Arrays) -> Arrays:
    """Transform ``arrays`` by a definition ``{"kind", "params"}``; other arrays pass through aligned."""
    kind = definition.get("kind")
    params = validate(str(kind), definition.get("params") or {})
    if kind in _FIT and "mean" not in params:
        raise InputError(f"{kind}: the definition has no fitted state", hint="fit it first (tinyops feature add fits fit_on)")
    return _APPLY[kind](params, arrays)


@functools.lru_cache(maxsize=None)  # source does not change while a process runs
def code_hash(kind: str) -> str:
    """sha256 over the source of everything that computes this kind, so a code change shows."""
    if kind not in _APPLY:
        raise InputError(f"unknown feature kind {kind!r}", hint=f"use one of: {', '.join(KINDS)}")
    h = hashlib.sha256()
    if kind in signal_features.SIGNAL_KINDS:  # the whole module computes them
        funcs: list[Any] = [_feature_array, _signal_apply, signal_features]
        h.update(kind.encode())
    else:
        funcs = [_feature_array, _n_features, _APPLY[kind]] + ([_FIT[kind]] if kind in _FIT else [])
    if kind == "sliding_window":
        funcs.append(_majority)
    for fn in funcs:
        try:
            h.update(inspect.getsource(fn).encode())
        except OSError:  # no source shipped (zipped install): fall back to the bytecode
            h.update(getattr(fn, "__code__", fn.__dict__.get("apply_signal").__code__).co_code)
    return h.hexdigest()
