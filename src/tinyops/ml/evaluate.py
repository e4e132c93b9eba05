"""Evaluate a model version (Keras) or a variant (.tflite on a runtime) on labelled rows.

Reports accuracy, macro-F1 and the confusion matrix. For a variant also the
float model's accuracy on the *same rows* and the difference in points
(``accuracy_delta`` = variant minus float). For int8 variants also how well two
integer runtimes agree on the raw int8 outputs: ``max_lsb_diff`` (largest absolute
difference, in output LSB) and ``identical_share`` (share of rows whose whole output
vector is bit-identical) — LiteRT against TFLite Micro, or for ``tinyops-c``
TFLite Micro against our C runtime. Results are stored with the variant.

Rows: the model's own test split (drawn from its recorded seed), or every row of
``--data DATA@V`` prepared the same way as the training data.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops import atomic
from tinyops.errors import InputError, ModelError
from tinyops.registry import variants as variant_store
from tinyops.registry.refs import Ref
from tinyops.ml import dataprep
from tinyops.ml.metrics import classification

if TYPE_CHECKING:
    from tinyops.registry.models import ModelVersion
    from tinyops.registry.variants import Variant
    from tinyops.workspace import Workspace

RUNTIMES = ("keras", "litert", "tflm", "tflite-runtime", "tinyops-c")
# Which runtime an int8 result is compared with, by the runtime that produced it.
AGREEMENT_PARTNER = {"litert": "tflm", "tflm": "litert", "tflite-runtime": "tflm", "tinyops-c": "tflm"}


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Raw integer outputs of two runtimes on the same rows."""
    a64, b64 = a.astype(np.int64).reshape(len(a), -1), b.astype(np.int64).reshape(len(b), -1)
    diff = np.abs(a64 - b64)
    return {"max_lsb_diff": int(diff.max()) if diff.size else 0,
            "identical_share": float((diff.max(axis=1) == 0).mean()) if len(diff) else 1.0,
            "identical_element_share": float((diff == 0).mean()) if diff.size else 1.0,
            "prediction_agreement": float((a64.argmax(axis=1) == b64.argmax(axis=1)).mean()) if len(diff) else 1.0}


def keras_predict(ws: Workspace, model_ref: str, X: np.ndarray) -> np.ndarray:
    """Float model probabilities, cached per (artifact, rows) in the workspace so repeated
    evaluations of variants do not pay for loading TensorFlow each time."""
    from tinyops.registry import models

    mv = models.resolve(ws, model_ref)
    key = hashlib.sha256(mv.artifact_sha256.encode() + str(X.shape).encode() + np.ascontiguousarray(X).tobytes()).hexdigest()
    cache = ws.path("cache", "float-predictions", f"{key[:32]}.npy")
    if cache.is_file():
        try:
            return np.load(cache, allow_pickle=False)
        except (OSError, ValueError):
            pass
    from tinyops.extras import require
    from tinyops.ml._quiet import stdout_to_stderr
    from tinyops.ml.convert import _load_keras

    require("tensorflow", "keras", purpose="running the float (Keras) model")

    with stdout_to_stderr():
        model = _load_keras(models.artifact_bytes(ws, mv))
        probs = np.asarray(model.predict(X, verbose=0, batch_size=256))
    try:
        with atomic.writing(cache) as f:
            np.save(f, probs)
    except OSError:
        pass
    return probs


