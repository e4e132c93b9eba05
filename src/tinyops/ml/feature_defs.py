"""Feature definitions as the user writes them: check a spec, fit its transform,
store it (:mod:`tinyops.registry.features` keeps the versions), apply it to a
dataset version. The transforms themselves are :mod:`tinyops.ml.features`
(numpy only, shared with training and the agent).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops.errors import InputError
from tinyops.ml import features as transforms
from tinyops.registry import datasets
from tinyops.registry import features as store
from tinyops.registry.datasets import DatasetVersion
from tinyops.registry.features import FeatureVersion
from tinyops.registry.refs import Ref, validate_name

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

SPEC_KEYS = ("kind", "description", "tags", "params")


# ---- specs -----------------------------------------------------------------
def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a TOML spec file (checked by :func:`add`)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputError(f"spec file {path} does not exist", hint="write one (see docs/features.md) and pass --spec FILE.toml") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read spec file {path}: {e}", hint="pass a readable UTF-8 TOML file") from e
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path.name} is not valid TOML: {e}", hint="fix the syntax (see docs/features.md for an example)") from e


def check_spec(spec: dict[str, Any]) -> tuple[str, dict[str, Any], str, list[str]]:
    if not isinstance(spec, dict):
        raise InputError("a feature spec must be a table", hint="see docs/features.md for an example")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise InputError(f"unknown key '{unknown[0]}' in the feature spec",
                         hint=f"a spec has: {', '.join(SPEC_KEYS)} (parameters go under [params])")
    kind = spec.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InputError("the feature spec has no 'kind'", hint=f'add kind = "..." (one of: {", ".join(transforms.KINDS)})')
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise InputError("'description' must be a string", hint='write description = "what this feature is for"')
    tags = spec.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise InputError("'tags' must be a list of words", hint='write tags = ["imu", "scaling"]')
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise InputError("'params' must be a table", hint="put the parameters under a [params] header")
    return kind, params, description.strip(), sorted({t.strip() for t in tags})


def code_current(fv: FeatureVersion) -> bool:
    """False when the transform's code changed since ``fv`` was defined."""
    return fv.code_sha256 == transforms.code_hash(fv.kind)


def add(ws: Workspace, name: str, spec: dict[str, Any]) -> tuple[FeatureVersion, bool]:
    """Define the next version of ``name`` from a spec; the same spec again returns the existing version."""
    validate_name(name, "feature name")
    kind, params, description, tags = check_spec(spec)
    params = transforms.validate(kind, params)  # every spec error before any data is read
    fit_dataset = None
    if transforms.needs_fit(kind, params):
        dv = datasets.resolve(ws, params["fit_on"])
        params = transforms.fit(kind, params, datasets.load_arrays(ws, dv))
        params["fit_on"] = fit_dataset = dv.ref  # pinned: "activity" means the version fitted on
    elif "fit_on" in params:
        fit_dataset = params["fit_on"]
    return store.store(ws, name, kind, params, description, tags, transforms.code_hash(kind), fit_dataset)


def revert(ws: Workspace, name: str, version: int) -> FeatureVersion:
    """Make ``name@version``'s definition current again, as a new version (history kept)."""
    old = store.resolve(ws, Ref(name, version=int(version)))
    # The copy records today's code hash: that is the code that will compute it from now on.
    return store.copy_forward(ws, old, transforms.code_hash(old.kind))


def apply(ws: Workspace, fv: FeatureVersion, dv: DatasetVersion, *,
          name: str | None = None) -> tuple[DatasetVersion, bool]:
    """Compute a feature on a dataset version and store the result as a dataset version with lineage.

    The output is named ``name`` (default ``DATASET.FEATURE``); the same result again is the same version.
    """
    out_name = validate_name(name or f"{dv.name}.{fv.name}", "dataset name")
    arrays = transforms.apply(fv.definition, datasets.load_arrays(ws, dv))
    return datasets.add_arrays(ws, out_name, arrays, source=f"feature {fv.ref} applied to {dv.ref}",
                               parents=[dv.ref], feature=fv.ref)
