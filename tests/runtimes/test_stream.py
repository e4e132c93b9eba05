"""Streamed segments: random small chains of CONV_2D / DEPTHWISE_CONV_2D / ADD give the
same bytes streamed, on whole tensors and in TFLM; the planner's byte-overlap check
catches a bad plan; the loader refuses a hostile SEGMENT record."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from fixtures_models import model_bytes
from fixtures_tflite_ops import T, options

from tinyops.devices.qemu_bench import run_image
from tinyops.errors import ModelError
from tinyops.runtimes import tflite_file
from tinyops.runtimes.tinyops_c import compile_image, compiler, memplan
from tinyops.runtimes.tinyops_c.format import HEADER, OP, OPCODES, PARAMS, crc32_image
from tinyops.runtimes.tinyops_c.lower import Context
from tinyops.runtimes.tinyops_c.native import NativeRuntime, validate_image

OK, BOUNDS, OPERR, SHAPE = 0, 6, 7, 9
_TYPES = {"int32": 2, "int8": 9}


def build_graph(tensors: list[T], ops: list[tuple[str, list[int], list[int], object, str]],
                inputs: list[int], outputs: list[int]) -> bytes:
    """A multi-op int8 .tflite: ops are (opcode, input tensor ids, output ids, options, options type)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []
    for k, t in enumerate(tensors):
        tt = s.TensorT()
        tt.shape, tt.type, tt.name = list(t.shape), _TYPES[t.dtype], f"t{k}"
        q = s.QuantizationParametersT()
        q.scale = [float(v) for v in t.scale]
        q.zeroPoint = [int(v) for v in (t.zero_point or [0] * len(t.scale))]
        q.quantizedDimension = t.quantized_dimension
        tt.quantization = q
        tt.buffer = 0
        if t.data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(t.data, dtype=t.dtype).tobytes(), np.uint8)
            model.buffers.append(b)
            tt.buffer = len(model.buffers) - 1
        sg.tensors.append(tt)
    names = sorted({o[0] for o in ops})
    model.operatorCodes = []
    for n in names:
        oc = s.OperatorCodeT()
        oc.builtinCode = getattr(s.BuiltinOperator, n)
        oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
        oc.version = 1
        model.operatorCodes.append(oc)
    sg.operators = []
    for name, ins, outs, opts, opts_type in ops:
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = names.index(name), ins, outs
        op.builtinOptionsType = getattr(s.BuiltinOptions, opts_type)
        op.builtinOptions = opts
        sg.operators.append(op)
    sg.inputs, sg.outputs = inputs, outputs
    model.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def random_chain(seed: int) -> bytes:
    """A chain of 3..6 convs/depthwise convs (3x3 or 1x1, stride 1 or 2, SAME or VALID),
    sometimes closed by a residual ADD; 8..20 rows, channels a multiple of 4."""
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(8, 21)), int(rng.integers(2, 7)), int(rng.choice([4, 8]))

    def q() -> tuple[list[float], list[int]]:
        return [float(np.float32(rng.uniform(0.02, 0.1)))], [int(rng.integers(-20, 20))]

    s, z = q()
    tensors = [T((1, h, w, c), scale=s, zero_point=z)]
    ops: list = []
    same_shape: dict[tuple, list[int]] = {(h, w, c): [0]}
    cur = 0
    for _ in range(int(rng.integers(3, 7))):
        dw = bool(rng.integers(0, 2))
        k = int(rng.choice([1, 3]))
        stride = int(rng.choice([1, 1, 2])) if h > 6 else 1
        valid = k == 3 and bool(rng.integers(0, 4) == 0)
        oc = c if dw else int(rng.choice([4, 8, 12]))
        oh = (h - k) // stride + 1 if valid else (h + stride - 1) // stride
        ow = (w - k) // stride + 1 if valid else (w + stride - 1) // stride
        if oh < 1 or ow < 1:
            continue
        xs = tensors[cur].scale[0]
        ws = [float(np.float32(v)) for v in rng.uniform(0.005, 0.03, size=oc)]
        wshape = (1, k, k, oc) if dw else (oc, k, k, c)
        tensors.append(T(wshape, scale=ws, zero_point=[0] * oc, quantized_dimension=3 if dw else 0,
                         data=rng.integers(-127, 128, size=wshape, dtype=np.int8)))
        tensors.append(T((oc,), "int32", [float(np.float32(xs * v)) for v in ws], [0] * oc,
                         rng.integers(-2000, 2000, size=oc).astype(np.int32)))
        s, z = q()
        tensors.append(T((1, oh, ow, oc), scale=s, zero_point=z))
        y = len(tensors) - 1
        pad = 1 if valid else 0
        act = int(rng.choice([0, 1, 3]))
        if dw:
            opts = options("DepthwiseConv2DOptions", padding=pad, strideW=stride, strideH=stride, depthMultiplier=1,
                           fusedActivationFunction=act, dilationWFactor=1, dilationHFactor=1)
            ops.append(("DEPTHWISE_CONV_2D", [cur, y - 2, y - 1], [y], opts, "DepthwiseConv2DOptions"))
        else:
            opts = options("Conv2DOptions", padding=pad, strideW=stride, strideH=stride, fusedActivationFunction=act,
                           dilationWFactor=1, dilationHFactor=1)
            ops.append(("CONV_2D", [cur, y - 2, y - 1], [y], opts, "Conv2DOptions"))
        h, w, c, cur = oh, ow, oc, y
        earlier = [t for t in same_shape.get((h, w, c), []) if t != cur]
        same_shape.setdefault((h, w, c), []).append(cur)
        if earlier and rng.integers(0, 2):
            s, z = q()
            tensors.append(T((1, h, w, c), scale=s, zero_point=z))
            ops.append(("ADD", [earlier[-1], cur], [len(tensors) - 1], options("AddOptions"), "AddOptions"))
            cur = len(tensors) - 1
            same_shape[(h, w, c)].append(cur)
    return build_graph(tensors, ops, [0], [cur])


