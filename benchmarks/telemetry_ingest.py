"""Telemetry ingest and drift-check speed.

1. Sustained windows/s *stored* by the collector (validation + batched SQLite
   commits) against `mosquitto_sub -q 1 -t '#' > /dev/null` on the same stream,
   both subscribed at once to one real Mosquitto while a separate publisher
   process sends N windows (64-feature digits windows, ~1.6 KB each) at QoS 1.
   Measured with one collector process and with two sharing the subscription
   (how a deployment scales the collector). Goal: ratio >= 0.8.
2. `drift check` over 1,000 devices x 24 windows (per device and cohort, all
   statistics, results stored). Goal: < 2 s.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import write_result
from _telemetry import digits, make_window, manifest, mosquitto, register

from tinyops.monitor.check import check
from tinyops.monitor.collector import Collector, parse_broker_url
from tinyops.registry import telemetry as tel
from tinyops.workspace import Workspace

N_MESSAGES = 20_000
DEVICES = 1000
WINDOWS_PER_DEVICE = 24


def payloads(m: dict, n: int, X: np.ndarray, y: np.ndarray) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    bases = [make_window(m, "x", X, y, rng, 20, 0.0) for _ in range(50)]
    out = []
    t0 = time.time() - 86400
    for k in range(n):
        w = dict(bases[k % len(bases)])
        dev = f"dev-{k % DEVICES:04d}"
        w.update(device=dev, start=t0 + k, end=t0 + k + 60)
        out.append((f"tinyops/devices/{dev}/telemetry", json.dumps(w, separators=(",", ":")).encode()))
    return out


def publish(port: int, msgs: list[tuple[str, bytes]], started: mp.Value) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    started.value = time.time()
    last = None
    for topic, p in msgs:
        last = c.publish(topic, p, qos=1)
    last.wait_for_publish(300)
    c.loop_stop()
    c.disconnect()


def collector_process(root: str, port: int, ready: mp.Event, stop: mp.Event) -> None:
    ws = Workspace.open(root)
    col = Collector(ws, parse_broker_url(f"mqtt://127.0.0.1:{port}"))
    col.connect()
    ready.set()
    threading.Thread(target=lambda: (stop.wait(), col.stop()), daemon=True).start()
    col.run()


def ingest(ws: Workspace, m: dict, X: np.ndarray, y: np.ndarray, processes: int = 1) -> dict:
    """One or more collector processes on the shared subscription vs mosquitto_sub on '#'."""
    msgs = payloads(m, N_MESSAGES, X, y)
    avg = sum(len(p) for _, p in msgs) / len(msgs)
    ctx = mp.get_context("fork")
    base = tel.count_windows(ws)
    with mosquitto() as port:
        stop = ctx.Event()
        procs = []
        for _ in range(processes):
            ready = ctx.Event()
            procs.append(ctx.Process(target=collector_process, args=(str(ws.root), port, ready, stop)))
            procs[-1].start()
            ready.wait(30)
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "#",
                                "-C", str(N_MESSAGES)], stdout=subprocess.DEVNULL)
        time.sleep(1.0)  # both subscriptions in place
        started = mp.Value("d", 0.0)
        pub = ctx.Process(target=publish, args=(port, msgs, started))
        pub.start()
        sub_end = col_end = None
        deadline = time.time() + 600
        while (sub_end is None or col_end is None) and time.time() < deadline:
            if sub_end is None and sub.poll() is not None:
                sub_end = time.time()
            if col_end is None and tel.count_windows(ws) - base >= N_MESSAGES:
                col_end = time.time()
            time.sleep(0.01)
        pub.join(60)
        stop.set()
        for p in procs:
            p.join(30)
        if sub.poll() is None:
            sub.kill()
    t0 = started.value
    sub_rate = N_MESSAGES / (sub_end - t0)
    col_rate = N_MESSAGES / (col_end - t0)
    return {"collector_processes": processes, "messages": N_MESSAGES, "payload_bytes_avg": round(avg),
            "mosquitto_sub_windows_per_s": round(sub_rate), "collector_windows_per_s": round(col_rate),
            "ratio": round(col_rate / sub_rate, 3), "stored": tel.count_windows(ws) - base, "goal_ratio": 0.8}


def drift_time(ws: Workspace, m: dict, X: np.ndarray, y: np.ndarray) -> dict:
    rng = np.random.default_rng(1)
    bases = [make_window(m, "x", X, y, rng, 20, 0.0) for _ in range(50)]
    now = time.time()
    batch = []
    for d in range(DEVICES):
        for k in range(WINDOWS_PER_DEVICE):
            w = dict(bases[(d * 7 + k) % len(bases)])
            w.update(device=f"fleet-{d:04d}", start=now - 86400 + k * 3600 + 1, end=now - 86400 + (k + 1) * 3600)
            batch.append(w)
        if len(batch) >= 4000:
            tel.store_batch(ws, batch, [])
            batch = []
    tel.store_batch(ws, batch, [])
    times = []
    for _ in range(3):
        t = time.perf_counter()
        rep = check(ws, m["build"], window="24h", now=now)
        times.append(time.perf_counter() - t)
    return {"devices": DEVICES, "windows_per_device": WINDOWS_PER_DEVICE, "features": len(rep.cohort.features),
            "check_seconds": [round(t, 3) for t in times], "check_seconds_best": round(min(times), 3),
            "drift_found": rep.drift, "goal_seconds": 2.0}


def main() -> None:
    X, y = digits()
    with tempfile.TemporaryDirectory() as d:
        ws, _ = Workspace.init(Path(d) / "ws")
        m = manifest(X)
        register(ws, m)
        ing = [ingest(ws, m, X, y, 1), ingest(ws, m, X, y, 2)]
        ws2, _ = Workspace.init(Path(d) / "ws2")
        m2 = manifest(X, "be0c000000000002")
        register(ws2, m2)
        dr = drift_time(ws2, m2, X, y)
        ws.close()
        ws2.close()
    write_result("telemetry_ingest", {"ingest": ing, "drift_check": dr})


if __name__ == "__main__":
    main()
