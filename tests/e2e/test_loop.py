"""The whole mission, end to end, on emulated devices.

version data → train → int8 → builds for a Pi profile and the QEMU board →
roll out to three agents and flash the QEMU board → in-distribution inputs: no
drift → a sensor gain change on some channels of some devices → drift flagged
for those features and devices only → retrain with field data (reservoir
samples from the MCU, labelled from a file, plus a labelled recording of the
re-calibrated sensors) → gates pass → canary → promote → drift falls back.

Real Mosquitto (TLS, ACL), real agent processes, real firmware under
qemu-system-arm, real TensorFlow/LiteRT. Everything started is stopped by PID.
"""

from __future__ import annotations

import csv
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_fleet import fleet, fleet_template  # noqa: E402,F401

from tinyops.devices import sim  # noqa: E402
from tinyops.cli.common import resolve_variant  # noqa: E402
from tinyops.devices.build import build  # noqa: E402
from tinyops.devices.serial.flash import flash_build  # noqa: E402
from tinyops.fleet import broker  # noqa: E402
from tinyops.fleet.api import rollout_build  # noqa: E402
from tinyops.fleet.mqtt import MqttConnection  # noqa: E402
from tinyops.fleet.rollout import Strategy  # noqa: E402
from tinyops.monitor.bias import production_bias  # noqa: E402
from tinyops.monitor.check import check, resolve_target  # noqa: E402
from tinyops.monitor.collector import Collector  # noqa: E402
from tinyops.monitor.mcu import McuTelemetry  # noqa: E402
from tinyops.monitor.report import write_report  # noqa: E402
from tinyops.pipeline import retrain  # noqa: E402
from tinyops.pipeline.pipeline import run_pipeline  # noqa: E402
from tinyops.registry import builds as builds_reg  # noqa: E402
from tinyops.registry import datasets, models  # noqa: E402
from tinyops.registry import telemetry as tel  # noqa: E402

pytestmark = pytest.mark.slow

SHIFTED_CHANNELS = [19, 20, 27, 28, 35, 36]  # centre pixels: a sensor whose gain went up 40 %
GAIN = 1.4
PER_DEVICE = 300
TARGET = "digits@production:int8"

PIPELINE = """
[pipeline]
name = "digits-retrain"

[steps.field]
kind = "data"
ref = "{field}"

[steps.recording]
kind = "data"
ref = "{recording}"

[steps.train]
retrain = "digits@production"

[steps.convert]
quant = "int8"

[steps.evaluate]
min_accuracy = 0.8
max_int8_drop = 2.0
profiles = ["raspberry-pi-4", "qemu-mps2-an386"]

[steps.build]
profiles = ["raspberry-pi-4", "qemu-mps2-an386"]

[steps.canary]
kind = "rollout"
group = "field"
profile = "raspberry-pi-4"
canary = "34%"
batch = "100%"
health_timeout = "90s"

[steps.promote]
alias = "production"
"""


