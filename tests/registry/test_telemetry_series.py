"""Chart series: the fleet timeline read from the per-slot rollup agrees with the windows
themselves (also after duplicates and for a workspace migrated with windows in it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures_telemetry import baseline_manifest, register_manifest_build, window

from tinyops.registry import telemetry as tel
from tinyops.registry import telemetry_series as series
from tinyops.workspace import Workspace

DEVICES = ("pi-0", "pi-1", "pi-2")


def _store(ws: Workspace) -> list[dict]:
    m = baseline_manifest("feedc0de00000001")
    register_manifest_build(ws, m)
    rng = np.random.default_rng(3)
    t0 = 1_800_000_003.7  # not on a slot boundary
    wins = [window(m, dev, rng, n=5 + (i % 7), start=t0 + i * 97 + j, length=60.0)
            for i in range(40) for j, dev in enumerate(DEVICES)]
    for w in wins[::9]:
        w["errors"] = 2
    by = {d: [w for w in wins if w["device"] == d] for d in DEVICES}
    # Batches per device share the rollup's slots; the last one repeats ten windows (a redelivery),
    # which must not count twice.
    assert tel.store_batch(ws, by["pi-0"], []) == (40, 0)
    assert tel.store_batch(ws, by["pi-1"], []) == (40, 0)
    assert tel.store_batch(ws, by["pi-2"] + by["pi-0"][:10], []) == (40, 10)
    return wins


def _expected(wins: list[dict], start: float, step: float, buckets: int) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for w in wins:
        k = min(int((int(w["end"] / 10) * 10 - start) / step), buckets - 1)
        b = out.setdefault(k, {"windows": 0, "inferences": 0, "errors": 0, "p95": [], "mix": {}})
        b["windows"] += 1
        b["inferences"] += w["count"]
        b["errors"] += w["errors"]
        b["p95"].append(w["latency_ms"]["p95"])
        for label, n in w["predictions"].items():
            b["mix"][label] = b["mix"].get(label, 0) + n
    return out


def _check(tl: dict, wins: list[dict], buckets: int) -> None:
    exp = _expected(wins, tl["start"], tl["step"], buckets)
    assert tl["step"] % 10 == 0 and len(tl["buckets"]) <= buckets
    assert [round((b["t"] - tl["start"]) / tl["step"]) for b in tl["buckets"]] == sorted(exp)
    for i, b in enumerate(tl["buckets"]):
        e = exp[round((b["t"] - tl["start"]) / tl["step"])]
        assert (b["windows"], b["inferences"], b["errors"]) == (e["windows"], e["inferences"], e["errors"])
        assert b["latency_p95_max_ms"] == pytest.approx(max(e["p95"]))
        assert b["latency_p95_ms"] == pytest.approx(sum(e["p95"]) / len(e["p95"]))
        for label, counts in tl["predictions"].items():
            assert counts[i] == e["mix"].get(label, 0)
    assert sum(b["windows"] for b in tl["buckets"]) == len(wins)


def test_fleet_timeline_from_rollup_matches_windows(ws: Workspace) -> None:
    wins = _store(ws)
    fleet = series.timeline(ws, buckets=24)
    assert tel.count_windows(ws) == len(wins)
    _check(fleet, wins, 24)
    # The same question asked of the windows table (the per-device path) gives the same answer.
    direct = series.timeline(ws, buckets=24, devices=list(DEVICES))
    assert [(b["t"], b["windows"], b["inferences"], b["errors"]) for b in direct["buckets"]] == \
        [(b["t"], b["windows"], b["inferences"], b["errors"]) for b in fleet["buckets"]]
    assert direct["predictions"] == fleet["predictions"]
    one = series.timeline(ws, buckets=24, devices=["pi-1"])
    _check(one, [w for w in wins if w["device"] == "pi-1"], 24)


def _rounded(x: object) -> object:
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def test_migration_rolls_up_windows_stored_before(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path / "ws")
    wins = _store(ws)
    before = series.timeline(ws, buckets=30)
    with ws.transaction() as db:  # as a workspace from before the rollup existed
        db.execute("DROP TABLE telemetry_rollup")
        db.execute("DROP TABLE telemetry_rollup_predictions")
        db.execute("DELETE FROM _migrations WHERE name = '0003_rollup'")
    ws.close()
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert _rounded(series.timeline(ws, buckets=30)) == _rounded(before)  # means summed in another order
        _check(before, wins, 30)
    finally:
        ws.close()


def test_empty_and_latest_per_device(ws: Workspace) -> None:
    assert series.timeline(ws)["buckets"] == [] and series.per_device_latest(ws) == {}
    from tinyops.registry import devices

    for d in DEVICES:
        devices.register(ws, d, "raspberry-pi-4", ["lab"], "$7$101$x$y")
    wins = _store(ws)
    latest = series.per_device_latest(ws)
    for d in DEVICES:
        newest = max((w for w in wins if w["device"] == d), key=lambda w: w["end"])
        assert latest[d]["end"] == newest["end"] and latest[d]["latency_p95_ms"] == pytest.approx(newest["latency_ms"]["p95"])
