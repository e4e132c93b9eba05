"""A model loaded in LiteRT (``ai_edge_litert``), and the golden self-test.

Self-test rule: every golden input is run through LiteRT and compared with
the golden output stored in the build. Integer outputs (int8/uint8/int16/int32)
may differ by at most ``INT_TOLERANCE_LSB`` = 1 step: the Pi's LiteRT runs
XNNPACK's ARM kernels while the golden vectors come from x86, and their
requantisation may round one step apart. Float outputs must agree within
``FLOAT_ATOL`` + ``FLOAT_RTOL``·|expected|. Anything further means the model,
the runtime or the bytes are not what the build promised.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import numpy as np

from tinyops.errors import ModelError

INT_TOLERANCE_LSB = 1
FLOAT_ATOL = 1e-5
FLOAT_RTOL = 1e-4


def preload_runtime() -> None:
    """Import LiteRT now, at start-up: the import costs ~25 ms of CPU, which an
    agent with no model yet would otherwise pay inside its first update (and
    200 agents updating at once pay together)."""
    import ai_edge_litert.interpreter  # noqa: F401


class LoadedModel:
    """One LiteRT interpreter; ``run`` is serialised (interpreters are not re-entrant)."""

    def __init__(self, model_bytes: bytes, manifest: dict[str, Any], num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter  # deliberately the only runtime import

        self.manifest = manifest
        try:
            self._interp = Interpreter(model_content=model_bytes, num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"LiteRT cannot load build {manifest.get('build')}: {e}",
                             hint="the build is not a valid .tflite for this runtime; rebuild it") from e
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._in["shape"])
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])
        self.in_scale, self.in_zp = (float(self._in["quantization"][0]), int(self._in["quantization"][1]))
        self.out_scale, self.out_zp = (float(self._out["quantization"][0]), int(self._out["quantization"][1]))
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """One sample in the model's dtype and shape → (raw output, seconds)."""
        x = np.asarray(x, dtype=self.input_dtype).reshape(self.input_shape)
        with self._lock:
            t0 = time.perf_counter()
            self._interp.set_tensor(self._in["index"], x)
            self._interp.invoke()
            y = self._interp.get_tensor(self._out["index"]).copy()
            return y, time.perf_counter() - t0

    def quantize(self, x_float: np.ndarray) -> np.ndarray:
        """Float-domain input → model input dtype (identity for float models)."""
        x = np.asarray(x_float, dtype=np.float64)
        if self.input_dtype.kind == "f" or not self.in_scale:
            return x.astype(self.input_dtype)
        info = np.iinfo(self.input_dtype)
        return np.clip(np.round(x / self.in_scale) + self.in_zp, info.min, info.max).astype(self.input_dtype)

    def dequantize_input(self, x: np.ndarray) -> np.ndarray:
        if self.input_dtype.kind == "f" or not self.in_scale:
            return np.asarray(x, dtype=np.float64)
        return (np.asarray(x, dtype=np.float64) - self.in_zp) * self.in_scale

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if self.output_dtype.kind == "f" or not self.out_scale:
            return np.asarray(y, dtype=np.float64)
        return (np.asarray(y, dtype=np.float64) - self.out_zp) * self.out_scale


def self_test(model: LoadedModel, golden_npz: bytes) -> dict[str, Any]:
    """Run the golden vectors; raise ModelError on the first mismatch."""
    try:
        with np.load(io.BytesIO(golden_npz), allow_pickle=False) as z:
            inputs, outputs = z["inputs"], z["outputs"]
    except (ValueError, KeyError, OSError) as e:
        raise ModelError(f"golden vectors unreadable: {e}", hint="rebuild the build") from e
    if len(inputs) == 0 or len(inputs) != len(outputs):
        raise ModelError("golden vectors: no samples or inputs/outputs differ in count", hint="rebuild the build")
    worst = 0.0
    for i, (x, expected) in enumerate(zip(inputs, outputs)):
        y, _ = model.run(x[None, ...])
        got = y.reshape(expected.shape)
        if np.issubdtype(expected.dtype, np.integer):
            diff = float(np.max(np.abs(got.astype(np.int64) - expected.astype(np.int64))))
            bad = diff > INT_TOLERANCE_LSB
        else:
            diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
            bad = not np.allclose(got, expected, atol=FLOAT_ATOL, rtol=FLOAT_RTOL)
        worst = max(worst, diff)
        if bad:
            raise ModelError(f"self-test failed on golden vector {i}: output differs by {diff:g} "
                             f"(allowed {INT_TOLERANCE_LSB if np.issubdtype(expected.dtype, np.integer) else FLOAT_ATOL})",
                             hint="the build does not behave as when it was built; do not roll it out")
    return {"vectors": int(len(inputs)), "max_abs_diff": worst}
