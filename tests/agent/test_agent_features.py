"""A real tinyops-agent computes a build's features from raw input: raw samples (JSON) or a
WAV body go in, the numpy feature pipeline of the model's training runs on the Pi side,
and the answer equals the host's features -> LiteRT."""

from __future__ import annotations

import json
import shutil

import numpy as np

from fixtures_audio import MFCC, tones
from fixtures_fleet import Fleet, free_port, mosquitto_dir
from tinyops.cli.common import resolve_variant
from tinyops.fleet import broker
from tinyops.wav import wav_bytes
from tinyops.workspace import Workspace


def test_agent_computes_features_from_raw_audio(tmp_path) -> None:
    from tinyops.devices.build import build
    from tinyops.fleet.publish import load_bundle, publish
    from tinyops.ml import convert, feature_defs, features, train
    from tinyops.registry import datasets
    from tinyops.runtimes import open_runtime
    from test_agent import _desire

    ws, _ = Workspace.init(tmp_path / "ws")
    clips = tones(90)
    datasets.add_arrays(ws, "tones", clips, source="test")
    feature_defs.add(ws, "tone-mfcc", MFCC)
    train.train(ws, {"model": {"name": "tones", "description": "three tones"},
                     "data": {"dataset": "tones@1", "features": ["tone-mfcc@1"], "inputs": "X", "label": "y"},
                     "split": {"train": 0.8, "validation": 0.2, "test": 0.0},
                     "architecture": {"kind": "cnn1d", "filters": [8], "kernel_size": 3, "pool": 2, "dense": 8},
                     "train": {"epochs": 2, "batch_size": 16, "learning_rate": 0.01, "seed": 1}})
    convert.convert(ws, "tones@1", "int8")
    pi = build(ws, resolve_variant(ws, "tones@1:int8"), "raspberry-pi-4", golden_count=2)
    assert pi.manifest["features"]["computed_on"] == "host"
    assert pi.manifest["features"]["raw_input"] == {"shape": [4000]}

    bdir = mosquitto_dir()
    broker.setup(ws, bdir, port=free_port(), local_port=free_port(), host_port=free_port())
    fleet = Fleet(ws=ws, builds={"tones": pi.build.id}, broker_dir=bdir, port=0, local_port=0)
    try:
        fleet.start_broker()
        a = fleet.register("pi-audio")
        fleet.start_agents([a])
        publish(ws, load_bundle(ws, pi.build.id))
        _desire(fleet, "pi-audio", pi.build.id)
        fleet.wait_for(lambda: fleet.model_build(a) == pi.build.id, 60, "the audio build installed")

        inp = pi.manifest["inputs"][0]
        rt = open_runtime("litert", load_bundle(ws, pi.build.id).files["model.tflite"], xnnpack=False)
        for i in (1, 17, 44):
            x = clips["X"][i]
            feats = features.apply(MFCC, {"X": x[None]})["X"]
            q = np.clip(np.round(feats / inp["scale"]) + inp["zero_point"], -128, 127).astype(np.int8)
            want = np.asarray(rt.run(q.reshape(inp["shape"]))).reshape(-1)
            for body, ctype in ((json.dumps({"raw": x.tolist()}).encode(), "application/json"),
                                (wav_bytes(x, 16000), "audio/wav")):
                code, out = a.post("/v1/predict", body, ctype)
                assert code == 200, out
                assert np.abs(np.array(out["output_raw"]) - want).max() <= 1
        code, out = a.post("/v1/predict", wav_bytes(clips["X"][0], 8000), "audio/wav")
        assert code == 400 and "8000 Hz" in out["error"]
        code, out = a.post("/v1/predict", json.dumps({"raw": [1, 2, 3]}).encode())
        assert code == 400 and out["raw_shape"] == [4000]
    finally:
        fleet.stop_all()
        ws.close()
        shutil.rmtree(bdir, ignore_errors=True)
