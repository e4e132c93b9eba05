"""Recipe schema: both examples load; every kind of mistake names the key and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyops.errors import InputError
from tinyops.ml import recipes
from paths import REPO


GOOD = {
    "model": {"name": "m"},
    "data": {"inputs": ["p*"], "label": "label"},
    "architecture": {"kind": "mlp", "hidden": [8]},
}


def test_example_recipes_load_with_defaults() -> None:
    digits = recipes.load(REPO / "examples" / "digits" / "recipe.toml")
    assert digits["architecture"]["kind"] == "cnn2d"
    assert digits["data"]["reshape"] == [8, 8, 1]
    assert digits["train"]["early_stopping"]["patience"] >= 1
    activity = recipes.load(REPO / "examples" / "activity" / "recipe.toml")
    assert activity["data"]["inputs"] == ["X"]  # a single string becomes a list
    assert activity["split"]["validation"] == 0.0


def test_defaults_are_filled() -> None:
    r = recipes.validate(GOOD)
    assert r["train"]["seed"] == 42 and r["train"]["optimizer"] == "adam"
    assert r["split"] == {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert r["data"]["features"] == []


@pytest.mark.parametrize("mutate, words", [
    (lambda r: r["train"].update(epochz=3), "unknown key `epochz`"),
    (lambda r: r.update(extra={}), "unknown section [extra]"),
    (lambda r: r["architecture"].update(widht=3), "unknown key `widht`"),
    (lambda r: r["data"].pop("label"), "missing required key `label`"),
    (lambda r: r["train"].update(epochs="ten"), "`epochs` must be int"),
    (lambda r: r["train"].update(epochs=True), "`epochs` must be int"),
    (lambda r: r.update(split={"train": 0.5, "validation": 0.1, "test": 0.1}), "add up to 1"),
    (lambda r: r["train"].update(optimizer="adamax"), "unknown optimizer"),
    (lambda r: r["architecture"].update(kind="transformer"), "unknown architecture"),
    (lambda r: r["architecture"].pop("kind"), "needs a `kind`"),
    (lambda r: r["train"].update(early_stopping={"patience": 2, "mode": "max"}), "unknown key `mode`"),
    (lambda r: r["data"].update(reshape=[8, 0]), "positive integers"),
])
def test_mistakes_are_named(mutate, words: str) -> None:
    import copy

    raw = copy.deepcopy({**GOOD, "train": {}})
    mutate(raw)
    with pytest.raises(InputError) as e:
        recipes.validate(raw)
    assert words in str(e.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    p.write_text("[model\nname = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        recipes.load(p)
    with pytest.raises(InputError, match="cannot read recipe"):
        recipes.load(tmp_path / "nope.toml")


def test_custom_architecture_function_is_checked() -> None:
    r = recipes.validate({**GOOD, "architecture": {"kind": "tinyops.ml.architectures:mlp", "hidden": [4]}})
    assert r["architecture"]["kind"].endswith(":mlp")
    with pytest.raises(InputError, match="no function"):
        recipes.validate({**GOOD, "architecture": {"kind": "tinyops.ml.architectures:nothing"}})
    with pytest.raises(InputError, match="cannot import"):
        recipes.validate({**GOOD, "architecture": {"kind": "no_such_module_x:f"}})
