"""Replayed and forged desired messages never install anything; anti-rollback."""

from __future__ import annotations

import json
import time
from collections import Counter

from fixtures_fleet import Fleet, fleet, fleet_template, resign  # noqa: F401
from tinyops import signing
from tinyops.fleet import broker, deployments, topics
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.publish import publish
from tinyops import timestamps


def test_50_replayed_or_forged_desired_messages_are_refused_with_a_reason(fleet: Fleet, tmp_path) -> None:
    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    for b in (v1, v2):
        publish(fleet.ws, b)
    a = fleet.start_agent(fleet.register("pi-1"))
    fleet.register("pi-2")
    events: list[dict] = []
    host = MqttConnection(broker.host_address(fleet.ws),
                          on_message=lambda t, p, r: events.append(json.loads(p))).connect()
    host.subscribe(topics.events("pi-1"))
    a.http_port()
    old_set_at = timestamps.now()
    _, captured = deployments.message(fleet.ws, "pi-1", v2, None, old_set_at)  # an old, genuine message
    time.sleep(0.01)
    host.publish(*deployments.message(fleet.ws, "pi-1", v1, None, timestamps.now()), retain=True)
    fleet.wait_for(lambda: fleet.model_build(a) == v1, 60, "v1 installed")
    fleet.wait_for(lambda: any(e.get("event") == "switched" for e in events), 10, "the switch reported")

    other_key = tmp_path / "other"
    signing.init_keys(other_key)

    def forged(kind: str) -> bytes:
        now = timestamps.now()
        if kind == "unsigned":  # the replay: unsigned, dated 2020
            return json.dumps({"build": v2, "rollout": None, "set_at": "2020-01-01T00:00:00.000Z"}).encode()
        if kind == "other_key":
            return signing.sign_deployment(other_key, deployments.body("pi-1", v2, None, now))
        if kind == "tampered":
            msg = json.loads(deployments.message(fleet.ws, "pi-1", v1, None, now)[1])
            msg["deployment"]["build"] = v2
            return json.dumps(msg).encode()
        if kind == "other_device":
            return deployments.message(fleet.ws, "pi-2", v2, None, now)[1]
        if kind == "expired":
            return signing.sign_deployment(fleet.ws.path("keys"), deployments.body("pi-1", v2, None, now, ttl_s=-1))
        return captured  # replayed: a genuine but older message

    want = {"unsigned": "unsigned", "other_key": "bad_signature", "tampered": "bad_signature",
            "other_device": "other_device", "expired": "expired", "replayed": "replayed"}
    kinds = list(want)
    outcomes: Counter = Counter()
    for i in range(50):
        kind = kinds[i % len(kinds)]
        n = len(events)
        host.publish(topics.desired("pi-1"), forged(kind), retain=True)
        fleet.wait_for(lambda: len(events) > n, 10, f"a reaction to {kind}")
        ev = events[-1]
        outcomes[f"{kind}->{ev.get('event')}:{ev.get('code')}"] += 1
        assert ev["event"] == "desired_refused" and ev["code"] == want[kind], (kind, ev)
    time.sleep(0.5)
    print("forged/replayed desired:", dict(outcomes))
    assert fleet.model_build(a) == v1 and sum(outcomes.values()) == 50
    assert {e.get("build") for e in events if e.get("event") in ("update_started", "switched")} == {v1}
    host.close()


def test_a_lower_security_version_needs_a_signed_rollback(fleet: Fleet) -> None:
    v1 = fleet.bundle("v1")
    old = resign(fleet.ws, v1, {**v1.manifest, "security_version": 0})  # same model line, older
    for b in (v1, old):
        publish(fleet.ws, b)
    a = fleet.start_agent(fleet.register("pi-1"))
    a.http_port()

    def desire(build: str, **kw) -> None:
        time.sleep(0.01)
        with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
            c.publish(*deployments.message(fleet.ws, "pi-1", build, None, timestamps.now(), **kw), retain=True)

    desire(v1.build)
    fleet.wait_for(lambda: fleet.model_build(a) == v1.build, 60, "v1 installed")
    desire(old.build)
    lu = fleet.wait_for(lambda: (json.loads((a.state_dir / "last_update.json").read_text())
                                 if (a.state_dir / "last_update.json").exists() else {}).get("build") == old.build
                        and json.loads((a.state_dir / "last_update.json").read_text()), 60, "downgrade refused")
    assert lu["code"] == "rollback_refused" and fleet.model_build(a) == v1.build
    desire(old.build, rollback=True)  # what `fleet rollback` and a failed canary send
    fleet.wait_for(lambda: fleet.model_build(a) == old.build, 60, "authorised rollback installed")
