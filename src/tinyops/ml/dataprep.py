"""From a dataset version to model inputs: features, input selection, labels, split.

Training, conversion (calibration) and evaluation all go through here, so a model
sees its data prepared the same way every time. What a model was trained with is
read back from its run (:func:`model_spec`), so later steps need no recipe file.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError

if TYPE_CHECKING:
    from tinyops.registry.models import ModelVersion
    from tinyops.workspace import Workspace


@dataclass
class Prepared:
    X: np.ndarray  # float32, (N, *sample_shape)
    y: np.ndarray | None  # int64 class indices, or None when no labels were asked for
    labels: list[str]
    dataset: str
    features: list[str]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])


def _label_names(values: np.ndarray) -> list[str]:
    """Class names sorted naturally: numbers numerically (digits 0..9), text alphabetically."""
    uniq = np.unique(values)
    if uniq.dtype.kind in "fiu":
        return [_num_name(v) for v in sorted(uniq.tolist())]
    return sorted(str(v) for v in uniq.tolist())


def _num_name(v: Any) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


def _as_names(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiu":
        return np.array([_num_name(v) for v in values.tolist()], dtype=object)
    return values.astype(str).astype(object)


def apply_features(ws: Workspace, refs: list[str], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Apply feature definitions from the feature store, in order."""
    if not refs:
        return arrays
    from tinyops.registry import features as feature_store
    from tinyops.ml import feature_cache

    for ref in refs:
        arrays = feature_cache.apply(feature_store.resolve(ws, ref).definition, arrays)
    return arrays


def select_inputs(arrays: dict[str, np.ndarray], patterns: list[str], label: str | None, where: str) -> np.ndarray:
    """One array named exactly (``X``), or columns matched by names/glob patterns stacked in order."""
    if len(patterns) == 1 and patterns[0] in arrays and arrays[patterns[0]].ndim >= 2:
        return np.asarray(arrays[patterns[0]])
    cols: list[str] = []
    for pat in patterns:
        hits = [k for k in arrays if fnmatch.fnmatchcase(k, pat) and k != label and k not in cols]
        if not hits:
            raise InputError(f"{where}: no column or array matches input `{pat}`",
                             hint=f"available: {', '.join(list(arrays)[:12])}{' …' if len(arrays) > 12 else ''}")
        cols.extend(hits)
    bad = [c for c in cols if arrays[c].dtype.kind not in "fiub"]
    if bad:
        raise InputError(f"{where}: input column `{bad[0]}` is not numeric", hint="select numeric columns only")
    return np.stack([np.asarray(arrays[c]) for c in cols], axis=-1)


def prepare(ws: Workspace, dataset_ref: str, data: dict[str, Any], *, labels: list[str] | None = None,
            need_labels: bool = True) -> Prepared:
    """Load ``dataset_ref`` and turn it into X (float32) and y (class indices) per a recipe's [data]."""
    from tinyops.registry import datasets

    dv = datasets.resolve(ws, dataset_ref)
    arrays = apply_features(ws, list(data.get("features") or []), datasets.load_arrays(ws, dv))
    label = data.get("label")
    if need_labels and label not in arrays:
        raise InputError(f"{dv.ref} has no label column `{label}`",
                         hint=f"set [data] label to one of: {', '.join(arrays)}")
    X = select_inputs(arrays, list(data["inputs"]), label, dv.ref).astype(np.float32)
    if data.get("reshape"):
        shape = tuple(int(d) for d in data["reshape"])
        if int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise InputError(f"{dv.ref}: samples of shape {tuple(X.shape[1:])} cannot be reshaped to {shape}",
                             hint="fix [data] reshape (its product must equal the number of input values)")
        X = X.reshape((X.shape[0], *shape))
    if not np.isfinite(X).all():
        raise InputError(f"{dv.ref}: inputs contain NaN or infinite values", hint="clean the data or add a clip feature")
    y = None
    if need_labels and label in arrays:
        raw = np.asarray(arrays[label])
        if raw.shape[0] != X.shape[0]:
            raise InputError(f"{dv.ref}: {raw.shape[0]} labels for {X.shape[0]} samples", hint="check the label array")
        labels = labels or _label_names(raw)
        index = {name: i for i, name in enumerate(labels)}
        names = _as_names(raw)
        unknown = sorted({n for n in names.tolist() if n not in index})
        if unknown:
            raise InputError(f"{dv.ref}: labels {unknown[:5]} were not seen in training",
                             hint=f"the model knows {', '.join(labels)}")
        y = np.array([index[n] for n in names.tolist()], dtype=np.int64)
    return Prepared(X, y, list(labels or []), dv.ref, list(data.get("features") or []))


