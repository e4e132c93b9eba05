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


def export_public(ws: Workspace, dest: str | Path) -> dict[str, Any]:
    """Write the public key as one line of hex to DEST (what a device or agent config pins)."""
    pub = signing.public_key_hex(key_dir(ws))
    dest = Path(dest)
    try:
        dest.write_text(pub + "\n")
    except OSError as e:
        raise InputError(f"cannot write {dest}: {e.strerror}", hint="pick a writable path") from e
    return {"public_key": pub, "fingerprint": fingerprint(pub), "path": str(dest)}
