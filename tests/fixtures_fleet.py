"""Fleet fixtures: a workspace with real signed builds, a real Mosquitto on free
ports (TLS + a plain 127.0.0.1 listener), and real `tinyops-agent` processes.

Everything started here is stopped by PID on teardown, also when a test fails.
The trained workspace is made once per test process (training and the builds
take ~15 s) and copied for each test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyops import signing
from tinyops import agent_config
from tinyops.cli.common import resolve_variant
from tinyops.fleet import broker, enroll, transfer
from tinyops.fleet.transfer import Bundle
from tinyops.workspace import Workspace
from paths import REPO

RECIPE = {
    "model": {"name": "digits", "description": "fleet test MLP"},
    "data": {"dataset": "digits@1", "inputs": ["p*"], "label": "label"},
    "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
    "architecture": {"kind": "mlp", "hidden": [32]},
    "train": {"epochs": 3, "batch_size": 32, "learning_rate": 0.003, "seed": 7},
}
_TEMPLATE: dict[str, Any] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_dir(prefix: str = "tinyops-broker-") -> Path:
    """A broker folder of its own (short path: certificates and pid file live there)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def build_template(base: Path) -> dict[str, Any]:
    """Train digits, then real `build()`s: int8 and float32 for raspberry-pi-4, int8 for raspberry-pi-5."""
    if _TEMPLATE:
        return _TEMPLATE
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    try:
        from prepare import prepare
    finally:
        sys.path.pop(0)
    from tinyops.devices.build import build
    from tinyops.ml import convert, train
    from tinyops.registry import datasets

    ws, _ = Workspace.init(base / "ws")
    datasets.add_file(ws, "digits", prepare(base / "data"))
    train.train(ws, RECIPE)
    convert.convert(ws, "digits@1", "int8")
    convert.convert(ws, "digits@1", "float32")
    ids = {"v1": build(ws, resolve_variant(ws, "digits@1:int8"), "raspberry-pi-4").build.id,
           "v2": build(ws, resolve_variant(ws, "digits@1:float32"), "raspberry-pi-4").build.id,
           "pi5": build(ws, resolve_variant(ws, "digits@1:int8"), "raspberry-pi-5").build.id,
           "mcu": build(ws, resolve_variant(ws, "digits@1:int8"), "posix-sim").build.id}  # model.img for the serial gateway
    ws.close()
    _TEMPLATE.update(root=base / "ws", builds=ids)
    return _TEMPLATE


def resign(ws: Workspace, bundle: Bundle, manifest: dict[str, Any], files: dict[str, bytes] | None = None,
           key_dir: Path | None = None) -> Bundle:
    """A new bundle from an edited manifest, signed (by the workspace key unless ``key_dir``)."""
    from tinyops.devices.build import build_id, manifest_bytes

    files = dict(files or bundle.files)
    m = dict(manifest)
    m["files"] = {**m["files"], **{n: {"sha256": __import__("hashlib").sha256(b).hexdigest(), "size": len(b)}
                                   for n, b in files.items() if n in m["files"]}}
    m["build"] = build_id({"derived_from": bundle.build, "manifest": m})
    mb = manifest_bytes(m)
    return Bundle(build=m["build"], manifest_bytes=mb, signature=signing.sign(key_dir or ws.path("keys"), mb), files=files)


def broken_golden(ws: Workspace, bundle: Bundle) -> Bundle:
    """Correctly signed, but its golden outputs are wrong: the self-test must fail."""
    with np.load(io.BytesIO(bundle.files["golden.npz"])) as z:
        inputs, outputs = z["inputs"], z["outputs"]
    bad = outputs.astype(np.int16) + 60 if outputs.dtype.kind == "i" else outputs + 0.5
    buf = io.BytesIO()
    np.savez(buf, inputs=inputs, outputs=bad.astype(outputs.dtype))
    return resign(ws, bundle, bundle.manifest, {**bundle.files, "golden.npz": buf.getvalue()})


