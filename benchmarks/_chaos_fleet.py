"""Chaos against the fleet: broker SIGKILLs during publish and rollout, agent SIGKILLs
during updates, session takeovers, forged and replayed desired messages.

Uses the tests' fleet helpers (a trained digits workspace with real signed builds, a
real Mosquitto with TLS, real `tinyops-agent` processes); every count is an outcome
seen from outside (what the broker holds, what an agent's HTTP endpoint serves).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fixtures_fleet import Fleet  # tests/ is on sys.path (chaos.py)

from tinyops import signing, timestamps
from tinyops.errors import FleetError, TinyOpsError
from tinyops.fleet import api, broker, deployments, topics
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.publish import load_bundle, missing_on_broker, publish
from tinyops.fleet.rollout import Strategy
from tinyops.registry import fleet as fleet_reg


PUBLISH_CHUNK = 2048


def _kill_then_restart(fleet: Fleet, delay: float, down_s: float, log: list[float]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        broker.kill(fleet.ws)
        log.append(time.monotonic())
        time.sleep(down_s)
        broker.start(fleet.ws)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _published_but_missing(fleet: Fleet, builds: list[str]) -> int:
    """Builds the registry calls published whose retained messages the broker lacks
    *after* the host's own check (``publish`` re-checks and republishes)."""
    bad = 0
    for b in builds:
        prev = fleet_reg.publication(fleet.ws, b)
        if prev is None:
            continue
        publish(fleet.ws, b)
        bad += bool(missing_on_broker(broker.host_address(fleet.ws), load_bundle(fleet.ws, b), prev.chunk_size))
    return bad


def broker_kills(fleet: Fleet, rng: random.Random, publish_kills: int, rollout_kills: int) -> dict[str, Any]:
    builds = [fleet.builds["v1"], fleet.builds["v2"]]
    agents = [fleet.register(f"pi-r{i}", group="chaos") for i in range(3)]
    fleet.start_agents(agents)
    out: Counter = Counter()
    reasons: Counter = Counter()
    # Publish: kill while the chunks and the envelope are going out (small chunks: many
    # messages, so a random moment falls inside the publish).
    t0 = time.monotonic()
    publish(fleet.ws, builds[0], force=True, chunk_size=PUBLISH_CHUNK)
    pub_s = time.monotonic() - t0
    for i in range(publish_kills):
        b = builds[i % 2]
        kills: list[float] = []
        t = _kill_then_restart(fleet, rng.uniform(0, 0.8 * pub_s), 0.3, kills)
        try:
            publish(fleet.ws, b, force=True, chunk_size=PUBLISH_CHUNK)
            out["publish_returned_ok"] += 1
        except TinyOpsError as e:
            out["publish_failed_with_reason"] += 1
            reasons[type(e).__name__] += 1
        ended = time.monotonic()
        t.join()
        out["publish_kill_landed_while_publishing"] += bool(kills and kills[0] < ended)
        broker.start(fleet.ws)
        lost = missing_on_broker(broker.host_address(fleet.ws), load_bundle(fleet.ws, b),
                                 fleet_reg.publication(fleet.ws, b).chunk_size) if fleet_reg.publication(fleet.ws, b) else []
        out["broker_lacked_something_before_host_check"] += bool(lost)
        out["publish_kills"] += 1
    out["published_but_missing_after_check"] += _published_but_missing(fleet, builds)
    # Rollout: kill at a random moment while the rollout is driven.
    t0 = time.monotonic()
    r = api.rollout_build(fleet.ws, builds[1], "chaos", Strategy(canary_pct=34, batch_pct=100, health_timeout_s=60))
    roll_s = time.monotonic() - t0
    out[f"calibration_rollout_{r.state}"] += 1
    for i in range(rollout_kills):
        target = builds[i % 2]
        kills = []
        t = _kill_then_restart(fleet, rng.uniform(0, 0.8 * roll_s), rng.uniform(0.2, 1.5), kills)
        try:
            r = api.rollout_build(fleet.ws, target, "chaos",
                                  Strategy(canary_pct=34, batch_pct=100, health_timeout_s=60, deadline_s=60))
            state, why = r.state, r.message
        except TinyOpsError as e:  # the command itself stopped: it must say why
            state, why = "command_error", str(e)
        ended = time.monotonic()
        t.join()
        out["rollout_kills"] += 1
        out["rollout_kill_landed_while_running"] += bool(kills and kills[0] < ended)
        out[f"rollout_{state}"] += 1
        if state != "completed":
            reasons[(why or "")[:60] or "NO REASON"] += 1
        served = {fleet.wait_for(lambda a=a: fleet.model_build(a), 30, "a model") for a in agents}
        out["agents_running_an_unknown_build"] += len(served - set(builds))
        if state == "completed":
            out["completed_but_agent_not_on_target"] += len(served - {target})
        out["published_but_missing_after_check"] += _published_but_missing(fleet, builds)
    for a in agents:
        fleet.kill_agent(a)
    return {**dict(sorted(out.items())), "stated_reasons": dict(reasons),
            "publish_seconds": round(pub_s, 3), "rollout_seconds": round(roll_s, 3)}