def shift(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[..., SHIFTED_CHANNELS] = np.clip(x[..., SHIFTED_CHANNELS] * GAIN, 0, 16)
    return x


def digits(ws):
    a = datasets.load_arrays(ws, datasets.resolve(ws, "digits@1"))
    return np.stack([a[f"p{i}"] for i in range(64)], axis=-1), a["label"].astype(int)


def stored_count(ws, device: str, since: float) -> int:
    return sum(w.count for w in tel.load_windows(ws, devices=[device], since=since))


def test_the_loop(fleet, tmp_path):  # noqa: F811
    ws = fleet.ws
    X, y = digits(ws)
    rng = np.random.default_rng(0)
    # ---- data → train → int8 happened in the fleet template; the lineage says so
    lin = models.lineage(ws, "digits@1")
    assert "digits@1" in json.dumps(lin)
    models.set_alias(ws, "digits", "production", 1)
    pi_build = fleet.builds["v1"]  # digits@1:int8 for raspberry-pi-4
    mcu_build = build(ws, resolve_variant(ws, "digits@1:int8"), "qemu-mps2-an386").build.id
    assert {pi_build, mcu_build} <= set(resolve_target(ws, TARGET).builds)

    # ---- roll out to three agents, flash the QEMU board
    agents = [fleet.register(f"pi-{i}", group="field") for i in (1, 2, 3)]
    fleet.start_agents(agents)
    r = rollout_build(ws, pi_build, "field", Strategy(canary_pct=34, batch_pct=100, health_timeout_s=90))
    assert r.state == "completed", r.message
    board = sim.start("qemu-mps2-an386", ws=ws)
    collector = Collector(ws, broker.host_address(ws))
    collector.connect()
    col_thread = threading.Thread(target=collector.run, daemon=True)
    col_thread.start()
    host = MqttConnection(broker.host_address(ws)).connect()
    try:
        assert flash_build(ws, mcu_build, board.url, device="mcu-1").self_test == "pass"
        mcu_manifest = json.loads(builds_reg.file_bytes(ws, builds_reg.get(ws, mcu_build), "manifest.json"))

        def stream(shifted_devices: set[str], manifest_mcu: dict, reservoir: int = 0) -> tuple[float, list]:
            """Every device gets PER_DEVICE digits; returns (start time, MCU rows sent)."""
            t0 = time.time()
            rows = {d: rng.integers(len(X), size=PER_DEVICE) for d in ["pi-1", "pi-2", "pi-3", "mcu-1"]}

            def pi(a):
                for i in rows[a.device]:
                    x = shift(X[i]) if a.device in shifted_devices else X[i]
                    code, body = a.post("/v1/predict", json.dumps({"input": x.tolist()}).encode())
                    assert code == 200, body

            def mcu():
                sent = []
                with McuTelemetry(board.url, manifest_mcu, "mcu-1", reservoir=reservoir) as m:
                    for k, i in enumerate(rows["mcu-1"]):
                        x = shift(X[i]) if "mcu-1" in shifted_devices else X[i]
                        m.infer(x.reshape(1, 64))
                        sent.append((x, y[i]))
                        if (k + 1) % 100 == 0:  # the gateway's telemetry period
                            host.publish("tinyops/devices/mcu-1/telemetry", json.dumps(m.snapshot()))
                return sent

            with ThreadPoolExecutor(4) as ex:
                futs = [ex.submit(pi, a) for a in agents]
                sent = ex.submit(mcu).result()
                for f in futs:
                    f.result()
            for d in rows:
                fleet.wait_for(lambda d=d: stored_count(ws, d, t0) >= PER_DEVICE, 60, f"windows of {d}")
            return t0, sent

        # ---- in distribution: no drift anywhere
        t0, _ = stream(set(), mcu_manifest)
        calm = check(ws, TARGET, window=f"{time.time() - t0:.0f}s").to_dict()
        assert calm["drift"] is False, [(d["device"], d["windows"], d["inferences"], d["max_psi"], d["drifted_features"])
                                    for d in calm["devices"]]
        assert {d["device"] for d in calm["devices"]} == {"pi-1", "pi-2", "pi-3", "mcu-1"}

        # ---- a sensor gain change on pi-2 and the MCU: flagged there, on those channels only
        t1, mcu_sent = stream({"pi-2", "mcu-1"}, mcu_manifest, reservoir=16)
        drifted = check(ws, TARGET, window=f"{time.time() - t1:.0f}s").to_dict()
        assert drifted["drift"] is True
        assert set(drifted["drifted_devices"]) == {"pi-2", "mcu-1"}
        names = {f"p{c}" for c in SHIFTED_CHANNELS}
        for d in drifted["devices"]:
            assert set(d["drifted_features"]) <= names, d
        before = {d["device"]: d["max_psi"] for d in drifted["devices"]}
        info = write_report(ws, TARGET, tmp_path / "drift.html", window=f"{time.time() - t1:.0f}s")
        assert info["drift"] is True

        # ---- field data: the MCU's reservoir samples, labelled from a file, + a labelled recording
        out = tmp_path / "samples.csv"
        exported = retrain.export_samples(ws, out, devices=["mcu-1"], since=t1)
        assert exported["samples"] == 48
        sent_x = np.stack([s[0] for s in mcu_sent])
        labels_file = tmp_path / "labels.csv"
        with open(out) as f, open(labels_file, "w", newline="") as g:
            w = csv.writer(g)
            w.writerow(["sample", "label"])
            samples = {s["sample"]: s for s in retrain.sample_table(ws, devices=["mcu-1"], since=t1)}
            stored = {win.id: win for win in tel.load_windows(ws, devices=["mcu-1"], since=t1, with_samples=True)}
            for row in csv.DictReader(f):
                wid, k = map(int, row["sample"][1:].split("-"))
                x = np.asarray(stored[wid].sample[k]["x"])
                nearest = int(np.abs(sent_x - x).max(axis=1).argmin())  # the row we sent, up to quantization
                w.writerow([row["sample"], mcu_sent[nearest][1]])
        assert len(samples) == 48
        # Production bias: the board's outputs on those samples equal the host's TFLM reference, bit for bit.
        bias = production_bias(ws, mcu_build, devices=["mcu-1"], since=t1)
        assert bias["reference_runtime"] == "tflm" and bias["biased_devices"] == []
        assert bias["devices"][0]["samples"] == 48 and bias["devices"][0]["identical_share"] == 1.0
        field, _ = retrain.field_dataset(ws, "digits-field", labels_file)
        rec_csv = tmp_path / "recording.csv"
        with open(rec_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([f"p{i}" for i in range(64)] + ["label"])
            for xi, yi in zip(shift(X), y):
                w.writerow([*xi.tolist(), int(yi)])
        recording, _ = datasets.add_file(ws, "digits-recalibrated", rec_csv)

        # ---- the pipeline: retrain → int8 → gates → builds → canary → promote
        pfile = tmp_path / "retrain.toml"
        pfile.write_text(PIPELINE.format(field=field.ref, recording=recording.ref))
        res = run_pipeline(ws, pfile)
        assert res.status == "passed", res.report
        new = models.resolve(ws, "digits@production")
        assert new.version == 2 and res.steps[2].outputs["previous"] == "digits@1"
        gates = res.steps[4].outputs["gates"]
        assert all(g["passed"] for g in gates) and len(gates) == 4
        new_builds = res.steps[5].outputs["builds"]
        for a in agents:
            fleet.wait_for(lambda a=a: fleet.model_build(a) == new_builds["raspberry-pi-4"], 60, f"{a.device} update")
        assert flash_build(ws, new_builds["qemu-mps2-an386"], board.url, device="mcu-1").self_test == "pass"
        new_manifest = json.loads(builds_reg.file_bytes(ws, builds_reg.get(ws, new_builds["qemu-mps2-an386"]),
                                                        "manifest.json"))

        # ---- same field conditions, new model: drift falls back under the threshold
        t2, _ = stream({"pi-2", "mcu-1"}, new_manifest)
        after = check(ws, TARGET, window=f"{time.time() - t2:.0f}s").to_dict()
        assert set(after["builds"]) == set(new_builds.values())
        assert after["drift"] is False, (after["drifted_devices"], [f for f in after["features"] if f["verdict"] == "drift"])
        for d in after["devices"]:
            assert d["max_psi"] < 0.2, d
            if d["device"] in ("pi-2", "mcu-1"):
                assert d["max_psi"] < before[d["device"]]
    finally:
        host.close()
        collector.stop()
        col_thread.join(15)
        sim.stop(board.id, ws)
    assert collector.stats.rejected == 0
