"""Telemetry test helpers: a registered build with a known baseline, windows
drawn from it (optionally shifted), and a plain Mosquitto on a free port.

The build here is a real registry row with a real manifest blob; it just
carries no model files, which telemetry and drift never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tinyops import timestamps
from tinyops.monitor.window import WindowAccumulator
from tinyops.registry import builds

N_FEATURES = 6
BASELINE_ROWS = 20_000


def baseline_manifest(build_id: str = "feedc0de00000001", model: str = "sensor@1", seed: int = 0) -> dict:
    """6 channels ~ N(0, 1), 10 quantile bins from 20,000 rows (like the dataset baseline)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BASELINE_ROWS, N_FEATURES))
    feats = []
    for i in range(N_FEATURES):
        edges = np.quantile(x[:, i], np.linspace(0, 1, 11))
        counts, _ = np.histogram(x[:, i], bins=edges)
        feats.append({"name": f"X[{i}]", "bin_edges": edges.tolist(), "counts": counts.tolist()})
    return {"format": "tinyops-build/1", "build": build_id, "model": model, "variant": "int8", "profile": "raspberry-pi-4",
            "runtime": "litert", "files": {}, "inputs": [{"name": "x", "shape": [1, 20, N_FEATURES], "dtype": "float32",
                                                          "scale": None, "zero_point": None}],
            "outputs": [{"name": "y", "shape": [1, 3], "dtype": "float32", "scale": None, "zero_point": None}],
            "labels": ["idle", "walk", "run"], "baseline": {"axis": "last", "features": feats}}


def register_manifest_build(ws, manifest: dict) -> str:
    data = json.dumps(manifest, sort_keys=True, indent=2).encode()
    sha = ws.blobs.put_bytes(data)
    b = builds.Build(id=manifest["build"], model=manifest["model"], variant=manifest["variant"],
                     variant_sha256=hashlib.sha256(b"none").hexdigest(), profile=manifest["profile"],
                     runtime=manifest["runtime"], manifest_sha256=sha, files={"manifest.json": sha},
                     created=timestamps.now())
    builds.register(ws, b)
    return b.id


_last_start = 0.0  # the last start window() gave (see there)


def window(manifest: dict, device: str, rng: np.random.Generator, *, n: int = 40, gain: dict[int, float] | None = None,
           offset: dict[int, float] | None = None, start: float | None = None, length: float = 60.0) -> dict:
    """One window of n inferences of shape (20, 6); optional sensor gain/offset per channel.
    Without ``start``, every window starts at least 1 ms after the last one."""
    global _last_start
    acc = WindowAccumulator(manifest, device)
    for _ in range(n):
        x = rng.normal(size=(1, 20, N_FEATURES))
        for ch, g in (gain or {}).items():
            x[..., ch] *= g
        for ch, o in (offset or {}).items():
            x[..., ch] += o
        logits = rng.normal(size=3) + np.array([0.0, 0.5, 0.0]) + x.mean() * np.array([0, 0, 3.0])
        acc.observe(x, logits, 0.002 + rng.random() * 0.001)
    snap = acc.snapshot()
    if start is not None:
        snap["start"], snap["end"] = start, start + length
    else:  # windows made within one millisecond would share (device, build, start): the collector's dedup key
        snap["start"] = _last_start = max(snap["start"], round(_last_start + 0.001, 3))
        snap["end"] = max(snap["end"], snap["start"])
    return snap


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def plain_mosquitto() -> Iterator[int]:
    """A real Mosquitto with one anonymous plain listener on 127.0.0.1; killed by pid."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert os.path.exists(exe), "mosquitto is not installed (apt-get install mosquitto)"
    port = free_port()
    d = Path(tempfile.mkdtemp(prefix="tinyops-mq-"))
    os.chmod(d, 0o755)
    conf = d / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n"
                    "max_inflight_messages 100\nset_tcp_nodelay true\nlog_dest none\n")
    os.chmod(conf, 0o644)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start on port {port}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)
