"""`pipeline run PIPELINE.toml`: data → train → convert → evaluate (gates) → build → canary → promote.

Each step runs with its own declared config plus the outputs of the steps it
depends on. Its *input hash* covers both (files by content, aliases resolved
to versions); a step whose input hash has completed before is skipped and its
recorded outputs reused. Every executed step is a run (kind ``pipeline``) in
the registry; a failing gate fails that run and stops the pipeline with a
report naming every gate and its number.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tinyops.errors import GateFailed, InputError, TinyOpsError
from tinyops.registry import datasets, models, runs
from tinyops.registry import pipelines as cache
from tinyops.pipeline.spec import Pipeline, Step, load

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

Progress = Callable[[dict[str, Any]], None]


@dataclass
class StepResult:
    step: str
    kind: str
    status: str  # ran | cached | failed
    run: str | None
    outputs: dict[str, Any]
    input_hash: str
    seconds: float
    error: str | None = None


@dataclass
class PipelineResult:
    pipeline: str
    status: str  # passed | failed
    steps: list[StepResult] = field(default_factory=list)
    failed_step: str | None = None
    report: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _file_sha(p: Path) -> str:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror}", hint="fix the path in the pipeline file") from e


def _resolved_inputs(ws: Workspace, pl: Pipeline, step: Step) -> dict[str, Any]:
    """The step's config with files replaced by their content hash and aliases by versions."""
    cfg = dict(step.config)
    base = pl.path.parent
    for key in ("path", "recipe"):
        if key in cfg:
            cfg[key + "_sha256"] = _file_sha(base / cfg[key])
    if "retrain" in cfg:
        cfg["retrain_resolved"] = models.resolve(ws, cfg["retrain"]).ref
    if "ref" in cfg:
        cfg["ref_resolved"] = datasets.resolve(ws, cfg["ref"]).ref
    return cfg


