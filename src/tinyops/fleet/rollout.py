"""Staged rollouts: canary, then batches, gated on reported health, with rollback.

``desired`` is set batch by batch; a batch is done when each of its devices
has reported the new build (``updated``), refused it or failed its self-test
(``failed``), or has not reported it before its update deadline or the health
timeout, whichever comes first (``failed``, with the reason). After
every batch, if failures exceed ``max_failures`` of the group, every device
that was touched gets its previous build back as ``desired`` and the rollout
stops as ``rolled_back``. A pause lets the current batch finish (its outcomes
are still recorded, its failures still count) and starts no further batch
until resumed. All state is in the registry: `fleet status`, `fleet pause` and
`fleet rollback` work from another process, and running `fleet rollout` again
for the same build and group resumes the unfinished rollout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tinyops.errors import ConflictError, InputError, NotFoundError
from tinyops.registry import devices as devices_reg
from tinyops.registry import fleet as fleet_reg
from tinyops.fleet import deployments, topics
from tinyops.fleet.watch import FleetWatcher
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

Progress = Callable[[dict[str, Any]], None]

# Default per-device update deadline: a fixed allowance for receiving `desired`, the
# self-test and the report, plus the bundle's transfer at a slow link's rate (a Pi on
# weak Wi-Fi through a TLS broker manages ~50 KB/s). Set per rollout with --deadline.
DEADLINE_BASE_S = 30.0
DEADLINE_RATE_BPS = 50_000.0


def default_deadline_s(bundle_bytes: int) -> float:
    return DEADLINE_BASE_S + max(0, bundle_bytes) / DEADLINE_RATE_BPS


@dataclass
class Strategy:
    canary_pct: float = 10.0
    batch_pct: float = 25.0
    max_failures_pct: float = 5.0
    health_timeout_s: float = 60.0
    allow_rollback: bool = False  # the build may have a lower security version than the devices run
    deadline_s: float | None = None  # per-device update deadline; None: derived from the build size at start

    def __post_init__(self) -> None:
        for name in ("canary_pct", "batch_pct"):
            if not 0 < getattr(self, name) <= 100:
                raise InputError(f"{name.replace('_pct', '')} must be in (0%, 100%]", hint="e.g. --canary 10%")
        if not 0 <= self.max_failures_pct <= 100:
            raise InputError("max-failures must be in [0%, 100%]", hint="e.g. --max-failures 5%")
        if self.health_timeout_s <= 0:
            raise InputError("health timeout must be positive", hint="e.g. --health-timeout 60s")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise InputError("deadline must be positive", hint="e.g. --deadline 120s")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(device_ids: list[str], s: Strategy) -> list[list[str]]:
    """Canary first (at least one device), then batches of ``batch_pct``."""
    ids = sorted(device_ids)
    n = len(ids)
    canary = max(1, math.ceil(n * s.canary_pct / 100))
    step = max(1, math.ceil(n * s.batch_pct / 100))
    out = [ids[:canary]]
    out += [ids[i:i + step] for i in range(canary, n, step)]
    return [b for b in out if b]


def allowed_failures(n: int, s: Strategy) -> int:
    return math.floor(n * s.max_failures_pct / 100 + 1e-9)


def start(ws: Workspace, build: str, group: str, strategy: Strategy, *, watcher: FleetWatcher,
          profile: str | None = None) -> fleet_reg.Rollout:
    """Create a rollout (or return the unfinished one for the same build and group)."""
    topics.check_id(build, "build id")
    existing = fleet_reg.running_rollout(ws, build, group)
    if existing:
        return existing
    devs = devices_reg.list_devices(ws, group)
    if not devs:
        raise NotFoundError(f"no devices in group {group!r}",
                            hint="add some with `tinyops device register ID --profile P --group " + group + "`")
    if profile:
        wrong = [d.id for d in devs if d.profile != profile]
        if wrong:
            raise ConflictError(f"build {build} is for {profile}, but {', '.join(wrong[:5])} "
                                f"{'is' if len(wrong) == 1 else 'are'} not",
                                hint="roll out to a group of one profile, or build for the other profile too")
    if strategy.deadline_s is None:  # fixed when the rollout starts, so a resume keeps it
        pub = fleet_reg.publication(ws, build)
        strategy = Strategy(**{**strategy.to_dict(), "deadline_s": default_deadline_s(pub.bundle_bytes if pub else 0)})
    watcher.settle()  # the freshest reported builds become each device's rollback target
    batches = plan([d.id for d in devs], strategy)
    prev = {d.id: (watcher.latest(d.id) or {}).get("build", d.reported_build) for d in devs}
    return fleet_reg.create_rollout(ws, build, group, strategy.to_dict(),
                                    [[(d, prev[d]) for d in batch] for batch in batches])


def _desired_msg(ws: Workspace, device: str, build: str | None, rollout_id: int, set_at: str, *,
                 rollback: bool = False) -> tuple[str, bytes]:
    return deployments.message(ws, device, build, rollout_id, set_at, rollback=rollback)


def _verdict(rep: dict[str, Any] | None, build: str, set_at: str | None) -> tuple[str, str | None] | None:
    if not rep:
        return None
    if rep.get("build") == build:
        return "updated", None
    lu = rep.get("last_update") or {}
    if lu.get("build") == build and lu.get("result") not in (None, "installed") and \
            (set_at is None or lu.get("set_at") in (None, set_at)):
        return "failed", f"{lu.get('result')}: {lu.get('reason') or lu.get('code')}"
    return None


def _snapshot(r: fleet_reg.Rollout, note: str) -> dict[str, Any]:
    return {"rollout": r.id, "state": r.state, "stage": r.stage,
            "batches": 1 + max((d.batch for d in r.devices), default=0), "counts": r.counts(), "note": note}


def run(ws: Workspace, rollout_id: int, watcher: FleetWatcher, *, progress: Progress | None = None,
        poll_s: float = 0.1) -> fleet_reg.Rollout:
    """Drive a rollout to its end; safe to call again after a crash (resumes)."""
    r = fleet_reg.get_rollout(ws, rollout_id)
    s = Strategy(**r.strategy)
    conn = watcher.conn
    n = len(r.devices)
    nbatches = 1 + max(d.batch for d in r.devices)
    deadline_s = s.deadline_s if s.deadline_s is not None else s.health_timeout_s
    if deadline_s <= s.health_timeout_s:
        limit_s, why_late = deadline_s, f"deadline: no update within {deadline_s:g} s"
    else:
        limit_s, why_late = s.health_timeout_s, f"no report of build {r.build} within {s.health_timeout_s:g} s"
    for b in range(r.stage, nbatches):
        if not fleet_reg.set_rollout(ws, r.id, stage=b, only_if_running=True):
            return fleet_reg.get_rollout(ws, r.id)  # paused, rolled back or aborted elsewhere
        r = fleet_reg.get_rollout(ws, r.id)
        msgs = []
        for d in (d for d in r.devices if d.batch == b and d.state in ("pending", "desired")):
            set_at = d.set_at or timestamps.now()
            if d.state == "pending":  # recorded before publishing, so a restart re-publishes it
                fleet_reg.set_device(ws, r.id, d.device, "desired", set_at=set_at)
            # (re)publish: idempotent, and after a host restart the broker may have lost an unacked one
            msgs.append(_desired_msg(ws, d.device, r.build, r.id, set_at, rollback=s.allow_rollback))
        conn.publish_many(msgs, qos=1, retain=True)  # one wait for all PUBACKs, not one per device
        sessions = conn.connect_count
        if progress:
            progress(_snapshot(fleet_reg.get_rollout(ws, r.id), f"batch {b + 1}/{nbatches}: desired set"))
        while True:
            watcher.flush()
            r = fleet_reg.get_rollout(ws, r.id)
            if r.state not in fleet_reg.UNFINISHED:  # paused: this batch is still followed to its end
                return r
            if conn.connect_count != sessions and conn.connected:
                # A new session: the broker restarted (or the link dropped) and may have lost the
                # retained desired messages it had not saved; they are idempotent, so send them again.
                sessions = conn.connect_count
                conn.publish_many(msgs, qos=1, retain=True)
            waiting = 0
            for d in (d for d in r.devices if d.batch == b and d.state == "desired"):
                v = _verdict(watcher.latest(d.device), r.build, d.set_at)
                if v:
                    fleet_reg.set_device(ws, r.id, d.device, v[0], reason=v[1], finished=True)
                elif _age_s(d.set_at) > limit_s:
                    fleet_reg.set_device(ws, r.id, d.device, "failed", finished=True, reason=why_late)
                else:
                    waiting += 1
            if waiting == 0:
                break
            watcher.wait_change(poll_s)  # wakes on the next report, at the latest after poll_s
        r = fleet_reg.get_rollout(ws, r.id)
        failed = r.counts()["failed"]
        if progress:
            progress(_snapshot(r, f"batch {b + 1}/{nbatches} done"))
        if failed > allowed_failures(n, s):
            why = (f"{failed} of {n} devices failed in batch {b + 1}/{nbatches} "
                   f"(allowed {allowed_failures(n, s)} = {s.max_failures_pct:g}%)")
            return rollback(ws, r.id, watcher, reason=why, progress=progress)
    fleet_reg.set_rollout(ws, r.id, state="completed", stage=nbatches,  # paused in the last batch: nothing is left
                          message=f"{r.counts()['updated']} of {n} updated", only_if=fleet_reg.UNFINISHED)
    return fleet_reg.get_rollout(ws, r.id)


def pause(ws: Workspace, rollout_id: int, *, reason: str = "paused by request") -> fleet_reg.Rollout:
    """Start no further batch; the driving process stops once the current batch is decided."""
    r = fleet_reg.get_rollout(ws, rollout_id)
    if not fleet_reg.set_rollout(ws, r.id, state="paused", message=reason, only_if_running=True):
        raise ConflictError(f"rollout {r.id} is {fleet_reg.get_rollout(ws, r.id).state}, not running",
                            hint="only a running rollout can be paused")
    return fleet_reg.get_rollout(ws, r.id)


def unpause(ws: Workspace, rollout_id: int) -> fleet_reg.Rollout:
    """Mark a paused rollout running again (``run`` then drives it on)."""
    r = fleet_reg.get_rollout(ws, rollout_id)
    if r.state == "running":
        return r
    if not fleet_reg.set_rollout(ws, r.id, state="running", message="resumed", only_if=("paused",)):
        raise ConflictError(f"rollout {r.id} is {fleet_reg.get_rollout(ws, r.id).state}, not paused",
                            hint="only a paused (or running) rollout can be resumed")
    return fleet_reg.get_rollout(ws, r.id)


def abort(ws: Workspace, rollout_id: int, *, reason: str = "aborted by request") -> fleet_reg.Rollout:
    """End a running or paused rollout where it is: devices keep what they have, nothing is reverted."""
    r = fleet_reg.get_rollout(ws, rollout_id)
    if not fleet_reg.set_rollout(ws, r.id, state="aborted", message=reason, only_if=fleet_reg.UNFINISHED):
        raise ConflictError(f"rollout {r.id} is {fleet_reg.get_rollout(ws, r.id).state}, not running",
                            hint="only a running or paused rollout can be aborted; `tinyops fleet rollback` undoes one")
    return fleet_reg.get_rollout(ws, r.id)


def _age_s(iso: str | None) -> float:
    if not iso:
        return 0.0
    return timestamps.age_s(iso)


def rollback(ws: Workspace, rollout_id: int, watcher: FleetWatcher, *, reason: str = "rolled back by request",
             wait_s: float = 0.0, progress: Progress | None = None) -> fleet_reg.Rollout:
    """Every device this rollout touched gets its previous build as desired again."""
    r = fleet_reg.get_rollout(ws, rollout_id)
    if r.state == "rolled_back":
        return r
    fleet_reg.set_rollout(ws, r.id, state="rolled_back", message=reason)
    at = timestamps.now()
    for d in r.devices:
        if d.state == "pending":
            continue  # never got the build: nothing to undo
        watcher.conn.publish(*_desired_msg(ws, d.device, d.previous_build, r.id, at, rollback=True), qos=1, retain=True)
        fleet_reg.set_device(ws, r.id, d.device, "reverting")
    deadline = time.monotonic() + wait_s
    while True:
        watcher.flush()
        r = fleet_reg.get_rollout(ws, r.id)
        left = 0
        for d in (d for d in r.devices if d.state == "reverting"):
            rep = watcher.latest(d.device) or {}
            if d.previous_build is None or rep.get("build") == d.previous_build:
                fleet_reg.set_device(ws, r.id, d.device, "reverted", finished=True)
            else:
                left += 1
        if left == 0 or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    r = fleet_reg.get_rollout(ws, r.id)
    if progress:
        progress(_snapshot(r, f"rolled back: {reason}"))
    return r
