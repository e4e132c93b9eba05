"""Publications and rollouts, with a per-device state machine.

Per device in a rollout::

    pending ──► desired ──► updated            (reported the new build)
                   │
                   ├──► failed                 (rejected, self-test failed, timed out)
                   └──► (rollback) reverting ──► reverted (reported its previous build again)

A rollout is ``running`` until it ends ``completed``, ``rolled_back`` or
``aborted``; ``paused`` holds it between batches (no new batch starts) until it
is resumed, aborted or rolled back. Everything is in the registry so another process can show or
roll back a rollout, and a restarted host command resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlite_utils

from tinyops.errors import ConflictError, NotFoundError
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

DEVICE_STATES = ("pending", "desired", "updated", "failed", "reverting", "reverted")
ROLLOUT_STATES = ("running", "paused", "completed", "rolled_back", "aborted")
UNFINISHED = ("running", "paused")


def _create(db: sqlite_utils.Database) -> None:
    db.table("publications").create({"build": str, "published_at": str, "chunk_size": int, "chunks": int,
                               "bundle_bytes": int, "bytes_published": int, "profile": str}, pk="build")
    db.table("rollouts").create({"id": int, "build": str, "group_name": str, "strategy": str, "state": str,
                           "stage": int, "created": str, "updated": str, "message": str}, pk="id")
    db.table("rollout_devices").create({"rollout_id": int, "device": str, "batch": int, "state": str,
                                  "previous_build": str, "set_at": str, "finished_at": str, "reason": str},
                                 pk=("rollout_id", "device"), foreign_keys=[("rollout_id", "rollouts", "id")])
    db.table("rollout_devices").create_index(["device"])


MIGRATIONS = [("0001_fleet", _create)]


@dataclass
class Publication:
    build: str
    published_at: str
    chunk_size: int
    chunks: int
    bundle_bytes: int
    bytes_published: int
    profile: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RolloutDevice:
    device: str
    batch: int
    state: str
    previous_build: str | None
    set_at: str | None
    finished_at: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rollout:
    id: int
    build: str
    group: str
    strategy: dict[str, Any]
    state: str
    stage: int  # index of the batch being worked on
    created: str
    updated: str
    message: str | None
    devices: list[RolloutDevice]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in DEVICE_STATES}
        for d in self.devices:
            out[d.state] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counts"] = self.counts()
        d["batches"] = 1 + max((x.batch for x in self.devices), default=0)
        return d


# ---- publications --------------------------------------------------------------
def record_publication(ws: Workspace, pub: Publication) -> None:
    with ws.transaction():
        ws.db.table("publications").upsert(pub.to_dict(), pk="build")


def publication(ws: Workspace, build: str) -> Publication | None:
    rows = list(ws.db["publications"].rows_where("build = ?", [build], limit=1))
    return Publication(**rows[0]) if rows else None


# ---- rollouts -------------------------------------------------------------------
def create_rollout(ws: Workspace, build: str, group: str, strategy: dict[str, Any],
                   batches: list[list[tuple[str, str | None]]]) -> Rollout:
    """Insert a rollout and its devices: ``batches`` = [[(device, previous_build), …], …]."""
    t = timestamps.now()
    with ws.transaction():
        busy = list(ws.db["rollouts"].rows_where("group_name = ? AND state IN ('running', 'paused')", [group]))
        if busy:
            rid = busy[0]["id"]
            raise ConflictError(f"rollout {rid} is still {busy[0]['state']} on group {group!r}",
                                hint=f"let it finish, resume it (`tinyops fleet resume {rid}` or the same `fleet rollout`), "
                                     f"or `tinyops fleet rollback {rid}`")
        rid = ws.db.table("rollouts").insert({"build": build, "group_name": group, "strategy": json.dumps(strategy),
                                        "state": "running", "stage": 0, "created": t, "updated": t,
                                        "message": None}).last_pk
        ws.db.table("rollout_devices").insert_all(
            {"rollout_id": rid, "device": dev, "batch": i, "state": "pending", "previous_build": prev,
             "set_at": None, "finished_at": None, "reason": None}
            for i, batch in enumerate(batches) for dev, prev in batch)
    return get_rollout(ws, rid)


def get_rollout(ws: Workspace, rollout_id: int) -> Rollout:
    rows = list(ws.db["rollouts"].rows_where("id = ?", [int(rollout_id)], limit=1))
    if not rows:
        raise NotFoundError(f"no rollout {rollout_id}", hint="`tinyops fleet status` lists rollouts")
    r = rows[0]
    devs = [RolloutDevice(**{k: v for k, v in d.items() if k != "rollout_id"}) for d in
            ws.db["rollout_devices"].rows_where("rollout_id = ?", [r["id"]], order_by="batch, device")]
    return Rollout(id=r["id"], build=r["build"], group=r["group_name"], strategy=json.loads(r["strategy"]),
                   state=r["state"], stage=r["stage"], created=r["created"], updated=r["updated"],
                   message=r["message"], devices=devs)


def list_rollouts(ws: Workspace, group: str | None = None) -> list[Rollout]:
    where, args = ("group_name = ?", [group]) if group else (None, [])
    return [get_rollout(ws, r["id"]) for r in ws.db["rollouts"].rows_where(where, args, order_by="id")]


def running_rollout(ws: Workspace, build: str, group: str) -> Rollout | None:
    """The unfinished (running or paused) rollout of this build to this group, if any."""
    rows = list(ws.db["rollouts"].rows_where("build = ? AND group_name = ? AND state IN ('running', 'paused')",
                                             [build, group]))
    return get_rollout(ws, rows[0]["id"]) if rows else None


def set_rollout(ws: Workspace, rollout_id: int, *, state: str | None = None, stage: int | None = None,
                message: str | None = None, only_if_running: bool = False,
                only_if: tuple[str, ...] = ()) -> bool:
    """Update a rollout; with ``only_if_running`` (or ``only_if``: the states it may be in)
    nothing happens (False) once it has left them, so a rollback, abort or pause from
    another process is never overwritten."""
    fields: dict[str, Any] = {"updated": timestamps.now()}
    if state is not None:
        assert state in ROLLOUT_STATES
        fields["state"] = state
    if stage is not None:
        fields["stage"] = stage
    if message is not None:
        fields["message"] = message
    sets = ", ".join(f"{k} = ?" for k in fields)
    states = tuple(only_if) + (("running",) if only_if_running else ())
    where = "id = ?" + (f" AND state IN ({','.join('?' * len(states))})" if states else "")
    with ws.transaction():
        cur = ws.db.execute(f"UPDATE rollouts SET {sets} WHERE {where}", [*fields.values(), int(rollout_id), *states])
    return cur.rowcount > 0


def set_device(ws: Workspace, rollout_id: int, device: str, state: str, *, reason: str | None = None,
               set_at: str | None = None, finished: bool = False) -> None:
    assert state in DEVICE_STATES
    fields: dict[str, Any] = {"state": state}
    if reason is not None:
        fields["reason"] = reason
    if set_at is not None:
        fields["set_at"] = set_at
    if finished:
        fields["finished_at"] = timestamps.now()
    sets = ", ".join(f"{k} = ?" for k in fields)
    with ws.transaction():
        ws.db.execute(f"UPDATE rollout_devices SET {sets} WHERE rollout_id = ? AND device = ?",
                      [*fields.values(), int(rollout_id), device])


def latest_device_rollout(ws: Workspace, device: str) -> tuple[int, RolloutDevice] | None:
    rows = list(ws.db["rollout_devices"].rows_where("device = ?", [device], order_by="rollout_id desc", limit=1))
    if not rows:
        return None
    r = rows[0]
    return r["rollout_id"], RolloutDevice(**{k: v for k, v in r.items() if k != "rollout_id"})
