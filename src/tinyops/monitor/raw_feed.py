"""Feed raw audio clips (or sensor samples) to a microcontroller whose build computes its own features.

The gateway (this process) streams each clip's int16 samples to the board with
RUN; the board computes MFCC/log-mel and runs the model. Telemetry windows
observe the features the board consumed: the gateway computes them with the
integer reference (what the C code equals bit for bit) and, per window, checks
them against the board's own STATS histograms of the input it computed, so a
device whose feature code disagrees with the host shows up as a mismatch.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

BINS = 16  # the firmware's STATS histogram: 16 bins over int8


def is_raw_build(manifest: dict[str, Any]) -> bool:
    return (manifest.get("features") or {}).get("computed_on") == "device"


def host_histograms(xq: np.ndarray, n_features: int) -> np.ndarray:
    """The firmware's histogram of int8 inputs (feature = element index mod n_features)."""
    flat = np.asarray(xq, np.int8).reshape(len(xq), -1).astype(np.int64)
    feature = np.arange(flat.shape[1]) % n_features
    hist = np.zeros((n_features, BINS), np.int64)
    np.add.at(hist, (np.broadcast_to(feature, flat.shape), (flat + 128) >> 4), 1)
    return hist


def _clips(ws: Workspace, data_ref: str, manifest: dict[str, Any]) -> np.ndarray:
    from tinyops.registry import datasets

    feats = manifest["features"]
    key = ((feats.get("definition") or feats["definitions"][0]).get("params") or {}).get("key", ["X"])
    key = key[0] if isinstance(key, list) else key
    arrays = datasets.load_arrays(ws, datasets.resolve(ws, data_ref))
    if key not in arrays:
        raise InputError(f"{data_ref} has no raw signal array {key!r}", hint="feed a WAV folder dataset")
    x = np.asarray(arrays[key])
    want = tuple(feats["raw_input"].get("shape") or [feats["raw_input"]["samples"]])
    if tuple(x.shape[1:]) != want:
        raise InputError(f"{data_ref}: samples of shape {x.shape[1:]}, the build takes {list(want)}",
                         hint="feed samples of the training data's length (and sample rate)")
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def feed_raw(ws: Workspace, data_ref: str, manifest: dict[str, Any], *, port: str, device: str, rows: int, seed: int,
             reservoir: int, period: int, broker_url: str | None) -> dict[str, Any]:
    from tinyops.devices import feature_image
    from tinyops.devices.serial import ops
    from tinyops.fleet import topics
    from tinyops.fleet.mqtt import MqttConnection
    from tinyops.monitor import device_features
    from tinyops.monitor.collector import broker_address
    from tinyops.monitor.mcu import McuTelemetry

    clips = _clips(ws, data_ref, manifest)
    pick = np.random.default_rng(seed).integers(len(clips), size=rows)
    inp = manifest["inputs"][0]
    n_feat = int(inp["shape"][-2] if inp["shape"][-1] == 1 and len(inp["shape"]) > 2 else inp["shape"][-1])
    labels = manifest.get("labels") or []
    preds: dict[str, int] = {}
    windows = matched = 0
    with MqttConnection(broker_address(ws, broker_url)).connect() as conn, \
            McuTelemetry(port, manifest, device, reservoir=reservoir, seed=seed) as mcu:
        # a clip is 8 full frames over a slow UART, and the board computes MFCCs before it
        # answers the last one: allow a loaded emulator more time before retransmitting
        mcu.link.reply_timeout_s = max(mcu.link.reply_timeout_s, 3.0)
        mcu.link.slow_timeout_s = max(mcu.link.slow_timeout_s, 15.0)
        ops.stats(mcu.link, reset_window=True, features=n_feat)
        window_q: list[np.ndarray] = []
        for k, i in enumerate(pick):
            xqs = feature_image.build_reference_int8(manifest["features"], clips[i:i + 1],
                                                     float(inp["scale"]), int(inp["zero_point"]))[0]
            t0 = time.perf_counter()
            try:
                res = ops.run(mcu.link, clips[i].tobytes(), max_chunk=mcu.info.max_chunk)
            except Exception as e:  # noqa: BLE001 — an error is telemetry too, then it propagates
                mcu.window.error(f"RUN failed: {e}")
                raise
            seconds = (time.perf_counter() - t0) / len(xqs)
            for xq, y in zip(xqs, np.frombuffer(res.output, dtype=np.int8).reshape(len(xqs), -1)):
                mcu.window.observe_quantized(xq.reshape(inp["shape"]), y, seconds)  # one inference per window
                window_q.append(xq)
                cls = int(np.argmax(y))
                key = labels[cls] if cls < len(labels) else str(cls)
                preds[key] = preds.get(key, 0) + 1
            if (k + 1) % period == 0 or k + 1 == rows:
                dev = ops.stats(mcu.link, reset_window=True)
                device_hist = np.asarray(dev["histograms"], np.int64).reshape(-1, BINS)[:n_feat]
                check = device_features.message(len(window_q), device_hist.tolist(),
                                                host_histograms(np.stack(window_q), n_feat).tolist())
                matched += int(check["identical"])
                window_q = []
                conn.publish(topics.telemetry(device), json.dumps(dict(mcu.snapshot(), device_features=check)))
                windows += 1
    return {"device": device, "build": manifest["build"], "rows": rows, "predictions": preds, "windows": windows,
            "input": "raw audio", "feature_windows_identical": matched}
