"""Telemetry for a microcontroller on a serial port (what a gateway does for it).

The gateway runs each input on the board through the update protocol's RUN
command and records the int8 input the board actually consumed, its int8
output and the round-trip time in a :class:`WindowAccumulator` — so the MCU's
windows carry histograms on the same baseline bins as a Pi's, and drift is
checked the same way. ``stats()`` adds the firmware's own STATS counters.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tinyops.devices.serial import ops
from tinyops.devices.serial.link import Link
from tinyops.monitor.window import WindowAccumulator


class McuTelemetry:
    def __init__(self, url: str, manifest: dict[str, Any], device: str, *, reservoir: int = 0,
                 seed: int | None = None) -> None:
        self.manifest = manifest
        self.window = WindowAccumulator(manifest, device, reservoir=reservoir, seed=seed, source="serial-gateway")
        self.link = Link(url)
        self.info = ops.info(self.link)
        inp = (manifest.get("inputs") or [{}])[0]
        self._scale = float(inp.get("scale") or 1.0)
        self._zp = int(inp.get("zero_point") or 0)
        self._shape = tuple(inp.get("shape") or ())
        out = (manifest.get("outputs") or [{}])[0]
        self._out_dtype = np.dtype(out.get("dtype", "int8"))

    def quantize(self, x_float: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x_float, dtype=np.float64) / self._scale) + self._zp
        return np.clip(q, -128, 127).astype(np.int8).reshape(self._shape)

    def infer(self, x_float: np.ndarray) -> np.ndarray:
        """Run one input on the board; returns its raw output and records it in the window."""
        xq = self.quantize(x_float)
        t0 = time.perf_counter()
        try:
            res = ops.run(self.link, xq.tobytes(), max_chunk=self.info.max_chunk)
        except Exception as e:  # noqa: BLE001 — an error is telemetry too, then it propagates
            self.window.error(f"RUN failed: {e}")
            raise
        y = np.frombuffer(res.output, dtype=self._out_dtype)
        self.window.observe_quantized(xq, y, time.perf_counter() - t0)
        return y

    def stats(self) -> dict[str, Any]:
        return ops.stats(self.link)

    def snapshot(self) -> dict[str, Any]:
        return self.window.snapshot()

    def close(self) -> None:
        self.link.close() if hasattr(self.link, "close") else None

    def __enter__(self) -> "McuTelemetry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
