"""The agent: A/B slots, verification, self-test, HTTP endpoint, and updates
from a real Mosquitto in a real `tinyops-agent` process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from fixtures_fleet import Fleet, broken_golden, fleet, fleet_template, resign  # noqa: F401
from tinyops.agent.fetch import Download, Rejected
from tinyops.agent.model import LoadedModel, self_test
from tinyops.agent.slots import SlotStore
from tinyops.errors import ModelError
from tinyops.fleet import topics, transfer
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet import broker, watch
from tinyops.registry import devices
from tinyops.signing import public_key_hex
from tinyops import timestamps


def _golden(bundle: transfer.Bundle) -> tuple[np.ndarray, np.ndarray]:
    with np.load(io.BytesIO(bundle.files["golden.npz"])) as z:
        return z["inputs"], z["outputs"]


def test_agent_imports_no_tensorflow() -> None:
    code = "import sys, tinyops.agent.main, tinyops.agent.core, tinyops.agent.server; " \
           "print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_self_test_passes_on_real_golden_and_fails_on_wrong(fleet: Fleet) -> None:
    good = fleet.bundle("v1")
    model = LoadedModel(good.files["model.tflite"], good.manifest)
    assert self_test(model, good.files["golden.npz"])["vectors"] == 8
    bad = broken_golden(fleet.ws, good)
    with pytest.raises(ModelError, match="self-test failed"):
        self_test(model, bad.files["golden.npz"])


def test_slots_write_inactive_and_switch_atomically(fleet: Fleet, tmp_path) -> None:
    pub = public_key_hex(fleet.ws.path("keys"))
    store = SlotStore(tmp_path / "state", pub)
    v1, v2 = fleet.bundle("v1"), fleet.bundle("v2")
    store.write("a", v1.manifest_bytes, v1.signature, v1.files)
    store.activate("a", v1.build)
    assert store.inactive_slot() == "b"
    store.write("b", v2.manifest_bytes, v2.signature, v2.files)
    assert store.read("b").build == v2.build and store.active_slot() == "a"  # not switched until activate
    with pytest.raises(AssertionError):
        store.write("a", v2.manifest_bytes, v2.signature, v2.files)  # never the active slot
    (store.slot_dir("b") / "model.tflite").write_bytes(b"garbage")
    with pytest.raises(Exception, match="sha256"):
        store.read("b")


def test_download_rejects_bad_builds_before_and_after_chunks(fleet: Fleet, tmp_path) -> None:
    pub = public_key_hex(fleet.ws.path("keys"))
    v1 = fleet.bundle("v1")
    env, chunks = transfer.pack(v1, chunk_size=1024)
    d = Download(tmp_path, v1.build, "raspberry-pi-4", pub)
    d.on_envelope(env)
    for i, c in enumerate(chunks[:-1]):
        d.on_chunk(i, c)
    assert not d.complete
    # resume: a new Download (agent restart) finds the chunks already on disk
    d2 = Download(tmp_path, v1.build, "raspberry-pi-4", pub)
    d2.on_envelope(env)
    assert len(d2.have) == len(chunks) - 1
    d2.on_chunk(len(chunks) - 1, chunks[-1])
    assert d2.complete and d2.assemble()[2] == {n: v1.files[n] for n in transfer.file_order(v1.manifest)}

    tampered = bytearray(chunks[0]); tampered[10] ^= 0xFF
    d3 = Download(tmp_path / "t", v1.build, "raspberry-pi-4", pub)
    d3.on_envelope(env)
    with pytest.raises(Rejected) as e:
        d3.on_chunk(0, bytes(tampered))
    assert e.value.code == "bad_chunk"
    with pytest.raises(Rejected) as e:
        Download(tmp_path / "p", v1.build, "raspberry-pi-5", pub).on_envelope(env)
    assert e.value.code == "wrong_profile"
    other_key = tmp_path / "otherkey"
    from tinyops import signing
    other_pub = signing.init_keys(other_key).public_key
    with pytest.raises(Rejected) as e:
        Download(tmp_path / "s", v1.build, "raspberry-pi-4", other_pub).on_envelope(env)
    assert e.value.code == "bad_signature"


def _desire(fleet: Fleet, device: str, build: str, _label: str = "", **kw) -> None:
    """A signed desired message, as a rollout sends it (each call a newer sequence number)."""
    from tinyops.fleet import deployments

    time.sleep(0.002)
    with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
        c.publish(*deployments.message(fleet.ws, device, build, None, timestamps.now(), **kw), retain=True)


def _publish_raw(fleet: Fleet, build: str, envelope: bytes, chunks: list[bytes]) -> None:
    with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
        for i, ch in enumerate(chunks):
            c.publish(topics.build_chunk(build, i), ch, retain=True)
        c.publish(topics.build_manifest(build), envelope, retain=True)


def test_agent_installs_serves_and_rejects_bad_builds(fleet: Fleet) -> None:
    from tinyops.fleet.publish import publish

    a = fleet.register("pi-1")
    cfg = a.config.read_text()
    a.config.write_text(cfg.replace("telemetry_reservoir = 0", "telemetry_reservoir = 4")
                        if "telemetry_reservoir" in cfg else cfg.replace("[agent]", "[agent]\ntelemetry_reservoir = 4"))
    fleet.start_agents([a])
    code, body = a.get("/v1/health")
    assert code == 503 and body["status"] == "no_model"

    v1 = fleet.bundle("v1")
    publish(fleet.ws, v1)
    _desire(fleet, "pi-1", v1.build, "t1")
    fleet.wait_for(lambda: fleet.model_build(a) == v1.build, 30, "v1 installed")
    assert a.get("/v1/health")[0] == 200

    # The endpoint gives LiteRT's outputs: raw int8 bytes and JSON float input alike.
    xs, ys = _golden(v1)
    code, out = a.post("/v1/predict", xs[0].tobytes(), "application/octet-stream")
    assert code == 200 and np.abs(np.array(out["output_raw"]) - ys[0].reshape(-1)).max() <= 1
    x_float = (xs[1].astype(np.float64) - v1.manifest["inputs"][0]["zero_point"]) * v1.manifest["inputs"][0]["scale"]
    code, out = a.post("/v1/predict", json.dumps({"input": x_float.tolist()}).encode())
    assert code == 200 and np.abs(np.array(out["output_raw"]) - ys[1].reshape(-1)).max() <= 1
    assert a.post("/v1/predict", b'{"input": [1, 2]}')[0] == 400

    # Those inferences leave as a telemetry window (the collector's format) within the period (1 s here).
    from tinyops.monitor.window import validate
    windows: list[dict] = []
    with MqttConnection(broker.host_address(fleet.ws),
                        on_message=lambda t, p, r: windows.append(validate(p, "pi-1"))).connect() as host:
        host.subscribe(topics.telemetry("pi-1"))
        fleet.wait_for(lambda: windows, 10, "a telemetry window")
    assert windows[0]["build"] == v1.build and windows[0]["count"] == 2 and windows[0]["errors"] == 1
    assert len(windows[0]["sample"]) == 2  # the configured reservoir carries the raw inputs for retraining

    # Four kinds of bad build: all refused, the device stays on v1 and says why.
    env, chunks = transfer.pack(v1, chunk_size=1024)
    bad_chunk = bytearray(chunks[1]); bad_chunk[5] ^= 1
    cases = {}
    # 1) a tampered chunk (chunk table left as published)
    t = resign(fleet.ws, v1, {**v1.manifest, "created": "tampered-chunk"})
    e1, c1 = transfer.pack(t, chunk_size=1024)
    c1[1] = bytes(bad_chunk) if len(bad_chunk) == len(c1[1]) else c1[1][:-1] + b"\x00"
    cases[t.build] = (e1, c1, "bad_chunk")
    # 2) wrong sha256: the chunk table is recomputed over altered bytes, the signed manifest is not
    w = resign(fleet.ws, v1, {**v1.manifest, "created": "wrong-sha"})
    altered = dict(w.files); altered["model.tflite"] = altered["model.tflite"][:-4] + b"\x00\x00\x00\x00"
    e2, c2 = transfer.pack(transfer.Bundle(w.build, w.manifest_bytes, w.signature, altered), chunk_size=1024)
    cases[w.build] = (e2, c2, "bad_sha256")
    # 3) bad signature: signed by a key the device does not pin
    from tinyops import signing
    signing.init_keys(fleet.ws.path("otherkeys"))
    s = resign(fleet.ws, v1, {**v1.manifest, "created": "bad-sig"}, key_dir=fleet.ws.path("otherkeys"))
    cases[s.build] = (*transfer.pack(s, chunk_size=1024), "bad_signature")
    # 4) a build for another profile (properly signed)
    p5 = fleet.bundle("pi5")
    cases[p5.build] = (*transfer.pack(p5, chunk_size=1024), "wrong_profile")

    for i, (build, (envelope, chs, code_expected)) in enumerate(cases.items()):
        _publish_raw(fleet, build, envelope, chs)
        _desire(fleet, "pi-1", build, f"bad{i}")

        def refused() -> dict | None:
            # what the device *reported* over MQTT (retained), as the host sees it
            watch.sync(fleet.ws, timeout=2)
            lu = (devices.get(fleet.ws, "pi-1").reported or {}).get("last_update") or {}
            return lu if lu.get("build") == build else None
        lu = fleet.wait_for(refused, 30, f"refusal of {code_expected}")
        assert lu["result"] == "rejected" and lu["code"] == code_expected, lu
        assert fleet.model_build(a) == v1.build and devices.get(fleet.ws, "pi-1").reported_build == v1.build


def test_agent_started_before_the_broker_connects_when_it_comes(fleet: Fleet) -> None:
    from tinyops.fleet.publish import publish

    a = fleet.register("pi-late")
    broker.stop(fleet.ws)
    fleet.start_agents([a])  # serves HTTP (no model yet) while the broker is away
    time.sleep(1.5)
    assert a.proc.poll() is None
    broker.start(fleet.ws)
    v1 = fleet.bundle("v1")
    publish(fleet.ws, v1)
    _desire(fleet, "pi-late", v1.build, "late")
    fleet.wait_for(lambda: fleet.model_build(a) == v1.build, 60, "install after a late broker")
