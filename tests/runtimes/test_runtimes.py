"""One runtime interface over LiteRT and TFLite Micro (in a child process)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from fixtures_trained import Trained, trained_workspace  # noqa: F401 - pytest fixture

from tinyops.errors import InputError, ModelError
from tinyops.runtimes import TensorInfo, available_runtimes, dequantize, open_runtime, quantize


@pytest.fixture(scope="module")
def int8_bytes(trained_workspace: Trained) -> bytes:  # noqa: F811
    from tinyops.registry import variants

    ws = trained_workspace.open()
    return variants.blob_bytes(ws, variants.get(ws, trained_workspace.variant))


def test_available_runtimes_include_litert_and_tflm() -> None:
    have = available_runtimes()
    assert "litert" in have and "tflm" in have


@pytest.mark.parametrize("kind", ["litert", "tflm"])
def test_runtime_interface(kind: str, int8_bytes: bytes) -> None:
    rt = open_runtime(kind, int8_bytes)
    try:
        (i,), (o,) = rt.inputs, rt.outputs
        assert i.shape == (1, 8, 8, 1) and i.dtype == "int8" and i.scale and i.zero_point is not None
        assert o.shape == (1, 10) and o.dtype == "int8"
        xs = np.random.default_rng(1).integers(-128, 128, size=(5, 8, 8, 1)).astype(np.int8)
        one = rt.run(xs[:1])
        assert one.shape == (1, 10) and one.dtype == np.int8
        many = rt.run_many(xs)
        assert many.shape == (5, 10)
        np.testing.assert_array_equal(many[0], one[0])
        with pytest.raises(InputError, match="does not fit"):
            rt.run(xs[:2])
        with pytest.raises(InputError, match="dtype"):
            rt.run(xs[:1].astype(np.float32))
    finally:
        rt.close()


def test_litert_builtin_kernels_match_tflm_bit_for_bit(int8_bytes: bytes) -> None:
    xs = np.random.default_rng(2).integers(-128, 128, size=(40, 8, 8, 1)).astype(np.int8)
    with open_runtime("tflm", int8_bytes) as tflm:
        micro = tflm.run_many(xs)
    with open_runtime("litert", int8_bytes, xnnpack=False) as lite:
        builtin = lite.run_many(xs)
    assert np.abs(micro.astype(int) - builtin.astype(int)).max() <= 2


def test_tflm_abort_becomes_model_error(int8_bytes: bytes) -> None:
    """TFLM aborts the process on an int8 softmax whose input scale is tiny; we stay alive."""
    from tinyops.runtimes.tflite_file import read

    m = read(int8_bytes)
    softmax = next(op for op in m.operators if op.opcode == "SOFTMAX")
    scale = m.tensors[softmax.inputs[0]].quantization.scale[0]
    pattern = struct.pack("<f", scale)
    assert int8_bytes.count(pattern) == 1
    broken = int8_bytes.replace(pattern, struct.pack("<f", 1e-9))
    with pytest.raises(ModelError, match=r"crashed \(signal 6\)"):
        open_runtime("tflm", broken)
    with open_runtime("litert", int8_bytes) as rt:  # and this process still works
        assert rt.run(np.zeros((1, 8, 8, 1), np.int8)).shape == (1, 10)


def test_not_a_model_and_unknown_runtime(int8_bytes: bytes) -> None:
    with pytest.raises(InputError, match="not a TFLite model"):
        open_runtime("litert", b"hello world, not a model")
    with pytest.raises(InputError):
        open_runtime("tflm", int8_bytes[: len(int8_bytes) // 3])
    with pytest.raises(InputError, match="unknown runtime"):
        open_runtime("onnx", int8_bytes)


def test_quantize_roundtrip() -> None:
    info = TensorInfo("x", (1, 4), "int8", 0.5, -10)
    x = np.array([[-100.0, 0.0, 1.0, 100.0]])
    q = quantize(x, info)
    assert q.dtype == np.int8 and q.tolist() == [[-128, -10, -8, 127]]
    np.testing.assert_allclose(dequantize(q, info), [[-59.0, 0.0, 1.0, 68.5]])
