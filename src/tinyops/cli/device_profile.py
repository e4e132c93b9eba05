"""`tinyops device-profile …`: boards tinyops knows, and whether a model fits one."""

from __future__ import annotations

import click

from tinyops.devices import fit, profiles
from tinyops.cli.common import echo_json, echo_table, human_bytes, json_option, open_workspace, resolve_variant


def _mhz(hz: int) -> str:
    return f"{hz / 1e9:g} GHz" if hz >= 1e9 else f"{hz / 1e6:g} MHz"


@click.group("device-profile")
def device_profile_group() -> None:
    """Device profiles (device_profiles/*.toml) and the fit check."""


@device_profile_group.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the device profiles.

    \b
    Example:
      tinyops device-profile list
    """
    root = _root(ctx)
    rows = [p.to_dict() for p in profiles.list_profiles(root)]
    if as_json:
        echo_json(rows)
        return
    echo_table([{"id": r["id"], "core": r["core"], "clock": _mhz(r["clock_hz"]), "flash": human_bytes(r["flash_bytes"]),
                 "ram": human_bytes(r["ram_bytes"]), "runtime": r["runtime"], "transport": r["transport"]}
                for r in rows])


@device_profile_group.command("show")
@click.argument("profile")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, profile: str, as_json: bool) -> None:
    """Show one profile's facts.

    \b
    Example:
      tinyops device-profile show esp32
    """
    p = profiles.load(profile, _root(ctx))
    if as_json:
        echo_json(p.to_dict())
        return
    click.echo(f"{p.id}  —  {p.name} ({p.vendor}{', emulated' if p.emulated else ''})")
    click.echo(f"cpu        {p.soc}: {p.cores}x {p.core} ({p.arch}) at {_mhz(p.clock_hz)}, "
               f"FPU {'yes' if p.fpu else 'no'}, DSP {'yes' if p.dsp else 'no'}, {p.cycles_per_mac:g} cycles/MAC (estimate)")
    click.echo(f"flash      {human_bytes(p.flash_bytes)} ({human_bytes(p.flash_reserved_bytes)} reserved, "
               f"{p.slots} model slot{'s' if p.slots > 1 else ''})")
    click.echo(f"ram        {human_bytes(p.ram_bytes)} ({human_bytes(p.ram_reserved_bytes)} reserved)")
    click.echo(f"runtime    {p.runtime} ({human_bytes(p.runtime_flash_bytes)} flash, {human_bytes(p.runtime_ram_bytes)} RAM); "
               f"runs {', '.join(p.quantizations)}")
    click.echo(f"ops        {'all builtin ops' if '*' in p.ops else ', '.join(p.ops)}")
    click.echo(f"transport  {p.transport}" + (f" at {p.baud} baud" if p.baud else ""))
    if p.flasher:
        click.echo(f"flasher    {p.flasher} {' '.join(p.flasher_args)}")
    click.echo(f"file       {p.path}")


@device_profile_group.command("check")
@click.argument("ref")
@click.option("--device", "-d", "device", required=True, help="Device profile id (see `device-profile list`).")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, ref: str, device: str, as_json: bool) -> None:
    """Check whether a model variant fits a device; exits 1 when it does not.

    REF is NAME@VERSION:VARIANT (without :VARIANT, the int8 variant).

    \b
    Example:
      tinyops device-profile check digits@1:int8 --device arduino-nano-33-ble-sense
    """
    from tinyops.devices import runtime_compare

    ws = open_workspace(ctx)
    r, rows = runtime_compare.compare(ws, resolve_variant(ws, ref), device)
    if as_json:
        echo_json({**r.to_dict(), "runtimes": [row.to_dict() for row in rows]})
    else:
        print_report(r)
        if len(rows) > 1:
            print_runtimes(rows)
    if not r.fits:
        ctx.exit(1)


def print_report(r: fit.FitReport) -> None:
    ok = lambda need, have: "ok" if need <= have else "TOO BIG"  # noqa: E731
    click.echo(f"{r.model}:{r.variant} on {r.profile} ({r.runtime})")
    click.echo(f"  flash    needs {fit.kb(r.flash_needed_bytes):>9}  of {fit.kb(r.flash_available_bytes):>9} free  "
               f"{ok(r.flash_needed_bytes, r.flash_available_bytes)}  "
               f"(runtime {fit.kb(r.runtime_flash_bytes)} + {r.slots} x model {fit.kb(r.model_bytes)})")
    click.echo(f"  ram      needs {fit.kb(r.ram_needed_bytes):>9}  of {fit.kb(r.ram_available_bytes):>9} free  "
               f"{ok(r.ram_needed_bytes, r.ram_available_bytes)}  "
               f"(runtime {fit.kb(r.runtime_ram_bytes)} + arena {r.arena_bytes} B, {r.arena_source})")
    click.echo(f"  ops      {', '.join(r.ops)}" + (f"  — unsupported: {', '.join(r.unsupported_ops)}" if r.unsupported_ops else ""))
    click.echo(f"  latency  ~{r.latency_estimate_ms:.3g} ms (estimate: {r.macs} MACs x cycles/MAC / clock)")
    if r.fits:
        click.echo("  verdict  fits")
    else:
        click.echo("  verdict  does not fit: " + "; ".join(r.problems))


def print_runtimes(rows) -> None:
    """Every runtime the board can run, side by side; * = auto's pick."""
    click.echo("  runtimes (instructions on QEMU mps2-an386, ms at the profile clock at 1 instruction/cycle):")
    for row in rows:
        instr = f"{row.instructions_per_inference:>12,}" if row.instructions_per_inference else f"{'-':>12}"
        ms = f"{row.ms_at_profile_clock:>9.2f} ms" if row.ms_at_profile_clock is not None else f"{'-':>12}"
        why = "" if row.fits else ("lacks " + ", ".join(row.unsupported_ops) if row.unsupported_ops else "does not fit")
        click.echo(f"  {'*' if row.auto else ' '} {row.runtime:<14} flash {fit.kb(row.flash_needed_bytes):>8}  "
                   f"ram {fit.kb(row.ram_needed_bytes):>8}  arena {row.arena_bytes:>7} B  {instr} instr  {ms}  "
                   f"{why or row.note}")


def _root(ctx: click.Context):
    """The workspace root if there is one: its device_profiles/ folder adds boards."""
    from tinyops.errors import WorkspaceError

    try:
        return open_workspace(ctx).root
    except WorkspaceError:
        return None


COMMANDS = [device_profile_group]