@dataclass
class AgentProc:
    device: str
    config: Path
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.config.parent / "state"

    def http_port(self, timeout: float = 20.0) -> int:
        p = self.state_dir / "http.port"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.exists() and p.read_text().strip():
                return int(p.read_text())
            time.sleep(0.05)
        raise AssertionError(f"agent {self.device} never opened its HTTP port; log:\n{self.log_text()}")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port()}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def post(self, path: str, body: bytes, ctype: str = "application/json") -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port()}{path}", data=body,
                                     headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""


@dataclass
class Fleet:
    """A workspace with builds, a running broker and helpers to start agents."""

    ws: Workspace
    builds: dict[str, str]
    broker_dir: Path
    port: int
    local_port: int
    agents: dict[str, AgentProc] = field(default_factory=dict)

    def start_broker(self) -> None:
        broker.start(self.ws)

    def bundle(self, name: str) -> Bundle:
        from tinyops.fleet.publish import load_bundle

        return load_bundle(self.ws, self.builds[name])

    def register(self, device: str, group: str = "lab", profile: str = "raspberry-pi-4", **kw: Any) -> AgentProc:
        r = enroll.register_device(self.ws, device, profile, [group], http_port=0, telemetry_period_s=1.0, **kw)
        a = AgentProc(device, Path(r.agent_config))
        self.agents[device] = a
        return a

    def start_agent(self, a: AgentProc) -> AgentProc:
        a.log = a.config.parent / "agent.log"
        (a.state_dir / "http.port").unlink(missing_ok=True)
        with open(a.log, "ab") as log:
            a.proc = subprocess.Popen([sys.executable, "-m", "tinyops.agent.main", "--config", str(a.config)],
                                      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        return a

    def start_agents(self, agents: list[AgentProc]) -> None:
        for a in agents:  # processes start in parallel; wait for all afterwards
            self.start_agent(a)
        for a in agents:
            a.http_port()

    def kill_agent(self, a: AgentProc, sig: int = signal.SIGKILL) -> None:
        if a.proc and a.proc.poll() is None:
            os.kill(a.proc.pid, sig)
            a.proc.wait(10)

    def stop_all(self) -> None:
        for a in self.agents.values():
            if a.proc and a.proc.poll() is None:
                os.kill(a.proc.pid, signal.SIGKILL)
                a.proc.wait(10)
        broker.stop(self.ws)

    def wait_for(self, cond: Any, timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.1)
        logs = "\n".join(f"--- {a.device}\n{a.log_text()[-800:]}" for a in list(self.agents.values())[:3])
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def model_build(self, a: AgentProc) -> str | None:
        code, body = a.get("/v1/model")
        return body.get("build") if code == 200 else None


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_template(tmp_path_factory.mktemp("fleet-template"))


def make_fleet(template: dict[str, Any], tmp_path: Path) -> Iterator[Fleet]:
    """A private copy of the built workspace plus a running Mosquitto; agents are
    registered on demand. Stops everything afterwards."""
    root = tmp_path / "ws"
    shutil.copytree(template["root"], root)
    ws = Workspace.open(root)
    bdir = mosquitto_dir()
    port, local, host_port = free_port(), free_port(), free_port()
    broker.setup(ws, bdir, port=port, local_port=local, host_port=host_port)
    f = Fleet(ws=ws, builds=dict(template["builds"]), broker_dir=bdir, port=port, local_port=local)
    try:
        f.start_broker()
        yield f
    finally:
        f.stop_all()
        ws.close()
        shutil.rmtree(bdir, ignore_errors=True)


@pytest.fixture
def fleet(fleet_template: dict[str, Any], tmp_path: Path) -> Iterator[Fleet]:
    """A private copy of the built workspace plus a running Mosquitto; agents are registered on demand."""
    yield from make_fleet(fleet_template, tmp_path)


__all__ = ["Fleet", "AgentProc", "fleet", "make_fleet", "fleet_template", "free_port", "mosquitto_dir", "resign",
           "broken_golden", "agent_config", "transfer"]
