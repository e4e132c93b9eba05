"""What a build carries about its data: golden vectors and the baseline bins.

Golden vectors are K validation rows of the model's own training data (the
dataset version, feature definitions and seeded split recorded by its training
run) with the outputs of the runtime family the device uses, so a device can
self-test after an update. Baseline bins (one histogram per input feature, on
the model input's last axis, in the float domain) are what field telemetry is
later compared against for drift.
"""

from __future__ import annotations

import fnmatch
import io
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError

if TYPE_CHECKING:
    from tinyops.registry.models import ModelVersion
    from tinyops.workspace import Workspace

GOLDEN_COUNT = 8
# Inputs with more elements than this are pooled on their last axis for drift.
MAX_ELEMENT_FEATURES = 1024
# A fixed timestamp inside the zip, so the same arrays always give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def training_rows(ws: Workspace, mv: ModelVersion) -> dict[str, Any]:
    """The model's prepared inputs split as in training: X_train, X_val, spec."""
    from tinyops.ml import dataprep

    spec = dataprep.model_spec(ws, mv)
    if spec["split"] is None:  # a model registered from a file: every row of the data it expects
        prep, _ = dataprep.rows_for(ws, spec, None, "train")
        return {"spec": spec, "X_train": prep.X, "X_val": prep.X, "labels": prep.labels, "part": "all"}
    prep = dataprep.prepare(ws, spec["dataset"], spec["data"], labels=spec["labels"] or None)
    idx = dataprep.split_indices(len(prep.X), spec["split"], int(spec["seed"]))
    val = idx["validation"] if len(idx["validation"]) else (idx["test"] if len(idx["test"]) else idx["train"])
    return {"spec": spec, "X_train": prep.X[idx["train"]], "X_val": prep.X[val], "labels": prep.labels,
            "part": "validation" if len(idx["validation"]) else ("test" if len(idx["test"]) else "train")}


def fit_shape(x: np.ndarray, sample_shape: tuple[int, ...], where: str) -> np.ndarray:
    """Rows (N, ...) reshaped to the model's sample shape, when the element counts agree."""
    if tuple(x.shape[1:]) == tuple(sample_shape):
        return x
    if int(np.prod(x.shape[1:])) != int(np.prod(sample_shape)):
        raise InputError(f"{where}: data rows of shape {tuple(x.shape[1:])} do not match the model input {sample_shape}",
                         hint="the model was trained on other data; rebuild from a model trained by `tinyops train`")
    return x.reshape((x.shape[0], *sample_shape))


def golden_vectors(x_float: np.ndarray, tflite: bytes, runtime_kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Quantize K float rows to the model input dtype and run them through ``runtime_kind``."""
    from tinyops.runtimes import open_runtime, quantize

    rt = open_runtime(runtime_kind, tflite)
    try:
        info = rt.inputs[0]
        xs = fit_shape(np.asarray(x_float, np.float32), tuple(info.shape[1:]), "golden vectors")
        xq = quantize(xs, info)
        ys = rt.run_many(xq)
    finally:
        close = getattr(rt, "close", None)
        if close:
            close()
    return xq, np.asarray(ys)


def golden_vectors_q(xq: np.ndarray, tflite: bytes, runtime_kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Already quantized inputs through ``runtime_kind``: (inputs, outputs)."""
    from tinyops.runtimes import open_runtime

    rt = open_runtime(runtime_kind, tflite)
    try:
        xs = fit_shape(np.asarray(xq), tuple(rt.inputs[0].shape[1:]), "golden vectors")
        ys = rt.run_many(xs)
    finally:
        close = getattr(rt, "close", None)
        if close:
            close()
    return xs, np.asarray(ys)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Like numpy.savez, but byte-for-byte reproducible (fixed zip timestamps and order)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            body = io.BytesIO()
            np.lib.format.write_array(body, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            z.writestr(info, body.getvalue())
    return buf.getvalue()


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def baseline(ws: Workspace, spec: dict[str, Any], x_train: np.ndarray, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """Histogram bins per input feature, float domain.

    Every input element is a feature (``axis: "element"``): named after its
    dataset column when the model's inputs are plain columns, else by its index
    (``X[3,4]``). A recipe may pool instead (``[monitor] pooling = "last-axis"``:
    one feature per position on the last axis, e.g. per IMU channel); inputs
    with more than MAX_ELEMENT_FEATURES elements are pooled that way too. When
    the features are plain numeric columns of the training dataset with no
    feature transform, the dataset version's own baseline statistics are used
    (same bins as `tinyops data show`); otherwise the bins are computed the
    same way from the prepared training rows.
    """
    from tinyops.registry import dataset_stats, datasets

    x = fit_shape(np.asarray(x_train, np.float32), sample_shape, "baseline")
    elements = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    last = x.shape[-1] if x.ndim > 1 else 1
    pooling = _pooling(ws, spec)
    per_element = pooling == "none" and last < elements <= MAX_ELEMENT_FEATURES
    n_feat = elements if per_element else last
    data = spec["data"]
    key = "input"
    if not data.get("features"):
        dv = datasets.resolve(ws, spec["dataset"])
        cols = _matched_columns([s["name"] for s in dv.schema], list(data["inputs"]), data.get("label"))
        arrays = {s["name"]: s.get("shape") or [] for s in dv.schema}
        if len(cols) == 1 and arrays.get(cols[0]):  # one N-d array
            key = cols[0]
            cols = [] if per_element else [f"{cols[0]}[{i}]" for i in range(arrays[cols[0]][-1])]
        if cols and len(cols) == n_feat:
            feats = datasets.baseline_features(dv, cols)
            if len(feats) == n_feat:
                return {"features": feats, "axis": "element" if per_element else "last", "source": dv.ref}
    if per_element:
        shape = x.shape[1:]
        names = [f"{key}[{','.join(map(str, np.unravel_index(i, shape)))}]" for i in range(elements)]
        _schema, stats, _rows = dataset_stats.array_schema_and_stats({"input": x.reshape(-1, elements)})
        feats = dataset_stats.baseline_from_stats(stats, [f"input[{i}]" for i in range(elements)])
        if len(feats) == elements:
            for f, name in zip(feats, names):
                f["name"] = name
            return {"features": feats, "axis": "element", "shape": list(shape),
                    "source": f"{spec['dataset']}:train rows as model input"}
        n_feat = last  # a constant element has no bins: fall back to pooling
    _schema, stats, _rows = dataset_stats.array_schema_and_stats({"input": x.reshape(-1, n_feat)})
    feats = dataset_stats.baseline_from_stats(stats, [f"input[{i}]" for i in range(n_feat)])
    return {"features": feats, "axis": "last", "source": f"{spec['dataset']}:train rows as model input"}


def _pooling(ws: Workspace, spec: dict[str, Any]) -> str:
    """What the model's recipe declares under [monitor] pooling ("none" when it says nothing)."""
    if not spec.get("run"):
        return "none"
    from tinyops.registry import runs

    recipe = runs.get(ws, spec["run"]).recipe or {}
    return str((recipe.get("monitor") or {}).get("pooling", "none"))


def _matched_columns(names: list[str], patterns: list[str], label: str | None) -> list[str]:
    cols: list[str] = []
    for pat in patterns:
        cols.extend(n for n in names if fnmatch.fnmatchcase(n, pat) and n != label and n not in cols)
    return cols
