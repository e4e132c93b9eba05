"""Retraining with field data.

1. ``sample_table``/``export_samples``: the reservoir samples devices sent in
   their telemetry windows, each with an id (``w<window>-<index>``), device,
   build and on-device prediction, for a person (or a labelling tool) to label.
2. ``field_dataset``: the samples named in a labels file (``sample,label`` CSV)
   become a dataset version holding ``x``, ``label`` and, for lineage, the
   ``device``, ``window`` and ``build`` of every row.
3. ``retrain``: reruns the recipe of a model's version on the union of its
   training data and the given datasets → a new run and model version whose
   parent is the old one.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops import atomic
from tinyops.errors import InputError, NotFoundError
from tinyops.registry import datasets, models, runs
from tinyops.registry import telemetry as tel

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

FIELD_SOURCE = "field samples"


def sample_table(ws: Workspace, *, builds: list[str] | None = None, devices: list[str] | None = None,
                 since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Every stored reservoir sample (without its input values) matching the filters."""
    out = []
    for w in tel.load_windows(ws, builds=builds, devices=devices, since=since, until=until, with_samples=True):
        for i, s in enumerate(w.sample or []):
            out.append({"sample": f"w{w.id}-{i}", "device": w.device, "build": w.build, "window": w.id,
                        "end": w.end, "pred": s["pred"]})
    return out


def export_samples(ws: Workspace, out: str | Path, **filters: Any) -> dict[str, Any]:
    """Write the sample table as CSV with an empty ``label`` column to fill in."""
    rows = sample_table(ws, **filters)
    if not rows:
        raise NotFoundError("no reservoir samples stored for that selection",
                            hint="enable the reservoir in the agent config (telemetry reservoir = 16) and collect again")
    path = Path(out)
    with atomic.writing(path, text=True, newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["sample", "device", "build", "window", "pred", "label"])
        for r in rows:
            wr.writerow([r["sample"], r["device"], r["build"], r["window"], r["pred"], ""])
    return {"path": str(path), "samples": len(rows), "devices": sorted({r["device"] for r in rows})}


def _read_labels(path: str | Path) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"cannot read the labels file {path}: {e.strerror}", hint="give a CSV with columns sample,label") from e
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "sample" not in reader.fieldnames or "label" not in reader.fieldnames:
        raise InputError(f"{path} needs the columns sample and label", hint="start from `tinyops field samples --out FILE`")
    labels = {}
    for row in reader:
        sid, lab = (row.get("sample") or "").strip(), (row.get("label") or "").strip()
        if sid and lab:
            labels[sid] = lab
    if not labels:
        raise InputError(f"{path} labels no samples", hint="fill in the label column for at least one sample")
    return labels


def field_dataset(ws: Workspace, name: str, labels_file: str | Path) -> tuple[datasets.DatasetVersion, bool]:
    """Labelled field samples → a dataset version with lineage to devices, windows and builds."""
    labels = _read_labels(labels_file)
    wanted: dict[int, list[tuple[int, str, str]]] = {}
    for sid, lab in labels.items():
        try:
            wid, idx = sid[1:].split("-")
            wanted.setdefault(int(wid), []).append((int(idx), lab, sid))
        except ValueError:
            raise InputError(f"'{sid}' is not a sample id", hint="ids look like w12-3 (window 12, sample 3)") from None
    xs, ys, devs, wins, blds = [], [], [], [], []
    found: set[str] = set()
    windows = {w.id: w for w in tel.load_windows(ws, with_samples=True) if w.id in wanted}
    for wid, items in sorted(wanted.items()):
        w = windows.get(wid)
        for idx, lab, sid in sorted(items):
            if w is None or not w.sample or idx >= len(w.sample):
                continue
            s = w.sample[idx]
            shape = s["shape"][1:] if len(s["shape"]) > 1 and s["shape"][0] == 1 else s["shape"]
            xs.append(np.asarray(s["x"], dtype=np.float32).reshape(shape))
            ys.append(lab)
            devs.append(w.device)
            wins.append(w.id)
            blds.append(w.build)
            found.add(sid)
    missing = sorted(set(labels) - found)
    if missing:
        raise NotFoundError(f"{len(missing)} labelled sample(s) are not stored: {', '.join(missing[:5])}",
                            hint="use the ids from `tinyops field samples`")
    if len({x.shape for x in xs}) != 1:
        raise InputError("the labelled samples have different input shapes (several models?)",
                         hint="label samples of one model's builds per dataset")
    digest = hashlib.sha256(Path(labels_file).read_bytes()).hexdigest()[:12]
    source = (f"{FIELD_SOURCE}: devices {','.join(sorted(set(devs)))}; windows {min(wins)}..{max(wins)}; "
              f"builds {','.join(sorted(set(blds)))}; labels {Path(labels_file).name} sha256 {digest}")
    return datasets.add_arrays(ws, name, {"x": np.stack(xs), "label": np.array(ys), "device": np.array(devs),
                                          "window": np.array(wins, dtype=np.int64), "build": np.array(blds)},
                               source=source)


def _original_layout(arrays: dict[str, np.ndarray], data: dict[str, Any]) -> tuple[list[str] | None, tuple[int, ...]]:
    """Which input columns (None: one N-d array) and the per-sample shape before [data] reshape."""
    from tinyops.ml.dataprep import select_inputs

    pats = list(data["inputs"])
    x0 = select_inputs(arrays, pats, data.get("label"), "training data")
    if len(pats) == 1 and pats[0] in arrays and arrays[pats[0]].ndim >= 2:
        return None, tuple(x0.shape[1:])
    import fnmatch

    cols: list[str] = []
    for p in pats:
        cols.extend(k for k in arrays if fnmatch.fnmatchcase(k, p) and k != data.get("label") and k not in cols)
    return cols, tuple(x0.shape[1:])


