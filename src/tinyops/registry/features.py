"""Feature definitions: ``name@N`` — a transform kind, its params (incl. fitted state), code hash.

A definition is identified by the canonical JSON of kind, params, description,
tags and the hash of the transform's code: the same spec again reuses the
existing version, and a change of code makes the next definition a new version.
A revert copies an old definition forward as a new version, so history is never
rewritten. This module only stores and reads definitions; checking specs, fitting
and applying transforms is :mod:`tinyops.ml.feature_defs` (over
:mod:`tinyops.ml.features`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tinyops.errors import ConflictError, InputError, NotFoundError
from tinyops.registry import _rows
from tinyops.registry.refs import Ref, parse_ref, validate_name
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

TABLE = "features"


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE features (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            params TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            code_sha256 TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            fit_dataset TEXT,
            reverted_from INTEGER,
            created TEXT NOT NULL,
            UNIQUE(name, version)
        )"""
    )
    db.execute("CREATE INDEX features_name_sha ON features(name, sha256)")
    # External-content FTS5 index over the searchable columns, kept in step by triggers.
    db.execute("CREATE VIRTUAL TABLE features_fts USING fts5(name, description, tags, "
               "content='features', content_rowid='id')")
    db.execute("CREATE TRIGGER features_ai AFTER INSERT ON features BEGIN "
               "INSERT INTO features_fts(rowid, name, description, tags) "
               "VALUES (new.id, new.name, new.description, new.tags); END")
    db.execute("CREATE TRIGGER features_ad AFTER DELETE ON features BEGIN "
               "INSERT INTO features_fts(features_fts, rowid, name, description, tags) "
               "VALUES ('delete', old.id, old.name, old.description, old.tags); END")


MIGRATIONS = [("0001_features", _m0001)]


@dataclass
class FeatureVersion:
    name: str
    version: int
    kind: str
    params: dict[str, Any]
    description: str
    tags: list[str]
    code_sha256: str
    sha256: str  # identity of the definition (what dedupe compares)
    fit_dataset: str | None = None
    reverted_from: int | None = None
    created: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def definition(self) -> dict[str, Any]:
        """What :func:`tinyops.ml.features.apply` takes (and what a device bundle can carry)."""
        return {"kind": self.kind, "params": self.params}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref}


def _from_row(r: dict[str, Any]) -> FeatureVersion:
    return FeatureVersion(
        name=r["name"], version=r["version"], kind=r["kind"], params=_rows.loads(r["params"], {}),
        description=r["description"], tags=_rows.loads(r["tags"], []), code_sha256=r["code_sha256"],
        sha256=r["sha256"], fit_dataset=r["fit_dataset"], reverted_from=r["reverted_from"], created=r["created"],
    )


def _identity(kind: str, params: dict[str, Any], description: str, tags: list[str], code: str) -> str:
    canon = _rows.dumps({"kind": kind, "params": params, "description": description, "tags": tags, "code": code})
    return hashlib.sha256(canon.encode()).hexdigest()


# ---- reading -----------------------------------------------------------------
def resolve(ws: Workspace, ref: str | Ref) -> FeatureVersion:
    """``NAME`` (latest) or ``NAME@N``."""
    r = parse_ref(ref, allow_variant=False) if isinstance(ref, str) else ref
    return _from_row(_rows.versioned_row(
        ws, TABLE, r, "feature", alias_hint=f"use {r.name} (latest) or {r.name}@N",
        list_hint="see `tinyops feature list`, or define it with `tinyops feature add`"))


def list_features(ws: Workspace) -> list[FeatureVersion]:
    """The current (latest) version of every feature."""
    rows = ws.db.query(f"SELECT * FROM {TABLE} f WHERE version = (SELECT MAX(version) FROM {TABLE} g "
                       f"WHERE g.name = f.name) ORDER BY name")
    return [_from_row(r) for r in rows]


def list_versions(ws: Workspace, name: str) -> list[FeatureVersion]:
    """Every version of one feature, oldest first (its history)."""
    rows = [_from_row(r) for r in ws.db.query(f"SELECT * FROM {TABLE} WHERE name=? ORDER BY version", [name])]
    if not rows:
        raise NotFoundError(f"no feature named '{name}'", hint="see `tinyops feature list`")
    return rows


def search(ws: Workspace, query: str) -> list[FeatureVersion]:
    """Full-text search over name, description and tags; every word must match (as a prefix)."""
    words = re.findall(r"\w+", query)
    if not words:
        raise InputError(f"nothing to search for in {query!r}", hint="give one or more words, e.g. `tinyops feature search imu`")
    # Each word quoted, so user text can never be parsed as FTS5 operators.
    match = " ".join(f'"{w}"*' for w in words)
    rows = ws.db.query(f"SELECT f.* FROM features_fts JOIN {TABLE} f ON f.id = features_fts.rowid "
                       "WHERE features_fts MATCH ? ORDER BY bm25(features_fts), f.name, f.version DESC", [match])
    return [_from_row(r) for r in rows]


# ---- writing -----------------------------------------------------------------
def store(ws: Workspace, name: str, kind: str, params: dict[str, Any], description: str, tags: list[str], code: str,
          fit_dataset: str | None) -> tuple[FeatureVersion, bool]:
    """Store a checked definition as the next version of ``name``; the same definition again returns the
    existing version (``created`` False)."""
    validate_name(name, "feature name")
    sha = _identity(kind, params, description, tags, code)
    with ws.transaction() as db:
        same = list(db.query(f"SELECT * FROM {TABLE} WHERE name=? AND sha256=? ORDER BY version DESC LIMIT 1",
                             [name, sha]))
        if same:
            return _from_row(same[0]), False
        version = _insert(db, name, kind, params, description, tags, code, sha, fit_dataset, None)
    return resolve(ws, Ref(name, version=version)), True


def _insert(db, name: str, kind: str, params: dict[str, Any], description: str, tags: list[str], code: str,
            sha: str, fit_dataset: str | None, reverted_from: int | None) -> int:
    # Inside the caller's BEGIN IMMEDIATE, so max+1 is race-free and nothing is consumed on error.
    version = db.execute(f"SELECT COALESCE(MAX(version), 0) + 1 FROM {TABLE} WHERE name=?", [name]).fetchone()[0]
    db[TABLE].insert({
        "name": name, "version": version, "kind": kind, "params": _rows.dumps(params),
        "description": description, "tags": _rows.dumps(tags), "code_sha256": code, "sha256": sha,
        "fit_dataset": fit_dataset, "reverted_from": reverted_from, "created": timestamps.now(),
    })
    return version


def copy_forward(ws: Workspace, old: FeatureVersion, code: str) -> FeatureVersion:
    """Make ``old``'s definition current again as a new version (history kept), recorded with ``code``,
    the hash of the code that computes it from now on."""
    with ws.transaction() as db:
        latest = db.execute(f"SELECT MAX(version) FROM {TABLE} WHERE name=?", [old.name]).fetchone()[0]
        if latest == old.version:
            raise ConflictError(f"{old.ref} is already the current version of {old.name}",
                                hint=f"revert to an older version (see `tinyops feature list {old.name}`)")
        sha = _identity(old.kind, old.params, old.description, old.tags, code)
        new = _insert(db, old.name, old.kind, old.params, old.description, old.tags, code, sha,
                      old.fit_dataset, old.version)
    return resolve(ws, Ref(old.name, version=new))
