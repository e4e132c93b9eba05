"""Bring your own model: register a .keras file, a SavedModel folder or a .tflite made elsewhere.

Everything is checked before anything is stored: the file's format, the dataset and
keys given with ``--data`` (recorded as what the model expects), and for a .tflite
its tensors. A .tflite becomes the variant ``NAME@N:int8`` (int8 input and output)
or ``NAME@N:float32`` at once, ready for evaluate, build, flash and rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops.errors import InputError, ModelError
from tinyops.registry import models, variants as variant_store

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


@dataclass
class Registered:
    model: models.ModelVersion
    variant: variant_store.Variant | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.model.to_dict(), "variant": self.variant.ref if self.variant else None}


def _tflite_variant(data: bytes, label: str) -> tuple[str, list[str], dict[str, Any]]:
    from tinyops.ml.convert import describe

    ops, details = describe(data)
    io = [t["dtype"] for t in details["inputs"] + details["outputs"]]
    if len(details["inputs"]) != 1:
        raise InputError(f"{label} has {len(details['inputs'])} inputs; tinyops runs models with one input",
                         hint="export the model with a single input tensor")
    if all(d == "int8" for d in io):
        return "int8", ops, details
    if all(d == "float32" for d in io):
        return "float32", ops, details
    raise InputError(f"{label} has {'/'.join(sorted(set(io)))} inputs/outputs",
                     hint="register a float32 model, or one fully quantized with int8 input and output")


def register_file(ws: Workspace, name: str, path: Path | str, *, data: str | None = None, inputs: list[str] | None = None,
                  label: str | None = None, description: str = "") -> Registered:
    """Check, then store the model version (and, for a .tflite, its variant)."""
    from tinyops.registry.refs import validate_name

    validate_name(name, "model name")
    blob, fmt = models.read_artifact(path)
    expects: dict[str, Any] = {}
    if data is None and (inputs or label):
        raise InputError("--inputs and --label describe the --data dataset", hint="add --data DATA@V")
    if data is not None:
        from tinyops.ml.dataprep import _label_names, guess_data
        from tinyops.registry import datasets

        dv = datasets.resolve(ws, data)
        arrays = datasets.load_arrays(ws, dv)
        spec = guess_data(arrays, inputs, label, dv.ref)
        expects = {"dataset": dv.ref, **{k: spec[k] for k in ("inputs", "label")}}
        if spec["label"]:
            expects["labels"] = _label_names(arrays[spec["label"]])
    quant, ops, details, arena = None, [], {}, None
    if fmt == "tflite":
        quant, ops, details = _tflite_variant(blob, Path(path).name)
        if quant == "int8":
            from tinyops.extras import installed
            from tinyops.runtimes.arena import measure_arena

            if installed("tflite_micro"):
                try:
                    arena = measure_arena(blob, cache=ws)
                except ModelError as e:
                    details["arena_error"] = str(e)
    mv = models.register(ws, name, blob, fmt=fmt, expects=expects, description=description)
    variant = None
    if quant is not None:
        variant, _ = variant_store.add(ws, mv.ref, quant, blob, ops=ops, details=details,
                                       params={"source": "registered .tflite"}, arena_bytes=arena)
    return Registered(mv, variant)