def _as_label_dtype(values: np.ndarray, like: np.ndarray, where: str) -> np.ndarray:
    if like.dtype.kind in "fiu":
        try:
            return values.astype(np.float64).astype(like.dtype)
        except ValueError:
            raise InputError(f"{where}: labels are not numbers like the training labels",
                             hint="label with the model's class names") from None
    return values.astype(like.dtype if like.dtype.kind == "U" else str)


def union_arrays(ws: Workspace, spec: dict[str, Any], extra: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The training data plus every row of the extra datasets, and the recipe's new ``inputs``.

    Inputs are stored as one array ``X`` (samples × the shape [data] reshape
    starts from) in the model's input order: column datasets would otherwise
    come back from NPZ in sorted-name order (p0, p1, p10…) and scramble inputs.
    """
    orig = datasets.resolve(ws, spec["dataset"])
    base = datasets.load_arrays(ws, orig)
    data = spec["data"]
    label = data["label"]
    raw = bool(data.get("features"))  # the recipe computes features: union raw data (e.g. WAV clips), uncast
    if raw and any((datasets.resolve(ws, r).source or "").startswith(FIELD_SOURCE) for r in extra):
        raise InputError(f"{spec['model']} was trained through feature transforms; field samples are model inputs",
                         hint="retrain from a recipe without [data] features, or add raw data in the training layout")
    from tinyops.ml.dataprep import _as_names, select_inputs

    cols, pre_shape = _original_layout(base, data)
    key = "X" if label != "X" else "inputs"
    xs = [select_inputs(base, list(data["inputs"]), label, orig.ref)]
    xs[0] = xs[0] if raw else xs[0].astype(np.float32)
    ys = [np.asarray(base[label])]
    known = set(spec["labels"])
    input_shape = tuple(spec.get("input_shape") or ())
    for ref in extra:
        dv = datasets.resolve(ws, ref)
        a = datasets.load_arrays(ws, dv)
        if "x" in a and "label" in a and dv.source.startswith(FIELD_SOURCE):
            x = np.asarray(a["x"], dtype=np.float32)
            if input_shape and tuple(x.shape[1:]) != input_shape:
                raise InputError(f"{dv.ref}: samples of shape {tuple(x.shape[1:])}, the model takes {input_shape}",
                                 hint="these samples come from another model's builds")
            xs.append(x.reshape((len(x), *pre_shape)))
            labs = np.asarray(a["label"])
        else:
            need = ([data["inputs"][0]] if cols is None else cols) + [label]
            missing = [k for k in need if k not in a][:5]
            if missing:
                raise InputError(f"{dv.ref} has the wrong schema for {spec['model']}: missing {', '.join(missing)}",
                                 hint=f"give field samples (`tinyops field add`) or data with columns like {orig.ref}")
            x = select_inputs(a, list(data["inputs"]), label, dv.ref)
            x = x.astype(xs[0].dtype) if raw else x.astype(np.float32)
            if x.shape[1:] != pre_shape:
                raise InputError(f"{dv.ref}: inputs of shape {x.shape[1:]}, {orig.ref} has {pre_shape}",
                                 hint="add data with the training data's schema")
            xs.append(x)
            labs = np.asarray(a[label])
        unknown = sorted(set(_as_names(labs).tolist()) - known) if known else []
        if unknown:
            raise InputError(f"{dv.ref}: labels {unknown[:5]} are not classes of {spec['model']}",
                             hint=f"the model knows {', '.join(sorted(known))}")
        ys.append(_as_label_dtype(labs, ys[0], dv.ref))
    return {key: np.concatenate(xs), label: np.concatenate(ys)}, [key]


def retrain(ws: Workspace, model_ref: str, with_refs: list[str], *, seed: int | None = None,
            progress: Any = None) -> dict[str, Any]:
    """Rerun MODEL's recipe on its data ∪ ``with_refs`` → new run and model version (parent: the old one)."""
    from tinyops.ml import dataprep, train as trainer

    if not with_refs:
        raise InputError("no data to retrain with", hint="pass --with DATA@V[,DATA@V…]")
    mv = models.resolve(ws, model_ref)
    spec = dataprep.model_spec(ws, mv)
    # The stored recipe is the normalised one; unset options come back as None,
    # which the validator reads as "wrong type" — drop them to get the defaults.
    recipe = {sec: ({k: v for k, v in body.items() if v is not None} if isinstance(body, dict) else body)
              for sec, body in copy.deepcopy(runs.get(ws, spec["run"]).recipe).items()}
    refs = [datasets.resolve(ws, r).ref for r in with_refs]
    arrays, inputs = union_arrays(ws, spec, refs)  # every check before anything is written
    union, _ = datasets.add_arrays(ws, f"{mv.name}-retrain", arrays,
                                   source=f"retrain of {mv.ref}: {spec['dataset']} + {' + '.join(refs)}",
                                   parents=[spec["dataset"], *refs])
    recipe["data"]["dataset"] = union.ref
    recipe["data"]["inputs"] = inputs
    kwargs: dict[str, Any] = {"seed": spec["seed"] if seed is None else seed, "data": union.ref}
    if "parent" in inspect.signature(trainer.train).parameters:
        kwargs["parent"] = mv.ref
    if progress is not None:
        kwargs["progress"] = progress
    result = trainer.train(ws, recipe, **kwargs)
    runs.log_params(ws, result.run, {"retrained_from": mv.ref, "retrain_with": refs})
    return {"model": result.model, "previous": mv.ref, "run": result.run, "dataset": union.ref,
            "rows": union.rows, "with": refs, "metrics": result.metrics,
            "previous_metrics": mv.metrics}
