"""Variants: a model version converted for a runtime, ``name@N:QUANT``.

One row per (model version, quantization) holding the .tflite blob, its size and
operator list, tensor/quantization details, the calibration dataset (int8),
evaluation results (keyed by runtime and data), and the measured TFLM arena.
Converting the same thing again returns the stored row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tinyops.errors import ConflictError, InputError, NotFoundError
from tinyops.registry import _rows
from tinyops.registry.refs import Ref, parse_ref
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

TABLE = "variants"
QUANTS = ("float32", "float16", "dynamic", "int8")


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE variants (
            id INTEGER PRIMARY KEY,
            model TEXT NOT NULL,
            version INTEGER NOT NULL,
            quant TEXT NOT NULL,
            blob_sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            ops TEXT NOT NULL DEFAULT '[]',
            details TEXT NOT NULL DEFAULT '{}',
            evaluations TEXT NOT NULL DEFAULT '{}',
            arena_bytes INTEGER,
            calibration TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            created TEXT NOT NULL,
            UNIQUE(model, version, quant)
        )"""
    )


MIGRATIONS = [("0001_variants", _m0001)]


@dataclass
class Variant:
    name: str
    version: int
    quant: str
    blob_sha256: str
    size_bytes: int
    ops: list[str]
    details: dict[str, Any]
    evaluations: dict[str, Any]
    arena_bytes: int | None
    calibration: str | None
    params: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}:{self.quant}"

    @property
    def model_ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ref"] = self.ref
        d["model"] = self.model_ref
        d["sha256"] = self.blob_sha256
        return d


def _from_row(r: dict[str, Any]) -> Variant:
    return Variant(
        name=r["model"], version=r["version"], quant=r["quant"], blob_sha256=r["blob_sha256"],
        size_bytes=r["size_bytes"], ops=_rows.loads(r["ops"], []), details=_rows.loads(r["details"], {}),
        evaluations=_rows.loads(r["evaluations"], {}), arena_bytes=r["arena_bytes"],
        calibration=r["calibration"], params=_rows.loads(r["params"], {}), created=r["created"],
    )


def check_quant(quant: str) -> str:
    if quant not in QUANTS:
        raise InputError(f"unknown quantization '{quant}'", hint=f"use one of {', '.join(QUANTS)}")
    return quant


def _find(ws: Workspace, name: str, version: int, quant: str) -> Variant | None:
    rows = list(ws.db.query(f"SELECT * FROM {TABLE} WHERE model=? AND version=? AND quant=?", [name, version, quant]))
    return _from_row(rows[0]) if rows else None


def get(ws: Workspace, ref: str | Ref) -> Variant:
    """Resolve ``NAME@VERSION:QUANT`` (or ``NAME@ALIAS:QUANT``) to its stored variant."""
    from tinyops.registry import models

    r = parse_ref(ref) if isinstance(ref, str) else ref
    if not r.variant:
        raise InputError(f"'{r}' names a model version, not a variant",
                         hint=f"add the variant, e.g. {r}:int8 (convert first: `tinyops convert {r} --quant int8`)")
    check_quant(r.variant)
    mv = models.resolve(ws, Ref(r.name, r.version, r.alias))
    v = _find(ws, mv.name, mv.version, r.variant)
    if v is None:
        have = [x.quant for x in list_variants(ws, mv.ref)]
        raise NotFoundError(f"variant {mv.ref}:{r.variant} does not exist",
                            hint=(f"{mv.ref} has {', '.join(have)}; " if have else "")
                            + f"create it with `tinyops convert {mv.ref} --quant {r.variant}`")
    return v


def find(ws: Workspace, model_ref: str, quant: str) -> Variant | None:
    """The stored variant of an exact model version, or None."""
    from tinyops.registry import models

    mv = models.resolve(ws, model_ref)
    return _find(ws, mv.name, mv.version, check_quant(quant))


