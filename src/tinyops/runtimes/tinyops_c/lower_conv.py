"""Lowering of CONV_2D and DEPTHWISE_CONV_2D: per-channel requantization tables, bias_eff, the
scratch the Cortex-M4 kernels widen columns and filters into (op by op sized against the arena's
headroom; the sizes with a widened filter are options a streamed memory plan picks from) and the
zero-point row padded depthwise windows read."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tflite_file import Operator, TFLiteModel
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c.lower import (Context, _bias_eff, _channel_scales, _dims4, _padding, _qp,
                                              _requant_tables, _t)
from tinyops.runtimes.tinyops_c.quant import activation_range

WIDE_FILTER_BYTES = 16384  # arena bytes a CONV_2D may use for its filter widened to int16
WIDE_SLACK_BYTES = 1024  # ... even when that grows the arena's peak by this much (op by op)
WIDE_MIN_PIXELS = 16  # ... when it has this many output pixels (widening each weight costs ~2 instructions)


def _live_bytes(model: TFLiteModel) -> list[int]:
    """Per operator, the bytes of activations alive while it runs (made before or by it,
    used by it or later)."""
    first: dict[int, int] = {i: 0 for i in model.inputs}
    last: dict[int, int] = {i: len(model.operators) for i in model.outputs}
    for n, o in enumerate(model.operators):
        for i in o.inputs + o.outputs:
            if i >= 0 and model.tensors[i].data is None:
                first.setdefault(i, n)
                last[i] = max(last.get(i, n), n)
    size = {i: int(np.prod(model.tensors[i].shape or (1,))) * np.dtype(model.tensors[i].dtype).itemsize
            for i in first if model.tensors[i].dtype in fmt.DTYPES}
    return [sum(b for i, b in size.items() if first[i] <= n <= last[i]) for n in range(len(model.operators))]


def _arena_headroom(ctx: Context, op: Operator) -> int:
    """Bytes an op may add without passing the largest live set (a lower bound of the
    arena's peak) by more than 1/128 of it or WIDE_SLACK_BYTES."""
    if ctx.live_bytes is None:
        ctx.live_bytes = _live_bytes(ctx.model)
    live = ctx.live_bytes
    n = next(k for k, o in enumerate(ctx.model.operators) if o.index == op.index)
    return max(max(live) - live[n], max(live) // 128, WIDE_SLACK_BYTES)


def lower_conv(ctx: Context, op: Operator) -> None:
    dw = op.opcode == "DEPTHWISE_CONV_2D"
    x, w, out = _t(ctx, op.inputs[0]), _t(ctx, op.inputs[1]), _t(ctx, op.outputs[0])
    bias = op.inputs[2] if len(op.inputs) > 2 else -1
    o = op.options
    (_, h, wd, c), (_, kh, kw, _), (_, oh, ow, oc) = _dims4(x), _dims4(w), _dims4(out)
    where = f"{op.opcode} #{op.index}"
    pad_h = _padding(o["padding"], h, kh, o["stride_h"], o["dilation_h_factor"], oh, where)
    pad_w = _padding(o["padding"], wd, kw, o["stride_w"], o["dilation_w_factor"], ow, where)
    if dw and oc % c:
        raise ModelError(f"{where}: {oc} output channels are not a multiple of {c} inputs", hint="re-export the model")
    (xs, xz), (ys, yz) = _qp(x), _qp(out)
    mult_off, shift_off, shifts = _requant_tables(ctx, xs, _channel_scales(w, oc), ys)
    # 2^(33 - e) per channel: the Cortex-M kernels' shift and output offset in one SMMLA
    # (not for depthwise: its kernels requantize from the shifts, the M4 one from its own stream)
    pow2_off = ctx.table([1 << (33 + s) for s in shifts]) if not dw and all(-31 <= s <= -3 for s in shifts) else 0
    lo, hi = activation_range(o["fused_activation_function"], ys, yz)
    weights = w.array().astype(np.int64)
    wsum = weights.sum(axis=(0, 1, 2)) if dw else weights.reshape(oc, -1).sum(axis=1)
    bias_off = ctx.table(_bias_eff(ctx, bias, -xz * wsum))
    # Non-1x1 convolutions gather each window into a scratch buffer (padding filled with
    # the input zero point), so every window is one contiguous dot product. Then (and for
    # 1x1 kernels, which never touch padding) bias_eff is all the kernel needs of the
    # bias, and the image does not carry the bias tensor itself.
    if not dw:
        bias = -1
    k = kh * kw * c
    fresh_filter = op.inputs[1] not in ctx.index
    ins = [ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1])]
    if not dw and k % 4 and fresh_filter:
        # The Cortex-M4 kernel reads filter rows a word at a time, up to 3 bytes past the
        # last row (multiplied by zero lanes): keep those bytes inside the image.
        ctx.add_data(bytes(4))
    ins += [ctx.tensor(bias)] if bias >= 0 else []
    y = ctx.tensor(op.outputs[0])
    # CONV_2D scratch: two output pixels' inputs widened to int16 (16 bytes per 4 taps), and
    # when windows are gathered (kernels larger than 1x1, or padded) with C % 4 != 0, one
    # int8 window after them. This also holds the two int8 windows the Helium kernel
    # gathers, and the one of the plain C kernel.
    # Filters are widened there too, after a word-aligned window: 8 bytes per group of each
    # of the first oc & ~3 rows, or chunks of a multiple of 32 rows; at most
    # WIDE_FILTER_BYTES. Op by op, the size is the largest within the headroom of the
    # model's largest live set; a streamed plan picks among all of them (memtune.py).
    gathered = (kh * kw > 1 or pad_h or pad_w) and c % 4
    groups = (k + 3) // 4
    row = groups * 8
    cols = 16 * groups + ((k + 3) & ~3 if gathered else 0)
    wides = [(oc & ~3) * row] if oh * ow >= WIDE_MIN_PIXELS else []
    wides += [n * row for n in range(((oc & ~3) - 1) // 32 * 32, 0, -32)] if wides else []
    wides = [v for v in wides if 0 < v <= WIDE_FILTER_BYTES]
    room = _arena_headroom(ctx, op) - cols
    scratch = ctx.scratch(cols) if not dw else -1
    if scratch >= 0 and wides:
        ctx.scratch_options[scratch] = ([cols + v for v in wides], oh * ow * oc * k,
                                        cols + next((v for v in wides if v <= room), 0))
    clipped = ((oh - 1) * o["stride_h"] + (kh - 1) * o["dilation_h_factor"] >= h
               or (ow - 1) * o["stride_w"] + (kw - 1) * o["dilation_w_factor"] >= wd)
    if dw and oc == c and (pad_h or pad_w or clipped):
        # Windows that touch the padding point their missing taps at C bytes of the input
        # zero point (x + input_offset = 0), so they run the unclipped kernel on bias_eff.
        scratch = ctx.constant(bytes([xz & 0xFF]) * c)
    params = fmt.PARAMS["conv"].pack(ins[0], ins[1], ins[2] if bias >= 0 else -1, y, o["stride_w"], o["stride_h"],
                                     o["dilation_w_factor"], o["dilation_h_factor"], pad_w, pad_h,
                                     oc // c if dw else 1, -xz, yz, lo, hi, mult_off, shift_off, bias_off, scratch,
                                     pow2_off)
    ctx.emit(op.opcode, params, ins, [y] + ([scratch] if scratch >= 0 and not dw else []))


LOWERING: dict[str, Callable[[Context, Operator], None]] = {
    "CONV_2D": lower_conv, "DEPTHWISE_CONV_2D": lower_conv,
}
