"""Telemetry windows: accumulation on the device, validation on the collector."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyops.errors import InputError
from tinyops.monitor.window import FORMAT, MAX_PAYLOAD_BYTES, WindowAccumulator, validate


def manifest(n_features: int = 3, edges: list[float] | None = None) -> dict:
    edges = edges or [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    return {
        "format": "tinyops-build/1", "build": "abcdef0123456789", "model": "m@1", "variant": "int8",
        "inputs": [{"name": "x", "shape": [1, 4, n_features], "dtype": "int8", "scale": 1 / 255, "zero_point": -128}],
        "outputs": [{"name": "y", "shape": [1, 3], "dtype": "int8", "scale": 1 / 256, "zero_point": -128}],
        "labels": ["a", "b", "c"],
        "baseline": {"axis": "last", "features": [
            {"name": f"ch{i}", "bin_edges": edges, "counts": [1] * (len(edges) - 1)} for i in range(n_features)]},
    }


def test_histograms_match_numpy_and_clip():
    m = manifest()
    m["inputs"][0]["dtype"] = "float32"  # a float model sees exact values: plain numpy.histogram semantics
    acc = WindowAccumulator(m, "pi-1")
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-0.5, 1.5, size=(1, 4, 3)) for _ in range(50)]
    xs.append(np.zeros((1, 4, 3)))  # lands on a duplicated edge
    for x in xs:
        acc.observe(x, np.array([[-128, 127, -128]], dtype=np.int8), 0.002)
    snap = acc.snapshot()
    allx = np.concatenate([x.reshape(-1, 3) for x in xs])
    edges = np.array(manifest()["baseline"]["features"][0]["bin_edges"])
    for i in range(3):
        want, _ = np.histogram(np.clip(allx[:, i], edges[0], edges[-1]), bins=edges)
        assert snap["histograms"][f"ch{i}"] == want.tolist()
    assert snap["count"] == 51
    assert snap["predictions"] == {"b": 51}
    assert snap["confidence_mean"] == pytest.approx(255 / 256, abs=1e-3)
    assert snap["latency_ms"]["p50"] == pytest.approx(2.0)
    assert validate(json.dumps(snap).encode(), "pi-1")["count"] == 51


def test_snapshot_resets_and_reservoir_is_bounded():
    acc = WindowAccumulator(manifest(), "pi-1", reservoir=4, seed=1)
    for i in range(20):
        acc.observe(np.full((1, 4, 3), i / 20), np.array([0.1, 0.2, 3.0]), 0.001 * i)  # logits
    acc.error("sensor timeout")
    snap = acc.snapshot()
    assert len(snap["sample"]) == 4 and snap["sample"][0]["shape"] == [1, 4, 3]
    assert snap["predictions"] == {"c": 20} and snap["errors"] == 1
    assert snap["error_samples"] == ["sensor timeout"]
    assert snap["latency_ms"]["max"] == pytest.approx(19.0)
    validate(json.dumps(snap).encode(), "pi-1")
    empty = acc.snapshot()
    assert empty["count"] == 0 and empty["latency_ms"] is None and empty["errors"] == 0
    assert empty["start"] >= snap["end"]
    validate(json.dumps(empty).encode(), "pi-1")


def test_observe_quantized_dequantizes_with_manifest_scale():
    acc = WindowAccumulator(manifest(edges=[0.0, 0.5, 1.0]), "mcu-1")
    acc.observe_quantized(np.full((1, 4, 3), 127, dtype=np.int8), np.array([0, 0, 127], dtype=np.int8), 0.01)
    assert acc.snapshot()["histograms"]["ch0"] == [0, 4]


def good() -> dict:
    acc = WindowAccumulator(manifest(), "pi-1")
    acc.observe(np.zeros((1, 4, 3)), np.array([1.0, 0, 0]), 0.001)
    return acc.snapshot()


@pytest.mark.parametrize("mutate, reason", [
    (lambda m: m.update(device="pi-2"), "does not match"),
    (lambda m: m.pop("histograms"), "missing keys"),
    (lambda m: m.update(extra=1), "unknown keys"),
    (lambda m: m.update(count=-1), "count"),
    (lambda m: m.update(count=True), "count"),
    (lambda m: m.update(count="5"), "count"),
    (lambda m: m.update(start=m["end"] + 10), "end must be after"),
    (lambda m: m.update(confidence_mean=1.5), "confidence_mean"),
    (lambda m: m.update(predictions={"a": 10**6}), "more predictions"),
    (lambda m: m.update(histograms={"ch0": [1] * 1000}), "at most"),
    (lambda m: m.update(histograms={"ch0": [1.5]}), "histograms"),
    (lambda m: m.update(latency_ms={"p50": 1}), "latency_ms"),
    (lambda m: m.update(format="other/1"), "format"),
    (lambda m: m.update(build="../../etc"), "build"),
    (lambda m: m.update(sample=[{"x": [1, 2], "shape": [3], "y": [1], "pred": "a"}]), "shape"),
])
def test_validate_rejects_bad_windows(mutate, reason):
    m = good()
    mutate(m)
    with pytest.raises(InputError, match=reason):
        validate(json.dumps(m).encode(), "pi-1")


@pytest.mark.parametrize("payload", [
    b"", b"\xff\xfe", b"[]", b"null", b"{" * 100_000, b"x" * (MAX_PAYLOAD_BYTES + 1),
    json.dumps({"format": FORMAT}).encode(),
    b'{"format": "tinyops-window/1", "count": NaN}',
])
def test_validate_rejects_garbage(payload):
    with pytest.raises(InputError):
        validate(payload, "pi-1")


def test_dequantized_values_land_in_the_bins_of_their_originals():
    m = manifest(1, edges=[0.0, 4.0, 9.0, 16.0])
    m["inputs"][0].update(scale=16 / 255, zero_point=-128)
    acc = WindowAccumulator(m, "pi-1")
    raw = np.array([0.0, 4.0, 8.0, 12.0, 16.0, 3.0, 5.0, 9.0, 4.0])
    q = np.clip(np.round(raw / (16 / 255)) - 128, -128, 127)
    deq = (q + 128) * (16 / 255)
    assert deq[7] < 9.0  # the quantized 9.0 comes back just below the edge
    acc.observe(deq.reshape(1, -1, 1), np.array([1.0, 0, 0]), 0.001)
    want, _ = np.histogram(raw, bins=[0.0, 4.0, 9.0, 16.0])
    assert acc.snapshot()["histograms"]["ch0"] == want.tolist()
