"""One interface over the interpreters that run .tflite models.

``open_runtime(kind, model_bytes)`` gives a :class:`Runtime` for

- ``litert``: LiteRT (``ai_edge_litert``), what a Raspberry Pi runs;
- ``tflite-runtime``: the older ``tflite_runtime`` wheel, if that is what is installed;
- ``tflm``: TensorFlow Lite Micro's Python interpreter (its reference kernels are
  what microcontrollers run). TFLM can abort the whole process, so it always runs in
  a child process (:mod:`tinyops.runtimes.tflm_worker`) and a crash becomes a clear
  :class:`ModelError`;
- ``tinyops-c``: our C99 int8 runtime through ``tinyops.runtimes.tinyops_c.native``.

``run(x)`` takes one sample in the exact model input shape (batch 1) and dtype;
``run_many(xs)`` takes samples stacked on a new first axis, shaped
``(K, *input_shape[1:])``, and returns outputs shaped ``(K, *output_shape[1:])``.
None of this imports TensorFlow.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from tinyops.errors import InputError, ModelError
from tinyops.runtimes.tensors import Runtime, TensorInfo, check_input, dequantize, quantize

KINDS = ("litert", "tflm", "tflite-runtime", "tinyops-c")
# The host has memory to spare; the real need is measured by runtimes/arena.py.
TFLM_HOST_ARENA_MIN = 8 * 1024 * 1024


def available_runtimes() -> list[str]:
    """Runtimes importable here (checked without importing them)."""
    out = []
    if importlib.util.find_spec("ai_edge_litert") is not None:
        out.append("litert")
    if importlib.util.find_spec("tflite_micro") is not None:
        out.append("tflm")
    if importlib.util.find_spec("tflite_runtime") is not None:
        out.append("tflite-runtime")
    out.append("tinyops-c")  # ours: always here (built with the host C compiler on first use)
    return out


def open_runtime(kind: str, model_bytes: bytes, **options: Any) -> Runtime:
    """Load a model into the named runtime.

    Options: ``arena_size`` for ``tflm``; ``xnnpack=False`` for ``litert`` runs LiteRT's
    builtin kernels without its default XNNPACK delegate (whose int8 rounding differs
    from TFLM's by a few LSB; the builtin kernels match TFLM bit for bit on our models).
    """
    from tinyops.runtimes.tflite_file import read

    read(model_bytes)  # a clear InputError for anything that is not a .tflite file
    from tinyops.extras import require

    needs = {"litert": "ai_edge_litert", "tflm": "tflite_micro"}
    if kind in needs:
        require(needs[kind], purpose=f"the {kind} runtime")
    if kind == "litert":
        return _InterpreterRuntime("litert", model_bytes, **options)
    if kind == "tflite-runtime":
        return _InterpreterRuntime("tflite-runtime", model_bytes)
    if kind == "tflm":
        return TFLMRuntime(model_bytes, **options)
    if kind == "tinyops-c":
        from tinyops.runtimes.tinyops_c.native import NativeRuntime

        return NativeRuntime(model_bytes)
    raise InputError(f"unknown runtime '{kind}'", hint=f"use one of {', '.join(KINDS)}")


# ---- LiteRT / tflite-runtime (in process: these do not abort) ------------

class _InterpreterRuntime:
    def __init__(self, kind: str, model_bytes: bytes, xnnpack: bool = True) -> None:
        self.kind = kind
        try:
            if kind == "litert":
                from ai_edge_litert.interpreter import Interpreter
            else:
                from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]
        except ImportError as e:
            raise ModelError(f"runtime '{kind}' is not installed: {e}",
                             hint="pip install ai-edge-litert (or use --runtime litert)") from e
        extra: dict[str, Any] = {}
        if not xnnpack:
            from ai_edge_litert.interpreter import OpResolverType

            extra["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._interp = Interpreter(model_content=bytes(model_bytes), **extra)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"{kind} cannot load the model: {e}", hint="check the model's ops with `tinyops inspect`") from e
        self.inputs = [self._info(d) for d in self._interp.get_input_details()]
        self.outputs = [self._info(d) for d in self._interp.get_output_details()]
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]

    @staticmethod
    def _info(d: dict[str, Any]) -> TensorInfo:
        scale, zp = d.get("quantization", (0.0, 0))
        return TensorInfo(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name,
                          float(scale) if scale else None, int(zp) if scale else None)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, self.inputs[0], stacked=False)
        try:
            self._interp.set_tensor(self._in, x)
            self._interp.invoke()
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"{self.kind} failed to run the model: {e}", hint="check the input") from e
        return np.array(self._interp.get_tensor(self._out))

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        xs = check_input(xs, self.inputs[0], stacked=True)
        return np.stack([self.run(x[None, ...])[0] for x in xs]) if len(xs) else np.zeros((0, *self.outputs[0].shape[1:]))

    def close(self) -> None:
        self._interp = None

    def __enter__(self) -> _InterpreterRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- TFLite Micro (in a child process) ----------------------------------

def _worker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinyops.runtimes.tflm_worker", *args]


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "little") + data


class TFLMRuntime:
    """TFLite Micro's interpreter, served by a child process for the life of this object."""

    kind = "tflm"

    def __init__(self, model_bytes: bytes, arena_size: int | None = None) -> None:
        from tinyops.runtimes.frames import read_frame

        self._read_frame = read_frame
        arena = arena_size or max(TFLM_HOST_ARENA_MIN, 4 * len(model_bytes))
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(_worker_cmd("serve"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, env=env)
        reply = self._request(_frame(bytes(model_bytes)) + _frame(json.dumps({"arena": arena}).encode()))
        if "error" in reply:
            self.close()
            raise ModelError(f"TFLite Micro cannot load the model: {reply['error']}",
                             hint="run `tinyops inspect` to see ops TFLM lacks; int8 variants run best on TFLM")
        self.inputs = [TensorInfo(d["name"], tuple(d["shape"]), d["dtype"], d["scale"], d["zero_point"]) for d in reply["inputs"]]
        self.outputs = [TensorInfo(d["name"], tuple(d["shape"]), d["dtype"], d["scale"], d["zero_point"]) for d in reply["outputs"]]

    def _died(self) -> ModelError:
        code = self._proc.wait()
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-6:]
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return ModelError(f"TFLite Micro crashed ({how}): {' | '.join(tail) or 'no message'}",
                          hint="the model uses something TFLM rejects; check `tinyops inspect` warnings")

    def _request(self, payload: bytes) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(payload)
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise self._died() from None
        frame = self._read_frame(self._proc.stdout)
        if frame is None:
            raise self._died()
        kind, body = frame[:1], frame[1:]
        if kind == b"J":
            return json.loads(body)
        return np.load(io.BytesIO(body), allow_pickle=False)

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        xs = check_input(xs, self.inputs[0], stacked=True)
        if len(xs) == 0:
            return np.zeros((0, *self.outputs[0].shape[1:]), dtype=self.outputs[0].dtype)
        buf = io.BytesIO()
        np.save(buf, xs, allow_pickle=False)
        reply = self._request(_frame(buf.getvalue()))
        if isinstance(reply, dict):
            raise ModelError(f"TFLite Micro failed to run the model: {reply.get('error')}",
                             hint="check the input and the model's ops with `tinyops inspect`")
        return reply

    def run(self, x: np.ndarray) -> np.ndarray:
        # The batch axis of one sample doubles as the stacking axis of run_many.
        return self.run_many(check_input(x, self.inputs[0], stacked=False))

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, OSError):
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout:
            proc.stdout.close()
        self._stderr.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing left to report to
            pass

    def __enter__(self) -> TFLMRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["KINDS", "Runtime", "TensorInfo", "TFLMRuntime", "available_runtimes", "check_input", "dequantize",
           "open_runtime", "quantize"]
