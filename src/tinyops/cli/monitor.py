"""`tinyops monitor watch`: drift checks on a timer, the pipeline when drift fires."""

from __future__ import annotations

import signal
import threading

import click

from tinyops.monitor.drift import Thresholds
from tinyops.pipeline.watch import watch
from tinyops.cli.common import echo_json, json_option, open_workspace


@click.group("monitor")
def monitor_group() -> None:
    """Watch the fleet and react to drift."""


@monitor_group.command("watch")
@click.argument("target")
@click.option("--on-drift", "pipeline", required=True, type=click.Path(dir_okay=False), help="Pipeline to run on drift.")
@click.option("--group", help="Cohort to check (default: every device).")
@click.option("--window", default="1h", show_default=True, help="Telemetry period each check covers.")
@click.option("--interval", default="5m", show_default=True, help="Time between checks.")
@click.option("--cooldown", default="1h", show_default=True, help="Least time between two pipeline runs.")
@click.option("--once", is_flag=True, help="Check once, run the pipeline if needed, and exit.")
@json_option
@click.pass_context
def watch_cmd(ctx: click.Context, target: str, pipeline: str, group: str | None, window: str, interval: str,
              cooldown: str, once: bool, as_json: bool) -> None:
    """Check TARGET for drift every --interval; run --on-drift PIPELINE when drift is found.

    \b
    Example:
      tinyops monitor watch digits@production:int8 --on-drift examples/ci/retrain.toml --group field
    """
    ws = open_workspace(ctx)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def show(ev) -> None:  # type: ignore[no-untyped-def]
        if as_json:
            return
        msg = f"check {ev.check}: " + (f"DRIFT on {', '.join(ev.drifted_devices) or 'cohort'}" if ev.drift else "no drift")
        if ev.pipeline:
            msg += f" → pipeline {ev.pipeline['status']}"
        click.echo(msg)

    res = watch(ws, target, pipeline, group=group, window=window, interval=interval, cooldown=cooldown,
                thresholds=Thresholds(), once=once, stop=stop, on_event=show)
    if as_json:
        echo_json(res.to_dict())


COMMANDS = [monitor_group]
