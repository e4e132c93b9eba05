"""Compile a quantized .tflite into a tinyops-c model image.

The image holds the weights (16-byte aligned), per-op parameters with requantization
multipliers and shifts precomputed on the host, and a static memory plan; the runtime
needs exactly ``arena_bytes`` of RAM besides its 52-byte ``tor_model`` handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tinyops.errors import ModelError
from tinyops.runtimes import tflite_file
from tinyops.runtimes.macs import op_macs
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c import (lower, lower_conv, lower_copy, lower_elementwise, lower_nn, lower_reduce,
                                         memplan)
from tinyops.runtimes.tinyops_c.lower import Context
from tinyops.runtimes.tinyops_c.opset import OpSet, opset

LOWERING = {**lower.LOWERING, **lower_conv.LOWERING, **lower_copy.LOWERING, **lower_nn.LOWERING,
            **lower_elementwise.LOWERING, **lower_reduce.LOWERING}
SUPPORTED_OPS = tuple(LOWERING)
# Tensors that may be float32: QUANTIZE's input and DEQUANTIZE's output.
_FLOAT_OK = {"QUANTIZE": ("in",), "DEQUANTIZE": ("out",), "RESHAPE": ("in", "out"),
             "EXPAND_DIMS": ("in", "out"), "SQUEEZE": ("in", "out")}
# Inputs that are parameters (shapes, axes, paddings, bias), not activations.
_PARAM_INPUTS = {"RESHAPE": 1, "EXPAND_DIMS": 1, "SQUEEZE": 1, "MEAN": 1, "SUM": 1, "REDUCE_MAX": 1,
                 "ARG_MAX": 1, "ARG_MIN": 1, "PAD": 1, "PADV2": 1,
                 "CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2,
                 "STRIDED_SLICE": 1, "SLICE": 1, "SPLIT_V": 1, "TRANSPOSE": 1, "GATHER": 1,
                 "RESIZE_NEAREST_NEIGHBOR": 1, "RESIZE_BILINEAR": 1, "MIRROR_PAD": 1, "SVDF": 1,
                 "TILE": 1}
# Ops whose activation inputs are not a prefix of their inputs.
_DATA_INPUTS = {"SPLIT": (1,), "TRANSPOSE_CONV": (2,)}
# Outputs that are int32: indices.
_INT32_OUT = ("ARG_MAX", "ARG_MIN")


@dataclass
class CompiledImage:
    image: bytes
    arena_bytes: int
    ops: list[str]  # distinct TFLite op names, in order of first use
    op_count: int
    tensor_count: int
    tflite_bytes: int
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    # One row per image op, in run order: {"index", "op", "tflite_index", "output", "macs"}
    # (a SEGMENT's row also has "members": its ops' rows).
    op_table: list[dict[str, Any]] = field(default_factory=list)
    # The memory plan: peak bytes, the op where it peaks, the tensors live there, tiling
    # (the streamed segments: member ops, windows, overlaps).
    plan: dict[str, Any] = field(default_factory=dict)
    format_version: int = fmt.FORMAT_VERSION

    @property
    def image_bytes(self) -> int:
        return len(self.image)

    @cached_property
    def opset(self) -> OpSet:
        """The runtime kernels the image needs: a firmware built with this TOR_OPSET runs it."""
        return opset(self.image)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": self.format_version, "image_bytes": self.image_bytes,
                "arena_bytes": self.arena_bytes, "tflite_bytes": self.tflite_bytes, "ops": self.ops,
                "op_count": self.op_count, "tensor_count": self.tensor_count,
                "inputs": self.inputs, "outputs": self.outputs, "op_table": self.op_table, "plan": self.plan,
                "firmware_opset": self.opset.to_dict()}


def _check_supported(model: tflite_file.TFLiteModel) -> None:
    unsupported = [n for n in model.op_names if n not in LOWERING]
    if unsupported:
        raise ModelError(f"tinyops-c does not support {', '.join(unsupported)}",
                         hint="run this model with the TFLM runtime (--runtime tflm, or a profile with "
                              "runtime tflm), which has these ops; tinyops-c runs "
                              + ", ".join(sorted(set(SUPPORTED_OPS))))
    for op in model.operators:
        float_ok = _FLOAT_OK.get(op.opcode, ())
        first_param = _PARAM_INPUTS.get(op.opcode, len(op.inputs))
        data = [op.inputs[k] for k in _DATA_INPUTS[op.opcode]] if op.opcode in _DATA_INPUTS else op.inputs[:first_param]
        for role, idxs in (("in", data), ("out", op.outputs)):
            for i in idxs:
                dt = model.tensors[i].dtype if i >= 0 else "int8"
                if role == "out" and dt == "int32" and op.opcode in _INT32_OUT:
                    continue
                if dt != "int8" and not (dt == "float32" and role in float_ok):
                    raise ModelError(f"{op.opcode} #{op.index} has a {dt} tensor '{model.tensors[i].name}'; "
                                     "tinyops-c runs int8 models",
                                     hint="convert with full int8 quantization (tinyops convert REF --quant int8)")


def _io(ctx: Context, model: tflite_file.TFLiteModel, idxs: list[int]) -> list[dict[str, Any]]:
    out = []
    for i in idxs:
        t = model.tensors[i]
        q = t.quantization
        out.append({"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                    "scale": q.scale[0] if q else None, "zero_point": q.zero_point[0] if q else None})
    return out


def compile_image(tflite_bytes: bytes, *, streaming: bool = True, rows_per_call: int | None = None) -> CompiledImage:
    """Lower, plan and pack ``tflite_bytes`` into a model image (raises ModelError/InputError).
    ``streaming=False`` runs every op on whole tensors (no SEGMENT ops); ``rows_per_call``
    fixes the rows each streamed op makes per kernel call (default: the planner's choice)."""
    model = tflite_file.read(tflite_bytes)
    if model.subgraph_count != 1:
        raise ModelError(f"the model has {model.subgraph_count} subgraphs; tinyops-c runs single-graph models",
                         hint="remove control flow (IF/WHILE) from the model")
    _check_supported(model)
    ctx = Context(model)
    inputs = [ctx.tensor(i) for i in model.inputs]
    names = {v: k for k, v in fmt.OPCODES.items()}
    op_table: list[dict[str, Any]] = []
    for op in model.operators:
        LOWERING[op.opcode](ctx, op)
        for k in range(len(op_table), len(ctx.ops)):
            out = model.tensors[op.outputs[0]].shape if op.outputs else ()
            op_table.append({"index": k, "op": names.get(ctx.ops[k][0], str(ctx.ops[k][0])), "tflite_index": op.index,
                             "tflite_op": op.opcode,
                             "output": list(out), "macs": op_macs(model, op) if k == len(op_table) else 0})
    outputs = [ctx.tensor(i) for i in model.outputs]
    for i in (*inputs, *outputs):
        if ctx.records[i].storage != fmt.IN_ARENA:
            raise ModelError("a model input or output is a constant", hint="re-export the model")

    lay = memplan.choose(ctx, inputs, outputs, streaming, rows_per_call)
    image_ops = memplan.finalize(ctx, lay)
    image = fmt.assemble(bytes(ctx.data), ctx.records, image_ops, inputs, outputs, lay.arena)
    tflite_of = {v: k for k, v in ctx.index.items()}
    names_of = {i: model.tensors[tflite_of[i]].name if i in tflite_of else "scratch" for i in range(len(ctx.records))}
    report = memplan.report(ctx, lay, names_of)
    op_table = memplan.merge_rows(op_table, lay)
    return CompiledImage(image=image, arena_bytes=lay.arena, ops=model.op_names, op_count=len(model.operators),
                         tensor_count=len(ctx.records), tflite_bytes=len(tflite_bytes),
                         inputs=_io(ctx, model, model.inputs), outputs=_io(ctx, model, model.outputs),
                         op_table=op_table, plan=report)
