"""The one pure-Python reader for .tflite files (no TensorFlow, no flatbuffers package).

A .tflite file is a FlatBuffer (schema: tensorflow/lite/schema/schema.fbs). We decode
only what tinyops needs — tensors with quantization and constant data, operators in
execution order with their builtin options, and the subgraph's inputs/outputs — and
check every offset, so a hostile file raises :class:`InputError` instead of crashing.
Used by ``inspect``, codegen and the model-image compiler.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyops.errors import InputError

# BuiltinOperator enum of the TFLite schema, in code order (public schema facts).
BUILTIN_OPS: tuple[str, ...] = (
    'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE',
    'DEQUANTIZE', 'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP',
    'L2_NORMALIZATION', 'L2_POOL_2D', 'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION',
    'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN',
    'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH', 'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL', 'CUSTOM',
    'EMBEDDING_LOOKUP_SPARSE', 'PAD', 'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER', 'BATCH_TO_SPACE_ND',
    'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB', 'DIV', 'SQUEEZE', 'UNIDIRECTIONAL_SEQUENCE_LSTM',
    'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2', 'SPLIT', 'LOG_SOFTMAX', 'DELEGATE',
    'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM', 'ARG_MAX', 'MINIMUM', 'LESS', 'NEG',
    'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE', 'SIN', 'TRANSPOSE_CONV',
    'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT',
    'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR',
    'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT', 'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY',
    'SQUARE', 'ZEROS_LIKE', 'FILL', 'FLOOR_MOD', 'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU',
    'SQUARED_DIFFERENCE', 'MIRROR_PAD', 'ABS', 'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N',
    'GATHER_ND', 'COS', 'WHERE', 'RANK', 'ELU', 'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE',
    'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE', 'NON_MAX_SUPPRESSION_V4',
    'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM', 'BATCH_MATMUL',
    'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM', 'CALL_ONCE', 'BROADCAST_TO', 'RFFT2D', 'CONV_3D',
    'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE', 'HASHTABLE_FIND', 'HASHTABLE_IMPORT', 'HASHTABLE_SIZE',
    'REDUCE_ALL', 'CONV_3D_TRANSPOSE', 'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE',
    'BROADCAST_ARGS', 'RANDOM_STANDARD_NORMAL', 'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL', 'GELU',
    'DYNAMIC_UPDATE_SLICE', 'RELU_0_TO_1', 'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX',
    'UNSORTED_SEGMENT_SUM', 'ATAN2', 'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST', 'BITWISE_XOR',
    'RIGHT_SHIFT', 'STABLEHLO_LOGISTIC', 'STABLEHLO_ADD', 'STABLEHLO_DIVIDE', 'STABLEHLO_MULTIPLY',
    'STABLEHLO_MAXIMUM', 'STABLEHLO_RESHAPE', 'STABLEHLO_CLAMP', 'STABLEHLO_CONCATENATE',
    'STABLEHLO_BROADCAST_IN_DIM', 'STABLEHLO_CONVOLUTION', 'STABLEHLO_SLICE', 'STABLEHLO_CUSTOM_CALL',
    'STABLEHLO_REDUCE', 'STABLEHLO_ABS', 'STABLEHLO_AND', 'STABLEHLO_COSINE', 'STABLEHLO_EXPONENTIAL',
    'STABLEHLO_FLOOR', 'STABLEHLO_LOG', 'STABLEHLO_MINIMUM', 'STABLEHLO_NEGATE', 'STABLEHLO_OR',
    'STABLEHLO_POWER', 'STABLEHLO_REMAINDER', 'STABLEHLO_RSQRT', 'STABLEHLO_SELECT',
    'STABLEHLO_SUBTRACT', 'STABLEHLO_TANH', 'STABLEHLO_SCATTER', 'STABLEHLO_COMPARE',
    'STABLEHLO_CONVERT', 'STABLEHLO_DYNAMIC_SLICE', 'STABLEHLO_DYNAMIC_UPDATE_SLICE', 'STABLEHLO_PAD',
    'STABLEHLO_IOTA', 'STABLEHLO_DOT_GENERAL', 'STABLEHLO_REDUCE_WINDOW', 'STABLEHLO_SORT',
    'STABLEHLO_WHILE', 'STABLEHLO_GATHER', 'STABLEHLO_TRANSPOSE', 'DILATE',
    'STABLEHLO_RNG_BIT_GENERATOR', 'REDUCE_WINDOW', 'STABLEHLO_COMPOSITE', 'STABLEHLO_SHIFT_LEFT',
    'STABLEHLO_CBRT', 'STABLEHLO_CASE',
)

# TensorType enum → numpy dtype name (None where numpy has no equivalent).
TENSOR_TYPES: tuple[tuple[str, str | None], ...] = (
    ("FLOAT32", "float32"), ("FLOAT16", "float16"), ("INT32", "int32"), ("UINT8", "uint8"),
    ("INT64", "int64"), ("STRING", None), ("BOOL", "bool"), ("INT16", "int16"),
    ("COMPLEX64", "complex64"), ("INT8", "int8"), ("FLOAT64", "float64"),
    ("COMPLEX128", "complex128"), ("UINT64", "uint64"), ("RESOURCE", None), ("VARIANT", None),
    ("UINT32", "uint32"), ("UINT16", "uint16"), ("INT4", None), ("BFLOAT16", None),
)

PADDING = ("SAME", "VALID")
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")

# Builtin options we decode, by op: (field name, field kind, default). Field order is the
# schema's field order (a table's vtable slot). Kinds: b=int8 enum/bool, i=int32, f=float32,
# vi=vector of int32; "padding"/"fused_activation_function" are turned into names.
_OPTIONS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "CONV_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                ("fused_activation_function", "b", 0), ("dilation_w_factor", "i", 1),
                ("dilation_h_factor", "i", 1)),
    "DEPTHWISE_CONV_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("depth_multiplier", "i", 0), ("fused_activation_function", "b", 0),
                          ("dilation_w_factor", "i", 1), ("dilation_h_factor", "i", 1)),
    "AVERAGE_POOL_2D": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                        ("filter_width", "i", 0), ("filter_height", "i", 0),
                        ("fused_activation_function", "b", 0)),
    "FULLY_CONNECTED": (("fused_activation_function", "b", 0), ("weights_format", "b", 0),
                        ("keep_num_dims", "b", 0), ("asymmetric_quantize_inputs", "b", 0)),
    "SOFTMAX": (("beta", "f", 0.0),),
    "CONCATENATION": (("axis", "i", 0), ("fused_activation_function", "b", 0)),
    "ADD": (("fused_activation_function", "b", 0),),
    "SUB": (("fused_activation_function", "b", 0),),
    "MUL": (("fused_activation_function", "b", 0),),
    "DIV": (("fused_activation_function", "b", 0),),
    "RESHAPE": (("new_shape", "vi", None),),
    "MEAN": (("keep_dims", "b", 0),),
    "SUM": (("keep_dims", "b", 0),),
    "REDUCE_MAX": (("keep_dims", "b", 0),),
    "SQUEEZE": (("squeeze_dims", "vi", None),),
    "LEAKY_RELU": (("alpha", "f", 0.0),),
    "STRIDED_SLICE": (("begin_mask", "i", 0), ("end_mask", "i", 0), ("ellipsis_mask", "i", 0),
                      ("new_axis_mask", "i", 0), ("shrink_axis_mask", "i", 0), ("offset", "b", 0)),
    "SPLIT": (("num_splits", "i", 0),),
    "SPLIT_V": (("num_splits", "i", 0),),
    "PACK": (("values_count", "i", 0), ("axis", "i", 0)),
    "UNPACK": (("num", "i", 0), ("axis", "i", 0)),
    "GATHER": (("axis", "i", 0), ("batch_dims", "i", 0)),
    "RESIZE_NEAREST_NEIGHBOR": (("align_corners", "b", 0), ("half_pixel_centers", "b", 0)),
    "RESIZE_BILINEAR": (("new_height", "i", 0), ("new_width", "i", 0), ("align_corners", "b", 0),
                        ("half_pixel_centers", "b", 0)),
    "MIRROR_PAD": (("mode", "b", 0),),
    "TRANSPOSE_CONV": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                       ("fused_activation_function", "b", 0)),
    "SVDF": (("rank", "i", 0), ("fused_activation_function", "b", 0), ("asymmetric_quantize_inputs", "b", 0)),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (("fused_activation_function", "b", 0), ("cell_clip", "f", 0.0),
                                     ("proj_clip", "f", 0.0), ("time_major", "b", 0),
                                     ("asymmetric_quantize_inputs", "b", 0)),
}
_OPTIONS["MAX_POOL_2D"] = _OPTIONS["AVERAGE_POOL_2D"]
_OPTIONS["L2_POOL_2D"] = _OPTIONS["AVERAGE_POOL_2D"]


@dataclass(frozen=True)
class Quantization:
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # TensorType name lower-cased to numpy where possible, e.g. "int8"
    buffer: int
    data: bytes | None  # constant contents, None for activations
    quantization: Quantization | None
    is_variable: bool = False
    shape_signature: tuple[int, ...] | None = None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    def array(self) -> np.ndarray:
        """The constant data as a numpy array of the tensor's shape."""
        if self.data is None:
            raise InputError(f"tensor {self.index} ({self.name}) has no constant data")
        arr = np.frombuffer(self.data, dtype=np.dtype(self.dtype))
        return arr.reshape(self.shape) if arr.size == int(np.prod(self.shape)) else arr


