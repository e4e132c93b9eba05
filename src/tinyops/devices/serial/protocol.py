"""The update protocol's commands, status codes and message bodies (firmware/PROTOCOL.md).

Every constant and body layout here is compared with the firmware's headers
(``firmware/src/proto.h``, ``slots.h``, ``hal.h``, ``model.h``) by
``tests/devices/test_wire_spec.py``, which compiles them with the host C compiler."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from typing import Any

from tinyops.devices.serial.framing import Fields, layout

PROTOCOL_VERSION = 1

INFO, BEGIN, DATA, END, ACTIVATE, ROLLBACK, RUN, STATS, RESET, AUTHORIZE = range(1, 11)
COMMAND_NAMES = {INFO: "INFO", BEGIN: "BEGIN", DATA: "DATA", END: "END", ACTIVATE: "ACTIVATE",
                 ROLLBACK: "ROLLBACK", RUN: "RUN", STATS: "STATS", RESET: "RESET", AUTHORIZE: "AUTHORIZE"}

OK = 0
OFFSET = 7
SHA_MISMATCH = 9
IMAGE_INVALID = 11
RUN_FAILED = 17
STATUS_MESSAGES = {
    0: "ok",
    1: "unknown command (firmware older than this tinyops?)",
    2: "malformed request body",
    3: "no such slot",
    4: "that slot holds the running model; write the other slot",
    5: "image larger than a slot",
    6: "no transfer in progress (send BEGIN first)",
    7: "data offset beyond what the device has received",
    8: "transfer incomplete",
    9: "sha256 of the received image does not match",
    10: "slot is not verified (END must succeed first)",
    11: "the runtime rejected the image",
    12: "no model is active",
    13: "no committed earlier model to roll back to",
    14: "flash read/write/erase failed",
    15: "image kind not supported by this firmware",
    16: "input size does not match the model",
    17: "inference failed",
    18: "the image ticket or a key link does not verify",
    19: "the ticket is signed by a key this device does not trust (retired or foreign)",
    20: "this device pins a signing key: the image needs its signed ticket (AUTHORIZE)",
    21: "security version below the device's floor for this model line; only a signed rollback may lower it",
}
NOT_AUTHORISED = 20
ROLLBACK_REFUSED = 21
# Runtime status codes (firmware/runtime/tinyops_rt.h), for IMAGE_INVALID and RUN_FAILED.
RUNTIME_MESSAGES = {
    1: "null pointer", 2: "image truncated", 3: "not a tinyops model image", 4: "unknown image format version",
    5: "image CRC mismatch", 6: "offset or size out of bounds", 7: "unsupported op: unknown, or left out of this firmware's TOR_OPSET (rebuild it with the model's op set)", 8: "arena too small",
    9: "inconsistent shapes", 10: "tensor index out of range", 11: "misaligned image or arena",
}

SLOT_NONE = 0xFF
SLOT_STATES = {0: "empty", 1: "receiving", 2: "complete", 3: "committed", 4: "corrupt"}
IMAGE_KIND_MODEL = 1
COUNTER_UNITS = {0: "instructions", 1: "nanoseconds", 2: "cycles"}
COUNTER_NAMES = ("boots", "frames_ok", "frames_bad_crc", "frames_dropped", "unknown_commands", "runs",
                 "run_errors", "ascii_commands", "activations", "rollbacks", "load_failures",
                 "last_count_lo", "last_count_hi")

# Fixed parts of the message bodies: (field, struct code), little-endian, no padding.
INFO_FIELDS: Fields = (("protocol", "B"), ("major", "B"), ("minor", "B"), ("patch", "B"), ("counter_unit", "B"),
                       ("active_slot", "B"), ("max_frame", "H"), ("max_chunk", "I"), ("rx_window", "I"),
                       ("arena_capacity", "I"), ("slot_capacity", "I"), ("boots", "I"), ("input_bytes", "I"),
                       ("output_bytes", "I"), ("name_len", "B"))  # then the name, the slots, the runtime tail
SLOT_FIELDS: Fields = (("state", "B"), ("kind", "B"), ("generation", "I"), ("size", "I"), ("received", "I"),
                       ("sha256", "32s"))
BEGIN_FIELDS: Fields = (("slot", "B"), ("size", "I"), ("sha256", "32s"), ("kind", "B"))
BEGIN_REPLY_FIELDS: Fields = (("slot", "B"), ("received", "I"))
DATA_FIELDS: Fields = (("offset", "I"),)  # then the chunk
DATA_REPLY_FIELDS: Fields = (("received", "I"),)
RUN_FIELDS: Fields = (("offset", "I"), ("flags", "B"))  # then input bytes
RUN_REPLY_FIELDS: Fields = (("unit", "B"), ("count_lo", "I"), ("count_hi", "I"), ("output_len", "I"))  # then the output
STATS_FIELDS: Fields = (("flags", "B"), ("features", "H"))
INFO_BODY, SLOT_RECORD = layout(INFO_FIELDS), layout(SLOT_FIELDS)
BEGIN_BODY, BEGIN_REPLY_BODY = layout(BEGIN_FIELDS), layout(BEGIN_REPLY_FIELDS)
DATA_BODY, DATA_REPLY_BODY = layout(DATA_FIELDS), layout(DATA_REPLY_FIELDS)
RUN_BODY, RUN_REPLY_BODY = layout(RUN_FIELDS), layout(RUN_REPLY_FIELDS)
STATS_BODY = layout(STATS_FIELDS)
TRUST_TAIL = struct.Struct("<BHB8sII")  # flags, key generation (24 bits), key prefix, version, floor
SLOT_COUNT = 2


@dataclass
class SlotInfo:
    index: int
    state: str
    kind: int
    generation: int
    size: int
    received: int
    sha256: str


@dataclass
class DeviceInfo:
    protocol: int
    firmware: str
    board: str
    counter_unit: str
    active_slot: int | None
    max_frame: int
    max_chunk: int
    rx_window: int
    arena_capacity: int
    slot_capacity: int
    boots: int
    input_bytes: int
    output_bytes: int
    slots: list[SlotInfo] = field(default_factory=list)
    runtime: str = "tinyops-c"      # the firmware's model runtime (INFO's tail; older firmware: tinyops-c)
    runtime_ops: list[str] = field(default_factory=list)  # builtin ops it was built with; [] = tinyops-c's own
    trust: dict[str, Any] = field(default_factory=dict)  # pinned key, security version and floor (INFO's last tail)

    @property
    def active_sha256(self) -> str | None:
        return None if self.active_slot is None else self.slots[self.active_slot].sha256

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["active_sha256"] = self.active_sha256
        return d


def parse_info(body: bytes) -> DeviceInfo:
    (proto, major, minor, patch, unit, active, max_frame, max_chunk, rx_window, arena, slot_cap, boots,
     in_bytes, out_bytes, nlen) = INFO_BODY.unpack_from(body)
    pos = INFO_BODY.size
    board = body[pos:pos + nlen].decode("ascii", "replace")
    pos += nlen
    slots = []
    for i in range(SLOT_COUNT):
        state, kind, gen, size, received, sha = SLOT_RECORD.unpack_from(body, pos)
        slots.append(SlotInfo(i, SLOT_STATES.get(state, str(state)), kind, gen, size, received,
                              sha.hex() if state else ""))
        pos += SLOT_RECORD.size
    runtime, runtime_ops = "tinyops-c", []
    if len(body) > pos:
        rlen = body[pos]
        runtime = body[pos + 1:pos + 1 + rlen].decode("ascii", "replace")
        pos += 1 + rlen
        (olen,) = struct.unpack_from("<H", body, pos)
        runtime_ops = body[pos + 2:pos + 2 + olen].decode("ascii", "replace").split()
        pos += 2 + olen
    trust: dict[str, Any] = {}
    if len(body) >= pos + TRUST_TAIL.size:
        flags, gen_lo, gen_hi, key8, version, floor = TRUST_TAIL.unpack_from(body, pos)
        trust = {"key_pinned": bool(flags & 1), "ticketed": bool(flags & 2), "key_generation": gen_lo | (gen_hi << 16),
                 "key_prefix": key8.hex() if flags & 1 else None, "security_version": version, "floor": floor}
    return DeviceInfo(proto, f"{major}.{minor}.{patch}", board, COUNTER_UNITS.get(unit, str(unit)),
                      None if active == SLOT_NONE else active, max_frame, max_chunk, rx_window, arena,
                      slot_cap, boots, in_bytes, out_bytes, slots, runtime, runtime_ops, trust)


def begin_body(slot: int, size: int, sha256: bytes, kind: int = IMAGE_KIND_MODEL) -> bytes:
    return BEGIN_BODY.pack(slot, size, sha256, kind)


def data_body(offset: int, chunk: bytes) -> bytes:
    return DATA_BODY.pack(offset) + chunk


def run_body(offset: int, data: bytes, invoke: bool) -> bytes:
    return RUN_BODY.pack(offset, 1 if invoke else 0) + data


@dataclass
class RunResult:
    unit: str
    count: int
    output: bytes


def parse_run(body: bytes) -> RunResult:
    unit, lo, hi, n = RUN_REPLY_BODY.unpack_from(body)
    return RunResult(COUNTER_UNITS.get(unit, str(unit)), lo | (hi << 32), body[RUN_REPLY_BODY.size:RUN_REPLY_BODY.size + n])


def stats_body(reset: bool = False, features: int = 0) -> bytes:
    return STATS_BODY.pack(1 if reset else 0, features)


def parse_stats(body: bytes) -> dict[str, Any]:
    (n,) = struct.unpack_from("<H", body)
    words = struct.unpack_from(f"<{n}I", body, 2)
    counters = dict(zip(COUNTER_NAMES, words))
    counters["last_count"] = counters.pop("last_count_lo", 0) | (counters.pop("last_count_hi", 0) << 32)
    pos = 2 + 4 * n
    features, bins = struct.unpack_from("<HH", body, pos)
    pos += 4
    rest = (len(body) - pos) // 4
    flat = struct.unpack_from(f"<{rest}I", body, pos) if rest else ()
    hist = [list(flat[i * bins:(i + 1) * bins]) for i in range(features)] if rest else []
    # Bin i covers int8 values [-128 + 16 i, -128 + 16 i + 15].
    return {"counters": counters, "features": features, "bins": bins,
            "bin_edges_int8": [-128 + 16 * i for i in range(bins + 1)], "histograms": hist}


def describe(status: int, body: bytes = b"") -> str:
    msg = STATUS_MESSAGES.get(status, f"status {status}")
    if status in (IMAGE_INVALID, RUN_FAILED) and body:
        msg += f" ({RUNTIME_MESSAGES.get(body[0], f'runtime code {body[0]}')})"
    return msg
