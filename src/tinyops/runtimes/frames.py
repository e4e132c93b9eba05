"""Length-prefixed frames on the pipe between the parent and a runtime child process.

A frame on the wire is a little-endian u32 length followed by that many bytes; the
child's replies start with a 1-byte kind (``J`` = JSON, ``N`` = .npy).
"""

from __future__ import annotations

import struct
from typing import BinaryIO


def read_frame(f: BinaryIO) -> bytes | None:
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    data = f.read(n)
    if len(data) < n:
        return None
    return data


def write_frame(f: BinaryIO, kind: bytes, payload: bytes) -> None:
    """A frame is a 1-byte kind (J=json, N=npy) followed by the payload."""
    f.write(struct.pack("<I", len(payload) + 1) + kind + payload)
    f.flush()
