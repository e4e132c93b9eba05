import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyops.errors import InputError, NotFoundError
from tinyops.registry import datasets


def _csv(path: Path, rows: int, extra: str = "") -> Path:
    lines = ["a,b,label" + extra]
    for i in range(rows):
        lines.append(f"{i},{i * 0.5},{'x' if i % 2 else 'y'}" + (",1" if extra else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_same_content_same_version_changed_content_next(ws, tmp_path: Path) -> None:
    p = _csv(tmp_path / "d.csv", 20)
    v1, created = datasets.add_file(ws, "d", p)
    assert created and v1.version == 1 and v1.rows == 20
    copy = tmp_path / "copy.csv"
    copy.write_bytes(p.read_bytes())
    again, created = datasets.add_file(ws, "d", copy)
    assert not created and again.version == 1
    v2, created = datasets.add_file(ws, "d", _csv(tmp_path / "e.csv", 25))
    assert created and v2.version == 2


def test_baseline_statistics(ws, tmp_path: Path) -> None:
    dv, _ = datasets.add_file(ws, "d", _csv(tmp_path / "d.csv", 100))
    s = dv.stats["a"]
    assert s["count"] == 100 and s["min"] == 0 and s["max"] == 99
    assert abs(s["mean"] - 49.5) < 1e-9
    assert len(s["bin_edges"]) == 11 and sum(s["counts"]) == 100
    assert "label" not in dv.stats  # text column: schema only
    assert [c["name"] for c in dv.schema] == ["a", "b", "label"]


def test_npz_last_axis_is_feature_axis(ws, tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(30, 10, 3)).astype(np.float32)
    np.savez(tmp_path / "w.npz", X=x, y=np.arange(30))
    dv, _ = datasets.add_file(ws, "w", tmp_path / "w.npz")
    assert {"X[0]", "X[1]", "X[2]", "y"} <= set(dv.stats)
    assert dv.stats["X[1]"]["count"] == 300 and dv.stats["X[1]"]["rows"] == 30
    arrays = datasets.load_arrays(ws, dv)
    assert np.array_equal(arrays["X"], x)
    feats = datasets.baseline_features(dv, ["X[0]", "X[2]"])
    assert [f["name"] for f in feats] == ["X[0]", "X[2]"]


def test_npy_and_folder_and_export_exact_bytes(ws, tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(12.0).reshape(4, 3))
    dv, _ = datasets.add_file(ws, "arr", tmp_path / "a.npy")
    datasets.export(ws, dv.ref, tmp_path / "out.npy")
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "a.npy").read_bytes()
    folder = tmp_path / "f"
    (folder / "sub").mkdir(parents=True)
    (folder / "x.wav").write_bytes(b"RIFF1")
    (folder / "sub" / "y.wav").write_bytes(b"RIFF2")
    fv, _ = datasets.add_file(ws, "clips", folder)
    assert fv.kind == "folder" and fv.rows == 2
    datasets.export(ws, fv.ref, tmp_path / "back")
    assert (tmp_path / "back" / "sub" / "y.wav").read_bytes() == b"RIFF2"
    (folder / "z.wav").write_bytes(b"RIFF3")
    fv2, created = datasets.add_file(ws, "clips", folder)
    assert created and datasets.diff(ws, fv.ref, fv2.ref)["files_added"] == ["z.wav"]


def test_diff_rows_and_schema(ws, tmp_path: Path) -> None:
    a, _ = datasets.add_file(ws, "d", _csv(tmp_path / "a.csv", 10))
    b, _ = datasets.add_file(ws, "d", _csv(tmp_path / "b.csv", 14))
    d = datasets.diff(ws, a.ref, b.ref)
    assert d["rows_added"] == 4 and d["rows_removed"] == 0
    c, _ = datasets.add_file(ws, "d", _csv(tmp_path / "c.csv", 10, extra=",z"))
    assert datasets.diff(ws, a.ref, c.ref)["columns_added"] == ["z"]


@pytest.mark.parametrize("content,match", [
    ("a,b\n1,2\n3\n", "line 3 has 1 fields"),
    ("", "empty"),
    ("a,a\n1,2\n", "duplicate"),
    ("a,b\n", "no data rows"),
])
def test_malformed_csv_writes_nothing(ws, tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(InputError, match=match):
        datasets.add_file(ws, "bad", p)
    assert datasets.list_versions(ws) == []
    assert not any(ws.blobs.iter_hashes())


def test_unsupported_and_missing(ws, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="unsupported"):
        datasets.add_file(ws, "x", tmp_path / "x.txt")
    with pytest.raises(InputError, match="does not exist"):
        datasets.add_file(ws, "x", tmp_path / "none.csv")
    with pytest.raises(NotFoundError, match="no dataset"):
        datasets.resolve(ws, "nothing@1")


def test_killed_add_leaves_no_row_and_no_partial_blob(ws, tmp_path: Path) -> None:
    big = tmp_path / "big.npy"
    np.save(big, np.random.default_rng(1).normal(size=(4_000_000, 4)).astype(np.float32))  # 64 MB
    code = ("import sys; from tinyops.workspace import Workspace; from tinyops.registry import datasets;"
            "datasets.add_file(Workspace(sys.argv[1]), 'big', sys.argv[2])")
    for delay in (0.05, 0.3, 0.6):
        proc = subprocess.Popen([sys.executable, "-c", code, str(ws.root), str(big)])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = ws.db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0]
        for sha in ws.blobs.iter_hashes():  # every visible blob is whole
            ws.blobs.verify(sha)
        if rows:
            assert datasets.resolve(ws, "big@1").size_bytes == big.stat().st_size
    # The workspace still works and the add completes afterwards.
    dv, _ = datasets.add_file(ws, "big", big)
    assert dv.version == 1
