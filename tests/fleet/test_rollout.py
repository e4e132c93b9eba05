"""Rollouts: planning, a staged rollout to real agents, status and rollback
from another process, and resuming after the host command died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from click.testing import CliRunner

from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops.cli.main import cli
from tinyops.fleet.rollout import Strategy, allowed_failures, plan
from tinyops.registry import fleet as fleet_reg

TINYOPS = [sys.executable, "-c", "from tinyops.cli.main import cli; cli()"]  # the CLI in a separate process


def test_plan_canary_then_batches() -> None:
    ids = [f"d{i:02d}" for i in range(20)]
    batches = plan(ids, Strategy(canary_pct=10, batch_pct=25))
    assert [len(b) for b in batches] == [2, 5, 5, 5, 3]
    assert sorted(sum(batches, [])) == ids
    assert plan(["a"], Strategy(canary_pct=10)) == [["a"]]
    assert allowed_failures(20, Strategy(max_failures_pct=5)) == 1
    assert allowed_failures(3, Strategy(max_failures_pct=5)) == 0


def _cli(fleet: Fleet, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["--workspace", str(fleet.ws.root), *args])
    return r.exit_code, r.output


def test_rollout_status_and_rollback_from_another_process(fleet: Fleet) -> None:
    agents = [fleet.register(f"pi-{i}") for i in range(3)]
    fleet.start_agents(agents)
    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    code, out = _cli(fleet, "fleet", "rollout", v1, "--group", "lab", "--canary", "33%", "--batch", "30%",
                     "--health-timeout", "30s")
    assert code == 0, out
    assert "completed" in out and "batch 1/3" in out
    code, out = _cli(fleet, "fleet", "rollout", v2, "--group", "lab", "--canary", "34%", "--health-timeout", "30s", "--json")
    assert code == 0, out
    r2 = json.loads(out)
    assert r2["state"] == "completed" and r2["counts"]["updated"] == 3
    code, out = _cli(fleet, "fleet", "status", "--group", "lab", "--json")
    st = json.loads(out)
    assert {d["device"]: d["build"] for d in st["devices"]} == {f"pi-{i}": v2 for i in range(3)}
    assert all(d["last_seen"] and d["state"] == "running" for d in st["devices"])

    # `fleet rollback` in another process: every device goes back to v1 (from its other slot).
    p = subprocess.run([*TINYOPS, "--workspace", str(fleet.ws.root), "fleet", "rollback",
                        str(r2["id"]), "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["counts"]["reverted"] == 3
    for a in agents:
        assert fleet.model_build(a) == v1


def test_rollout_resumes_after_host_command_is_killed(fleet: Fleet) -> None:
    agents = [fleet.register(f"pi-{i}") for i in range(2)]
    fleet.start_agents(agents[:1])  # pi-1 is off: the rollout has to wait for it
    v1 = fleet.builds["v1"]
    host = subprocess.Popen([*TINYOPS, "--workspace", str(fleet.ws.root), "fleet", "rollout",
                             v1, "--group", "lab", "--canary", "50%", "--batch", "50%", "--health-timeout", "120s"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        fleet.wait_for(lambda: fleet.model_build(agents[0]) == v1, 40, "canary updated")
        fleet.wait_for(lambda: any(d.state == "desired" and d.device == "pi-1"
                                   for r in fleet_reg.list_rollouts(fleet.ws) for d in r.devices), 20, "batch 2 set")
    finally:
        os.kill(host.pid, signal.SIGKILL)
        host.wait(10)
    r = fleet_reg.list_rollouts(fleet.ws)[0]
    assert r.state == "running"
    fleet.start_agents(agents[1:])
    code, out = _cli(fleet, "fleet", "rollout", v1, "--group", "lab", "--json")
    assert code == 0, out
    res = json.loads(out)
    assert res["id"] == r.id and res["state"] == "completed" and res["counts"]["updated"] == 2


def test_pause_lets_the_batch_finish_then_resume_and_abort(fleet: Fleet) -> None:
    """Pause while batch 2 waits for pi-1: pi-1's update is still recorded, pi-2 is not touched
    and the driving process stops; `fleet resume` finishes it; abort ends a paused rollout."""
    agents = [fleet.register(f"pi-{i}") for i in range(3)]
    fleet.start_agents([agents[0], agents[2]])  # pi-1 is off: batch 2 has to wait for it
    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    host = subprocess.Popen([*TINYOPS, "--workspace", str(fleet.ws.root), "fleet", "rollout", v1, "--group", "lab",
                             "--canary", "33%", "--batch", "33%", "--health-timeout", "120s"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
    try:
        fleet.wait_for(lambda: any(d.state == "desired" and d.device == "pi-1"
                                   for r in fleet_reg.list_rollouts(fleet.ws) for d in r.devices), 60, "batch 2 set")
        rid = fleet_reg.list_rollouts(fleet.ws)[0].id
        code, out = _cli(fleet, "fleet", "pause", str(rid))
        assert code == 0 and "paused at batch 2" in out, out
        assert fleet_reg.get_rollout(fleet.ws, rid).state == "paused"
        fleet.start_agents([agents[1]])  # pi-1 comes back: the paused rollout still records its update
        out, _ = host.communicate(timeout=90)
        assert host.returncode == 1 and f"Rollout {rid}: paused" in out and f"fleet resume {rid}" in out, out
    finally:
        if host.poll() is None:
            os.kill(host.pid, signal.SIGKILL)
            host.wait(10)
    r = fleet_reg.get_rollout(fleet.ws, rid)
    assert {d.device: d.state for d in r.devices} == {"pi-0": "updated", "pi-1": "updated", "pi-2": "pending"}
    assert r.state == "paused" and fleet.model_build(agents[2]) != v1  # no batch started while paused
    assert _cli(fleet, "fleet", "rollout", v2, "--group", "lab")[1].count("still paused") == 1  # the group is busy

    code, out = _cli(fleet, "fleet", "resume", str(rid), "--json")
    assert code == 0, out
    assert json.loads(out)["state"] == "completed" and fleet.model_build(agents[2]) == v1
    code, out = _cli(fleet, "fleet", "pause", str(rid))
    assert code == 1 and "is completed, not running" in out

    # A paused rollout can be aborted; what was installed stays, and it cannot be resumed.
    fleet.kill_agent(agents[1])
    host = subprocess.Popen([*TINYOPS, "--workspace", str(fleet.ws.root), "fleet", "rollout", v2, "--group", "lab",
                             "--canary", "33%", "--batch", "33%", "--health-timeout", "120s"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
    try:
        fleet.wait_for(lambda: len(fleet_reg.list_rollouts(fleet.ws)) == 2 and
                       fleet_reg.list_rollouts(fleet.ws)[1].counts()["desired"] == 1 and
                       fleet_reg.list_rollouts(fleet.ws)[1].stage == 1, 60, "v2 batch 2 waiting for pi-1")
        r2 = fleet_reg.list_rollouts(fleet.ws)[1].id
        assert _cli(fleet, "fleet", "pause", str(r2))[0] == 0
        code, out = _cli(fleet, "fleet", "abort", str(r2), "--json")
        assert code == 0 and json.loads(out)["state"] == "aborted", out
        host.communicate(timeout=90)
        assert host.returncode == 1
    finally:
        if host.poll() is None:
            os.kill(host.pid, signal.SIGKILL)
            host.wait(10)
    assert fleet.model_build(agents[0]) == v2 and fleet.model_build(agents[2]) == v1
    code, out = _cli(fleet, "fleet", "resume", str(r2))
    assert code == 1 and "is aborted, not paused" in out
