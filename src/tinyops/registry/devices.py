"""Devices of the fleet: id, profile, groups, credentials reference, last state.

The MQTT password is never stored: only its hash, already in Mosquitto's
PBKDF2-SHA512 format (``$7$iterations$salt$hash``), so the broker's password
file is generated from this table and the plaintext lives only in the agent
config handed out once at registration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlite_utils

from tinyops.errors import ConflictError, NotFoundError
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

TABLE = "devices"


def _create(db: sqlite_utils.Database) -> None:
    db.table(TABLE).create({
        "id": str, "profile": str, "groups": str, "gateway": str, "password_hash": str,
        "created": str, "credentials_updated": str, "reported": str, "reported_build": str,
        "status": str, "last_seen": str,
    }, pk="id", not_null={"profile", "groups", "password_hash", "created"})


MIGRATIONS = [("0001_devices", _create)]


@dataclass
class Device:
    id: str
    profile: str
    groups: list[str]
    gateway: str | None = None  # the Pi agent that relays for this MCU, if any
    password_hash: str = field(default="", repr=False)
    created: str = ""
    credentials_updated: str = ""
    reported: dict[str, Any] | None = None  # last retained `reported` message
    reported_build: str | None = None
    status: str | None = None  # online / offline (last will)
    last_seen: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.id, "profile": self.profile, "groups": self.groups, "gateway": self.gateway,
                "build": self.reported_build, "status": self.status, "last_seen": self.last_seen,
                "reported": self.reported, "created": self.created,
                "credentials": "mosquitto-pbkdf2-sha512 hash (plaintext only in the agent config)"}


def _row(r: dict[str, Any]) -> Device:
    return Device(id=r["id"], profile=r["profile"], groups=json.loads(r["groups"]), gateway=r["gateway"],
                  password_hash=r["password_hash"], created=r["created"],
                  credentials_updated=r["credentials_updated"] or r["created"],
                  reported=json.loads(r["reported"]) if r["reported"] else None,
                  reported_build=r["reported_build"], status=r["status"], last_seen=r["last_seen"])


def exists(ws: Workspace, device_id: str) -> bool:
    return bool(list(ws.db[TABLE].rows_where("id = ?", [device_id], limit=1)))


def register(ws: Workspace, device_id: str, profile: str, groups: list[str], password_hash: str, *,
             gateway: str | None = None, rotate: bool = False) -> Device:
    """Insert a device (or, with ``rotate``, replace its credentials and groups)."""
    now = timestamps.now()
    with ws.transaction():
        old = list(ws.db[TABLE].rows_where("id = ?", [device_id], limit=1))
        if old and not rotate:
            raise ConflictError(f"device {device_id!r} is already registered",
                                hint="pass --rotate to issue new credentials, or pick another id")
        if gateway is not None and gateway != device_id and not list(ws.db[TABLE].rows_where("id = ?", [gateway], limit=1)):
            raise NotFoundError(f"gateway device {gateway!r} is not registered",
                                hint=f"register the Pi first: `tinyops device register {gateway} --profile raspberry-pi-4`")
        row = {"id": device_id, "profile": profile, "groups": json.dumps(sorted(set(groups))),
               "gateway": gateway, "password_hash": password_hash, "credentials_updated": now}
        if old:
            ws.db.table(TABLE).update(device_id, row)
        else:
            ws.db.table(TABLE).insert({**row, "created": now})
    return get(ws, device_id)


def get(ws: Workspace, device_id: str) -> Device:
    rows = list(ws.db[TABLE].rows_where("id = ?", [device_id], limit=1))
    if not rows:
        known = [r["id"] for r in ws.db[TABLE].rows_where(select="id", order_by="id", limit=10)]
        raise NotFoundError(f"no device {device_id!r}",
                            hint=f"registered: {', '.join(known)}" if known else "register one with `tinyops device register ID --profile P`")
    return _row(rows[0])


def list_devices(ws: Workspace, group: str | None = None) -> list[Device]:
    out = [_row(r) for r in ws.db[TABLE].rows_where(order_by="id")]
    return [d for d in out if group is None or group in d.groups]


def _seen(seen: str | None) -> str:
    """A device's own timestamp in the stored format; now when it sent none or garbage."""
    try:
        return timestamps.normalize(seen) if seen else timestamps.now()
    except (TypeError, ValueError):
        return timestamps.now()


SUMMARY_FIELDS = ("slot", "state", "firmware", "agent_version", "runtime", "health")


def summaries(ws: Workspace) -> list[dict[str, Any]]:
    """Every device, ordered by id, with only a few fields of its last report (picked out by
    SQLite, not parsed here): id, profile, groups, gateway, status, last_seen, build, and
    ``SUMMARY_FIELDS`` (``health`` as it was reported, any JSON value). For tables of the whole fleet."""
    picks = ", ".join(f"json_quote(json_extract(reported, '$.{f}'))" if f == "health" else f"json_extract(reported, '$.{f}')"
                      for f in SUMMARY_FIELDS)
    rows = ws.db.execute(f"SELECT id, profile, groups, gateway, status, last_seen, reported_build, {picks} "
                         f"FROM {TABLE} ORDER BY id").fetchall()
    keys = ("id", "profile", "groups", "gateway", "status", "last_seen", "build", *SUMMARY_FIELDS)
    out = []
    for r in rows:
        d = dict(zip(keys, r))
        d["groups"] = json.loads(d["groups"])
        d["health"] = json.loads(d["health"]) if d["health"] is not None else None
        out.append(d)
    return out


def record_reported(ws: Workspace, device_id: str, reported: dict[str, Any], seen: str | None = None) -> None:
    """Store the latest `reported` message of a device (ignored for unknown ids)."""
    with ws.transaction():
        ws.db.execute(f"UPDATE {TABLE} SET reported = ?, reported_build = ?, last_seen = "
                      "CASE WHEN last_seen IS NULL OR last_seen < ? THEN ? ELSE last_seen END WHERE id = ?",
                      [json.dumps(reported), reported.get("build"), _seen(seen), _seen(seen), device_id])


def record_status(ws: Workspace, device_id: str, status: str, seen: str | None = None) -> None:
    with ws.transaction():
        if status == "online":
            ws.db.execute(f"UPDATE {TABLE} SET status = ?, last_seen = ? WHERE id = ?",
                          [status, _seen(seen), device_id])
        else:
            ws.db.execute(f"UPDATE {TABLE} SET status = ? WHERE id = ?", [status, device_id])


def gatewayed(ws: Workspace, gateway: str) -> list[Device]:
    """MCUs whose topics the gateway ``gateway`` may use."""
    return [d for d in list_devices(ws) if d.gateway == gateway and d.id != gateway]
