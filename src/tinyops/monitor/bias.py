"""Production bias: do devices compute what the host reference computes?

Reservoir samples carry the input a device saw and the raw output it
produced. Re-running those inputs through the build's reference runtime on
the host (the one that made the golden vectors: TFLite Micro for MCU builds,
LiteRT for Pi builds) and comparing shows a device that has drifted from its
model — a miscompiled runtime, a wrong preprocessing step, a flipped bit —
which input histograms cannot see.

A build whose board computes its own features from raw input (``features.computed_on
= "device"``) also reports, per telemetry window, the board's histograms of the
features it computed next to the host reference's (``device_features``): a device
whose feature code disagrees with the host's shows as windows that differ, even when
its outputs happen to agree.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import NotFoundError
from tinyops.registry import builds as builds_reg
from tinyops.registry import telemetry as tel

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def production_bias(ws: Workspace, build: str, *, devices: list[str] | None = None,
                    since: float | None = None) -> dict[str, Any]:
    """Per device: samples compared, share of identical output values, max LSB difference, class agreement."""
    from tinyops.runtimes import open_runtime

    b = builds_reg.get(ws, build)
    manifest = json.loads(builds_reg.file_bytes(ws, b, "manifest.json"))
    stored = tel.load_windows(ws, builds=[b.id], devices=devices, since=since, with_samples=True)
    windows = [w for w in stored if w.sample]
    checked = [w for w in stored if w.device_features]
    if not windows and not checked:
        raise NotFoundError(f"no reservoir samples from build {b.id}",
                            hint="enable the telemetry reservoir on the devices (e.g. `telemetry feed --reservoir 16`)")
    kind = (manifest.get("golden") or {}).get("runtime") or ("tflm" if b.runtime != "litert" else "litert")
    options = {"xnnpack": False} if kind == "litert" else {}
    rt = open_runtime(kind, builds_reg.file_bytes(ws, b, "model.tflite"), **options)
    inp, out = rt.inputs[0], rt.outputs[0]
    per: dict[str, dict[str, Any]] = {}
    try:
        for w in windows:
            for s in w.sample or []:
                x = np.asarray(s["x"], dtype=np.float64).reshape(inp.shape)
                if inp.scale:
                    x = np.clip(np.round(x / inp.scale) + (inp.zero_point or 0), -128, 127)
                ref = np.asarray(rt.run(x.astype(inp.dtype))).reshape(-1)
                dev = np.asarray(s["y"], dtype=ref.dtype).reshape(-1)
                d = per.setdefault(w.device, {"device": w.device, "samples": 0, "values": 0, "identical": 0,
                                              "max_lsb_diff": 0, "class_agree": 0})
                diff = np.abs(dev.astype(np.float64) - ref.astype(np.float64))
                d["samples"] += 1
                d["values"] += diff.size
                d["identical"] += int((diff == 0).sum())
                d["max_lsb_diff"] = max(d["max_lsb_diff"], float(diff.max(initial=0)))
                d["class_agree"] += int(np.argmax(dev) == np.argmax(ref))
    finally:
        getattr(rt, "close", lambda: None)()
    feats: dict[str, dict[str, int]] = {}
    for w in checked:
        f = feats.setdefault(w.device, {"windows": 0, "identical": 0, "runs": 0})
        f["windows"] += 1
        f["identical"] += int(bool(w.device_features["identical"]))
        f["runs"] += int(w.device_features["runs"])
    rows = []
    for dev in sorted(set(per) | set(feats)):
        d = per.get(dev)
        r: dict[str, Any] = {"device": dev, "samples": d["samples"] if d else 0,
                             "identical_share": d["identical"] / d["values"] if d else None,
                             "max_lsb_diff": d["max_lsb_diff"] if d else None,
                             "class_agreement": d["class_agree"] / d["samples"] if d else None}
        if dev in feats:
            r["feature_windows"] = feats[dev]["windows"]
            r["feature_windows_identical"] = feats[dev]["identical"]
            r["feature_runs"] = feats[dev]["runs"]
        rows.append(r)
    out: dict[str, Any] = {"build": b.id, "reference_runtime": kind, "devices": rows,
                           "biased_devices": [r["device"] for r in rows if _biased(r)]}
    if (manifest.get("features") or {}).get("computed_on") == "device":
        out["features_computed_on"] = "device"
    return out


def _biased(r: dict[str, Any]) -> bool:
    outputs = r["samples"] and (r["class_agreement"] < 1.0 or r["max_lsb_diff"] > 2)
    features = r.get("feature_windows", 0) > r.get("feature_windows_identical", 0)
    return bool(outputs or features)
