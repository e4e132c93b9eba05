"""The pure-Python .tflite reader agrees with LiteRT's own view of the same files."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_models import MODEL_NAMES, model_bytes

from tinyops.errors import InputError
from tinyops.runtimes import tflite_file


@pytest.mark.parametrize("name", ["digits_cnn", "imu_cnn", "resnet8_ic"])
def test_reader_matches_litert(name: str) -> None:
    from ai_edge_litert.interpreter import Interpreter

    data = model_bytes(name)
    model = tflite_file.read(data)
    interp = Interpreter(model_content=data)
    details = {d["index"]: d for d in interp.get_tensor_details()}
    for t in model.tensors:
        if t.index not in details:
            continue
        d = details[t.index]
        assert d["name"] == t.name
        assert tuple(d["shape"]) == t.shape
        assert np.dtype(d["dtype"]).name == t.dtype
        qp = d["quantization_parameters"]
        if t.quantization is None:
            assert len(qp["scales"]) == 0
        else:
            np.testing.assert_array_equal(np.asarray(qp["scales"], np.float32), np.float32(t.quantization.scale))
            assert list(qp["zero_points"]) == list(t.quantization.zero_point)
            assert qp["quantized_dimension"] == t.quantization.quantized_dimension
    assert [d["index"] for d in interp.get_input_details()] == model.inputs
    assert [d["index"] for d in interp.get_output_details()] == model.outputs
    ops = interp._get_ops_details()
    assert [o["op_name"] for o in ops] == [o.opcode for o in model.operators]
    for o, ours in zip(ops, model.operators):
        assert list(o["inputs"]) == list(ours.inputs)
        assert list(o["outputs"]) == list(ours.outputs)


def test_constant_data_and_options() -> None:
    model = tflite_file.read(model_bytes("ds_cnn_kws"))
    conv = model.operators[0]
    assert conv.opcode == "CONV_2D"
    assert conv.options["padding"] == "SAME" and conv.options["stride_w"] == 2
    assert conv.options["fused_activation_function"] == "RELU"
    weights = model.tensors[conv.inputs[1]]
    assert weights.array().shape == (64, 10, 4, 1) and weights.array().dtype == np.int8
    assert weights.quantization is not None and weights.quantization.per_channel
    dw = next(op for op in model.operators if op.opcode == "DEPTHWISE_CONV_2D")
    assert dw.options["depth_multiplier"] == 1
    assert model.op_names[-1] == "SOFTMAX" and model.operators[-1].options["beta"] == 1.0
    assert all(model_bytes(n) for n in MODEL_NAMES[:1])


@pytest.mark.parametrize("cut", [0, 7, 64, 500, 3000])
def test_truncated_file_is_input_error(cut: int) -> None:
    data = model_bytes("digits_cnn")
    with pytest.raises(InputError):
        tflite_file.read(data[:cut])


def test_garbage_is_input_error() -> None:
    rng = np.random.default_rng(0)
    data = bytearray(model_bytes("digits_cnn"))
    for _ in range(200):
        mutated = bytearray(data)
        for pos in rng.integers(8, len(data), size=8):
            mutated[pos] = int(rng.integers(0, 256))
        try:
            tflite_file.read(bytes(mutated))
        except InputError:
            pass  # rejected cleanly; anything else (IndexError, MemoryError…) fails the test
    with pytest.raises(InputError, match="TFL3"):
        tflite_file.read(b"\x00" * 64)
