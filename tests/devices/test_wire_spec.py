"""The serial protocol is one spec: every constant and every fixed field of the
firmware's headers (compiled with the host C compiler) equals the Python side's
(devices/serial/framing.py and protocol.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_c import evaluate, names, struct_layout, structs
from paths import FIRMWARE

from tinyops.devices.serial import framing, protocol

SRC = FIRMWARE / "src"
INCLUDES = [SRC, FIRMWARE / "runtime", FIRMWARE / "features"]
HEADERS = ["config.h", "hal.h", "slots.h", "proto.h", "model.h", "tinyops_rt.h"]

# C message prefix (OFF_<MSG>_<FIELD>, LEN_<MSG>) -> the Python field list
LAYOUTS: dict[str, framing.Fields] = {
    "REQ": framing.REQUEST_HEADER, "REP": framing.REPLY_HEADER,
    "INFO": protocol.INFO_FIELDS, "SLOT": protocol.SLOT_FIELDS,
    "BEGIN": protocol.BEGIN_FIELDS, "BEGIN_REPLY": protocol.BEGIN_REPLY_FIELDS,
    "DATA": protocol.DATA_FIELDS, "DATA_REPLY": protocol.DATA_REPLY_FIELDS,
    "RUN": protocol.RUN_FIELDS, "RUN_REPLY": protocol.RUN_REPLY_FIELDS,
    "STATS": protocol.STATS_FIELDS,
}


def _text(*headers: str) -> str:
    return "\n".join(next(d / h for d in INCLUDES if (d / h).exists()).read_text() for h in headers)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    text = _text(*HEADERS)
    wanted = ["FW_PROTOCOL_VERSION", "SLOT_COUNT", "SLOT_NONE", "IMAGE_KIND_MODEL", "FW_COUNTER_WORDS"]
    for prefix in ("CMD_", "ST_", "SLIP_", "SLOT_", "HAL_UNIT_", "TOR_ERR_", "OFF_", "LEN_"):
        wanted += names(text, prefix)
    return evaluate(HEADERS, INCLUDES, {n: n for n in dict.fromkeys(wanted)}, tmp_path_factory.mktemp("proto"))


def layout_mismatches(c: dict[str, int], layouts: dict[str, framing.Fields]) -> list[str]:
    """Every OFF_/LEN_ of the C side against the Python field lists, both ways."""
    bad: list[str] = []
    by_len = sorted(layouts, key=len, reverse=True)
    seen: dict[str, set[str]] = {m: set() for m in layouts}
    for name, value in c.items():
        if not name.startswith("OFF_"):
            continue
        msg = next((m for m in by_len if name.startswith(f"OFF_{m}_")), None)
        if msg is None:
            bad.append(f"{name}: no Python layout for this message")
            continue
        field = name[len(f"OFF_{msg}_"):].lower()
        seen[msg].add(field)
        py = framing.offsets(layouts[msg])
        if field not in py:
            bad.append(f"{name}: the Python layout of {msg} has no field {field!r}")
        elif py[field] != value:
            bad.append(f"{name}: C offset {value}, Python {py[field]}")
    for msg, fields in layouts.items():
        missing = [f for f, _ in fields if f not in seen[msg]]
        if missing:
            bad.append(f"{msg}: C has no offset for {missing}")
        size = framing.layout(fields).size
        if c.get(f"LEN_{msg}") != size:
            bad.append(f"LEN_{msg}: C {c.get(f'LEN_{msg}')}, Python {size}")
    return bad


def test_comparison_can_fail(c: dict[str, int]) -> None:
    assert layout_mismatches(c, LAYOUTS) == []
    moved = dict(LAYOUTS, RUN=(("flags", "B"), ("offset", "I")))
    assert layout_mismatches(c, moved) == ["OFF_RUN_OFFSET: C offset 0, Python 1", "OFF_RUN_FLAGS: C offset 4, Python 0"]
    grown = dict(LAYOUTS, STATS=(*protocol.STATS_FIELDS, ("window", "I")))
    assert layout_mismatches(c, grown) == ["STATS: C has no offset for ['window']", "LEN_STATS: C 3, Python 7"]


def test_every_body_field_at_the_same_offset(c: dict[str, int]) -> None:
    assert layout_mismatches(c, LAYOUTS) == []
    assert protocol.INFO_BODY.size == c["LEN_INFO"] and protocol.SLOT_RECORD.size == c["LEN_SLOT"]


def test_commands_statuses_and_framing(c: dict[str, int]) -> None:
    assert {f"CMD_{n}": v for v, n in protocol.COMMAND_NAMES.items()} == \
        {k: v for k, v in c.items() if k.startswith("CMD_") and k != "CMD_REPLY"}
    assert c["CMD_REPLY"] == framing.REPLY_FLAG
    assert (c["SLIP_END"], c["SLIP_ESC"], c["SLIP_ESC_END"], c["SLIP_ESC_ESC"]) == \
        (framing.END, framing.ESC, framing.ESC_END, framing.ESC_ESC)
    statuses = {k: v for k, v in c.items() if k.startswith("ST_")}
    assert sorted(statuses.values()) == sorted(protocol.STATUS_MESSAGES)
    for name in ("OK", "OFFSET", "SHA_MISMATCH", "IMAGE_INVALID", "RUN_FAILED"):
        assert statuses[f"ST_{name}"] == getattr(protocol, name), name
    runtime = {v for k, v in c.items() if k.startswith("TOR_ERR_") and k != "TOR_ERR_COUNT"}
    assert runtime == set(protocol.RUNTIME_MESSAGES)
    assert c["FW_PROTOCOL_VERSION"] == protocol.PROTOCOL_VERSION


def test_slots_units_and_counters(c: dict[str, int], tmp_path: Path) -> None:
    assert (c["SLOT_COUNT"], c["SLOT_NONE"], c["IMAGE_KIND_MODEL"]) == \
        (protocol.SLOT_COUNT, protocol.SLOT_NONE, protocol.IMAGE_KIND_MODEL)
    states = {k: v for k, v in c.items() if k.startswith("SLOT_") and k not in ("SLOT_COUNT", "SLOT_NONE")}
    assert states == {f"SLOT_{n.upper()}": v for v, n in protocol.SLOT_STATES.items()}
    units = {k: v for k, v in c.items() if k.startswith("HAL_UNIT_")}
    assert units == {f"HAL_UNIT_{n.upper()}": v for v, n in protocol.COUNTER_UNITS.items()}
    counters = structs(_text("model.h"))["fw_counters"]
    size, elements = struct_layout("fw_counters", counters, HEADERS, INCLUDES, tmp_path)
    assert [(n, code, off) for n, code, off in elements] == \
        [(n, "I", 4 * i) for i, n in enumerate(protocol.COUNTER_NAMES)]
    assert size == 4 * len(protocol.COUNTER_NAMES) == 4 * c["FW_COUNTER_WORDS"]
