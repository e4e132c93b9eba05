"""Reading, exporting and verifying device build bundles.

A bundle is ``manifest.json`` (names every file with its sha256 and size),
``manifest.sig`` (Ed25519 over the manifest's exact bytes) and the files. Verify
checks every hash and size and the signature, and names what does not match.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops import signing
from tinyops.errors import InputError, NotFoundError, SignatureError
from tinyops.registry import builds
from tinyops.devices import keys

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


@dataclass
class FileCheck:
    name: str
    ok: bool
    problem: str = ""


@dataclass
class VerifyReport:
    ok: bool
    build: str | None
    source: str  # "registry" or the folder
    signature_ok: bool
    public_key: str
    files: list[FileCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def bad_files(self) -> list[str]:
        return [f.name for f in self.files if not f.ok]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bad_files": self.bad_files}


def read_files(ws: Workspace, build: builds.Build) -> dict[str, bytes]:
    """Every file of a build (verified by the blob store)."""
    return {name: builds.file_bytes(ws, build, name) for name in build.files}


def manifest(ws: Workspace, build: builds.Build) -> dict[str, Any]:
    return json.loads(builds.file_bytes(ws, build, MANIFEST))


def export(ws: Workspace, build_ref: str, dest: str | Path) -> dict[str, Any]:
    """Write a build's files into DEST (created; must not exist or be empty), all or nothing."""
    build = builds.get(ws, build_ref)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(f"{dest} exists and is not an empty folder", hint="pick a new folder to export into")
    files = read_files(ws, build)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"build": build.id, "path": str(dest), "files": {n: len(d) for n, d in sorted(files.items())}}


def verify(ws: Workspace | None, target: str, public_key: str | None = None) -> VerifyReport:
    """Check a registered build (id or unique prefix) or an exported folder.

    The public key defaults to the workspace's; pass the pinned hex to check a
    folder the way a device would.
    """
    if Path(target).is_dir():
        folder = Path(target)
        raw = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        source, build_id = str(folder), None
    else:
        if ws is None:
            raise NotFoundError(f"'{target}' is not a folder, and there is no workspace to look the build up in",
                                hint="pass an exported folder, or run inside a workspace")
        b = builds.get(ws, target)
        # Raw blob bytes, not the verifying reader: a tampered blob must be reported by name.
        raw = {name: _raw_blob(ws, sha) for name, sha in b.files.items()}
        raw = {k: v for k, v in raw.items() if v is not None}
        source, build_id = "registry", b.id
    if public_key is None:
        if ws is None:
            raise InputError("no public key to verify against", hint="pass --public-key HEX (what the device pins)")
        public_key = keys.show(ws)["public_key"]
    return check_bundle(raw, public_key, source=source, build_id=build_id)


def _raw_blob(ws: Workspace, sha: str) -> bytes | None:
    p = ws.blobs.path(sha)
    return p.read_bytes() if p.is_file() else None


def check_bundle(raw: dict[str, bytes], public_key: str, *, source: str, build_id: str | None = None) -> VerifyReport:
    """Pure check of bundle files (name -> bytes) against their manifest and signature."""
    problems: list[str] = []
    if MANIFEST not in raw:
        return VerifyReport(False, build_id, source, False, public_key, [FileCheck(MANIFEST, False, "missing")],
                            [f"{MANIFEST} is missing"])
    mbytes = raw[MANIFEST]
    sig_ok = False
    if SIGNATURE not in raw:
        problems.append(f"{SIGNATURE} is missing")
    else:
        try:
            signing.verify_manifest(mbytes, raw[SIGNATURE], public_key)
            sig_ok = True
        except SignatureError as e:
            problems.append(f"{SIGNATURE}: {e.message}")
    try:
        m = json.loads(mbytes)
        listed = m["files"]
    except (ValueError, KeyError, TypeError):
        return VerifyReport(False, build_id, source, sig_ok, public_key, [FileCheck(MANIFEST, False, "not a manifest")],
                            problems + [f"{MANIFEST} is not a tinyops build manifest"])
    checks = [FileCheck(MANIFEST, sig_ok, "" if sig_ok else "signature does not match")]
    for name, want in sorted(listed.items()):
        data = raw.get(name)
        if data is None:
            checks.append(FileCheck(name, False, "missing"))
        elif len(data) != want.get("size"):
            checks.append(FileCheck(name, False, f"size {len(data)} != {want.get('size')} in the manifest"))
        elif hashlib.sha256(data).hexdigest() != want.get("sha256"):
            checks.append(FileCheck(name, False, "sha256 differs from the manifest"))
        else:
            checks.append(FileCheck(name, True))
    problems += [f"{c.name}: {c.problem}" for c in checks[1:] if not c.ok]
    if build_id is not None and m.get("build") != build_id:
        problems.append(f"the manifest names build {m.get('build')}, not {build_id}")
    ok = sig_ok and not problems
    return VerifyReport(ok, build_id or m.get("build"), source, sig_ok, public_key, checks, problems)
