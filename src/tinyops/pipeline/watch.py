"""`monitor watch --on-drift PIPELINE.toml`: check drift periodically, run the pipeline when it fires.

Every ``interval`` the drift check runs for the target (results stored like
any other check, alerts published). When it finds drift the pipeline runs; a
cooldown keeps a persistent drift from retraining in a loop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tinyops.monitor.check import check, parse_duration
from tinyops.monitor.drift import Thresholds
from tinyops.pipeline.pipeline import run_pipeline
from tinyops.pipeline.spec import load

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


@dataclass
class WatchEvent:
    time: float
    check: int | None
    drift: bool
    drifted_devices: list[str]
    pipeline: dict[str, Any] | None = None


@dataclass
class WatchResult:
    checks: int = 0
    pipelines: int = 0
    events: list[WatchEvent] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def watch(ws: Workspace, target: str, pipeline: str | Path, *, group: str | None = None, window: str = "1h",
          interval: str = "5m", cooldown: str = "1h", thresholds: Thresholds | None = None, once: bool = False,
          stop: threading.Event | None = None, on_event: Callable[[WatchEvent], None] | None = None) -> WatchResult:
    """Loop until ``stop`` (or after one check with ``once``)."""
    load(pipeline)  # a broken pipeline file is an error now, not when drift fires at 3 a.m.
    every, calm = parse_duration(interval), parse_duration(cooldown)
    stop = stop or threading.Event()
    res = WatchResult()
    last_run = -float("inf")
    while not stop.is_set():
        rep = check(ws, target, group=group, window=window, thresholds=thresholds)
        d = rep.to_dict()
        ev = WatchEvent(time.time(), rep.check_id, rep.drift, d["drifted_devices"])
        res.checks += 1
        if rep.drift and time.monotonic() - last_run >= calm:
            last_run = time.monotonic()
            ev.pipeline = run_pipeline(ws, pipeline).to_dict()
            res.pipelines += 1
        res.events.append(ev)
        if on_event:
            on_event(ev)
        if once:
            break
        stop.wait(every)
    return res
