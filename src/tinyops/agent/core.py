"""The agent: follows its device's ``desired`` build, installs it safely,
serves the active model, reports back.

Threads: paho's network thread only queues messages; one worker thread does
every state change (download, verify, install, switch, report) in order, so
no two updates ever race; the HTTP server reads the active model under a lock.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import threading
import time
from typing import Any

from tinyops import atomic
from tinyops import __version__
from tinyops.errors import TinyOpsError
from tinyops.fleet import topics
from tinyops.fleet.mqtt import MqttConnection
from tinyops.agent_config import AgentConfig
from tinyops.agent.desired import DesiredGate, DesiredRefused
from tinyops.agent.fetch import Download, Rejected, prune_downloads
from tinyops.agent.model import LoadedModel, preload_runtime, self_test
from tinyops.agent.slots import SlotContent, SlotStore
from tinyops.agent.trust import KeyTrust
from tinyops.agent.telemetry import Telemetry
from tinyops import timestamps

log = logging.getLogger("tinyops.agent")
HEARTBEAT = "<heartbeat>"  # not an MQTT topic: a work item for the worker
# Broker connection retries: 1, 2, 4, ... s, never more than 30 s apart.
CONNECT_RETRY_FIRST_S = 1.0
CONNECT_RETRY_FACTOR = 2.0
CONNECT_RETRY_MAX_S = 30.0
STOP_PUBLISH_TIMEOUT_S = 1.0  # the "offline" status on stop; the broker's last will covers a miss


class Agent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.device = cfg.device
        self.trust = KeyTrust(cfg.public_key, cfg.state_dir)  # the pinned key, moved on by key rotations
        self.slots = SlotStore(cfg.state_dir, self.trust)
        self.model: LoadedModel | None = None
        self.active: SlotContent | None = None
        self.model_lock = threading.RLock()
        self.download: Download | None = None
        self.desired: dict[str, Any] | None = None
        self.gate = DesiredGate(cfg.state_dir, cfg.device, self.trust)
        self.refused_desired: dict[str, Any] | None = None  # the last desired message refused, and why
        self.last_update: dict[str, Any] | None = self._load_json("last_update.json")
        self.started = time.time()
        self.telemetry = Telemetry(self)
        self.gateway: Any = None  # a gateway.Gateway when a serial MCU is attached
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.conn = self._new_connection()

    def _new_connection(self) -> MqttConnection:
        return MqttConnection(self.cfg.mqtt, client_id=self.cfg.mqtt.username,  # the broker binds the id to the login
                              on_message=lambda t, p, r: self._queue.put((t, p)),
                              will=(topics.status(self.cfg.device), b"offline", True),
                              on_connect=self._on_connected)

    def _connect(self) -> bool:
        """Connect, retrying while the broker is unresolvable or unreachable (a Pi may
        boot before its network); wrong credentials are final. The local model is
        served meanwhile. Returns False when the agent was stopped first."""
        delay, attempt = CONNECT_RETRY_FIRST_S, 0
        where = f"[mqtt] host/port in {self.cfg.path}" if self.cfg.path else "[mqtt] host/port"
        while not self._stop.is_set():
            attempt += 1
            try:
                self.conn.connect()
                if attempt > 1:
                    log.info("connected to the MQTT broker at %s after %d attempts",
                             self.cfg.mqtt.describe(), attempt)
                return True
            except TinyOpsError as e:
                if "refused the connection" in str(e):
                    raise
                if attempt == 1:
                    log.error("%s (from %s); serving the local model and retrying in %.0f s", e, where, delay)
                else:
                    log.warning("retry %d failed: %s; next try in %.0f s", attempt - 1, e.message, delay)
                self.conn = self._new_connection()
                self._stop.wait(delay)
                delay = min(delay * CONNECT_RETRY_FACTOR, CONNECT_RETRY_MAX_S)
        return False

    # ---- small persistence helpers ------------------------------------------------
    def _load_json(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.cfg.state_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def _save_json(self, name: str, data: dict[str, Any]) -> None:
        atomic.write_json(self.cfg.state_dir / name, data)

    # ---- start-up --------------------------------------------------------------------
    def _load_slot(self, slot: str) -> tuple[SlotContent, LoadedModel]:
        content = self.slots.read(slot)
        model = LoadedModel(content.files["model.tflite"], content.manifest)
        self_test(model, content.files[content.manifest.get("golden", {}).get("file", "golden.npz")])
        return content, model

    def recover(self) -> None:
        """Run the model the pointer names; if that slot is unusable, the other one."""
        active = self.slots.active_slot()
        for slot in ([active, self.slots.other(active)] if active else []):
            try:
                content, model = self._load_slot(slot)
            except (TinyOpsError, KeyError, OSError) as e:
                log.warning("slot %s unusable: %s", slot, e)
                continue
            if slot != active:
                self.slots.activate(slot, content.build)
            self.gate.installed(content.manifest)
            self._use(content, model)
            return
        log.info("no installed model yet; waiting for a desired build")

    def _use(self, content: SlotContent, model: LoadedModel) -> None:
        with self.model_lock:
            self.active, self.model = content, model
        self.telemetry.new_model(content.manifest)

    def start(self) -> None:
        self.start_local()
        self.connect_and_follow()

    def start_local(self) -> None:
        """Everything that needs no network: the installed model, the HTTP endpoint
        (raises InputError naming ``http_port`` if the port is taken), the threads."""
        from tinyops.agent.server import start_server

        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self._warm_up()
        self.recover()
        self.http = start_server(self, self.cfg.http_host, self.cfg.http_port, config_path=self.cfg.path)
        (self.cfg.state_dir / "http.port").write_text(f"{self.http_port}\n")
        self._spawn(self._worker, "worker")
        self._spawn(self._ticker, "ticker")

    @property
    def http_port(self) -> int | None:
        http = getattr(self, "http", None)
        return int(http.server_address[1]) if http else None

    def connect_and_follow(self) -> None:
        """Connect (retrying) and subscribe to this device's desired build; returns
        early if the agent is stopped meanwhile."""
        if self._connect() and not self._stop.is_set():
            self.conn.subscribe(topics.desired(self.device))

    def _warm_up(self) -> None:
        """Pay one-time initialisation at start-up instead of inside the first update
        (measured with py-spy during a 200-agent rollout): the LiteRT import (~25 ms
        CPU), OpenSSL's Ed25519 set-up on first key load (~several ms) and the codec
        zipfile looks up when np.load opens golden.npz. No check is skipped: the
        update still verifies the signature and runs the self-test."""
        import codecs

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        preload_runtime()
        codecs.lookup("cp437")
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.cfg.public_key.strip()))
        except ValueError:
            pass  # a bad pinned key is reported by the first verification, as before

    def _spawn(self, fn: Any, name: str) -> None:
        t = threading.Thread(target=fn, name=f"agent-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self.conn.connected:  # not connected: nothing to wait for, the last will says offline
            try:
                self.conn.publish(topics.status(self.device), b"offline", retain=True, timeout=STOP_PUBLISH_TIMEOUT_S)
            except TinyOpsError:
                pass
        self.conn.close()
        if getattr(self, "http", None):
            self.http.shutdown()

    def wait(self) -> None:
        self._stop.wait()

    # ---- MQTT ----------------------------------------------------------------------
    def _on_connected(self) -> None:
        # Network thread: never block here.
        self.conn.publish_async(topics.status(self.device), b"online", retain=True)
        self.conn.publish_async(topics.reported(self.device), json.dumps(self.reported()).encode(), retain=True)

    def reported(self) -> dict[str, Any]:
        a = self.active
        other = self.slots.other(a.slot) if a else None
        return {"device": self.device, "profile": self.cfg.profile, "build": a.build if a else None,
                "slot": a.slot if a else None, "previous_build": self.slots.slot_build(other) if other else None,
                "state": "updating" if self.download else ("running" if a else "idle"),
                "health": "ok" if self.model else "no_model",
                "desired": (self.desired or {}).get("build"), "last_update": self.last_update,
                "refused_desired": self.refused_desired,
                "runtime": "litert", "agent_version": __version__, "http_port": self.http_port, "ts": timestamps.now()}

    def report(self) -> None:
        try:
            self.conn.publish(topics.reported(self.device), json.dumps(self.reported()).encode(), retain=True, timeout=10)
        except TinyOpsError as e:  # broker away: the on-connect hook reports again
            log.warning("report not delivered: %s", e)

    def event(self, name: str, **detail: Any) -> None:
        msg = {"device": self.device, "event": name, "ts": timestamps.now(), **detail}
        self.conn.publish_async(topics.events(self.device), json.dumps(msg).encode())

    # ---- the worker: every state change happens here ----------------------------------
    def _worker(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            topic, payload = item
            try:
                self._dispatch(topic, payload)
            except Exception as e:  # noqa: BLE001 — the agent must keep running
                log.exception("while handling %s", topic)
                self.event("error", detail=str(e))

    def _dispatch(self, topic: str, payload: bytes) -> None:
        if topic == HEARTBEAT:
            self.report()  # refreshes last_seen on the host
            if self.gateway:
                self.gateway.report()
            return
        if self.gateway and self.gateway.handles(topic):
            self.gateway.dispatch(topic, payload)
            return
        dev = topics.parse_device_topic(topic)
        if dev and dev == (self.device, "desired"):
            self._on_desired(payload)
            return
        b = topics.parse_build_topic(topic)
        if b and self.download and b[0] == self.download.build:
            try:
                if self.download.on_message(b[1], b[2], payload):
                    self._install()
            except Rejected as r:
                self._finish_update(self.download.build, "rejected", code=r.code, reason=r.reason)

    def _on_desired(self, payload: bytes) -> None:
        if not payload:
            return  # cleared retained message: nothing asked
        try:
            desired = self.gate.check(payload)
        except DesiredRefused as r:
            self.refused_desired = {"code": r.code, "reason": r.reason, "at": timestamps.now()}
            log.warning("desired refused: %s", r.reason)
            self.event("desired_refused", code=r.code, reason=r.reason)
            self.report()
            return
        self.refused_desired = None
        self.desired = desired
        build = desired.get("build")
        lu = self.last_update or {}
        if not build or (self.active and build == self.active.build):
            self.report()
            return
        if lu.get("build") == build and lu.get("result") != "installed" and lu.get("set_at") == desired.get("set_at"):
            self.report()  # already refused this very request; wait for a new one
            return
        self._cancel_download()
        if self.slots.slot_build(self.slots.inactive_slot()) == build and self._switch_to_inactive(build):
            return
        try:
            self.download = Download(self.cfg.state_dir, topics.check_id(build, "build id"), self.cfg.profile,
                                     self.trust, check_manifest=self._check_security)
        except TinyOpsError as e:
            self._finish_update(str(build), "rejected", code="bad_desired", reason=str(e))
            return
        self.event("update_started", build=build, rollout=desired.get("rollout"))
        self.report()
        self.conn.subscribe(topics.build_manifest(build))
        self.conn.subscribe(topics.build_chunks_filter(build))

    def _check_security(self, manifest: dict[str, Any]) -> None:
        try:
            self.gate.check_security(manifest, bool((self.desired or {}).get("rollback")))
        except DesiredRefused as r:
            raise Rejected(r.reason, r.code) from r

    def _cancel_download(self) -> None:
        if self.download:
            self.conn.unsubscribe(topics.build_manifest(self.download.build))
            self.conn.unsubscribe(topics.build_chunks_filter(self.download.build))
            self.download = None

    def _switch_to_inactive(self, build: str) -> bool:
        """Rollback path: the wanted build is already in the other slot."""
        slot = self.slots.inactive_slot()
        try:
            content, model = self._load_slot(slot)
        except (TinyOpsError, KeyError, OSError) as e:
            log.warning("slot %s cannot be reused: %s", slot, e)
            return False
        try:
            self._check_security(content.manifest)
        except Rejected as r:
            self._finish_update(build, "rejected", code=r.code, reason=r.reason)
            return True
        self.slots.activate(slot, build)
        self.gate.installed(content.manifest)
        self._use(content, model)
        self._finish_update(build, "installed", slot=slot, reused_slot=True)
        return True

    def _install(self) -> None:
        d = self.download
        assert d is not None
        manifest_bytes, signature, files = d.assemble()
        self.event("downloaded", build=d.build, chunks=len(d.have))
        slot = self.slots.inactive_slot()
        self.slots.write(slot, manifest_bytes, signature, files)
        try:
            content, model = self._load_slot(slot)
        except TinyOpsError as e:
            shutil.rmtree(self.slots.slot_dir(slot), ignore_errors=True)  # never leave a failing build around
            self._finish_update(d.build, "selftest_failed", code="selftest_failed", reason=str(e))
            return
        self.event("selftest_passed", build=d.build, slot=slot)
        self.slots.activate(slot, d.build)  # the commit point
        self.gate.installed(content.manifest)
        self._use(content, model)
        self._finish_update(d.build, "installed", slot=slot)

    def _finish_update(self, build: str, result: str, **detail: Any) -> None:
        if self.download:
            d = self.download
            self._cancel_download()
            d.discard()
        if result == "installed":  # superseded downloads and crash leftovers go
            prune_downloads(self.cfg.state_dir)
            self.slots.tidy()
        self.last_update = {"build": build, "result": result, "at": timestamps.now(),
                            "set_at": (self.desired or {}).get("set_at"), **detail}
        self._save_json("last_update.json", self.last_update)
        self.event("switched" if result == "installed" else result, build=build, **detail)
        self.report()

    # ---- periodic: telemetry windows and a heartbeat ----------------------------------
    def _ticker(self) -> None:
        # Sleeps until the next deadline instead of polling: an idle agent should
        # cost ~0 CPU (200 agents waking 4x a second add up on a small host).
        next_tel = time.monotonic() + self.cfg.telemetry_period_s
        next_beat = time.monotonic() + self.cfg.heartbeat_s
        while not self._stop.wait(max(0.05, min(next_tel, next_beat) - time.monotonic())):
            now = time.monotonic()
            if now >= next_tel:
                next_tel = now + self.cfg.telemetry_period_s
                self.telemetry.publish()
            if now >= next_beat:
                if self.conn.connected:
                    next_beat = now + self.cfg.heartbeat_s
                    self._queue.put((HEARTBEAT, b""))  # reported from the worker thread
                else:
                    next_beat = now + 1.0  # look again soon, without spinning
