"""Signed, expiring, ordered ``desired`` messages (what a rollout asks of one device).

The body names the device, the build, the rollout, a per-device sequence number
(milliseconds of ``set_at``: a republished message keeps its number, a newer
request always has a larger one), an expiry, and whether it authorises going
back to a lower security version (``rollback``). It is signed with the
workspace key; agents and gateways refuse anything else.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tinyops import signing
from tinyops.devices import keys
from tinyops.fleet import topics
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

DEFAULT_TTL_S = 7 * 24 * 3600.0


def sequence(set_at: str) -> int:
    return int(timestamps.to_unix(set_at) * 1000)


def body(device: str, build: str | None, rollout: int | None, set_at: str, *, rollback: bool = False,
         ttl_s: float = DEFAULT_TTL_S, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timestamps.now_dt()
    expires = timestamps.from_datetime(now + dt.timedelta(seconds=ttl_s))
    return {"device": topics.check_id(device), "build": build, "rollout": rollout, "set_at": set_at,
            "seq": sequence(set_at), "expires": expires, "rollback": bool(rollback)}


def message(ws: Workspace, device: str, build: str | None, rollout: int | None, set_at: str, *,
            rollback: bool = False, ttl_s: float = DEFAULT_TTL_S) -> tuple[str, bytes]:
    """(topic, payload) of a signed desired message for ``device``."""
    b = body(device, build, rollout, set_at, rollback=rollback, ttl_s=ttl_s)
    if rollback and build:
        ticket = rollback_ticket(ws, build)
        if ticket:
            b["image_ticket"] = ticket.hex()
    return topics.desired(device), signing.sign_deployment(keys.key_dir(ws), b)


def rollback_ticket(ws: Workspace, build: str) -> bytes | None:
    """For a build with a microcontroller image: its ticket with the rollback flag, which the
    firmware needs to go below its security floor (a gateway cannot sign one)."""
    import json

    from tinyops.devices import tickets
    from tinyops.errors import NotFoundError
    from tinyops.registry import builds

    try:
        row = builds.get(ws, build)
    except NotFoundError:
        return None
    if "model.img" not in row.files:
        return None
    manifest = json.loads(builds.file_bytes(ws, row, "manifest.json"))
    return tickets.for_manifest(keys.key_dir(ws), builds.file_bytes(ws, row, "model.img"), manifest, rollback=True)
