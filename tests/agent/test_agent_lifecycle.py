"""Agent start and stop in a real `tinyops-agent` process: an unresolvable or
unreachable broker (one clear line at once, then logged retries with backoff),
SIGTERM/SIGINT while connecting, a taken HTTP port, and ``http_port = 0``.

No broker and no trained model are needed: the agent serves HTTP (503, no model)
before it has a broker, which is the state these tests look at. Every process
started here is killed by PID in a finally block.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fixtures_fleet import free_port
from tinyops import agent_config

EXIT_BOUND_S = 5.0  # correctness bound only (the agent aims at < 3 s), not a timing benchmark


def _config(tmp: Path, name: str, *, host: str = "broker.invalid", port: int = 1883, http_port: int = 0) -> Path:
    pub = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    d = tmp / name
    d.mkdir()
    cfg = d / "agent.toml"
    cfg.write_text(agent_config.dumps({
        "device": {"id": name, "profile": "raspberry-pi-4"},
        "mqtt": {"host": host, "port": port, "username": name, "password": "x" * 16, "tls": False},
        "signing": {"public_key": pub},
        "agent": {"state_dir": "state", "http_port": http_port, "telemetry_period_s": 60, "heartbeat_s": 60},
    }))
    return cfg


def _start(cfg: Path) -> tuple[subprocess.Popen, Path]:
    log = cfg.parent / "agent.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "tinyops.agent.main", "--config", str(cfg)],
                                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, log


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _wait_log(log: Path, text: str, count: int = 1, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = log.read_text(errors="replace") if log.exists() else ""
        if body.count(text) >= count:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{text!r} x{count} not in the agent log within {timeout} s:\n{log.read_text(errors='replace')}")


def _stop_within(proc: subprocess.Popen, sig: int) -> float:
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    try:
        rc = proc.wait(EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"agent still running {EXIT_BOUND_S} s after signal {sig}") from None
    assert rc == 0
    return time.monotonic() - t0


def test_unresolvable_broker_logs_at_once_retries_and_stops_on_sigterm(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "pi-dns", host="broker.invalid", http_port=0)
    proc, log = _start(cfg)
    try:
        # http_port = 0: a free port is picked, logged and written for tools
        body = _wait_log(log, "up; HTTP on 127.0.0.1:")
        port = int((cfg.parent / "state" / "http.port").read_text())
        assert port > 0 and f"HTTP on 127.0.0.1:{port}" in body
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5)
            raise AssertionError("health should be 503 without a model")
        except urllib.error.HTTPError as e:
            health = json.loads(e.read())
            assert e.code == 503 and health["mqtt_connected"] is False
        # one clear line at once: what failed, which host, where it is configured
        first = _wait_log(log, "cannot resolve the MQTT broker host 'broker.invalid'", timeout=10)
        line = next(ln for ln in first.splitlines() if "cannot resolve" in ln)
        assert "ERROR" in line and "[mqtt] host/port in" in line and "retrying in 1 s" in line
        # then retries with growing delays, each with its reason
        body = _wait_log(log, "retry 2 failed", timeout=10)
        assert "retry 1 failed: cannot resolve the MQTT broker host 'broker.invalid'" in body
        assert "next try in 2 s" in body and "next try in 4 s" in body
        _stop_within(proc, signal.SIGTERM)
        assert "Traceback" not in log.read_text()
    finally:
        _kill(proc)


def test_unreachable_broker_and_sigint_while_connecting(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there: connection refused
    cfg = _config(tmp_path, "pi-refused", host="127.0.0.1", port=dead)
    proc, log = _start(cfg)
    try:
        _wait_log(log, f"cannot reach the MQTT broker at 127.0.0.1:{dead}")
        _stop_within(proc, signal.SIGINT)
        text = log.read_text()
        assert "Traceback" not in text and "KeyboardInterrupt" not in text
    finally:
        _kill(proc)


def test_taken_http_port_names_the_config_key(tmp_path: Path) -> None:
    port = free_port()
    cfg1 = _config(tmp_path, "pi-one", http_port=port)
    cfg2 = _config(tmp_path, "pi-two", http_port=port)
    first, log1 = _start(cfg1)
    try:
        _wait_log(log1, f"HTTP on 127.0.0.1:{port}")
        second = subprocess.run([sys.executable, "-m", "tinyops.agent.main", "--config", str(cfg2)],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1, second.stderr
        assert "Traceback" not in second.stderr
        err = [ln for ln in second.stderr.splitlines() if ln.startswith("tinyops-agent:")]
        assert len(err) == 1, second.stderr
        assert f"HTTP port {port}" in err[0] and "already in use" in err[0]
        assert f"[agent] http_port in {cfg2}" in err[0] and "or to 0" in err[0]
        assert first.poll() is None  # the first agent is untouched
        _stop_within(first, signal.SIGTERM)
    finally:
        _kill(first)


def test_bad_http_port_value_is_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "pi-bad")
    cfg.write_text(cfg.read_text().replace("http_port = 0", 'http_port = "eighty"'))
    r = subprocess.run([sys.executable, "-m", "tinyops.agent.main", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "[agent] http_port must be a whole number 0-65535" in r.stderr
