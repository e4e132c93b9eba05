"""Dashboard speed: time to first byte and to a rendered page in headless Chromium,
for the fleet page with 1,000 devices and the telemetry page with 100,000 windows.

Goal: under 300 ms each. The workspace is synthetic but real: devices registered
in the registry with reported states, windows stored with `store_batch` (which
keeps the per-slot rollup the telemetry charts read). The server caches a
page's data until the registry changes (SQLite's data_version), so each page is
measured twice: with unchanged data (served from that cache) and right after a
write to the registry (computed again, as a live page is while devices report).
Writes benchmarks/results/ui.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from fixtures_telemetry import baseline_manifest, register_manifest_build  # noqa: E402
from fixtures_ui import chromium, ui_server  # noqa: E402

from tinyops.registry import devices as devices_reg  # noqa: E402
from tinyops.registry import telemetry as tel  # noqa: E402
from tinyops.workspace import Workspace  # noqa: E402

DEVICES, WINDOWS, RUNS = 1000, 100_000, 7


def make_workspace(root: Path) -> None:
    ws, _ = Workspace.init(root)
    m = baseline_manifest("feedc0de00000001")
    build = register_manifest_build(ws, m)
    for i in range(DEVICES):
        dev = f"pi-{i:04d}"
        devices_reg.register(ws, dev, "raspberry-pi-4", [f"line-{i % 10}"], "$7$101$x$y")
        devices_reg.record_reported(ws, dev, {"device": dev, "build": build, "slot": "a", "state": "running",
                                              "agent_version": "0.1.0"}, seen="2026-12-01T00:00:00Z")
        devices_reg.record_status(ws, dev, "online" if i % 7 else "offline")
    rng = np.random.default_rng(0)
    t0 = time.time() - WINDOWS / DEVICES * 60
    hist = {f["name"]: [4] * len(f["counts"]) for f in m["baseline"]["features"]}
    batch = []
    for k in range(WINDOWS):
        start = t0 + (k // DEVICES) * 60
        batch.append({"device": f"pi-{k % DEVICES:04d}", "build": build, "start": start, "end": start + 60, "count": 40,
                      "latency_ms": {"p50": 2.0 + rng.random(), "p95": 3.0 + rng.random(), "max": 5.0},
                      "predictions": {"idle": 20, "walk": 15, "run": 5}, "confidence_mean": 0.8, "errors": int(k % 97 == 0),
                      "histograms": hist})
        if len(batch) == 5000:
            tel.store_batch(ws, batch, [])
            batch = []
    ws.close()


def ttfb(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read(1)
        first = time.perf_counter() - t
        r.read()
    return first * 1000


def rendered(driver, url: str) -> dict[str, float]:
    driver.get(url)
    deadline = time.monotonic() + 60
    while not driver.execute_script("return window.tinyopsRendered === true"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never rendered")
        time.sleep(0.01)
    return driver.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        const mark = performance.getEntriesByName('tinyops-rendered')[0];
        return {ttfb_ms: nav.responseStart - nav.startTime, rendered_ms: mark.startTime};""")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tinyops-bench-ui-") as tmp:
        root = Path(tmp) / "ws"
        t = time.perf_counter()
        make_workspace(root)
        setup_s = time.perf_counter() - t
        results = {}
        ws = Workspace.open(root)  # writes one device's status: "the registry changed" (as a report would)
        flip = iter(range(1_000_000))

        def change() -> None:
            devices_reg.record_status(ws, "pi-0000", "online" if next(flip) % 2 else "offline")

        with ui_server(root) as (url, _token, _log), chromium() as d:
            for name, path in (("fleet_1000_devices", "/fleet"), ("telemetry_100000_windows", "/telemetry")):
                cold = ttfb(url + path)  # the first request: imports, templates, cold SQLite pages
                tt = [ttfb(url + path) for _ in range(RUNS)]  # unchanged data: served from the page cache
                br = [rendered(d, url + path) for _ in range(RUNS)]
                tc, bc = [], []
                for _ in range(RUNS):  # after a change: computed again
                    change()
                    tc.append(ttfb(url + path))
                    change()
                    bc.append(rendered(d, url + path))
                results[name] = {"first_request_ttfb_ms": round(cold, 1),
                                 "ttfb_ms_median": round(statistics.median(tt), 1), "ttfb_ms_max": round(max(tt), 1),
                                 "browser_ttfb_ms_median": round(statistics.median(b["ttfb_ms"] for b in br), 1),
                                 "rendered_ms_median": round(statistics.median(b["rendered_ms"] for b in br), 1),
                                 "rendered_ms_max": round(max(b["rendered_ms"] for b in br), 1),
                                 "after_change_ttfb_ms_median": round(statistics.median(tc), 1),
                                 "after_change_rendered_ms_median": round(statistics.median(b["rendered_ms"] for b in bc), 1),
                                 "runs": RUNS}
                r = results[name]
                print(f"{name}: first byte {r['ttfb_ms_median']} ms, rendered {r['rendered_ms_median']} ms; after a change "
                      f"{r['after_change_ttfb_ms_median']} / {r['after_change_rendered_ms_median']} ms "
                      f"(medians of {RUNS}; goal < 300 ms)")
        ws.close()
    out = {"figure": "dashboard time to first byte and to rendered page (headless Chromium)",
           "devices": DEVICES, "windows": WINDOWS, "goal_ms": 300, "workspace_setup_s": round(setup_s, 1),
           "load_average_1m": round(os.getloadavg()[0], 1), **results,
           "met": all(r[k] < 300 for r in results.values() for k in ("ttfb_ms_median", "rendered_ms_median",
                                                                      "after_change_ttfb_ms_median",
                                                                      "after_change_rendered_ms_median"))}
    (HERE / "results" / "ui.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
