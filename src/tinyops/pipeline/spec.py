"""Pipeline files: declared steps, validated and ordered before anything runs.

```toml
[pipeline]
name = "digits"

[steps.data]                 # kind defaults to the step's name
dataset = "digits"
path = "data/digits.csv"     # relative to this file; or ref = "digits@latest"

[steps.train]
needs = ["data"]             # default: the step declared before
recipe = "recipe.toml"       # or retrain = "digits@production" (data steps give --with)

[steps.convert]
quant = "int8"

[steps.evaluate]
min_accuracy = 0.9           # fraction
max_int8_drop = 1.0          # accuracy points, float → int8
profiles = ["raspberry-pi-4", "qemu-mps2-an386"]   # must fit

[steps.build]
profiles = ["raspberry-pi-4"]

[steps.canary]
kind = "rollout"
group = "field"
profile = "raspberry-pi-4"
canary = "34%"

[steps.promote]
alias = "production"
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyops.errors import InputError

# kind -> allowed keys (beyond kind/needs)
KINDS: dict[str, set[str]] = {
    "data": {"dataset", "path", "ref"},
    "train": {"recipe", "retrain", "seed"},
    "convert": {"quant", "calibration", "samples"},
    "evaluate": {"min_accuracy", "max_int8_drop", "profiles", "data", "runtime"},
    "build": {"profiles"},
    "rollout": {"group", "profile", "canary", "batch", "max_failures", "health_timeout"},
    "promote": {"alias"},
}


@dataclass
class Step:
    name: str
    kind: str
    needs: list[str]
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pipeline:
    name: str
    path: Path
    steps: list[Step]  # in dependency order

    def ancestors(self, step: str) -> list[str]:
        """Every step ``step`` depends on, directly or not, in run order."""
        by = {s.name: s for s in self.steps}
        seen: set[str] = set()
        todo = list(by[step].needs)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(by[n].needs)
        return [s.name for s in self.steps if s.name in seen]


def load(path: str | Path) -> Pipeline:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read pipeline file {p}: {e.strerror}", hint="check the path") from e
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p} is not valid TOML: {e}", hint="fix the syntax") from e
    return parse(raw, p)


def parse(raw: dict[str, Any], path: Path) -> Pipeline:
    unknown = set(raw) - {"pipeline", "steps"}
    if unknown:
        raise InputError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}", hint="use [pipeline] and [steps.NAME]")
    name = (raw.get("pipeline") or {}).get("name") or path.stem
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, dict) or not steps_raw:
        raise InputError(f"{path}: no steps", hint="declare steps as [steps.NAME] tables")
    steps: list[Step] = []
    prev: str | None = None
    for sname, body in steps_raw.items():
        if not isinstance(body, dict):
            raise InputError(f"{path}: steps.{sname} must be a table")
        body = dict(body)
        kind = body.pop("kind", sname)
        if kind not in KINDS:
            raise InputError(f"{path}: step '{sname}' has unknown kind '{kind}'",
                             hint=f"known kinds: {', '.join(KINDS)} (set kind = \"…\" when the name differs)")
        needs = body.pop("needs", [prev] if prev else [])
        if isinstance(needs, str):
            needs = [needs]
        bad = set(body) - KINDS[kind]
        if bad:
            raise InputError(f"{path}: step '{sname}' ({kind}) has unknown key(s) {', '.join(sorted(bad))}",
                             hint=f"{kind} takes: {', '.join(sorted(KINDS[kind]))}")
        steps.append(Step(sname, kind, list(needs), body))
        prev = sname
    return Pipeline(name, path.resolve(), _order(steps, path))


def _order(steps: list[Step], path: Path) -> list[Step]:
    """Topological order (stable: declaration order among ready steps); cycles are errors."""
    by = {s.name: s for s in steps}
    for s in steps:
        for n in s.needs:
            if n not in by:
                raise InputError(f"{path}: step '{s.name}' needs unknown step '{n}'",
                                 hint=f"steps are: {', '.join(by)}")
    state: dict[str, int] = {}
    out: list[Step] = []

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = trail[trail.index(n):] + [n]
            raise InputError(f"{path}: the steps form a cycle: {' → '.join(cycle)}", hint="remove one of these needs")
        state[n] = 1
        for m in by[n].needs:
            visit(m, trail + [n])
        state[n] = 2
        out.append(by[n])

    for s in steps:
        visit(s.name, [])
    return out
