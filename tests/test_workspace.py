import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tinyops.errors import WorkspaceError
from tinyops.workspace import Workspace


def test_init_creates_layout_and_is_idempotent(tmp_path: Path) -> None:
    ws, created = Workspace.init(tmp_path)
    assert created and (tmp_path / ".tinyops/registry.db").is_file() and (tmp_path / ".tinyops/blobs").is_dir()
    ws2, created2 = Workspace.init(tmp_path)
    assert not created2 and ws2.root == ws.root


def test_wal_mode_and_migrations_recorded(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path)
    assert ws.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in ws.db.execute("SELECT name FROM _migrations")]
    assert "0001_datasets" in names and "0001_models" in names
    # Reopening applies nothing twice.
    Workspace(tmp_path)
    assert [r[0] for r in ws.db.execute("SELECT name FROM _migrations")] == names


def test_open_finds_nearest_workspace_upwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.init(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.open().root == tmp_path.resolve()


def test_open_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.init(tmp_path / "w")
    monkeypatch.setenv("TINYOPS_HOME", str(tmp_path / "w"))
    monkeypatch.chdir(tmp_path)
    assert Workspace.open().root == (tmp_path / "w").resolve()


def test_open_without_workspace_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceError, match="tinyops init"):
        Workspace.open()


def test_transaction_rolls_back(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path)
    with pytest.raises(RuntimeError):
        with ws.transaction() as db:
            db.execute("INSERT INTO runs(id, kind, status, started, started_unix) VALUES ('x','t','s','now',0)")
            raise RuntimeError("boom")
    assert ws.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_cli_import_does_not_import_tensorflow() -> None:
    code = "import sys, tinyops.cli.main; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
