"""Binary layout of a tinyops-c model image (firmware/runtime/FORMAT.md).

The C side is ``firmware/runtime/tor_format.h``; tests/runtimes/test_format_spec.py
compiles it and checks every constant, record size and field offset against this module.

Layout: header (64 B) | constant data | tensor table | op table | io table | op params.
The constant data sits right after the header so its offsets are known while ops are
lowered; every section starts on a 16-byte boundary.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = 0x49524F54  # b"TORI"
FORMAT_VERSION = 2
HEADER_FIELDS = ("magic", "version", "image_size", "crc32", "arena_bytes", "n_tensors", "tensors_off",
                 "n_ops", "ops_off", "n_inputs", "n_outputs", "io_off", "data_off", "data_size", "flags", "reserved")
HEADER = struct.Struct("<16I")
TENSOR_FIELDS = ("dtype", "rank", "storage", "dims", "offset", "bytes", "scale", "zero_point")
TENSOR = struct.Struct("<3I4i2Ifi")
OP_FIELDS = ("code", "params_off", "params_size")
OP = struct.Struct("<3I")
CRC_OFFSET = 4 * HEADER_FIELDS.index("crc32")
DATA_OFF = HEADER.size
ALIGN = 16

DT_INT8, DT_INT32, DT_FLOAT32 = 0, 1, 2
DTYPES = {"int8": DT_INT8, "int32": DT_INT32, "float32": DT_FLOAT32}
ELEM_SIZE = {DT_INT8: 1, DT_INT32: 4, DT_FLOAT32: 4}
IN_ARENA, IN_IMAGE, IN_STATE, IN_WINDOW = 0, 1, 2, 3  # STATE: kept between invokes; WINDOW: rows of a SEGMENT

OPCODES = {
    "CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 3, "AVERAGE_POOL_2D": 4,
    "MAX_POOL_2D": 5, "MEAN": 6, "ADD": 7, "MUL": 8, "RESHAPE": 9, "SOFTMAX": 10,
    "LOGISTIC": 11, "TANH": 12, "QUANTIZE": 13, "DEQUANTIZE": 14, "PAD": 15,
    "CONCATENATION": 16, "LUT": 17, "SUB": 18, "PRELU": 19, "MAXIMUM": 20, "MINIMUM": 21,
    "SQUARED_DIFFERENCE": 22, "DIV": 23, "ARG_MAX": 24, "ARG_MIN": 25, "REDUCE_MAX": 26, "SUM": 27,
    "COPY": 32, "RESIZE_BILINEAR": 33, "TRANSPOSE_CONV": 34, "SVDF": 35, "SEGMENT": 36,
}

# Param structs (all 32-bit words), in the field order of tor_format.h's tor_<kind>_params.
PARAMS = {
    "conv": struct.Struct("<15i3IiI"),
    "fc": struct.Struct("<10i3I3i"),
    "pool": struct.Struct("<10i"),
    "mean": struct.Struct("<8i"),
    "binary": struct.Struct("<15iI"),
    "reshape": struct.Struct("<2i"),
    "softmax": struct.Struct("<5i"),
    "sigmoid": struct.Struct("<6i"),
    "quantize": struct.Struct("<6if"),
    "dequantize": struct.Struct("<2i"),
    "pad": struct.Struct("<11i"),
    "concat": struct.Struct("<3i16i"),
    "copy": struct.Struct("<11iIi"),
    "resize": struct.Struct("<4i"),
    "tconv": struct.Struct("<11i4I"),
    "lut": struct.Struct("<2iI"),
    "arg": struct.Struct("<3i"),
    "svdf": struct.Struct("<13iI"),
    # n_members, reserved[3], then code/params_off/params_size/window_off/window_rows/rows_per_call[8]
    "segment": struct.Struct("<4i48I"),
}
MAX_CONCAT = 16
MAX_SEGMENT = 8


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class TensorRecord:
    dtype: int
    shape: tuple[int, ...]
    storage: int
    offset: int  # absolute image offset (constants) or arena offset
    scale: float
    zero_point: int

    @property
    def dims4(self) -> tuple[int, int, int, int]:
        d = (1,) * (4 - len(self.shape)) + tuple(self.shape)
        return d[0], d[1], d[2], d[3]

    @property
    def nbytes(self) -> int:
        n = ELEM_SIZE[self.dtype]
        for d in self.shape:
            n *= d
        return n


def crc32_image(image: bytes | bytearray) -> int:
    """CRC-32 over the image with the crc field (bytes 12..16) taken as zero."""
    crc = zlib.crc32(bytes(image[:CRC_OFFSET]))
    crc = zlib.crc32(b"\0\0\0\0", crc)
    return zlib.crc32(bytes(image[CRC_OFFSET + 4:]), crc) & 0xFFFFFFFF


def assemble(data: bytes, tensors: list[TensorRecord], ops: list[tuple[int, bytes]],
             inputs: list[int], outputs: list[int], arena_bytes: int) -> bytes:
    """Pack the sections and seal the header with size and CRC."""
    data_size = len(data)
    tensors_off = align(DATA_OFF + data_size)
    ops_off = align(tensors_off + TENSOR.size * len(tensors))
    io_off = align(ops_off + OP.size * len(ops))
    params_off = align(io_off + 4 * (len(inputs) + len(outputs)))
    out = bytearray(params_off)
    out[DATA_OFF:DATA_OFF + data_size] = data
    for i, t in enumerate(tensors):
        TENSOR.pack_into(out, tensors_off + i * TENSOR.size, t.dtype, len(t.shape), t.storage, *t.dims4,
                         t.offset, t.nbytes, t.scale, t.zero_point)
    for i, idx in enumerate([*inputs, *outputs]):
        struct.pack_into("<I", out, io_off + 4 * i, idx)
    for i, (code, params) in enumerate(ops):
        OP.pack_into(out, ops_off + i * OP.size, code, len(out), len(params))
        out += params
        out += b"\0" * (align(len(out)) - len(out))
    HEADER.pack_into(out, 0, MAGIC, FORMAT_VERSION, len(out), 0, arena_bytes, len(tensors), tensors_off,
                     len(ops), ops_off, len(inputs), len(outputs), io_off, DATA_OFF, data_size, 0, 0)
    struct.pack_into("<I", out, CRC_OFFSET, crc32_image(out))
    return bytes(out)
