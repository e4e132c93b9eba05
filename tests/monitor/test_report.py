"""The drift report: one self-contained HTML page with inline SVG plots."""

from __future__ import annotations

import re
import time

import pytest
from fixtures_telemetry import baseline_manifest, register_manifest_build
from test_drift import seed_windows

from tinyops.errors import InputError
from tinyops.monitor.check import check
from tinyops.monitor.report import write_report


def test_report_is_self_contained_and_shows_the_drift(ws, tmp_path):
    m = baseline_manifest()
    build = register_manifest_build(ws, m)
    now = time.time()
    seed_windows(ws, m, now)
    check(ws, build, window="1h", now=now - 3700)  # an earlier, calm check for the timeline
    out = tmp_path / "drift.html"
    info = write_report(ws, build, out, window="1h")
    page = out.read_text()
    assert info["drift"] is True and info["bytes"] == len(page.encode())
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 3
    # Nothing loaded from elsewhere: no scripts, links, images or URLs.
    assert not re.search(r"<script|<link|<img|https?://(?!www\.w3\.org/2000/svg)", page)
    assert "Drift over time per device" in page and "Prediction mix" in page
    assert ">X[2]<" in page and ">d2<" in page and "DRIFT" in page


def test_report_bad_path_writes_nothing(ws, tmp_path):
    m = baseline_manifest()
    build = register_manifest_build(ws, m)
    with pytest.raises(InputError):
        write_report(ws, build, tmp_path / "missing" / "r.html")
    assert not (tmp_path / "missing").exists()


def test_report_cli(ws, tiny, tmp_path):
    m = baseline_manifest()
    build = register_manifest_build(ws, m)
    seed_windows(ws, m, time.time())
    out = tmp_path / "r.html"
    import json

    info = json.loads(tiny("drift", "report", build, "--window", "1h", "--html", str(out), "--json").stdout)
    assert info["drift"] is True and out.exists() and info["path"] == str(out.resolve())


def test_report_wording_matches_thresholds_bins_are_labelled_and_time_is_data_time(ws, tmp_path):
    from tinyops.monitor.drift import Baseline, Thresholds, timeline
    from tinyops.registry import telemetry as tel

    m = baseline_manifest()
    build = register_manifest_build(ws, m)
    now = time.time()
    seed_windows(ws, m, now, before=0, after=2)  # no reference period: prediction drift cannot be judged
    page = (tmp_path / "r.html")
    write_report(ws, build, page, window="1h")
    text = page.read_text()
    assert "None" not in text
    assert "prediction drift (cohort): not compared: no predictions of these builds before the window" in text
    for value in re.findall(r"drift: psi (\d+\.\d+) &gt;= alert 0\.2", text):
        assert float(value) >= 0.2
    for value in re.findall(r"ok: psi (\d+\.\d+) &lt; warn 0\.1", text):
        assert float(value) < 0.1
    assert re.search(r"<title>\[-?\d", text)  # each bin names its range
    edge0 = m["baseline"]["features"][0]["bin_edges"][2]
    assert f">{edge0:.3g}<" in text  # and the axis shows the edges
    wins = tel.load_windows(ws)
    points = timeline(Baseline.from_manifest(m), wins, Thresholds(), now - 7 * 86400, now + 1)
    assert points and all(min(w.end for w in wins) <= p["t"] <= now + 1 + 7 * 86400 / 24 for p in points)
    # points sit at the windows' own times, not at the time the checks ran
    assert max(p["t"] for p in points) - min(w.end for w in wins) < 7 * 86400 / 24 + 1
