"""Data-movement operators lowered to the runtime's one COPY kernel: for each of up to 4
iteration dimensions a table of input element offsets, and output strides. The tables
reproduce TFLM's reference index arithmetic on the host (strided_slice_logic.h,
resize_nearest_neighbor.h, mirror_pad.cc, ...), so the runtime only moves bytes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tflite_file import Operator
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c.lower import Context, _t


def _strides(shape: Sequence[int]) -> list[int]:
    out, n = [], 1
    for d in reversed(list(shape)):
        out.append(n)
        n *= d
    return out[::-1]


def _where(op: Operator) -> str:
    return f"{op.opcode} #{op.index}"


def const_ints(ctx: Context, op: Operator, i: int, what: str) -> list[int]:
    """The values of a constant int32/int64 input (axes, begins, paddings, indices...)."""
    if i < 0:
        raise ModelError(f"{_where(op)}: the {what} input is missing", hint="re-export the model")
    t = _t(ctx, i)
    if t.data is None or t.dtype not in ("int32", "int64"):
        raise ModelError(f"{_where(op)}: the {what} must be a constant int32 tensor (tinyops-c has no run-time {what})",
                         hint="build for a TFLM profile to run this model")
    return [int(v) for v in t.array().reshape(-1)]


def _consecutive(t: list[int]) -> bool:
    return all(b - a == 1 for a, b in zip(t, t[1:]))


def emit_copy(ctx: Context, op: Operator, xi: int, yi: int, tables: list[list[int]],
              out_base: int = 0, out_strides: list[int] | None = None) -> None:
    """One COPY op: out[out_base + sum i_d*out_strides[d]] = in[sum tables[d][i_d]].
    ``xi``/``yi`` are image tensor indices; output strides default to sequential."""
    where = _where(op)
    if any(not t for t in tables):
        raise ModelError(f"{where}: an empty output dimension", hint="tinyops-c tensors have no zero-sized dims")
    if out_strides is None:
        out_strides = _strides([len(t) for t in tables])
        if math.prod(len(t) for t in tables) != ctx.records[yi].nbytes:
            raise ModelError(f"{where}: the output shape does not match the operator's parameters",
                             hint="re-export the model")
    tabs, strides = [list(t) for t in tables], list(out_strides)
    # Dimensions of length 1 only add a constant offset.
    const = 0
    keep = [k for k, t in enumerate(tabs) if len(t) > 1] or [len(tabs) - 1]
    for k, t in enumerate(tabs):
        if k not in keep:
            const += t[0]
    tabs, strides = [tabs[k] for k in keep], [strides[k] for k in keep]
    tabs[0] = [v + const for v in tabs[0]]
    # Fold the innermost two dims while the result stays one contiguous run.
    while len(tabs) > 1 and strides[-1] == 1 and _consecutive(tabs[-1]):
        a, b = tabs[-2], tabs[-1]
        if strides[-2] != len(b) or any(y - x != len(b) for x, y in zip(a, a[1:])):
            break
        tabs[-2:] = [list(range(a[0] + b[0], a[0] + b[0] + len(a) * len(b)))]
        strides[-2:] = [1]
    while len(tabs) > 4:  # only for sequential outputs: merge the two innermost dims
        a, b = tabs[-2], tabs[-1]
        if strides[-2] != len(b) * strides[-1]:
            raise ModelError(f"{where}: more than 4 dimensions", hint="run the model with TFLM")
        tabs[-2:] = [[x + y for x in a for y in b]]
        strides[-2:] = [strides[-1]]
    while len(tabs) < 4:
        tabs.insert(0, [0])
        strides.insert(0, 0)
    contiguous = int(strides[3] == 1 and _consecutive(tabs[3]))
    flat = tabs[0] + tabs[1] + tabs[2] + (tabs[3][:1] if contiguous else tabs[3])
    if min(flat) < 0 or sum(max(t) for t in tabs) >= ctx.records[xi].nbytes:
        raise ModelError(f"{where}: an index lies outside the input", hint="re-export the model")
    off = ctx.table(flat)
    params = fmt.PARAMS["copy"].pack(xi, yi, *[len(t) for t in tabs], out_base, *strides, off, contiguous)
    ctx.emit("COPY", params, [xi], [yi])


def _axis(op: Operator, axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise ModelError(f"{_where(op)}: axis {axis} out of range for rank {rank}", hint="re-export the model")
    return a


def _ranged(shape: Sequence[int], axis: int, values: list[int]) -> list[list[int]]:
    """Tables selecting ``values`` along ``axis`` and everything along the other dims."""
    st = _strides(shape)
    return [[v * st[d] for v in (values if d == axis else range(n))] for d, n in enumerate(shape)]


def lower_strided_slice(ctx: Context, op: Operator) -> None:
    x = _t(ctx, op.inputs[0])
    o = op.options
    if o.get("ellipsis_mask") or o.get("new_axis_mask") or o.get("offset"):
        raise ModelError(f"{_where(op)}: ellipsis/new-axis masks and offset are not supported (TFLM ignores them)",
                         hint="re-export the model without them or run it with TFLM")
    begin, end = const_ints(ctx, op, op.inputs[1], "begin"), const_ints(ctx, op, op.inputs[2], "end")
    step = const_ints(ctx, op, op.inputs[3], "strides")
    shape, rank = list(x.shape), len(x.shape)
    if not len(begin) == len(end) == len(step) == rank or 0 in step:
        raise ModelError(f"{_where(op)}: begin/end/strides must have one non-zero entry per input dim",
                         hint="re-export the model")
    st, tables = _strides(shape), []
    for a in range(rank):  # strided_slice_logic.h: StridedSliceStartForAxis / EndForAxis
        size, s = shape[a], step[a]
        start = begin[a] + (size if begin[a] < 0 else 0)
        start = min(max(start, 0), size) if s > 0 else min(max(start, -1), size - 1)
        if o["begin_mask"] & (1 << a):
            start = 0 if s > 0 else size - 1
        if o["shrink_axis_mask"] & (1 << a):
            stop = start if start >= size else start + 1
        else:
            stop = end[a] + (size if end[a] < 0 else 0)
            stop = min(max(stop, 0), size) if s > 0 else min(max(stop, -1), size - 1)
            if o["end_mask"] & (1 << a):
                stop = size if s > 0 else -1
        tables.append([i * st[a] for i in range(start, stop, s)])
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


def lower_slice(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    begin = const_ints(ctx, op, op.inputs[1], "begin")
    if len(begin) != len(x.shape) or len(out.shape) != len(x.shape):
        raise ModelError(f"{_where(op)}: begin must have one entry per input dim", hint="re-export the model")
    st = _strides(x.shape)
    for b, n, size in zip(begin, out.shape, x.shape):
        if b < 0 or b + n > size:
            raise ModelError(f"{_where(op)}: the slice leaves the input", hint="re-export the model")
    tables = [[(b + i) * s for i in range(n)] for b, n, s in zip(begin, out.shape, st)]
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


def _split(ctx: Context, op: Operator, data: int, axis: int) -> None:
    x = _t(ctx, data)
    a = _axis(op, axis, len(x.shape))
    xi, base = ctx.tensor(data), 0
    for o in op.outputs:
        n = _t(ctx, o).shape[a]
        emit_copy(ctx, op, xi, ctx.tensor(o), _ranged(x.shape, a, list(range(base, base + n))))
        base += n
    if base != x.shape[a]:
        raise ModelError(f"{_where(op)}: the outputs do not add up to the input along axis {a}",
                         hint="re-export the model")


def lower_split(ctx: Context, op: Operator) -> None:
    _split(ctx, op, op.inputs[1], const_ints(ctx, op, op.inputs[0], "axis")[0])


def lower_split_v(ctx: Context, op: Operator) -> None:
    _split(ctx, op, op.inputs[0], const_ints(ctx, op, op.inputs[2], "axis")[0])


def lower_transpose(ctx: Context, op: Operator) -> None:
    x = _t(ctx, op.inputs[0])
    perm = const_ints(ctx, op, op.inputs[1], "permutation")
    if sorted(perm) != list(range(len(x.shape))):
        raise ModelError(f"{_where(op)}: {perm} is not a permutation of the input dims", hint="re-export the model")
    st = _strides(x.shape)
    tables = [[i * st[p] for i in range(x.shape[p])] for p in perm]
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


def lower_pack(ctx: Context, op: Operator) -> None:
    out = _t(ctx, op.outputs[0])
    a = _axis(op, op.options["axis"], len(out.shape))
    ost = _strides(out.shape)
    yi = ctx.tensor(op.outputs[0])
    for k, i in enumerate(op.inputs):
        shape = list(_t(ctx, i).shape)
        if shape != list(out.shape[:a]) + list(out.shape[a + 1:]):
            raise ModelError(f"{_where(op)}: input {k} has shape {shape}, not the output's without axis {a}",
                             hint="re-export the model")
        st = _strides(shape)
        tables = [[j * s for j in range(n)] for n, s in zip(shape, st)] or [[0]]
        emit_copy(ctx, op, ctx.tensor(i), yi, tables, k * ost[a], (ost[:a] + ost[a + 1:]) or [1])


def lower_unpack(ctx: Context, op: Operator) -> None:
    x = _t(ctx, op.inputs[0])
    a = _axis(op, op.options["axis"], len(x.shape))
    xi = ctx.tensor(op.inputs[0])
    for k, o in enumerate(op.outputs):
        emit_copy(ctx, op, xi, ctx.tensor(o), _ranged(x.shape, a, [k]))


def lower_gather(ctx: Context, op: Operator) -> None:
    x = _t(ctx, op.inputs[0])
    idx = const_ints(ctx, op, op.inputs[1], "indices")
    if op.options.get("batch_dims", 0):
        raise ModelError(f"{_where(op)}: batch_dims is not supported", hint="run the model with TFLM")
    a = _axis(op, op.options["axis"], len(x.shape))
    size = x.shape[a]
    if any(not 0 <= i < size for i in idx):
        raise ModelError(f"{_where(op)}: an index is outside 0..{size - 1}", hint="re-export the model")
    outer, inner = math.prod(x.shape[:a]), math.prod(x.shape[a + 1:])
    tables = [[i * size * inner for i in range(outer)], [i * inner for i in idx], list(range(inner))]
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


def _nearest(i: int, in_size: int, out_size: int, align: bool, half: bool) -> int:
    """resize_nearest_neighbor.h GetNearestNeighbor, in float32 like the C++."""
    f32 = np.float32
    scale = f32(in_size - 1) / f32(out_size - 1) if align and out_size > 1 else f32(in_size) / f32(out_size)
    v = (f32(i) + f32(0.5 if half else 0.0)) * scale
    r = int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v))) if align else math.floor(float(v))
    r = min(r, in_size - 1)
    return max(0, r) if half else r


def resize_shapes(ctx: Context, op: Operator) -> tuple[tuple[int, int, int, int], int, int]:
    """A RESIZE_* op's NHWC input shape and its output height and width, checked."""
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    if len(x.shape) != 4:
        raise ModelError(f"{_where(op)}: the input must be 4-D (NHWC)", hint="re-export the model")
    n, h, w, c = x.shape
    oh, ow = const_ints(ctx, op, op.inputs[1], "size")
    if tuple(out.shape) != (n, oh, ow, c):
        raise ModelError(f"{_where(op)}: output shape {out.shape} does not follow from size {[oh, ow]}",
                         hint="re-export the model")
    return (n, h, w, c), oh, ow


