"""Lowering of element-wise TFLite operators beyond ADD/MUL: one-input ops become a
256-byte lookup table (lut.py), two-input ops the runtime's broadcasting binary kernel
with TFLM's Prepare-time multipliers (double arithmetic on float32 scales, as in the
TFLM interpreter the tests compare against)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tflite_file import Operator
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c import lut
from tinyops.runtimes.tinyops_c.lower import Context, _qp, _t
from tinyops.runtimes.tinyops_c.quant import activation_range, f64, quantize_multiplier

f32 = np.float32


def lower_lut(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    where = f"{op.opcode} #{op.index}"
    if op.opcode == "RELU":
        table = lut.relu(_qp(x), _qp(out))
    elif op.opcode == "RELU6":
        table = lut.relu6(_qp(x))
    elif op.opcode == "EXP":
        table = lut.exp(_qp(x), _qp(out))
    elif op.opcode == "LEAKY_RELU":
        table = lut.leaky_relu(_qp(x), _qp(out), op.options["alpha"])
    else:
        table = lut.hard_swish(_qp(x), _qp(out), where)
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if ctx.records[xi].nbytes != ctx.records[y].nbytes:
        raise ModelError(f"{where}: input and output sizes differ", hint="re-export the model")
    ctx.emit("LUT", fmt.PARAMS["lut"].pack(xi, y, ctx.add_data(table)), [xi], [y])


def _binary_params(op: Operator, a: tuple[float, int], b: tuple[float, int],
                   o: tuple[float, int]) -> tuple[int, ...]:
    """(left_shift, m1, s1, m2, s2, mo, so, act_min, act_max) as TFLM's Prepare computes them."""
    (as_, _), (bs, _), (ys, yz) = a, b, o
    lo, hi = -128, 127
    if "fused_activation_function" in op.options:
        lo, hi = activation_range(op.options["fused_activation_function"], ys, yz)
    if op.opcode == "SUB":
        twice = 2.0 * f64(max(f32(as_), f32(bs)))
        m1, s1 = quantize_multiplier(f64(as_) / twice)
        m2, s2 = quantize_multiplier(f64(bs) / twice)
        mo, so = quantize_multiplier(twice / ((1 << 20) * f64(ys)))
        return 20, m1, s1, m2, s2, mo, so, lo, hi
    if op.opcode == "SQUARED_DIFFERENCE":
        twice = 2.0 * f64(max(f32(as_), f32(bs)))
        m1, s1 = quantize_multiplier(f64(as_) / twice)
        m2, s2 = quantize_multiplier(f64(bs) / twice)
        mo, so = quantize_multiplier(twice * twice / ((1 << 14) * f64(ys)))
        return 7, m1, s1, m2, s2, mo, so, lo, hi
    if op.opcode == "PRELU":
        m1, s1 = quantize_multiplier(f64(as_) / f64(ys))
        m2, s2 = quantize_multiplier(f64(as_) * f64(bs) / f64(ys))
        return 0, m1, s1, m2, s2, 0, 0, lo, hi
    if op.opcode == "DIV":
        mo, so = quantize_multiplier(f64(as_) / (f64(bs) * f64(ys)))
        if so > 22:
            raise ModelError(f"DIV #{op.index}: quotient scale too large for TFLM's int8 kernel",
                             hint="re-quantize the model with a representative dataset")
        return 0, 0, 0, 0, 0, mo, so, lo, hi
    return 0, 0, 0, 0, 0, 0, 0, lo, hi  # MAXIMUM, MINIMUM compare raw values


def lower_binary2(ctx: Context, op: Operator) -> None:
    a, b, out = _t(ctx, op.inputs[0]), _t(ctx, op.inputs[1]), _t(ctx, op.outputs[0])
    for t in (a, b, out):
        if len(t.shape) > 4:
            raise ModelError(f"{op.opcode} #{op.index}: rank above 4", hint="run the model with TFLM")
    aq, bq, oq = _qp(a), _qp(b), _qp(out)
    left, m1, s1, m2, s2, mo, so, lo, hi = _binary_params(op, aq, bq, oq)
    ai, bi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    params = fmt.PARAMS["binary"].pack(ai, bi, y, -aq[1], -bq[1], oq[1], left, m1, s1, m2, s2, mo, so, lo, hi, 0)
    ctx.emit(op.opcode, params, [ai, bi], [y])


LOWERING: dict[str, Callable[[Context, Operator], None]] = {
    "RELU": lower_lut, "RELU6": lower_lut, "LEAKY_RELU": lower_lut, "HARD_SWISH": lower_lut, "EXP": lower_lut,
    "SUB": lower_binary2, "PRELU": lower_binary2, "MAXIMUM": lower_binary2, "MINIMUM": lower_binary2,
    "SQUARED_DIFFERENCE": lower_binary2, "DIV": lower_binary2,
}
