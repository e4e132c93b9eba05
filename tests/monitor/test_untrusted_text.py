"""Device-supplied text never reaches a terminal or a page raw."""

from __future__ import annotations

import json
import time

import numpy as np
from fixtures_telemetry import baseline_manifest, register_manifest_build, window

from tinyops.monitor.collector import Collector
from tinyops.monitor.report import write_report
from tinyops.safe_text import for_html, for_terminal

HOSTILE = ["\x1b[2J\x1b[31midle", "walk\x07\x9b31m", "run\u202etxt.exe"]
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def test_helpers_escape_every_control_character():
    assert for_terminal("a\x1b[31mb") == "a\\x1b[31mb"
    assert for_terminal("x\u202ey") == "x\\u202ey"
    assert for_terminal("two\nlines", keep_newlines=True) == "two\nlines"
    assert for_html('<b onclick="x">\x1b') == "&lt;b onclick=&quot;x&quot;&gt;\\x1b"


def test_class_names_with_escapes_are_shown_escaped(ws, tiny, tmp_path):
    m = baseline_manifest()
    m["labels"] = HOSTILE
    build = register_manifest_build(ws, m)
    rng = np.random.default_rng(3)
    now = time.time()
    wins = [window(m, "pi-1", rng, n=40, start=now - 1200 + k * 60) for k in range(5)]
    col = Collector(ws, None)
    col.process([("tinyops/devices/pi-1/telemetry", json.dumps(w).encode()) for w in wins])
    assert col.stats.stored == 5
    text = tiny("telemetry", "show", "--device", "pi-1").stdout
    assert "\\x1b[2J" in text or "\\x1b[31m" in text
    assert not any(c in text for c in RAW), repr(text)
    out = tmp_path / "r.html"
    write_report(ws, build, out, window="1h")
    page = out.read_text()
    assert "\\x1b[31midle" in page
    assert not any(c in page for c in RAW)
