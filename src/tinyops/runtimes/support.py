"""Which of tinyops' runtimes can run a model, read from the .tflite alone (no TensorFlow).

* ``tinyops-c`` — the firmware's own int8 runtime, on every microcontroller board: its
  compiler accepts the model (ops, int8 tensors, options).
* ``tflm`` / ``tflm-cmsis-nn`` — the TFLM firmware (reference / CMSIS-NN kernels): the ops it
  is built with (``firmware/tflm/ops.def``), never "every TFLM op".
* ``tflite-micro`` — a firmware of your own built from a build's TFLM export
  (``model_data.cc`` + ``op_resolver.h``): every builtin kernel TFLite Micro has.
* ``litert`` — Linux boards (Raspberry Pi): every builtin operator.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from tinyops.package_data import firmware_dir

# Builtin kernels TFLite Micro registers (its Register_* functions, tflite-micro 2026 Python package).
TFLM_OPS = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND BROADCAST_ARGS
BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE
DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD
FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU
LESS LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM
MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_ALL REDUCE_MAX REDUCE_MIN RELU
RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX
SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM
SVDF TANH TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split())
_OP_LINE = re.compile(r'^TFLM_OP\((\w+),\s*(\w+),\s*"([^"]*)"\)', re.M)
# Where each runtime runs (the boards' profiles say which one a board uses).
WHERE = {
    "tinyops-c": "tinyops firmware, every microcontroller board",
    "tflm": "tinyops TFLM firmware, reference kernels (Cortex-M4F boards, posix)",
    "tflm-cmsis-nn": "tinyops TFLM firmware, CMSIS-NN kernels (Cortex-M4F boards)",
    "tflite-micro": "your own TFLM firmware, from a build's model_data.cc + op_resolver.h",
    "litert": "Linux boards (Raspberry Pi)",
}


@dataclass
class RuntimeSupport:
    runtime: str
    runs: bool
    missing_ops: list[str]
    where: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tflm_firmware_ops() -> dict[str, tuple[str, list[str]]]:
    """The TFLM firmware's ops: builtin name -> (MicroMutableOpResolver method, kernel source stems)."""
    text = (firmware_dir() / "tflm" / "ops.def").read_text()
    return {m[1]: (m[2], m[3].split()) for m in _OP_LINE.finditer(text)}


def _by_ops(runtime: str, ops: list[str], have: frozenset[str] | set[str]) -> RuntimeSupport:
    missing = [op for op in ops if op not in have]
    return RuntimeSupport(runtime, not missing, missing, WHERE[runtime],
                          "no kernel for " + ", ".join(missing) if missing else "")


def runtimes_for(ops: list[str], tinyops_c_error: str) -> list[RuntimeSupport]:
    """One row per runtime for a model with builtin ``ops``: can it run it, and if not, why.
    ``tinyops_c_error``: the first line of what tinyops-c's compiler said ("" = it compiled)."""
    from tinyops.runtimes.tinyops_c import SUPPORTED_OPS

    fw = set(tflm_firmware_ops())
    c_missing = [op for op in ops if op not in SUPPORTED_OPS]
    c_reason = ("no kernel for " + ", ".join(c_missing)) if c_missing else tinyops_c_error
    custom = [op for op in ops if op.startswith("CUSTOM")]
    return [RuntimeSupport("tinyops-c", not c_reason, c_missing, WHERE["tinyops-c"], c_reason),
            _by_ops("tflm", ops, fw), _by_ops("tflm-cmsis-nn", ops, fw), _by_ops("tflite-micro", ops, TFLM_OPS),
            RuntimeSupport("litert", not custom, custom, WHERE["litert"],
                           "custom operators need their own registration" if custom else "")]
