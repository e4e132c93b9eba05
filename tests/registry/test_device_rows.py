"""Device summaries (the fleet table's rows, fields picked out by SQLite) agree with the
full records, whatever shape a device's report has."""

from __future__ import annotations

from tinyops.registry import devices
from tinyops.workspace import Workspace

REPORTS = [
    {"build": "b1", "slot": "a", "state": "running", "firmware": "fw 2", "agent_version": "0.1", "health": {"ok": True, "n": [1]}},
    {"build": "b2", "slot": "<b>", "state": "{not json", "agent_version": "0.2", "health": "{not json"},
    {"build": None, "health": None, "runtime": "litert"},
    {"slot": {"nested": 1}, "health": 3.5},
]


def test_summaries_agree_with_the_records(ws: Workspace) -> None:
    for i, rep in enumerate([*REPORTS, None]):
        devices.register(ws, f"d{i}", "raspberry-pi-4", ["lab", f"g{i}"], "$7$101$x$y")
        if rep is not None:
            devices.record_reported(ws, f"d{i}", rep)
    devices.record_status(ws, "d0", "online")
    full = {d.id: d for d in devices.list_devices(ws)}
    rows = devices.summaries(ws)
    assert [r["id"] for r in rows] == sorted(full)
    for r in rows:
        d = full[r["id"]]
        rep = d.reported or {}
        assert (r["profile"], r["groups"], r["status"], r["last_seen"], r["build"], r["gateway"]) == \
            (d.profile, d.groups, d.status, d.last_seen, d.reported_build, d.gateway)
        for f in devices.SUMMARY_FIELDS:
            if f == "health" or not isinstance(rep.get(f), dict):
                assert r[f] == rep.get(f), (r["id"], f)
    assert rows[3]["slot"] == '{"nested":1}'  # an object where text belongs arrives as its JSON text
