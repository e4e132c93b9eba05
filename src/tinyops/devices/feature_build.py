"""Device builds whose model takes raw samples: the feature pipeline goes into the build.

When a model was trained on exactly one device-computable feature (``log_mel`` or
``mfcc``) of a raw signal array, an MCU build puts the pipeline blob in front of
the tinyops-c model image, so the slot holds both and the firmware computes the
features from raw int16 samples. Its golden vectors are then raw clips -> outputs:
the outputs come from the integer reference features (what the C code computes,
bit for bit) run through the device's runtime family. A chain of ``standardize``,
``clip_scale``, ``fft_bins`` (and a leading ``sliding_window``) goes to the device the
same way (a ``TFS1`` blob) when the raw array holds int16 sensor counts; with a
window step the board runs the model once per window and returns the outputs
concatenated. ``model_inputs`` in golden.npz are the same vectors at the model's own
input (the quantized features, one row per model run), for runtimes given only the model
(the TFLM export); ``outputs`` holds those runs' outputs in the same order. Other builds (a Pi) record the definitions in the manifest; the Pi
agent computes them with numpy from raw input.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.devices import feature_image, golden
from tinyops.errors import InputError
from tinyops.ml import fixed_steps

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
    if not defs:
        return None
    d = feature_image.device_pipeline(defs)
    if d is None and not all(x.get("kind") in fixed_steps.STEP_KINDS for x in defs):
        return None
    code = [features.code_hash(str(x.get("kind"))) for x in defs]
    if d is None:
        code.append(hashlib.sha256(inspect.getsource(fixed_steps).encode()).hexdigest())
    return hashlib.sha256(json.dumps([refs, defs if d is None else d, code], sort_keys=True).encode()).hexdigest()


def _raw_array(ws: Workspace, spec: dict[str, Any], key: str) -> np.ndarray:
    from tinyops.registry import datasets

    return np.asarray(datasets.load_arrays(ws, datasets.resolve(ws, spec["dataset"]))[key])


def _raw_rows(x: np.ndarray, spec: dict[str, Any], count: int) -> tuple[np.ndarray, str]:
    """The first ``count`` raw signals of the model's validation rows (same split as training)."""
    from tinyops.ml import dataprep

    idx = dataprep.split_indices(len(x), spec["split"], int(spec["seed"]))
    part = next((p for p in ("validation", "test", "train") if len(idx[p])), "train")
    return np.clip(np.round(x[idx[part][:count]]), -32768, 32767).astype(np.int16), part


def _is_int16(x: np.ndarray) -> bool:
    if x.dtype.kind in "iu":
        return bool(x.size) and int(x.min()) >= -32768 and int(x.max()) <= 32767
    return x.dtype.kind == "f" and bool(np.all(np.isfinite(x))) and bool(np.all(x == np.round(x))) \
        and float(np.abs(x).max(initial=0)) <= 32767


def _add_steps(ws: Workspace, defs: list[dict[str, Any]], spec: dict[str, Any], tflite: bytes, files: dict[str, bytes],
               extra: dict[str, Any], info: dict[str, Any], golden_count: int, runtime_kind: str) -> None:
    from tinyops.runtimes import tflite_file

    key = (defs[0].get("params") or {}).get("key", ["X"])
    key = key[0] if isinstance(key, list) else key
    x = _raw_array(ws, spec, key)
    if not _is_int16(x):
        extra["features"] = dict(info, computed_on="host",
                                 reason=f"{spec['dataset']}:{key} does not hold int16 sensor counts")
        return
    try:
        chain = fixed_steps.compile_chain(defs, x.shape[1:])
    except InputError as e:
        extra["features"] = dict(info, computed_on="host", reason=e.message)
        return
    raw, part = _raw_rows(x, spec, golden_count)
    t = tflite_file.read(tflite).input_tensors[0]
    scale, zp = t.quantization.scale[0], t.quantization.zero_point[0]
    blob = feature_image.steps_blob(chain, scale, zp)
    files["features.bin"] = blob
    files["model.img"] = feature_image.raw_image(blob, files["model.img"])
    xq = feature_image.steps_reference_int8(chain, raw, scale, zp)  # (N, windows, ...)
    mq, ys = golden.golden_vectors_q(xq.reshape((-1,) + xq.shape[2:]), tflite, runtime_kind)
    files["golden.npz"] = golden.npz_bytes({"inputs": raw, "outputs": ys.reshape(len(raw), -1), "model_inputs": mq})
    extra["golden"] = dict(extra.get("golden") or {}, count=int(len(raw)), input="raw int16 samples",
                           rows=f"{spec['dataset']}:{part}")
    extra["features"] = dict(info, computed_on="device", file="features.bin", bytes=len(blob),
                             windows=int(chain["windows"]),
                             raw_input={"dtype": "int16", "samples": int(np.prod(x.shape[1:])),
                                        "shape": [int(v) for v in x.shape[1:]]})


def add_pipeline(ws: Workspace, mv: ModelVersion, profile: Any, tflite: bytes, files: dict[str, bytes],
                 extra: dict[str, Any], golden_count: int, runtime_kind: str) -> None:
    """Put the model's feature pipeline into ``files``/``extra`` (in place); no-op without one."""
    from tinyops.runtimes import tflite_file

    refs, defs, spec = model_features(ws, mv)
    if not defs:
        return
    d = feature_image.device_pipeline(defs)
    info: dict[str, Any] = {"kind": defs[0]["kind"] if len(defs) == 1 else "chain", "refs": refs,
                            "definitions": defs}
    if d is not None:
        info["definition"] = d
    if not (profile.is_mcu and "model.img" in files):  # the Pi agent computes them from raw input
        key = (defs[0].get("params") or {}).get("key", ["X"])
        shape = _raw_array(ws, spec, key[0] if isinstance(key, list) else key).shape[1:]
        extra["features"] = dict(info, computed_on="host", raw_input={"shape": [int(v) for v in shape]})
        return
    if d is None:
        if all(x.get("kind") in fixed_steps.STEP_KINDS for x in defs):
            _add_steps(ws, defs, spec, tflite, files, extra, info, golden_count, runtime_kind)
        else:
            extra["features"] = dict(info, computed_on="host", reason="a device cannot compute this chain")
        return
    key = (d.get("params") or {}).get("key", ["X"])
    key = key[0] if isinstance(key, list) else key
    raw, part = _raw_rows(_raw_array(ws, spec, key), spec, golden_count)
    t = tflite_file.read(tflite).input_tensors[0]
    scale, zp = t.quantization.scale[0], t.quantization.zero_point[0]
    blob = feature_image.pipeline_blob(d, int(raw.shape[1]), scale, zp)
    files["features.bin"] = blob
    files["model.img"] = feature_image.raw_image(blob, files["model.img"])
    xq = feature_image.reference_int8(d, raw, scale, zp)
    mq, ys = golden.golden_vectors_q(xq, tflite, runtime_kind)
    files["golden.npz"] = golden.npz_bytes({"inputs": raw, "outputs": ys, "model_inputs": mq})
    extra["golden"] = dict(extra.get("golden") or {}, count=int(len(raw)), input="raw int16 samples",
                           rows=f"{spec['dataset']}:{part}")
    extra["features"] = dict(info, computed_on="device", file="features.bin", bytes=len(blob),
                             raw_input={"dtype": "int16", "samples": int(raw.shape[1])})