@dataclass
class Operator:
    index: int
    opcode: str  # builtin operator name, e.g. "CONV_2D", or "CUSTOM:<name>"
    builtin_code: int
    version: int
    inputs: tuple[int, ...]  # tensor indices; -1 = optional input left out
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TFLiteModel:
    version: int
    description: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    subgraph_count: int
    size_bytes: int

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    @property
    def op_names(self) -> list[str]:
        """Distinct operator names in order of first use."""
        return list(dict.fromkeys(op.opcode for op in self.operators))


class _Buf:
    """Bounds-checked FlatBuffer access over the file bytes."""

    def __init__(self, data: bytes) -> None:
        self.d = data
        self.n = len(data)

    def _u(self, fmt: str, pos: int) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise InputError(f"corrupt .tflite: read at offset {pos} past the end ({self.n} bytes)",
                             hint="re-export the model; the file is truncated or not a TFLite model")
        return struct.unpack_from(fmt, self.d, pos)[0]

    def field_pos(self, table: int, slot: int) -> int | None:
        vtable = table - self._u("<i", table)
        vt_size = self._u("<H", vtable)
        if 4 + 2 * slot >= vt_size:
            return None
        off = self._u("<H", vtable + 4 + 2 * slot)
        return table + off if off else None

    def scalar(self, table: int, slot: int, fmt: str, default: Any) -> Any:
        pos = self.field_pos(table, slot)
        return default if pos is None else self._u(fmt, pos)

    def ref(self, table: int, slot: int) -> int | None:
        pos = self.field_pos(table, slot)
        return None if pos is None else pos + self._u("<I", pos)

    def vector(self, table: int, slot: int) -> tuple[int, int] | None:
        """(first element position, length) of a vector field, bounds-checked for 1-byte items."""
        start = self.ref(table, slot)
        if start is None:
            return None
        length = self._u("<I", start)
        if start + 4 + length > self.n:
            raise InputError("corrupt .tflite: a vector runs past the end of the file",
                             hint="re-export the model")
        return start + 4, length

    def scalars(self, table: int, slot: int, fmt: str) -> tuple:
        vec = self.vector(table, slot)
        if vec is None:
            return ()
        pos, length = vec
        size = struct.calcsize(fmt)
        if pos + length * size > self.n:
            raise InputError("corrupt .tflite: a vector runs past the end of the file",
                             hint="re-export the model")
        return struct.unpack_from(f"<{length}{fmt}", self.d, pos)

    def tables(self, table: int, slot: int) -> list[int]:
        vec = self.vector(table, slot)
        if vec is None:
            return []
        pos, length = vec
        return [pos + 4 * i + self._u("<I", pos + 4 * i) for i in range(length)]

    def string(self, table: int, slot: int) -> str:
        vec = self.vector(table, slot)
        if vec is None:
            return ""
        pos, length = vec
        return self.d[pos:pos + length].decode("utf-8", errors="replace")

    def bytes_field(self, table: int, slot: int) -> bytes | None:
        vec = self.vector(table, slot)
        if vec is None:
            return None
        pos, length = vec
        return self.d[pos:pos + length]


