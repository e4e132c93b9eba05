"""The model registry: ``name@N`` versions, aliases as mutable pointers, lineage.

Versions are assigned max+1 inside one immediate transaction, so concurrent
writers get distinct numbers. ``latest`` is computed, never stored;
``production`` or ``canary`` are ordinary aliases.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops.errors import ConflictError, InputError, NotFoundError
from tinyops.registry import _rows
from tinyops.registry.refs import Ref, parse_ref, validate_name
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

RESERVED_ALIASES = {"latest"}


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE model_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            artifact_sha256 TEXT NOT NULL,
            run_id TEXT REFERENCES runs(id),
            metrics TEXT NOT NULL DEFAULT '{}',
            parent TEXT,
            description TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            UNIQUE(name, version)
        )"""
    )
    db.execute(
        """CREATE TABLE model_aliases (
            name TEXT NOT NULL,
            alias TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (name, alias),
            FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
        )"""
    )


def _m0002(db) -> None:
    # What the artifact is (keras, savedmodel, tflite) and, for models made elsewhere,
    # the data they expect ({"dataset", "inputs", "label"}).
    db.execute("ALTER TABLE model_versions ADD COLUMN format TEXT NOT NULL DEFAULT 'keras'")
    db.execute("ALTER TABLE model_versions ADD COLUMN expects TEXT NOT NULL DEFAULT '{}'")


MIGRATIONS = [("0001_models", _m0001), ("0002_models_format", _m0002)]
FORMATS = ("keras", "savedmodel", "tflite")


@dataclass
class ModelVersion:
    name: str
    version: int
    artifact_sha256: str
    run_id: str | None
    metrics: dict[str, Any]
    parent: str | None
    description: str
    created: str
    aliases: list[str] = field(default_factory=list)
    format: str = "keras"
    expects: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ref"] = self.ref
        d["sha256"] = self.artifact_sha256
        return d


def _aliases(ws: Workspace, name: str, version: int) -> list[str]:
    return [r["alias"] for r in ws.db.query(
        "SELECT alias FROM model_aliases WHERE name=? AND version=? ORDER BY alias", [name, version])]


def _from_row(ws: Workspace, r: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=r["name"], version=r["version"], artifact_sha256=r["artifact_sha256"], run_id=r["run_id"],
        metrics=_rows.loads(r["metrics"], {}), parent=r["parent"], description=r["description"],
        created=r["created"], aliases=_aliases(ws, r["name"], r["version"]),
        format=r.get("format") or "keras", expects=_rows.loads(r.get("expects") or "{}", {}),
    )


