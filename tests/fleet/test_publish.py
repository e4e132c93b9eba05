"""Publishing: a build goes on the broker once, retained, and reassembles bit for bit."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops.cli.main import cli
from tinyops.fleet import broker, topics, transfer
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.publish import publish
from tinyops.signing import public_key_hex, verify_manifest


def test_pack_unpack_roundtrip(fleet: Fleet) -> None:
    b = fleet.bundle("v1")
    env, chunks = transfer.pack(b, chunk_size=500)
    e = transfer.unpack(env)
    assert e.build == b.build and len(e.chunks) == len(chunks) > 1
    assert transfer.split(e, b"".join(chunks)) == {n: b.files[n] for n in transfer.file_order(b.manifest)}


def test_publish_once_retained_and_verifiable(fleet: Fleet) -> None:
    build = fleet.builds["v1"]
    r = CliRunner().invoke(cli, ["--workspace", str(fleet.ws.root), "fleet", "publish", build, "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["build"] == build and 1.0 <= res["bytes_published"] / res["bundle_bytes"] < 1.5
    # published once: a second call does not send anything
    again = json.loads(CliRunner().invoke(cli, ["--workspace", str(fleet.ws.root), "fleet", "publish", build, "--json"]).output)
    assert again["already_published"] and again["bytes_published"] == 0

    got: dict[str, bytes] = {}
    with MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, rt: got.__setitem__(t, p)).connect() as c:
        c.subscribe(f"tinyops/builds/{build}/#")
        time.sleep(0.8)
    env = transfer.unpack(got[topics.build_manifest(build)])
    verify_manifest(env.manifest_bytes, env.signature, public_key_hex(fleet.ws.path("keys")))
    stream = b"".join(got[topics.build_chunk(build, i)] for i in range(len(env.chunks)))
    files = transfer.split(env, stream)
    assert files == {n: fleet.bundle("v1").files[n] for n in files}


def test_publish_unknown_build_is_a_clear_error(fleet: Fleet) -> None:
    r = CliRunner().invoke(cli, ["--workspace", str(fleet.ws.root), "fleet", "publish", "deadbeefdeadbeef"])
    assert r.exit_code == 1 and "no build" in r.output


def test_publish_republishes_what_the_broker_lost(fleet: Fleet) -> None:
    """The registry says published; the broker lost it (cleared, or SIGKILLed before saving)."""
    from tinyops.fleet.publish import missing_on_broker

    b = fleet.builds["v1"]
    bundle = fleet.bundle("v1")
    first = publish(fleet.ws, b)
    addr = broker.host_address(fleet.ws)
    with MqttConnection(addr).connect() as c:  # lose the manifest and chunk 0
        c.publish(topics.build_manifest(b), b"", retain=True)
        c.publish(topics.build_chunk(b, 0), b"", retain=True)
    assert len(missing_on_broker(addr, bundle, first.chunk_size, timeout=1)) == 2
    again = publish(fleet.ws, b)
    assert again.already_published and again.republished == 2
    assert missing_on_broker(addr, bundle, first.chunk_size) == []
    kills = {"broker_killed_after_publish": 0, "lost_then_republished": 0, "held_after_republish": 0}
    for _ in range(3):  # SIGKILL right after publishing: persistence may not have saved it
        publish(fleet.ws, b, force=True)
        broker.kill(fleet.ws)
        kills["broker_killed_after_publish"] += 1
        broker.start(fleet.ws)
        r = publish(fleet.ws, b)
        kills["lost_then_republished"] += r.republished > 0
        kills["held_after_republish"] += not missing_on_broker(addr, bundle, first.chunk_size)
    print("broker kills during publish:", kills)
    assert kills["held_after_republish"] == 3
