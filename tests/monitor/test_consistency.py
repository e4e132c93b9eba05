"""Telemetry that lies about itself is rejected with a reason and moves no verdict; rejects are a capped ring."""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
from fixtures_telemetry import baseline_manifest, register_manifest_build, window

from tinyops.monitor.check import check
from tinyops.monitor.collector import RATE_BURST, Collector
from tinyops.registry import telemetry as tel


def topic(dev: str) -> str:
    return f"tinyops/devices/{dev}/telemetry"


def honest_fleet(ws, m, rng, now):
    col = Collector(ws, None)
    wins = [window(m, f"pi-{d}", rng, n=40, start=now - 1800 + k * 60) for d in range(4) for k in range(6)]
    col.process([(topic(w["device"]), json.dumps(w).encode()) for w in wins])
    assert col.stats.stored == len(wins) and col.stats.rejected == 0
    return col


def drifted(ws, now) -> int:
    rep = check(ws, "feedc0de00000001", window="1h", now=now, save=False)
    return len(rep.to_dict()["drifted_devices"]) + sum(f["verdict"] == "drift" for f in rep.to_dict()["features"])


def test_one_inference_with_a_billion_counts_is_rejected_and_moves_no_verdict(ws):
    m = baseline_manifest()
    register_manifest_build(ws, m)
    rng = np.random.default_rng(0)
    now = time.time()
    col = honest_fleet(ws, m, rng, now)
    before = drifted(ws, now)
    assert before == 0
    lie = window(m, "pi-1", rng, n=1, start=now - 120)
    lie["histograms"] = {k: [10**9 if i < 3 else 0 for i in range(len(v))] for k, v in lie["histograms"].items()}
    col.process([(topic("pi-1"), json.dumps(lie).encode())])
    assert col.stats.rejected == 1 and col.stats.stored == 24
    assert "histogram totals" in tel.list_rejects(ws, 1)[0]["reason"]
    assert drifted(ws, now) == before
    tel.store_batch(ws, [lie], [])  # had it got in, it would have moved the verdict on its own
    assert drifted(ws, now) > before


def inconsistent(m, rng, now) -> list[tuple[str, dict]]:
    """Ten kinds of self-contradicting windows, five of each (50)."""
    out = []
    for i in range(5):
        w = lambda: window(m, "pi-2", rng, n=10, start=now - 900 + i)  # noqa: E731
        kinds = {}
        a = w(); a["histograms"] = {k: [10**9] * len(v) for k, v in a["histograms"].items()}; kinds["inflated bins"] = a
        b = w(); b["histograms"]["X[0]"][0] += 1; kinds["one feature off by one"] = b
        c = w(); h = c["histograms"]; kinds["totals x2"] = dict(c, histograms={k: [2 * x for x in v] for k, v in h.items()})
        d = w(); d["predictions"] = {"idle": 3}; kinds["predictions < count"] = d
        e = w(); e["latency_ms"] = {"p50": 9.0, "p95": 2.0, "max": 10.0}; kinds["p50 > p95"] = e
        f = w(); f["latency_ms"] = dict(f["latency_ms"], max=0.0); kinds["max < p95"] = f
        g = w(); g["start"], g["end"] = now + 3600, now + 3660; kinds["from the future"] = g
        k_ = w(); k_["start"], k_["end"] = now - 40 * 86400, now - 40 * 86400 + 60; kinds["40 days old"] = k_
        z = w(); z["count"] = 0; z["predictions"] = {}; kinds["count 0 with histograms"] = z
        y = w(); y["count"] = 11; y["predictions"] = dict(y["predictions"], idle=y["predictions"].get("idle", 0) + 1)
        kinds["count 11, values of 10"] = y
        out += list(kinds.items())
    return out


def test_fifty_inconsistent_windows_are_all_rejected_with_a_reason(ws):
    m = baseline_manifest()
    register_manifest_build(ws, m)
    rng = np.random.default_rng(1)
    now = time.time()
    col = Collector(ws, None)
    bad = inconsistent(m, rng, now)
    assert len(bad) == 50
    col.process([(topic("pi-2"), json.dumps(w).encode()) for _, w in bad])
    assert col.stats.stored == 0 and col.stats.rejected == 50
    reasons = Counter(r["reason"].split(":")[1].split(",")[0].strip()[:40] for r in tel.list_rejects(ws, 100))
    assert sum(reasons.values()) == 50
    # Each kind is caught by the check meant for it.
    text = " ".join(r["reason"] for r in tel.list_rejects(ws, 100))
    for needle in ("histogram totals", "prediction counts", "percentiles", "future", "days ago"):
        assert needle in text


def test_rejects_are_a_ring_per_device_and_all_counted(ws):
    col = Collector(ws, None)
    for _ in range(3):
        col.process([(topic("pi-7"), b"not json")] * 40 + [(topic("pi-8"), b"{}")])
    assert tel.count_rejects(ws) == 123
    assert tel.count_stored_rejects(ws) == tel.REJECTS_PER_DEVICE + 3
    counts = {r["device"]: r["total"] for r in tel.reject_counts(ws)}
    assert counts == {"pi-7": 120, "pi-8": 3}


def test_oversized_message_is_never_queued_whole_and_a_device_is_rate_limited(ws):
    m = baseline_manifest()
    register_manifest_build(ws, m)
    col = Collector(ws, None)
    col._on_message(topic("pi-3"), b"x" * (10 * 1024 * 1024), False)
    queued = col._queue.get_nowait()
    assert len(queued[1]) <= tel.REJECT_PAYLOAD_KEEP
    col.process([queued])
    r = tel.list_rejects(ws, 1)[0]
    assert r["size"] == 10 * 1024 * 1024 and "limit" in r["reason"]
    rng = np.random.default_rng(2)
    now = time.time()
    wins = [window(m, "pi-4", rng, n=2, start=now - 3000 + k) for k in range(RATE_BURST + 10)]
    col.process([(topic("pi-4"), json.dumps(w).encode()) for w in wins])
    assert col.stats.stored == RATE_BURST
    assert any("rate limit" in x["reason"] for x in tel.list_rejects(ws, 5))
