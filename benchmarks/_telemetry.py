"""Shared set-up for the telemetry benchmarks: a digits baseline, windows, a plain Mosquitto."""

from __future__ import annotations

import contextlib
import datetime as dt
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

from tinyops.monitor.window import WindowAccumulator
from tinyops.registry import builds
from tinyops.registry import dataset_stats as ds


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64), y


def manifest(X: np.ndarray, build_id: str = "be0c000000000001") -> dict:
    """A build manifest whose baseline is the dataset's (64 pixel features, quantile bins)."""
    _s, stats, _r = ds.array_schema_and_stats({"X": X})
    feats = ds.baseline_from_stats(stats, [f"X[{i}]" for i in range(X.shape[1])])
    return {"format": "tinyops-build/1", "build": build_id, "model": "digits@1", "variant": "int8",
            "profile": "raspberry-pi-4", "runtime": "litert", "files": {},
            "inputs": [{"name": "x", "shape": [1, 64], "dtype": "float32", "scale": None, "zero_point": None}],
            "outputs": [{"name": "y", "shape": [1, 10], "dtype": "float32", "scale": None, "zero_point": None}],
            "labels": [str(i) for i in range(10)], "baseline": {"axis": "last", "features": feats}}


def register(ws, m: dict) -> str:
    data = json.dumps(m, sort_keys=True).encode()
    sha = ws.blobs.put_bytes(data)
    builds.register(ws, builds.Build(id=m["build"], model=m["model"], variant=m["variant"],
                                     variant_sha256=hashlib.sha256(b"bench").hexdigest(), profile=m["profile"],
                                     runtime=m["runtime"], manifest_sha256=sha, files={"manifest.json": sha},
                                     created=dt.datetime.now(dt.timezone.utc).isoformat()))
    return m["build"]


def make_window(m: dict, device: str, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, n: int,
                start: float, length: float = 3600.0, transform=None) -> dict:
    acc = WindowAccumulator(m, device)
    for i in rng.integers(len(X), size=n):
        x = X[i] if transform is None else transform(X[i])
        acc.observe(x[None, :], np.eye(10)[y[i]], 0.002)
    w = acc.snapshot()
    w["start"], w["end"] = start, start + length
    return w


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mosquitto() -> Iterator[int]:
    port = free_port()
    d = Path(tempfile.mkdtemp(prefix="tinyops-bench-mq-"))
    os.chmod(d, 0o755)
    conf = d / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 1000\nset_tcp_nodelay true\nlog_dest none\n")
    os.chmod(conf, 0o644)
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)
