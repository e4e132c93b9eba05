"""How a build travels over MQTT: one envelope plus fixed-size chunks.

The envelope (``tinyops/builds/{build}/manifest``, retained) carries the
signed ``manifest.json`` bytes and their Ed25519 signature, plus the chunk
table: the bundle files concatenated in name order, cut into ``chunk_size``
pieces, each with its sha256, and the sha256 of the whole stream. The chunk
table is *not* trusted: it only lets a device spot a bad chunk early and fetch
it again. Trust comes from the signed manifest, whose per-file sha256 every
reassembled file must match.

Used by the host (publish) and the agent; numpy/TensorFlow-free.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from tinyops.errors import InputError

FORMAT = "tinyops-transfer/1"
DEFAULT_CHUNK = 64 * 1024
SIGNED_NAMES = ("manifest.json", "manifest.sig")  # travel inside the envelope, not as chunks


@dataclass
class Bundle:
    """A device build as bytes: what `tinyops build` stored, ready to send."""

    build: str
    manifest_bytes: bytes
    signature: bytes
    files: dict[str, bytes]  # every file the manifest names
    chain: list[dict[str, Any]] = field(default_factory=list)  # key-rotation links (signing.follow_chain)

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_bytes)

    @property
    def size(self) -> int:
        return len(self.manifest_bytes) + len(self.signature) + sum(len(b) for b in self.files.values())


@dataclass
class Envelope:
    build: str
    manifest_bytes: bytes
    signature: bytes
    chunk_size: int
    size: int
    sha256: str
    files: list[dict[str, Any]]  # [{"name", "offset", "size"}]
    chunks: list[str] = field(default_factory=list)  # sha256 per chunk
    chain: list[dict[str, Any]] = field(default_factory=list)  # key-rotation links, checked by the device

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_bytes)


def file_order(manifest: dict[str, Any]) -> list[str]:
    return sorted(n for n in manifest.get("files", {}) if n not in SIGNED_NAMES)


def pack(bundle: Bundle, chunk_size: int = DEFAULT_CHUNK) -> tuple[bytes, list[bytes]]:
    """Return (envelope bytes, chunks)."""
    names = file_order(bundle.manifest)
    missing = [n for n in names if n not in bundle.files]
    if missing:
        raise InputError(f"build {bundle.build} lacks files its manifest names: {', '.join(missing)}",
                         hint="rebuild it with `tinyops build`")
    stream, table, offset = bytearray(), [], 0
    for n in names:
        data = bundle.files[n]
        table.append({"name": n, "offset": offset, "size": len(data)})
        stream += data
        offset += len(data)
    chunks = [bytes(stream[i:i + chunk_size]) for i in range(0, len(stream), chunk_size)] or [b""]
    env = {
        "format": FORMAT, "build": bundle.build,
        "manifest": base64.b64encode(bundle.manifest_bytes).decode(),
        "signature": base64.b64encode(bundle.signature).decode(),
        "chunk_size": chunk_size, "size": len(stream), "sha256": hashlib.sha256(stream).hexdigest(),
        "files": table, "chunks": [hashlib.sha256(c).hexdigest() for c in chunks],
    }
    if bundle.chain:
        env["chain"] = bundle.chain
    return json.dumps(env, sort_keys=True).encode(), chunks


def unpack(payload: bytes) -> Envelope:
    """Parse an envelope; raise InputError when it is not one."""
    try:
        d = json.loads(payload)
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}")
        env = Envelope(build=str(d["build"]), manifest_bytes=base64.b64decode(d["manifest"], validate=True),
                       signature=base64.b64decode(d["signature"], validate=True), chunk_size=int(d["chunk_size"]),
                       size=int(d["size"]), sha256=str(d["sha256"]), files=list(d["files"]),
                       chunks=[str(c) for c in d["chunks"]], chain=list(d.get("chain") or []))
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"not a tinyops build envelope: {e}", hint="republish the build with `tinyops fleet publish`") from e
    if env.chunk_size <= 0 or len(env.chunks) != max(1, -(-env.size // env.chunk_size)):
        raise InputError("build envelope: chunk table does not match the size", hint="republish the build")
    return env


def split(env: Envelope, stream: bytes) -> dict[str, bytes]:
    return {f["name"]: stream[f["offset"]:f["offset"] + f["size"]] for f in env.files}
