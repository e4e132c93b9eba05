"""Changing actions: the same library calls the CLI makes, run off the request thread.

A rollout is driven to its end by ``fleet.api.rollout_build`` in a thread of
this server (as `tinyops fleet rollout` would in a terminal); pause and abort
change its state in the registry, so the driving loop stops, whoever runs it;
resume drives it on from a thread here unless one of ours still does.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from tinyops.errors import InputError, TinyOpsError
from tinyops.registry import fleet as fleet_reg
from tinyops.registry import models as models_reg

if TYPE_CHECKING:
    from collections.abc import Callable

    from tinyops.workspace import Workspace

log = logging.getLogger("tinyops.ui")


def _pct(v: Any, name: str) -> float:
    try:
        return float(str(v).strip().rstrip("%"))
    except ValueError:
        raise InputError(f"{name} '{v}' is not a percentage", hint="write e.g. 10%") from None


def start_rollout(open_ws: Callable[[], Workspace], body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    from tinyops.fleet import api
    from tinyops.fleet.rollout import Strategy

    build, group = str(body.get("build") or ""), str(body.get("group") or "")
    if not build or not group:
        raise InputError("a rollout needs a build and a group", hint="pick both in the form")
    strategy = Strategy(canary_pct=_pct(body.get("canary", 10), "canary"), batch_pct=_pct(body.get("batch", 25), "batch"),
                        max_failures_pct=_pct(body.get("max_failures", 5), "max-failures"),
                        health_timeout_s=float(str(body.get("health_timeout", 60)).rstrip("s")))
    started = threading.Event()
    result: dict[str, Any] = {}

    def progress(p: dict[str, Any]) -> None:
        result.setdefault("rollout", p.get("rollout"))
        started.set()

    def drive() -> None:
        ws = open_ws()
        try:
            _follow(ws, api.rollout_build(ws, build, group, strategy, progress=progress))
        except TinyOpsError as e:
            result["error"] = str(e)
            started.set()
            log.warning("rollout of %s to %s: %s", build, group, e)

    t = threading.Thread(target=drive, daemon=True, name=f"ui-rollout-{build[:8]}")
    t.start()
    if not started.wait(timeout):
        raise InputError("the rollout did not start in time", hint="check that the broker runs: `tinyops broker status`")
    if "error" in result and "rollout" not in result:
        raise InputError(result["error"])
    _drivers[int(result["rollout"])] = t
    return {"rollout": result["rollout"], "state": "running"}


_drivers: dict[int, threading.Thread] = {}  # rollout id -> the thread of this server driving it


def abort_rollout(ws: Workspace, rollout_id: int) -> dict[str, Any]:
    from tinyops.fleet import rollout

    r = rollout.abort(ws, rollout_id, reason="aborted from the dashboard")
    return {"rollout": r.id, "state": r.state}


def pause_rollout(ws: Workspace, rollout_id: int) -> dict[str, Any]:
    from tinyops.fleet import rollout

    r = rollout.pause(ws, rollout_id, reason="paused from the dashboard")
    return {"rollout": r.id, "state": r.state, "stage": r.stage}


def resume_rollout(open_ws: Callable[[], Workspace], rollout_id: int) -> dict[str, Any]:
    from tinyops.fleet import rollout

    r = rollout.unpause(open_ws(), rollout_id)
    t = _drivers.get(rollout_id)
    if t is None or not t.is_alive():  # started elsewhere (or before a restart): drive it from here
        t = _drivers[rollout_id] = threading.Thread(target=lambda: _follow(open_ws(), r), daemon=True,
                                                    name=f"ui-resume-{rollout_id}")
        t.start()
    return {"rollout": r.id, "state": r.state}


def _follow(ws: Workspace, r: fleet_reg.Rollout, poll_s: float = 0.5) -> None:
    """Drive a rollout until it ends: while paused, wait for a resume (from here or elsewhere)."""
    from tinyops.fleet import api

    try:
        while r.state in fleet_reg.UNFINISHED:
            if r.state == "running":
                r = api.resume(ws, r.id)
            else:
                time.sleep(poll_s)
                r = fleet_reg.get_rollout(ws, r.id)
    except TinyOpsError as e:
        log.warning("rollout %s: %s", r.id, e)


def rollback_rollout(open_ws: Callable[[], Workspace], rollout_id: int) -> dict[str, Any]:
    from tinyops.fleet import api

    ws = open_ws()
    fleet_reg.get_rollout(ws, rollout_id)  # a clear 404 before going to the thread

    def run() -> None:
        try:
            api.rollback(open_ws(), rollout_id, wait_s=60)
        except TinyOpsError as e:
            log.warning("rollback of rollout %s: %s", rollout_id, e)  # the rollout row carries the state the page shows

    threading.Thread(target=run, daemon=True, name=f"ui-rollback-{rollout_id}").start()
    return {"rollout": rollout_id, "state": "rolling back"}


def set_alias(ws: Workspace, name: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        version = int(body.get("version"))
    except (TypeError, ValueError):
        raise InputError("version must be a number", hint="e.g. 3") from None
    mv = models_reg.set_alias(ws, name, str(body.get("alias") or ""), version)
    return {"name": name, "alias": body.get("alias"), "version": mv.version, "ref": mv.ref}
