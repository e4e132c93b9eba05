"""Long work shows progress on a terminal, and only the result on a pipe or with --json."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import numpy as np


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "TINYOPS_HOME": str(root), "COLUMNS": "100"}


def _on_a_terminal(cmd: list[str], root: Path) -> str:
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal (util-linux ``script``)."""
    p = subprocess.run(["script", "-qec", shlex.join(cmd), "/dev/null"], env=_env(root), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_data_add_shows_bytes_on_a_terminal_and_nothing_extra_on_a_pipe(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    subprocess.run(["tinyops", "init", str(root)], check=True, capture_output=True)
    big = tmp_path / "big.npy"
    np.save(big, np.arange(12_000_000, dtype=np.float32).reshape(-1, 6))  # 48 MB
    shown = _on_a_terminal(["tinyops", "data", "add", "big", str(big)], root)
    assert "storing" in shown and "Added big@1" in shown
    np.save(big, np.arange(12_000_000, dtype=np.float32).reshape(-1, 6) + 1)
    piped = subprocess.run(["tinyops", "data", "add", "big", str(big)], env=_env(root), capture_output=True,
                           text=True, check=True)
    assert "storing" not in piped.stdout + piped.stderr and piped.stdout.startswith("Added big@2")
    np.save(big, np.arange(12_000_000, dtype=np.float32).reshape(-1, 6) + 2)
    as_json = _on_a_terminal(["tinyops", "data", "add", "big", str(big), "--json"], root)
    assert "storing" not in as_json and json.loads(as_json)["ref"] == "big@3"
