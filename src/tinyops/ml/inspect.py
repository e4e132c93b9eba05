"""What is inside a .tflite model, read without TensorFlow.

Operators in execution order with counts and MACs, tensors with shape, dtype and
quantization (per-channel too), inputs/outputs, parameter and activation bytes,
file size, the TFLite Micro arena the model actually needs (measured, cached per
blob), and warnings: float operators inside an int8 model, operators TFLM lacks.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError, ModelError
from tinyops.runtimes.support import TFLM_OPS, runtimes_for
from tinyops.runtimes.macs import count_macs, op_macs as _macs
from tinyops.runtimes.tflite_file import Operator, Tensor, TFLiteModel, read

if TYPE_CHECKING:
    from tinyops.runtimes.arena import Cache
    from tinyops.workspace import Workspace

_FLOAT = ("float32", "float16", "float64")
# Ops whose job is to cross the float/int boundary; a float tensor there is expected.
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


def _nbytes(t: Tensor) -> int:
    size = np.dtype(t.dtype).itemsize if not t.dtype.startswith(("string", "resource", "variant", "type")) and t.dtype not in ("int4", "bfloat16") else 1
    return int(np.prod(t.shape, dtype=np.int64)) * size if t.shape else size


def _quant(t: Tensor) -> dict[str, Any]:
    q = t.quantization
    if q is None:
        return {"scale": None, "zero_point": None, "per_channel": False}
    if q.per_channel:
        return {"scale": list(q.scale), "zero_point": list(q.zero_point), "per_channel": True,
                "quantized_dimension": q.quantized_dimension}
    return {"scale": q.scale[0], "zero_point": q.zero_point[0], "per_channel": False}


def _peak_activation_bytes(m: TFLiteModel) -> int:
    """Largest sum of live activation tensors over execution order (a lower bound for an arena)."""
    const = {t.index for t in m.tensors if t.is_constant}
    last_use: dict[int, int] = {i: len(m.operators) for i in m.outputs}
    first_def: dict[int, int] = {i: -1 for i in m.inputs}
    for op in m.operators:
        for t in op.outputs:
            first_def.setdefault(t, op.index)
        for t in op.inputs:
            if t >= 0:
                last_use[t] = max(last_use.get(t, -1), op.index)
    peak = 0
    for step in range(len(m.operators)):
        live = sum(_nbytes(m.tensors[t]) for t, d in first_def.items()
                   if t not in const and d <= step <= last_use.get(t, d))
        peak = max(peak, live)
    return peak


def _warnings(m: TFLiteModel, ops: list[dict[str, Any]]) -> list[str]:
    out = []
    acts = [t for t in m.tensors if not t.is_constant]
    int8_model = any(t.dtype == "int8" and t.quantization is not None for t in acts)
    if int8_model:
        for op in m.operators:
            if op.opcode in _BOUNDARY_OPS:
                continue
            tensors = [m.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
            if any(t.dtype in _FLOAT and not t.is_constant for t in tensors):
                out.append(f"float op inside an int8 model: {op.opcode} (operator {op.index}) runs in float")
    missing = sorted({o["op"] for o in ops if o["op"] not in TFLM_OPS})
    for name in missing:
        out.append(f"TFLite Micro has no kernel for {name}: the model cannot run on microcontrollers as is")
    if m.subgraph_count > 1:
        out.append(f"the model has {m.subgraph_count} subgraphs; only the first is described")
    return out


def describe(data: bytes) -> dict[str, Any]:
    """Everything but the arena (which needs TFLM in a child process)."""
    m = read(data)
    ops = [{"index": op.index, "op": op.opcode, "version": op.version,
            "inputs": [list(m.tensors[i].shape) if i >= 0 else None for i in op.inputs],
            "outputs": [list(m.tensors[i].shape) for i in op.outputs],
            "options": op.options, "macs": _macs(m, op)} for op in m.operators]
    tensors = [{"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                "constant": t.is_constant, "bytes": _nbytes(t), **_quant(t)} for t in m.tensors]
    consts = [t for t in m.tensors if t.is_constant]
    acts = [t for t in m.tensors if not t.is_constant]

    def io(i: int) -> dict[str, Any]:
        t = m.tensors[i]
        return {"index": i, "name": t.name, "shape": list(t.shape), "dtype": t.dtype, **_quant(t)}

    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "ops": m.op_names,
        "op_counts": dict(Counter(op.opcode for op in m.operators)),
        "operators": ops,
        "macs": int(sum(o["macs"] for o in ops)),
        "parameter_bytes": int(sum(len(t.data or b"") for t in consts)),
        "parameters": int(sum(int(np.prod(t.shape, dtype=np.int64)) for t in consts if t.shape)),
        "activation_bytes": int(sum(_nbytes(t) for t in acts)),
        "peak_activation_bytes": _peak_activation_bytes(m),
        "inputs": [io(i) for i in m.inputs],
        "outputs": [io(i) for i in m.outputs],
        "tensors": tensors,
        "warnings": _warnings(m, ops),
    }


def tinyops_c_plan(data: bytes) -> tuple[dict[str, Any] | None, str]:
    """The tinyops-c image's size and memory plan, or None and why tinyops-c cannot run the model."""
    from tinyops.runtimes.tinyops_c import compile_image

    try:
        c = compile_image(data)
    except (ModelError, InputError) as e:
        return None, e.message.splitlines()[0]
    return {"image_bytes": c.image_bytes, "arena_bytes": c.arena_bytes, "plan": c.plan}, ""


