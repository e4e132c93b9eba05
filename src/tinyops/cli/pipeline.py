"""`tinyops pipeline run`: the CI/CD pipeline with gates."""

from __future__ import annotations

import click

from tinyops.errors import GateFailed
from tinyops.pipeline.pipeline import run_pipeline
from tinyops.cli.common import echo_json, json_option, open_workspace


@click.group("pipeline")
def pipeline_group() -> None:
    """Run declared pipelines: data → train → convert → evaluate gates → build → canary → promote."""


def _line(s: dict) -> str:
    mark = {"ran": "✓", "cached": "=", "failed": "✗"}[s["status"]]
    outs = ", ".join(f"{k}={v}" for k, v in s["outputs"].items() if k != "gates" and not isinstance(v, (dict, list)))
    extra = f" ({s['seconds']:.1f} s)" if s["status"] == "ran" else " (inputs unchanged, skipped)" if s["status"] == "cached" else ""
    return f"{mark} {s['step']:<10} {s['kind']:<9}{extra} {outs}"


@pipeline_group.command("run")
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Run every step even when its inputs are unchanged.")
@json_option
@click.pass_context
def run_cmd(ctx: click.Context, pipeline_file: str, force: bool, as_json: bool) -> None:
    """Run PIPELINE_FILE; steps whose inputs are unchanged are skipped, a failing gate stops it.

    Each executed step is recorded as a run (`tinyops runs list`). Exit code 1
    with a report when a gate fails.

    \b
    Example:
      tinyops pipeline run examples/ci/pipeline.toml
    """
    ws = open_workspace(ctx)
    res = run_pipeline(ws, pipeline_file, force=force,
                       progress=None if as_json else (lambda s: click.echo(_line(s))))
    if as_json:
        echo_json(res.to_dict())
    if res.status != "passed":
        raise GateFailed(f"pipeline {res.pipeline} stopped at step '{res.failed_step}': " + " ".join(res.report),
                         hint="fix the cause and run it again; completed steps will be skipped")
    if not as_json:
        click.echo(f"pipeline {res.pipeline} passed")


COMMANDS = [pipeline_group]
