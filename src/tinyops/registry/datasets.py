"""Dataset versions: ``name@N``, defined by content.

Adding the same bytes again returns the existing version; different bytes
make the next version. The bytes live in the blob store; the row holds the
schema, row count, source, lineage and baseline statistics used later for
drift detection.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError
from tinyops.registry import _rows, wav_folders
from tinyops.registry.dataset_stats import array_schema_and_stats, baseline_from_stats, csv_table
from tinyops.registry.refs import Ref, parse_ref, validate_name
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

TABLE = "datasets"


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            kind TEXT NOT NULL,
            file_name TEXT,
            blob_sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            rows INTEGER,
            schema TEXT NOT NULL,
            stats TEXT NOT NULL,
            source TEXT,
            parents TEXT NOT NULL DEFAULT '[]',
            feature TEXT,
            created TEXT NOT NULL,
            UNIQUE(name, version),
            UNIQUE(name, sha256)
        )"""
    )


MIGRATIONS = [("0001_datasets", _m0001)]


@dataclass
class DatasetVersion:
    name: str
    version: int
    sha256: str
    kind: str
    file_name: str | None
    blob_sha256: str
    size_bytes: int
    rows: int | None
    schema: list[dict[str, Any]]
    stats: dict[str, dict[str, Any]]
    source: str | None
    parents: list[str] = field(default_factory=list)
    feature: str | None = None
    created: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ref"] = self.ref
        return d


def _from_row(row: dict[str, Any]) -> DatasetVersion:
    return DatasetVersion(
        name=row["name"], version=row["version"], sha256=row["sha256"], kind=row["kind"],
        file_name=row["file_name"], blob_sha256=row["blob_sha256"], size_bytes=row["size_bytes"],
        rows=row["rows"], schema=_rows.loads(row["schema"], []), stats=_rows.loads(row["stats"], {}),
        source=row["source"], parents=_rows.loads(row["parents"], []), feature=row["feature"],
        created=row["created"],
    )


# ---- reading -----------------------------------------------------------

def resolve(ws: Workspace, ref: str | Ref) -> DatasetVersion:
    r = parse_ref(ref, allow_variant=False) if isinstance(ref, str) else ref
    return _from_row(_rows.versioned_row(
        ws, TABLE, r, "dataset", alias_hint=f"use {r.name}@N with a version number",
        list_hint="see `tinyops data list`, or add it with `tinyops data add`"))


def list_versions(ws: Workspace, name: str | None = None) -> list[DatasetVersion]:
    if name:
        rows = ws.db.query(f"SELECT * FROM {TABLE} WHERE name=? ORDER BY version", [name])
    else:
        rows = ws.db.query(f"SELECT * FROM {TABLE} ORDER BY name, version")
    return [_from_row(r) for r in rows]


def load_arrays(ws: Workspace, dv: DatasetVersion) -> dict[str, np.ndarray]:
    """The dataset as named arrays (CSV: one per column; NPZ: its arrays; NPY: ``data``)."""
    if dv.kind == "folder" and wav_folders.is_wav_dataset(dv.schema):
        return wav_folders.load_arrays(ws, folder_manifest(ws, dv))
    if dv.kind == "folder":
        raise InputError(f"{dv.ref} is a folder of files and has no array form",
                         hint="export it with `tinyops data export` or add a CSV/NPZ made from it")
    data = ws.blobs.get_bytes(dv.blob_sha256)
    if dv.kind == "csv":
        return csv_table(data, dv.file_name or dv.ref)[1]
    if dv.kind == "npy":
        return {"data": np.load(io.BytesIO(data), allow_pickle=False)}
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def baseline_features(dv: DatasetVersion, columns: list[str] | None = None) -> list[dict[str, Any]]:
    return baseline_from_stats(dv.stats, columns)


# ---- writing -----------------------------------------------------------

