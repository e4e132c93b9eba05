"""Live updates: poll the registry's change fingerprint, follow device events over MQTT.

Writers are other processes (a rollout, the collector) or this server's own
action threads; a fingerprint query every half second sees them all. Device
states are refreshed from the broker's retained messages by a FleetWatcher,
and recent device events are kept in memory for the device page.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from tinyops.errors import TinyOpsError
from tinyops.ui import data

if TYPE_CHECKING:
    from collections.abc import Callable

    from tinyops.workspace import Workspace

log = logging.getLogger("tinyops.ui")
EVENTS_KEPT = 50


class Live:
    def __init__(self, open_ws: Callable[[], Workspace], poll_s: float = 0.5) -> None:
        self.open_ws = open_ws
        self.poll_s = poll_s
        self.subscribers: set[asyncio.Queue] = set()
        self.events: dict[str, collections.deque] = {}
        self.broker: str = "not connected"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- life cycle --------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for target in (self._poll, self._follow_broker):
            t = threading.Thread(target=target, daemon=True, name=f"ui-{target.__name__}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(3)

    # ---- SSE fan-out -------------------------------------------------------
    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=100)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)

    def _publish(self, kind: str, payload: dict[str, Any]) -> None:
        if self._loop is None:
            return
        msg = json.dumps({"kind": kind, **payload}, default=str)

        def put() -> None:
            for q in list(self.subscribers):
                if not q.full():
                    q.put_nowait(msg)
        self._loop.call_soon_threadsafe(put)

    # ---- workers -----------------------------------------------------------
    def _poll(self) -> None:
        ws = self.open_ws()
        while not self._stop.wait(self.poll_s):
            try:
                fp = data.fingerprint(ws)
            except Exception as e:  # a locked or migrating database: try again next tick
                log.warning("fingerprint failed: %s", e)
                continue
            fp = json.loads(json.dumps(fp, default=str))
            changed = [k for k, v in fp.items() if self._last.get(k) != v]
            if changed and self._last:
                self._publish("change", {"changed": changed})
            self._last = fp

    def _follow_broker(self) -> None:
        from tinyops.fleet import broker, topics
        from tinyops.fleet.mqtt import MqttConnection
        from tinyops.fleet.watch import FleetWatcher

        ws = self.open_ws()
        while not self._stop.is_set():
            try:
                addr = broker.host_address(ws)
                with FleetWatcher(ws) as w, MqttConnection(addr, on_message=self._on_event).connect() as ev:
                    ev.subscribe(topics.all_devices("events"))
                    self.broker = addr.describe()
                    while not self._stop.wait(0.5):
                        w.flush()
            except TinyOpsError as e:
                self.broker = f"unreachable ({e})"
                if self._stop.wait(5):
                    return

    def _on_event(self, topic: str, payload: bytes, _retained: bool) -> None:
        from tinyops.fleet import topics

        parsed = topics.parse_device_topic(topic)
        if not parsed:
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = {"raw": payload[:500].decode(errors="replace")}
        if not isinstance(msg, dict):
            msg = {"value": msg}
        self.events.setdefault(parsed[0], collections.deque(maxlen=EVENTS_KEPT)).append(msg)
        self._publish("event", {"device": parsed[0]})
