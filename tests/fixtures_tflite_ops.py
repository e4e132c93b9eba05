"""Single-operator int8 .tflite models written directly with the TFLite flatbuffer
schema (so property tests control every shape and quantization parameter), and a
TFLite Micro oracle that runs models in one long-lived child process (TFLM can abort;
a crash becomes an exception and the next call starts a fresh child).
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class T:
    """A tensor of a single-op model."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    data: np.ndarray | None = None
    quantized_dimension: int = 0
    name: str = ""
    variable: bool = False  # a TFLite variable (state kept between invokes, e.g. SVDF's)


@dataclass
class OpSpec:
    op: str
    inputs: list[T | None]
    outputs: list[T]
    options: Any = None  # a schema *OptionsT object
    options_type: str | None = None  # BuiltinOptions member name
    graph_inputs: list[int] = field(default_factory=list)  # indices into `inputs` fed at run time


_TYPES = {"float32": 0, "int32": 2, "int8": 9, "int64": 4}


def build(spec: OpSpec) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []

    def add_tensor(t: T) -> int:
        tt = s.TensorT()
        tt.shape = list(t.shape)
        tt.type = _TYPES[t.dtype]
        tt.name = t.name or f"t{len(sg.tensors)}"
        tt.isVariable = t.variable
        if t.scale is not None:
            q = s.QuantizationParametersT()
            q.scale = [float(v) for v in t.scale]
            q.zeroPoint = [int(v) for v in (t.zero_point or [0] * len(t.scale))]
            q.quantizedDimension = t.quantized_dimension
            tt.quantization = q
        if t.data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(t.data, dtype=t.dtype).tobytes(), np.uint8)
            model.buffers.append(b)
            tt.buffer = len(model.buffers) - 1
        else:
            tt.buffer = 0
        sg.tensors.append(tt)
        return len(sg.tensors) - 1

    ins = [add_tensor(t) if t is not None else -1 for t in spec.inputs]
    outs = [add_tensor(t) for t in spec.outputs]
    feed = spec.graph_inputs or [i for i, t in enumerate(spec.inputs)
                                 if t is not None and t.data is None and not t.variable]
    sg.inputs = [ins[i] for i in feed]
    sg.outputs = outs
    op = s.OperatorT()
    op.opcodeIndex = 0
    op.inputs = ins
    op.outputs = outs
    if spec.options is not None:
        op.builtinOptionsType = getattr(s.BuiltinOptions, spec.options_type)
        op.builtinOptions = spec.options
    sg.operators = [op]
    oc = s.OperatorCodeT()
    code = getattr(s.BuiltinOperator, spec.op)
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1
    model.operatorCodes = [oc]
    model.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def options(name: str, **fields: Any) -> Any:
    from ai_edge_litert import schema_py_generated as s

    o = getattr(s, f"{name}T")()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


# ---- TFLM oracle ---------------------------------------------------------------

