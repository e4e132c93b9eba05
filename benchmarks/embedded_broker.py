"""Embedded Python broker vs Mosquitto, side by side in one run, same folder, TLS
listener, passwords and ACL: fan-out of small QoS 1 messages, fan-out of 64 KiB
build chunks, and TLS logins per second.

    python benchmarks/embedded_broker.py  ->  benchmarks/results/embedded_broker.json
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from tinyops.fleet import broker  # noqa: E402
from tinyops.fleet.mqtt import BrokerAddress, MqttConnection  # noqa: E402
from tinyops.workspace import Workspace  # noqa: E402

SUBSCRIBERS = 10
SMALL_MESSAGES = 1000
SMALL_BYTES = 100
CHUNKS = 64
CHUNK_BYTES = 64 * 1024
LOGINS = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the broker process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fan_out(addr: BrokerAddress, topic: str, n: int, size: int, pid: int) -> dict[str, float]:
    """One publisher (QoS 1, pipelined), SUBSCRIBERS subscribers; time until every copy arrived."""
    done = threading.Event()
    lock = threading.Lock()
    counts = [0]
    want = n * SUBSCRIBERS

    def on_msg(_t: str, _p: bytes, _r: bool) -> None:
        with lock:
            counts[0] += 1
            if counts[0] >= want:
                done.set()

    subs = [MqttConnection(addr, on_message=on_msg).connect() for _ in range(SUBSCRIBERS)]
    pub = MqttConnection(addr).connect()
    try:
        for s in subs:
            s.subscribe(f"{topic}/#")
        payload = os.urandom(size)
        c0 = cpu_s(pid)
        t0 = time.perf_counter()
        for i in range(n):
            pub.publish_async(f"{topic}/{i}", payload, qos=1)
        if not done.wait(120):
            raise RuntimeError(f"only {counts[0]} of {want} messages arrived")
        wall = time.perf_counter() - t0
        cpu = cpu_s(pid) - c0
    finally:
        for c in [pub, *subs]:
            c.close()
    return {"wall_s": round(wall, 3), "deliveries_per_s": round(want / wall, 1),
            "delivered_mb_per_s": round(want * size / wall / 1e6, 2),
            "broker_cpu_us_per_delivery": round(cpu / want * 1e6, 1)}


def logins(addr: BrokerAddress) -> float:
    t0 = time.perf_counter()
    for _ in range(LOGINS):
        MqttConnection(addr).connect().close()
    return round(LOGINS / (time.perf_counter() - t0), 1)


def measure(ws: Workspace, embedded: bool) -> dict[str, Any]:
    st = broker.start(ws, embedded=embedded)
    assert st.kind == ("embedded" if embedded else "mosquitto")
    try:
        addr = broker.host_address(ws)
        pid = st.pid or 0
        return {"small_qos1": fan_out(addr, "tinyops/bench/small", SMALL_MESSAGES, SMALL_BYTES, pid),
                "chunks_64k": fan_out(addr, "tinyops/bench/chunks", CHUNKS, CHUNK_BYTES, pid),
                "tls_logins_per_s": logins(addr)}
    finally:
        broker.stop(ws)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="tinyops-bench-broker-"))
    os.chmod(root, 0o755)
    ws = None
    try:
        ws, _ = Workspace.init(root / "ws")
        broker.setup(ws, root / "broker", port=_free_port())
        mosq = measure(ws, embedded=False)
        emb = measure(ws, embedded=True)
        ratio = {
            "small_qos1_deliveries": round(emb["small_qos1"]["deliveries_per_s"] / mosq["small_qos1"]["deliveries_per_s"], 3),
            "chunks_64k_mb_per_s": round(emb["chunks_64k"]["delivered_mb_per_s"] / mosq["chunks_64k"]["delivered_mb_per_s"], 3),
            "tls_logins": round(emb["tls_logins_per_s"] / mosq["tls_logins_per_s"], 3),
            "broker_cpu_per_small_delivery": round(emb["small_qos1"]["broker_cpu_us_per_delivery"]
                                                   / max(mosq["small_qos1"]["broker_cpu_us_per_delivery"], 0.1), 2),
            "broker_cpu_per_chunk_delivery": round(emb["chunks_64k"]["broker_cpu_us_per_delivery"]
                                                   / max(mosq["chunks_64k"]["broker_cpu_us_per_delivery"], 0.1), 2),
        }
        write_result("embedded_broker", {
            "setup": f"TLS, QoS 1, 1 publisher -> {SUBSCRIBERS} subscribers (tinyops MqttConnection/paho); "
                     f"{SMALL_MESSAGES} x {SMALL_BYTES} B and {CHUNKS} x 64 KiB; {LOGINS} sequential TLS logins",
            "mosquitto": mosq, "embedded": emb, "embedded_over_mosquitto": ratio})
    finally:
        if ws is not None:
            ws.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
