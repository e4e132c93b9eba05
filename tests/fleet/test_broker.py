"""Broker: config, certificates, password file, ACL, process; checked against a real Mosquitto."""

from __future__ import annotations

import dataclasses
from pathlib import Path
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


def test_retained_messages_survive_a_sigkill_right_after_they_are_acknowledged(fleet: Fleet) -> None:
    conf = (fleet.broker_dir / "mosquitto.conf").read_text()
    assert "autosave_on_changes true" in conf and "autosave_interval 1\n" in conf
    kept = 0
    db = fleet.broker_dir / "data" / "mosquitto.db"

    def saved() -> tuple[int, int]:
        return (db.stat().st_mtime_ns, db.stat().st_size) if db.exists() else (0, 0)

    for i in range(5):  # time-based autosave (every 1 s) loses most of these
        with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
            before = saved()
            c.publish(f"tinyops/builds/k{i}/manifest", f"kept-{i}".encode(), retain=True)
            # the save on change runs in Mosquitto's next loop pass after the ack: give a loaded
            # machine up to 0.3 s for it (far less than the 1 s a time-based autosave would take)
            deadline = time.monotonic() + 0.3
            while saved() == before and time.monotonic() < deadline:
                time.sleep(0.01)
            broker.kill(fleet.ws)
        broker.start(fleet.ws)
        got: list[bytes] = []
        with MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: got.append(p)).connect() as c:
            c.subscribe("tinyops/builds/+/manifest")
            time.sleep(0.4)
        kept += sorted(got) == [f"kept-{j}".encode() for j in range(i + 1)]
    assert db.exists() and kept == 5


def _cli(ws_root, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    import sys
    return subprocess.run([str(Path(sys.executable).with_name("tinyops")), "--workspace", str(ws_root), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)


def test_broker_state_lives_in_the_workspace_and_stop_leaves_no_process(tmp_path) -> None:
    import os
    from fixtures_fleet import free_port

    root = tmp_path / "ws"
    assert _cli(root, "init").returncode == 0
    port, host_port = free_port(), free_port()
    r = _cli(root, "broker", "setup", "--bind", "127.0.0.1", "--port", str(port), "--host-port", str(host_port))
    assert r.returncode == 0, r.stderr
    d = root / ".tinyops" / "broker"
    conf = (d / "mosquitto.conf").read_text()
    assert f"listener {port} 127.0.0.1" in conf and f"listener {host_port} 127.0.0.1" in conf
    for p in [d, *d.iterdir()]:  # owned by whoever ran it, also as root
        assert p.stat().st_uid == os.geteuid(), p
    assert _cli(root, "broker", "start").returncode == 0
    pid = int((d / "mosquitto.pid").read_text())
    assert Path(f"/proc/{pid}").exists()
    r = _cli(root, "broker", "stop", "--json")
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    assert not (d / "mosquitto.pid").exists()
    r = _cli(root, "broker", "start", env={"TINYOPS_MOSQUITTO": str(tmp_path / "no-such-mosquitto")})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "apt-get install mosquitto" in r.stderr and "brew install mosquitto" in r.stderr and "eclipse-mosquitto" in r.stderr


def test_a_device_cannot_take_over_another_devices_session(fleet: Fleet) -> None:
    """pi-1, with its own password, connects 50 times with pi-3's client ids."""
    fleet.register("pi-1")
    fleet.register("pi-3")
    statuses: list[bytes] = []
    host = MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: statuses.append(p)).connect()
    host.subscribe(topics.status("pi-3"))
    victim = MqttConnection(_dev(fleet, "pi-3"), client_id="pi-3",
                            will=(topics.status("pi-3"), b"offline", True)).connect()
    victim.publish(topics.status("pi-3"), b"online", retain=True)
    outcomes = {"victim_kept_session": 0, "victim_disconnected": 0, "attacker_connected": 0, "attacker_refused": 0}
    for i in range(50):
        cid = ["pi-3", "tinyops-agent-pi-3"][i % 2]
        try:
            MqttConnection(_dev(fleet, "pi-1"), client_id=cid).connect(timeout=5).close()
            outcomes["attacker_connected"] += 1  # as "pi-1": the broker replaced the id with the username
        except FleetError:
            outcomes["attacker_refused"] += 1
        time.sleep(0.02)
        outcomes["victim_kept_session" if victim.connected and victim.disconnect_count == 0 else "victim_disconnected"] += 1
    time.sleep(0.3)
    victim.close(); host.close()
    print("takeover attempts:", outcomes)
    assert outcomes["victim_kept_session"] == 50 and victim.connect_count == 1
    assert b"offline" not in statuses


def test_a_10_mb_publish_is_refused_and_the_broker_carries_on(fleet: Fleet) -> None:
    import paho.mqtt.client as mqtt
    import ssl

    fleet.register("pi-1")
    assert f"max_packet_size {broker.max_packet_size()}" in (fleet.broker_dir / "mosquitto.conf").read_text()
    got: list[int] = []
    host = MqttConnection(broker.host_address(fleet.ws), on_message=lambda t, p, r: got.append(len(p))).connect()
    host.subscribe(topics.telemetry("pi-1"))
    addr = _dev(fleet, "pi-1")
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pi-1", protocol=mqtt.MQTTv311)
    raw.username_pw_set(addr.username, addr.password)
    raw.tls_set_context(ssl.create_default_context(cadata=addr.ca_pem))
    raw.connect(addr.host, addr.port)
    raw.loop_start()
    info = raw.publish(topics.telemetry("pi-1"), b"x" * (10 << 20), qos=1)
    time.sleep(3)
    raw.loop_stop(); raw.disconnect()
    assert not info.is_published() and not got
    with MqttConnection(addr) as dev:  # the broker is still up for everyone else
        dev.connect().publish(topics.telemetry("pi-1"), b"{}", qos=1)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    host.close()
    assert got == [2]
