"""Shipped scikit-learn recipes, input normalisation, module:function beside the recipe, value checks."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from paths import EXAMPLES


def _runs(root: Path) -> int:
    with sqlite3.connect(root / ".tinyops/registry.db") as c:
        return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_wine_recipe_with_normalisation_reaches_95_percent(tiny, tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(EXAMPLES / "wine" / "prepare.py"), str(tmp_path)], check=True,
                   capture_output=True)
    tiny("data", "add", "wine", str(tmp_path / "wine.csv"))
    r = tiny.json("train", str(EXAMPLES / "wine" / "recipe.toml"))
    assert r["metrics"]["accuracy"] >= 0.95, r["metrics"]


def test_breast_cancer_prepare_writes_the_bundled_set(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(EXAMPLES / "breast_cancer" / "prepare.py"), str(tmp_path)], check=True,
                   capture_output=True)
    lines = (tmp_path / "breast-cancer.csv").read_text().splitlines()
    assert len(lines) == 570 and lines[0].endswith(",label") and lines[0].count(",") == 30


def test_module_function_beside_the_recipe_needs_no_pythonpath(tiny, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "my_arch_beside.py").write_text(
        "def tiny_net(input_shape, num_classes, batch_size=None, units=8):\n"
        "    import keras\n"
        "    inp = keras.Input(input_shape, batch_size=batch_size)\n"
        "    x = keras.layers.Dense(units, activation='relu')(inp)\n"
        "    return keras.Model(inp, keras.layers.Dense(num_classes, activation='softmax')(x))\n")
    (folder / "recipe.toml").write_text(
        '[model]\nname = "own"\n[data]\ninputs = ["a", "b"]\nlabel = "label"\n'
        '[architecture]\nkind = "my_arch_beside:tiny_net"\nunits = 4\n[train]\nepochs = 2\n')
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(60)))
    tiny("data", "add", "d", str(tmp_path / "d.csv"))
    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    assert tiny.json("train", str(folder / "recipe.toml"), "--data", "d@1")["model"] == "own@1"


@pytest.mark.parametrize("line, message", [
    ('filters = "32"', "must be a non-empty list"),
    ("filters = [32]\nkernel_size = -3", "`kernel_size` of `cnn1d` is out of range"),
    ("dropout = 1.5", "must be in [0, 1)"),
    ("normalize = 1", "must be true or false"),
    ("pool = 1e9", "must be an integer"),
])
def test_bad_architecture_values_are_one_clear_error_and_no_run(tiny, tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(20)))
    tiny("data", "add", "d", str(tmp_path / "d.csv"))
    (tmp_path / "r.toml").write_text('[model]\nname = "m"\n[data]\ninputs = ["a", "b"]\nlabel = "label"\n'
                                     f'reshape = [2, 1]\n[architecture]\nkind = "cnn1d"\n{line}\n')
    res = tiny("train", str(tmp_path / "r.toml"), "--data", "d@1", code=1)
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert _runs(tiny.root) == 0
