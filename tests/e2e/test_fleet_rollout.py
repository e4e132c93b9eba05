"""Fleet end to end: 20 real agent processes, a real Mosquitto with TLS and ACLs.

- canary then full rollout: every agent reports the new build;
- broker restarted mid-rollout: the rollout completes;
- a canary whose self-test fails: rolled back, no device outside the canary got it;
- SIGKILL during updates at 20 random moments: after restart a valid model runs.
(Rejection of tampered/wrong-sha/badly-signed/other-profile builds, ACLs, wrong
passwords and plain TCP are covered against the same broker in test_agent.py
and test_broker.py.)
"""

from __future__ import annotations

import io
import json
import random
import threading
import time

import numpy as np

from fixtures_fleet import Fleet, broken_golden, fleet, fleet_template  # noqa: F401
from tinyops.fleet import api, broker, deployments, publish, topics
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.rollout import Strategy
from tinyops.registry import fleet as fleet_reg
from tinyops import timestamps

N = 20


def _all_on(fleet: Fleet, agents, build: str) -> bool:
    return all(fleet.model_build(a) == build for a in agents)


def test_fleet_of_20(fleet: Fleet) -> None:
    agents = [fleet.register(f"pi-{i:02d}") for i in range(N)]
    fleet.start_agents(agents)
    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    strategy = Strategy(canary_pct=10, batch_pct=25, max_failures_pct=5, health_timeout_s=60)

    # 1. canary, then batches: everyone on v1
    notes: list[str] = []
    r = api.rollout_build(fleet.ws, v1, "lab", strategy, progress=lambda p: notes.append(p.get("note", "")))
    assert r.state == "completed", r.message
    assert r.counts()["updated"] == N and [len([d for d in r.devices if d.batch == b]) for b in range(5)] == [2, 5, 5, 5, 3]
    assert any("batch 1/5 done" in n for n in notes)
    assert _all_on(fleet, agents, v1)
    st = api.status(fleet.ws, "lab")
    assert {d["build"] for d in st["devices"]} == {v1} and all(d["last_seen"] for d in st["devices"])

    # 2. broker restarted in the middle of the v2 rollout: it still completes
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(r=api.rollout_build(fleet.ws, v2, "lab", strategy)))
    t.start()
    fleet.wait_for(lambda: any(d.state == "updated" for rr in fleet_reg.list_rollouts(fleet.ws) if rr.build == v2
                               for d in rr.devices), 60, "canary of v2 updated")
    broker.stop(fleet.ws)
    time.sleep(1.0)
    broker.start(fleet.ws)
    t.join(180)
    assert not t.is_alive()
    assert result["r"].state == "completed" and result["r"].counts()["updated"] == N, result["r"].message
    fleet.wait_for(lambda: _all_on(fleet, agents, v2), 30, "all on v2")

    # 3. a canary that fails its self-test: rolled back; nobody outside the canary saw it
    bad = broken_golden(fleet.ws, fleet.bundle("v1"))
    publish.publish(fleet.ws, bad)
    r3 = api.rollout_build(fleet.ws, bad.build, "lab", strategy)
    assert r3.state == "rolled_back" and "failed" in (r3.message or "")
    canary = {d.device for d in r3.devices if d.batch == 0}
    assert len(canary) == 2
    assert all(d.state == "pending" for d in r3.devices if d.device not in canary)
    for a in agents:
        lu = json.loads((a.state_dir / "last_update.json").read_text())
        if a.device in canary:
            assert lu["build"] == bad.build and lu["result"] == "selftest_failed"
        else:
            assert lu["build"] != bad.build
        assert fleet.model_build(a) == v2
    reasons = [d.reason for d in r3.devices if d.device in canary]
    assert all("selftest_failed" in (x or "") for x in reasons), reasons


def _predict_matches_golden(fleet: Fleet, a, builds: tuple[str, str]) -> None:
    """The served model answers its own golden vectors. The agent may finish a
    pending update between two requests, so retry when the answer names the other build."""
    from tinyops.fleet.publish import load_bundle

    golden = {}
    for build in builds:
        with np.load(io.BytesIO(load_bundle(fleet.ws, build).files["golden.npz"])) as z:
            golden[build] = (z["inputs"][0], z["outputs"][0])
    for _ in range(5):
        b = fleet.model_build(a)
        assert b in builds, b
        x, y = golden[b]
        code, out = a.post("/v1/predict", json.dumps({"input_raw": x.tolist()}).encode())
        assert code == 200 and out["build"] in builds
        if out["build"] == b:
            got = np.array(out["output_raw"], dtype=np.float64)
            tol = 1 if y.dtype.kind in "iu" else 1e-4
            assert np.allclose(got, y.reshape(-1).astype(np.float64), atol=tol, rtol=0), (got, y)
            return
    raise AssertionError("the agent kept switching builds")


def test_sigkill_at_20_random_moments_leaves_a_valid_model(fleet: Fleet) -> None:
    agents = [fleet.register(f"k-{i}") for i in range(4)]
    fleet.start_agents(agents)
    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    r = api.rollout_build(fleet.ws, v1, "lab", Strategy(canary_pct=100, health_timeout_s=60))
    assert r.state == "completed"
    publish.publish(fleet.ws, v2)
    rng = random.Random(7)
    host = MqttConnection(broker.host_address(fleet.ws)).connect()
    errors: list[str] = []

    def torture(a, rounds: int) -> None:
        try:
            for k in range(rounds):
                target = v2 if fleet.model_build(a) == v1 else v1
                host.publish(*deployments.message(fleet.ws, a.device, target, None, timestamps.now()), retain=True)
                time.sleep(rng.uniform(0.0, 0.6))  # somewhere in download / write / self-test / switch
                fleet.kill_agent(a)
                fleet.start_agent(a)
                a.http_port()
                fleet.wait_for(lambda: a.get("/v1/health")[0] == 200, 20, f"{a.device} healthy after kill {k}")
                build = fleet.model_build(a)
                assert build in (v1, v2), build
                _predict_matches_golden(fleet, a, (build, v2 if build == v1 else v1))
        except AssertionError as e:  # collected: an assert in a thread would be lost
            errors.append(f"{a.device}: {e}")

    threads = [threading.Thread(target=torture, args=(a, 5)) for a in agents]  # 4 agents x 5 = 20 moments
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    host.close()
    assert not errors, errors