def add(ws: Workspace, model_ref: str, quant: str, tflite: bytes, *, ops: list[str], details: dict[str, Any],
        calibration: str | None = None, params: dict[str, Any] | None = None,
        arena_bytes: int | None = None) -> tuple[Variant, bool]:
    """Store a converted model. Returns (variant, created); an existing one is returned unchanged.

    Raises ConflictError if the variant exists but was made differently (other calibration or bytes).
    """
    from tinyops.registry import models

    check_quant(quant)
    mv = models.resolve(ws, model_ref)
    existing = _find(ws, mv.name, mv.version, quant)
    if existing is not None:
        _check_same(existing, calibration, params)
        return existing, False
    sha = ws.blobs.put_bytes(bytes(tflite))
    with ws.transaction() as db:
        again = _find(ws, mv.name, mv.version, quant)  # another process may have won the race
        if again is not None:
            return again, False
        db.table(TABLE).insert({
            "model": mv.name, "version": mv.version, "quant": quant, "blob_sha256": sha,
            "size_bytes": len(tflite), "ops": _rows.dumps(ops), "details": _rows.dumps(details),
            "evaluations": "{}", "arena_bytes": arena_bytes, "calibration": calibration,
            "params": _rows.dumps(params or {}), "created": timestamps.now(),
        })
    v = _find(ws, mv.name, mv.version, quant)
    assert v is not None
    return v, True


def _check_same(v: Variant, calibration: str | None, params: dict[str, Any] | None) -> None:
    if calibration is not None and v.calibration is not None and calibration != v.calibration:
        raise ConflictError(f"{v.ref} exists, calibrated on {v.calibration}, not {calibration}",
                            hint="use the stored variant, or register a new model version to calibrate differently")
    want, have = params or {}, v.params
    diff = [k for k in want if k in have and want[k] != have[k]]
    if diff:
        raise ConflictError(f"{v.ref} exists with different settings ({', '.join(diff)})",
                            hint="use the stored variant, or register a new model version for other settings")


def list_variants(ws: Workspace, model: str | None = None) -> list[Variant]:
    """All variants, or those of one model name or model version (``digits`` / ``digits@3``)."""
    if model is None:
        rows = ws.db.query(f"SELECT * FROM {TABLE} ORDER BY model, version, quant")
    elif "@" in model:
        from tinyops.registry import models

        mv = models.resolve(ws, model)
        rows = ws.db.query(f"SELECT * FROM {TABLE} WHERE model=? AND version=? ORDER BY quant", [mv.name, mv.version])
    else:
        rows = ws.db.query(f"SELECT * FROM {TABLE} WHERE model=? ORDER BY version, quant", [model])
    return [_from_row(r) for r in rows]


def blob_bytes(ws: Workspace, v: Variant) -> bytes:
    return ws.blobs.get_bytes(v.blob_sha256)


def set_evaluation(ws: Workspace, v: Variant, key: str, result: dict[str, Any]) -> Variant:
    """Store one evaluation result (key e.g. ``litert|digits@1:test``) with the variant."""
    with ws.transaction() as db:
        row = db.execute(f"SELECT evaluations FROM {TABLE} WHERE id=(SELECT id FROM {TABLE} "
                         "WHERE model=? AND version=? AND quant=?)", [v.name, v.version, v.quant]).fetchone()
        if row is None:
            raise NotFoundError(f"variant {v.ref} does not exist", hint="convert it first")
        evals = _rows.loads(row[0], {})
        evals[key] = result
        db.execute(f"UPDATE {TABLE} SET evaluations=? WHERE model=? AND version=? AND quant=?",
                   [_rows.dumps(evals), v.name, v.version, v.quant])
    out = _find(ws, v.name, v.version, v.quant)
    assert out is not None
    return out


def set_arena(ws: Workspace, v: Variant, arena_bytes: int) -> None:
    with ws.transaction() as db:
        db.execute(f"UPDATE {TABLE} SET arena_bytes=? WHERE model=? AND version=? AND quant=?",
                   [int(arena_bytes), v.name, v.version, v.quant])


def by_blob(ws: Workspace, sha256: str) -> Variant | None:
    rows = list(ws.db.query(f"SELECT * FROM {TABLE} WHERE blob_sha256=? LIMIT 1", [sha256]))
    return _from_row(rows[0]) if rows else None
