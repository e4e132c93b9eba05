"""Fleet rollout over MQTT and the agent's local endpoint.

1. A ~256 KB int8 build (digits MLP, hidden 2350, trained with the real
   pipeline) rolled out in one batch (canary 100%, so the figure is fan-out,
   not batch gating) to N = 1, 10, 50, 200 real `tinyops-agent` processes on a
   real Mosquitto with TLS. Wall time from `rollout_build` to every agent
   reporting the build (agents already connected; their start-up is not
   counted). Host bytes = the build published once + one `desired` message
   per device; divided by the build size.
2. Agent endpoint: POST /v1/predict (raw int8 bytes, HTTP/1.1 keep-alive,
   one client) vs a bare LiteRT invoke of the same model in-process.

Usage: python benchmarks/fleet_rollout.py [--sizes 1,10,50,200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPE = {
    "model": {"name": "digits", "description": "256 KB benchmark MLP"},
    "data": {"dataset": "digits@1", "inputs": ["p*"], "label": "label"},
    "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
    "architecture": {"kind": "mlp", "hidden": [2350]},
    "train": {"epochs": 1, "batch_size": 64, "learning_rate": 0.001, "seed": 1},
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_build(root: Path):
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from prepare import prepare

    from tinyops.cli.common import resolve_variant
    from tinyops.devices.build import build
    from tinyops.ml import convert, train
    from tinyops.registry import datasets
    from tinyops.workspace import Workspace

    ws, _ = Workspace.init(root / "ws")
    datasets.add_file(ws, "digits", prepare(root / "data"))
    train.train(ws, RECIPE)
    convert.convert(ws, "digits@1", "int8")
    return ws, build(ws, resolve_variant(ws, "digits@1:int8"), "raspberry-pi-4").build.id


def start_agents(ws, prefix: str, n: int, group: str) -> list[tuple[subprocess.Popen, Path]]:
    from tinyops.fleet import enroll

    procs = []
    for i in range(n):
        r = enroll.register_device(ws, f"{prefix}{i:03d}", "raspberry-pi-4", [group], http_port=0,
                                   telemetry_period_s=3600)
        cfg = Path(r.agent_config)
        log = open(cfg.parent / "agent.log", "ab")
        p = subprocess.Popen([sys.executable, "-m", "tinyops.agent.main", "--config", str(cfg), "--log-level", "WARNING"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        procs.append((p, cfg.parent / "state"))
    deadline = time.monotonic() + 300
    for _, state in procs:  # every agent up (HTTP port written after MQTT connect)
        while not (state / "http.port").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"agents did not start: {state}")
            time.sleep(0.1)
    return procs


def stop_agents(procs) -> None:
    for p, _ in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
    for p, _ in procs:
        p.wait(30)


def _cpu_s(procs) -> float:
    """User+system CPU seconds used so far by the agent processes (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p, _ in procs:
        try:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def rollout_figure(ws, build_id: str, sizes: list[int]) -> list[dict]:
    from tinyops.fleet import api, publish
    from tinyops.fleet.rollout import Strategy

    pub = publish.publish(ws, build_id)
    rows = []
    for n in sizes:
        group = f"n{n}"
        procs = start_agents(ws, f"b{n}-", n, group)
        try:
            time.sleep(1.0)  # let start-up work settle before measuring
            idle0 = _cpu_s(procs)
            time.sleep(2.0)  # idle agents (connected, nothing to do) should cost ~0 CPU
            idle_ms_per_agent_s = (_cpu_s(procs) - idle0) / n / 2.0 * 1000
            cpu0 = _cpu_s(procs)
            t0 = time.perf_counter()
            r = api.rollout_build(ws, build_id, group, Strategy(canary_pct=100, health_timeout_s=300))
            wall = time.perf_counter() - t0
            agent_cpu = _cpu_s(procs) - cpu0
        finally:
            stop_agents(procs)
        assert r.state == "completed" and r.counts()["updated"] == n, (r.state, r.message)
        desired = len(json.dumps({"build": build_id, "rollout": r.id, "set_at": "2026-11-26T17:00:00.000Z"}))
        host_bytes = pub.bytes_published + n * desired
        rows.append({"agents": n, "wall_s": round(wall, 3), "agent_cpu_s_total": round(agent_cpu, 2),
                     "agent_cpu_ms_per_update": round(agent_cpu / n * 1000, 1),
                     "idle_agent_cpu_ms_per_s": round(idle_ms_per_agent_s, 2), "host_bytes": host_bytes,
                     "host_bytes_per_build_size": round(host_bytes / pub.bundle_bytes, 3)})
        print(rows[-1], flush=True)
    return rows, pub.bundle_bytes


def endpoint_figure(ws, build_id: str, seconds: float = 3.0) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    from tinyops.fleet import api
    from tinyops.fleet.publish import load_bundle
    from tinyops.fleet.rollout import Strategy

    b = load_bundle(ws, build_id)
    import io

    with np.load(io.BytesIO(b.files["golden.npz"])) as z:
        x = z["inputs"][0:1]
    # bare LiteRT
    it = Interpreter(model_content=b.files["model.tflite"], num_threads=1)
    it.allocate_tensors()
    i_in, i_out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        it.set_tensor(i_in, x)
        it.invoke()
        it.get_tensor(i_out)
        lat.append(time.perf_counter() - t)
    bare = {"requests_per_s": round(len(lat) / sum(lat), 1), "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 4)}
    # the agent endpoint
    procs = start_agents(ws, "http-", 1, "http")
    try:
        r = api.rollout_build(ws, build_id, "http", Strategy(canary_pct=100, health_timeout_s=120))
        assert r.state == "completed"
        port = int((procs[0][1] / "http.port").read_text())
        conn = http.client.HTTPConnection("127.0.0.1", port)
        body = x.tobytes()
        lat = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            conn.request("POST", "/v1/predict", body, {"Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            lat.append(time.perf_counter() - t)
        conn.close()
    finally:
        stop_agents(procs)
    agent = {"requests_per_s": round(len(lat) / sum(lat), 1), "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 4)}
    return {"bare_litert": bare, "agent_http": agent,
            "agent_vs_bare_rate": round(agent["requests_per_s"] / bare["requests_per_s"], 4),
            "p50_ms_agent": round(float(statistics.median(lat)) * 1000, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,10,50,200")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from tinyops.fleet import broker

    root = Path(tempfile.mkdtemp(prefix="tinyops-bench-fleet-"))
    os.chmod(root, 0o755)
    ws = None
    try:
        ws, build_id = make_build(root)
        broker.setup(ws, root / "broker", port=_free_port())
        broker.start(ws)
        rows, size = rollout_figure(ws, build_id, sizes)
        ep = endpoint_figure(ws, build_id)
        t1 = next(r["wall_s"] for r in rows if r["agents"] == min(sizes))
        tmax = next(r["wall_s"] for r in rows if r["agents"] == max(sizes))
        write_result("fleet_rollout", {
            "build_bytes": size, "strategy": "one batch (canary 100%), TLS, QoS 1, 64 KiB chunks",
            "rollout": rows, f"time_{max(sizes)}_over_time_{min(sizes)}": round(tmax / t1, 2),
            "goal_time_ratio": "<= 3", "endpoint": ep,
        })
    finally:
        if ws is not None:
            try:
                broker.stop(ws)
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
