"""TFLite-Micro export: the C/C++ files a user drops into their own TFLM firmware.

- ``model_data.h`` / ``model_data.cc``: the .tflite as ``alignas(16) const unsigned
  char g_<name>_model_data[]`` (TFLM reads tensors in place, so the array must be
  aligned) and its size constant.
- ``op_resolver.h``: a ``tflite::MicroMutableOpResolver<N>`` registering exactly
  the model's operators — the smallest resolver that runs it, so the linker
  drops every other kernel.
- ``arena.h``: the tensor arena size bisected on the Cortex-M4 target under QEMU
  when TFLM's sources are at hand (``$TFLM_DIR``), else the host TFLM interpreter's
  measurement plus a stated margin.
"""

from __future__ import annotations

import re

from tinyops.errors import InputError
from tinyops.runtimes import tflite_file

# TFLite builtin operator -> MicroMutableOpResolver method (tensorflow/lite/micro/
# micro_mutable_op_resolver.h). The names do not follow one rule (AddConv2D,
# AddPadV2, AddSpaceToBatchNd, AddLogSoftmax), so they are listed, not derived.
RESOLVER_METHODS: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin", "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce", "CAST": "AddCast",
    "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D", "COS": "AddCos",
    "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "EQUAL": "AddEqual", "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish", "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual", "LOG": "AddLog",
    "LOG_SOFTMAX": "AddLogSoftmax", "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic", "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum", "MEAN": "AddMean", "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable", "REDUCE_MAX": "AddReduceMax",
    "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear", "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "ROUND": "AddRound", "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape",
    "SIN": "AddSin", "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf",
    "TANH": "AddTanh", "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}

# Host-measured arena + margin. Why a margin: optimized kernels (CMSIS-NN, ESP-NN)
# request scratch buffers the reference kernels measured on the host do not, and
# TFLM's per-tensor bookkeeping differs between 64-bit hosts and 32-bit targets.
ARENA_MARGIN_FRACTION = 0.10
ARENA_MARGIN_MIN_BYTES = 256
ARENA_ALIGN = 16
BYTES_PER_LINE = 12


