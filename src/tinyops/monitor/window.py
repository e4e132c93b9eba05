"""Telemetry windows: what a device summarises about its own inferences.

The agent (and the serial gateway on behalf of a microcontroller) feeds every
inference into a :class:`WindowAccumulator` and publishes ``snapshot()`` every
period on ``tinyops/devices/{device}/telemetry``. The collector checks every
incoming message with :func:`validate` before it touches the registry.

numpy only: this module runs on a Raspberry Pi without TensorFlow.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from typing import Any

import numpy as np

from tinyops.errors import InputError
from tinyops.monitor import device_features

try:  # ~4x faster parsing on the collector's hot path; rejects NaN/Infinity itself
    import orjson as _orjson
except ImportError:  # pragma: no cover — the stdlib parser below checks the same things
    _orjson = None

FORMAT = "tinyops-window/1"

# Size limits: a hostile or broken device must not be able to make the
# collector allocate much. 64 features x 10 bins plus a reservoir of 16 digits
# images is ~20 KB; activity windows (100x6) with a 16-sample reservoir ~80 KB.
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_FEATURES = 4096
MAX_BINS = 256
MAX_CLASSES = 1024
MAX_COUNT = 10**9
MAX_ERROR_SAMPLES = 5
MAX_ERROR_TEXT = 200
MAX_SAMPLE = 256
MAX_SAMPLE_VALUES = 8192
MAX_WINDOW_SECONDS = 7 * 24 * 3600
# A window may end at most this far in the collector's future (device clock
# skew) and at most MAX_AGE_SECONDS in its past (a device buffering offline).
MAX_CLOCK_SKEW_SECONDS = 300
MAX_AGE_SECONDS = 7 * 24 * 3600
# Latencies kept per window for percentiles; beyond this a uniform reservoir.
LATENCY_RESERVOIR = 4096

DEVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
BUILD_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

REQUIRED = {"format", "device", "build", "start", "end", "count", "latency_ms", "predictions",
            "confidence_mean", "histograms", "errors"}
OPTIONAL = {"error_samples", "sample", "seq", "source", "device_features"}


class WindowAccumulator:
    """Accumulates one device's inferences into a window summary.

    ``manifest`` is the build manifest (``tinyops-build/1``); its
    ``baseline.features`` bins are used for the input histograms, so host-side
    drift compares like with like. ``reservoir`` > 0 keeps a uniform sample of
    that many raw inputs with their outputs (off by default: it costs bandwidth
    and may carry sensitive data).
    """

    def __init__(self, manifest: dict[str, Any], device: str, *, reservoir: int = 0,
                 seed: int | None = None, source: str | None = None) -> None:
        if not DEVICE_RE.match(device or ""):
            raise InputError(f"'{device}' is not a valid device id", hint="use letters, digits, '.', '_' or '-' (max 64)")
        self.device = device
        self.build = str(manifest.get("build", ""))
        self.labels = manifest.get("labels") or None
        self.source = source
        baseline = manifest.get("baseline") or {}
        self.features: list[str] = [f["name"] for f in baseline.get("features", [])]
        self._edges = [np.asarray(f["bin_edges"], dtype=np.float64) for f in baseline.get("features", [])]
        outs = manifest.get("outputs") or [{}]
        self._out_scale = outs[0].get("scale")
        self._out_zp = outs[0].get("zero_point") or 0
        ins = manifest.get("inputs") or [{}]
        self._in_scale = ins[0].get("scale")
        self._in_zp = ins[0].get("zero_point") or 0
        # An int8 model sees its input only to within half a quantization step.
        # Baseline edges often sit exactly on data values (quantiles of integer
        # pixels), and a dequantized 4.0 may come back as 3.98: nudge by half a
        # step so a value lands in the bin its un-quantized original fell in.
        quantized = str(ins[0].get("dtype", "")) in ("int8", "uint8", "int16") and self._in_scale
        self._edge_tol = float(self._in_scale) / 2 if quantized else 0.0
        self._reservoir_size = max(0, min(int(reservoir), MAX_SAMPLE))
        self._rng = random.Random(seed)
        self.reset()

    # ---- feeding -------------------------------------------------------
    def reset(self) -> None:
        self.start = time.time()
        self.count = 0
        self._latencies: list[float] = []
        self._lat_seen = 0
        self._lat_max = 0.0
        self._pred: dict[str, int] = {}
        self._conf_sum = 0.0
        self._hist = [np.zeros(max(len(e) - 1, 0), dtype=np.int64) for e in self._edges]
        self.errors = 0
        self._error_samples: list[str] = []
        self._sample: list[dict[str, Any]] = []
        self._sample_seen = 0

    def observe(self, x_float: np.ndarray, y: np.ndarray, latency_s: float) -> None:
        """Record one inference: its input (float domain), raw output and latency."""
        x = np.asarray(x_float, dtype=np.float64)
        self._observe_inputs(x)
        probs = self._probabilities(np.asarray(y))
        cls = int(np.argmax(probs))
        key = str(self.labels[cls]) if self.labels and cls < len(self.labels) else str(cls)
        self._pred[key] = self._pred.get(key, 0) + 1
        self._conf_sum += float(probs[cls])
        self._observe_latency(float(latency_s) * 1000.0)
        self.count += 1
        if self._reservoir_size:
            self._maybe_sample(x, np.asarray(y), key)

    def observe_quantized(self, x_q: np.ndarray, y: np.ndarray, latency_s: float) -> None:
        """Like :meth:`observe` for a device that only has the int8 input (MCUs)."""
        x = np.asarray(x_q, dtype=np.float64)
        if self._in_scale:
            x = (x - self._in_zp) * float(self._in_scale)
        self.observe(x, y, latency_s)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self._error_samples) < MAX_ERROR_SAMPLES:
            self._error_samples.append(str(message)[:MAX_ERROR_TEXT])

    def _observe_inputs(self, x: np.ndarray) -> None:
        if not self._edges:
            return
        nf = len(self._edges)
        flat = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
        if flat.shape[-1] != nf:
            if flat.size % nf:
                raise InputError(f"input has {x.shape[-1] if x.ndim else 1} values on its last axis, the build's baseline has {nf} features",
                                 hint="pass the model input (float domain) for this build")
            flat = flat.reshape(-1, nf)
        for i, edges in enumerate(self._edges):
            if len(edges) < 2:
                continue
            col = np.clip(flat[:, i] + self._edge_tol, edges[0], edges[-1])
            # Same as numpy.histogram(col, bins=edges): right edge closed on the last bin.
            idx = np.searchsorted(edges, col, side="right") - 1
            idx = np.clip(idx, 0, len(edges) - 2)
            self._hist[i] += np.bincount(idx, minlength=len(edges) - 1)

    def _probabilities(self, y: np.ndarray) -> np.ndarray:
        v = y.reshape(-1).astype(np.float64)
        if np.issubdtype(y.dtype, np.integer) and self._out_scale:
            v = (v - self._out_zp) * float(self._out_scale)
        if v.size == 1:  # a single sigmoid output: two classes
            p = float(np.clip(v[0], 0.0, 1.0))
            return np.array([1.0 - p, p])
        if v.min() < -1e-6 or abs(v.sum() - 1.0) > 0.05:  # logits, not probabilities
            e = np.exp(v - v.max())
            v = e / e.sum()
        return v

    def _observe_latency(self, ms: float) -> None:
        self._lat_max = max(self._lat_max, ms)
        self._lat_seen += 1
        if len(self._latencies) < LATENCY_RESERVOIR:
            self._latencies.append(ms)
        else:
            j = self._rng.randrange(self._lat_seen)
            if j < LATENCY_RESERVOIR:
                self._latencies[j] = ms

    def _maybe_sample(self, x: np.ndarray, y: np.ndarray, pred: str) -> None:
        # Algorithm R: every inference so far is in the sample with equal chance.
        self._sample_seen += 1
        if x.size + y.size > MAX_SAMPLE_VALUES:
            return
        item = {"x": [round(float(v), 6) for v in x.reshape(-1)], "shape": list(x.shape),
                "y": [float(v) if not np.issubdtype(y.dtype, np.integer) else int(v) for v in y.reshape(-1)],
                "pred": pred}
        if len(self._sample) < self._reservoir_size:
            self._sample.append(item)
        else:
            j = self._rng.randrange(self._sample_seen)
            if j < self._reservoir_size:
                self._sample[j] = item

    # ---- output --------------------------------------------------------
    def snapshot(self, reset: bool = True) -> dict[str, Any]:
        """The window as a JSON-able dict (what goes on the telemetry topic)."""
        end = time.time()
        lat = np.asarray(self._latencies) if self._latencies else None
        msg: dict[str, Any] = {
            "format": FORMAT,
            "device": self.device,
            "build": self.build,
            "start": round(self.start, 3),
            "end": round(max(end, self.start), 3),
            "count": self.count,
            "latency_ms": None if lat is None else {
                "p50": round(float(np.percentile(lat, 50)), 4),
                "p95": round(float(np.percentile(lat, 95)), 4),
                "max": round(self._lat_max, 4),
            },
            "predictions": dict(self._pred),
            "confidence_mean": round(self._conf_sum / self.count, 6) if self.count else None,
            "histograms": {name: h.tolist() for name, h in zip(self.features, self._hist)},
            "errors": self.errors,
        }
        if self._error_samples:
            msg["error_samples"] = list(self._error_samples)
        if self._reservoir_size:
            msg["sample"] = list(self._sample)
        if self.source:
            msg["source"] = self.source
        if reset:
            self.reset()
            self.start = end
        return msg

    def to_bytes(self, reset: bool = True) -> bytes:
        return json.dumps(self.snapshot(reset), separators=(",", ":")).encode()


# ---- validation (collector side) --------------------------------------
def _reject(msg: str) -> InputError:
    return InputError(f"telemetry rejected: {msg}", hint="fix the sender; the message was stored in the rejects table")


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _count(v: Any, what: str, limit: int = MAX_COUNT) -> int:
    if not _is_int(v) or v < 0 or v > limit:
        raise _reject(f"{what} must be an integer in 0..{limit}")
    return v


def validate(payload: bytes, topic_device: str, *, now: float | None = None,
             values_per_inference: int | None = None, consistency: bool = True) -> dict[str, Any]:
    """Check one telemetry message; return it as a dict or raise InputError.

    Checks size, JSON syntax (no NaN/Infinity), the schema and types, value
    ranges, that the device named inside matches the topic it came on (a
    device cannot report for another one even if the ACL slipped), and that
    the numbers agree with each other (:func:`check_consistency`). With
    ``now``, the window must end within the clock-skew window around it.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise _reject("payload is not bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _reject(f"payload is {len(payload)} bytes, the limit is {MAX_PAYLOAD_BYTES}")
    try:
        if _orjson is not None:
            # orjson refuses NaN/Infinity, overflowing numbers, invalid UTF-8 and
            # lone surrogates at parse time: the same (or stricter) than below.
            msg = _orjson.loads(payload if isinstance(payload, bytes) else bytes(payload))
        else:
            msg = json.loads(bytes(payload).decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _reject(f"not valid UTF-8 JSON ({str(e)[:80]})") from None
    if not isinstance(msg, dict):
        raise _reject("top level must be a JSON object")
    missing = REQUIRED - msg.keys()
    if missing:
        raise _reject(f"missing keys: {', '.join(sorted(missing))}")
    unknown = msg.keys() - REQUIRED - OPTIONAL
    if unknown:
        raise _reject(f"unknown keys: {', '.join(sorted(unknown)[:5])}")
    if msg["format"] != FORMAT:
        raise _reject(f"format must be '{FORMAT}'")
    dev = msg["device"]
    if not isinstance(dev, str) or not DEVICE_RE.match(dev):
        raise _reject("device must be a device id string")
    if dev != topic_device:
        raise _reject(f"device '{dev}' in the payload does not match the topic's device '{topic_device}' (spoofed?)")
    if not isinstance(msg["build"], str) or not BUILD_RE.match(msg["build"]):
        raise _reject("build must be a build id string")
    if not _is_num(msg["start"]) or not _is_num(msg["end"]) or msg["start"] < 0:
        raise _reject("start and end must be finite epoch seconds")
    if not 0 <= msg["end"] - msg["start"] <= MAX_WINDOW_SECONDS:
        raise _reject("end must be after start and the window at most 7 days")
    count = _count(msg["count"], "count")
    lat = msg["latency_ms"]
    if lat is not None:
        if not isinstance(lat, dict) or set(lat) != {"p50", "p95", "max"} or not all(_is_num(v) and v >= 0 for v in lat.values()):
            raise _reject("latency_ms must be null or {p50, p95, max} of non-negative numbers")
    preds = msg["predictions"]
    if not isinstance(preds, dict) or len(preds) > MAX_CLASSES:
        raise _reject(f"predictions must be an object of at most {MAX_CLASSES} classes")
    for k, v in preds.items():
        if len(k) > 64:
            raise _reject("class names are at most 64 characters")
        _count(v, f"predictions[{k[:20]}]")
    if sum(preds.values()) > count:
        raise _reject("more predictions than inferences (count)")
    conf = msg["confidence_mean"]
    if conf is not None and not (_is_num(conf) and 0.0 <= conf <= 1.0):
        raise _reject("confidence_mean must be null or a number in [0, 1]")
    hists = msg["histograms"]
    if not isinstance(hists, dict) or len(hists) > MAX_FEATURES:
        raise _reject(f"histograms must be an object of at most {MAX_FEATURES} features")
    # C-level passes first (the common case: all fine); the per-key loop only
    # runs to name the offending histogram in the reason.
    if hists and (max(map(len, hists)) > 128 or set(map(type, hists.values())) != {list}
                  or max(map(len, hists.values())) > MAX_BINS):
        for k, v in hists.items():
            if len(k) > 128 or type(v) is not list or len(v) > MAX_BINS:
                raise _reject(f"histogram '{k[:40]}' must be a list of at most {MAX_BINS} counts")
    # The collector's hot loop: one C-level pass over every count; type() is
    # int rejects bools, floats and strings alike.
    flat = list(itertools.chain.from_iterable(hists.values()))
    if flat and (set(map(type, flat)) != {int} or min(flat) < 0 or max(flat) > MAX_COUNT):
        raise _reject(f"histograms entries must be integers in 0..{MAX_COUNT}")
    _count(msg["errors"], "errors")
    samples = msg.get("error_samples", [])
    if not isinstance(samples, list) or len(samples) > MAX_ERROR_SAMPLES or not all(isinstance(s, str) and len(s) <= MAX_ERROR_TEXT for s in samples):
        raise _reject(f"error_samples must be at most {MAX_ERROR_SAMPLES} short strings")
    if "sample" in msg:
        _validate_sample(msg["sample"])
    if "device_features" in msg:
        device_features.validate(msg["device_features"], count)
    if "seq" in msg:
        _count(msg["seq"], "seq", 2**63 - 1)
    if "source" in msg and (not isinstance(msg["source"], str) or len(msg["source"]) > 64):
        raise _reject("source must be a short string")
    if consistency:  # the collector runs it itself once it knows the build
        check_consistency(msg, now=now, values_per_inference=values_per_inference)
    return msg


def check_consistency(msg: dict[str, Any], *, now: float | None = None,
                      values_per_inference: int | None = None) -> None:
    """The window's numbers must describe the same inferences: each adds one prediction and, per
    histogram, ``values_per_inference`` values (input elements per feature, from the build; without
    it, any whole multiple of ``count``). 1 inference with a billion values per bin is a lie."""
    count = msg["count"]
    preds = sum(msg["predictions"].values())
    if preds != count:
        raise _reject(f"prediction counts sum to {preds}, the window has {count} inferences")
    lat, conf = msg["latency_ms"], msg["confidence_mean"]
    if count and (lat is None or conf is None):
        raise _reject("latency_ms and confidence_mean must be set when count > 0")
    if not count and (lat is not None or conf is not None):
        raise _reject("latency_ms and confidence_mean must be null when count is 0")
    if lat is not None and not lat["p50"] <= lat["p95"] <= lat["max"]:
        raise _reject("latency percentiles must be ordered: p50 <= p95 <= max")
    if len(msg.get("sample") or []) > count:
        raise _reject("more samples than inferences (count)")
    totals = set(map(sum, filter(None, msg["histograms"].values())))
    if totals:
        if len(totals) > 1:
            raise _reject("histogram totals differ between features; every inference adds to each feature")
        total = totals.pop()
        if values_per_inference is not None:
            if total != count * values_per_inference:
                raise _reject(f"histogram totals are {total}, expected count x values per inference "
                              f"= {count} x {values_per_inference}")
        elif total % max(count, 1) or (total and not count):
            raise _reject(f"histogram totals ({total}) are not a whole multiple of count ({count})")
    if now is not None:
        if msg["end"] > now + MAX_CLOCK_SKEW_SECONDS:
            raise _reject(f"window ends {msg['end'] - now:.0f} s in the future (clock skew limit "
                          f"{MAX_CLOCK_SKEW_SECONDS} s); fix the device clock (NTP)")
        if msg["end"] < now - MAX_AGE_SECONDS:
            raise _reject(f"window ended {(now - msg['end']) / 86400:.1f} days ago (limit {MAX_AGE_SECONDS // 86400} days)")


def _validate_sample(sample: Any) -> None:
    if not isinstance(sample, list) or len(sample) > MAX_SAMPLE:
        raise _reject(f"sample must be a list of at most {MAX_SAMPLE} items")
    for item in sample:
        if not isinstance(item, dict) or set(item) != {"x", "shape", "y", "pred"}:
            raise _reject("each sample item must be {x, shape, y, pred}")
        x, shape, y = item["x"], item["shape"], item["y"]
        if not isinstance(x, list) or not isinstance(y, list) or len(x) + len(y) > MAX_SAMPLE_VALUES:
            raise _reject("sample x and y must be lists of numbers within the size limit")
        if not all(_is_num(v) for v in x) or not all(_is_num(v) for v in y):
            raise _reject("sample x and y must hold finite numbers")
        if not isinstance(shape, list) or not all(_is_int(d) and d > 0 for d in shape) or math.prod(shape) != len(x):
            raise _reject("sample shape must match the length of x")
        if not isinstance(item["pred"], str) or len(item["pred"]) > 64:
            raise _reject("sample pred must be a class name")
