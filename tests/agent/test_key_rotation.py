"""`tinyops keys rotate`: agents pinned to the old key follow the signed chain to the
new one, and from then on refuse what the retired key signs (also after a restart)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_fleet import Fleet, fleet, fleet_template, resign  # noqa: F401
from tinyops import integrity, signing
from tinyops.devices import bundle, tickets
from tinyops.agent.trust import KeyTrust, RetiredKey
from tinyops.errors import SignatureError
from tinyops.fleet import broker, deployments, topics
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.publish import load_bundle, publish
from tinyops import timestamps


def test_chain_links_verify_and_a_device_moves_forward_only(tmp_path: Path) -> None:
    kd = tmp_path / "keys"
    k0 = signing.init_keys(kd).public_key
    signing.rotate_keys(kd, "2026-12-01T00:00:00Z")
    signing.rotate_keys(kd, "2026-12-02T00:00:00Z")
    chain = signing.read_chain(kd)
    k2 = signing.public_key_hex(kd)
    assert [lnk["generation"] for lnk in chain] == [1, 2] and chain[-1]["key"] == k2
    assert signing.follow_chain(k0, chain)[-1] == k2
    assert signing.follow_chain(chain[0]["key"], chain) == [chain[0]["key"], k2]  # pinned mid-chain
    assert signing.follow_chain(k2, chain) == [k2]
    assert not (kd / signing.NEXT_NAME).exists() and kd.joinpath("signing.pub").read_text().strip() == k2

    forged = [dict(chain[0]), dict(chain[1])]
    other = tmp_path / "other"
    forged[1]["key"] = signing.init_keys(other).public_key  # an attacker's key spliced in
    with pytest.raises(SignatureError, match="not signed by the key before it"):
        signing.follow_chain(k0, forged)

    trust = KeyTrust(k0, tmp_path / "state")
    (tmp_path / "state").mkdir()
    assert trust.follow(chain) == k2 and trust.retired == [k0, chain[0]["key"]]
    msg = b"manifest"
    trust.verify(msg, signing.sign(kd, msg))
    with pytest.raises(SignatureError):
        trust.verify(msg, signing.sign(other, msg))
    again = KeyTrust(k0, tmp_path / "state")  # restart: config still pins k0
    assert again.current == k2 and again.retired == trust.retired


def _last_update(a) -> dict:
    p = a.state_dir / "last_update.json"
    return json.loads(p.read_text()) if p.exists() else {}


def test_rotation_is_followed_and_the_retired_key_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    v1, v2 = fleet.bundle("v1"), fleet.bundle("v2")
    for b in (v1, v2):
        publish(fleet.ws, b)
    a = fleet.start_agent(fleet.register("pi-1"))  # pins the key of today
    a.http_port()
    events: list[dict] = []
    host = MqttConnection(broker.host_address(fleet.ws),
                          on_message=lambda t, p, r: events.append(json.loads(p))).connect()
    host.subscribe(topics.events("pi-1"))

    def desire(build: str, key_dir: Path | None = None) -> None:
        time.sleep(0.01)
        if key_dir is None:
            host.publish(*deployments.message(fleet.ws, "pi-1", build, None, timestamps.now()), retain=True)
        else:
            body = deployments.body("pi-1", build, None, timestamps.now())
            host.publish(topics.desired("pi-1"), signing.sign_deployment(key_dir, body), retain=True)

    desire(v1.build)
    fleet.wait_for(lambda: fleet.model_build(a) == v1.build, 60, "v1 installed")

    stolen = tmp_path / "stolen-keys"  # what an attacker with the old key holds
    shutil.copytree(fleet.ws.path("keys"), stolen)
    old_pub = signing.public_key_hex(stolen)
    r = subprocess.run([str(Path(sys.executable).with_name("tinyops")), "--workspace", str(fleet.ws.root),
                        "keys", "rotate", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["previous"] == old_pub and info["public_key"] != old_pub and v2.build in info["resigned_builds"]
    assert not (fleet.ws.path("keys") / signing.PRIVATE_NAME).read_bytes() == (stolen / signing.PRIVATE_NAME).read_bytes()

    mcu = load_bundle(fleet.ws, fleet.builds["mcu"])  # an MCU build: its image ticket is re-signed too
    assert tickets.parse(mcu.files[tickets.FILE])["key"] == info["public_key"]
    assert bundle.verify(fleet.ws, mcu.build).ok and integrity.fsck(fleet.ws).problems == []
    _, payload = deployments.message(fleet.ws, "mcu-1", mcu.build, None, timestamps.now(), rollback=True)
    t = tickets.parse(bytes.fromhex(json.loads(payload)["deployment"]["image_ticket"]))  # what the MCU needs
    assert t["rollback"] and t["key"] == info["public_key"] and t["key_generation"] == 1

    publish(fleet.ws, v2.build)  # the broker's copy has the old signature: republished with the chain
    desire(v2.build)
    fleet.wait_for(lambda: fleet.model_build(a) == v2.build, 60, "v2 (re-signed by the new key) installed")
    trusted = json.loads((a.state_dir / "trusted_key.json").read_text())
    assert trusted == {"current": info["public_key"], "retired": [old_pub]}

    # Signed by the retired key after the rotation: a desired message, and a build.
    n = len(events)
    desire(v1.build, key_dir=stolen)
    fleet.wait_for(lambda: any(e.get("event") == "desired_refused" for e in events[n:]), 20, "old-key desired refused")
    assert [e["code"] for e in events[n:] if e.get("event") == "desired_refused"] == ["retired_key"]
    evil = resign(fleet.ws, v1, {**v1.manifest, "security_version": 99}, key_dir=stolen)
    publish(fleet.ws, evil)
    desire(evil.build)  # a genuine desired (new key) naming a build the old key signed
    lu = fleet.wait_for(lambda: _last_update(a).get("build") == evil.build and _last_update(a), 60, "old-key build refused")
    assert lu["result"] == "rejected" and lu["code"] == "retired_key", lu
    assert fleet.model_build(a) == v2.build

    # A restart keeps both the new trust and the model installed under it.
    fleet.kill_agent(a)
    fleet.start_agent(a)
    a.http_port()
    assert fleet.model_build(a) == v2.build
    n = len(events)
    desire(v1.build, key_dir=stolen)
    fleet.wait_for(lambda: any(e.get("event") == "desired_refused" for e in events[n:]), 20, "refused after restart")
    assert {e["code"] for e in events[n:] if e.get("event") == "desired_refused"} == {"retired_key"}
    assert load_bundle(fleet.ws, v1.build).chain[-1]["key"] == info["public_key"]
    host.close()
