"""Workspace integrity: `tinyops fsck` (is everything whole?) and `tinyops gc` (drop what nothing uses).

fsck checks, without changing anything: every blob's bytes against its name,
that every blob a row names exists, every build's signature and file hashes
(the same check as `builds verify`), references between rows (a variant of a
model version that is gone, a deployment of an unknown build…), SQLite's own
integrity, and temporary files left behind by interrupted writers.

gc finds blobs no row references and temporary files; it deletes them only
when asked, and only those older than ``min_age`` seconds, so a writer that
has stored its blobs but not yet its row is never raced.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops.blobs import sha256_file
from tinyops.errors import TinyOpsError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

_SHA = re.compile(r"[0-9a-f]{64}")
# Tables that hold no blob references and can be large: not scanned for hashes.
_NO_REFS = {"telemetry_windows", "telemetry_rejects", "telemetry_layouts", "telemetry_reject_counts",
            "telemetry_rollup", "telemetry_rollup_predictions",
            "run_metrics", "drift_results", "drift_checks", "_migrations", "sqlite_sequence"}
# (table, column, referenced table, referenced column): rows that must point at an existing row.
_REFERENCES = [
    ("model_versions", "run_id", "runs", "id"),
    ("deployments", "build", "builds", "id"),
    ("bench_results", "build", "builds", "id"),
    ("rollouts", "build", "builds", "id"),
    ("rollout_devices", "rollout_id", "rollouts", "id"),
    ("publications", "build", "builds", "id"),
    ("drift_results", "check_id", "drift_checks", "id"),
    ("telemetry_windows", "layout", "telemetry_layouts", "id"),
]
TEMP_PATTERNS = ("*.tmp", ".*.tinyops-tmp", "*.tinyops-tmp")


@dataclass
class Problem:
    kind: str  # corrupt-blob, missing-blob, bad-signature, dangling-reference, temp-file, stray-file, database
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.what} — {self.detail}"


@dataclass
class FsckReport:
    root: str
    blobs: int = 0
    rows_checked: int = 0
    builds: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _tables(ws: Workspace) -> set[str]:
    return {r[0] for r in ws.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def blob_references(ws: Workspace) -> dict[str, list[str]]:
    """Every blob hash a row mentions (any text column, JSON included) -> the rows naming it.

    Folder datasets also reference the files listed in their manifest blob.
    """
    refs: dict[str, list[str]] = {}
    for table in sorted(_tables(ws)):
        if table in _NO_REFS or "_fts" in table:
            continue
        cols = [r[1] for r in ws.db.execute(f"PRAGMA table_info([{table}])")]
        for row in ws.db.execute(f"SELECT rowid, * FROM [{table}]"):
            for col, value in zip(cols, row[1:]):
                if isinstance(value, str) and len(value) >= 64:
                    for sha in _SHA.findall(value):
                        refs.setdefault(sha, []).append(f"{table}#{row[0]}.{col}")
    if "datasets" in _tables(ws):
        for rid, name, version, sha in ws.db.execute("SELECT rowid, name, version, blob_sha256 FROM datasets WHERE kind = 'folder'"):
            path = ws.blobs.path(sha)
            try:
                files = json.loads(path.read_bytes())["files"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a missing or corrupt manifest is reported by fsck itself
            for entry in files.values():
                if isinstance(entry, dict) and _SHA.fullmatch(str(entry.get("sha256", ""))):
                    refs.setdefault(entry["sha256"], []).append(f"datasets#{rid} ({name}@{version} file)")
    return refs


def _explicit_blob_columns(ws: Workspace) -> list[tuple[str, str]]:
    """Row -> blob hash pairs that must exist in the store (not hashes that merely name content)."""
    out: list[tuple[str, str]] = []
    tables = _tables(ws)
    for table, col in (("datasets", "blob_sha256"), ("model_versions", "artifact_sha256"), ("variants", "blob_sha256")):
        if table in tables:
            out += [(f"{table}#{r[0]}", r[1]) for r in ws.db.execute(f"SELECT rowid, [{col}] FROM [{table}] WHERE [{col}] IS NOT NULL")]
    if "builds" in tables:
        for bid, manifest, files in ws.db.execute("SELECT id, manifest_sha256, files FROM builds"):
            out.append((f"build {bid} manifest", manifest))
            try:
                out += [(f"build {bid} {name}", sha) for name, sha in json.loads(files).items()]
            except (ValueError, AttributeError):
                pass
    return out


def _blob_files(ws: Workspace) -> tuple[list[tuple[str, Path]], list[Path]]:
    """(hash, path) of every stored blob, and files in the store that are not blobs (temp folder excluded)."""
    root: Path = ws.blobs.root
    blobs, stray = [], []
    if not root.exists():
        return blobs, stray
    for d in sorted(root.iterdir()):
        if d.name == "tmp":
            continue
        if not (d.is_dir() and len(d.name) == 2):
            stray.append(d)
            continue
        for f in sorted(d.iterdir()):
            sha = d.name + f.name
            (blobs.append((sha, f)) if f.is_file() and _SHA.fullmatch(sha) else stray.append(f))
    return blobs, stray


def temp_files(ws: Workspace) -> list[Path]:
    """Files left by interrupted writers: the blob store's tmp folder and *.tmp files in .tinyops."""
    found: set[Path] = set()
    tmp = ws.blobs.root / "tmp"
    if tmp.is_dir():
        found.update(p for p in tmp.iterdir() if p.is_file())
    for pattern in TEMP_PATTERNS:
        found.update(p for p in Path(ws.dot).rglob(pattern) if p.is_file())
    return sorted(found)


