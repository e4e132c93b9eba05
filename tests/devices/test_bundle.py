"""Bundles: export all-or-nothing; verify names every tampered file and a bad signature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures_builds import trained_template, trained_ws  # noqa: F401 - pytest fixtures

from tinyops.cli.main import cli
from tinyops.devices import build, bundle, keys
from tinyops.errors import InputError
from tinyops.registry import builds
from tinyops.cli.common import resolve_variant


@pytest.fixture
def built(trained_ws, tmp_path):
    r = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "raspberry-pi-4")
    out = tmp_path / "bundle"
    bundle.export(trained_ws, r.build.id[:6], out)
    return trained_ws, r.build, out


def test_export_and_verify_a_folder(built) -> None:
    ws, b, out = built
    assert sorted(p.name for p in out.iterdir()) == sorted(b.files)
    rep = bundle.verify(ws, str(out))
    assert rep.ok and rep.signature_ok and rep.build == b.id and rep.bad_files == []
    # as a device would: no workspace, only the pinned key
    assert bundle.verify(None, str(out), public_key=keys.show(ws)["public_key"]).ok
    assert bundle.verify(ws, b.id).ok


def test_tampered_file_is_named(built) -> None:
    ws, _b, out = built
    data = bytearray((out / "model.tflite").read_bytes())
    data[100] ^= 1
    (out / "model.tflite").write_bytes(bytes(data))
    rep = bundle.verify(ws, str(out))
    assert not rep.ok and rep.signature_ok and rep.bad_files == ["model.tflite"]
    assert "sha256 differs" in rep.problems[0]
    (out / "golden.npz").unlink()
    assert set(bundle.verify(ws, str(out)).bad_files) == {"model.tflite", "golden.npz"}


def test_tampered_manifest_or_signature_or_key_is_caught(built) -> None:
    ws, _b, out = built
    m = json.loads((out / "manifest.json").read_text())
    m["profile"] = "raspberry-pi-5"
    (out / "manifest.json").write_text(json.dumps(m, sort_keys=True, indent=2) + "\n")
    rep = bundle.verify(ws, str(out))
    assert not rep.ok and not rep.signature_ok and "manifest.json" in rep.bad_files
    other = "11" * 32
    bundle.export(ws, _b.id, out.parent / "again")
    assert not bundle.verify(None, str(out.parent / "again"), public_key=other).ok
    sig = bytearray((out.parent / "again" / "manifest.sig").read_bytes())
    sig[0] ^= 0xFF
    (out.parent / "again" / "manifest.sig").write_bytes(bytes(sig))
    assert not bundle.verify(ws, str(out.parent / "again")).signature_ok


def test_tampered_blob_in_the_registry_is_named(built) -> None:
    ws, b, _out = built
    path = ws.blobs.path(b.files["golden.npz"])
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"x")
    rep = bundle.verify(ws, b.id)
    assert not rep.ok and rep.bad_files == ["golden.npz"]


def test_export_refuses_a_non_empty_folder(built, tmp_path: Path) -> None:
    ws, b, out = built
    with pytest.raises(InputError, match="not an empty folder"):
        bundle.export(ws, b.id, out)
    assert builds.get(ws, b.id[:5]).id == b.id


def test_cli_verify_exit_codes(built) -> None:
    ws, b, out = built
    run = lambda *a: CliRunner().invoke(cli, ["--workspace", str(ws.root), *a])  # noqa: E731
    assert run("builds", "verify", str(out)).exit_code == 0
    (out / "golden.npz").write_bytes(b"nope")
    bad = run("builds", "verify", str(out))
    assert bad.exit_code == 1 and "golden.npz" in bad.output
    js = run("builds", "verify", str(out), "--json")
    assert js.exit_code == 1 and json.loads(js.stdout)["bad_files"] == ["golden.npz"]
    shown = run("builds", "show", b.id[:8], "--json")
    assert json.loads(shown.stdout)["manifest"]["build"] == b.id
    listed = run("builds", "list", "--json")
    assert [x["id"] for x in json.loads(listed.stdout)] == [b.id]
