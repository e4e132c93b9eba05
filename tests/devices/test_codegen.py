"""TFLM export: the C array compiles and holds the exact model; the resolver is exact."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fixtures_models import model_bytes

from tinyops.devices import codegen
from tinyops.errors import InputError
from tinyops.runtimes import tflite_file

MAIN_CC = r"""
#include <cstdint>
#include <cstdio>
#include "model_data.h"
int main() {
  if (reinterpret_cast<std::uintptr_t>(g_digits_cnn_model_data) % 16 != 0) return 3;
  std::fwrite(g_digits_cnn_model_data, 1, g_digits_cnn_model_data_size, stdout);
  return 0;
}
"""


def test_model_data_compiles_warning_free_and_holds_the_exact_bytes(tmp_path: Path) -> None:
    model = model_bytes("digits_cnn")
    files = codegen.tflm_export("digits_cnn", model, arena_measured_bytes=4096)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    # The array file alone, as its own translation unit, with warnings as errors.
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-c", "model_data.cc", "-o", "model_data.o"],
                   cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "main.cc").write_text(MAIN_CC)
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "main.cc", "model_data.o", "-o", "dump"],
                   cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "dump")], capture_output=True, check=True).stdout
    assert out == model


def test_resolver_registers_exactly_the_models_ops() -> None:
    model = model_bytes("imu_cnn")
    text = codegen.tflm_export("imu", model, 2048)["op_resolver.h"].decode()
    methods = re.findall(r"resolver\.(Add\w+)\(\)", text)
    # Spelled out by hand from TFLM's micro_mutable_op_resolver.h, independent of the table.
    assert sorted(methods) == sorted(["AddReshape", "AddConv2D", "AddMean", "AddFullyConnected",
                                      "AddTanh", "AddSoftmax"])
    assert len(methods) == len(set(methods)) == len(tflite_file.read(model).op_names)
    assert f"MicroMutableOpResolver<kOpCount>" in text and "kOpCount = 6;" in text


@pytest.mark.parametrize("op,method", [("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"), ("AVERAGE_POOL_2D", "AddAveragePool2D"),
                                       ("MAX_POOL_2D", "AddMaxPool2D"), ("PADV2", "AddPadV2"),
                                       ("SPACE_TO_BATCH_ND", "AddSpaceToBatchNd"), ("LOG_SOFTMAX", "AddLogSoftmax"),
                                       ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM")])
def test_irregular_method_names(op: str, method: str) -> None:
    assert codegen.resolver_methods([op]) == [method]


def test_ops_without_a_tflm_kernel_are_named() -> None:
    with pytest.raises(InputError) as e:
        codegen.resolver_methods(["CONV_2D", "CUSTOM:MyOp", "RFFT2D"])
    assert "CUSTOM:MyOp" in str(e.value) and "RFFT2D" in str(e.value)


def test_arena_header_states_measurement_and_margin() -> None:
    text = codegen.arena_h("digits", 3000)
    size = codegen.parse_arena_h(text)
    assert "kArenaMeasuredBytes = 3000;" in text and size % 16 == 0
    assert size >= 3000 + codegen.ARENA_MARGIN_MIN_BYTES and size >= 3000 * 1.1
    assert codegen.arena_with_margin(100_000) == 110_000


def test_c_identifier() -> None:
    assert codegen.c_identifier("digits-v2.1") == "digits_v2_1"
    assert codegen.c_identifier("3dnet") == "m3dnet"