def lower_resize_nearest(ctx: Context, op: Operator) -> None:
    (n, h, w, c), oh, ow = resize_shapes(ctx, op)
    al, half = bool(op.options["align_corners"]), bool(op.options["half_pixel_centers"])
    tables = [[b * h * w * c for b in range(n)], [_nearest(y, h, oh, al, half) * w * c for y in range(oh)],
              [_nearest(v, w, ow, al, half) * c for v in range(ow)], list(range(c))]
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


def _mirror(i: int, left: int, size: int, offset: int) -> int:
    """mirror_pad.cc GetInputDimension."""
    if i < left:
        orig = left + offset - 1
        return orig - min(i, orig - offset)
    i -= left
    if i >= size:
        i -= size
        orig = size - (1 + offset)
        return orig - min(i, orig)
    return i


def lower_mirror_pad(ctx: Context, op: Operator) -> None:
    x, out = _t(ctx, op.inputs[0]), _t(ctx, op.outputs[0])
    pads = const_ints(ctx, op, op.inputs[1], "paddings")
    offset = 1 if op.options["mode"] == 0 else 0  # REFLECT skips the edge, SYMMETRIC repeats it
    st, tables = _strides(x.shape), []
    for d, size in enumerate(x.shape):
        left, right = pads[2 * d], pads[2 * d + 1]
        if left < 0 or right < 0 or max(left, right) > size - offset or out.shape[d] != size + left + right:
            raise ModelError(f"{_where(op)}: paddings {pads} do not fit input {list(x.shape)}",
                             hint="re-export the model")
        tables.append([_mirror(i, left, size, offset) * st[d] for i in range(out.shape[d])])
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


def lower_tile(ctx: Context, op: Operator) -> None:
    x = _t(ctx, op.inputs[0])
    mult = const_ints(ctx, op, op.inputs[1], "multiples")
    if len(mult) != len(x.shape) or min(mult, default=1) < 1:
        raise ModelError(f"{_where(op)}: multiples {mult} do not fit input {list(x.shape)}", hint="re-export the model")
    st = _strides(x.shape)
    tables = [[(i % n) * s for i in range(n * m)] for n, m, s in zip(x.shape, mult, st)]
    emit_copy(ctx, op, ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0]), tables)


LOWERING: dict[str, Callable[[Context, Operator], None]] = {
    "STRIDED_SLICE": lower_strided_slice, "SLICE": lower_slice, "SPLIT": lower_split, "SPLIT_V": lower_split_v,
    "TRANSPOSE": lower_transpose, "PACK": lower_pack, "UNPACK": lower_unpack, "GATHER": lower_gather,
    "RESIZE_NEAREST_NEIGHBOR": lower_resize_nearest, "MIRROR_PAD": lower_mirror_pad, "TILE": lower_tile,
}
