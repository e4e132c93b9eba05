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
