"""The workspace's build-signing key pair (Ed25519), kept in ``.tinyops/keys/``.

Thin workspace-aware layer over :mod:`tinyops.signing`: builds sign their
manifests with the private key; devices pin the public key (32 raw bytes, hex).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops import signing
from tinyops.errors import InputError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

KEY_DIR = "keys"


def key_dir(ws: Workspace) -> Path:
    return ws.path(KEY_DIR)


def fingerprint(public_key_hex: str) -> str:
    """Short id of a public key (first 16 hex of its sha256) to compare keys at a glance."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def init(ws: Workspace) -> dict[str, Any]:
    """Create the key pair once; calling again reports the existing one (never replaces it)."""
    info = signing.init_keys(key_dir(ws))
    return {**info.to_dict(), "fingerprint": fingerprint(info.public_key)}


def show(ws: Workspace) -> dict[str, Any]:
    pub = signing.public_key_hex(key_dir(ws))
    return {"public_key": pub, "fingerprint": fingerprint(pub), "path": str(key_dir(ws) / signing.PRIVATE_NAME)}


def ensure(ws: Workspace) -> dict[str, Any]:
    """The key pair, created on first use (a build must always be signed)."""
    return init(ws)


def chain(ws: Workspace) -> list[dict[str, Any]]:
    return signing.read_chain(key_dir(ws))


def rotate(ws: Workspace) -> dict[str, Any]:
    """Replace the signing key by a new one signed by it, and re-sign every build with it.

    Devices pinned to any earlier key accept the new one through the chain (sent with
    every desired message and build envelope) and then refuse the old one. The manifests
    are unchanged, so build ids stay; only ``manifest.sig`` changes (republishing is
    automatic: `fleet publish`/`rollout` find the broker's copy stale)."""
    from tinyops.registry import _rows, builds

    old = signing.public_key_hex(key_dir(ws))
    link = signing.rotate_keys(key_dir(ws), _rows.now_iso())
    resigned = []
    for b in builds.list_builds(ws):
        mbytes = builds.file_bytes(ws, b, "manifest.json")
        sig = ws.blobs.put_bytes(signing.sign(key_dir(ws), mbytes))
        builds.replace_file(ws, b.id, "manifest.sig", sig)
        resigned.append(b.id)
    return {"previous": old, "previous_fingerprint": fingerprint(old), "public_key": link["key"],
            "fingerprint": fingerprint(link["key"]), "generation": link["generation"],
            "rotated_at": link["rotated_at"], "resigned_builds": resigned}


def export_public(ws: Workspace, dest: str | Path) -> dict[str, Any]:
    """Write the public key as one line of hex to DEST (what a device or agent config pins)."""
    pub = signing.public_key_hex(key_dir(ws))
    dest = Path(dest)
    try:
        dest.write_text(pub + "\n")
    except OSError as e:
        raise InputError(f"cannot write {dest}: {e.strerror}", hint="pick a writable path") from e
    return {"public_key": pub, "fingerprint": fingerprint(pub), "path": str(dest)}
