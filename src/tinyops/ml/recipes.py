"""Training recipes: a small TOML file that says what to train on and how.

A recipe is validated completely before anything runs, so a typo (an unknown key,
a wrong type, fractions that do not add up) fails at once with a message naming
the key, instead of half-way through training. Example::

    [model]
    name = "digits"                      # registered as digits@N

    [data]
    dataset = "digits@1"                 # `tinyops train --data` overrides it
    inputs = ["p*"]                      # columns (glob patterns) or one array key
    label = "label"
    reshape = [8, 8, 1]                  # per-sample shape fed to the model
    features = []                        # feature definitions applied in order

    [split]
    train = 0.8
    validation = 0.1
    test = 0.1

    [architecture]
    kind = "cnn2d"                       # or "package.module:function"
    filters = [8, 16]

    [train]
    epochs = 30
    batch_size = 32
    optimizer = "adam"
    learning_rate = 0.003
    seed = 42
    early_stopping = { patience = 5, monitor = "val_loss" }
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from tinyops.errors import InputError

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")

# Section → key → (accepted python types, default). A default of ``...`` means required.
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "model": {
        "name": ((str,), ...),
        "description": ((str,), ""),
    },
    "data": {
        "dataset": ((str,), None),
        "inputs": ((list, str), ...),
        "label": ((str,), ...),
        "reshape": ((list,), None),
        "features": ((list,), []),
    },
    "split": {
        "train": ((float, int), 0.8),
        "validation": ((float, int), 0.1),
        "test": ((float, int), 0.1),
    },
    "train": {
        "epochs": ((int,), 20),
        "batch_size": ((int,), 32),
        "optimizer": ((str,), "adam"),
        "learning_rate": ((float, int), 0.001),
        "seed": ((int,), 42),
        "early_stopping": ((dict, bool), False),
    },
    # How drift monitoring sees the input: "none" (every element is a feature) or
    # "last-axis" (one feature per position on the last axis, e.g. per IMU channel).
    "monitor": {
        "pooling": ((str,), "none"),
    },
}
POOLINGS = ("none", "last-axis")
_EARLY_STOPPING = {"patience": ((int,), 5), "monitor": ((str,), "val_loss"), "restore_best_weights": ((bool,), True)}
# The architecture section is open (its keys are the block's parameters) except for `kind`.
_SECTIONS = ("model", "data", "split", "architecture", "train", "monitor")


def load(path: Path | str) -> dict[str, Any]:
    """Read and validate a recipe file. Returns the normalised recipe (all defaults filled in)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(f"cannot read recipe {path}: {e.strerror}", hint="check the path") from e
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"recipe {path} is not valid TOML: {e}", hint="fix the syntax at that line") from e
    return validate(raw, source=str(path), base_dir=str(path.resolve().parent))


def validate(raw: dict[str, Any], *, source: str = "recipe", base_dir: str | None = None) -> dict[str, Any]:
    """Check every section and key; fill defaults. Raises :class:`InputError` naming the bad key."""
    raw = copy.deepcopy(raw)
    for section in raw:
        if section not in _SECTIONS:
            raise InputError(f"{source}: unknown section [{section}]",
                             hint=f"valid sections are {', '.join(f'[{s}]' for s in _SECTIONS)}")
    out: dict[str, Any] = {}
    for section, keys in _SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise InputError(f"{source}: [{section}] must be a table", hint=f"write it as a [{section}] section")
        out[section] = _check_table(given, keys, f"{source} [{section}]")
    arch = raw.get("architecture")
    if not isinstance(arch, dict) or "kind" not in arch:
        raise InputError(f"{source}: [architecture] needs a `kind`",
                         hint="e.g. kind = \"cnn2d\" (mlp, cnn1d, cnn2d, dscnn) or kind = \"package.module:function\"")
    if not isinstance(arch["kind"], str):
        raise InputError(f"{source} [architecture]: kind must be a string", hint="e.g. kind = \"mlp\"")
    out["architecture"] = dict(arch)
    from tinyops.ml.architectures import check_params  # no TensorFlow import: only signatures are read

    try:
        check_params(arch["kind"], {k: v for k, v in arch.items() if k != "kind"}, base_dir)
    except InputError as e:
        raise InputError(f"{source}: {e.message}", hint=e.hint) from None
    _check_semantics(out, source)
    return out


def _check_table(given: dict[str, Any], keys: dict[str, tuple[tuple[type, ...], Any]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in keys:
            raise InputError(f"{where}: unknown key `{key}`", hint=f"valid keys are {', '.join(keys)}")
    for key, (types, default) in keys.items():
        if key not in given:
            if default is ...:
                raise InputError(f"{where}: missing required key `{key}`", hint=f"add `{key} = ...` to the recipe")
            out[key] = copy.deepcopy(default)
            continue
        value = given[key]
        # bool is an int in Python; reject True where a number is meant.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            raise InputError(f"{where}: `{key}` must be {names}, got {value!r}", hint="fix its value")
        out[key] = value
    return out


def _check_semantics(r: dict[str, Any], source: str) -> None:
    data, split, train = r["data"], r["split"], r["train"]
    if isinstance(data["inputs"], str):
        data["inputs"] = [data["inputs"]]
    if not data["inputs"] or not all(isinstance(c, str) for c in data["inputs"]):
        raise InputError(f"{source} [data]: `inputs` must be a non-empty list of names", hint='e.g. inputs = ["p*"]')
    if data["reshape"] is not None and not all(isinstance(d, int) and d > 0 for d in data["reshape"]):
        raise InputError(f"{source} [data]: `reshape` must be a list of positive integers", hint="e.g. reshape = [8, 8, 1]")
    if not all(isinstance(f, str) for f in data["features"]):
        raise InputError(f"{source} [data]: `features` must be a list of references", hint='e.g. features = ["std@1"]')
    fractions = [float(split[k]) for k in ("train", "validation", "test")]
    if any(f < 0 for f in fractions) or split["train"] <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise InputError(f"{source} [split]: fractions must be >= 0, train > 0, and add up to 1 (got {fractions})",
                         hint="e.g. train = 0.8, validation = 0.1, test = 0.1")
    if train["epochs"] < 1 or train["batch_size"] < 1:
        raise InputError(f"{source} [train]: epochs and batch_size must be >= 1", hint="fix those values")
    if train["optimizer"] not in OPTIMIZERS:
        raise InputError(f"{source} [train]: unknown optimizer `{train['optimizer']}`",
                         hint=f"use one of {', '.join(OPTIMIZERS)}")
    if train["learning_rate"] <= 0:
        raise InputError(f"{source} [train]: learning_rate must be > 0", hint="e.g. learning_rate = 0.001")
    es = train["early_stopping"]
    if es is True:
        es = {}
    if isinstance(es, dict):
        train["early_stopping"] = _check_table(es, _EARLY_STOPPING, f"{source} [train.early_stopping]")
        if train["early_stopping"]["patience"] < 1:
            raise InputError(f"{source} [train.early_stopping]: patience must be >= 1", hint="e.g. patience = 5")