def _insert(ws: Workspace, name: str, sha: str, kind: str, file_name: str | None, blob_sha: str, size: int,
            rows: int | None, schema: list, stats: dict, source: str | None, parents: list[str],
            feature: str | None) -> tuple[DatasetVersion, bool]:
    with ws.transaction() as db:
        existing = list(db.query(f"SELECT * FROM {TABLE} WHERE name=? AND sha256=?", [name, sha]))
        if existing:
            return _from_row(existing[0]), False
        version = db.execute(f"SELECT COALESCE(MAX(version), 0) + 1 FROM {TABLE} WHERE name=?", [name]).fetchone()[0]
        db.table(TABLE).insert({
            "name": name, "version": version, "sha256": sha, "kind": kind, "file_name": file_name,
            "blob_sha256": blob_sha, "size_bytes": size, "rows": rows, "schema": _rows.dumps(schema),
            "stats": _rows.dumps(stats), "source": source, "parents": _rows.dumps(parents),
            "feature": feature, "created": timestamps.now(),
        })
    return resolve(ws, f"{name}@{version}"), True


def add_file(ws: Workspace, name: str, path: str | Path,
             progress: Callable[[int, int], None] | None = None) -> tuple[DatasetVersion, bool]:
    """Version a CSV, NPY or NPZ file, or a folder of files; ``progress(bytes done, total)`` while storing."""
    validate_name(name, "dataset name")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist", hint="check the path (CSV, NPY, NPZ or a folder)")
    if path.is_dir():
        return _add_folder(ws, name, path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("csv", "npy", "npz"):
        raise InputError(f"{path.name}: unsupported file type '{path.suffix or '(none)'}'",
                         hint="give a .csv, .npy or .npz file, or a folder of files")
    # Parse and summarise *before* storing anything, so bad input writes nothing.
    schema, stats, rows = _describe_file(path, kind)
    blob_sha, size = ws.blobs.put_file(path, progress)
    return _insert(ws, name, blob_sha, kind, path.name, blob_sha, size, rows, schema, stats,
                   str(path.resolve()), [], None)


def add_arrays(ws: Workspace, name: str, arrays: dict[str, np.ndarray], *, source: str, parents: list[str] | None = None,
               feature: str | None = None) -> tuple[DatasetVersion, bool]:
    validate_name(name, "dataset name")
    buf = io.BytesIO()
    # Fixed member order and no timestamps inside, so equal arrays give equal bytes.
    np.savez(buf, **{k: np.ascontiguousarray(arrays[k]) for k in sorted(arrays)})
    data = buf.getvalue()
    schema, stats, rows = array_schema_and_stats({k: arrays[k] for k in sorted(arrays)})
    sha = ws.blobs.put_bytes(data)
    return _insert(ws, name, sha, "npz", f"{name}.npz", sha, len(data), rows, schema, stats, source,
                   list(parents or []), feature)


def _describe_file(path: Path, kind: str) -> tuple[list, dict, int | None]:
    try:
        if kind == "csv":
            schema, columns = csv_table(path.read_bytes(), path.name)
            return array_schema_and_stats(columns, csv=True)
        if kind == "npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return array_schema_and_stats({"data": arr})
        with np.load(path, allow_pickle=False) as z:
            return array_schema_and_stats({k: z[k] for k in z.files})
    except InputError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path.name} is not a readable {kind.upper()} file: {e}",
                         hint=f"check that it is a valid .{kind} file") from e


