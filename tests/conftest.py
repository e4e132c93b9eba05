"""Shared fixtures: a fresh workspace and a CLI runner bound to it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyops.cli.main import cli
from tinyops.workspace import Workspace

# TFLM sources for the tests (as `make test` and CI use them): ../shared/third_party next to the checkout.
_TFLM = Path(__file__).resolve().parent.parent.parent / "shared" / "third_party"
if _TFLM.is_dir():
    os.environ.setdefault("TFLM_DIR", str(_TFLM))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace, _ = Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()


class Tiny:
    """Run `tinyops` in-process against one workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True, code: int | None = None):
        result = self.runner.invoke(cli, ["--workspace", str(self.root), *map(str, args)], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, result.output
        elif ok:
            assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def tiny(ws: Workspace) -> Tiny:
    return Tiny(ws.root)


@pytest.fixture(autouse=True)
def _no_ambient_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's TINYOPS_HOME must never leak into tests.
    monkeypatch.delenv("TINYOPS_HOME", raising=False)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def oracle() -> Iterator[object]:
    """The TFLite Micro interpreter the runtime tests compare against: one child process per
    test module, closed after it."""
    from fixtures_tflite_ops import TflmOracle

    o = TflmOracle()
    yield o
    o.close()
