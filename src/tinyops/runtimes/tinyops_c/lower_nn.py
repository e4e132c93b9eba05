"""Lowering of RESIZE_BILINEAR, TRANSPOSE_CONV and SVDF (TFLM's int8 reference kernels; the
requantization constants and per-tap weight sums are computed here, as in Prepare)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tflite_file import Operator
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c.lower import Context, _channel_scales, _qp, _requant_tables, _t
from tinyops.runtimes.tinyops_c.lower_copy import _where, const_ints, resize_shapes
from tinyops.runtimes.tinyops_c.quant import activation_range, quantize_multiplier


def lower_resize_bilinear(ctx: Context, op: Operator) -> None:
    resize_shapes(ctx, op)
    align, half = int(op.options["align_corners"]), int(op.options["half_pixel_centers"])
    if align and half:
        raise ModelError(f"{_where(op)}: align_corners and half_pixel_centers together (TFLM rejects it)",
                         hint="re-export the model")
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit("RESIZE_BILINEAR", fmt.PARAMS["resize"].pack(xi, y, align, half), [xi], [y])


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _tconv_pad(padding: str, size: int, k: int, stride: int) -> int:
    """TFLM ComputePaddingHeightWidth with the transposed conv's output size as its input."""
    out = _cdiv(size + stride - 1, stride) if padding == "SAME" else _cdiv(size + stride - k, stride)
    return max((out - 1) * stride + k - size, 0) // 2


def lower_transpose_conv(ctx: Context, op: Operator) -> None:
    where = _where(op)
    w, x, out = _t(ctx, op.inputs[1]), _t(ctx, op.inputs[2]), _t(ctx, op.outputs[0])
    bias = op.inputs[3] if len(op.inputs) > 3 else -1
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4 or w.data is None:
        raise ModelError(f"{where}: needs 4-D input/output and constant 4-D weights", hint="re-export the model")
    if const_ints(ctx, op, op.inputs[0], "output shape") != list(out.shape):
        raise ModelError(f"{where}: the output-shape input differs from the output tensor", hint="re-export the model")
    (n, _, _, c), (oc, kh, kw, wc), (on, oh, ow, occ) = x.shape, w.shape, out.shape
    if wc != c or occ != oc or on != n:
        raise ModelError(f"{where}: weights {w.shape} do not fit input {x.shape} and output {out.shape}",
                         hint="re-export the model")
    o = op.options
    pad_h = _tconv_pad(o["padding"], oh, kh, o["stride_h"])
    pad_w = _tconv_pad(o["padding"], ow, kw, o["stride_w"])
    (xs, xz), (ys, yz) = _qp(x), _qp(out)
    mult_off, shift_off, _ = _requant_tables(ctx, xs, _channel_scales(w, oc), ys)
    lo, hi = activation_range(o.get("fused_activation_function", "NONE"), ys, yz)
    if bias >= 0:
        b = _t(ctx, bias)
        if b.dtype != "int32" or b.data is None:
            raise ModelError(f"{where}: the bias must be a constant int32 tensor", hint="export an int8 model")
        bias_values = b.array().reshape(-1).astype(np.int64).tolist()
    else:
        bias_values = [0] * oc
    tap_sums = w.array().astype(np.int64).sum(axis=3).reshape(-1).tolist()
    bias_off, taps_off = ctx.table(bias_values), ctx.table(tap_sums)
    xi, wi, y = ctx.tensor(op.inputs[2]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    params = fmt.PARAMS["tconv"].pack(xi, wi, y, o["stride_w"], o["stride_h"], pad_w, pad_h, -xz, yz, lo, hi,
                                      mult_off, shift_off, bias_off, taps_off)
    ctx.emit("TRANSPOSE_CONV", params, [xi, wi], [y])


def lower_svdf(ctx: Context, op: Operator) -> None:
    where = _where(op)
    if len(op.inputs) != 5 or op.inputs[3] < 0:
        raise ModelError(f"{where}: needs a bias (TFLM's int8 SVDF reads its scale)", hint="re-export the model")
    x, wf, wt, b, st = (_t(ctx, i) for i in op.inputs)
    out = _t(ctx, op.outputs[0])
    if wt.dtype != "int8" or st.dtype != "int8":
        raise ModelError(f"{where}: {wt.dtype} time weights / {st.dtype} state; tinyops-c runs the all-int8 SVDF",
                         hint="quantize the time weights and state to int8 or run the model with TFLM")
    if not st.is_variable or wf.data is None or wt.data is None or b.data is None or b.dtype != "int32":
        raise ModelError(f"{where}: needs constant weights and bias and a variable state tensor",
                         hint="re-export the model")
    f32 = np.float32
    (xs, xz), (ws, _), (ts, _), (ss, sz), (ys, yz) = _qp(x), _qp(wf), _qp(wt), _qp(st), _qp(out)
    m1, s1 = quantize_multiplier(float(f32(xs) * f32(ws) / f32(ss)))  # float math, as TFLM's Prepare
    m2, s2 = quantize_multiplier(float(f32(ss) * f32(ts) / f32(ys)))
    bias_off = ctx.table(b.array().reshape(-1).astype(np.int64).tolist())
    xi, wfi, wti, y = (ctx.tensor(i) for i in (op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]))
    si = ctx.tensor(op.inputs[4])
    ctx.records[si].storage = fmt.IN_STATE
    params = fmt.PARAMS["svdf"].pack(xi, wfi, wti, si, y, op.options["rank"], xz, sz, yz, m1, s1, m2, s2, bias_off)
    ctx.emit("SVDF", params, [xi, wfi, wti, si], [y, si])


LOWERING: dict[str, Callable[[Context, Operator], None]] = {
    "RESIZE_BILINEAR": lower_resize_bilinear, "TRANSPOSE_CONV": lower_transpose_conv, "SVDF": lower_svdf,
}
