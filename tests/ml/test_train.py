"""Training: determinism, what the run records, lineage, and bad input leaving nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tinyops.errors import InputError, NotFoundError
from tinyops.registry import datasets, models, runs
from tinyops.workspace import Workspace
from paths import REPO

TINY = {
    "model": {"name": "digits"},
    "data": {"inputs": ["p*"], "label": "label", "reshape": [8, 8, 1]},
    "split": {"train": 0.7, "validation": 0.1, "test": 0.2},
    "architecture": {"kind": "cnn2d", "filters": [4], "dense": 0},
    "train": {"epochs": 2, "batch_size": 64, "learning_rate": 0.01, "seed": 5},
}


@pytest.fixture(scope="module")
def digits_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits")
    subprocess.run([sys.executable, str(REPO / "examples" / "digits" / "prepare.py"), str(out)], check=True,
                   capture_output=True)
    files = list(out.iterdir())
    assert [f.name for f in files] == ["digits.csv"]  # exactly one dataset file
    return files[0]


@pytest.fixture()
def ws(tmp_path: Path, digits_csv: Path) -> Workspace:
    w, _ = Workspace.init(tmp_path / "ws")
    datasets.add_file(w, "digits", digits_csv)
    return w


def _counts(w: Workspace) -> tuple[int, int]:
    return len(runs.list_runs(w)), len(models.list_models(w))


def test_same_recipe_data_seed_gives_identical_metrics_and_weights(ws: Workspace) -> None:
    from tinyops.ml.train import train

    a = train(ws, TINY, data="digits@1")
    b = train(ws, TINY, data="digits@1")
    assert (a.model, b.model) == ("digits@1", "digits@2")
    assert a.weights_sha256 == b.weights_sha256
    assert a.metrics == b.metrics
    steps_a = [s for s in runs.get(ws, a.run).steps]
    steps_b = [s for s in runs.get(ws, b.run).steps]
    assert steps_a == steps_b and len(steps_a) > 0  # per-epoch losses identical too
    c = train(ws, TINY, data="digits@1", seed=6)
    assert c.weights_sha256 != a.weights_sha256  # the seed matters, so the test above can fail


def test_run_records_everything_and_model_has_lineage(ws: Workspace) -> None:
    from tinyops.ml.train import train

    r = train(ws, TINY, data="digits@1", seed=11)
    run = runs.get(ws, r.run)
    assert run.status == "finished" and run.seed == 11 and run.kind == "train"
    assert run.datasets == ["digits@1"]
    assert run.recipe["architecture"]["kind"] == "cnn2d"
    assert run.params["labels"] == [str(i) for i in range(10)]
    assert run.params["input_shape"] == [8, 8, 1]
    assert sum(run.params["split_rows"].values()) == 1797
    assert 0.0 <= run.metrics["accuracy"] <= 1.0 and "confusion_matrix" in run.metrics
    assert "tensorflow" in run.environment
    mv = models.resolve(ws, r.model)
    assert mv.run_id == r.run
    lin = models.lineage(ws, r.model)
    assert lin["run"]["id"] == r.run and lin["datasets"][0]["ref"] == "digits@1"
    # the registered artifact has batch size 1 (what converters and TFLM want)
    import zipfile, io  # noqa: E401

    cfg = json.loads(zipfile.ZipFile(io.BytesIO(models.artifact_bytes(ws, mv))).read("config.json"))
    assert '"batch_shape": [1, 8, 8, 1]' in json.dumps(cfg) or "[1, 8, 8, 1]" in json.dumps(cfg)


@pytest.mark.parametrize("change, error, words", [
    (lambda r: r["train"].update(epochz=1), InputError, "unknown key `epochz`"),
    (lambda r: r["data"].update(label="digit"), InputError, "no label column `digit`"),
    (lambda r: r["data"].update(inputs=["q*"]), InputError, "no column or array matches"),
    (lambda r: r["data"].update(reshape=[9, 9, 1]), InputError, "cannot be reshaped"),
    (lambda r: r["data"].update(features=["nofeature@1"]), NotFoundError, "nofeature"),
])
def test_bad_input_registers_nothing(ws: Workspace, change, error: type, words: str) -> None:
    import copy

    from tinyops.ml.train import train

    recipe = copy.deepcopy(TINY)
    change(recipe)
    before = _counts(ws)
    with pytest.raises(error) as e:
        train(ws, recipe, data="digits@1")
    assert words in str(e.value)
    assert _counts(ws) == before


def test_missing_dataset_registers_nothing(ws: Workspace) -> None:
    from tinyops.ml.train import train

    with pytest.raises(NotFoundError, match="digits@9"):
        train(ws, TINY, data="digits@9")
    with pytest.raises(InputError, match="no dataset given"):
        train(ws, TINY)
    assert _counts(ws) == (0, 0)


def test_feature_definitions_are_applied_and_recorded(ws: Workspace, tmp_path: Path) -> None:
    import copy

    from tinyops.ml.train import train
    from tinyops.ml import feature_defs as features

    spec = {"kind": "clip_scale", "params": {"key": [f"p{i}" for i in range(64)], "low": 0.0, "high": 16.0,
                                             "out_low": 0.0, "out_high": 1.0}}
    fv, _ = features.add(ws, "pix01", spec)
    recipe = copy.deepcopy(TINY)
    recipe["data"]["features"] = [fv.ref]
    r = train(ws, recipe, data="digits@1")
    assert runs.get(ws, r.run).features == [fv.ref]
    assert models.lineage(ws, r.model)["features"] == [fv.ref]


def test_cli_train_json(tmp_path: Path, digits_csv: Path) -> None:
    w, _ = Workspace.init(tmp_path / "cli")
    datasets.add_file(w, "digits", digits_csv)
    recipe = tmp_path / "r.toml"
    recipe.write_text((REPO / "examples" / "digits" / "recipe.toml").read_text()
                      .replace("epochs = 30", "epochs = 1").replace("filters = [32, 64]", "filters = [4]"))
    out = subprocess.run(["tinyops", "--workspace", str(tmp_path / "cli"), "train", str(recipe), "--data", "digits@1",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # stdout is pure JSON: TensorFlow's chatter went to stderr
    assert data["model"] == "digits@1" and len(data["run"]) == 12
    bad = subprocess.run(["tinyops", "--workspace", str(tmp_path / "cli"), "train", str(recipe), "--data", "nope@1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no dataset named 'nope'" in bad.stderr
