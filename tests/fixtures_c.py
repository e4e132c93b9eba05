"""Read C headers the way the compiler does: names parsed from the text, values,
sizes and offsets printed by a tiny program built with the host C compiler."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CTYPE_CODES = {"uint8_t": "B", "int8_t": "b", "uint16_t": "H", "int16_t": "h", "uint32_t": "I",
               "int32_t": "i", "float": "f"}


def strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", " ", text, flags=re.S))


def names(text: str, prefix: str) -> list[str]:
    """Enum members and #defines whose name starts with ``prefix``, in file order."""
    text = strip_comments(text)
    found = re.findall(rf"#define\s+({prefix}\w*)\s+\S|[{{,]\s*({prefix}\w*)(?=\s*(?:=|,|}}))", text)
    out: list[str] = []
    for a, b in found:
        name = a or b
        if name not in out:
            out.append(name)
    return out


@dataclass(frozen=True)
class Field:
    name: str
    ctype: str


def structs(text: str) -> dict[str, list[Field]]:
    """``typedef struct { ... } name;`` -> its fields (scalars and fixed arrays)."""
    out: dict[str, list[Field]] = {}
    for body, name in re.findall(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", strip_comments(text), flags=re.S):
        fields: list[Field] = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            ctype, rest = decl.split(None, 1)
            for part in rest.split(","):
                m = re.fullmatch(r"\s*(\w+)\s*(?:\[(\w+)\])?\s*", part)
                assert m, f"cannot read field {part!r} of {name}"
                fields.append(Field(m.group(1), ctype))
        out[name] = fields
    return out


def evaluate(headers: list[str], include_dirs: list[Path], exprs: dict[str, str], tmp: Path) -> dict[str, int]:
    """The value of each C expression (as a long long), from a program compiled with ``cc``."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no host C compiler (cc or gcc): run `make install`, which installs the toolchains the tests need")
    lines = ["#include <stdio.h>", "#include <stddef.h>", *(f'#include "{h}"' for h in headers),
             "int main(void) {"]
    lines += [f'  printf("%s %lld\\n", "{key}", (long long)({expr}));' for key, expr in exprs.items()]
    lines += ["  return 0;", "}"]
    src, exe = tmp / "probe.c", tmp / "probe"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c99", "-Wall", *(f"-I{d}" for d in include_dirs), str(src), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.rsplit(" ", 1) for line in out.splitlines())}


def struct_layout(name: str, fields: list[Field], headers: list[str], include_dirs: list[Path],
                  tmp: Path) -> tuple[int, list[tuple[str, str, int]]]:
    """sizeof(name) and every element as (field, struct code, offset); arrays expanded."""
    exprs = {"sizeof": f"sizeof({name})"}
    for f in fields:
        exprs[f"off.{f.name}"] = f"offsetof({name}, {f.name})"
        exprs[f"size.{f.name}"] = f"sizeof((({name} *)0)->{f.name})"
    v = evaluate(headers, include_dirs, exprs, tmp)
    elements: list[tuple[str, str, int]] = []
    for f in fields:
        code = CTYPE_CODES[f.ctype]
        elem = {"B": 1, "b": 1, "H": 2, "h": 2}.get(code, 4)
        n = v[f"size.{f.name}"] // elem
        elements += [(f.name, code, v[f"off.{f.name}"] + i * elem) for i in range(n)]
    return v["sizeof"], elements