@pytest.mark.parametrize("seed", range(16))
def test_random_chain_streamed_equals_whole_and_tflm(oracle, seed: int) -> None:
    model = random_chain(seed)
    streamed, whole = compile_image(model), compile_image(model, streaming=False)
    x = np.random.default_rng(seed + 100).integers(-128, 128, size=streamed.inputs[0]["shape"], dtype=np.int8)
    want = oracle.run(model, [x])[0]
    got_s = NativeRuntime(model, compiled=streamed).run_all([x])[0]
    got_w = NativeRuntime(model, compiled=whole).run_all([x])[0]
    np.testing.assert_array_equal(got_w, want)
    np.testing.assert_array_equal(got_s, want)
    assert streamed.arena_bytes <= whole.arena_bytes
    assert not any(o["op"] == "SEGMENT" for o in whole.op_table)


@pytest.mark.parametrize("seed", range(16, 24))
@pytest.mark.parametrize("rows", [2, 3])
def test_random_chain_several_rows_per_call(oracle, seed: int, rows: int) -> None:
    model = random_chain(seed)
    c = compile_image(model, rows_per_call=rows)
    assert all(r == rows for s in c.plan["segments"] for r in s["rows_per_call"])
    x = np.random.default_rng(seed).integers(-128, 128, size=c.inputs[0]["shape"], dtype=np.int8)
    np.testing.assert_array_equal(NativeRuntime(model, compiled=c).run_all([x])[0], oracle.run(model, [x])[0])


def test_random_chains_do_stream() -> None:
    streamed = [compile_image(random_chain(seed)) for seed in range(16)]
    assert sum(bool(c.plan["segments"]) for c in streamed) >= 10


def _layout(name: str) -> tuple[Context, memplan.Layout, list[int], list[int]]:
    return _layout_of(model_bytes(name))


def _layout_of(data: bytes) -> tuple[Context, memplan.Layout, list[int], list[int]]:
    model = tflite_file.read(data)
    ctx = Context(model)
    inputs = [ctx.tensor(i) for i in model.inputs]
    for op in model.operators:
        compiler.LOWERING[op.opcode](ctx, op)
    outputs = [ctx.tensor(i) for i in model.outputs]
    return ctx, memplan.choose(ctx, inputs, outputs), inputs, outputs


