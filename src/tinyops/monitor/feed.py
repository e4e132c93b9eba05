"""Feed dataset rows to devices, optionally through a simulated sensor fault.

For demos and soak tests of the monitoring loop without real sensors: rows of
a dataset version, prepared the way the model's recipe prepares them, go to a
Pi agent's local endpoint (`POST /v1/predict`; the agent publishes its own
telemetry) or to a microcontroller on a serial port (this process then acts
as its gateway and publishes the MCU's windows). ``gain``/``offset`` map
feature indices (last input axis, or element indices of an image) to a sensor fault, e.g. a gain of 1.4.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import DeviceError, InputError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def parse_fault(text: str | None) -> dict[int, float]:
    """``"19,20,27=1.4"`` → {19: 1.4, 20: 1.4, 27: 1.4}."""
    if not text:
        return {}
    try:
        chans, value = text.split("=")
        return {int(c): float(value) for c in chans.split(",") if c.strip()}
    except ValueError:
        raise InputError(f"'{text}' is not CHANNELS=VALUE", hint='write e.g. "19,20,27=1.4"') from None


def _rows(ws: Workspace, model_ref: str, data_ref: str) -> np.ndarray:
    """Rows prepared as the model's recipe prepares them; a retrained model (whose recipe
    reads the union dataset's layout) falls back to the recipe of the model it came from."""
    from tinyops.ml import dataprep
    from tinyops.registry import models, runs

    spec = dataprep.model_spec(ws, models.resolve(ws, model_ref))
    try:
        return dataprep.prepare(ws, data_ref, spec["data"], labels=spec["labels"] or None, need_labels=False).X
    except InputError:
        parent = runs.get(ws, spec["run"]).params.get("retrained_from")
        if not parent:
            raise
        return _rows(ws, parent, data_ref)


def _fault(x: np.ndarray, gain: dict[int, float], offset: dict[int, float], lo: float, hi: float) -> np.ndarray:
    """Channels index the input's last axis; past its size, the elements in row-major order (an image's pixels)."""
    x = x.astype(np.float64).copy()
    chans = set(gain) | set(offset)
    view = x.reshape(-1) if chans and x.ndim > 1 and max(chans) >= x.shape[-1] else x
    if chans and max(chans) >= view.shape[-1]:
        raise InputError(f"fault channel {max(chans)} is outside the input ({view.shape[-1]} values)",
                         hint="give channel indices of the model input")
    for c, g in gain.items():
        view[..., c] *= g
    for c, o in offset.items():
        view[..., c] += o
    return np.clip(x, lo, hi)  # a real sensor saturates at its range


def _agent_model(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/v1/model", timeout=10) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DeviceError(f"cannot reach the agent at {url}: {e}", hint="is tinyops-agent running? see its http.port") from e


def feed(ws: Workspace, data_ref: str, *, agent: str | None = None, port: str | None = None, device: str | None = None,
         build: str | None = None, rows: int = 300, gain: dict[int, float] | None = None,
         offset: dict[int, float] | None = None, seed: int = 0, reservoir: int = 0, period: int = 100,
         broker_url: str | None = None) -> dict[str, Any]:
    """Send ``rows`` random rows of ``data_ref`` to one device; returns what was sent and predicted.

    ``seed`` picks the rows and, for a microcontroller, the samples its windows keep, so a feed repeats."""
    from tinyops.registry import builds as builds_reg

    if bool(agent) == bool(port):
        raise InputError("give exactly one of --agent URL or --port URL")
    if agent:
        info = _agent_model(agent)
        model_ref, build = info["model"], info["build"]
    else:
        if not (device and build):
            raise InputError("an MCU feed needs --device ID and --build BUILD", hint="the build flashed on that board")
        b = builds_reg.get(ws, build)
        model_ref, build = b.model, b.id
        from tinyops.monitor import raw_feed

        built = json.loads(builds_reg.file_bytes(ws, b, "manifest.json"))
        if raw_feed.is_raw_build(built):  # the board computes its features: send it raw samples
            return raw_feed.feed_raw(ws, data_ref, built, port=port, device=str(device), rows=rows, seed=seed,
                                     reservoir=reservoir, period=period, broker_url=broker_url)
    X = _rows(ws, model_ref, data_ref)
    lo, hi = float(X.min()), float(X.max())
    pick = np.random.default_rng(seed).integers(len(X), size=rows)
    preds: dict[str, int] = {}
    if agent:
        url = agent.rstrip("/") + "/v1/predict"
        for i in pick:
            x = _fault(X[i], gain or {}, offset or {}, lo, hi)
            req = urllib.request.Request(url, data=json.dumps({"input": x.reshape(-1).tolist()}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                body = json.loads(r.read())
            key = str(body.get("label") if body.get("label") is not None else body.get("class"))
            preds[key] = preds.get(key, 0) + 1
        return {"device": info.get("device"), "build": build, "rows": rows, "predictions": preds, "windows": None}
    from tinyops.fleet import topics
    from tinyops.fleet.mqtt import MqttConnection
    from tinyops.monitor.collector import broker_address
    from tinyops.monitor.mcu import McuTelemetry

    manifest = json.loads(builds_reg.file_bytes(ws, builds_reg.get(ws, build), "manifest.json"))
    labels = manifest.get("labels") or []
    windows = 0
    with MqttConnection(broker_address(ws, broker_url)).connect() as conn, \
            McuTelemetry(port, manifest, device, reservoir=reservoir, seed=seed) as mcu:
        for k, i in enumerate(pick):
            x = _fault(X[i], gain or {}, offset or {}, lo, hi)
            y = mcu.infer(x.reshape(manifest["inputs"][0]["shape"]))
            cls = int(np.argmax(y))
            key = labels[cls] if cls < len(labels) else str(cls)
            preds[key] = preds.get(key, 0) + 1
            if (k + 1) % period == 0 or k + 1 == rows:
                conn.publish(topics.telemetry(device), json.dumps(mcu.snapshot()))
                windows += 1
    return {"device": device, "build": build, "rows": rows, "predictions": preds, "windows": windows}
