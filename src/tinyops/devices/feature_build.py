"""Device builds whose model takes raw samples: the feature pipeline goes into the build.

When a model was trained on exactly one device-computable feature (``log_mel`` or
``mfcc``) of a raw signal array, an MCU build puts the pipeline blob in front of
the tinyops-c model image, so the slot holds both and the firmware computes the
features from raw int16 samples. Its golden vectors are then raw clips -> outputs:
the outputs come from the integer reference features (what the C code computes,
bit for bit) run through the device's runtime family. Other builds (a Pi) record
the definition in the manifest; the Pi side computes it with numpy.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.devices import feature_image, golden

if TYPE_CHECKING:
    from tinyops.registry.models import ModelVersion
    from tinyops.workspace import Workspace


def model_features(ws: Workspace, mv: ModelVersion) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    """(feature refs, their definitions, model spec) of a model's training run."""
    from tinyops.ml import dataprep
    from tinyops.registry import features as feature_store

    spec = dataprep.model_spec(ws, mv)
    refs = list(spec["data"].get("features") or [])
    return refs, [feature_store.resolve(ws, r).definition for r in refs], spec


def pipeline_key(ws: Workspace, mv: ModelVersion) -> str | None:
    """What identifies the carried pipeline in a build id (None: the build carries none)."""
    from tinyops.ml import features

    try:
        refs, defs, _spec = model_features(ws, mv)
    except Exception:  # a model without a training run carries no pipeline
        return None
    d = feature_image.device_pipeline(defs)
    if d is None:
        return None
    return hashlib.sha256(json.dumps([refs, d, features.code_hash(d["kind"])], sort_keys=True).encode()).hexdigest()


def _raw_rows(ws: Workspace, spec: dict[str, Any], key: str, count: int) -> tuple[np.ndarray, str]:
    """The first ``count`` raw signals of the model's validation rows (same split as training)."""
    from tinyops.ml import dataprep
    from tinyops.registry import datasets

    arrays = datasets.load_arrays(ws, datasets.resolve(ws, spec["dataset"]))
    x = np.asarray(arrays[key])
    idx = dataprep.split_indices(len(x), spec["split"], int(spec["seed"]))
    part = next((p for p in ("validation", "test", "train") if len(idx[p])), "train")
    return np.clip(np.round(x[idx[part][:count]]), -32768, 32767).astype(np.int16), part


def add_pipeline(ws: Workspace, mv: ModelVersion, profile: Any, tflite: bytes, files: dict[str, bytes],
                 extra: dict[str, Any], golden_count: int, runtime_kind: str) -> None:
    """Put the model's feature pipeline into ``files``/``extra`` (in place); no-op without one."""
    from tinyops.runtimes import tflite_file

    refs, defs, spec = model_features(ws, mv)
    d = feature_image.device_pipeline(defs)
    if d is None:
        return
    key = (d.get("params") or {}).get("key", ["X"])
    key = key[0] if isinstance(key, list) else key
    info = {"kind": d["kind"], "refs": refs, "definition": d}
    if not (profile.is_mcu and "model.img" in files):
        extra["features"] = dict(info, computed_on="host")
        return
    raw, part = _raw_rows(ws, spec, key, golden_count)
    t = tflite_file.read(tflite).input_tensors[0]
    scale, zp = t.quantization.scale[0], t.quantization.zero_point[0]
    blob = feature_image.pipeline_blob(d, int(raw.shape[1]), scale, zp)
    files["features.bin"] = blob
    files["model.img"] = feature_image.raw_image(blob, files["model.img"])
    xq = feature_image.reference_int8(d, raw, scale, zp)
    _xq, ys = golden.golden_vectors_q(xq, tflite, runtime_kind)
    files["golden.npz"] = golden.npz_bytes({"inputs": raw, "outputs": ys})
    extra["golden"] = dict(extra.get("golden") or {}, count=int(len(raw)), input="raw int16 samples",
                           rows=f"{spec['dataset']}:{part}")
    extra["features"] = dict(info, computed_on="device", file="features.bin", bytes=len(blob),
                             raw_input={"dtype": "int16", "samples": int(raw.shape[1])})
