"""References: ``NAME@VERSION``, ``NAME@ALIAS``, ``NAME@VERSION:VARIANT``, ``NAME`` (= latest).

Parsed in one place; resolution against the registry lives with each noun.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tinyops.errors import ReferenceSyntaxError

NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_REF = re.compile(rf"^(?P<name>{NAME_RE})(?:@(?P<sel>[A-Za-z0-9][A-Za-z0-9_\-]*))?(?::(?P<variant>[A-Za-z0-9_]+))?$")


@dataclass(frozen=True)
class Ref:
    name: str
    version: int | None = None  # explicit version number
    alias: str | None = None  # alias name (``latest`` when nothing was given)
    variant: str | None = None

    def __str__(self) -> str:
        sel = str(self.version) if self.version is not None else (self.alias or "latest")
        return f"{self.name}@{sel}" + (f":{self.variant}" if self.variant else "")


def parse_ref(text: str, *, allow_variant: bool = True) -> Ref:
    m = _REF.match(text.strip())
    if not m:
        raise ReferenceSyntaxError(
            f"'{text}' is not a valid reference",
            hint="write NAME, NAME@VERSION, NAME@ALIAS or NAME@VERSION:VARIANT (e.g. digits@3:int8)",
        )
    variant = m.group("variant")
    if variant and not allow_variant:
        raise ReferenceSyntaxError(f"'{text}' names a variant here where none is allowed", hint="drop the ':VARIANT' part")
    sel = m.group("sel")
    if sel is None:
        return Ref(m.group("name"), alias="latest", variant=variant)
    if sel.isdigit():
        if int(sel) < 1:
            raise ReferenceSyntaxError(f"'{text}': versions start at 1", hint="write NAME@VERSION with VERSION 1 or later")
        return Ref(m.group("name"), version=int(sel), variant=variant)
    return Ref(m.group("name"), alias=sel, variant=variant)


def validate_name(name: str, what: str = "name") -> str:
    if not re.fullmatch(NAME_RE, name):
        raise ReferenceSyntaxError(
            f"'{name}' is not a valid {what}",
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name
