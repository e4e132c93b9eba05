"""A workspace with a small trained digits model and its int8 and float32 variants.

Trained once per test session (a few seconds: a 64-input MLP, 4 epochs) and copied
for each test that writes to it, so tests stay independent. The model takes the 64
pixel columns as a flat (1, 64) input, so its baseline has 64 features.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinyops.workspace import Workspace
from paths import EXAMPLES

RECIPE = {
    "model": {"name": "digits", "description": "test MLP"},
    "data": {"dataset": "digits@1", "inputs": ["p*"], "label": "label"},
    "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
    "architecture": {"kind": "mlp", "hidden": [32]},
    "train": {"epochs": 4, "batch_size": 32, "learning_rate": 0.003, "seed": 7},
}


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys

    root = tmp_path_factory.mktemp("trained")
    sys.path.insert(0, str(EXAMPLES / "digits"))
    try:
        from prepare import prepare
    finally:
        sys.path.pop(0)
    csv = prepare(root / "data")
    from tinyops.ml import convert, train
    from tinyops.registry import datasets

    ws, _ = Workspace.init(root / "ws")
    datasets.add_file(ws, "digits", csv)
    train.train(ws, RECIPE)
    convert.convert(ws, "digits@1", "int8")
    convert.convert(ws, "digits@1", "float32")
    ws.close()
    return root / "ws"


@pytest.fixture
def trained_ws(trained_template: Path, tmp_path: Path):
    """A private copy of the trained workspace."""
    dest = tmp_path / "ws"
    shutil.copytree(trained_template, dest)
    ws = Workspace.open(dest)
    yield ws
    ws.close()