def _frame(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def _read(f: Any) -> bytes | None:
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return f.read(n)


class TflmOracle:
    """Runs (model, inputs) through TFLM's Python interpreter in a child process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self.proc

    def run(self, model: bytes, inputs: list[np.ndarray], n_outputs: int = 1) -> list[np.ndarray]:
        return self.run_steps(model, [inputs], n_outputs)[0]

    def run_steps(self, model: bytes, steps: list[list[np.ndarray]], n_outputs: int = 1) -> list[list[np.ndarray]]:
        """Invoke one interpreter once per step (variables carry over); every step's outputs."""
        proc = self._start()
        buf = io.BytesIO()
        feeds = {f"s{k}_x{i}": x for k, xs in enumerate(steps) for i, x in enumerate(xs)}
        np.savez(buf, model=np.frombuffer(model, np.uint8), n_out=np.array(n_outputs), n_steps=np.array(len(steps)),
                 **feeds)
        assert proc.stdin and proc.stdout
        try:
            proc.stdin.write(_frame(buf.getvalue()))
            proc.stdin.flush()
            reply = _read(proc.stdout)
        except BrokenPipeError:
            reply = None
        if reply is None:
            code = proc.wait()
            raise RuntimeError(f"TFLM crashed (exit {code})")
        data = np.load(io.BytesIO(reply), allow_pickle=False)
        if "error" in data:
            raise RuntimeError(f"TFLM error: {data['error']}")
        return [[data[f"s{k}_y{i}"] for i in range(n_outputs)] for k in range(len(steps))]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _serve() -> None:
    from tflite_micro.python.tflite_micro import runtime

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        req = _read(stdin)
        if req is None:
            return
        d = np.load(io.BytesIO(req), allow_pickle=False)
        out = io.BytesIO()
        try:
            model = d["model"].tobytes()
            it = runtime.Interpreter.from_bytes(model, arena_size=max(1 << 20, 8 * len(model)))
            ys = {}
            for k in range(int(d["n_steps"])):
                n_in = len([f for f in d.files if f.startswith(f"s{k}_x")])
                for i in range(n_in):
                    it.set_input(d[f"s{k}_x{i}"], i)
                it.invoke()
                ys.update({f"s{k}_y{i}": np.array(it.get_output(i)) for i in range(int(d["n_out"]))})
            np.savez(out, **ys)
        except Exception as e:  # noqa: BLE001 - report any interpreter error to the parent
            np.savez(out, error=np.array(str(e)))
        stdout.write(_frame(out.getvalue()))
        stdout.flush()


if __name__ == "__main__" and "--serve" in sys.argv:
    _serve()


def seed_specs() -> dict[str, OpSpec]:
    """One small model per op kind: fuzz seeds and loader-test inputs."""
    q = dict(scale=[0.05], zero_point=[3])
    r = np.random.default_rng(1)

    def i8(*shape: int) -> np.ndarray:
        return r.integers(-128, 128, size=shape, dtype=np.int8)

    w = dict(scale=[0.01, 0.02, 0.03], zero_point=[0, 0, 0])
    bias = T((3,), "int32", [0.0005, 0.001, 0.0015], [0, 0, 0], np.array([5, -7, 9], np.int32))
    return {
        "conv": OpSpec("CONV_2D", [T((1, 5, 5, 2), **q), T((3, 3, 3, 2), data=i8(3, 3, 3, 2), **w), bias],
                       [T((1, 3, 3, 3), **q)], options("Conv2DOptions", padding=0, strideW=2, strideH=2,
                                                         fusedActivationFunction=1, dilationWFactor=1,
                                                         dilationHFactor=1), "Conv2DOptions", [0]),
        "depthwise": OpSpec("DEPTHWISE_CONV_2D", [T((1, 4, 4, 3), **q), T((1, 3, 3, 3), data=i8(1, 3, 3, 3),
                                                                        quantized_dimension=3, **w), bias],
                            [T((1, 4, 4, 3), **q)], options("DepthwiseConv2DOptions", padding=0, strideW=1,
                                                              strideH=1, depthMultiplier=1, dilationWFactor=1,
                                                              dilationHFactor=1), "DepthwiseConv2DOptions", [0]),
        "fc": OpSpec("FULLY_CONNECTED", [T((1, 8), **q), T((3, 8), scale=[0.01], zero_point=[0], data=i8(3, 8)), None],
                     [T((1, 3), **q)], options("FullyConnectedOptions"), "FullyConnectedOptions", [0]),
        "avgpool": OpSpec("AVERAGE_POOL_2D", [T((1, 4, 4, 2), **q)], [T((1, 2, 2, 2), **q)],
                          options("Pool2DOptions", padding=1, strideW=2, strideH=2, filterWidth=2, filterHeight=2),
                          "Pool2DOptions"),
        "maxpool": OpSpec("MAX_POOL_2D", [T((1, 4, 4, 2), **q)], [T((1, 2, 2, 2), **q)],
                          options("Pool2DOptions", padding=0, strideW=2, strideH=2, filterWidth=3, filterHeight=3),
                          "Pool2DOptions"),
        "mean": OpSpec("MEAN", [T((1, 3, 3, 2), **q), T((2,), "int32", data=np.array([1, 2], np.int32))],
                       [T((1, 2), scale=[0.03], zero_point=[-1])], options("ReducerOptions", keepDims=False),
                       "ReducerOptions"),
        "add": OpSpec("ADD", [T((1, 2, 3), **q), T((1, 1, 3), scale=[0.02], zero_point=[1])],
                      [T((1, 2, 3), scale=[0.07], zero_point=[0])], options("AddOptions"), "AddOptions"),
        "mul": OpSpec("MUL", [T((1, 6), **q), T((1, 6), **q)], [T((1, 6), scale=[0.01], zero_point=[0])],
                      options("MulOptions"), "MulOptions"),
        "softmax": OpSpec("SOFTMAX", [T((1, 5), **q)], [T((1, 5), scale=[1 / 256], zero_point=[-128])],
                          options("SoftmaxOptions", beta=1.0), "SoftmaxOptions"),
        "logistic": OpSpec("LOGISTIC", [T((1, 7), **q)], [T((1, 7), scale=[1 / 256], zero_point=[-128])]),
        "tanh": OpSpec("TANH", [T((1, 7), **q)], [T((1, 7), scale=[1 / 128], zero_point=[0])]),
        "quantize": OpSpec("QUANTIZE", [T((1, 4), "float32")], [T((1, 4), **q)]),
        "requantize": OpSpec("QUANTIZE", [T((1, 4), **q)], [T((1, 4), scale=[0.02], zero_point=[-5])]),
        "dequantize": OpSpec("DEQUANTIZE", [T((1, 4), **q)], [T((1, 4), "float32")]),
        "pad": OpSpec("PAD", [T((1, 2, 2, 1), **q), T((4, 2), "int32", data=np.array([[0, 0], [1, 1], [0, 2], [0, 0]], np.int32))],
                      [T((1, 4, 4, 1), **q)], graph_inputs=[0]),
        "concat": OpSpec("CONCATENATION", [T((1, 2, 2), **q), T((1, 2, 3), **q)], [T((1, 2, 5), **q)],
                         options("ConcatenationOptions", axis=-1), "ConcatenationOptions"),
        "reshape": OpSpec("RESHAPE", [T((1, 2, 3), **q), T((2,), "int32", data=np.array([1, 6], np.int32))],
                          [T((1, 6), **q)], options("ReshapeOptions", newShape=[1, 6]), "ReshapeOptions"),
        "lut": OpSpec("HARD_SWISH", [T((1, 9), **q)], [T((1, 9), scale=[0.04], zero_point=[-2])]),
        "sub": OpSpec("SUB", [T((1, 2, 3), **q), T((1, 1, 3), scale=[0.02], zero_point=[1])],
                      [T((1, 2, 3), scale=[0.07], zero_point=[0])], options("SubOptions"), "SubOptions"),
        "div": OpSpec("DIV", [T((1, 6), **q), T((1, 6), scale=[0.1], zero_point=[-4])],
                      [T((1, 6), scale=[0.2], zero_point=[0])], options("DivOptions"), "DivOptions"),
        "prelu": OpSpec("PRELU", [T((1, 2, 3), **q), T((3,), scale=[0.01], zero_point=[0], data=i8(3))],
                        [T((1, 2, 3), **q)], graph_inputs=[0]),
        "maximum": OpSpec("MAXIMUM", [T((1, 4), **q), T((1, 1), **q)], [T((1, 4), **q)]),
        "sum": OpSpec("SUM", [T((1, 3, 3, 2), **q), T((2,), "int32", data=np.array([1, 2], np.int32))],
                      [T((1, 2), scale=[0.3], zero_point=[-1])], options("ReducerOptions", keepDims=False),
                      "ReducerOptions"),
        "argmax": OpSpec("ARG_MAX", [T((2, 5), **q), T((1,), "int32", data=np.array([1], np.int32))],
                         [T((2,), "int32")], options("ArgMaxOptions", outputType=2), "ArgMaxOptions"),
        **data_seed_specs(),
    }


def _i32(values: list[int]) -> T:
    return T((len(values),), "int32", data=np.array(values, np.int32))


def data_seed_specs() -> dict[str, OpSpec]:
    """One model per op of the COPY, RESIZE_BILINEAR, TRANSPOSE_CONV and SVDF kernels."""
    rng = np.random.default_rng(11)
    q = dict(scale=[0.05], zero_point=[3])
    w = rng.integers(-128, 128, size=(5, 3, 3, 4), dtype=np.int8)
    return {
        "strided_slice": OpSpec("STRIDED_SLICE", [T((1, 7, 9, 6), **q), _i32([0, 6, 1, 0]), _i32([1, 0, 8, 5]),
                                                  _i32([1, -2, 3, 2])], [T((1, 3, 3, 3), **q)],
                                options("StridedSliceOptions"), "StridedSliceOptions", graph_inputs=[0]),
        "transpose": OpSpec("TRANSPOSE", [T((2, 3, 4, 5), **q), _i32([2, 0, 3, 1])], [T((4, 2, 5, 3), **q)],
                            graph_inputs=[0]),
        "mirror_pad": OpSpec("MIRROR_PAD", [T((1, 4, 5, 3), **q), T((4, 2), "int32", data=np.array(
            [[0, 0], [3, 2], [1, 4], [0, 0]], np.int32))], [T((1, 9, 10, 3), **q)],
            options("MirrorPadOptions", mode=1), "MirrorPadOptions", graph_inputs=[0]),
        "resize_bilinear": OpSpec("RESIZE_BILINEAR", [T((1, 5, 4, 3), **q), _i32([9, 11])], [T((1, 9, 11, 3), **q)],
                                  options("ResizeBilinearOptions", halfPixelCenters=True), "ResizeBilinearOptions",
                                  graph_inputs=[0]),
        "transpose_conv": OpSpec("TRANSPOSE_CONV", [_i32([1, 9, 11, 5]), T((5, 3, 3, 4), scale=[0.01, 0.02, 0.015, 0.03, 0.01],
                                                                          zero_point=[0] * 5, data=w),
                                                    T((1, 4, 5, 4), **q)], [T((1, 9, 11, 5), scale=[0.3], zero_point=[-4])],
                                 options("TransposeConvOptions", padding=1, strideW=2, strideH=2),
                                 "TransposeConvOptions", graph_inputs=[2]),
        "svdf": OpSpec("SVDF", [T((1, 7), **q), T((6, 7), scale=[0.02], zero_point=[0],
                                                  data=rng.integers(-128, 128, size=(6, 7), dtype=np.int8)),
                                T((6, 4), scale=[0.03], zero_point=[0],
                                  data=rng.integers(-128, 128, size=(6, 4), dtype=np.int8)),
                                T((3,), "int32", [0.0009], [0], np.array([100, -50, 7], np.int32)),
                                T((1, 24), scale=[0.03], zero_point=[-2], variable=True)],
                       [T((1, 3), scale=[0.2], zero_point=[1])], options("SVDFOptions", rank=2), "SVDFOptions",
                       graph_inputs=[0]),
    }


if __name__ == "__main__" and "--seeds" in sys.argv:
    # python tests/fixtures_tflite_ops.py --seeds firmware/fuzz/corpus_loader
    from pathlib import Path

    from tinyops.runtimes.tinyops_c import compile_image

    dest = Path(sys.argv[sys.argv.index("--seeds") + 1])
    dest.mkdir(parents=True, exist_ok=True)
    for name, spec in seed_specs().items():
        (dest / f"seed-{name}.img").write_bytes(compile_image(build(spec)).image)
