"""`drift bias` on a raw-audio MCU build also compares the features the board computed
with the host's: raw clips are fed to the emulated Cortex-M4 over serial, the windows
go through a real broker and collector, and a board whose feature pipeline differs
from its build's (a wrong int8 zero point) is flagged even where its outputs agree."""

from __future__ import annotations

import json
import shutil
import struct
import threading

import numpy as np
from fixtures_boards import boards, firmware_bins  # noqa: F401
from fixtures_audio import MFCC, tones
from fixtures_fleet import free_port, mosquitto_dir

from fixtures_tflm import prove_export
from tinyops.devices import build as device_build, feature_image
from tinyops.devices.serial import flash
from tinyops.cli.common import resolve_variant
from tinyops.fleet import broker
from tinyops.ml import convert, feature_defs, train
from tinyops.monitor.bias import production_bias
from tinyops.monitor.collector import Collector
from tinyops.monitor.raw_feed import feed_raw
from tinyops.registry import builds, datasets
from tinyops.registry import telemetry as tel


def test_bias_compares_device_computed_features_with_the_hosts(ws, boards, tmp_path) -> None:
    datasets.add_arrays(ws, "tones", tones(60), source="test")
    feature_defs.add(ws, "tone-mfcc", MFCC)
    train.train(ws, {"model": {"name": "tones", "description": "three tones"},
                     "data": {"dataset": "tones@1", "features": ["tone-mfcc@1"], "inputs": "X", "label": "y"},
                     "split": {"train": 0.8, "validation": 0.2, "test": 0.0},
                     "architecture": {"kind": "cnn1d", "filters": [8], "kernel_size": 3, "pool": 2, "dense": 8},
                     "train": {"epochs": 2, "batch_size": 16, "learning_rate": 0.01, "seed": 1}})
    convert.convert(ws, "tones@1", "int8")
    b = device_build.build(ws, resolve_variant(ws, "tones@1:int8"), "qemu-mps2-an386", golden_count=2).build
    manifest = dict(json.loads(builds.file_bytes(ws, b, "manifest.json")), build=b.id)
    assert manifest["features"]["computed_on"] == "device"
    prove_export(ws, b)  # the TFLM export of the same build, on the target, exact arena

    good, bad = boards.start("qemu-mps2-an386"), boards.start("qemu-mps2-an386")
    assert flash.flash_build(ws, b.id, good.url).self_test == "pass"
    image = bytearray(builds.file_bytes(ws, b, "model.img"))
    blob, _ = feature_image.split_image(bytes(image))
    struct.pack_into("<i", image, 44, struct.unpack_from("<i", blob, 44)[0] + 3)  # the int8 zero point, off by 3
    flash.flash_image(bad.url, bytes(image))

    bdir = mosquitto_dir()
    broker.setup(ws, bdir, port=free_port(), local_port=free_port(), host_port=free_port())
    broker.start(ws)
    collector = Collector(ws, broker.host_address(ws))
    try:
        collector.connect()
        thread = threading.Thread(target=collector.run, daemon=True)
        thread.start()
        for device, sim in (("mcu-good", good), ("mcu-bad", bad)):
            res = feed_raw(ws, "tones@1", manifest, port=sim.url, device=device, rows=6, seed=1, reservoir=3,
                           period=3, broker_url=None)
            assert res["windows"] == 2
            assert res["feature_windows_identical"] == (2 if device == "mcu-good" else 0)
        import time
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(tel.load_windows(ws, builds=[b.id])) < 4:
            time.sleep(0.2)
    finally:
        collector.stop()
        broker.stop(ws)
        shutil.rmtree(bdir, ignore_errors=True)
    assert collector.stats.rejected == 0

    res = production_bias(ws, b.id)
    rows = {r["device"]: r for r in res["devices"]}
    assert res["features_computed_on"] == "device"
    assert rows["mcu-good"]["feature_windows"] == 2 == rows["mcu-good"]["feature_windows_identical"]
    assert rows["mcu-good"]["feature_runs"] == 6 and rows["mcu-good"]["identical_share"] == 1.0
    assert rows["mcu-bad"]["feature_windows"] == 2 and rows["mcu-bad"]["feature_windows_identical"] == 0
    assert res["biased_devices"] == ["mcu-bad"]


def test_malformed_device_feature_checks_are_rejected() -> None:
    import pytest

    from tinyops.errors import InputError
    from tinyops.monitor import device_features

    ok = device_features.message(3, [[1] * 16], [[1] * 16])
    device_features.validate(ok, count=3)
    for bad in (dict(ok, runs=4), dict(ok, identical=False), dict(ok, device=[[1] * 15]),
                dict(ok, host=[[-1] * 16]), {"runs": 1}):
        with pytest.raises(InputError, match="device_features"):
            device_features.validate(bad, count=3)
