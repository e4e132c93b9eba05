"""What `telemetry show` prints: per-device summaries, recent windows, rejects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinyops.registry import devices as devices_reg
from tinyops.registry import telemetry as tel

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def overview(ws: Workspace, *, device: str | None = None, group: str | None = None, recent: int = 5) -> dict[str, Any]:
    """Per-device/build totals, the device's last windows, and the latest rejects."""
    ids: list[str] | None = None
    if device:
        ids = [device]
    elif group:
        ids = [d.id for d in devices_reg.list_devices(ws, group)]
    summary = tel.device_summary(ws, ids)
    windows = []
    if device:
        for w in tel.load_windows(ws, devices=[device])[-recent:]:
            windows.append({"build": w.build, "start": w.start, "end": w.end, "count": w.count,
                            "latency_ms": w.latency_ms, "predictions": w.predictions,
                            "confidence_mean": w.confidence_mean, "errors": w.errors})
    rejects = [r for r in tel.list_rejects(ws, 20) if ids is None or r["device"] in ids]
    return {"devices": summary, "windows": windows, "rejects": rejects,
            "totals": {"windows": tel.count_windows(ws), "rejects": tel.count_rejects(ws)}}
