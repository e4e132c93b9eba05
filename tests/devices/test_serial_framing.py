"""Framing and CRC as pure functions: SLIP round trips, text between frames,
corruption detection."""

from __future__ import annotations

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tinyops.devices.serial import framing, protocol


@given(st.binary(min_size=1, max_size=600))
@settings(max_examples=200, deadline=None)
def test_slip_round_trip_any_payload(payload: bytes) -> None:
    wire = framing.slip_encode(framing.with_crc(payload))
    assert wire[0] == framing.END and wire[-1] == framing.END
    assert framing.END not in wire[1:-1]  # escaped: frames are delimited unambiguously
    frames = framing.SlipDecoder().feed(wire)
    assert frames == [payload + struct.pack("<I", zlib.crc32(payload) & 0xFFFFFFFF)]
    assert framing.check_crc(frames[0]) == payload


@given(st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=6), st.integers(1, 7))
@settings(max_examples=100, deadline=None)
def test_decoder_handles_any_split_and_interleaved_text(payloads: list[bytes], step: int) -> None:
    wire = b"m-init-done\r\nm-ready\r\n"
    for p in payloads:
        wire += framing.slip_encode(p) + b"m-ready\r\n"
    dec = framing.SlipDecoder()
    frames = []
    for i in range(0, len(wire), step):
        frames += dec.feed(wire[i:i + step])
    assert frames == payloads
    assert dec.take_text() == b"m-init-done\r\nm-ready\r\n" + b"m-ready\r\n" * len(payloads)


def test_special_bytes_are_escaped_exactly() -> None:
    assert framing.slip_encode(b"\xc0\xdb") == b"\xc0\xdb\xdc\xdb\xdd\xc0"


def test_reply_parsing_rejects_corruption_and_requests() -> None:
    wire = framing.encode_reply(protocol.INFO, 513, 0, b"body")
    raw = framing.SlipDecoder().feed(wire)[0]
    reply = framing.parse_reply(raw)
    assert reply == framing.Reply(protocol.INFO, 513, 0, b"body")
    for i in range(len(raw)):  # every single-bit flip is caught by the CRC
        bad = bytearray(raw)
        bad[i] ^= 0x10
        assert framing.parse_reply(bytes(bad)) is None
    request = framing.SlipDecoder().feed(framing.encode_request(protocol.INFO, 7))[0]
    assert framing.parse_reply(request) is None
    assert framing.parse_request(request) == (protocol.INFO, 7, b"")


def test_broken_escape_drops_only_that_frame() -> None:
    good = framing.slip_encode(b"ok")
    dec = framing.SlipDecoder()
    assert dec.feed(b"\xc0ab\xdb\x01cd\xc0" + good) == [b"ok"]
    assert dec.dropped == 1


def test_oversize_frame_is_dropped() -> None:
    dec = framing.SlipDecoder(max_frame=16)
    assert dec.feed(framing.slip_encode(b"x" * 40) + framing.slip_encode(b"y")) == [b"y"]


def test_crc_is_zlib_crc32() -> None:
    assert framing.crc32(b"123456789") == 0xCBF43926  # the CRC-32/ISO-HDLC check value


def test_info_body_parsing() -> None:
    body = struct.pack("<BBBBBBHIIIIIIIB", 1, 0, 1, 0, 0, 0, 4128, 4096, 16384, 1024, 2048, 3, 64, 10, 5) + b"posix"
    for i, state in enumerate((3, 0)):
        body += struct.pack("<BBIII", state, 1, 7 - i, 100, 100) + bytes([i + 1]) * 32
    info = protocol.parse_info(body)
    assert info.board == "posix" and info.active_slot == 0 and info.counter_unit == "instructions"
    assert info.active_sha256 == "01" * 32
    assert [s.state for s in info.slots] == ["committed", "empty"]
    assert info.slots[1].sha256 == ""