def run_variant(kind: str, tflite: bytes, X: np.ndarray, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """(raw outputs in the model's dtype, float scores) for float rows X on one runtime."""
    from tinyops.runtimes import dequantize, open_runtime, quantize

    rt = open_runtime(kind, tflite, **options)
    try:
        info_in, info_out = rt.inputs[0], rt.outputs[0]
        if tuple(info_in.shape[1:]) != tuple(X.shape[1:]) and int(np.prod(info_in.shape[1:])) == int(np.prod(X.shape[1:])):
            X = X.reshape((len(X), *info_in.shape[1:]))  # flat columns into a model made elsewhere
        if tuple(info_in.shape[1:]) != tuple(X.shape[1:]):
            raise InputError(f"rows shaped {tuple(X.shape[1:])} do not fit the model input {tuple(info_in.shape)}",
                             hint="evaluate on data prepared like the training data")
        raw = rt.run_many(quantize(X, info_in))
    finally:
        rt.close()
    return raw, dequantize(raw, info_out)


def evaluate(ws: Workspace, target: ModelVersion | Variant, *, data: str | None = None, runtime: str | None = None,
             store: bool = True) -> dict[str, Any]:
    import os

    # Whichever step first imports TensorFlow (the float model, a runtime's compiler), keep it quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.time()
    if runtime is not None and runtime not in RUNTIMES:
        raise InputError(f"unknown runtime '{runtime}'", hint=f"use one of {', '.join(RUNTIMES)}")
    from tinyops.registry import models

    variant = target if isinstance(target, variant_store.Variant) else None
    mv = models.resolve(ws, Ref(target.name, target.version)) if variant else target
    spec = dataprep.model_spec(ws, mv)
    prep, rows_name = dataprep.rows_for(ws, spec, data, "test")
    if prep.y is None or len(prep.y) == 0:
        raise InputError(f"no labelled rows to evaluate on in {rows_name}", hint="pass --data with a labelled dataset")
    labels = spec["labels"] or prep.labels
    n_classes = len(labels)
    if variant is None:
        if mv.format != "keras":
            raise InputError(f"{mv.ref} is a {mv.format} model; evaluate runs .keras models or variants",
                             hint=f"evaluate a variant, e.g. {mv.ref}:int8 (`tinyops variants {mv.ref}`)")
        if runtime not in (None, "keras"):
            raise InputError(f"{mv.ref} is a Keras model; runtime '{runtime}' runs converted variants",
                             hint=f"convert first (`tinyops convert {mv.ref} --quant int8`) and evaluate {mv.ref}:int8")
        probs = keras_predict(ws, mv.ref, prep.X)
        out = {"ref": mv.ref, "runtime": "keras", "data": rows_name, "labels": labels,
               **classification(prep.y, probs.argmax(axis=-1), n_classes)}
        out["duration_s"] = round(time.time() - t0, 3)
        return out

    v = variant
    kind = runtime or "litert"
    if kind == "keras":
        raise InputError(f"{v.ref} is a .tflite variant; keras runs the float model",
                         hint=f"use --runtime litert|tflm, or evaluate {mv.ref}")
    tflite = variant_store.blob_bytes(ws, v)
    want = tuple((v.details.get("inputs") or [{}])[0].get("shape") or ())[1:]
    if want and prep.sample_shape != want and int(np.prod(want)) == int(np.prod(prep.sample_shape)):
        prep.X = prep.X.reshape((len(prep.X), *want))  # flat columns into a model made elsewhere
    try:
        raw, scores = run_variant(kind, tflite, prep.X)
    except ModelError as e:
        raise ModelError(f"{v.ref} does not run on {kind}: {e.message}",
                         hint="TFLite Micro runs int8 variants; try --runtime litert" if kind == "tflm" else e.hint) from e
    result = {"ref": v.ref, "runtime": kind, "data": rows_name, "labels": labels,
              **classification(prep.y, scores.argmax(axis=-1), n_classes)}
    if mv.format != "keras":  # no float Keras model to compare with (SavedModel or .tflite made elsewhere)
        return _finish(ws, v, kind, tflite, prep, raw, scores, result, t0, store)
    float_probs = keras_predict(ws, mv.ref, prep.X)
    float_metrics = classification(prep.y, float_probs.argmax(axis=-1), n_classes)
    result["float_accuracy"] = float_metrics["accuracy"]
    result["float_macro_f1"] = float_metrics["macro_f1"]
    result["accuracy_delta"] = round((result["accuracy"] - float_metrics["accuracy"]) * 100.0, 4)
    result["agreement_with_float"] = float((scores.argmax(axis=-1) == float_probs.argmax(axis=-1)).mean())
    return _finish(ws, v, kind, tflite, prep, raw, scores, result, t0, store)


def _finish(ws: Workspace, v: Any, kind: str, tflite: bytes, prep: Any, raw: np.ndarray, scores: np.ndarray,
            result: dict[str, Any], t0: float, store: bool) -> dict[str, Any]:
    if v.quant == "int8":
        partner = AGREEMENT_PARTNER[kind]
        other, _ = run_variant(partner, tflite, prep.X)
        pair = agreement(raw, other)
        result.update({"agreement_with": partner, **pair})
        if "litert" in (kind, partner):
            # LiteRT's default XNNPACK delegate rounds differently; its builtin kernels are TFLM's.
            tflm_raw = raw if kind == "tflm" else other
            plain = agreement(run_variant("litert", tflite, prep.X, xnnpack=False)[0], tflm_raw)
            result["litert_builtin_vs_tflm"] = {k: plain[k] for k in ("max_lsb_diff", "identical_share")}
    result["duration_s"] = round(time.time() - t0, 3)
    if store:
        variant_store.set_evaluation(ws, v, f"{kind}|{result['data']}", {k: val for k, val in result.items() if k != "labels"})
    return result