def check_keras_artifact(data: bytes, label: str) -> None:
    """A .keras file is a zip holding config.json; check without importing TensorFlow."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        raise InputError(f"{label} is not a Keras model file (.keras zip)",
                         hint="save the model with model.save('model.keras') and register that file") from None
    if "config.json" not in names:
        raise InputError(f"{label} is a zip without config.json, not a Keras model",
                         hint="save the model with model.save('model.keras')")


def read_artifact(path: Path | str) -> tuple[bytes, str]:
    """The bytes to store and the format of a model file or folder, checked without TensorFlow.

    A ``.keras`` file (zip with config.json), a SavedModel folder (stored as a
    deterministic zip of its files) or a ``.tflite`` flatbuffer.
    """
    p = Path(path)
    if p.is_dir():
        if not (p / "saved_model.pb").is_file():
            raise InputError(f"{p} is a folder without saved_model.pb, not a SavedModel",
                             hint="pass a SavedModel folder, a .keras file or a .tflite file")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                info = zipfile.ZipInfo(f.relative_to(p).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                z.writestr(info, f.read_bytes())
        return buf.getvalue(), "savedmodel"
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror or e}", hint="check the path to the model file") from e
    if data[4:8] == b"TFL3" or p.suffix == ".tflite":
        from tinyops.runtimes.tflite_file import read

        read(data)  # InputError for a broken flatbuffer
        return data, "tflite"
    check_keras_artifact(data, p.name)
    return data, "keras"


def register(ws: Workspace, name: str, artifact: bytes | Path | str, *, run_id: str | None = None,
             metrics: dict[str, Any] | None = None, parent: str | None = None,
             description: str = "", fmt: str | None = None, expects: dict[str, Any] | None = None) -> ModelVersion:
    validate_name(name, "model name")
    if isinstance(artifact, (str, Path)):
        data, detected = read_artifact(artifact)
        fmt = fmt or detected
    else:
        data = artifact
        fmt = fmt or "keras"
        if fmt == "keras":
            check_keras_artifact(data, "artifact")
    if fmt not in FORMATS:
        raise InputError(f"unknown model format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    if run_id is not None and ws.db.execute("SELECT 1 FROM runs WHERE id=?", [run_id]).fetchone() is None:
        raise NotFoundError(f"run '{run_id}' does not exist", hint="see `tinyops runs list`, or omit --run")
    sha = ws.blobs.put_bytes(data)
    with ws.transaction() as db:
        version = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name=?", [name]).fetchone()[0]
        db.table("model_versions").insert({
            "name": name, "version": version, "artifact_sha256": sha, "run_id": run_id,
            "metrics": _rows.dumps(metrics or {}), "parent": parent, "description": description,
            "created": timestamps.now(), "format": fmt, "expects": _rows.dumps(expects or {}),
        })
    return resolve(ws, f"{name}@{version}")


def resolve(ws: Workspace, ref: str | Ref) -> ModelVersion:
    r = parse_ref(ref) if isinstance(ref, str) else ref
    versions = [x["version"] for x in ws.db.query(
        "SELECT version FROM model_versions WHERE name=? ORDER BY version", [r.name])]
    if not versions:
        raise NotFoundError(f"no model named '{r.name}'",
                            hint="see `tinyops model list`; train one or `tinyops model register NAME FILE.keras`")
    if r.version is not None:
        version = r.version
        if version not in versions:
            raise NotFoundError(f"model {r.name}@{version} does not exist",
                                hint=f"{r.name} has versions {versions[0]}..{versions[-1]}")
    elif r.alias == "latest":
        version = versions[-1]
    else:
        row = ws.db.execute("SELECT version FROM model_aliases WHERE name=? AND alias=?", [r.name, r.alias]).fetchone()
        if row is None:
            known = [x["alias"] for x in ws.db.query("SELECT alias FROM model_aliases WHERE name=?", [r.name])]
            raise NotFoundError(f"model {r.name} has no alias '{r.alias}'",
                                hint=(f"its aliases: {', '.join(known)}" if known else "it has no aliases")
                                + f"; set one with `tinyops model alias set {r.name} {r.alias} VERSION`")
        version = row[0]
    row = next(ws.db.query("SELECT * FROM model_versions WHERE name=? AND version=?", [r.name, version]))
    return _from_row(ws, row)


def artifact_bytes(ws: Workspace, mv: ModelVersion) -> bytes:
    return ws.blobs.get_bytes(mv.artifact_sha256)


def list_models(ws: Workspace) -> list[dict[str, Any]]:
    out = []
    for r in ws.db.query(
        "SELECT name, COUNT(*) n, MAX(version) latest, MAX(created) updated FROM model_versions GROUP BY name ORDER BY name"
    ):
        aliases = {a["alias"]: a["version"] for a in ws.db.query(
            "SELECT alias, version FROM model_aliases WHERE name=? ORDER BY alias", [r["name"]])}
        out.append({"name": r["name"], "versions": r["n"], "latest": r["latest"], "aliases": aliases,
                    "updated": r["updated"]})
    return out


def list_versions(ws: Workspace, name: str) -> list[ModelVersion]:
    return [_from_row(ws, r) for r in ws.db.query(
        "SELECT * FROM model_versions WHERE name=? ORDER BY version", [name])]


def set_alias(ws: Workspace, name: str, alias: str, version: int) -> ModelVersion:
    validate_name(alias, "alias")
    if alias in RESERVED_ALIASES:
        raise ConflictError(f"'{alias}' is reserved and always means the newest version", hint="pick another alias name")
    if alias.isdigit():
        raise ConflictError(f"alias '{alias}' would read as a version number", hint="use a name with a letter")
    with ws.transaction() as db:
        if db.execute("SELECT 1 FROM model_versions WHERE name=? AND version=?", [name, version]).fetchone() is None:
            resolve(ws, f"{name}@{version}")  # raises the helpful NotFoundError
        db.execute(
            "INSERT INTO model_aliases(name, alias, version, updated) VALUES (?,?,?,?) "
            "ON CONFLICT(name, alias) DO UPDATE SET version=excluded.version, updated=excluded.updated",
            [name, alias, version, timestamps.now()],
        )
    return resolve(ws, f"{name}@{version}")


def remove_alias(ws: Workspace, name: str, alias: str) -> None:
    with ws.transaction() as db:
        cur = db.execute("DELETE FROM model_aliases WHERE name=? AND alias=?", [name, alias])
        if cur.rowcount == 0:
            raise NotFoundError(f"model {name} has no alias '{alias}'", hint=f"see `tinyops model show {name}`")


def lineage(ws: Workspace, ref: str) -> dict[str, Any]:
    """Model version → run → dataset versions (→ their parents) → feature versions."""
    from tinyops.registry import datasets as ds_mod
    from tinyops.registry import runs as runs_mod

    mv = resolve(ws, ref)
    out: dict[str, Any] = {"model": mv.ref, "sha256": mv.artifact_sha256, "parent": mv.parent,
                           "aliases": mv.aliases, "run": None, "datasets": [], "features": []}
    if mv.run_id:
        run = runs_mod.get(ws, mv.run_id)
        out["run"] = {"id": run.id, "kind": run.kind, "seed": run.seed, "status": run.status,
                      "git_commit": run.git_commit, "metrics": run.metrics}
        feats = list(run.features)
        seen: set[str] = set()
        todo = list(run.datasets)
        while todo:
            dref = todo.pop(0)
            if dref in seen:
                continue
            seen.add(dref)
            try:
                dv = ds_mod.resolve(ws, dref)
            except NotFoundError:
                out["datasets"].append({"ref": dref, "missing": True})
                continue
            out["datasets"].append({"ref": dv.ref, "sha256": dv.sha256, "source": dv.source,
                                    "parents": dv.parents, "feature": dv.feature})
            todo.extend(dv.parents)
            if dv.feature and dv.feature not in feats:
                feats.append(dv.feature)
        out["features"] = feats
    return out
