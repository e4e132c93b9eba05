"""`tinyops fsck` lists each corruption of a workspace; `tinyops gc` removes only what nothing references."""

from __future__ import annotations

import json

from click.testing import CliRunner
from fixtures_builds import trained_template, trained_ws  # noqa: F401 - pytest fixtures

from tinyops.cli.main import cli
from tinyops.devices import build
from tinyops.integrity import fsck, gc
from tinyops.registry import builds, datasets, variants
from tinyops.cli.common import resolve_variant


def run(ws, *args):
    return CliRunner().invoke(cli, ["--workspace", str(ws.root), *args], catch_exceptions=False)


def test_fsck_lists_each_corruption_and_gc_removes_only_garbage(trained_ws):
    ws = trained_ws
    b = build.build(ws, resolve_variant(ws, "digits@1:int8"), "raspberry-pi-4").build
    clean = run(ws, "fsck")
    assert clean.exit_code == 0, clean.output
    assert "no problems" in clean.output
    assert gc(ws, dry_run=True, min_age=0).blobs == []  # everything in a fresh workspace is referenced

    # 1. flip one byte of the dataset's blob
    dv = datasets.resolve(ws, "digits@1")
    p = ws.blobs.path(dv.blob_sha256)
    data = bytearray(p.read_bytes())
    data[100] ^= 0x01
    p.write_bytes(bytes(data))
    # 2. delete the float32 variant's blob
    fv = variants.resolve(ws, "digits@1:float32") if hasattr(variants, "resolve") else None
    sha_f32 = fv.blob_sha256 if fv else ws.db.execute("SELECT blob_sha256 FROM variants WHERE quant='float32'").fetchone()[0]
    ws.blobs.path(sha_f32).unlink()
    # 3. an orphan row: a deployment of a build that does not exist
    ws.db.execute("PRAGMA foreign_keys=OFF")  # as a hand edit or a crashed older tool would leave it
    ws.db.execute("INSERT INTO deployments(build, device, port, slot, image_sha256, activated, self_test, detail, created) "
                  "VALUES ('00000000deadbeef', 'mcu-9', 'socket://x', 0, 'x', 1, 'pass', '{}', '2026-01-01')")
    ws.db.execute("PRAGMA foreign_keys=ON")
    # 4. a temp file left by an interrupted writer
    (ws.blobs.root / "tmp").mkdir(exist_ok=True)
    (ws.blobs.root / "tmp" / "blob-interrupted").write_bytes(b"half a blob")
    # 5. a bad signature: the build's signature replaced by another (well-formed, stored) one
    row = builds.get(ws, b.id)
    files = dict(row.files)
    files["manifest.sig"] = ws.blobs.put_bytes(bytes(64))
    ws.db.execute("UPDATE builds SET files = ? WHERE id = ?", [json.dumps(files), b.id])
    # and an unreferenced blob for gc
    junk = ws.blobs.put_bytes(b"nothing uses me")

    rep = fsck(ws)
    kinds = {(p.kind, p.what) for p in rep.problems}
    assert ("corrupt-blob", dv.blob_sha256) in kinds
    assert any(k == "missing-blob" and sha_f32[:16] in p.detail for p in rep.problems for k in [p.kind])
    assert any(k == "dangling-reference" and w.startswith("deployments#") for k, w in kinds)
    assert any(k == "temp-file" and w.endswith("blob-interrupted") for k, w in kinds)
    assert ("bad-signature", f"build {b.id}") in kinds
    out = run(ws, "fsck")
    assert out.exit_code == 1
    for needle in ("corrupt-blob", "missing-blob", "dangling-reference", "temp-file", "bad-signature"):
        assert needle in out.output
    as_json = json.loads(run(ws, "fsck", "--json").stdout.split("\nError")[0])
    assert as_json["ok"] is False and len(as_json["problems"]) == len(rep.problems)

    dry = run(ws, "gc", "--min-age", "0s")
    assert dry.exit_code == 0 and junk in dry.output and "--yes" in dry.output
    assert ws.blobs.exists(junk)
    old_sig = row.files["manifest.sig"]  # no longer referenced after the swap
    done = json.loads(run(ws, "gc", "--yes", "--min-age", "0s", "--json").stdout)
    assert {b_["sha256"] for b_ in done["blobs"]} == {junk, old_sig}
    assert not ws.blobs.exists(junk) and not (ws.blobs.root / "tmp" / "blob-interrupted").exists()
    assert ws.blobs.exists(dv.blob_sha256)  # corrupt but referenced: never collected