def read(data: bytes) -> TFLiteModel:
    """Decode a .tflite file's first subgraph (the one interpreters run)."""
    data = bytes(data)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InputError("not a TFLite model (missing the 'TFL3' identifier)",
                         hint="pass a .tflite file exported by the TFLite converter")
    try:
        return _read(_Buf(data))
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"corrupt .tflite file: {e}", hint="re-export the model") from e


def _read(b: _Buf) -> TFLiteModel:
    root = b._u("<I", 0)
    version = b.scalar(root, 0, "<I", 0)
    opcodes = []
    for oc in b.tables(root, 1):
        deprecated = b.scalar(oc, 0, "<b", 0)
        code = max(int(deprecated), int(b.scalar(oc, 3, "<i", 0)))
        custom = b.string(oc, 1)
        name = BUILTIN_OPS[code] if 0 <= code < len(BUILTIN_OPS) else f"BUILTIN_{code}"
        if name == "CUSTOM":
            name = f"CUSTOM:{custom}"
        opcodes.append((name, code, int(b.scalar(oc, 2, "<i", 1))))
    buffers = []
    for buf in b.tables(root, 4):
        payload = b.bytes_field(buf, 0)
        offset, size = b.scalar(buf, 1, "<Q", 0), b.scalar(buf, 2, "<Q", 0)
        if not payload and offset > 1:  # large models keep buffers after the flatbuffer
            if offset + size > b.n:
                raise InputError("corrupt .tflite: a buffer lies past the end of the file",
                                 hint="re-export the model")
            payload = b.d[offset:offset + size]
        buffers.append(payload or None)
    subgraphs = b.tables(root, 2)
    if not subgraphs:
        raise InputError("the .tflite file has no subgraph", hint="re-export the model")
    sg = subgraphs[0]
    tensors = [_tensor(b, i, t, buffers) for i, t in enumerate(b.tables(sg, 0))]
    operators = []
    for i, op in enumerate(b.tables(sg, 3)):
        idx = b.scalar(op, 0, "<I", 0)
        if idx >= len(opcodes):
            raise InputError(f"corrupt .tflite: operator {i} uses opcode {idx} of {len(opcodes)}",
                             hint="re-export the model")
        name, code, op_version = opcodes[idx]
        ins, outs = b.scalars(op, 1, "i"), b.scalars(op, 2, "i")
        for t in (*ins, *outs):
            if t >= len(tensors) or t < -1:
                raise InputError(f"corrupt .tflite: operator {i} names tensor {t}",
                                 hint="re-export the model")
        options_table = b.ref(op, 4)
        options = _options(b, name, options_table) if options_table is not None else _defaults(name)
        operators.append(Operator(i, name, code, op_version, tuple(ins), tuple(outs), options))
    inputs, outputs = list(b.scalars(sg, 1, "i")), list(b.scalars(sg, 2, "i"))
    for t in (*inputs, *outputs):
        if not 0 <= t < len(tensors):
            raise InputError(f"corrupt .tflite: subgraph names tensor {t}", hint="re-export the model")
    return TFLiteModel(version=int(version), description=b.string(root, 3), tensors=tensors,
                       operators=operators, inputs=inputs, outputs=outputs,
                       subgraph_count=len(subgraphs), size_bytes=b.n)


