"""Lowering of TFLite operators to tinyops-c ops: tensor registration, constant data and
per-op parameters with the requantization precomputed (see quant.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tflite_file import Operator, Tensor, TFLiteModel
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c.lut import mbqm
from tinyops.runtimes.tinyops_c.quant import activation_range, f64, quantize_multiplier, sigmoid_params, softmax_params

RESHAPE_LIKE = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")


class Context:
    """Collects image tensors, constant data and ops while a model is lowered."""

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self.records: list[fmt.TensorRecord] = []
        self.index: dict[int, int] = {}  # tflite tensor -> image tensor
        self.data = bytearray()
        self.ops: list[tuple[int, bytes]] = []
        self.op_io: list[tuple[list[int], list[int]]] = []
        self.aliases: list[tuple[int, int]] = []
        # scratch tensor -> (larger sizes its kernel can also use, largest first; the op's
        # MACs; the size for op-by-op plans): the memory plan (memplan.py) picks one
        self.scratch_options: dict[int, tuple[list[int], int, int]] = {}
        self.live_bytes: list[int] | None = None  # per operator, activations alive (lower_conv, once)

    def add_data(self, raw: bytes) -> int:
        """Append constant bytes 16-byte aligned; return the absolute image offset."""
        self.data += b"\0" * (fmt.align(len(self.data)) - len(self.data))
        off = fmt.DATA_OFF + len(self.data)
        self.data += raw
        return off

    def table(self, values: list[int]) -> int:
        return self.add_data(np.asarray(values, dtype="<i4").tobytes())

    def tensor(self, i: int) -> int:
        if i in self.index:
            return self.index[i]
        t = self.model.tensors[i]
        if t.dtype not in fmt.DTYPES:
            raise ModelError(f"tensor '{t.name}' has dtype {t.dtype}, which tinyops-c does not run",
                             hint="export an int8 model (tinyops convert REF --quant int8) or use the TFLM runtime")
        q = t.quantization
        rec = fmt.TensorRecord(fmt.DTYPES[t.dtype], tuple(t.shape) or (1,), fmt.IN_ARENA, -1,
                               q.scale[0] if q else 0.0, q.zero_point[0] if q else 0)
        if len(rec.shape) > 4:
            raise ModelError(f"tensor '{t.name}' has rank {len(rec.shape)}; tinyops-c supports up to 4",
                             hint="reshape the model to 4-D or run it with TFLM")
        if t.data is not None:
            if len(t.data) != rec.nbytes:
                raise ModelError(f"constant '{t.name}' holds {len(t.data)} bytes, expected {rec.nbytes}",
                                 hint="re-export the model")
            rec.storage, rec.offset = fmt.IN_IMAGE, self.add_data(t.data)
        self.records.append(rec)
        self.index[i] = len(self.records) - 1
        return self.index[i]

    def scratch(self, nbytes: int) -> int:
        """An arena tensor that lives only during the op that names it as an output."""
        self.records.append(fmt.TensorRecord(fmt.DT_INT8, (nbytes,), fmt.IN_ARENA, -1, 0.0, 0))
        return len(self.records) - 1

    def constant(self, raw: bytes) -> int:
        """An int8 image constant of ``raw`` bytes that no TFLite tensor names."""
        self.records.append(fmt.TensorRecord(fmt.DT_INT8, (len(raw),), fmt.IN_IMAGE, self.add_data(raw), 0.0, 0))
        return len(self.records) - 1

    def emit(self, name: str, params: bytes, inputs: list[int], outputs: list[int]) -> None:
        self.ops.append((fmt.OPCODES[name], params))
        self.op_io.append((inputs, outputs))


def _t(ctx: Context, i: int) -> Tensor:
    return ctx.model.tensors[i]


def _qp(t: Tensor) -> tuple[float, int]:
    if t.quantization is None:
        raise ModelError(f"tensor '{t.name}' is not quantized", hint="export a fully int8-quantized model")
    return t.quantization.scale[0], t.quantization.zero_point[0]


def _dims4(t: Tensor) -> tuple[int, ...]:
    return (1,) * (4 - len(t.shape)) + tuple(t.shape)


def _padding(padding: str, in_size: int, filt: int, stride: int, dilation: int, out_size: int, where: str) -> int:
    eff = (filt - 1) * dilation + 1
    expect = (in_size + stride - 1) // stride if padding == "SAME" else (in_size + stride - eff) // stride
    if expect != out_size:
        raise ModelError(f"{where}: output size {out_size} does not follow from {padding} padding ({expect})",
                         hint="re-export the model")
    return max(0, (out_size - 1) * stride + eff - in_size) // 2


def _channel_scales(t: Tensor, n: int) -> list[float]:
    q = t.quantization
    if q is None:
        raise ModelError(f"weights '{t.name}' are not quantized", hint="export a fully int8-quantized model")
    if len(q.scale) not in (1, n):
        raise ModelError(f"weights '{t.name}' have {len(q.scale)} scales for {n} channels", hint="re-export the model")
    return list(q.scale) * (n if len(q.scale) == 1 else 1)


def _requant_tables(ctx: Context, in_scale: float, scales: list[float],
                    out_scale: float) -> tuple[int, int, list[int]]:
    """The per-channel multiplier and shift tables (image offsets), and the shifts."""
    pairs = [quantize_multiplier(f64(in_scale) * f64(s) / f64(out_scale)) for s in scales]
    shifts = [s for _, s in pairs]
    return ctx.table([m for m, _ in pairs]), ctx.table(shifts), shifts


def _bias_eff(ctx: Context, bias: int, offset_term: np.ndarray) -> list[int]:
    """bias + the input-offset term, folded on the host so the hot loop is a plain dot
    product; wrapped to int32 like the kernel's own int32 accumulation."""
    total = offset_term.astype(np.int64)
    if bias >= 0:
        b = _t(ctx, bias)
        if b.dtype != "int32" or b.data is None:
            raise ModelError(f"bias '{b.name}' must be a constant int32 tensor", hint="export a fully int8-quantized model")
        total = total + b.array().reshape(-1).astype(np.int64)
    return (((total + 2**31) % 2**32) - 2**31).astype(np.int64).tolist()


