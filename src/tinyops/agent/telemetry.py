"""Telemetry windows from the agent, in the collector's window format.

Every inference served goes into a :class:`tinyops.monitor.window.WindowAccumulator`
for the active build; every ``telemetry_period_s`` the window is published on
``tinyops/devices/{id}/telemetry`` and reset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from tinyops.fleet import topics
from tinyops.monitor.window import WindowAccumulator

log = logging.getLogger("tinyops.agent")


class Telemetry:
    def __init__(self, device: str, reservoir: int, send: Callable[[str, bytes], None]) -> None:
        self.device = device
        self.reservoir = reservoir
        self._send = send  # (topic, payload), without waiting for the broker
        self._lock = threading.Lock()
        self._window: WindowAccumulator | None = None

    def new_model(self, manifest: dict[str, Any]) -> None:
        """A new build is active: close the old window and start one for it."""
        self.publish()
        with self._lock:
            self._window = WindowAccumulator(manifest, self.device, reservoir=self.reservoir)

    def observe(self, x_float: np.ndarray, y: np.ndarray, latency_s: float) -> None:
        with self._lock:
            if self._window is not None:
                self._window.observe(x_float, y, latency_s)

    def error(self, message: str) -> None:
        with self._lock:
            if self._window is not None:
                self._window.error(message)

    def publish(self) -> bool:
        with self._lock:
            w = self._window
            if w is None or (w.count == 0 and w.errors == 0):
                return False
            payload = w.to_bytes(reset=True)
        self._send(topics.telemetry(self.device), payload)
        return True
