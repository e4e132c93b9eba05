"""The agent: an update follower for the Pi itself (and one for an MCU on its
serial port, in gateway mode), the local endpoint serving the active model,
telemetry windows, heartbeats.

Threads: paho's network thread only queues messages; one worker thread does
every state change (download, verify, install, switch, report) in order, so
no two updates ever race; the HTTP server reads the active model under a lock.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from tinyops import __version__, timestamps
from tinyops.agent.follower import UpdateFollower
from tinyops.agent.install_slots import SlotInstaller
from tinyops.agent.model import preload_runtime
from tinyops.agent.telemetry import Telemetry
from tinyops.agent.trust import KeyTrust
from tinyops.agent_config import AgentConfig
from tinyops.errors import TinyOpsError
from tinyops.fleet import topics
from tinyops.fleet.mqtt import MqttConnection

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
        self.started = time.time()
        self.telemetry = Telemetry(cfg.device, cfg.telemetry_reservoir,
                                   lambda topic, payload: self.conn.publish_async(topic, payload, qos=1))
        self.installer = SlotInstaller(cfg.device, cfg.profile, cfg.state_dir, self.trust,
                                       on_model=self.telemetry.new_model, event=self.event)
        self.follower = UpdateFollower(self.installer, self.trust, lambda: self.conn, extra_reported=lambda: {
            "runtime": "litert", "agent_version": __version__, "http_port": self.http_port})
        self.gateway: UpdateFollower | None = None  # the MCU's follower when a serial MCU is attached
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

    # ---- start-up --------------------------------------------------------------------
    def recover(self) -> None:
        """Serve the installed model (the pointer's slot, else the other one)."""
        manifest = self.installer.recover()
        if manifest is not None:
            self.follower.gate.installed(manifest)

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
        self.http = start_server(self.cfg.http_host, self.cfg.http_port, device=self.device, models=self.installer,
                                 telemetry=self.telemetry, status=self.status, config_path=self.cfg.path)
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
            self.follower.subscribe()

    def attach_gateway(self, cfg: Any) -> None:
        """Follow an MCU's desired build too, installing it over the serial port."""
        from tinyops.agent.gateway import start_gateway

        self.gateway = start_gateway(cfg, self.cfg.state_dir, self.device, self.trust, lambda: self.conn, self.event)

    def status(self) -> dict[str, Any]:
        """For the endpoint's health check."""
        return {"mqtt_connected": self.conn.connected, "updating": self.follower.updating,
                "uptime_s": round(time.time() - self.started, 1)}

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
        return self.follower.reported()

    def report(self) -> None:
        self.follower.report()

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
        followers = [self.follower, *([self.gateway] if self.gateway else [])]
        if topic == HEARTBEAT:
            for f in followers:
                f.report()  # refreshes last_seen on the host
            return
        for f in followers:
            if f.handles(topic):
                f.dispatch(topic, payload)
                return

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
