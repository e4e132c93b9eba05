"""Image tickets: what a microcontroller checks before it activates a model image.

A ticket (160 bytes, firmware/PROTOCOL.md "Trust and anti-rollback") names the
image's sha256, its model line and monotonic security version, whether it
authorises a rollback, and the signing key with its generation in the key
chain, signed with Ed25519 by that key. Every build with a ``model.img`` carries
its ticket as ``model.img.ticket``; `fleet rollback` (and a failed canary)
put a rollback ticket into the signed desired message of an MCU.

``links`` packs the rotation chain for the firmware: each link is the new key,
its generation and the previous key's signature over both keys and the generation.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

from tinyops import signing
from tinyops.errors import InputError

DOMAIN = b"tinyops-image-ticket/1\n"
MAGIC = 0x31544B54  # "TKT1"
SIGNED = struct.Struct("<II32s32s8sII8s")  # magic, key generation, key, image sha256, line, version, flags, reserved
TICKET_BYTES = SIGNED.size + 64
LINK = struct.Struct("<32sI64s")
MAX_LINKS = 4  # the firmware follows at most this many rotations in one AUTHORIZE
ROLLBACK = 1
FILE = "model.img.ticket"


def line_id(model_line: str) -> bytes:
    return hashlib.sha256(model_line.encode()).digest()[:8]


def make(key_dir: Path, image: bytes, model_line: str, security_version: int, *, rollback: bool = False) -> bytes:
    """The ticket for ``image``, signed by the workspace's current key."""
    if not 0 <= int(security_version) < 2**32:
        raise InputError(f"security version {security_version} does not fit in 32 bits", hint="use 0 … 2^32-1")
    key = bytes.fromhex(signing.public_key_hex(key_dir))
    body = SIGNED.pack(MAGIC, len(signing.read_chain(key_dir)), key, hashlib.sha256(image).digest(),
                       line_id(model_line), int(security_version), ROLLBACK if rollback else 0, bytes(8))
    return body + signing.sign(key_dir, DOMAIN + body)


def for_manifest(key_dir: Path, image: bytes, manifest: dict[str, Any], *, rollback: bool = False) -> bytes:
    line = str(manifest.get("model_line") or str(manifest.get("model", "")).split("@")[0])
    return make(key_dir, image, line, int(manifest.get("security_version") or 0), rollback=rollback)


def parse(ticket: bytes) -> dict[str, Any]:
    if len(ticket) != TICKET_BYTES:
        raise InputError(f"an image ticket is {TICKET_BYTES} bytes, not {len(ticket)}", hint="rebuild with `tinyops build`")
    magic, gen, key, sha, line, version, flags, _ = SIGNED.unpack_from(ticket)
    return {"magic": magic, "key_generation": gen, "key": key.hex(), "sha256": sha.hex(), "line": line.hex(),
            "security_version": version, "rollback": bool(flags & ROLLBACK)}


def links(chain: list[dict[str, Any]]) -> bytes:
    """The newest links of ``chain`` in the firmware's format (older links are skipped by the device)."""
    return b"".join(LINK.pack(bytes.fromhex(lnk["key"]), int(lnk["generation"]), bytes.fromhex(lnk["device_signature"]))
                    for lnk in chain[-MAX_LINKS:] if lnk.get("device_signature"))
