"""The embedded Python MQTT broker (the fallback when Mosquitto is missing), checked
with real paho-mqtt clients (through tinyops' wrapper where it fits, raw paho where
a test needs QoS, flags or a misbehaving client), the real collector, and one real
rollout to agent processes. Every broker is started by `broker.start(embedded=True)`
and stopped by PID in teardown."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from fixtures_fleet import Fleet, embedded_fleet, fleet_template, free_port, mosquitto_dir  # noqa: F401
from tinyops import agent_config
from tinyops.cli.main import cli
from tinyops.errors import FleetError
from tinyops.fleet import broker, broker_auth, enroll, topics
from tinyops.fleet.mqtt import BrokerAddress, MqttConnection
from tinyops.workspace import Workspace


@dataclasses.dataclass
class Env:
    ws: Workspace
    dir: Path
    port: int
    local_port: int
    devices: dict[str, BrokerAddress]

    @property
    def host(self) -> BrokerAddress:
        return broker.host_address(self.ws)

    @property
    def host_plain(self) -> BrokerAddress:
        return dataclasses.replace(self.host, port=self.local_port, tls=False, ca_pem=None)


def _new_env(tmp: Path) -> tuple[Workspace, Path]:
    ws, _ = Workspace.init(tmp / "ws")
    d = mosquitto_dir("tinyops-embedded-")
    broker.setup(ws, d, port=free_port(), local_port=free_port())
    return ws, d


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    ws, d = _new_env(tmp_path_factory.mktemp("embedded"))
    try:
        st = broker.start(ws, embedded=True)
        assert st.kind == "embedded" and st.running
        # Registered after the start: the broker must reload passwd/acl on SIGHUP.
        devs = {}
        for dev in ("pi-1", "pi-2"):
            r = enroll.register_device(ws, dev, "raspberry-pi-4", ["lab"], http_port=0)
            assert r.broker_reloaded
            devs[dev] = agent_config.load(Path(r.agent_config)).mqtt
        s = broker.load(ws)
        yield Env(ws, d, s.port, s.local_port or 0, devs)
    finally:
        broker.stop(ws)
        ws.close()
        shutil.rmtree(d, ignore_errors=True)


def _collect(conn_addr: BrokerAddress, *filters: str, **kw: Any) -> tuple[MqttConnection, list[tuple[str, bytes, bool]]]:
    got: list[tuple[str, bytes, bool]] = []
    c = MqttConnection(conn_addr, on_message=lambda t, p, r: got.append((t, p, r)), **kw).connect()
    for f in filters:
        c.subscribe(f)
    return c, got


def _raw(env: Env, client_id: str, *, will: tuple[str, bytes] | None = None, keepalive: int = 30,
         version: int = mqtt.MQTTv5) -> tuple[mqtt.Client, list[mqtt.MQTTMessage], list[Any]]:
    """A bare paho client on the plain listener (host credentials)."""
    msgs: list[mqtt.MQTTMessage] = []
    events: list[Any] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
    c.username_pw_set(env.host.username, env.host.password)
    if will:
        c.will_set(will[0], will[1], qos=1, retain=False)
    c.on_message = lambda _c, _u, m: msgs.append(m)
    c.on_connect = lambda _c, _u, _f, rc, _p=None: events.append(("connect", rc))
    c.on_disconnect = lambda _c, _u, _f, rc, _p=None: events.append(("disconnect", rc))
    c.connect("127.0.0.1", env.local_port, keepalive=keepalive)
    c.loop_start()
    _wait(lambda: any(e[0] == "connect" for e in events), 5, "CONNACK")
    return c, msgs, events


def _wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _close_raw(c: mqtt.Client) -> None:
    c.loop_stop()
    try:
        c.disconnect()
    except Exception:  # noqa: BLE001 — already dropped by the broker
        pass


# ---- unit: ACL and hashes read the way Mosquitto reads them ------------------------
def test_acl_matching_and_password_formats() -> None:
    acl = broker_auth.Acl.parse("topic read anon/#\nuser a\ntopic read t/+/x\ntopic w/1\ntopic deny w/1/secret\n"
                                "pattern write dev/%u/out\n")
    assert acl.allows("a", "c", "t/9/x", broker_auth.READ) and not acl.allows("a", "c", "t/9/x", broker_auth.WRITE)
    assert acl.allows("a", "c", "w/1", broker_auth.WRITE)  # no access word: readwrite
    assert acl.allows("b", "c", "dev/b/out", broker_auth.WRITE) and not acl.allows("b", "c", "dev/a/out", broker_auth.WRITE)
    assert not acl.allows("a", "c", "anon/x", broker_auth.READ)  # lines before any user: anonymous only
    assert acl.allows_subscribe("a", "c", "t/+/x") and acl.allows_subscribe("a", "c", "t/#")
    assert not acl.allows_subscribe("a", "c", "t/1/y") and not acl.allows_subscribe("a", "c", "u/#")
    assert broker_auth.filters_overlap("tinyops/builds/B/chunk/+", "tinyops/builds/#")
    assert broker_auth.filters_overlap("a/#", "a") and not broker_auth.filters_overlap("a/+", "a")
    assert broker_auth.matches("a/#", "a") and not broker_auth.matches("#", "$SYS/x")
    h = broker.mosquitto_hash("pw")
    assert broker_auth.check_password("pw", h) and not broker_auth.check_password("px", h)


# ---- against the running embedded broker -------------------------------------------
def test_logins_tls_and_protocol_versions(env: Env) -> None:
    dev = env.devices["pi-1"]
    MqttConnection(dev).connect().close()  # right password, over TLS with our CA
    with pytest.raises(FleetError, match="refused"):
        MqttConnection(dataclasses.replace(dev, password="wrong")).connect(timeout=5)
    with pytest.raises(FleetError, match="refused"):
        MqttConnection(dataclasses.replace(dev, username="nobody")).connect(timeout=5)
    with pytest.raises(FleetError):  # plain MQTT on the TLS port
        MqttConnection(dataclasses.replace(dev, tls=False)).connect(timeout=5)
    other = Path(mosquitto_dir("tinyops-otherca-"))
    try:
        from tinyops.fleet import certs
        certs.make_ca(other)
        with pytest.raises(FleetError):  # TLS, but a server certificate from a CA we do not trust
            MqttConnection(dataclasses.replace(dev, ca_pem=(other / "ca.crt").read_text())).connect(timeout=5)
    finally:
        shutil.rmtree(other, ignore_errors=True)
    # MQTT 3.1.1 clients are served too (plain listener, host login).
    c, msgs, events = _raw(env, "v311", version=mqtt.MQTTv311)
    try:
        c.subscribe("tinyops/v311/#", qos=1)
        time.sleep(0.2)
        c.publish("tinyops/v311/x", b"hello", qos=1).wait_for_publish(5)
        _wait(lambda: msgs, 5, "a message on the 3.1.1 client")
        assert msgs[0].payload == b"hello" and msgs[0].qos == 1
    finally:
        _close_raw(c)


def test_retained_wildcards_and_qos(env: Env) -> None:
    host = MqttConnection(env.host).connect()
    try:
        for topic, body in [("tinyops/builds/b1/manifest", b"m1"), ("tinyops/builds/b1/chunk/0", b"c0"),
                            ("tinyops/builds/b1/chunk/1", b"c1"), ("tinyops/builds/b2/manifest", b"m2")]:
            host.publish(topic, body, retain=True)  # QoS 1: returns only after the PUBACK
        host.publish("tinyops/builds/b2/manifest", b"", retain=True)  # an empty retained message deletes
        c1, manifests = _collect(env.host, "tinyops/builds/+/manifest")
        c2, chunks = _collect(env.host, "tinyops/builds/b1/chunk/+")
        c3, everything = _collect(env.host, "tinyops/builds/#")
        time.sleep(0.3)
        assert manifests == [("tinyops/builds/b1/manifest", b"m1", True)]
        assert sorted(chunks) == [("tinyops/builds/b1/chunk/0", b"c0", True), ("tinyops/builds/b1/chunk/1", b"c1", True)]
        assert len(everything) == 3
        # live messages: delivered once per client, in order, not flagged retained
        for i in range(20):
            host.publish(f"tinyops/builds/b3/chunk/{i}", str(i).encode())
        _wait(lambda: len(everything) == 23, 5, "live chunks")
        assert [p for t, p, r in everything[3:]] == [str(i).encode() for i in range(20)]
        assert not any(r for _, _, r in everything[3:]) and len(chunks) == 2
        for c in (c1, c2, c3):
            c.close()
        # granted QoS is the subscription's: QoS 1 stays 1, a QoS 0 subscription gets QoS 0
        raw, msgs, _ = _raw(env, "qos-check")
        try:
            raw.subscribe([("tinyops/q/one", 1), ("tinyops/q/zero", 0)])
            time.sleep(0.2)
            host.publish("tinyops/q/one", b"1", qos=1)
            host.publish("tinyops/q/zero", b"0", qos=1)
            _wait(lambda: len(msgs) == 2, 5, "QoS messages")
            assert {m.topic: m.qos for m in msgs} == {"tinyops/q/one": 1, "tinyops/q/zero": 0}
        finally:
            _close_raw(raw)
    finally:
        host.close()


def test_last_will_only_on_abnormal_disconnect(env: Env) -> None:
    watcher, got = _collect(env.host, "tinyops/will/#")
    try:
        # A clean DISCONNECT: no will.
        c, _, _ = _raw(env, "will-clean", will=("tinyops/will/clean", b"gone"))
        c.disconnect()
        c.loop_stop()
        # DISCONNECT with reason 0x04 asks for the will.
        c, _, _ = _raw(env, "will-asked", will=("tinyops/will/asked", b"gone"))
        c.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        c.loop_stop()
        # A client that goes silent: the keep-alive (1 s, so 1.5 s) expires and the will goes out.
        silent, _, _ = _raw(env, "will-silent", will=("tinyops/will/silent", b"offline"), keepalive=1)
        silent.loop_stop()  # the socket stays open but nothing is sent any more
        t0 = time.monotonic()
        _wait(lambda: ("tinyops/will/silent", b"offline", False) in got, 6, "the silent client's will")
        assert time.monotonic() - t0 < 4
        assert ("tinyops/will/asked", b"gone", False) in got
        assert not [m for m in got if m[0] == "tinyops/will/clean"]
        sock = silent.socket()
        if sock:
            sock.close()
    finally:
        watcher.close()


def test_acl_denies_cross_device_publish_and_read(env: Env) -> None:
    host, host_msgs = _collect(env.host, "tinyops/devices/#")
    host.publish(topics.desired("pi-2"), b'{"build": "secret"}', retain=True)
    host.publish(topics.desired("pi-1"), b'{"build": "mine"}', retain=True)
    p1, got = _collect(env.devices["pi-1"])
    try:
        p1.publish(topics.reported("pi-1"), b"own")
        p1.publish(topics.reported("pi-2"), b"forged")      # another device's topic: PUBACK 0x87, dropped
        p1.publish(topics.desired("pi-1"), b"self-desire")  # its own desired is read-only
        for flt in (topics.desired("pi-2"), topics.reported("pi-2"), "other/#"):  # nothing readable in it
            with pytest.raises(FleetError, match="refused"):
                p1.subscribe(flt)
        # Wildcards that include readable topics are granted (as Mosquitto does);
        # each message is checked on delivery, so pi-2's desired never arrives.
        for flt in ("tinyops/devices/+/desired", "tinyops/devices/#", topics.desired("pi-1")):
            assert p1.subscribe(flt) == 1
        assert p1.subscribe(topics.build_chunks_filter("b1")) == 1  # builds are readable
        _wait(lambda: (topics.reported("pi-1"), b"own") in [(t, p) for t, p, _ in host_msgs], 5, "own report")
        time.sleep(0.3)
        assert not [m for m in host_msgs if m[1] in (b"forged", b"self-desire")]
        assert [t for t, _, _ in got if t.startswith("tinyops/devices/")] == [topics.desired("pi-1")] * 3
    finally:
        host.close()
        p1.close()


def test_shared_subscription_splits_messages_between_two_collectors(env: Env) -> None:
    from tinyops.monitor.collector import Collector

    cols = [Collector(env.ws, env.host, require_known_build=False) for _ in range(2)]
    threads = []
    for c in cols:
        c.connect()
        threads.append(threading.Thread(target=c.run, daemon=True))
        threads[-1].start()
    dev = MqttConnection(env.devices["pi-1"]).connect()
    try:
        for i in range(40):
            dev.publish(topics.telemetry("pi-1"), json.dumps({"i": i}).encode())
        _wait(lambda: sum(c.stats.received for c in cols) >= 40, 10, "40 telemetry messages")
        time.sleep(0.3)
        counts = [c.stats.received for c in cols]
        assert sum(counts) == 40, counts            # each message went to exactly one collector
        assert min(counts) >= 15, counts            # round-robin within the group
    finally:
        dev.close()
        for c in cols:
            c.stop()
        for t in threads:
            t.join(10)


def test_oversized_packet_is_refused_and_the_broker_carries_on(env: Env) -> None:
    c, _, events = _raw(env, "too-big")
    try:
        c.publish("tinyops/big", b"x" * (9 * 1024 * 1024), qos=0)
        rc = _wait(lambda: next((e[1] for e in events if e[0] == "disconnect"), None), 10, "a DISCONNECT")
        assert rc.value == 0x95, rc  # Packet too large
    finally:
        _close_raw(c)
    MqttConnection(env.host).connect().close()


def test_cli_start_status_stop_and_retained_survive_a_restart(tmp_path: Path) -> None:
    ws, d = _new_env(tmp_path)
    run = lambda *a: CliRunner().invoke(cli, ["--workspace", str(ws.root), "broker", *a])  # noqa: E731
    try:
        r = run("start", "--embedded")
        assert r.exit_code == 0, r.output
        assert "Embedded Python broker running" in r.output and "does not guarantee" in r.output
        st = json.loads(run("status", "--json").output)
        assert st["kind"] == "embedded" and st["running"] and any("QoS 2" in x for x in st["limitations"])
        with MqttConnection(broker.host_address(ws)).connect() as c:
            c.publish("tinyops/builds/k/manifest", b"kept", retain=True)
            c.publish(topics.desired("x"), b"d", retain=True)
        assert run("stop").exit_code == 0
        assert "stopped" in run("status").output
        assert not (d / "embedded-broker.pid").exists()
        broker.start(ws, embedded=True)
        c, got = _collect(broker.host_address(ws), "tinyops/#")
        time.sleep(0.3)
        c.close()
        assert sorted(got) == [("tinyops/builds/k/manifest", b"kept", True), (topics.desired("x"), b"d", True)]
    finally:
        broker.stop(ws)
        ws.close()
        shutil.rmtree(d, ignore_errors=True)


# ---- one real fleet flow ------------------------------------------------------------
def test_rollout_to_three_agents_on_the_embedded_broker(embedded_fleet: Fleet) -> None:
    from tinyops.fleet import api
    from tinyops.fleet.rollout import Strategy

    fleet = embedded_fleet
    assert broker.status(fleet.ws).kind == "embedded"
    agents = [fleet.register(f"pi-{i}") for i in range(3)]
    fleet.start_agents(agents)
    v1 = fleet.builds["v1"]
    r = api.rollout_build(fleet.ws, v1, "lab", Strategy(canary_pct=34, batch_pct=50, health_timeout_s=30))
    assert r.state == "completed", r.message
    for a in agents:
        assert fleet.model_build(a) == v1
    st = api.status(fleet.ws, "lab")
    assert {d["device"]: (d["build"], d["status"]) for d in st["devices"]} == {f"pi-{i}": (v1, "online") for i in range(3)}
