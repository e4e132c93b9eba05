"""The agent keeps its state folder bounded: superseded downloads and crash
leftovers in slots/ are removed after an install."""

from __future__ import annotations

import os
import time

from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops.agent.fetch import prune_downloads
from tinyops.fleet import broker, deployments
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.publish import publish
from tinyops import timestamps


def _stale(root, name: str, age_s: float) -> None:
    d = root / "downloads" / name
    d.mkdir(parents=True)
    (d / "chunk-000000").write_bytes(b"x" * 1000)
    t = time.time() - age_s
    os.utime(d, (t, t))


def test_prune_keeps_current_and_newest_partial(tmp_path) -> None:
    for i, age in enumerate([300, 200, 100]):
        _stale(tmp_path, f"old{i}", age)
    (tmp_path / "downloads" / "stray.tmp").write_bytes(b"junk")
    assert prune_downloads(tmp_path, keep={"old0"}, max_partial=1) == ["old1", "stray.tmp"]
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["old0", "old2"]
    assert prune_downloads(tmp_path) == ["old0", "old2"]
    assert prune_downloads(tmp_path / "missing") == []


def test_agent_removes_superseded_downloads_after_install(fleet: Fleet) -> None:
    a = fleet.register("pi-1")
    for i in range(5):  # unfinished downloads of builds that were superseded
        _stale(a.state_dir, f"stale{i:02d}", 100 * (i + 1))
    (a.state_dir / "downloads" / "leftover.tmp").write_bytes(b"junk")
    (a.state_dir / "slots" / "b.tmp").mkdir(parents=True)  # a crash while writing slot b
    (a.state_dir / "slots" / "b.tmp" / "model.tflite").write_bytes(b"half")
    fleet.start_agents([a])
    v1 = fleet.builds["v1"]
    publish(fleet.ws, v1)
    with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
        c.publish(*deployments.message(fleet.ws, "pi-1", v1, None, timestamps.now()), retain=True)
    fleet.wait_for(lambda: fleet.model_build(a) == v1, 30, "v1 installed")
    fleet.wait_for(lambda: not any((a.state_dir / "downloads").iterdir()), 10, "downloads folder emptied")
    assert sorted(p.name for p in (a.state_dir / "slots").iterdir()) == ["a"]