def inspect_bytes(data: bytes, *, cache: Cache = None, arena: bool = True) -> dict[str, Any]:
    info = describe(data)
    info["tinyops_c"], why_not = tinyops_c_plan(data)
    info["runtimes"] = [r.to_dict() for r in runtimes_for(info["ops"], why_not)]
    info["arena_bytes"] = None
    if arena and not any("TFLite Micro has no kernel" in w for w in info["warnings"]):
        from tinyops.runtimes.arena import measure_arena_details

        try:
            found = measure_arena_details(data, cache)
            info["arena_bytes"] = found["arena_bytes"]
            info["arena"] = {k: found.get(k) for k in ("printed_total", "probes", "cached")}
        except ModelError as e:
            info["warnings"].append(f"TFLite Micro could not run the model, so no arena was measured: {e.message}")
            for r in info["runtimes"]:  # what TFLM's own interpreter cannot run, no TFLM firmware runs
                if r["runtime"].startswith(("tflm", "tflite-micro")) and r["runs"]:
                    r["runs"], r["reason"] = False, "the tflite-micro interpreter could not run it"
    return info


def inspect(ws: Workspace, target: str, *, arena: bool = True) -> dict[str, Any]:
    """Inspect a .tflite file or a variant reference (``digits@3:int8``).

    The arena is cached in the workspace (if one is open) or the user cache folder.
    """
    from tinyops.runtimes.arena import default_cache_dir

    path = Path(target)
    if path.is_file():
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}", hint="check the path") from e
        info = inspect_bytes(data, cache=ws if ws is not None else default_cache_dir(), arena=arena)
        return {"source": str(path), **info}
    if target.endswith(".tflite") or "/" in target:
        raise InputError(f"{target} does not exist", hint="give a .tflite file or a variant like digits@3:int8")
    if ws is None:
        raise InputError(f"'{target}' is neither a file nor usable as a reference without a workspace",
                         hint="pass a .tflite file, or run inside a workspace (--workspace DIR)")
    from tinyops.registry import variants

    v = variants.get(ws, target)
    data = variants.blob_bytes(ws, v)
    info = inspect_bytes(data, cache=ws, arena=arena)
    if info["arena_bytes"] is not None and v.arena_bytes != info["arena_bytes"]:
        variants.set_arena(ws, v, info["arena_bytes"])
    return {"source": v.ref, "ref": v.ref, "calibration": v.calibration, **info}