def _tensor(b: _Buf, index: int, t: int, buffers: list[bytes | None]) -> Tensor:
    shape = tuple(int(s) for s in b.scalars(t, 0, "i"))
    type_code = b.scalar(t, 1, "<b", 0)
    if not 0 <= type_code < len(TENSOR_TYPES):
        dtype = f"type{type_code}"
    else:
        kind, np_name = TENSOR_TYPES[type_code]
        dtype = np_name or kind.lower()
    buf_index = int(b.scalar(t, 2, "<I", 0))
    data = buffers[buf_index] if 0 <= buf_index < len(buffers) else None
    quant = None
    q = b.ref(t, 4)
    if q is not None:
        scale = tuple(float(s) for s in b.scalars(q, 2, "f"))
        zp = tuple(int(z) for z in b.scalars(q, 3, "q"))
        if scale:
            quant = Quantization(scale, zp or (0,) * len(scale), int(b.scalar(q, 6, "<i", 0)))
    sig = b.scalars(t, 7, "i")
    return Tensor(index=index, name=b.string(t, 3), shape=shape, dtype=dtype, buffer=buf_index,
                  data=data, quantization=quant, is_variable=bool(b.scalar(t, 5, "<b", 0)),
                  shape_signature=tuple(int(s) for s in sig) if sig else None)


def _defaults(name: str) -> dict[str, Any]:
    return _named({f: d for f, _k, d in _OPTIONS.get(name, ())})


def _options(b: _Buf, name: str, table: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for slot, (fname, kind, default) in enumerate(_OPTIONS.get(name, ())):
        if kind == "b":
            out[fname] = int(b.scalar(table, slot, "<b", default))
        elif kind == "i":
            out[fname] = int(b.scalar(table, slot, "<i", default))
        elif kind == "f":
            out[fname] = float(b.scalar(table, slot, "<f", default))
        elif kind == "vi":
            vec = b.scalars(table, slot, "i")
            out[fname] = [int(v) for v in vec] if b.field_pos(table, slot) is not None else default
    return _named(out)


def _named(opts: dict[str, Any]) -> dict[str, Any]:
    if "padding" in opts:
        p = opts["padding"]
        opts["padding"] = PADDING[p] if 0 <= p < len(PADDING) else f"PADDING_{p}"
    if "fused_activation_function" in opts:
        a = opts["fused_activation_function"]
        opts["fused_activation_function"] = ACTIVATIONS[a] if 0 <= a < len(ACTIVATIONS) else f"ACT_{a}"
    for flag in ("keep_num_dims", "keep_dims", "asymmetric_quantize_inputs"):
        if flag in opts:
            opts[flag] = bool(opts[flag])
    return opts
