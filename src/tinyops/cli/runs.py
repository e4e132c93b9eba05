"""`tinyops runs …`: what each training or pipeline step used and produced."""

from __future__ import annotations

import click

from tinyops.registry import runs
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace


@click.group("runs")
def runs_group() -> None:
    """Inspect recorded runs (seed, parameters, data, metrics, environment)."""


@runs_group.command("list")
@click.option("--kind", help="Only runs of this kind (train, pipeline…).")
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, kind: str | None, limit: int, as_json: bool) -> None:
    """List recent runs, newest first.

    \b
    Example:
      tinyops runs list --kind train
    """
    items = runs.list_runs(open_workspace(ctx), kind, limit)
    if as_json:
        echo_json([r.to_dict() for r in items])
        return
    echo_table([{"run": r.id, "kind": r.kind, "status": r.status, "seed": r.seed,
                 "data": ",".join(r.datasets) or None,
                 "metrics": ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in list(r.metrics.items())[:3]) or None,
                 "duration_s": r.duration_s, "started": r.started[:19]} for r in items])


@runs_group.command("show")
@click.argument("run_id")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show everything a run recorded (a unique id prefix is enough).

    \b
    Example:
      tinyops runs show 3fa2
    """
    r = runs.get(open_workspace(ctx), run_id)
    if as_json:
        echo_json(r.to_dict())
        return
    click.echo(f"run {r.id}  ({r.kind}, {r.status})")
    for label, value in (("started", r.started), ("ended", r.ended), ("duration", f"{r.duration_s} s"),
                         ("seed", r.seed), ("git", r.git_commit), ("datasets", ", ".join(r.datasets)),
                         ("features", ", ".join(r.features)), ("error", r.error)):
        if value not in (None, "", "None s"):
            click.echo(f"{label:<9} {value}")
    if r.params:
        click.echo("params:")
        for k, v in sorted(r.params.items()):
            click.echo(f"  {k} = {v}")
    if r.metrics:
        click.echo("metrics:")
        for k, v in r.metrics.items():
            click.echo(f"  {k} = {v}")
    if r.steps:
        click.echo(f"per-step metrics: {len(r.steps)} values ({', '.join(sorted({s['key'] for s in r.steps}))})")
    click.echo("environment: " + ", ".join(f"{k} {v}" for k, v in r.environment.items()))


COMMANDS = [runs_group]
