"""Per-device update deadlines: a device that never updates counts as failed
against --max-failures with a stated reason, instead of holding the rollout."""

from __future__ import annotations

import json
import os
import signal

from click.testing import CliRunner

from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops.cli.main import cli
from tinyops.fleet.rollout import DEADLINE_BASE_S, DEADLINE_RATE_BPS, Strategy, default_deadline_s


def _cli(fleet: Fleet, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["--workspace", str(fleet.ws.root), *args])
    return r.exit_code, r.output


def test_default_deadline_grows_with_build_size() -> None:
    assert default_deadline_s(0) == DEADLINE_BASE_S
    assert default_deadline_s(10 * 1_000_000) == DEADLINE_BASE_S + 10 * 1_000_000 / DEADLINE_RATE_BPS
    assert Strategy().deadline_s is None  # resolved from the build when the rollout starts


def test_stalled_device_fails_its_deadline_and_rolls_back(fleet: Fleet) -> None:
    agents = [fleet.register(f"pi-{i}") for i in range(2)]
    fleet.start_agents(agents)
    os.kill(agents[1].proc.pid, signal.SIGSTOP)  # connected, but frozen before any download
    try:
        v1 = fleet.builds["v1"]
        # The health timeout alone would hold the rollout for 10 minutes; the deadline ends it.
        code, out = _cli(fleet, "fleet", "rollout", v1, "--group", "lab", "--canary", "50%", "--batch", "50%",
                         "--max-failures", "0%", "--health-timeout", "600s", "--deadline", "3s", "--json")
        assert code == 1, out
        r = json.loads(out)
        assert r["state"] == "rolled_back", r
        by_dev = {d["device"]: d for d in r["devices"]}
        assert by_dev["pi-0"]["state"] == "reverted"
        assert by_dev["pi-1"]["reason"] == "deadline: no update within 3 s"
        assert r["strategy"]["deadline_s"] == 3.0
        code, out = _cli(fleet, "fleet", "status", "--rollout", str(r["id"]), "--no-refresh")
        assert code == 0, out
        assert "deadline: no update within 3 s" in out
    finally:
        if agents[1].proc and agents[1].proc.poll() is None:
            agents[1].proc.send_signal(signal.SIGCONT)
