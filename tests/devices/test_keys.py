"""Build-signing keys: created once, never replaced, public key exported for pinning."""

from __future__ import annotations

from tinyops import signing
from tinyops.devices import keys


def test_init_creates_once_and_keeps_the_key(ws) -> None:
    first = keys.init(ws)
    again = keys.init(ws)
    assert first["created"] and not again["created"]
    assert first["public_key"] == again["public_key"] == keys.show(ws)["public_key"]
    assert len(bytes.fromhex(first["public_key"])) == 32
    mode = (keys.key_dir(ws) / signing.PRIVATE_NAME).stat().st_mode & 0o777
    assert mode == 0o600


def test_exported_public_key_verifies_a_signature(ws, tmp_path) -> None:
    keys.init(ws)
    out = keys.export_public(ws, tmp_path / "pub.hex")
    pinned = (tmp_path / "pub.hex").read_text().strip()
    assert pinned == out["public_key"]
    sig = signing.sign(keys.key_dir(ws), b"manifest bytes")
    signing.verify_manifest(b"manifest bytes", sig, pinned)


def test_cli_show_without_key_says_what_to_do(tiny) -> None:
    r = tiny("keys", "show", ok=False)
    assert r.exit_code == 1 and "tinyops keys init" in r.output
    created = tiny.json("keys", "init")
    assert created["created"] is True
    assert tiny.json("keys", "show")["public_key"] == created["public_key"]