def _add_folder(ws: Workspace, name: str, folder: Path) -> tuple[DatasetVersion, bool]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{folder} holds no files", hint="point at a folder with data files")
    rels = [p.relative_to(folder).as_posix() for p in files]
    wav = wav_folders.describe({r: p.read_bytes() for r, p in zip(rels, files)}) \
        if wav_folders.is_wav_folder(rels) else None  # checked before anything is stored
    entries: dict[str, dict[str, Any]] = {}
    for p in files:
        sha, size = ws.blobs.put_file(p)
        entries[p.relative_to(folder).as_posix()] = {"sha256": sha, "size": size}
    manifest = json.dumps({"files": entries}, sort_keys=True, indent=1).encode()
    msha = ws.blobs.put_bytes(manifest)
    exts: dict[str, int] = {}
    for rel in entries:
        ext = Path(rel).suffix.lower() or "(none)"
        exts[ext] = exts.get(ext, 0) + 1
    schema = [{"name": ext, "dtype": "file", "shape": [n]} for ext, n in sorted(exts.items())]
    size = sum(e["size"] for e in entries.values())
    stats: dict[str, Any] = {}
    if wav is not None:
        schema, stats = schema + wav[0], wav[1]
    return _insert(ws, name, msha, "folder", folder.name, msha, size, len(entries), schema, stats,
                   str(folder.resolve()), [], None)


def folder_manifest(ws: Workspace, dv: DatasetVersion) -> dict[str, dict[str, Any]]:
    return json.loads(ws.blobs.get_bytes(dv.blob_sha256))["files"]


def export(ws: Workspace, ref: str, dest: str | Path) -> dict[str, Any]:
    """Write a version's exact bytes to ``dest`` (a file, or a folder for folder datasets)."""
    dv = resolve(ws, ref)
    dest = Path(dest)
    if dv.kind == "folder":
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InputError(f"{dest} exists and is not an empty folder", hint="export into a new folder")
        total = 0
        for rel, entry in folder_manifest(ws, dv).items():
            total += ws.blobs.export(entry["sha256"], dest / rel)
        return {"ref": dv.ref, "path": str(dest), "bytes": total, "sha256": dv.sha256}
    if dest.is_dir():
        dest = dest / (dv.file_name or f"{dv.name}-{dv.version}.{dv.kind}")
    n = ws.blobs.export(dv.blob_sha256, dest)
    return {"ref": dv.ref, "path": str(dest), "bytes": n, "sha256": dv.sha256}


def diff(ws: Workspace, ref_a: str, ref_b: str) -> dict[str, Any]:
    """Schema changes and rows added/removed between two versions."""
    from tinyops.registry.dataset_stats import row_digests

    a, b = resolve(ws, ref_a), resolve(ws, ref_b)
    sa = {c["name"]: c for c in a.schema}
    sb = {c["name"]: c for c in b.schema}
    changed = [
        {"name": n, "from": f"{sa[n]['dtype']}{sa[n]['shape']}", "to": f"{sb[n]['dtype']}{sb[n]['shape']}"}
        for n in sa.keys() & sb.keys() if (sa[n]["dtype"], sa[n]["shape"]) != (sb[n]["dtype"], sb[n]["shape"])
    ]
    out: dict[str, Any] = {
        "a": a.ref, "b": b.ref, "same_content": a.sha256 == b.sha256,
        "columns_added": sorted(sb.keys() - sa.keys()), "columns_removed": sorted(sa.keys() - sb.keys()),
        "columns_changed": sorted(changed, key=lambda c: c["name"]), "rows_a": a.rows, "rows_b": b.rows,
    }
    if a.kind == "folder" and b.kind == "folder":
        fa, fb = folder_manifest(ws, a), folder_manifest(ws, b)
        out.update(files_added=sorted(fb.keys() - fa.keys()), files_removed=sorted(fa.keys() - fb.keys()),
                   files_changed=sorted(k for k in fa.keys() & fb.keys() if fa[k]["sha256"] != fb[k]["sha256"]))
        return out
    if a.kind == "folder" or b.kind == "folder":
        return out
    arr_a, arr_b = load_arrays(ws, a), load_arrays(ws, b)
    common = sorted(arr_a.keys() & arr_b.keys())
    if common and not changed:
        da = row_digests({k: arr_a[k] for k in common})
        db_ = row_digests({k: arr_b[k] for k in common})
        out["rows_added"] = sum((db_ - da).values())
        out["rows_removed"] = sum((da - db_).values())
    return out
