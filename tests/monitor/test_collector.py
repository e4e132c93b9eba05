"""The collector against a real Mosquitto: shared subscription, batching, rejects, never crashing."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import paho.mqtt.client as mqtt
from fixtures_telemetry import baseline_manifest, plain_mosquitto, register_manifest_build, window

from tinyops.monitor.collector import Collector, parse_broker_url
from tinyops.registry import telemetry as tel


def publisher(port: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_collector_stores_valid_rejects_hostile_and_keeps_running(ws):
    m = baseline_manifest()
    register_manifest_build(ws, m)
    rng = np.random.default_rng(0)
    with plain_mosquitto() as port:
        col = Collector(ws, parse_broker_url(f"mqtt://127.0.0.1:{port}"))
        col.connect()
        t = threading.Thread(target=col.run, daemon=True)
        t.start()
        pub = publisher(port)
        try:
            good = [window(m, f"pi-{i % 3}", rng, n=5) for i in range(30)]
            for w in good:
                pub.publish(f"tinyops/devices/{w['device']}/telemetry", json.dumps(w), qos=1).wait_for_publish(5)
            spoofed = dict(good[0], device="pi-9")
            hostile = [
                ("tinyops/devices/pi-0/telemetry", b"\x00\xff garbage"),
                ("tinyops/devices/pi-0/telemetry", b"[" * 50_000 + b"]" * 50_000),  # deep nesting
                ("tinyops/devices/pi-0/telemetry", b"{" + b" " * 300_000 + b"}"),  # oversized
                ("tinyops/devices/pi-0/telemetry", json.dumps(spoofed).encode()),  # spoofed device
                ("tinyops/devices/pi-0/telemetry", json.dumps(dict(good[0], count="7")).encode()),  # wrong type
                ("tinyops/devices/pi-0/telemetry", json.dumps(dict(good[0], build="0123456789abcdef")).encode()),  # unknown build
                ("tinyops/devices/pi-0/telemetry", json.dumps(dict(good[0], histograms={"X[0]": [1, 2]})).encode()),  # wrong bins
            ]
            for topic, payload in hostile:
                pub.publish(topic, payload, qos=1).wait_for_publish(5)
            pub.publish(f"tinyops/devices/{good[0]['device']}/telemetry", json.dumps(good[0]), qos=1).wait_for_publish(5)  # duplicate
            late = window(m, "pi-1", rng, n=5)
            pub.publish("tinyops/devices/pi-1/telemetry", json.dumps(late), qos=1).wait_for_publish(5)
            wait_for(lambda: col.stats.stored >= 31 and col.stats.rejected >= len(hostile) and col.stats.duplicates >= 1)
            assert t.is_alive()
        finally:
            pub.loop_stop()
            pub.disconnect()
            col.stop()
            t.join(10)
    assert tel.count_windows(ws) == 31
    reasons = [r["reason"] for r in tel.list_rejects(ws, 50)]
    assert len(reasons) == len(hostile)
    assert any("does not match the topic" in r for r in reasons)
    assert any("unknown build" in r for r in reasons)
    assert any("limit" in r for r in reasons)
    assert any("count" in r for r in reasons)
    stored = tel.load_windows(ws, devices=["pi-1"])
    assert sum(w.count for w in stored) == 5 * (sum(1 for w in good if w["device"] == "pi-1") + 1)
    assert stored[-1].histograms() == late["histograms"]


def test_two_collectors_share_the_load(ws, tmp_path):
    from tinyops.workspace import Workspace

    m = baseline_manifest()
    register_manifest_build(ws, m)
    rng = np.random.default_rng(1)
    with plain_mosquitto() as port:
        ws2 = Workspace.open(ws.root)  # a second process would open its own connection too
        cols = [Collector(w, parse_broker_url(f"mqtt://127.0.0.1:{port}")) for w in (ws, ws2)]
        threads = []
        for c in cols:
            c.connect()
            threads.append(threading.Thread(target=c.run, daemon=True))
            threads[-1].start()
        pub = publisher(port)
        try:
            for i in range(60):
                w = window(m, f"pi-{i % 4}", rng, n=2)
                pub.publish(f"tinyops/devices/{w['device']}/telemetry", json.dumps(w), qos=1).wait_for_publish(5)
            wait_for(lambda: sum(c.stats.stored for c in cols) >= 60)
        finally:
            pub.loop_stop()
            pub.disconnect()
            for c in cols:
                c.stop()
            for t in threads:
                t.join(10)
            ws2.close()
    assert tel.count_windows(ws) == 60
    assert all(c.stats.stored > 0 for c in cols), [c.stats for c in cols]  # the broker split the stream


def test_telemetry_show_cli(ws, tiny):
    m = baseline_manifest()
    register_manifest_build(ws, m)
    rng = np.random.default_rng(2)
    wins = [window(m, "pi-1", rng, n=3, start=time.time() - 600 + k) for k in range(3)]
    tel.store_batch(ws, wins, [{"topic": "tinyops/devices/pi-1/telemetry", "device": "pi-1", "reason": "bad json",
                                "payload": b"{"}])
    data = json.loads(tiny("telemetry", "show", "--device", "pi-1", "--json").stdout)
    assert data["devices"][0]["inferences"] == 9 and len(data["windows"]) == 3
    assert data["rejects"][0]["reason"] == "bad json"
    text = tiny("telemetry", "show").stdout
    assert "pi-1" in text and "bad json" in text


def test_collect_reports_progress_live_and_only_the_result_on_a_pipe(ws, tiny):
    m = baseline_manifest()
    register_manifest_build(ws, m)
    rng = np.random.default_rng(5)
    with plain_mosquitto() as port:
        col = Collector(ws, parse_broker_url(f"mqtt://127.0.0.1:{port}"))
        col.connect()
        seen: list[dict] = []
        pub = publisher(port)
        try:
            for k in range(5):
                w = window(m, "pi-1", rng, n=3)
                pub.publish("tinyops/devices/pi-1/telemetry", json.dumps(w), qos=1).wait_for_publish(5)
            col.run(duration=1.6, progress=seen.append, progress_every=0.5)
        finally:
            pub.loop_stop()
            pub.disconnect()
        assert seen and {"windows_per_s", "stored", "rejected"} <= set(seen[-1])
        assert seen[-1]["stored"] == 5
        res = tiny("telemetry", "collect", "--broker", f"mqtt://127.0.0.1:{port}", "--duration", "0.5")
    assert "\r" not in res.output and res.output.startswith("Stored ")
