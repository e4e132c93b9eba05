"""Without the train extra, commands that need TensorFlow/LiteRT/TFLite Micro name the extra.

A fresh virtualenv with only tinyops' base dependencies (no TensorFlow, LiteRT,
TFLite Micro) runs the checkout's code; each command must print one line naming
`pip install "tinyops[train]"`, exit 1, print no traceback, and write no row.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from paths import REPO


@pytest.fixture(scope="module")
def base_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv-base")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-warn-script-location", *deps], check=True)
    probe = subprocess.run([str(py), "-c", "import tensorflow"], capture_output=True)
    assert probe.returncode != 0, "the base virtualenv must not have TensorFlow"
    return py


def _tinyops(py: Path, ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYOPS_HOME")}
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.run([str(py), "-m", "tinyops", "--workspace", str(ws), *args], capture_output=True,
                          text=True, env=env, cwd=ws)


def _rows(ws: Path, table: str) -> int:
    with sqlite3.connect(ws / ".tinyops" / "registry.db") as c:
        return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_commands_needing_the_train_extra_say_so(base_python: Path, tmp_path: Path) -> None:
    from fixtures_models import keras_like

    ws = tmp_path / "ws"
    ws.mkdir()
    assert _tinyops(base_python, ws, "init").returncode == 0
    (ws / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    assert _tinyops(base_python, ws, "data", "add", "d", "d.csv").returncode == 0
    (ws / "r.toml").write_text('[model]\nname = "m"\n[data]\ndataset = "d@1"\ninputs = ["a", "b"]\nlabel = "label"\n'
                               '[architecture]\nkind = "mlp"\n')
    (ws / "m.keras").write_bytes(keras_like("m"))
    assert _tinyops(base_python, ws, "model", "register", "m", "m.keras").returncode == 0
    runs_before = _rows(ws, "runs")
    for args in (["train", "r.toml"], ["convert", "m@1", "--quant", "int8"], ["convert", "m@1", "--quant", "float32"]):
        r = _tinyops(base_python, ws, *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and 'pip install "tinyops[train]"' in lines[0], (args, r.stderr)
    assert _rows(ws, "runs") == runs_before and _rows(ws, "variants") == 0
