"""Broker: config, certificates, password file, ACL, process; checked against a real Mosquitto."""

from __future__ import annotations

import dataclasses
import subprocess
import time

import pytest

from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops.errors import FleetError
from tinyops.fleet import broker, topics
from tinyops.fleet.mqtt import MqttConnection


def test_hash_matches_mosquitto_passwd_format(tmp_path) -> None:
    h = broker.mosquitto_hash("s3cret")
    assert h.startswith("$7$101$") and broker.check_mosquitto_hash("s3cret", h)
    assert not broker.check_mosquitto_hash("other", h)
    # and mosquitto_passwd's own hashes verify with our checker
    pw = tmp_path / "pw"
    pw.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "alice", "s3cret"], check=True)
    assert broker.check_mosquitto_hash("s3cret", pw.read_text().strip().split(":", 1)[1])


def test_setup_writes_tls_config_passwords_and_acl(fleet: Fleet) -> None:
    fleet.register("pi-1")
    d = fleet.broker_dir
    conf = (d / "mosquitto.conf").read_text()
    assert f"listener {fleet.port}" in conf and "certfile" in conf and "allow_anonymous false" in conf
    acl = (d / "acl").read_text()
    assert "user pi-1\n" in acl and "topic read tinyops/devices/pi-1/desired" in acl
    assert "topic write tinyops/devices/pi-1/reported" in acl
    assert "pi-1:$7$" in (d / "passwd").read_text()
    st = broker.status(fleet.ws)
    assert st.running and st.pid and st.devices == 1


def _dev(fleet: Fleet, device: str):
    from tinyops import agent_config as config
    cfg = config.load(fleet.agents[device].config)
    return cfg.mqtt


def test_acl_denies_cross_device_publish_and_read(fleet: Fleet) -> None:
    fleet.register("pi-1")
    fleet.register("pi-2")
    host_msgs: list[tuple[str, bytes]] = []
    host = MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: host_msgs.append((t, p))).connect()
    host.subscribe("tinyops/devices/#")
    host.publish(topics.desired("pi-2"), b'{"build": "secret"}', retain=True)
    host.publish(topics.desired("pi-1"), b'{"build": "mine"}', retain=True)

    got: list[tuple[str, bytes]] = []
    p1 = MqttConnection(_dev(fleet, "pi-1"), on_message=lambda t, p, r: got.append((t, p))).connect()
    p1.publish(topics.reported("pi-1"), b"own")
    p1.publish(topics.reported("pi-2"), b"forged")        # another device's topic
    p1.publish(topics.desired("pi-1"), b"self-desire")    # its own desired is read-only
    for flt in (topics.desired("pi-2"), "tinyops/devices/+/desired", "tinyops/devices/#"):
        try:
            p1.subscribe(flt)
        except FleetError:
            pass  # refusing the subscription outright is fine too
    time.sleep(1.0)
    host.close(); p1.close()
    assert (topics.reported("pi-1"), b"own") in host_msgs
    assert not [m for m in host_msgs if m[1] in (b"forged", b"self-desire")]
    seen = {t for t, _ in got}
    assert topics.desired("pi-1") in seen          # its own desired: allowed
    assert topics.desired("pi-2") not in seen      # another's desired: never delivered


def test_wrong_password_and_plain_tcp_are_refused(fleet: Fleet) -> None:
    fleet.register("pi-1")
    addr = _dev(fleet, "pi-1")
    MqttConnection(addr).connect().close()  # the right credentials work
    with pytest.raises(FleetError, match="refused"):
        MqttConnection(dataclasses.replace(addr, password="wrong")).connect()
    with pytest.raises(FleetError):
        MqttConnection(dataclasses.replace(addr, tls=False)).connect(timeout=5)
    with pytest.raises(FleetError):  # TLS but a CA we did not make
        from tinyops.fleet import certs
        import tempfile, pathlib
        other = pathlib.Path(tempfile.mkdtemp())
        certs.make_ca(other)
        MqttConnection(dataclasses.replace(addr, ca_pem=(other / "ca.crt").read_text())).connect(timeout=5)


def test_stop_then_start_keeps_retained_messages(fleet: Fleet) -> None:
    with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
        c.publish("tinyops/builds/abc/manifest", b"kept", retain=True)
    broker.stop(fleet.ws)
    assert not broker.status(fleet.ws).running
    broker.start(fleet.ws)
    got = []
    with MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: got.append(p)).connect() as c:
        c.subscribe("tinyops/builds/abc/manifest")
        time.sleep(0.5)
    assert got == [b"kept"]
