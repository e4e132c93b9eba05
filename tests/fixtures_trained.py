"""A workspace holding real data, a real trained model and its int8 variant — built once.

Fixtures (import them explicitly: ``from fixtures_trained import trained_workspace``):

- ``trained_workspace`` (session scope): a :class:`Trained` whose ``root`` is a
  workspace folder with dataset ``digits@1`` (scikit-learn digits, CSV p0..p63,label),
  model ``digits@1`` (a small CNN trained for a few epochs on 8x8x1 inputs, labels
  "0".."9"), its variant ``digits@1:int8`` (int8 I/O, arena measured) and
  ``digits@1:float16`` (which TFLite Micro cannot run). Shared by
  the whole session: do not change what is in it (add your own rows freely).
- ``fresh_trained_workspace`` (function scope): a private copy of the same, for tests
  that change things.

The float model's predictions on the test split are cached inside, so evaluating a
variant there (which compares with the float model) does not import TensorFlow.

Training takes ~15 s, so the built workspace is cached on disk between test runs in
``$TINYOPS_TEST_CACHE`` (default ``~/.cache/tinyops/test-trained``), keyed by a hash of
the sources that shape it (training, conversion, registry modules, the digits
example, this file) and the TensorFlow version. A cache hit costs one folder copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from paths import REPO

SRC = REPO / "src" / "tinyops"
_KEY_FILES = [
    "ml/train.py", "ml/convert.py", "ml/architectures.py", "ml/dataprep.py", "ml/recipes.py", "runtimes/arena.py",
    "registry/datasets.py", "registry/dataset_stats.py", "registry/models.py", "registry/runs.py",
    "registry/variants.py", "registry/schema.py", "ml/evaluate.py",
]

# Tiny on purpose: tests need a real trained model, not a good one.
TEST_RECIPE = {
    "model": {"name": "digits", "description": "test fixture"},
    "data": {"inputs": ["p*"], "label": "label", "reshape": [8, 8, 1]},
    "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
    "architecture": {"kind": "cnn2d", "filters": [8, 16], "dense": 32},
    "train": {"epochs": 4, "batch_size": 32, "learning_rate": 0.005, "seed": 1},
}


@dataclass(frozen=True)
class Trained:
    root: Path
    dataset: str = "digits@1"
    model: str = "digits@1"
    variant: str = "digits@1:int8"
    float16_variant: str = "digits@1:float16"

    def open(self):  # noqa: ANN201 - Workspace, imported lazily
        from tinyops.workspace import Workspace

        return Workspace.open(self.root)


def _key() -> str:
    h = hashlib.sha256()
    for rel in _KEY_FILES:
        p = SRC / rel
        h.update(rel.encode() + (p.read_bytes() if p.exists() else b"-"))
    h.update((REPO / "examples" / "digits" / "prepare.py").read_bytes())
    h.update(Path(__file__).read_bytes())
    try:
        from importlib import metadata

        h.update(metadata.version("tensorflow-cpu").encode())
    except Exception:  # noqa: BLE001 - only keys the cache
        pass
    return h.hexdigest()[:16]


def _build(dest: Path) -> None:
    import importlib.util

    from tinyops.ml.convert import convert
    from tinyops.ml.train import train
    from tinyops.registry import datasets
    from tinyops.workspace import Workspace

    spec = importlib.util.spec_from_file_location("digits_prepare", REPO / "examples" / "digits" / "prepare.py")
    assert spec and spec.loader
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    ws, _ = Workspace.init(dest)
    csv = prepare.prepare(dest / "data")
    datasets.add_file(ws, "digits", csv)
    shutil.rmtree(dest / "data")
    result = train(ws, dict(TEST_RECIPE), data="digits@1")
    assert result.model == "digits@1", result
    convert(ws, "digits@1", "int8")
    convert(ws, "digits@1", "float16")  # a variant TFLite Micro cannot run (float16 weights)
    # Warm the float-prediction cache for the test split, so evaluating a variant later
    # (delta vs float) needs no TensorFlow import.
    from tinyops.ml import dataprep
    from tinyops.ml.evaluate import keras_predict
    from tinyops.registry import models

    prep, _ = dataprep.rows_for(ws, dataprep.model_spec(ws, models.resolve(ws, "digits@1")), None, "test")
    keras_predict(ws, "digits@1", prep.X)
    # Fold the WAL into the main file so a plain folder copy is a complete workspace.
    ws.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ws.close()


def cached_root() -> Path:
    base = Path(os.environ.get("TINYOPS_TEST_CACHE", Path.home() / ".cache" / "tinyops")) / "test-trained"
    target = base / _key()
    if (target / ".tinyops" / "registry.db").exists():
        return target
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix="build-"))
    try:
        _build(tmp / "ws")
        try:
            os.replace(tmp / "ws", target)
        except OSError:  # another process finished first; theirs is as good
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def copy_to(dest: Path) -> Trained:
    """A private copy of the cached trained workspace at ``dest``."""
    src = cached_root()
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    # Touch the copy once so later openers agree on WAL mode.
    sqlite3.connect(dest / ".tinyops" / "registry.db").close()
    return Trained(dest)


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return copy_to(tmp_path_factory.mktemp("trained") / "ws")


@pytest.fixture()
def fresh_trained_workspace(tmp_path: Path) -> Trained:
    return copy_to(tmp_path / "ws")
