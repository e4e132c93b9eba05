"""MQTT 5 and 3.1.1 packets for the embedded broker: read them off a stream,
parse them, and encode the ones a broker sends.

Only what a QoS 0/1 broker needs is here (no QoS 2 flow, no AUTH exchange).
Properties are kept as ``(id, value)`` pairs because user properties and
subscription identifiers may repeat; a PUBLISH's properties are also kept as
raw bytes so they can be forwarded to subscribers without re-encoding.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# Reason codes we send (MQTT 5 §2.4); v3.1.1 CONNACK codes are mapped in connack().
SUCCESS = 0x00
NO_SUBSCRIPTION_EXISTED = 0x11
UNSPECIFIED = 0x80
MALFORMED = 0x81
PROTOCOL_ERROR = 0x82
UNSUPPORTED_VERSION = 0x84
BAD_CLIENT_ID = 0x85
BAD_LOGIN = 0x86
NOT_AUTHORIZED = 0x87
KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E
TOPIC_FILTER_INVALID = 0x8F
TOPIC_NAME_INVALID = 0x90
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
QUOTA_EXCEEDED = 0x97
QOS_NOT_SUPPORTED = 0x9B
SERVER_SHUTTING_DOWN = 0x8B

# Property identifier -> wire type (MQTT 5 §2.2.2.2).
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT, 0x11: _U32, 0x12: _STR,
    0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE, 0x1A: _STR, 0x1C: _STR,
    0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
MAXIMUM_PACKET_SIZE = 0x27
REASON_STRING = 0x1F

Properties = list[tuple[int, Any]]


class ProtocolError(Exception):
    """The peer broke the protocol; ``reason`` goes into a v5 DISCONNECT."""

    def __init__(self, message: str, reason: int = MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason


# ---- reading ------------------------------------------------------------------
async def read_packet(reader: asyncio.StreamReader, max_size: int) -> tuple[int, int, bytes]:
    """One packet off the stream: (type, flags, body). Raises ProtocolError with
    PACKET_TOO_LARGE before reading a body over ``max_size`` (whole packet)."""
    first = (await reader.readexactly(1))[0]
    length, mult = 0, 1
    for n in range(4):
        b = (await reader.readexactly(1))[0]
        length += (b & 0x7F) * mult
        if not b & 0x80:
            break
        mult *= 128
    else:
        raise ProtocolError("remaining length longer than 4 bytes")
    if length + 2 + n > max_size:
        raise ProtocolError(f"packet of {length} bytes exceeds the {max_size}-byte limit", PACKET_TOO_LARGE)
    body = await reader.readexactly(length) if length else b""
    return first >> 4, first & 0x0F, body


class Cursor:
    """Reads MQTT data types from a packet body."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise ProtocolError("packet shorter than its fields")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def varint(self) -> int:
        value, mult = 0, 1
        for _ in range(4):
            b = self.u8()
            value += (b & 0x7F) * mult
            if not b & 0x80:
                return value
            mult *= 128
        raise ProtocolError("variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        try:
            s = self.binary().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError("string is not valid UTF-8") from e
        if "\x00" in s:
            raise ProtocolError("string contains U+0000")
        return s

    def properties(self) -> tuple[Properties, bytes]:
        """Parsed properties and their raw encoding (without the length prefix)."""
        length = self.varint()
        raw = self.take(length)
        sub, props = Cursor(raw), []
        readers = {_BYTE: sub.u8, _U16: sub.u16, _U32: sub.u32, _VARINT: sub.varint, _STR: sub.string,
                   _BIN: sub.binary, _PAIR: lambda: (sub.string(), sub.string())}
        while sub.left():
            pid = sub.varint()
            if pid not in PROPERTY_TYPES:
                raise ProtocolError(f"unknown property 0x{pid:02x}")
            props.append((pid, readers[PROPERTY_TYPES[pid]]()))
        return props, raw


def prop(props: Properties, pid: int, default: Any = None) -> Any:
    return next((v for p, v in props if p == pid), default)


# ---- parsed packets -------------------------------------------------------------
@dataclass
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    props_raw: bytes = b""


@dataclass
class Connect:
    version: int  # 4 = 3.1.1, 5 = MQTT 5
    client_id: str
    clean_start: bool
    keepalive: int
    username: str | None
    password: bytes | None
    will: Will | None
    props: Properties = field(default_factory=list)


def parse_connect(body: bytes) -> Connect:
    c = Cursor(body)
    name = c.string()
    version = c.u8()
    if (name, version) not in (("MQTT", 4), ("MQTT", 5)):
        raise ProtocolError(f"unsupported protocol {name} level {version}", UNSUPPORTED_VERSION)
    flags = c.u8()
    if flags & 0x01:
        raise ProtocolError("reserved CONNECT flag set")
    keepalive = c.u16()
    props = c.properties()[0] if version == 5 else []
    client_id = c.string()
    will = None
    if flags & 0x04:
        will_props = c.properties()[1] if version == 5 else b""
        will = Will(topic=c.string(), payload=c.binary(), qos=(flags >> 3) & 3, retain=bool(flags & 0x20),
                    props_raw=will_props)
    username = c.string() if flags & 0x80 else None
    password = c.binary() if flags & 0x40 else None
    return Connect(version, client_id, bool(flags & 0x02), keepalive, username, password, will, props)


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int | None
    props: Properties
    props_raw: bytes  # forwarded to v5 subscribers as is (topic alias removed)


def parse_publish(flags: int, body: bytes, v5: bool) -> Publish:
    qos = (flags >> 1) & 3
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    c = Cursor(body)
    topic = c.string()
    packet_id = c.u16() if qos else None
    props, raw = c.properties() if v5 else ([], b"")
    if prop(props, TOPIC_ALIAS) is not None:
        # We advertise Topic Alias Maximum 0, so a client must not send one.
        raise ProtocolError("topic alias sent although the broker allows none", TOPIC_ALIAS_INVALID)
    if prop(props, SUBSCRIPTION_IDENTIFIER) is not None:
        raise ProtocolError("a client must not send a subscription identifier", PROTOCOL_ERROR)
    return Publish(topic, body[c.pos:], qos, bool(flags & 1), packet_id, props, raw)


def parse_subscribe(body: bytes, v5: bool) -> tuple[int, int | None, list[tuple[str, int]]]:
    """(packet id, subscription identifier, [(filter, options byte)])."""
    c = Cursor(body)
    packet_id = c.u16()
    props = c.properties()[0] if v5 else []
    items = []
    while c.left():
        items.append((c.string(), c.u8()))
    if not items:
        raise ProtocolError("SUBSCRIBE without topic filters", PROTOCOL_ERROR)
    return packet_id, prop(props, SUBSCRIPTION_IDENTIFIER), items


def parse_unsubscribe(body: bytes, v5: bool) -> tuple[int, list[str]]:
    c = Cursor(body)
    packet_id = c.u16()
    if v5:
        c.properties()
    items = []
    while c.left():
        items.append(c.string())
    if not items:
        raise ProtocolError("UNSUBSCRIBE without topic filters", PROTOCOL_ERROR)
    return packet_id, items


def parse_packet_id(body: bytes) -> int:
    return Cursor(body).u16()


def parse_disconnect(body: bytes) -> int:
    return body[0] if body else SUCCESS


# ---- encoding -------------------------------------------------------------------
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def encode_properties(props: Properties) -> bytes:
    """Properties with their length prefix."""
    out = bytearray()
    for pid, value in props:
        kind = PROPERTY_TYPES[pid]
        out += varint(pid)
        if kind == _BYTE:
            out.append(value)
        elif kind == _U16:
            out += struct.pack(">H", value)
        elif kind == _U32:
            out += struct.pack(">I", value)
        elif kind == _VARINT:
            out += varint(value)
        elif kind == _STR:
            out += string(value)
        elif kind == _BIN:
            out += struct.pack(">H", len(value)) + value
        else:
            out += string(value[0]) + string(value[1])
    return varint(len(out)) + bytes(out)


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


_V3_CONNACK = {SUCCESS: 0, UNSUPPORTED_VERSION: 1, BAD_CLIENT_ID: 2, BAD_LOGIN: 4, NOT_AUTHORIZED: 5}


def connack(v5: bool, reason: int, props: Properties | None = None) -> bytes:
    if not v5:
        return packet(CONNACK, 0, bytes([0, _V3_CONNACK.get(reason, 3)]))  # 3: server unavailable
    return packet(CONNACK, 0, bytes([0, reason]) + encode_properties(props or []))


def publish(topic: str, payload: bytes, qos: int, retain: bool, packet_id: int | None, v5: bool,
            props_raw: bytes = b"", sub_ids: tuple[int, ...] = ()) -> bytes:
    head = string(topic) + (struct.pack(">H", packet_id) if qos else b"")
    if v5:
        extra = b"".join(varint(SUBSCRIPTION_IDENTIFIER) + varint(i) for i in sub_ids)
        head += varint(len(props_raw) + len(extra)) + props_raw + extra
    return packet(PUBLISH, (qos << 1) | int(retain), head + payload)


def ack(ptype: int, packet_id: int, v5: bool, codes: list[int] | None = None, reason: int = SUCCESS) -> bytes:
    """PUBACK (one reason), SUBACK/UNSUBACK (a list of codes)."""
    body = struct.pack(">H", packet_id)
    if ptype == PUBACK:
        if v5 and reason != SUCCESS:
            body += bytes([reason, 0])
        return packet(PUBACK, 0, body)
    if v5:
        body += b"\x00"  # no properties
    if ptype == UNSUBACK and not v5:
        return packet(UNSUBACK, 0, body)
    return packet(ptype, 0, body + bytes(codes or []))


PINGRESP_PACKET = packet(PINGRESP, 0, b"")


def disconnect(reason: int, message: str = "") -> bytes:
    """A server DISCONNECT (MQTT 5 only; 3.1.1 servers just close)."""
    props = [(REASON_STRING, message)] if message else []
    return packet(DISCONNECT, 0, bytes([reason]) + encode_properties(props))
