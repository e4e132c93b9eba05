"""The model-image format is one spec: every constant, record size and field offset
of firmware/runtime/tor_format.h (compiled with the host C compiler) equals
runtimes/tinyops_c/format.py's."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from fixtures_c import evaluate, names, struct_layout, structs
from paths import FIRMWARE

from tinyops.runtimes.tinyops_c import format as fmt

RUNTIME = FIRMWARE / "runtime"
HEADERS = ["tor_format.h"]
TEXT = (RUNTIME / "tor_format.h").read_text()
STRUCTS = structs(TEXT)


def py_elements(s: struct.Struct) -> list[tuple[str, int]]:
    """(struct code, offset) of every element of a little-endian, unpadded struct."""
    out: list[tuple[str, int]] = []
    pos, count = 0, ""
    for ch in s.format.lstrip("<"):
        if ch.isdigit():
            count += ch
            continue
        for _ in range(int(count or 1)):
            out.append((ch, pos))
            pos += struct.calcsize("<" + ch)
        count = ""
    return out


def mismatches(c_name: str, py: struct.Struct, tmp: Path, py_fields: tuple[str, ...] | None = None) -> list[str]:
    size, elements = struct_layout(c_name, STRUCTS[c_name], HEADERS, [RUNTIME], tmp)
    bad = []
    if size != py.size:
        bad.append(f"{c_name}: sizeof {size}, Python {py.size}")
    if [(code, off) for _, code, off in elements] != py_elements(py):
        bad.append(f"{c_name}: C {[(code, off) for _, code, off in elements]} != Python {py_elements(py)}")
    if py_fields is not None and tuple(f.name for f in STRUCTS[c_name]) != py_fields:
        bad.append(f"{c_name}: C fields {[f.name for f in STRUCTS[c_name]]} != Python {list(py_fields)}")
    return bad


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    wanted = ["TOR_MAGIC", "TOR_FORMAT_VERSION", "TOR_MAX_CONCAT", "TOR_MAX_SEGMENT", "offsetof(tor_header, crc32)",
              *names(TEXT, "TOR_DT_"), *names(TEXT, "TOR_IN_"), *names(TEXT, "TOR_OP_")]
    return evaluate(HEADERS, [RUNTIME], {n: n for n in wanted}, tmp_path_factory.mktemp("format"))


def test_comparison_can_fail(tmp_path: Path) -> None:
    assert mismatches("tor_op", fmt.OP, tmp_path, fmt.OP_FIELDS) == []
    assert mismatches("tor_op", struct.Struct("<2I"), tmp_path)[0] == "tor_op: sizeof 12, Python 8"
    assert mismatches("tor_quantize_params", struct.Struct("<7i"), tmp_path)[0].startswith("tor_quantize_params: C [")
    assert mismatches("tor_op", fmt.OP, tmp_path, ("code", "params_size", "params_off"))


def test_constants(c: dict[str, int]) -> None:
    assert (c["TOR_MAGIC"], c["TOR_FORMAT_VERSION"], c["TOR_MAX_CONCAT"]) == (fmt.MAGIC, fmt.FORMAT_VERSION, fmt.MAX_CONCAT)
    assert c["offsetof(tor_header, crc32)"] == fmt.CRC_OFFSET
    assert {k: v for k, v in c.items() if k.startswith("TOR_DT_") and k != "TOR_DT_COUNT"} == \
        {f"TOR_DT_{n.upper()}": v for n, v in fmt.DTYPES.items()}
    assert (c["TOR_IN_ARENA"], c["TOR_IN_IMAGE"], c["TOR_IN_STATE"], c["TOR_IN_WINDOW"]) == \
        (fmt.IN_ARENA, fmt.IN_IMAGE, fmt.IN_STATE, fmt.IN_WINDOW)
    assert c["TOR_MAX_SEGMENT"] == fmt.MAX_SEGMENT
    assert {k: v for k, v in c.items() if k.startswith("TOR_OP_") and k != "TOR_OP_COUNT"} == \
        {f"TOR_OP_{n}": v for n, v in fmt.OPCODES.items()}


def test_records(tmp_path: Path) -> None:
    assert mismatches("tor_header", fmt.HEADER, tmp_path, fmt.HEADER_FIELDS) == []
    assert mismatches("tor_tensor", fmt.TENSOR, tmp_path, fmt.TENSOR_FIELDS) == []
    assert mismatches("tor_op", fmt.OP, tmp_path, fmt.OP_FIELDS) == []
    assert fmt.DATA_OFF == fmt.HEADER.size


def test_every_op_params_struct(tmp_path: Path) -> None:
    c_params = {n[len("tor_"):-len("_params")] for n in STRUCTS if n.endswith("_params")}
    assert c_params == set(fmt.PARAMS)
    bad = [m for kind, s in fmt.PARAMS.items() for m in mismatches(f"tor_{kind}_params", s, tmp_path)]
    assert bad == []
