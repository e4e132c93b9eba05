"""Page data is computed once per change of the registry and never served stale: a write
from another process is seen at the next request (`tinyops ui` as a real process)."""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path

from fixtures_ui import ui_server

from tinyops.registry import devices as devices_reg
from tinyops.workspace import Workspace


def _get(url: str) -> tuple[str, dict]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.headers.get("X-Tinyops-Cache", ""), json.loads(r.read())


def test_pages_cached_until_the_data_changes(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path / "ws")
    devices_reg.register(ws, "pi-0", "raspberry-pi-4", ["lab"], "$7$101$x$y")
    with ui_server(ws.root) as (url, _token, _log):
        first, body = _get(url + "/api/devices")
        assert first == "miss" and [d["device"] for d in body["devices"]] == ["pi-0"]
        with urllib.request.urlopen(url + "/", timeout=30) as r:  # the page shares the API's computation
            assert r.headers["X-Tinyops-Cache"] == "hit" and b"pi-0" in r.read()

        devices_reg.register(ws, "pi-1", "raspberry-pi-4", ["lab"], "$7$101$x$y")  # this process commits
        state, body = _get(url + "/api/devices")
        assert state == "miss" and [d["device"] for d in body["devices"]] == ["pi-0", "pi-1"]
        devices_reg.record_status(ws, "pi-1", "online")
        assert [d["status"] for d in _get(url + "/api/devices")[1]["devices"]] == ["unknown", "online"]
        assert _get(url + "/api/devices")[0] == "hit"
        # The query string is part of the key.
        assert _get(url + "/api/telemetry?buckets=5")[0] == "miss" and _get(url + "/api/telemetry")[0] == "miss"
        assert _get(url + "/api/telemetry?buckets=5")[0] == "hit"
    ws.close()


def test_a_device_silent_for_three_heartbeats_is_stale_not_online(tmp_path: Path) -> None:
    """The demo stops its agents and broker: the dashboard must not keep calling them online."""
    from tinyops import timestamps
    from tinyops.ui.data import STALE_AFTER_S, shown_status

    ws, _ = Workspace.init(tmp_path / "ws")
    for dev in ("pi-0", "pi-1"):
        devices_reg.register(ws, dev, "raspberry-pi-4", ["lab"], "$7$101$x$y")
    now = timestamps.now_dt().timestamp()
    old = timestamps.from_datetime(timestamps.now_dt() - datetime.timedelta(seconds=STALE_AFTER_S + 60))
    devices_reg.record_status(ws, "pi-0", "online", seen=old)
    devices_reg.record_status(ws, "pi-1", "online")
    with ui_server(ws.root) as (url, _token, _log):
        body = _get(url + "/api/devices")[1]
        assert {d["device"]: d["status"] for d in body["devices"]} == {"pi-0": "stale", "pi-1": "online"}
        assert body["groups"][0]["online"] == 1 and body["groups"][0]["offline"] == 1
    assert shown_status("offline", old, now) == "offline" and shown_status(None, None, now) == "unknown"
    ws.close()
