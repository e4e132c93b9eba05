"""`tinyops telemetry …`: collect windows from the fleet, show what arrived."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading

import click

from tinyops.monitor.collector import collect
from tinyops.monitor.overview import overview
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace, safe


@click.group("telemetry")
def telemetry_group() -> None:
    """Collect and inspect device telemetry windows."""


@telemetry_group.command("collect")
@click.option("--broker", "broker_url", help="mqtt://USER:PASS@HOST:PORT or mqtts://… (default: this workspace's broker).")
@click.option("--ca", "ca_file", type=click.Path(dir_okay=False), help="CA certificate for an mqtts:// broker URL.")
@click.option("--duration", type=float, help="Stop after this many seconds (default: run until Ctrl-C / SIGTERM).")
@click.option("--share-group", default="collectors", show_default=True, help="Shared-subscription group name.")
@json_option
@click.pass_context
def collect_cmd(ctx: click.Context, broker_url: str | None, ca_file: str | None, duration: float | None,
                share_group: str, as_json: bool) -> None:
    """Store telemetry windows from the fleet (long-running; run several to split the load).

    Every message is validated; malformed, oversized, spoofed or unknown-build
    messages are kept in a rejects table and never stop the collector.

    \b
    Example:
      tinyops telemetry collect
      tinyops telemetry collect --broker mqtt://tinyops-host:secret@localhost:1883 --duration 60
    """
    ws = open_workspace(ctx)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    live = not as_json and sys.stderr.isatty()  # on a pipe or with --json: only the result
    if live:
        click.echo("Collecting telemetry (Ctrl-C to stop)…", err=True)

    def show(s: dict) -> None:
        click.echo(f"\r{s['windows_per_s']:7.0f} windows/s  stored {s['stored']}  rejected {s['rejected']}"
                   f"  duplicates {s['duplicates']}  ({s['seconds']:.0f} s)\x1b[K", nl=False, err=True)

    stats = collect(ws, broker_url, ca_file=ca_file, duration=duration, share_group=share_group, stop_event=stop,
                    progress=show if live else None)
    if live:
        click.echo("", err=True)
    if as_json:
        echo_json(stats)
    else:
        click.echo(f"Stored {stats['stored']} windows ({stats['duplicates']} duplicates ignored), "
                   f"rejected {stats['rejected']}, in {stats['seconds']:.1f} s")


def _ts(v: float | None) -> str:
    return "-" if v is None else dt.datetime.fromtimestamp(v, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@telemetry_group.command("show")
@click.option("--device", help="One device: totals and its last windows.")
@click.option("--group", help="Devices of one group.")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, device: str | None, group: str | None, as_json: bool) -> None:
    """Show stored telemetry per device and build, recent windows, and rejects.

    \b
    Example:
      tinyops telemetry show --group field
      tinyops telemetry show --device pi-1 --json
    """
    data = overview(open_workspace(ctx), device=device, group=group)
    if as_json:
        echo_json(data)
        return
    echo_table(data["devices"], ["device", "build", "windows", "inferences", "errors", "latency_p95_ms",
                                 "confidence_mean", "last_window_end"], {"last_window_end": _ts})
    if data["windows"]:
        click.echo("\nLast windows:")
        echo_table([{**w, "end": _ts(w["end"]), "p95_ms": (w["latency_ms"] or {}).get("p95"),
                     "predictions": ",".join(f"{k}:{v}" for k, v in sorted(w["predictions"].items()))}
                    for w in data["windows"]], ["end", "build", "count", "p95_ms", "confidence_mean", "errors", "predictions"])
    if data["rejects"]:
        click.echo(f"\nRejected messages (latest of {data['totals']['rejects']}):")
        echo_table([{**r, "received": _ts(r["received"])} for r in data["rejects"]],
                   ["received", "device", "size", "reason"])


@telemetry_group.command("feed")
@click.argument("data")
@click.option("--agent", help="A Pi agent's local endpoint, e.g. http://127.0.0.1:8765.")
@click.option("--port", help="A microcontroller's serial URL (this command acts as its gateway).")
@click.option("--device", help="Device id of the microcontroller (with --port).")
@click.option("--build", help="Build flashed on the microcontroller (with --port).")
@click.option("--rows", type=int, default=300, show_default=True, help="Inferences to run.")
@click.option("--gain", help="Sensor fault: CHANNELS=FACTOR on the input's last axis (an image: element indices), "
              "e.g. 19,20,27=1.4.")
@click.option("--offset", help="Sensor fault: CHANNELS=VALUE added, e.g. 3,4=2.0.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Which rows are drawn (and which of them an MCU window keeps as samples).")
@click.option("--reservoir", type=int, default=0, show_default=True,
              help="MCU windows carry this many raw samples (for retraining).")
@click.option("--period", type=int, default=100, show_default=True, help="MCU: inferences per published window.")
@click.option("--broker", "broker_url", help="Where MCU windows go (default: this workspace's broker).")
@json_option
@click.pass_context
def feed_cmd(ctx: click.Context, data: str, agent: str | None, port: str | None, device: str | None,
             build: str | None, rows: int, gain: str | None, offset: str | None, seed: int, reservoir: int,
             period: int, broker_url: str | None, as_json: bool) -> None:
    """Run rows of dataset DATA on one device, optionally through a simulated sensor fault.

    For demos and soak tests: the agent (or, for --port, this command as the
    MCU's gateway) publishes the telemetry windows the collector stores.

    \b
    Example:
      tinyops telemetry feed digits@1 --agent http://127.0.0.1:8765 --gain 19,20,27,28=1.4
      tinyops telemetry feed digits@1 --port socket://127.0.0.1:5555 --device mcu-1 --build 3f2a9c01 --reservoir 16
    """
    from tinyops.monitor.feed import feed, parse_fault

    res = feed(open_workspace(ctx), data, agent=agent, port=port, device=device, build=build, rows=rows,
               gain=parse_fault(gain), offset=parse_fault(offset), seed=seed, reservoir=reservoir, period=period,
               broker_url=broker_url)
    if as_json:
        echo_json(res)
    else:
        mix = safe(", ".join(f"{k}:{v}" for k, v in sorted(res["predictions"].items())))
        click.echo(f"Ran {res['rows']} inferences on {res['device']} (build {res['build']}); predictions {mix}"
                   + (f"; published {res['windows']} windows" if res["windows"] else "")
                   + (f"; device-computed features equal the host's in {res['feature_windows_identical']} of "
                      f"{res['windows']} windows" if "feature_windows_identical" in res else ""))


COMMANDS = [telemetry_group]
