"""The fleet operations the CLI calls, one function per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tinyops.errors import NotFoundError
from tinyops.registry import devices as devices_reg
from tinyops.registry import fleet as fleet_reg
from tinyops.fleet import publish as publish_mod
from tinyops.fleet import rollout as rollout_mod
from tinyops.fleet.watch import FleetWatcher, sync

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _build_profile(ws: Workspace, build: str) -> str | None:
    pub = fleet_reg.publication(ws, build)
    if pub:
        return pub.profile
    return None


def rollout_build(ws: Workspace, build: str, group: str, strategy: rollout_mod.Strategy, *,
                  progress: Callable[[dict[str, Any]], None] | None = None) -> fleet_reg.Rollout:
    """Publish the build if needed, then start (or resume) and drive its rollout to the group."""
    try:  # publishes, or checks the broker still holds it and republishes what it lost
        publish_mod.publish(ws, build)
    except NotFoundError as e:
        if fleet_reg.publication(ws, build) is None:
            raise NotFoundError(f"build {build} is neither published nor in the registry",
                                hint="create it with `tinyops build REF --device P`, then `tinyops fleet publish`") from e
    with FleetWatcher(ws) as w:
        r = rollout_mod.start(ws, build, group, strategy, watcher=w, profile=_build_profile(ws, build))
        if progress:
            progress({"rollout": r.id, "state": r.state, "note": f"rollout {r.id}: {len(r.devices)} devices"})
        return rollout_mod.run(ws, r.id, w, progress=progress)


def resume(ws: Workspace, rollout_id: int, *,
           progress: Callable[[dict[str, Any]], None] | None = None) -> fleet_reg.Rollout:
    """Resume a paused (or interrupted) rollout and drive it to its end from this process."""
    r = rollout_mod.unpause(ws, rollout_id)
    with FleetWatcher(ws) as w:
        if progress:
            progress({"rollout": r.id, "state": r.state, "note": f"rollout {r.id} resumed at batch {r.stage + 1}"})
        return rollout_mod.run(ws, r.id, w, progress=progress)


def rollback(ws: Workspace, rollout_id: int, *, wait_s: float = 30.0) -> fleet_reg.Rollout:
    with FleetWatcher(ws) as w:
        w.settle()
        return rollout_mod.rollback(ws, rollout_id, w, wait_s=wait_s)


def status(ws: Workspace, group: str | None = None, rollout_id: int | None = None, *, refresh: bool = True) -> dict[str, Any]:
    """Devices with their build, state and last seen (refreshed from the broker if reachable)."""
    synced = sync(ws, timeout=3.0) if refresh else False
    rollout = fleet_reg.get_rollout(ws, rollout_id) if rollout_id is not None else None
    in_rollout = {d.device: d for d in rollout.devices} if rollout else None
    rows = []
    for dev in devices_reg.list_devices(ws, group):
        if in_rollout is not None and dev.id not in in_rollout:
            continue
        latest = fleet_reg.latest_device_rollout(ws, dev.id) if in_rollout is None else (rollout.id, in_rollout[dev.id])
        rep = dev.reported or {}
        rows.append({"device": dev.id, "profile": dev.profile, "groups": dev.groups, "build": dev.reported_build,
                     # with --rollout, the device's state in that rollout; else what the agent reports
                     "state": in_rollout[dev.id].state if in_rollout is not None else (rep.get("state") or "unknown"), "status": dev.status or "unknown",
                     "last_seen": dev.last_seen, "desired": rep.get("desired"),
                     "rollout": latest[0] if latest else None,
                     "rollout_state": latest[1].state if latest else None,
                     "reason": (latest[1].reason if latest else None)})
    rollouts = [r for r in fleet_reg.list_rollouts(ws, group)] if rollout is None else [rollout]
    return {"synced_from_broker": synced, "devices": rows,
            "rollouts": [{"rollout": r.id, "build": r.build, "group": r.group, "state": r.state,
                          "counts": r.counts(), "message": r.message, "created": r.created} for r in rollouts[-10:]]}
