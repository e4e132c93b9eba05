"""Device builds: a model variant built for one device profile, stored as blobs.

A row names the build's files (name -> blob sha256); the bytes live in the blob
store. The build id is content-derived (``devices/build.py`` computes it), so
registering the same build twice is a no-op that returns the first row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tinyops.errors import InputError, NotFoundError
from tinyops.registry import _rows
from tinyops.registry.refs import parse_ref

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE builds (
            id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            variant TEXT NOT NULL,
            variant_sha256 TEXT NOT NULL,
            profile TEXT NOT NULL,
            runtime TEXT NOT NULL,
            manifest_sha256 TEXT NOT NULL,
            files TEXT NOT NULL,
            created TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX builds_model ON builds(model, variant)")


MIGRATIONS = [("0001_builds", _m0001)]

MIN_PREFIX = 4


@dataclass
class Build:
    id: str
    model: str  # "digits@3"
    variant: str  # "int8"
    variant_sha256: str
    profile: str
    runtime: str
    manifest_sha256: str
    files: dict[str, str]  # file name -> blob sha256
    created: str

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.variant}"

    @property
    def model_name(self) -> str:
        return parse_ref(self.model).name

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["build"] = self.id
        return d


def _from_row(r: dict[str, Any]) -> Build:
    return Build(id=r["id"], model=r["model"], variant=r["variant"], variant_sha256=r["variant_sha256"],
                 profile=r["profile"], runtime=r["runtime"], manifest_sha256=r["manifest_sha256"],
                 files=_rows.loads(r["files"], {}), created=r["created"])


def find(ws: Workspace, build_id: str) -> Build | None:
    row = ws.db.execute("SELECT * FROM builds WHERE id=?", [build_id]).fetchone()
    if row is None:
        return None
    cols = [c[0] for c in ws.db.execute("SELECT * FROM builds LIMIT 0").description]
    return _from_row(dict(zip(cols, row)))


def get(ws: Workspace, build_id: str) -> Build:
    """A build by id or by a unique prefix of at least 4 hex digits."""
    text = build_id.strip().lower()
    if len(text) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in text):
        raise InputError(f"'{build_id}' is not a build id",
                         hint=f"give at least {MIN_PREFIX} hex digits; `tinyops builds list` shows the ids")
    rows = list(ws.db.query("SELECT * FROM builds WHERE id LIKE ? ORDER BY id", [text + "%"]))
    if not rows:
        raise NotFoundError(f"no build '{build_id}'", hint="see `tinyops builds list`, or make one with `tinyops build`")
    if len(rows) > 1:
        raise InputError(f"build prefix '{build_id}' is ambiguous: " + ", ".join(r["id"] for r in rows[:5]),
                         hint="give more digits")
    return _from_row(rows[0])


def list_builds(ws: Workspace, *, model: str | None = None, profile: str | None = None) -> list[Build]:
    where, args = [], []
    if model:
        where.append("(model = ? OR model LIKE ?)")
        args += [model, model + "@%"]
    if profile:
        where.append("profile = ?")
        args.append(profile)
    sql = "SELECT * FROM builds" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created, id"
    return [_from_row(r) for r in ws.db.query(sql, args)]


def resolve(ws: Workspace, text: str) -> list[Build]:
    """The builds a reference names: a build id (or a unique prefix of one), or a model
    reference (``NAME@V``, ``NAME@ALIAS``, ``NAME@V:VARIANT``) for every build of it."""
    import re

    from tinyops.registry import models
    from tinyops.registry.refs import parse_ref

    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{4,64}", text):
        b = find(ws, text.lower())
        if b is None:
            try:
                b = get(ws, text)
            except NotFoundError:
                b = None
        if b is not None:
            return [b]
    ref = parse_ref(text)
    mv = models.resolve(ws, ref)
    found = [b for b in list_builds(ws, model=mv.ref) if ref.variant in (None, b.variant)]
    if not found:
        raise NotFoundError(f"no device builds of {mv.ref}{':' + ref.variant if ref.variant else ''}",
                            hint=f"build one with `tinyops build {mv.ref}:int8 --device PROFILE`")
    return found


def register(ws: Workspace, build: Build) -> tuple[Build, bool]:
    """Insert the build unless it exists. Every file blob must already be stored."""
    for name, sha in build.files.items():
        if not ws.blobs.exists(sha):
            raise InputError(f"build file {name} ({sha[:12]}) is not in the blob store",
                             hint="store the files before registering the build")
    with ws.transaction() as db:
        existing = find(ws, build.id)
        if existing is not None:
            return existing, False
        db.table("builds").insert({
            "id": build.id, "model": build.model, "variant": build.variant,
            "variant_sha256": build.variant_sha256, "profile": build.profile, "runtime": build.runtime,
            "manifest_sha256": build.manifest_sha256, "files": _rows.dumps(build.files),
            "created": build.created,
        })
    return build, True


def replace_file(ws: Workspace, build_id: str, name: str, sha256: str) -> None:
    """Point one file of a build at another stored blob (a new signature after a key rotation)."""
    if not ws.blobs.exists(sha256):
        raise InputError(f"blob {sha256[:12]} is not in the blob store", hint="store the file first")
    with ws.transaction() as db:
        build = get(ws, build_id)
        files = {**build.files, name: sha256}
        db.execute("UPDATE builds SET files=? WHERE id=?", [_rows.dumps(dict(sorted(files.items()))), build.id])
        if name == "manifest.json":
            db.execute("UPDATE builds SET manifest_sha256=? WHERE id=?", [sha256, build.id])


def file_bytes(ws: Workspace, build: Build, name: str) -> bytes:
    """One file of a build, verified against its hash by the blob store."""
    if name not in build.files:
        raise NotFoundError(f"build {build.id} has no file '{name}'",
                            hint="its files are: " + ", ".join(sorted(build.files)))
    return ws.blobs.get_bytes(build.files[name])
