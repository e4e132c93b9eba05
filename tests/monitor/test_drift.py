"""Drift statistics, evaluation per device and cohort, stored checks, CLI exit codes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fixtures_telemetry import baseline_manifest, register_manifest_build, window

from tinyops.errors import InputError, NotFoundError
from tinyops.monitor import stats
from tinyops.monitor.check import check, parse_duration
from tinyops.monitor.drift import Baseline, Thresholds, compare_scope
from tinyops.registry import telemetry as tel


def test_statistics_known_values():
    b = np.array([[50.0, 50.0], [50.0, 50.0]])
    c = np.array([[50.0, 50.0], [90.0, 10.0]])
    mask = np.ones_like(b, dtype=bool)
    centres = np.array([[0.0, 1.0], [0.0, 1.0]])
    s = stats.compare(b, c, mask, centres)
    assert s["psi"][0] == pytest.approx(0.0)
    # PSI = (0.9-0.5) ln(0.9/0.5) + (0.1-0.5) ln(0.1/0.5)
    assert s["psi"][1] == pytest.approx(0.4 * np.log(1.8) + 0.4 * np.log(5), rel=1e-6)
    assert s["ks"][1] == pytest.approx(0.4)
    assert 0 < s["js"][1] <= np.sqrt(np.log(2))
    assert s["wasserstein"][1] == pytest.approx(0.4 / 0.5)  # moved 0.4 of the mass by 1, baseline std 0.5
    assert s["chi2_p"][0] > 0.5 and s["chi2_p"][1] < 1e-6
    # Completely disjoint distributions reach the JS maximum.
    s2 = stats.compare(np.array([[100.0, 0.0]]), np.array([[0.0, 100.0]]), np.ones((1, 2), bool), np.array([[0.0, 1.0]]))
    assert s2["js"][0] == pytest.approx(np.sqrt(np.log(2)))


def test_small_windows_do_not_false_alarm_but_real_shifts_do():
    m = baseline_manifest()
    base = Baseline.from_manifest(m)
    rng = np.random.default_rng(3)
    th = Thresholds()
    alarms = 0
    for _ in range(200):
        w = window(m, "d", rng, n=5)  # 100 values per channel
        cur = np.array([[*w["histograms"][n]] for n in base.names], dtype=float)
        alarms += any(f["verdict"] == "drift" for f in compare_scope(base, cur, th))
    assert alarms <= 2
    w = window(m, "d", rng, n=40, gain={1: 2.0}, offset={4: 1.0})
    cur = np.array([[*w["histograms"][n]] for n in base.names], dtype=float)
    verdicts = {f["name"]: f["verdict"] for f in compare_scope(base, cur, th)}
    assert verdicts["X[1]"] == "drift" and verdicts["X[4]"] == "drift"
    assert {verdicts[f"X[{i}]"] for i in (0, 2, 3, 5)} <= {"ok", "warn"}


def seed_windows(ws, m, now, shifted=("d2",), devices=("d1", "d2", "d3"), before=6, after=6):
    rng = np.random.default_rng(7)
    wins = []
    for k in range(before):  # reference period, all in distribution
        for d in devices:
            wins.append(window(m, d, rng, start=now - 7200 + k * 60))
    for k in range(after):
        for d in devices:
            kw = {"gain": {2: 1.8}, "offset": {5: 0.8}} if d in shifted else {}
            wins.append(window(m, d, rng, start=now - 1800 + k * 60, **kw))
    tel.store_batch(ws, wins, [])


def test_check_flags_only_shifted_devices_and_features(ws, tiny):
    m = baseline_manifest()
    build = register_manifest_build(ws, m)
    now = time.time()
    seed_windows(ws, m, now)
    rep = check(ws, build, window="1h", now=now).to_dict()
    assert rep["drift"] is True and rep["drifted_devices"] == ["d2"]
    d2 = next(d for d in rep["devices"] if d["device"] == "d2")
    assert set(d2["drifted_features"]) == {"X[2]", "X[5]"}
    verdicts = {f["name"]: f["verdict"] for f in rep["features"]}
    assert verdicts["X[2]"] == verdicts["X[5]"] == "drift" and verdicts["X[0]"] in ("ok", "warn")
    # The reference period on its own shows no drift.
    calm = check(ws, build, window="1h", now=now - 3700).to_dict()
    assert calm["drift"] is False
    assert tel.last_drift_check(ws)["drift"] is False
    hist = tel.drift_history(ws, scope="device", kind="max")
    assert {h["scope_id"] for h in hist} == {"d1", "d2", "d3"}

    # CLI: exit code 3 and the JSON contract; --device d1 alone is clean (0).
    out = tiny("drift", "check", build, "--window", "1h", "--json", "--no-alerts", code=3)
    data = json.loads(out.stdout)
    assert data["drift"] is True
    assert {"name", "psi", "js", "verdict"} <= set(data["features"][0])
    res = tiny("drift", "check", build, "--device", "d1", "--window", "1h", "--json", code=0)
    assert json.loads(res.stdout)["drift"] is False


def test_model_reference_target_and_bad_input(ws):
    from fixtures_models import keras_like

    from tinyops.registry import models
    models.register(ws, "sensor", keras_like("a"))
    m = baseline_manifest()
    register_manifest_build(ws, m)
    now = time.time()
    seed_windows(ws, m, now, shifted=())
    assert check(ws, "sensor@1:int8", window="1h", now=now).to_dict()["drift"] is False
    with pytest.raises(NotFoundError):
        check(ws, "sensor@1:float16", now=now)
    with pytest.raises(InputError):
        parse_duration("soon")
    assert parse_duration("90s") == 90 and parse_duration("2h") == 7200
    n = tel.count_windows(ws)
    with pytest.raises(NotFoundError):
        check(ws, "feedc0de00000001", group="nobody", now=now)
    assert tel.count_windows(ws) == n


def test_prediction_mix_without_a_reference_period_says_so_not_too_few() -> None:
    from tinyops.monitor.drift import Thresholds, compare_predictions

    p = compare_predictions({}, {"1": 300, "2": 300}, Thresholds())
    assert p["verdict"] == "insufficient" and p["n"] == 600 and "before the window" in p["reason"]
    assert "reason" not in compare_predictions({"1": 300, "2": 300}, {"1": 290, "2": 310}, Thresholds())
    # 33 earlier predictions (a window straddling the start) are no reference: a false alarm in the loop test
    few = compare_predictions({"1": 30, "3": 3}, {"1": 120, "2": 100, "3": 47}, Thresholds())
    assert few["verdict"] == "insufficient" and few["reason"].startswith("only 33 predictions")