def lower_fc(ctx: Context, op: Operator) -> None:
    x, w, out = _t(ctx, op.inputs[0]), _t(ctx, op.inputs[1]), _t(ctx, op.outputs[0])
    bias = op.inputs[2] if len(op.inputs) > 2 else -1
    if len(w.shape) != 2:
        raise ModelError(f"FULLY_CONNECTED #{op.index}: weights must be 2-D", hint="re-export the model")
    units = w.shape[0]
    (xs, xz), (ys, yz) = _qp(x), _qp(out)
    wq = w.quantization
    if wq is None:
        raise ModelError(f"weights '{w.name}' are not quantized", hint="export a fully int8-quantized model")
    scales = _channel_scales(w, units) if wq.per_channel else [wq.scale[0]]
    mult_off, shift_off, shifts = _requant_tables(ctx, xs, scales, ys)
    lo, hi = activation_range(op.options["fused_activation_function"], ys, yz)
    wsum = w.array().astype(np.int64).sum(axis=1)
    depth = w.shape[1]
    bias_eff = _bias_eff(ctx, bias, -xz * (wsum - wq.zero_point[0] * depth))
    bias_off = ctx.table(bias_eff)
    # the Cortex-M4 requantization shortcut holds (the loader checks it again; see FORMAT.md)
    rq_fast = int(wq.zero_point[0] == 0 and max(shifts) <= -2 and depth * 2**14 + max(map(abs, bias_eff)) < 2**30)
    # the bias lives on in bias_eff only
    grouped = depth % 4 == 0 and w.dtype == "int8" and w.data is not None
    ins = [ctx.tensor(op.inputs[0]), _fc_weights(ctx, op.inputs[1]) if grouped else ctx.tensor(op.inputs[1])]
    y = ctx.tensor(op.outputs[0])
    layout, scratch = (1, ctx.scratch(2 * depth)) if grouped else (0, -1)
    params = fmt.PARAMS["fc"].pack(ins[0], ins[1], -1, y, -xz, -wq.zero_point[0], yz,
                                   lo, hi, len(scales), mult_off, shift_off, bias_off, scratch, layout, rq_fast)
    ctx.emit("FULLY_CONNECTED", params, ins, [y] + ([scratch] if scratch >= 0 else []))


