"""Atomic writes: the target is the old file or the new one, never half; no temp file stays."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tinyops import atomic


def test_writes_replace_whole_files_with_their_mode(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "state.json"
    atomic.write_json(p, {"a": 1})
    atomic.write_json(p, {"a": 2}, durable=True)
    assert json.loads(p.read_text()) == {"a": 2}
    atomic.write_bytes(tmp_path / "key.pem", b"secret", mode=0o600)
    assert stat.S_IMODE(os.stat(tmp_path / "key.pem").st_mode) == 0o600
    atomic.write_text(tmp_path / "note.txt", "héllo")
    assert (tmp_path / "note.txt").read_text(encoding="utf-8") == "héllo"
    assert sorted(x.name for x in tmp_path.rglob("*.tmp")) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "report.csv"
    p.write_text("old\n")
    with pytest.raises(RuntimeError), atomic.writing(p, text=True) as f:
        f.write("half of the new")
        raise RuntimeError("power cut")
    assert p.read_text() == "old\n"
    assert [x.name for x in tmp_path.iterdir()] == ["report.csv"]
