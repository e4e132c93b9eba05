"""Pipelines: declared steps in order, input-hash caching, gates that stop with a report, bad files."""

from __future__ import annotations

import pytest
from fixtures_builds import trained_template, trained_ws  # noqa: F401

from tinyops.errors import InputError
from tinyops.pipeline.pipeline import run_pipeline
from tinyops.pipeline.spec import load
from tinyops.registry import builds, models, runs
from paths import EXAMPLES

RECIPE = """
[model]
name = "digits"
[data]
dataset = "digits@1"
inputs = ["p*"]
label = "label"
[architecture]
kind = "mlp"
hidden = [32]
[train]
epochs = 4
learning_rate = 0.003
seed = 7
"""

PIPELINE = """
[pipeline]
name = "digits-ci"

[steps.data]
ref = "digits@1"

[steps.train]
recipe = "recipe.toml"

[steps.convert]
quant = "int8"

[steps.evaluate]
min_accuracy = {min_acc}
max_int8_drop = 5.0
profiles = ["raspberry-pi-4"]

[steps.build]
profiles = ["raspberry-pi-4"]

[steps.promote]
alias = "production"
"""


def write(tmp_path, min_acc: float):
    (tmp_path / "recipe.toml").write_text(RECIPE)
    p = tmp_path / f"pipeline-{min_acc}.toml"
    p.write_text(PIPELINE.format(min_acc=min_acc))
    return p


def test_pipeline_runs_caches_and_gates(trained_ws, tmp_path):  # noqa: F811
    ws = trained_ws
    res = run_pipeline(ws, write(tmp_path, 0.5))
    assert res.status == "passed", res.report
    assert [s.status for s in res.steps] == ["ran"] * 6
    model = res.steps[1].outputs["model"]
    assert model == "digits@2" and models.resolve(ws, "digits@production").ref == model
    build_id = res.steps[4].outputs["builds"]["raspberry-pi-4"]
    assert builds.get(ws, build_id).model == model
    assert all(runs.get(ws, s.run).kind == "pipeline" for s in res.steps)

    again = run_pipeline(ws, write(tmp_path, 0.5))
    assert [s.status for s in again.steps] == ["cached"] * 6
    assert len(models.list_versions(ws, "digits")) == 2  # nothing retrained

    n_builds = len(builds.list_builds(ws))
    models.set_alias(ws, "digits", "production", 1)
    strict = run_pipeline(ws, write(tmp_path, 0.999))
    assert strict.status == "failed" and strict.failed_step == "evaluate"
    assert [s.status for s in strict.steps] == ["cached", "cached", "cached", "failed"]
    assert "accuracy" in strict.report[0] and "min 0.999" in strict.report[0]
    assert runs.get(ws, strict.steps[-1].run).status == "failed"
    assert len(builds.list_builds(ws)) == n_builds
    assert models.resolve(ws, "digits@production").version == 1  # not promoted

    from conftest import Tiny
    cli = Tiny(ws.root)
    out = cli("pipeline", "run", str(write(tmp_path, 0.999)), code=1)
    assert "stopped at step 'evaluate'" in out.output and "min 0.999" in out.output
    ok = cli("pipeline", "run", str(write(tmp_path, 0.5)), code=0).stdout
    assert ok.count("inputs unchanged") == 6 and "passed" in ok


@pytest.mark.parametrize("text, msg", [
    ('[steps.deploy]\nfoo = 1\n', "unknown kind"),
    ('[steps.a]\nkind = "data"\nneeds = ["b"]\nref = "x@1"\n[steps.b]\nkind = "train"\nneeds = ["a"]\nrecipe = "r"\n', "cycle"),
    ('[steps.a]\nkind = "data"\nneeds = ["zzz"]\n', "unknown step"),
    ('[steps.train]\nrecipe = "r.toml"\nepochs = 3\n', "unknown key"),
    ('[pipeline]\nname = "x"\n', "no steps"),
    ('[steps\n', "not valid TOML"),
])
def test_bad_pipeline_files(tmp_path, text, msg):
    p = tmp_path / "p.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=msg):
        load(p)


def test_example_pipelines_parse():
    from pathlib import Path

    ci = EXAMPLES / "ci"
    assert [s.kind for s in load(ci / "pipeline.toml").steps] == \
        ["data", "train", "convert", "evaluate", "build", "rollout", "promote"]
    assert load(ci / "retrain.toml").steps[1].config == {"retrain": "digits@production"}
