"""One UTC timestamp format: fixed width, sorts in time order, and the migration that
rewrites the seconds/milliseconds values older workspaces stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tinyops import timestamps
from tinyops.registry import devices as devices_reg
from tinyops.registry import fleet as fleet_reg
from tinyops.registry.schema import migrate
from tinyops.workspace import Workspace


def test_one_width_and_text_order_is_time_order() -> None:
    mixed = ["2026-12-02T10:00:00Z", "2026-12-02T10:00:00.5Z", "2026-12-02T09:59:59.999+00:00",
             "2026-12-02T10:00:00.000001Z", "2026-12-02T10:00:00.123456789Z"]
    assert sorted(mixed) != sorted(mixed, key=timestamps.to_unix)  # why one format is needed
    norm = [timestamps.normalize(t) for t in mixed]
    assert {len(t) for t in norm} == {len("2026-12-02T10:00:00.000000Z")}
    assert sorted(norm) == sorted(norm, key=timestamps.to_unix)
    assert norm[0] == "2026-12-02T10:00:00.000000Z" and norm[4] == "2026-12-02T10:00:00.123456Z"
    assert timestamps.ISO_UTC.fullmatch(timestamps.now())


def test_round_trips_and_refuses_naive_times() -> None:
    t = dt.datetime(2026, 12, 2, 11, 30, 5, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    text = timestamps.from_datetime(t)
    assert text == "2026-12-02T10:30:05.250000Z"
    assert timestamps.parse(text) == t and timestamps.from_unix(timestamps.to_unix(text)) == text
    with pytest.raises(ValueError):
        timestamps.parse("2026-12-02T10:30:05")
    with pytest.raises(ValueError):
        timestamps.from_datetime(dt.datetime(2026, 1, 1))


def test_migration_rewrites_every_precision(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path)
    devices_reg.register(ws, "pi-1", "raspberry-pi-4", ["lab"], "hash")
    r = fleet_reg.create_rollout(ws, "b" * 12, "lab", {}, [[("pi-1", None)]])
    with ws.transaction():  # what older versions stored: seconds here, milliseconds there
        ws.db.execute("UPDATE devices SET created='2026-01-01T00:00:01Z', last_seen='2026-01-01T00:00:02Z'")
        ws.db.execute("UPDATE rollouts SET created='2026-01-01T00:00:01.5Z', message='2026-01-01T00:00:01Z is text'")
        ws.db.execute("DELETE FROM _migrations WHERE name='0001_one_timestamp_format'")
    assert migrate(ws.db) == ["0001_one_timestamp_format"]
    dev = devices_reg.get(ws, "pi-1")
    assert (dev.created, dev.last_seen) == ("2026-01-01T00:00:01.000000Z", "2026-01-01T00:00:02.000000Z")
    row = ws.db.execute("SELECT created, message FROM rollouts WHERE id=?", [r.id]).fetchone()
    assert row == ("2026-01-01T00:00:01.500000Z", "2026-01-01T00:00:01Z is text")  # only whole timestamps change
    assert migrate(ws.db) == []


def test_device_times_are_stored_in_the_one_format(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path)
    devices_reg.register(ws, "pi-1", "raspberry-pi-4", ["lab"], "hash")
    devices_reg.record_reported(ws, "pi-1", {"build": "x"}, seen="2026-12-02T10:00:00.5Z")
    devices_reg.record_reported(ws, "pi-1", {"build": "x"}, seen="2026-12-02T10:00:00Z")  # older: kept out
    assert devices_reg.get(ws, "pi-1").last_seen == "2026-12-02T10:00:00.500000Z"
    devices_reg.record_status(ws, "pi-1", "online", seen="not a time")
    assert timestamps.ISO_UTC.fullmatch(devices_reg.get(ws, "pi-1").last_seen or "")
