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
    feed = spec.graph_inputs or [i for i, t in enumerate(spec.inputs) if t is not None and t.data is None]
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
        proc = self._start()
        buf = io.BytesIO()
        np.savez(buf, model=np.frombuffer(model, np.uint8), n_out=np.array(n_outputs), **{f"x{i}": x for i, x in enumerate(inputs)})
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
        return [data[f"y{i}"] for i in range(len(data.files))]

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
            n_in = len([k for k in d.files if k.startswith("x")])
            for i in range(n_in):
                it.set_input(d[f"x{i}"], i)
            it.invoke()
            np.savez(out, **{f"y{i}": np.array(it.get_output(i)) for i in range(int(d["n_out"]))})
        except Exception as e:  # noqa: BLE001 - report any interpreter error to the parent
            np.savez(out, error=np.array(str(e)))
        stdout.write(_frame(out.getvalue()))
        stdout.flush()


if __name__ == "__main__" and "--serve" in sys.argv:
    _serve()
