"""Convert a registered Keras model to .tflite and store it as a variant ``name@N:QUANT``.

Quantization modes:

- ``float32``: plain conversion;
- ``float16``: weights stored as float16 (dequantized at load time);
- ``dynamic``: int8 weights, float activations (dynamic-range quantization);
- ``int8``: full-integer with int8 input and output, calibrated on a representative
  set drawn (with the training seed) from the training split of the model's
  dataset version, or from ``--calibration DATA@V``. The calibration data and the
  sample count are recorded with the variant.

Converting the same thing again returns the stored variant without loading
TensorFlow.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError, ModelError
from tinyops.registry import variants as variant_store
from tinyops.ml import dataprep

if TYPE_CHECKING:
    from tinyops.registry.models import ModelVersion
    from tinyops.workspace import Workspace

DEFAULT_SAMPLES = 200


@dataclass
class ConvertResult:
    ref: str
    size_bytes: int
    created: bool
    quant: str
    sha256: str
    ops: list[str]
    calibration: str | None
    arena_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _result(v: variant_store.Variant, created: bool) -> ConvertResult:
    return ConvertResult(ref=v.ref, size_bytes=v.size_bytes, created=created, quant=v.quant, sha256=v.blob_sha256,
                         ops=v.ops, calibration=v.calibration, arena_bytes=v.arena_bytes)


def calibration_set(ws: Workspace, mv: ModelVersion, calibration: str | None,
                    samples: int) -> tuple[np.ndarray, str, str]:
    """Float inputs for int8 calibration, a name for where they came from, and their dataset version."""
    spec = dataprep.model_spec(ws, mv)
    prep, name = dataprep.rows_for(ws, spec, calibration, part="calibration")
    want = tuple(spec["input_shape"] or ())
    if want and prep.sample_shape != want:
        raise InputError(f"calibration data {name} has samples shaped {prep.sample_shape}, the model wants {want}",
                         hint="calibrate on a dataset prepared like the training data")
    if len(prep.X) == 0:
        raise InputError(f"calibration data {name} has no rows", hint="pick a dataset with rows")
    n = min(int(samples), len(prep.X))
    pick = np.sort(np.random.default_rng(int(spec["seed"] or 0)).choice(len(prep.X), n, replace=False))
    return prep.X[pick], name, prep.dataset


def describe(tflite: bytes) -> tuple[list[str], dict[str, Any]]:
    """Operators (distinct, execution order) and I/O details, read without TensorFlow."""
    from tinyops.runtimes.tflite_file import read

    m = read(tflite)

    def io(t: Any) -> dict[str, Any]:
        q = t.quantization
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                "scale": q.scale[0] if q else None, "zero_point": q.zero_point[0] if q else None}

    details = {"inputs": [io(t) for t in m.input_tensors], "outputs": [io(t) for t in m.output_tensors],
               "tensors": len(m.tensors), "operators": len(m.operators)}
    return m.op_names, details


def convert(ws: Workspace, model_ref: str, quant: str, *, calibration: str | None = None,
            samples: int = DEFAULT_SAMPLES, progress: Callable[[int, int], None] | None = None) -> ConvertResult:
    """Convert (or find) the variant ``model_ref:quant``; ``progress(done, total)`` per calibration sample."""
    from tinyops.registry import datasets, models

    variant_store.check_quant(quant)
    if samples < 1:
        raise InputError("--samples must be at least 1", hint="e.g. --samples 200")
    if calibration is not None and quant != "int8":
        raise InputError("--calibration only applies to --quant int8", hint="drop --calibration")
    mv = models.resolve(ws, model_ref)
    if mv.format == "tflite":
        have = ", ".join(v.ref for v in variant_store.list_variants(ws, mv.ref)) or "none"
        raise InputError(f"{mv.ref} was registered as a .tflite file; it is not converted again",
                         hint=f"use its variant ({have}) directly, e.g. `tinyops build {mv.ref}:int8 --device P`")
    cal_ref = datasets.resolve(ws, calibration).ref if calibration else None
    params = {"samples": int(samples)} if quant == "int8" else {}
    existing = variant_store.find(ws, mv.ref, quant)
    if existing is not None:
        v, created = variant_store.add(ws, mv.ref, quant, b"", ops=[], details={},
                                       calibration=cal_ref or existing.calibration, params=params)
        return _result(v, created)
    from tinyops.extras import require

    require("tensorflow", purpose=f"conversion to {quant}")
    rep, cal_name, cal_dataset = (None, None, None)
    if quant == "int8":
        rep, cal_name, cal_dataset = calibration_set(ws, mv, cal_ref, samples)
        params["rows"] = f"{cal_name} ({len(rep)} samples)"
    tflite = convert_bytes(models.artifact_bytes(ws, mv), quant, rep, mv.format, progress)
    ops, details = describe(tflite)
    arena = None
    if quant == "int8":
        _check_int8_io(details, mv.ref)
        from tinyops.runtimes.arena import measure_arena

        try:
            arena = measure_arena(tflite, cache=ws)
        except ModelError as e:  # the variant is still useful on LiteRT; say why TFLM cannot run it
            details["arena_error"] = str(e)
    v, created = variant_store.add(ws, mv.ref, quant, tflite, ops=ops, details=details,
                                   calibration=cal_dataset,
                                   params=params, arena_bytes=arena)
    return _result(v, created)


def _check_int8_io(details: dict[str, Any], ref: str) -> None:
    bad = [t["dtype"] for t in details["inputs"] + details["outputs"] if t["dtype"] != "int8"]
    if bad:
        raise ModelError(f"int8 conversion of {ref} left {bad[0]} inputs/outputs",
                         hint="the model uses an op without an int8 kernel; simplify the architecture")


def _load_keras(artifact: bytes) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow's first import
    import keras

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        with open(path, "wb") as f:
            f.write(artifact)
        return keras.models.load_model(path, compile=False)


CONVERT_TIMEOUT_S = 900


def convert_bytes(artifact: bytes, quant: str, rep: np.ndarray | None, fmt: str = "keras",
                  progress: Callable[[int, int], None] | None = None) -> bytes:
    """Run the TFLite converter in a child process (see :mod:`tinyops.ml.convert_worker`)."""
    import json
    import subprocess
    import sys
    import threading

    with tempfile.TemporaryDirectory() as d:
        folder = os.path.join(d, "job")
        os.mkdir(folder)
        with open(os.path.join(folder, "model.bin"), "wb") as f:
            f.write(artifact)
        with open(os.path.join(folder, "request.json"), "w") as f:
            json.dump({"quant": quant, "format": fmt}, f)
        if rep is not None:
            np.save(os.path.join(folder, "rep.npy"), np.ascontiguousarray(rep, np.float32))
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
        with open(os.path.join(d, "stderr.txt"), "w+b") as errf:
            proc = subprocess.Popen([sys.executable, "-m", "tinyops.ml.convert_worker", folder], env=env,
                                    stdout=subprocess.PIPE, stderr=errf)
            timer = threading.Timer(CONVERT_TIMEOUT_S, proc.kill)
            timer.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:  # "calibrated I N" per calibration sample
                    parts = line.split()
                    if progress and len(parts) == 3 and parts[0] == b"calibrated":
                        progress(int(parts[1]), int(parts[2]))
                proc.wait()
            finally:
                timed_out = not timer.is_alive() and proc.returncode == -9
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if timed_out:
                raise ModelError(f"conversion to {quant} did not finish in {CONVERT_TIMEOUT_S} s",
                                 hint="simplify the model, or convert a smaller one")
            errf.seek(0)
            stderr = errf.read()
        out, err = os.path.join(folder, "out.tflite"), os.path.join(folder, "error.txt")
        if proc.returncode == 0 and os.path.isfile(out):
            with open(out, "rb") as f:
                return f.read()
        if os.path.isfile(err):
            with open(err) as f:
                reason = f.read().strip()
            if reason.startswith("REFUSED "):
                raise InputError(f"cannot convert to {quant}: {reason[8:]}",
                                 hint="calibrate on data shaped like the model's input (--calibration DATA@V)")
            raise ModelError(f"conversion to {quant} failed: {reason}",
                             hint="check that the model's layers have TFLite builtin ops")
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise ModelError(f"the TFLite converter crashed ({how}): {tail[0][:200]}",
                         hint="the model uses something the converter cannot handle; simplify it")
