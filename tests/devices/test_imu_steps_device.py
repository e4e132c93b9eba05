"""An IMU model on the emulated Cortex-M4 that takes raw int16 sensor counts: the build
carries its sliding_window -> standardize -> clip_scale chain; the board cuts the
windows, computes the features in fixed point and runs the model once per window,
exactly as the host's integer reference + tinyops-c do."""

from __future__ import annotations

from fixtures_tflm import prove_export
from tinyops.cli.common import resolve_variant  # noqa: E402

import numpy as np
from fixtures_boards import boards, firmware_bins  # noqa: F401

from tinyops.devices import build as device_build, feature_image
from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link
from tinyops.ml import feature_defs, fixed_steps, train
from tinyops.registry import builds, datasets
from tinyops.runtimes.tinyops_c.native import NativeRuntime


def _imu_counts(n: int = 60, steps: int = 80, seed: int = 0) -> dict[str, np.ndarray]:
    """Three gestures as 3-axis accelerometer counts: tones of different rates plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(steps)[None, :, None]
    rate = np.array([0.03, 0.09, 0.2])[y][:, None, None]
    x = 4000 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6, size=(n, 1, 3))) + rng.normal(0, 600, (n, steps, 3))
    return {"X": np.clip(np.round(x + 1000), -32768, 32767).astype(np.int16), "y": np.array(["still", "walk", "run"])[y]}


def _recipe() -> dict:
    return {"model": {"name": "imu", "description": "gestures from raw counts"},
            "data": {"dataset": "imu@1", "features": ["imu-win@1", "imu-std@1", "imu-clip@1"],
                     "inputs": "X", "label": "y"},
            "split": {"train": 0.8, "validation": 0.2, "test": 0.0},
            "architecture": {"kind": "cnn1d", "filters": [8], "kernel_size": 5, "pool": 2, "dense": 16},
            "train": {"epochs": 3, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.01, "seed": 3}}


def test_raw_imu_build_runs_its_feature_chain_on_the_board(ws, boards) -> None:
    from tinyops.ml import convert

    datasets.add_arrays(ws, "imu", _imu_counts(), source="test")
    feature_defs.add(ws, "imu-win", {"kind": "sliding_window", "params": {"size": 40, "stride": 20}})
    feature_defs.add(ws, "imu-std", {"kind": "standardize", "params": {"fit_on": "imu@1"}})
    feature_defs.add(ws, "imu-clip", {"kind": "clip_scale", "params": {"low": -3.0, "high": 3.0}})
    train.train(ws, _recipe())
    convert.convert(ws, "imu@1", "int8")
    res = device_build.build(ws, resolve_variant(ws, "imu@1:int8"), "qemu-mps2-an386", golden_count=3)
    man = res.manifest
    assert man["features"]["computed_on"] == "device" and man["features"]["windows"] == 3
    assert man["features"]["raw_input"]["shape"] == [80, 3]
    prove_export(ws, res.build)  # the TFLM export of the same build, on the target, exact arena
    b = res.build
    blob, _ = feature_image.split_image(builds.file_bytes(ws, b, "model.img"))
    assert blob[:4] == b"TFS1" and blob == builds.file_bytes(ws, b, "features.bin")
    gin, gout = flash.load_golden(builds.file_bytes(ws, b, "golden.npz"))
    assert gin.dtype == np.int16 and gin.shape == (3, 80, 3) and gout.shape == (3, 3 * 3)

    sim = boards.start("qemu-mps2-an386")
    rep = flash.flash_build(ws, b.id, sim.url)
    assert rep.activated and rep.self_test == "pass" and rep.self_test_detail["identical_share"] == 1.0

    raw = datasets.load_arrays(ws, datasets.resolve(ws, "imu@1"))["X"][[4, 31]]
    defs = [d for d in man["features"]["definitions"]]
    chain = fixed_steps.compile_chain(defs, raw.shape[1:])
    inp = man["inputs"][0]
    xq = feature_image.steps_reference_int8(chain, raw, inp["scale"], inp["zero_point"])
    rt = NativeRuntime(builds.file_bytes(ws, b, "model.tflite"))
    with Link(sim.url) as link:
        link.drain()
        info = ops.info(link)
        assert info.input_bytes == 80 * 3 * 2 and info.output_bytes == 3 * 3
        for clip, windows in zip(raw, xq):
            got = np.frombuffer(ops.run(link, clip.tobytes(), max_chunk=info.max_chunk).output, np.int8)
            want = np.concatenate([rt.run(w.reshape(inp["shape"])).reshape(-1) for w in windows])
            assert np.array_equal(got, want)