def split_indices(n: int, split: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """A random split drawn from the seed: disjoint train/validation/test index arrays."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * float(split["validation"])))
    n_test = int(round(n * float(split["test"])))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise InputError(f"the split leaves no training rows out of {n}", hint="raise [split] train")
    return {"train": np.sort(perm[:n_train]), "validation": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}


def indices_sha256(idx: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in ("train", "validation", "test"):
        h.update(k.encode() + np.asarray(idx[k], np.int64).tobytes())
    return h.hexdigest()


def guess_data(arrays: dict[str, np.ndarray], inputs: list[str] | None, label: str | None,
               where: str) -> dict[str, Any]:
    """A [data] section for a model made elsewhere: the given keys, else one 2-D+ array or the
    numeric columns other than the label (``label`` by default)."""
    if label is None:
        label = "label" if "label" in arrays else ("y" if "y" in arrays else None)
    elif label not in arrays:
        raise InputError(f"{where} has no label column `{label}`", hint=f"pick one of: {', '.join(arrays)}")
    if not inputs:
        arrays_2d = [k for k, v in arrays.items() if k != label and v.ndim >= 2]
        if len(arrays_2d) == 1:
            inputs = arrays_2d
        else:
            inputs = [k for k, v in arrays.items() if k != label and v.ndim == 1 and v.dtype.kind in "fiub"]
        if not inputs:
            raise InputError(f"{where} has no numeric input columns", hint="name them with --inputs")
    select_inputs(arrays, list(inputs), label, where)  # the clear error for a bad key, now
    return {"inputs": list(inputs), "label": label, "reshape": None, "features": []}


def model_spec(ws: Workspace, mv: ModelVersion) -> dict[str, Any]:
    """How a registered model's data was prepared: recipe [data] and [split], seed, labels, dataset.

    For a model registered from a file, what `model register --data` recorded (``split`` is
    None: every row of that dataset); with nothing recorded, ``data`` and ``dataset`` are None.
    """
    from tinyops.registry import runs

    if not mv.run_id:
        e = mv.expects or {}
        data = {"inputs": e["inputs"], "label": e.get("label"), "reshape": None, "features": []} if e.get("inputs") else None
        return {"model": mv.ref, "run": None, "data": data, "split": None, "seed": 0, "dataset": e.get("dataset"),
                "labels": e.get("labels", []), "input_shape": None, "format": mv.format}
    run = runs.get(ws, mv.run_id)
    if not run.recipe or "data" not in run.recipe:
        raise InputError(f"{mv.ref}'s run {run.id} has no recipe", hint="train it with `tinyops train RECIPE.toml`")
    return {"model": mv.ref, "run": run.id, "data": run.recipe["data"], "split": run.recipe["split"],
            "seed": run.seed, "dataset": run.params.get("dataset") or (run.datasets[0] if run.datasets else None),
            "labels": run.params.get("labels", []), "input_shape": run.params.get("input_shape"),
            "format": mv.format}


def rows_for(ws: Workspace, spec: dict[str, Any], data_ref: str | None, part: str = "test") -> tuple[Prepared, str]:
    """The rows to evaluate or calibrate on, and a name for them.

    With ``data_ref``: every row of that dataset version. Without: the ``part`` of the
    model's own split (test, falling back to validation, then everything).
    """
    data_ref = data_ref or (spec["dataset"] if spec["split"] is None else None)
    if spec["data"] is None:
        if not data_ref:
            flag = "--calibration" if part == "calibration" else "--data"
            raise InputError(f"{spec['model']} was registered without data, so tinyops does not know its inputs",
                             hint=f"pass {flag} DATA@V, or register it with `tinyops model register NAME FILE --data DATA@V`")
        from tinyops.registry import datasets

        dv = datasets.resolve(ws, data_ref)
        spec = {**spec, "data": guess_data(datasets.load_arrays(ws, dv), None, None, dv.ref)}
    if data_ref:
        prep = prepare(ws, data_ref, spec["data"], labels=spec["labels"] or None, need_labels=part != "calibration")
        return prep, f"{prep.dataset}:all"
    prep = prepare(ws, spec["dataset"], spec["data"], labels=spec["labels"] or None)
    idx = split_indices(len(prep.X), spec["split"], int(spec["seed"]))
    order = {"test": ("test", "validation"), "train": ("train",), "calibration": ("train",)}[part]
    for name in order:
        if len(idx[name]):
            sel = idx[name]
            return Prepared(prep.X[sel], None if prep.y is None else prep.y[sel], prep.labels, prep.dataset,
                            prep.features), f"{prep.dataset}:{name}"
    return prep, f"{prep.dataset}:all"