def fsck(ws: Workspace, *, signatures: bool = True) -> FsckReport:
    """Check the whole workspace; returns every problem found (changes nothing)."""
    rep = FsckReport(root=str(ws.root))
    for (msg,) in ws.db.execute("PRAGMA integrity_check"):
        if msg != "ok":
            rep.problems.append(Problem("database", "registry.db", msg))
    blobs, stray = _blob_files(ws)
    rep.blobs = len(blobs)
    present = set()
    for sha, path in blobs:
        present.add(sha)
        if sha256_file(path) != sha:
            rep.problems.append(Problem("corrupt-blob", sha, "its bytes no longer hash to its name; restore it from a backup"))
    rep.problems += [Problem("stray-file", str(p.relative_to(ws.root)), "not a blob; move it out of .tinyops/blobs")
                     for p in stray]
    for row, sha in _explicit_blob_columns(ws):
        rep.rows_checked += 1
        if sha not in present:
            rep.problems.append(Problem("missing-blob", row, f"blob {sha[:16]}… is not in the store"))
    dangling = _dangling(ws)
    seen = {d.what for d in dangling}
    for table, rowid, parent, _fk in ws.db.execute("PRAGMA foreign_key_check").fetchall():
        if f"{table}#{rowid}" not in seen:
            dangling.append(Problem("dangling-reference", f"{table}#{rowid}", f"points at a missing {parent} row"))
    rep.problems += dangling
    if signatures:
        rep.problems += _signatures(ws, rep)
    rep.problems += [Problem("temp-file", str(p.relative_to(ws.root)), "left by an interrupted writer; `tinyops gc --yes` removes it")
                     for p in temp_files(ws)]
    return rep


def _dangling(ws: Workspace) -> list[Problem]:
    tables = _tables(ws)
    out: list[Problem] = []
    for table, col, ref_table, ref_col in _REFERENCES:
        if table not in tables or ref_table not in tables:
            continue
        rows = ws.db.execute(f"SELECT t.rowid, t.[{col}] FROM [{table}] t WHERE t.[{col}] IS NOT NULL AND NOT EXISTS "
                             f"(SELECT 1 FROM [{ref_table}] r WHERE r.[{ref_col}] = t.[{col}])").fetchall()
        out += [Problem("dangling-reference", f"{table}#{rid}", f"{col} = {val!r}: no such {ref_table} row") for rid, val in rows]
    if {"variants", "model_versions"} <= tables:
        rows = ws.db.execute("SELECT v.rowid, v.model, v.version FROM variants v WHERE NOT EXISTS "
                             "(SELECT 1 FROM model_versions m WHERE m.name = v.model AND m.version = v.version)").fetchall()
        out += [Problem("dangling-reference", f"variants#{rid}", f"model {m}@{v}: no such model version") for rid, m, v in rows]
    if {"model_aliases", "model_versions"} <= tables:
        rows = ws.db.execute("SELECT a.name, a.alias, a.version FROM model_aliases a WHERE NOT EXISTS "
                             "(SELECT 1 FROM model_versions m WHERE m.name = a.name AND m.version = a.version)").fetchall()
        out += [Problem("dangling-reference", f"alias {n}@{a}", f"points at {n}@{v}: no such model version") for n, a, v in rows]
    if {"builds", "model_versions"} <= tables:
        versions = {f"{n}@{v}" for n, v in ws.db.execute("SELECT name, version FROM model_versions")}
        for bid, model in ws.db.execute("SELECT id, model FROM builds"):
            if model not in versions:
                out.append(Problem("dangling-reference", f"build {bid}", f"model {model}: no such model version"))
    return out


def _signatures(ws: Workspace, rep: FsckReport) -> list[Problem]:
    from tinyops.devices import bundle

    out: list[Problem] = []
    for (bid,) in ws.db.execute("SELECT id FROM builds ORDER BY id").fetchall():
        rep.builds += 1
        try:
            r = bundle.verify(ws, bid)
        except TinyOpsError as e:
            out.append(Problem("bad-signature", f"build {bid}", str(e)))
            continue
        if not r.ok:
            out.append(Problem("bad-signature", f"build {bid}", "; ".join(r.problems) or "does not verify"))
    return out


@dataclass
class GcReport:
    dry_run: bool
    min_age_seconds: float
    blobs: list[dict[str, Any]] = field(default_factory=list)
    temp_files: list[dict[str, Any]] = field(default_factory=list)
    skipped_young: int = 0

    @property
    def bytes(self) -> int:
        return sum(b["size"] for b in self.blobs) + sum(t["size"] for t in self.temp_files)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes": self.bytes}


def gc(ws: Workspace, *, dry_run: bool = True, min_age: float = 3600.0) -> GcReport:
    """Unreferenced blobs and temp files older than ``min_age`` s; deleted unless ``dry_run``."""
    rep = GcReport(dry_run=dry_run, min_age_seconds=min_age)
    cutoff = time.time() - min_age
    refs = blob_references(ws)
    blobs, _stray = _blob_files(ws)
    for sha, path in blobs:
        if sha in refs:
            continue
        st = path.stat()
        if st.st_mtime > cutoff:
            rep.skipped_young += 1
            continue
        rep.blobs.append({"sha256": sha, "size": st.st_size})
        if not dry_run:
            path.unlink(missing_ok=True)
    for path in temp_files(ws):
        st = path.stat()
        if st.st_mtime > cutoff:
            rep.skipped_young += 1
            continue
        rep.temp_files.append({"path": str(path.relative_to(ws.root)), "size": st.st_size})
        if not dry_run:
            path.unlink(missing_ok=True)
    if not dry_run:
        for d in ws.blobs.root.iterdir() if ws.blobs.root.exists() else []:
            if d.is_dir() and len(d.name) == 2 and not any(d.iterdir()):
                os.rmdir(d)
    return rep