def input_hash(kind: str, resolved: dict[str, Any], upstream: dict[str, Any]) -> str:
    text = json.dumps({"kind": kind, "config": resolved, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---- step implementations: (ws, pipeline, config, upstream outputs) -> outputs ----
def _data(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    if "ref" in cfg:
        dv = datasets.resolve(ws, cfg["ref"])
    elif "path" in cfg and "dataset" in cfg:
        dv, _ = datasets.add_file(ws, cfg["dataset"], pl.path.parent / cfg["path"])
    else:
        raise InputError("a data step needs `dataset` and `path`, or `ref`", hint='e.g. ref = "digits-field@latest"')
    return {"datasets": [*up.get("datasets", []), dv.ref]}


def _train(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    if "retrain" in cfg:
        from tinyops.pipeline.retrain import retrain

        res = retrain(ws, cfg["retrain"], list(up.get("datasets", [])), seed=cfg.get("seed"))
        return {"model": res["model"], "train_run": res["run"], "previous": res["previous"],
                "accuracy": res["metrics"].get("accuracy")}
    if "recipe" not in cfg:
        raise InputError("a train step needs `recipe` or `retrain`", hint='e.g. recipe = "recipe.toml"')
    from tinyops.ml.train import train

    data = (up.get("datasets") or [None])[-1]
    res = train(ws, pl.path.parent / cfg["recipe"], seed=cfg.get("seed"), data=data)
    return {"model": res.model, "train_run": res.run, "accuracy": res.metrics.get("accuracy")}


def _convert(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    from tinyops.ml.convert import convert

    model = _need(up, "model", "convert")
    kw = {k: cfg[k] for k in ("calibration", "samples") if k in cfg}
    res = convert(ws, model, cfg.get("quant", "int8"), **kw)
    return {"variant": res.ref, "size_bytes": res.size_bytes}


def _evaluate(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    from tinyops.devices import fit
    from tinyops.ml.evaluate import evaluate

    from tinyops.registry import variants

    variant = _need(up, "variant", "evaluate")
    v = variants.get(ws, variant)  # the convert step's output, as the registry's object
    ev = evaluate(ws, v, data=cfg.get("data"), runtime=cfg.get("runtime"))
    drop = -float(ev.get("accuracy_delta") or 0.0)
    gates: list[dict[str, Any]] = []
    if "min_accuracy" in cfg:
        gates.append({"gate": "min_accuracy", "value": ev["accuracy"], "limit": cfg["min_accuracy"],
                      "passed": ev["accuracy"] >= float(cfg["min_accuracy"]),
                      "text": f"accuracy {ev['accuracy']:.4f} (min {cfg['min_accuracy']})"})
    if "max_int8_drop" in cfg:
        gates.append({"gate": "max_int8_drop", "value": drop, "limit": cfg["max_int8_drop"],
                      "passed": drop <= float(cfg["max_int8_drop"]),
                      "text": f"{variant} is {drop:.2f} points below float (max {cfg['max_int8_drop']})"})
    for prof in cfg.get("profiles", []):
        rep = fit.check(ws, v, prof)
        gates.append({"gate": f"fits {prof}", "value": rep.fits, "limit": True, "passed": rep.fits,
                      "text": f"{prof}: " + ("fits" if rep.fits else "; ".join(rep.problems) or "does not fit")})
    out = {"accuracy": ev["accuracy"], "float_accuracy": ev.get("float_accuracy"), "int8_drop": round(drop, 4),
           "gates": gates}
    failed = [g for g in gates if not g["passed"]]
    if failed:
        raise GateFailed("gate(s) failed: " + "; ".join(g["text"] for g in failed),
                         hint="the model was not built or rolled out; improve the data/recipe or relax the gate")
    return out


def _build(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    from tinyops.devices.build import build
    from tinyops.registry import variants

    variant = variants.get(ws, _need(up, "variant", "build"))
    profiles = cfg.get("profiles") or []
    if not profiles:
        raise InputError("a build step needs `profiles`", hint='e.g. profiles = ["raspberry-pi-4"]')
    return {"builds": {p: build(ws, variant, p).build.id for p in profiles}}


def _pct(v: Any, name: str, default: float) -> float:
    if v is None:
        return default
    try:
        return float(str(v).rstrip("%"))
    except ValueError:
        raise InputError(f"rollout {name} '{v}' is not a percentage", hint='write e.g. "25%"') from None


def _rollout(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    from tinyops.fleet.api import rollout_build
    from tinyops.fleet.rollout import Strategy
    from tinyops.monitor.check import parse_duration

    builds = _need(up, "builds", "rollout")
    prof = cfg.get("profile") or (next(iter(builds)) if len(builds) == 1 else None)
    if prof not in builds:
        raise InputError(f"rollout step: say which build to roll out (profile one of {', '.join(builds)})",
                         hint='add profile = "raspberry-pi-4"')
    if "group" not in cfg:
        raise InputError("a rollout step needs `group`", hint='e.g. group = "field"')
    s = Strategy(canary_pct=_pct(cfg.get("canary"), "canary", 10), batch_pct=_pct(cfg.get("batch"), "batch", 25),
                 max_failures_pct=_pct(cfg.get("max_failures"), "max_failures", 5),
                 health_timeout_s=parse_duration(str(cfg.get("health_timeout", "60s"))))
    r = rollout_build(ws, builds[prof], cfg["group"], s)
    out = {"rollout": r.id, "rollout_state": r.state, "rolled_build": builds[prof], "counts": r.counts()}
    if r.state != "completed":
        raise GateFailed(f"rollout {r.id} of {builds[prof]} to {cfg['group']} ended {r.state}: {r.message}",
                         hint="see `tinyops fleet status --rollout " + str(r.id) + "`; nothing was promoted")
    return out


def _promote(ws: Workspace, pl: Pipeline, cfg: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    model = models.resolve(ws, _need(up, "model", "promote"))
    alias = cfg.get("alias", "production")
    models.set_alias(ws, model.name, alias, model.version)
    return {"promoted": f"{model.name}@{alias}", "version": model.ref}


RUNNERS: dict[str, Callable[[Any, Pipeline, dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
    "data": _data, "train": _train, "convert": _convert, "evaluate": _evaluate, "build": _build,
    "rollout": _rollout, "promote": _promote,
}


def _need(up: dict[str, Any], key: str, kind: str) -> Any:
    if key not in up:
        raise InputError(f"a {kind} step needs a `{key}` from an earlier step", hint="add it to `needs`")
    return up[key]


def run_pipeline(ws: Workspace, path: str | Path, *, force: bool = False, progress: Progress | None = None) -> PipelineResult:
    """Run every step in order; see the module doc for caching and gates."""
    pl = load(path)
    result = PipelineResult(pl.name, "passed")
    outputs: dict[str, dict[str, Any]] = {}
    for step in pl.steps:
        up: dict[str, Any] = {}
        for a in pl.ancestors(step.name):
            up.update(outputs.get(a, {}))
        t0 = time.time()
        run_id: str | None = None
        try:
            resolved = _resolved_inputs(ws, pl, step)
            h = input_hash(step.kind, resolved, up)
            hit = None if force else cache.cached(ws, pl.name, step.name, h)
            if hit is not None:
                outputs[step.name] = hit["outputs"]
                sr = StepResult(step.name, step.kind, "cached", hit["run"], hit["outputs"], h, 0.0)
            else:
                with runs.track(ws, "pipeline", params={"pipeline": pl.name, "step": step.name, "kind": step.kind,
                                                        "config": step.config, "upstream": up, "input_hash": h}) as run:
                    run_id = run.id
                    out = RUNNERS[step.kind](ws, pl, step.config, up)
                    runs.log_params(ws, run.id, {"outputs": out})
                    runs.finish(ws, run.id, {k: v for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
                cache.remember(ws, pl.name, step.name, h, run.id, out)
                outputs[step.name] = out
                sr = StepResult(step.name, step.kind, "ran", run.id, out, h, round(time.time() - t0, 2))
        except TinyOpsError as e:
            sr = StepResult(step.name, step.kind, "failed", run_id, {}, "",
                            round(time.time() - t0, 2), str(e))
            result.steps.append(sr)
            result.status, result.failed_step = "failed", step.name
            result.report = [f"step '{step.name}' ({step.kind}) failed: {e}"]
            if progress:
                progress(asdict(sr))
            return result
        result.steps.append(sr)
        if progress:
            progress(asdict(sr))
    return result