def _fc_weights(ctx: Context, i: int) -> int:
    """FULLY_CONNECTED weights in layout 1: the first 4*(units//4) rows in groups of four,
    word-interleaved (word j of rows 4g..4g+3 as 16 consecutive bytes), the rest plain."""
    w = _t(ctx, i)
    a = w.array().reshape(w.shape)
    units, depth = a.shape
    g = units // 4 * 4
    head = a[:g].reshape(g // 4, 4, depth // 4, 4).transpose(0, 2, 1, 3)
    raw = head.tobytes() + a[g:].tobytes()
    scale, zp = _qp(w)
    ctx.records.append(fmt.TensorRecord(fmt.DT_INT8, (units, depth), fmt.IN_IMAGE, ctx.add_data(raw), scale, zp))
    return len(ctx.records) - 1


def lower_pool(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    o = op.options
    (_, h, w, _), (_, oh, ow, _) = _dims4(x), _dims4(out)
    where = f"{op.opcode} #{op.index}"
    pad_h = _padding(o["padding"], h, o["filter_height"], o["stride_h"], 1, oh, where)
    pad_w = _padding(o["padding"], w, o["filter_width"], o["stride_w"], 1, ow, where)
    if _qp(x) != _qp(out):
        raise ModelError(f"{where}: input and output quantization differ (TFLM requires them equal)",
                         hint="re-export the model")
    lo, hi = activation_range(o["fused_activation_function"], *_qp(out))
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    params = fmt.PARAMS["pool"].pack(xi, y, o["stride_w"], o["stride_h"], o["filter_width"], o["filter_height"],
                                     pad_w, pad_h, lo, hi)
    ctx.emit(op.opcode, params, [xi], [y])


def lower_binary(ctx: Context, op: Operator) -> None:
    a, b, out = _t(ctx, op.inputs[0]), _t(ctx, op.inputs[1]), _t(ctx, op.outputs[0])
    for t in (a, b):
        if len(t.shape) > 4:
            raise ModelError(f"{op.opcode} #{op.index}: rank above 4", hint="run the model with TFLM")
    (as_, az), (bs, bz), (ys, yz) = _qp(a), _qp(b), _qp(out)
    lo, hi = activation_range(op.options["fused_activation_function"], ys, yz)
    if op.opcode == "ADD":
        left = 20
        twice_max = 2 * f64(max(np.float32(as_), np.float32(bs)))
        m1, s1 = quantize_multiplier(f64(as_) / twice_max)
        m2, s2 = quantize_multiplier(f64(bs) / twice_max)
        mo, so = quantize_multiplier(twice_max / ((1 << left) * f64(ys)))
    else:
        left, m1, s1, m2, s2 = 0, 0, 0, 0, 0
        mo, so = quantize_multiplier(f64(as_) * f64(bs) / f64(ys))
    ai, bi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    tables = 0
    if op.opcode == "ADD" and _dims4(a) == _dims4(b) == _dims4(out) and s1 <= 0 and s2 <= 0:
        tables = _add_tables(ctx, (-az, m1, s1), (-bz, m2, s2), left)
    params = fmt.PARAMS["binary"].pack(ai, bi, y, -az, -bz, yz, left, m1, s1, m2, s2, mo, so, lo, hi, tables)
    ctx.emit(op.opcode, params, [ai, bi], [y])


def _add_tables(ctx: Context, q1: tuple[int, int, int], q2: tuple[int, int, int], left: int) -> int:
    """ADD's per-input scaling depends only on the input byte: int32[2][256], indexed by the
    byte as uint8, of 2 * MultiplyByQuantizedMultiplierSmallerThanOneExp((x + offset) << left),
    TFLM's exact integers. 0 (none) unless every sum of two entries fits in int32."""
    rows = [[2 * mbqm((((v + 128) % 256 - 128) + off) << left, m, s) for v in range(256)] for off, m, s in (q1, q2)]
    if max(abs(v) for v in rows[0]) + max(abs(v) for v in rows[1]) >= 2**31:
        return 0
    return ctx.table(rows[0] + rows[1])


def lower_reshape(ctx: Context, op: Operator) -> None:
    x = ctx.tensor(op.inputs[0])
    y = ctx.tensor(op.outputs[0])
    src, dst = ctx.records[x], ctx.records[y]
    if src.nbytes != dst.nbytes or src.dtype != dst.dtype:
        raise ModelError(f"{op.opcode} #{op.index}: input and output sizes differ", hint="re-export the model")
    if src.storage == fmt.IN_IMAGE:  # a constant reshaped: the output is the same constant bytes
        dst.storage, dst.offset = fmt.IN_IMAGE, src.offset
        return
    ctx.aliases.append((y, x))  # in place: the planner gives both the same buffer
    ctx.emit("RESHAPE", fmt.PARAMS["reshape"].pack(x, y), [x], [y])


def lower_softmax(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    ys, yz = _qp(out)
    if yz != -128 or abs(ys - 1 / 256) > 1e-3 / 256:
        raise ModelError(f"SOFTMAX #{op.index}: int8 output must have scale 1/256 and zero point -128",
                         hint="re-export the model with the TFLite converter")
    mult, shift, diff_min = softmax_params(op.options.get("beta", 1.0), _qp(x)[0])
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit("SOFTMAX", fmt.PARAMS["softmax"].pack(xi, y, mult, shift, diff_min), [xi], [y])


def lower_sigmoid(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    want = (1 / 256, -128) if op.opcode == "LOGISTIC" else (1 / 128, 0)
    ys, yz = _qp(out)
    if yz != want[1] or abs(ys - want[0]) > 1e-3 * want[0]:
        raise ModelError(f"{op.opcode} #{op.index}: int8 output must have scale {want[0]} and zero point {want[1]}",
                         hint="re-export the model with the TFLite converter")
    xs, xz = _qp(x)
    mult, shift, radius = sigmoid_params(xs)
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit(op.opcode, fmt.PARAMS["sigmoid"].pack(xi, y, xz, radius, mult, shift), [xi], [y])


def lower_quantize(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    ys, yz = _qp(out)
    mult = shift = xz = 0
    if x.dtype == "int8":
        xs, xz = _qp(x)
        mult, shift = quantize_multiplier(f64(xs) / f64(ys))
    elif x.dtype != "float32":
        raise ModelError(f"QUANTIZE #{op.index}: input dtype {x.dtype} not supported", hint="use float32 or int8")
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit("QUANTIZE", fmt.PARAMS["quantize"].pack(xi, y, mult, shift, xz, yz, ys), [xi], [y])


def lower_dequantize(ctx: Context, op: Operator) -> None:
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit("DEQUANTIZE", fmt.PARAMS["dequantize"].pack(xi, y), [xi], [y])


def lower_pad(ctx: Context, op: Operator) -> None:
    x, pads, out = _t(ctx, op.inputs[0]), _t(ctx, op.inputs[1]), _t(ctx, op.outputs[0])
    if pads.data is None:
        raise ModelError(f"{op.opcode} #{op.index}: paddings must be constant", hint="re-export the model")
    p = pads.array().reshape(-1, 2).astype(int).tolist()
    rank = len(x.shape)
    before = [0] * (4 - rank) + [a for a, _ in p]
    after = [0] * (4 - rank) + [b for _, b in p]
    value = _qp(out)[1]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        cv = _t(ctx, op.inputs[2])
        if cv.data is None:
            raise ModelError(f"PADV2 #{op.index}: the pad value must be constant", hint="re-export the model")
        value = int(cv.array().reshape(-1)[0])
    xi, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    ctx.emit("PAD", fmt.PARAMS["pad"].pack(xi, y, *before, *after, value), [xi], [y])


def lower_concat(ctx: Context, op: Operator) -> None:
    out = _t(ctx, op.outputs[0])
    if len(op.inputs) > fmt.MAX_CONCAT:
        raise ModelError(f"CONCATENATION #{op.index}: more than {fmt.MAX_CONCAT} inputs", hint="split the concat")
    if op.options.get("fused_activation_function", "NONE") != "NONE":
        raise ModelError(f"CONCATENATION #{op.index}: fused activation not supported", hint="re-export the model")
    for i in op.inputs:
        if _qp(_t(ctx, i)) != _qp(out):
            raise ModelError(f"CONCATENATION #{op.index}: inputs must share the output quantization (as in TFLM)",
                             hint="re-export the model")
    rank = len(out.shape)
    axis = op.options["axis"] + (rank if op.options["axis"] < 0 else 0)
    ins = [ctx.tensor(i) for i in op.inputs]
    y = ctx.tensor(op.outputs[0])
    padded = ins + [0] * (fmt.MAX_CONCAT - len(ins))
    ctx.emit("CONCATENATION", fmt.PARAMS["concat"].pack(y, axis + 4 - rank, len(ins), *padded), ins, [y])


LOWERING: dict[str, Callable[[Context, Operator], None]] = {
    "FULLY_CONNECTED": lower_fc,
    "AVERAGE_POOL_2D": lower_pool, "MAX_POOL_2D": lower_pool,
    "ADD": lower_binary, "MUL": lower_binary, "RESHAPE": lower_reshape, "EXPAND_DIMS": lower_reshape,
    "SQUEEZE": lower_reshape, "SOFTMAX": lower_softmax, "LOGISTIC": lower_sigmoid, "TANH": lower_sigmoid,
    "QUANTIZE": lower_quantize, "DEQUANTIZE": lower_dequantize, "PAD": lower_pad, "PADV2": lower_pad,
    "CONCATENATION": lower_concat,
}
