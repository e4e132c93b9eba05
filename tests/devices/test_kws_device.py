"""Keyword spotting on the emulated Cortex-M4: a build that carries its MFCC pipeline takes
raw audio; raw-audio golden vectors pass the self-test; the board's outputs equal the host's
(integer-reference MFCC -> tinyops-c); MLPerf's `db`/`infer` path still runs the same firmware."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from fixtures_boards import boards, firmware_bins  # noqa: F401
from paths import EXAMPLES

from fixtures_tflm import prove_export
from tinyops.devices import build as device_build, feature_image
from tinyops.devices.serial import flash, mlperf, ops
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError
from tinyops.ml import convert, feature_defs, recipes, train
from tinyops.registry import builds, datasets
from tinyops.runtimes.tinyops_c.native import NativeRuntime
from tinyops.cli.common import resolve_variant


@pytest.fixture(scope="module")
def kws_clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("kws")
    subprocess.run([sys.executable, str(EXAMPLES / "kws" / "prepare.py"), str(out), "--size", "tiny",
                    "--splits", "train"], check=True, capture_output=True)
    return out


def _kws_model(ws, clips):
    datasets.add_file(ws, "kws", clips / "train")
    feature_defs.add(ws, "kws-mfcc", feature_defs.load_spec(EXAMPLES / "kws" / "mfcc.toml"))
    recipe = recipes.load(EXAMPLES / "kws" / "recipe.toml")
    recipe["architecture"]["filters"] = [8, 8]
    recipe["train"]["epochs"] = 2
    recipe["train"].pop("early_stopping", None)
    train.train(ws, recipe)
    convert.convert(ws, "kws@1", "int8")
    return device_build.build(ws, resolve_variant(ws, "kws@1:int8"), "qemu-mps2-an386", golden_count=3)


def test_raw_audio_build_runs_on_the_board_like_the_host(ws, kws_clips, boards) -> None:
    res = _kws_model(ws, kws_clips)
    man = res.manifest
    assert man["features"]["computed_on"] == "device" and man["features"]["refs"] == ["kws-mfcc@1"]
    assert man["features"]["raw_input"] == {"dtype": "int16", "samples": 16000}
    prove_export(ws, res.build)  # the TFLM export of the same build, on the target, exact arena
    b = res.build
    image = builds.file_bytes(ws, b, "model.img")
    blob, model_image = feature_image.split_image(image)
    assert blob == builds.file_bytes(ws, b, "features.bin")
    gz = flash.load_golden(builds.file_bytes(ws, b, "golden.npz"))
    assert gz[0].dtype == np.int16 and gz[0].shape == (3, 16000)  # golden inputs are raw clips

    sim = boards.start("qemu-mps2-an386")
    rep = flash.flash_build(ws, b.id, sim.url)
    assert rep.activated and rep.self_test == "pass" and rep.self_test_detail["identical_share"] == 1.0

    clips = datasets.load_arrays(ws, datasets.resolve(ws, "kws@1"))["X"][[5, 77, 150]]
    inp = man["inputs"][0]
    definition = man["features"]["definition"]
    xq = feature_image.reference_int8(definition, clips, inp["scale"], inp["zero_point"])
    rt = NativeRuntime(builds.file_bytes(ws, b, "model.tflite"))
    with Link(sim.url) as link:
        link.drain()
        info = ops.info(link)
        assert info.input_bytes == 32000  # the board takes 1 s of int16 audio
        for clip, x in zip(clips, xq):
            got = np.frombuffer(ops.run(link, clip.astype(np.int16).tobytes(), max_chunk=info.max_chunk).output, np.int8)
            want = rt.run(x.reshape(inp["shape"])).reshape(-1)
            assert np.array_equal(got, want)
        # the board's histogram of the features it computed equals the host's
        from tinyops.monitor.raw_feed import host_histograms
        ops.stats(link, reset_window=True, features=10)
        for clip in clips:
            ops.run(link, clip.astype(np.int16).tobytes(), max_chunk=info.max_chunk)
        dev = np.asarray(ops.stats(link, reset_window=True)["histograms"])
        assert np.array_equal(dev, host_histograms(xq, 10))
        # MLPerf Tiny's runner path: preprocessed int8 MFCCs through db/infer on the same firmware
        mlperf.load_input(link, xq[1].tobytes())
        r = mlperf.infer(link, 1, 0)
        scale, zp = man["outputs"][0]["scale"], man["outputs"][0]["zero_point"]
        want = (rt.run(xq[1].reshape(inp["shape"])).reshape(-1).astype(float) - zp) * scale
        assert np.allclose(r.results, want, atol=1e-3)
    # a corrupted pipeline is refused at activation; the good model stays active
    bad = bytearray(image)
    bad[20] = 100  # n_fft = 100: not a power of two
    with pytest.raises(DeviceError, match="invalid|image"):
        flash.flash_image(sim.url, bytes(bad))
    with Link(sim.url) as link:
        assert ops.info(link).active_sha256 == rep.sha256

    # The Pi build records the definition (the Pi computes it with numpy); golden stay model inputs.
    pi = device_build.build(ws, resolve_variant(ws, "kws@1:int8"), "raspberry-pi-4", golden_count=2)
    assert pi.manifest["features"]["computed_on"] == "host"
    assert json.loads(json.dumps(pi.manifest["features"]["definition"]))["kind"] == "mfcc"
    gin, _ = flash.load_golden(builds.file_bytes(ws, pi.build, "golden.npz"))
    assert gin.dtype == np.int8 and gin.shape[1:] == (49, 10, 1)