def test_widened_filters_in_segments_on_cortex_m4(oracle) -> None:
    """Streamed conv members with a widened filter (kept in their scratch from the first
    call on) give TFLM's bytes on the Cortex-M4 build."""
    widened = 0
    for seed in range(8):
        model = random_chain(seed)
        ctx, lay, _, _ = _layout_of(model)
        widened += sum(m.scratch >= 0 and ctx.records[m.scratch].nbytes in ctx.scratch_options.get(m.scratch, ([],))[0]
                       for ms in lay.members.values() for m in ms)
        c = compile_image(model)
        x = np.random.default_rng(seed + 7).integers(-128, 128, size=c.inputs[0]["shape"], dtype=np.int8)
        run = run_image(c.image, x.tobytes())
        assert run.status == 0
        want = oracle.run(model, [x])[0]
        np.testing.assert_array_equal(np.frombuffer(run.output, np.int8).reshape(want.shape), want)
    assert widened >= 2


@pytest.mark.parametrize("name", ["ds_cnn_kws", "resnet8_ic", "mobilenet_vww"])
def test_byte_check_catches_a_bad_plan(name: str) -> None:
    ctx, lay, inputs, outputs = _layout(name)
    assert lay.lags and memplan.check(ctx, lay, inputs, outputs) is None
    (out, inp), lag = next(iter(lay.lags.items()))
    good = dict(lay.offsets)
    # the streamed output starts above what its lag allows: it overwrites input rows still needed
    lay.offsets[out] = lay.offsets[inp] + max(-lag, 0) + 16
    lay.arena = max(lay.arena, lay.offsets[out] + lay.sizes[out])
    assert "overwritten" in (memplan.check(ctx, lay, inputs, outputs) or "")
    # a window placed on the segment's output
    lay.offsets = dict(good)
    window = next(t for t in lay.offsets if t >= memplan.WINDOW_ID)
    seg = window // memplan.WINDOW_ID - 1
    lay.offsets[window] = lay.offsets[lay.members[seg][-1].out]
    assert "overwritten" in (memplan.check(ctx, lay, inputs, outputs) or "")


def _segment(image: bytes) -> tuple[int, tuple]:
    h = dict(zip(("magic", "version", "image_size", "crc32", "arena_bytes", "n_tensors", "tensors_off", "n_ops",
                  "ops_off"), HEADER.unpack_from(image, 0)))
    for k in range(h["n_ops"]):
        code, off, _ = OP.unpack_from(image, h["ops_off"] + k * OP.size)
        if code == OPCODES["SEGMENT"]:
            return off, PARAMS["segment"].unpack_from(image, off)
    raise AssertionError("no SEGMENT op")


def _patch(image: bytes, off: int, value: int) -> bytes:
    b = bytearray(image)
    struct.pack_into("<I", b, off, value)
    struct.pack_into("<I", b, 12, crc32_image(b))
    return bytes(b)


def test_hostile_segment_records_are_refused() -> None:
    c = compile_image(model_bytes("mobilenet_vww"))
    img = c.image
    assert validate_image(img)[0] == OK
    off, p = _segment(img)
    n = p[0]
    assert n >= 2
    code, params_off, window_off, window_rows = 16, 16 + 32, 16 + 96, 16 + 128
    assert validate_image(_patch(img, off, 9))[0] == SHAPE  # more members than the record holds
    assert validate_image(_patch(img, off + code, OPCODES["FULLY_CONNECTED"]))[0] == OPERR
    assert validate_image(_patch(img, off + params_off, len(img)))[0] == BOUNDS
    assert validate_image(_patch(img, off + window_off, c.arena_bytes - 16))[0] == BOUNDS
    assert validate_image(_patch(img, off + window_rows, 0))[0] == SHAPE
    assert validate_image(_patch(img, off + window_rows, 10**6))[0] == SHAPE
    assert validate_image(_patch(img, off + window_off + 4 * (n - 1), 64))[0] == SHAPE  # the last member has none
    # a window too small for its consumer's band loads, and invoke stops with an error
    small = _patch(img, off + window_rows, 1)
    assert validate_image(small)[0] == OK
    from tinyops.runtimes.tinyops_c.compiler import CompiledImage

    bad = CompiledImage(**{**c.__dict__, "image": small})
    with pytest.raises(ModelError, match="invoke failed"):
        NativeRuntime(model_bytes("mobilenet_vww"), compiled=bad).run_all(
            [np.zeros(c.inputs[0]["shape"], np.int8)])
