"""`tinyops keys rotate`: a new signing key, signed by the old one, and every build re-signed.

Devices pinned to any earlier key accept the new one through the chain (sent with
every desired message and build envelope, and as links to microcontrollers) and
then refuse the old one. Build ids stay (they come from the build's inputs): a
build's ``manifest.sig`` changes, and for a microcontroller build its image
ticket too, so its ``manifest.json`` is rewritten with the new ticket's hash.
`fleet publish`/`rollout` find the broker's copy stale and republish it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from tinyops import signing, timestamps
from tinyops.devices import keys, tickets
from tinyops.devices.build import manifest_bytes
from tinyops.registry import builds

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _resign(ws: Workspace, b: builds.Build) -> None:
    kd = keys.key_dir(ws)
    mbytes = builds.file_bytes(ws, b, "manifest.json")
    if tickets.FILE in b.files and "model.img" in b.files:
        manifest = json.loads(mbytes)
        ticket = tickets.for_manifest(kd, builds.file_bytes(ws, b, "model.img"), manifest)
        manifest["files"][tickets.FILE] = {"sha256": hashlib.sha256(ticket).hexdigest(), "size": len(ticket)}
        mbytes = manifest_bytes(manifest)
        builds.replace_file(ws, b.id, tickets.FILE, ws.blobs.put_bytes(ticket))
        builds.replace_file(ws, b.id, "manifest.json", ws.blobs.put_bytes(mbytes))
    builds.replace_file(ws, b.id, "manifest.sig", ws.blobs.put_bytes(signing.sign(kd, mbytes)))


def rotate(ws: Workspace) -> dict[str, Any]:
    """Replace the signing key (the old private key is destroyed) and re-sign every build."""
    old = signing.public_key_hex(keys.key_dir(ws))
    link = signing.rotate_keys(keys.key_dir(ws), timestamps.now())
    resigned = []
    for b in builds.list_builds(ws):
        _resign(ws, b)
        resigned.append(b.id)
    return {"previous": old, "previous_fingerprint": keys.fingerprint(old), "public_key": link["key"],
            "fingerprint": keys.fingerprint(link["key"]), "generation": link["generation"],
            "rotated_at": link["rotated_at"], "resigned_builds": resigned}
