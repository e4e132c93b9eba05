"""`tinyops fleet …`: publish builds over MQTT and roll them out in stages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from tinyops.errors import InputError
from tinyops.fleet import api, publish as publish_mod
from tinyops.fleet import rollout as rollout_mod
from tinyops.fleet.rollout import Strategy
from tinyops.registry.fleet import Rollout
from tinyops.cli.common import Progress, echo_json, echo_table, human_bytes, json_option, open_workspace, safe


def _pct(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not m:
        raise InputError(f"'{text}' is not a percentage", hint="write e.g. 10%")
    return float(m.group(1))


def _seconds(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*", text)
    if not m:
        raise InputError(f"'{text}' is not a duration", hint="write e.g. 60s, 5m or 1h")
    return float(m.group(1)) * {"ms": 0.001, None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


@click.group("fleet")
def fleet_group() -> None:
    """Publish builds, roll them out to groups of devices, pause, resume, watch and roll back."""


@fleet_group.command("publish")
@click.argument("build_id")
@click.option("--force", is_flag=True, help="Publish again even if already published.")
@json_option
@click.pass_context
def publish_cmd(ctx: click.Context, build_id: str, force: bool, as_json: bool) -> None:
    """Publish a build's signed manifest and chunks (retained), once for the whole fleet.

    \b
    Example:
      tinyops fleet publish 3f2a9c1d
    """
    ws = open_workspace(ctx)
    with Progress("publishing", enabled=not as_json) as progress:
        r = publish_mod.publish(ws, build_id, progress=progress, force=force)
    if as_json:
        echo_json(r.to_dict())
        return
    what = "Already published" if r.already_published else "Published"
    if r.republished:
        what = f"Republished {r.republished} messages the broker had lost of"
    click.echo(f"{what} {r.build} ({r.profile}): {r.chunks} chunks, {human_bytes(r.bundle_bytes)}"
               + ("" if r.already_published else f" in {r.seconds:.2f} s"))


@fleet_group.command("rollout")
@click.argument("build_id")
@click.option("--group", "-g", required=True, help="Devices of this group get the build.")
@click.option("--canary", default="10%", show_default=True, help="Share of the group updated first.")
@click.option("--batch", default="25%", show_default=True, help="Share of the group per later batch.")
@click.option("--max-failures", default="5%", show_default=True, help="Failures tolerated before rolling back.")
@click.option("--health-timeout", default="60s", show_default=True, help="How long a device may take to report.")
@click.option("--deadline", default=None, metavar="SECONDS",
              help="Per-device update deadline; a device not updated by then counts as failed "
                   "[default: 30 s + build size at 50 KB/s].")
@json_option
@click.pass_context
def rollout_cmd(ctx: click.Context, build_id: str, group: str, canary: str, batch: str, max_failures: str,
                health_timeout: str, deadline: str | None, as_json: bool) -> None:
    """Roll a build out: canary, then batches, each gated on reported health; rolls back past the threshold.

    Running it again for the same build and group resumes an interrupted rollout.
    Exits 1 when the rollout was rolled back.

    \b
    Example:
      tinyops fleet rollout 3f2a9c1d --group lab --canary 10% --batch 25% --max-failures 5% --health-timeout 60s --deadline 120s
    """
    ws = open_workspace(ctx)
    strategy = Strategy(canary_pct=_pct(canary), batch_pct=_pct(batch), max_failures_pct=_pct(max_failures),
                        health_timeout_s=_seconds(health_timeout),
                        deadline_s=_seconds(deadline) if deadline is not None else None)

    r = api.rollout_build(ws, build_id, group, strategy, progress=_progress(as_json))
    _finish(ctx, r, as_json)


def _progress(as_json: bool) -> Callable[[dict[str, Any]], None]:
    def progress(p: dict[str, Any]) -> None:
        if not as_json:
            c = p.get("counts") or {}
            counts = " ".join(f"{k}={v}" for k, v in c.items() if v)
            click.echo(safe(f"[rollout {p['rollout']}] {p.get('note', '')}  {counts}".rstrip()))
    return progress


def _finish(ctx: click.Context, r: Rollout, as_json: bool) -> None:
    if as_json:
        echo_json(r.to_dict())
    else:
        click.echo(f"Rollout {r.id}: {r.state}" + (f" — {safe(r.message)}" if r.message else ""))
        for d in r.devices:
            if d.reason:
                click.echo(f"  {d.device}: {d.state} ({safe(d.reason)})")
        if r.state == "paused":
            click.echo(f"Resume it with `tinyops fleet resume {r.id}`.")
    if r.state != "completed":
        ctx.exit(1)


@fleet_group.command("pause")
@click.argument("rollout_id", type=int)
@json_option
@click.pass_context
def pause_cmd(ctx: click.Context, rollout_id: int, as_json: bool) -> None:
    """Pause a running rollout: the current batch finishes, no further batch starts.

    \b
    Example:
      tinyops fleet pause 3
    """
    r = rollout_mod.pause(open_workspace(ctx), rollout_id)
    if as_json:
        echo_json(r.to_dict())
        return
    click.echo(f"Rollout {r.id} paused at batch {r.stage + 1}; resume it with `tinyops fleet resume {r.id}`")


@fleet_group.command("resume")
@click.argument("rollout_id", type=int)
@json_option
@click.pass_context
def resume_cmd(ctx: click.Context, rollout_id: int, as_json: bool) -> None:
    """Resume a paused rollout and drive it to its end from here (as `fleet rollout` does).

    Exits 1 unless the rollout completes.

    \b
    Example:
      tinyops fleet resume 3
    """
    _finish(ctx, api.resume(open_workspace(ctx), rollout_id, progress=_progress(as_json)), as_json)


@fleet_group.command("abort")
@click.argument("rollout_id", type=int)
@json_option
@click.pass_context
def abort_cmd(ctx: click.Context, rollout_id: int, as_json: bool) -> None:
    """Abort a running or paused rollout where it is (nothing is reverted; see `fleet rollback`).

    \b
    Example:
      tinyops fleet abort 3
    """
    r = rollout_mod.abort(open_workspace(ctx), rollout_id)
    if as_json:
        echo_json(r.to_dict())
        return
    click.echo(f"Rollout {r.id} aborted: {' '.join(f'{k}={v}' for k, v in r.counts().items() if v)}")


@fleet_group.command("status")
@click.option("--group", "-g", help="Only devices of this group.")
@click.option("--rollout", "rollout_id", type=int, help="Only devices of this rollout, with their rollout state.")
@click.option("--no-refresh", is_flag=True, help="Do not ask the broker; show what the registry last saw.")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, group: str | None, rollout_id: int | None, no_refresh: bool, as_json: bool) -> None:
    """Devices with their build, state and last seen; recent rollouts.

    \b
    Example:
      tinyops fleet status --group lab --json
    """
    st = api.status(open_workspace(ctx), group, rollout_id, refresh=not no_refresh)
    if as_json:
        echo_json(st)
        return
    if not st["synced_from_broker"]:
        click.echo("(broker unreachable: showing the last known states)")
    cols = ["device", "build", "state", "status", "last_seen", "rollout", "rollout_state", "reason"]
    echo_table(st["devices"], cols)
    if st["rollouts"]:
        click.echo("")
        echo_table([{**r, "counts": " ".join(f"{k}={v}" for k, v in r["counts"].items() if v)} for r in st["rollouts"]],
                   ["rollout", "build", "group", "state", "counts", "message"])


@fleet_group.command("rollback")
@click.argument("rollout_id", type=int)
@click.option("--wait", "wait_s", default="30s", show_default=True, help="How long to wait for devices to revert.")
@json_option
@click.pass_context
def rollback_cmd(ctx: click.Context, rollout_id: int, wait_s: str, as_json: bool) -> None:
    """Roll a rollout back: every device it touched gets its previous build again.

    \b
    Example:
      tinyops fleet rollback 3
    """
    r = api.rollback(open_workspace(ctx), rollout_id, wait_s=_seconds(wait_s))
    if as_json:
        echo_json(r.to_dict())
        return
    c = r.counts()
    click.echo(f"Rollout {r.id} rolled back: {c['reverted']} reverted, {c['reverting']} still reverting")


COMMANDS = [fleet_group]
