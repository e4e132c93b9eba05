"""Host-side view of the devices: their retained ``reported`` and ``status``.

A :class:`FleetWatcher` subscribes to every device's ``reported`` and
``status`` topics on the host connection; retained messages give the full
picture right after (re)connecting. The registry gets each device's latest
state so `fleet status` and `device show` work without a broker too.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from tinyops.errors import FleetError
from tinyops.registry import devices as devices_reg
from tinyops.fleet import broker, topics
from tinyops.fleet.mqtt import MqttConnection

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


class FleetWatcher:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.conn: MqttConnection | None = None
        self._lock = threading.Lock()
        self.reported: dict[str, dict[str, Any]] = {}
        self.status: dict[str, str] = {}
        self._dirty: set[str] = set()
        self.last_message = time.monotonic()
        self._marker_topic: str | None = None
        self._marker_seen = threading.Event()
        self._marker_token = b""
        self._changed = threading.Event()  # set on every device message; the rollout loop waits on it

    def start(self) -> "FleetWatcher":
        self.conn = MqttConnection(broker.host_address(self.ws), on_message=self._on_message).connect()
        self.conn.subscribe(topics.all_devices("reported"))
        self.conn.subscribe(topics.all_devices("status"))
        # Our own echo topic: a marker published after the subscriptions comes back
        # after every retained message they replay (the broker keeps one client's
        # messages in order), so settle() needs no fixed quiet period.
        self._marker_topic = f"{topics.ROOT}/host/sync/{self.conn.client_id}"
        self.conn.subscribe(self._marker_topic)
        return self

    def close(self) -> None:
        if self.conn:
            self.conn.close()

    def __enter__(self) -> "FleetWatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_message(self, topic: str, payload: bytes, _retained: bool) -> None:
        if topic == self._marker_topic:
            if payload == self._marker_token:
                self._marker_seen.set()
            return
        parsed = topics.parse_device_topic(topic)
        if not parsed:
            return
        dev, kind = parsed
        with self._lock:
            self.last_message = time.monotonic()
            if kind == "reported":
                try:
                    msg = json.loads(payload) if payload else None
                except ValueError:
                    return
                if isinstance(msg, dict) and msg.get("device", dev) == dev:
                    self.reported[dev] = msg
                    self._dirty.add(dev)
                    self._changed.set()
            elif kind == "status":
                self.status[dev] = payload.decode(errors="replace")[:16]
                self._dirty.add(dev)

    def settle(self, quiet_s: float = 0.3, max_wait_s: float = 3.0) -> None:
        """Wait until the retained messages replayed by the subscriptions have arrived:
        until our echo marker comes back, or (no echo) until messages stop arriving."""
        if self.conn and self._marker_topic and self.conn.connected:
            self._marker_seen.clear()
            self._marker_token = f"{time.monotonic_ns()}".encode()
            try:
                self.conn.publish(self._marker_topic, self._marker_token, qos=1, timeout=max_wait_s)
                if self._marker_seen.wait(max_wait_s):
                    self.flush()
                    return
            except FleetError:
                pass  # fall back to waiting for quiet
        deadline = time.monotonic() + max_wait_s
        start = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with self._lock:
                idle = time.monotonic() - max(self.last_message, start)
            if idle >= quiet_s:
                break
        self.flush()

    def wait_change(self, timeout: float, batch_s: float = 0.02) -> None:
        """Return soon after a device reports (or after ``timeout``): a rollout reacts
        at once instead of on a fixed poll, and ``batch_s`` lets a burst of reports
        from a big batch be handled in one pass."""
        if self._changed.wait(timeout):
            time.sleep(batch_s)
        self._changed.clear()

    def latest(self, device: str) -> dict[str, Any] | None:
        with self._lock:
            return self.reported.get(device)

    def flush(self) -> None:
        """Write what changed into the registry (one small transaction per device)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rep = {d: self.reported.get(d) for d in dirty}
            st = {d: self.status.get(d) for d in dirty}
        known = {d.id for d in devices_reg.list_devices(self.ws)}
        for dev in dirty & known:
            if rep[dev]:
                devices_reg.record_reported(self.ws, dev, rep[dev], seen=rep[dev].get("ts"))
            if st[dev]:
                devices_reg.record_status(self.ws, dev, st[dev])


def sync(ws: Workspace, timeout: float = 5.0) -> bool:
    """Refresh the registry from the broker's retained states; False if unreachable."""
    try:
        with FleetWatcher(ws) as w:
            w.settle(max_wait_s=timeout)
        return True
    except FleetError:
        return False