def agent_kills(fleet: Fleet, rng: random.Random, kills: int) -> dict[str, Any]:
    builds = [fleet.builds["v1"], fleet.builds["v2"]]
    for b in builds:
        publish(fleet.ws, b)
    a = fleet.start_agent(fleet.register("pi-k", group="kills"))
    a.http_port()
    host = MqttConnection(broker.host_address(fleet.ws)).connect()

    def desire(b: str) -> None:
        time.sleep(0.002)
        host.publish(*deployments.message(fleet.ws, "pi-k", b, None, timestamps.now()), retain=True)

    t0 = time.monotonic()
    desire(builds[0])
    fleet.wait_for(lambda: fleet.model_build(a) == builds[0], 60, "first install")
    update_s = time.monotonic() - t0
    out: Counter = Counter()
    for i in range(kills):
        old, target = builds[i % 2], builds[(i + 1) % 2]
        desire(target)
        time.sleep(rng.uniform(0, 1.3 * update_s))
        fleet.kill_agent(a)
        fleet.start_agent(a)
        first = fleet.wait_for(lambda: fleet.model_build(a), 60, "a model after restart")
        out["kills"] += 1
        out["served_old_right_after_restart" if first == old else
            "served_new_right_after_restart" if first == target else "served_unknown_build"] += 1
        try:
            fleet.wait_for(lambda: fleet.model_build(a) == target, 60, "update finished after restart")
            out["update_completed_after_restart"] += 1
        except AssertionError:
            out["update_lost"] += 1
    fleet.kill_agent(a)
    host.close()
    return {**dict(sorted(out.items())), "update_seconds": round(update_s, 3)}


def takeovers(fleet: Fleet, attempts: int) -> dict[str, Any]:
    from tinyops import agent_config

    fleet.register("pi-t1")
    fleet.register("pi-t3")
    dev = {d: agent_config.load(fleet.agents[d].config).mqtt for d in ("pi-t1", "pi-t3")}
    statuses: list[bytes] = []
    host = MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: statuses.append(p)).connect()
    host.subscribe(topics.status("pi-t3"))
    victim = MqttConnection(dev["pi-t3"], client_id="pi-t3", will=(topics.status("pi-t3"), b"offline", True)).connect()
    victim.publish(topics.status("pi-t3"), b"online", retain=True)
    out: Counter = Counter()
    for i in range(attempts):
        cid = ["pi-t3", "tinyops-agent-pi-t3"][i % 2]
        try:
            MqttConnection(dev["pi-t1"], client_id=cid).connect(timeout=5).close()
            out["attacker_connected_as_itself"] += 1
        except FleetError:
            out["attacker_refused"] += 1
        time.sleep(0.02)
        out["victim_kept_session" if victim.connected and victim.disconnect_count == 0 else "victim_disconnected"] += 1
    time.sleep(0.3)
    out["forged_offline_status_seen"] = statuses.count(b"offline")
    out["victim_connects"] = victim.connect_count
    victim.close()
    host.close()
    return {"attempts": attempts, **dict(sorted(out.items()))}


def forged_desired(fleet: Fleet, messages: int, tmp: Path) -> dict[str, Any]:
    import shutil

    from tinyops.devices import rotation

    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    a = fleet.start_agent(fleet.register("pi-f"))  # pinned to today's key
    a.http_port()
    stolen = tmp / "stolen-key"  # the key about to be retired, as an attacker kept it
    shutil.copytree(fleet.ws.path("keys"), stolen)
    rotation.rotate(fleet.ws)
    for b in (v1, v2):
        publish(fleet.ws, b)
    events: list[dict] = []
    host = MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: events.append(json.loads(p))).connect()
    host.subscribe(topics.events("pi-f"))
    _, captured = deployments.message(fleet.ws, "pi-f", v2, None, timestamps.now())
    time.sleep(0.01)
    host.publish(*deployments.message(fleet.ws, "pi-f", v1, None, timestamps.now()), retain=True)
    fleet.wait_for(lambda: fleet.model_build(a) == v1, 60, "v1 installed")
    fleet.wait_for(lambda: any(e.get("event") == "switched" for e in events), 10, "switch reported")
    other = tmp / "attacker-key"
    signing.init_keys(other)

    def forged(kind: str) -> bytes:
        now = timestamps.now()
        if kind == "unsigned":
            return json.dumps({"build": v2, "rollout": None, "set_at": "2020-01-01T00:00:00.000Z"}).encode()
        if kind == "other_key":
            return signing.sign_deployment(other, deployments.body("pi-f", v2, None, now))
        if kind == "tampered":
            msg = json.loads(deployments.message(fleet.ws, "pi-f", v1, None, now)[1])
            msg["deployment"]["build"] = v2
            return json.dumps(msg).encode()
        if kind == "other_device":
            return deployments.message(fleet.ws, "pi-x", v2, None, now)[1]
        if kind == "expired":
            return signing.sign_deployment(fleet.ws.path("keys"), deployments.body("pi-f", v2, None, now, ttl_s=-1))
        if kind == "retired_key":  # signed after the rotation with the key it retired
            return signing.sign_deployment(stolen, deployments.body("pi-f", v2, None, now))
        return captured

    kinds = ["unsigned", "other_key", "tampered", "other_device", "expired", "replayed", "retired_key"]
    out: Counter = Counter()
    for i in range(messages):
        kind = kinds[i % len(kinds)]
        n = len(events)
        host.publish(topics.desired("pi-f"), forged(kind), retain=True)
        try:
            fleet.wait_for(lambda: len(events) > n, 10, kind)
            out[f"{kind}: {events[-1].get('event')} ({events[-1].get('code')})"] += 1
        except AssertionError:
            out[f"{kind}: no reaction"] += 1
    time.sleep(0.5)
    installed = {e.get("build") for e in events if e.get("event") in ("update_started", "switched")} - {v1}
    res = {"messages": messages, "outcomes": dict(sorted(out.items())),
           "refused": sum(v for k, v in out.items() if "desired_refused" in k),
           "installed_anything_else": len(installed), "still_serving_v1": fleet.model_build(a) == v1}
    fleet.kill_agent(a)
    host.close()
    return res
