"""Ed25519 keys for a workspace; builds sign their manifests, devices verify.

The private key stays in ``.tinyops/keys/signing.key`` (PEM, mode 0600); the
public key is 32 raw bytes, shown and pinned as hex.

Rotation: ``rotate_keys`` makes a new key and a *link* signed by the old one
(``chain.json`` holds every link, oldest first). A device pinned to any key of
the chain follows the links to the newest key (:func:`follow_chain`) and from
then on refuses signatures by the keys it left behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tinyops import atomic
from tinyops.errors import InputError, NotFoundError, SignatureError

PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"
CHAIN_NAME = "chain.json"
NEXT_NAME = "signing.key.next"  # a rotation in progress (new key written, not yet current)
ROTATION_DOMAIN = b"tinyops-key-rotation/1\n"
DEVICE_LINK_DOMAIN = b"tinyops-key-link/1\n"  # the same link in bytes, for firmware (no JSON there)


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
    atomic.write_bytes(priv_path, pem, mode=0o600, durable=True)
    atomic.write_text(key_dir / PUBLIC_NAME, _raw_public(key.public_key()).hex() + "\n", durable=True)
    return KeyInfo(_raw_public(key.public_key()).hex(), str(priv_path), created=True)


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    atomic.write_bytes(path, pem, mode=0o600, durable=True)


def load_private(key_dir: Path) -> Ed25519PrivateKey:
    _finish_rotation(key_dir)
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
    """The ``desired`` payload: ``{"deployment": body, "signature": hex}``, plus the key
    chain after a rotation (so a device pinned to an older key can follow it)."""
    sig = sign(key_dir, DEPLOYMENT_DOMAIN + canonical_json(body))
    msg: dict = {"deployment": body, "signature": sig.hex()}
    chain = read_chain(key_dir)
    if chain:
        msg["chain"] = chain
    return json.dumps(msg, sort_keys=True).encode()


def parse_deployment(payload: bytes) -> tuple[dict, bytes, list]:
    """(body, signature, chain) of a desired message, unverified; SignatureError if it is not one."""
    try:
        msg = json.loads(payload)
        body, sig = msg["deployment"], bytes.fromhex(msg["signature"])
        if not isinstance(body, dict):
            raise TypeError("deployment is not an object")
        chain = msg.get("chain") or []
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SignatureError(f"desired message is not a signed deployment ({e.__class__.__name__})",
                             hint="only `tinyops fleet rollout`/`rollback` may set desired") from e
    return body, sig, chain


def verify_deployment(payload: bytes, public_key_hex: str) -> dict:
    """Return the deployment body; raise SignatureError if unsigned or not signed by the key."""
    body, sig, _ = parse_deployment(payload)
    try:
        verify(DEPLOYMENT_DOMAIN + canonical_json(body), sig, public_key_hex)
    except SignatureError as e:
        raise SignatureError("the desired message's signature does not verify against the pinned key",
                             hint="only `tinyops fleet rollout`/`rollback` of this workspace may set desired") from e
    return body


# ---- rotation: a chain of keys, each link signed by the key before it --------------
def _link_body(link: dict) -> bytes:
    return ROTATION_DOMAIN + canonical_json({k: link[k] for k in ("key", "previous", "generation", "rotated_at")})


def device_link_body(previous_hex: str, key_hex: str, generation: int) -> bytes:
    """What a link signs for microcontrollers: previous key, new key, generation (u32 LE)."""
    return DEVICE_LINK_DOMAIN + bytes.fromhex(previous_hex) + bytes.fromhex(key_hex) + generation.to_bytes(4, "little")


def read_chain(key_dir: Path) -> list[dict]:
    """Every rotation link of this workspace, oldest first ([] before the first rotation)."""
    try:
        chain = json.loads((key_dir / CHAIN_NAME).read_text())
    except FileNotFoundError:
        return []
    except ValueError as e:
        raise InputError(f"{key_dir / CHAIN_NAME} is not JSON", hint="restore it from a backup of .tinyops/keys") from e
    return chain if isinstance(chain, list) else []


def _write_chain(key_dir: Path, chain: list[dict]) -> None:
    atomic.write_text(key_dir / CHAIN_NAME, json.dumps(chain, indent=1, sort_keys=True) + "\n", durable=True)


def _finish_rotation(key_dir: Path) -> None:
    """A crash between writing the chain and replacing the key leaves ``signing.key.next``:
    if the chain already names it, it becomes current; otherwise it is dropped."""
    nxt = key_dir / NEXT_NAME
    if not nxt.exists():
        return
    key = serialization.load_pem_private_key(nxt.read_bytes(), password=None)
    chain = read_chain(key_dir)
    if isinstance(key, Ed25519PrivateKey) and chain and chain[-1]["key"] == _raw_public(key.public_key()).hex():
        os.replace(nxt, key_dir / PRIVATE_NAME)
        atomic.write_text(key_dir / PUBLIC_NAME, chain[-1]["key"] + "\n", durable=True)
    else:
        nxt.unlink()


def rotate_keys(key_dir: Path, rotated_at: str) -> dict:
    """Make a new signing key, signed by the current one; the old private key is destroyed
    (its public half stays in the chain). Returns the new link."""
    old = load_private(key_dir)
    old_pub = _raw_public(old.public_key()).hex()
    new = Ed25519PrivateKey.generate()
    chain = read_chain(key_dir)
    link = {"key": _raw_public(new.public_key()).hex(), "previous": old_pub, "generation": len(chain) + 1,
            "rotated_at": rotated_at}
    link["signature"] = old.sign(_link_body(link)).hex()
    link["device_signature"] = old.sign(device_link_body(old_pub, link["key"], link["generation"])).hex()
    _write_private(key_dir / NEXT_NAME, new)
    _write_chain(key_dir, [*chain, link])  # the commit point
    _finish_rotation(key_dir)
    return link


def follow_chain(trusted_hex: str, chain: list) -> list[str]:
    """The keys reachable from ``trusted_hex`` through verified links: [trusted, next, …].

    Links before the trusted key are skipped; from it on every link must name the key
    before it and carry that key's signature, else SignatureError."""
    keys = [trusted_hex.strip().lower()]
    if not isinstance(chain, list):
        raise SignatureError("the key chain is not a list of links", hint="republish with this workspace's tinyops")
    started = False
    for link in chain:
        try:
            prev, nxt, sig = str(link["previous"]).lower(), str(link["key"]).lower(), bytes.fromhex(link["signature"])
            body = _link_body(link)
        except (KeyError, TypeError, ValueError) as e:
            raise SignatureError(f"a key-chain link is malformed ({e.__class__.__name__})",
                                 hint="republish with this workspace's tinyops") from e
        if not started:
            if prev != keys[0]:
                continue
            started = True
        if prev != keys[-1]:
            raise SignatureError("the key chain has a gap", hint="republish with this workspace's tinyops")
        try:
            verify(body, sig, prev)
        except SignatureError as e:
            raise SignatureError(f"key-chain link {link.get('generation')} is not signed by the key before it",
                                 hint="only `tinyops keys rotate` makes links") from e
        keys.append(nxt)
    return keys
