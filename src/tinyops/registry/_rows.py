"""Small helpers shared by registry modules: JSON columns and timestamps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def loads(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    return json.loads(text)


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def versioned_row(ws: Workspace, table: str, ref, noun: str, *, list_hint: str, alias_hint: str) -> dict[str, Any]:
    """The row of ``NAME@N`` or ``NAME`` (latest) in a table of ``name, version`` rows.

    Versioned nouns without aliases (datasets, features) share this lookup and its
    error messages: an alias is refused, a missing version lists the ones that exist.
    """
    from tinyops.errors import InputError, NotFoundError

    if ref.version is not None:
        rows = list(ws.db.query(f"SELECT * FROM {table} WHERE name=? AND version=?", [ref.name, ref.version]))
    elif ref.alias == "latest":
        rows = list(ws.db.query(f"SELECT * FROM {table} WHERE name=? ORDER BY version DESC LIMIT 1", [ref.name]))
    else:
        raise InputError(f"{noun}s have no aliases ('{ref}')", hint=alias_hint)
    if rows:
        return rows[0]
    known = [x["version"] for x in ws.db.query(f"SELECT version FROM {table} WHERE name=? ORDER BY version", [ref.name])]
    if known:
        raise NotFoundError(f"{noun} {ref} does not exist", hint=f"{ref.name} has versions {', '.join(map(str, known))}")
    raise NotFoundError(f"no {noun} named '{ref.name}'", hint=list_hint)
