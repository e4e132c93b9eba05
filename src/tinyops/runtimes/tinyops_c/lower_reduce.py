"""Lowering of reductions: MEAN, SUM and REDUCE_MAX over a constant set of axes, and
ARG_MAX / ARG_MIN along one constant axis (int32 indices, the only output TFLM runs)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tflite_file import Operator, Tensor
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c.lower import Context, _qp, _t
from tinyops.runtimes.tinyops_c.quant import f64, quantize_multiplier


def _axes(op: Operator, x: Tensor, axes_t: Tensor) -> list[int]:
    """The constant axes, made non-negative, as canonical 4-D dims."""
    if axes_t.data is None:
        raise ModelError(f"{op.opcode} #{op.index}: the axis must be a constant", hint="re-export the model")
    rank = len(x.shape)
    if rank > 4:
        raise ModelError(f"{op.opcode} #{op.index}: rank above 4", hint="run the model with TFLM")
    dims = []
    for a in np.atleast_1d(axes_t.array()).astype(int).tolist():
        a = a + rank if a < 0 else a
        if not 0 <= a < rank:
            raise ModelError(f"{op.opcode} #{op.index}: axis {a} out of range", hint="re-export the model")
        dims.append(a + 4 - rank)
    return dims


def lower_reduce(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    mask = 0
    for d in _axes(op, x, _t(ctx, op.inputs[1])):
        mask |= 1 << d
    (xs, xz), (ys, yz) = _qp(x), _qp(out)
    if op.opcode == "REDUCE_MAX" and (np.float32(xs), xz) != (np.float32(ys), yz):
        raise ModelError(f"REDUCE_MAX #{op.index}: input and output quantization differ (TFLM requires them equal)",
                         hint="re-export the model")
    mult, shift = quantize_multiplier(f64(xs) / f64(ys))
    exact = 0  # reserved: TFLM takes the integer QuantizedMeanOrSum path even for equal quantization
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit(op.opcode, fmt.PARAMS["mean"].pack(xi, y, mask, exact, xz, yz, mult, shift), [xi], [y])


def lower_arg(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    axes = _axes(op, x, _t(ctx, op.inputs[1]))
    if len(axes) != 1:
        raise ModelError(f"{op.opcode} #{op.index}: one axis expected", hint="re-export the model")
    if out.dtype != "int32":
        raise ModelError(f"{op.opcode} #{op.index}: {out.dtype} indices; TFLM and tinyops-c return int32",
                         hint="use tf.math.argmax(..., output_type=tf.int32)")
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit(op.opcode, fmt.PARAMS["arg"].pack(xi, y, axes[0]), [xi], [y])


LOWERING: dict[str, Callable[[Context, Operator], None]] = {
    "MEAN": lower_reduce, "SUM": lower_reduce, "REDUCE_MAX": lower_reduce,
    "ARG_MAX": lower_arg, "ARG_MIN": lower_arg,
}
