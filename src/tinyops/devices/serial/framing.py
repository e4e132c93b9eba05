"""Frames on the wire, as pure functions on bytes (no I/O here).

A frame is ``0xC0 + SLIP-escaped(payload + CRC32 little-endian) + 0xC0``.
Requests carry ``cmd (1) | seq (2, LE) | body``; replies carry
``cmd|0x80 (1) | seq (2) | status (1) | body``. The firmware tells frames from
MLPerf ASCII commands by the first byte (0xC0 never occurs in ASCII).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD
REPLY_FLAG = 0x80
CRC_BYTES = 4

Fields = tuple[tuple[str, str], ...]
# Request and reply headers: (field, struct code), little-endian, no padding. These and
# the body layouts in protocol.py are checked field by field against firmware/src/proto.h.
REQUEST_HEADER: Fields = (("cmd", "B"), ("seq", "H"))
REPLY_HEADER: Fields = (("cmd", "B"), ("seq", "H"), ("status", "B"))


def layout(fields: Fields) -> struct.Struct:
    """The little-endian struct of a field list."""
    return struct.Struct("<" + "".join(code for _, code in fields))


def offsets(fields: Fields) -> dict[str, int]:
    """Byte offset of each field of a field list."""
    out: dict[str, int] = {}
    pos = 0
    for name, code in fields:
        out[name] = pos
        pos += struct.calcsize("<" + code)
    return out


REQUEST = layout(REQUEST_HEADER)
REPLY = layout(REPLY_HEADER)


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, the same as zlib and the firmware's ``fw_crc32``."""
    return zlib.crc32(data) & 0xFFFFFFFF


def slip_encode(payload: bytes) -> bytes:
    """Escape and wrap one payload (its CRC already appended)."""
    body = payload.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(bytes([END]), bytes([ESC, ESC_END]))
    return bytes([END]) + body + bytes([END])


def with_crc(payload: bytes) -> bytes:
    return payload + struct.pack("<I", crc32(payload))


def check_crc(frame: bytes) -> bytes | None:
    """The payload without its CRC, or None if too short or the CRC is wrong."""
    if len(frame) < CRC_BYTES + 1:
        return None
    payload, (crc,) = frame[:-CRC_BYTES], struct.unpack("<I", frame[-CRC_BYTES:])
    return payload if crc32(payload) == crc else None


def encode_request(cmd: int, seq: int, body: bytes = b"") -> bytes:
    return slip_encode(with_crc(REQUEST.pack(cmd, seq & 0xFFFF) + body))


def encode_reply(cmd: int, seq: int, status: int, body: bytes = b"") -> bytes:
    """What the firmware sends; used by tests and the link emulator."""
    return slip_encode(with_crc(REPLY.pack(cmd | REPLY_FLAG, seq & 0xFFFF, status) + body))


@dataclass(frozen=True)
class Reply:
    cmd: int  # the request's command (reply flag removed)
    seq: int
    status: int
    body: bytes


def parse_reply(frame: bytes) -> Reply | None:
    """A decoded frame as a reply, or None if it is corrupt or not a reply."""
    payload = check_crc(frame)
    if payload is None or len(payload) < REPLY.size or not payload[0] & REPLY_FLAG:
        return None
    cmd, seq, status = REPLY.unpack_from(payload)
    return Reply(cmd & ~REPLY_FLAG, seq, status, payload[REPLY.size:])


def parse_request(frame: bytes) -> tuple[int, int, bytes] | None:
    payload = check_crc(frame)
    if payload is None or len(payload) < REQUEST.size or payload[0] & REPLY_FLAG:
        return None
    cmd, seq = REQUEST.unpack_from(payload)
    return cmd, seq, payload[REQUEST.size:]


class SlipDecoder:
    """Incremental decoder. Bytes outside frames are text (MLPerf replies,
    boot banner) and are collected separately.

    An empty frame (two ENDs in a row) means "still opening", so an END that
    closed one frame and an END that opens the next never merge two frames.
    """

    def __init__(self, max_frame: int = 1 << 16) -> None:
        self.max_frame = max_frame
        self._in_frame = False
        self._escaped = False
        self._buf = bytearray()
        self._broken = False
        self.text = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        for b in data:
            if not self._in_frame:
                if b == END:
                    self._in_frame, self._buf, self._escaped, self._broken = True, bytearray(), False, False
                else:
                    self.text.append(b)
                continue
            if b == END:
                if self._buf or self._broken:
                    if self._broken:
                        self.dropped += 1
                    else:
                        frames.append(bytes(self._buf))
                    self._in_frame = False
                continue
            if self._escaped:
                self._escaped = False
                if b == ESC_END:
                    b = END
                elif b == ESC_ESC:
                    b = ESC
                else:
                    self._broken = True
            elif b == ESC:
                self._escaped = True
                continue
            if len(self._buf) >= self.max_frame:
                self._broken = True
            if not self._broken:
                self._buf.append(b)
        return frames

    def take_text(self) -> bytes:
        out, self.text = bytes(self.text), bytearray()
        return out