def c_identifier(name: str) -> str:
    """'digits-v2.1' -> 'digits_v2_1'; a leading digit gets a 'm' prefix (C rule)."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_").lower() or "model"
    return ident if not ident[0].isdigit() else f"m{ident}"


def arena_with_margin(measured_bytes: int) -> int:
    margin = max(ARENA_MARGIN_MIN_BYTES, int(measured_bytes * ARENA_MARGIN_FRACTION))
    total = measured_bytes + margin
    return (total + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN


def resolver_methods(ops: list[str]) -> list[str]:
    """AddXxx method per op, in the order given; unknown or custom ops are an error naming them."""
    missing = [op for op in ops if op not in RESOLVER_METHODS]
    if missing:
        raise InputError("TFLite Micro has no kernel registration for: " + ", ".join(missing),
                         hint="change the model to use supported ops, or pick a LiteRT (Linux) profile")
    return [RESOLVER_METHODS[op] for op in ops]


def _guard(name: str, file: str) -> str:
    return f"TINYOPS_{name.upper()}_{file.upper().replace('.', '_')}_"


def model_data_h(name: str, model: bytes) -> str:
    ident, guard = c_identifier(name), _guard(c_identifier(name), "model_data.h")
    return (f"// Generated by tinyops: the '{name}' model as a C array for TensorFlow Lite Micro.\n"
            f"#ifndef {guard}\n#define {guard}\n\n"
            f"// {len(model)} bytes; the array is 16-byte aligned because TFLM reads tensors in place.\n"
            f"extern const unsigned char g_{ident}_model_data[];\n"
            f"extern const unsigned int g_{ident}_model_data_size;\n\n"
            f"#endif  // {guard}\n")


def model_data_cc(name: str, model: bytes) -> str:
    ident = c_identifier(name)
    lines = []
    for i in range(0, len(model), BYTES_PER_LINE):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in model[i:i + BYTES_PER_LINE]) + ",")
    body = "\n".join(lines)
    return (f"// Generated by tinyops from the '{name}' .tflite ({len(model)} bytes). Do not edit.\n"
            f"#include \"model_data.h\"\n\n"
            f"alignas(16) const unsigned char g_{ident}_model_data[] = {{\n{body}\n}};\n"
            f"const unsigned int g_{ident}_model_data_size = {len(model)};\n\n"
            f"static_assert(sizeof(g_{ident}_model_data) == {len(model)}, \"model array size\");\n")


def op_resolver_h(name: str, ops: list[str]) -> str:
    ident, guard = c_identifier(name), _guard(c_identifier(name), "op_resolver.h")
    methods = resolver_methods(ops)
    calls = "\n".join(f"  if (resolver.{m}() != kTfLiteOk) return kTfLiteError;  // {op}"
                      for op, m in zip(ops, methods))
    return (f"// Generated by tinyops: exactly the operators of the '{name}' model, so the linker\n"
            f"// keeps only their kernels.\n"
            f"#ifndef {guard}\n#define {guard}\n\n"
            f"#include \"tensorflow/lite/micro/micro_mutable_op_resolver.h\"\n\n"
            f"namespace tinyops_{ident} {{\n\n"
            f"constexpr unsigned int kOpCount = {len(ops)};\n"
            f"using OpResolver = tflite::MicroMutableOpResolver<kOpCount>;\n\n"
            f"// Usage: tinyops_{ident}::OpResolver resolver; tinyops_{ident}::RegisterOps(resolver);\n"
            f"inline TfLiteStatus RegisterOps(OpResolver& resolver) {{\n{calls}\n  return kTfLiteOk;\n}}\n\n"
            f"}}  // namespace tinyops_{ident}\n\n#endif  // {guard}\n")


def arena_h(name: str, measured_bytes: int, *, measured_on: str = "host") -> str:
    """``measured_on="host"``: the host TFLM interpreter's figure plus a margin (it can understate a
    32-bit target's need). ``"cortex-m4"``: bisected on the target itself, declared exactly."""
    ident, guard = c_identifier(name), _guard(c_identifier(name), "arena.h")
    if measured_on == "host":
        total = arena_with_margin(measured_bytes)
        pct = int(ARENA_MARGIN_FRACTION * 100)
        how = ("// Smallest arena with which the TFLM interpreter ran this model on the host (bisected).\n"
               f"// Margin: {pct}% of the measured arena, at least {ARENA_MARGIN_MIN_BYTES} bytes, rounded up to\n"
               f"// {ARENA_ALIGN} — room for optimized kernels' scratch buffers (CMSIS-NN, ESP-NN) and\n"
               f"// 32-bit vs 64-bit bookkeeping differences.\n")
    else:
        total = measured_bytes
        how = (f"// Smallest arena AllocateTensors() accepts on {measured_on} (bisected on the target under QEMU\n"
               "// mps2-an386, 16-byte aligned array, with the TFLM kernels of the build's runtime —\n"
               "// manifest.json tflm_arena.kernels): one byte less fails.\n")
    return (f"// Generated by tinyops: tensor arena for the '{name}' model.\n"
            f"#ifndef {guard}\n#define {guard}\n\n#include <cstddef>\n\n"
            f"namespace tinyops_{ident} {{\n\n{how}"
            f"constexpr std::size_t kArenaMeasuredBytes = {measured_bytes};\n"
            f"constexpr std::size_t kArenaMarginBytes = {total - measured_bytes};\n"
            f"constexpr std::size_t kArenaSize = {total};\n\n"
            f"}}  // namespace tinyops_{ident}\n\n#endif  // {guard}\n")


def parse_arena_h(text: str) -> int:
    """kArenaSize from an arena.h (used by tests and tools that size a firmware arena)."""
    m = re.search(r"kArenaSize\s*=\s*(\d+)", text)
    if not m:
        raise InputError("arena.h has no kArenaSize", hint="regenerate it with `tinyops build`")
    return int(m.group(1))


def tflm_export(name: str, model: bytes, arena_measured_bytes: int, *,
                measured_on: str = "host") -> dict[str, bytes]:
    """The four TFLM files for one model, as name -> UTF-8 bytes."""
    ops = tflite_file.read(model).op_names
    return {
        "model_data.h": model_data_h(name, model).encode(),
        "model_data.cc": model_data_cc(name, model).encode(),
        "op_resolver.h": op_resolver_h(name, ops).encode(),
        "arena.h": arena_h(name, arena_measured_bytes, measured_on=measured_on).encode(),
    }
