"""Ed25519 keys for a workspace; builds sign their manifests, devices verify.

The private key stays in ``.tinyops/keys/signing.key`` (PEM, mode 0600); the
public key is 32 raw bytes, shown and pinned as hex.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tinyops.errors import InputError, NotFoundError, SignatureError

PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"


@dataclass(frozen=True)
class KeyInfo:
    public_key: str  # hex of the 32 raw bytes
    path: str
    created: bool

    def to_dict(self) -> dict:
        return {"public_key": self.public_key, "path": self.path, "created": self.created}


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def init_keys(key_dir: Path) -> KeyInfo:
    """Create the key pair once; calling again returns the existing one."""
    key_dir.mkdir(parents=True, exist_ok=True)
    priv_path = key_dir / PRIVATE_NAME
    if priv_path.exists():
        return KeyInfo(public_key_hex(key_dir), str(priv_path), created=False)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = priv_path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, priv_path)
    (key_dir / PUBLIC_NAME).write_text(_raw_public(key.public_key()).hex() + "\n")
    return KeyInfo(_raw_public(key.public_key()).hex(), str(priv_path), created=True)


def load_private(key_dir: Path) -> Ed25519PrivateKey:
    path = key_dir / PRIVATE_NAME
    if not path.exists():
        raise NotFoundError("this workspace has no signing key", hint="run `tinyops keys init`")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} is not an Ed25519 key", hint="move it away and run `tinyops keys init`")
    return key


def public_key_hex(key_dir: Path) -> str:
    return _raw_public(load_private(key_dir).public_key()).hex()


def sign(key_dir: Path, data: bytes) -> bytes:
    return load_private(key_dir).sign(data)


def verify(data: bytes, signature: bytes, public_key_hex: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` signs ``data``."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex.strip()))
    except ValueError as e:
        raise SignatureError("the pinned public key is not 32 bytes of hex", hint="copy it again from `tinyops keys show`") from e
    try:
        pub.verify(signature, data)
    except InvalidSignature as e:
        raise SignatureError("the manifest signature does not verify against the pinned public key",
                             hint="rebuild and re-sign with `tinyops build`, or pin the right key") from e


def verify_manifest(manifest_bytes: bytes, signature: bytes, public_key_hex: str) -> None:
    verify(manifest_bytes, signature, public_key_hex)


# ---- deployments: the signed body of a `desired` message ----------------------------
DEPLOYMENT_DOMAIN = b"tinyops-desired/1\n"  # a manifest signature can never pass as a deployment's


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sign_deployment(key_dir: Path, body: dict) -> bytes:
    """The ``desired`` payload: ``{"deployment": body, "signature": hex}``."""
    sig = sign(key_dir, DEPLOYMENT_DOMAIN + canonical_json(body))
    return json.dumps({"deployment": body, "signature": sig.hex()}, sort_keys=True).encode()


def verify_deployment(payload: bytes, public_key_hex: str) -> dict:
    """Return the deployment body; raise SignatureError if unsigned or not signed by the key."""
    try:
        msg = json.loads(payload)
        body, sig = msg["deployment"], bytes.fromhex(msg["signature"])
        if not isinstance(body, dict):
            raise TypeError("deployment is not an object")
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureError(f"desired message is not a signed deployment ({e.__class__.__name__})",
                             hint="only `tinyops fleet rollout`/`rollback` may set desired") from e
    try:
        verify(DEPLOYMENT_DOMAIN + canonical_json(body), sig, public_key_hex)
    except SignatureError as e:
        raise SignatureError("the desired message's signature does not verify against the pinned key",
                             hint="only `tinyops fleet rollout`/`rollback` of this workspace may set desired") from e
    return body
