"""`tinyops build` and `tinyops builds …`: signed device builds."""

from __future__ import annotations

import click

from tinyops.devices import build as device_build
from tinyops.devices import bundle
from tinyops.errors import SignatureError
from tinyops.registry import builds
from tinyops.cli.common import echo_json, echo_table, human_bytes, json_option, open_workspace, resolve_variant
from tinyops.cli.device_profile import print_report


@click.command("build")
@click.argument("ref")
@click.option("--device", "-d", "device", required=True, help="Device profile id (see `device-profile list`).")
@click.option("--runtime", type=click.Choice(["auto", "tinyops-c", "tflm", "tflm-cmsis-nn"]), default="auto",
              show_default=True, help="Model runtime on a microcontroller: auto = tinyops-c when it has every op, "
              "else TFLM (CMSIS-NN kernels on Cortex-M).")
@json_option
@click.pass_context
def build_cmd(ctx: click.Context, ref: str, device: str, runtime: str, as_json: bool) -> None:
    """Build a model variant for a device: TFLM export, model image, golden vectors, signed manifest.

    REF is NAME@VERSION:VARIANT (without :VARIANT, the int8 variant). The same
    variant and profile always give the same build id.

    \b
    Example:
      tinyops build digits@1:int8 --device qemu-mps2-an386
    """
    ws = open_workspace(ctx)
    r = device_build.build(ws, resolve_variant(ws, ref), device, runtime=runtime)
    if as_json:
        echo_json(r.to_dict())
        return
    print_report(r.fit)
    verb = "Built" if r.created else "Already built"
    click.echo(f"{verb} {r.build.id}  ({r.build.model}:{r.build.variant} for {r.build.profile}, {r.build.runtime})")
    if r.key_created:
        click.echo(f"Created a signing key; devices pin {r.public_key}")
    for name, sha in r.build.files.items():
        click.echo(f"  {name:<16} {sha[:12]}")
    for note in r.notes:
        click.echo(f"note: {note}")


@click.group("builds")
def builds_group() -> None:
    """Registered device builds: list, show, export, verify."""


@builds_group.command("list")
@click.option("--model", help="Only builds of this model (NAME or NAME@V).")
@click.option("--device", "-d", "device", help="Only builds for this profile.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, model: str | None, device: str | None, as_json: bool) -> None:
    """List device builds.

    \b
    Example:
      tinyops builds list --device raspberry-pi-4
    """
    rows = [b.to_dict() for b in builds.list_builds(open_workspace(ctx), model=model, profile=device)]
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["id", "model", "variant", "profile", "runtime", "created"])


@builds_group.command("show")
@click.argument("build_id")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, build_id: str, as_json: bool) -> None:
    """Show a build's manifest (id or unique prefix).

    \b
    Example:
      tinyops builds show 3f2a
    """
    ws = open_workspace(ctx)
    b = builds.get(ws, build_id)
    m = bundle.manifest(ws, b)
    if as_json:
        echo_json({**b.to_dict(), "manifest": m})
        return
    click.echo(f"build     {b.id}  ({m['model']}:{m['variant']} for {m['profile']}, runtime {m['runtime']})")
    click.echo(f"created   {m['created']}  tinyops {m['tinyops_version']}")
    click.echo(f"arena     {m['arena_bytes'] if m['arena_bytes'] is not None else '-'} B (TFLM)"
               + (f", model image {m['image']['arena_bytes']} B" if m.get("image") else ""))
    click.echo(f"ops       {', '.join(m['ops'])}")
    for t in m["inputs"] + m["outputs"]:
        click.echo(f"tensor    {t['name']} {t['shape']} {t['dtype']} scale={t['scale']} zp={t['zero_point']}")
    click.echo(f"golden    {m['golden']['count']} vectors ({m['golden']['runtime']}, {m['golden']['rows']})")
    click.echo(f"baseline  {len(m['baseline']['features'])} features ({m['baseline'].get('source', '')})")
    for name, f in m["files"].items():
        click.echo(f"  {name:<16} {human_bytes(f['size']):>9}  {f['sha256'][:16]}")


@builds_group.command("export")
@click.argument("build_id")
@click.argument("dest", type=click.Path(file_okay=False))
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, build_id: str, dest: str, as_json: bool) -> None:
    """Write a build's files into a new folder DEST.

    \b
    Example:
      tinyops builds export 3f2a out/digits-qemu
    """
    info = bundle.export(open_workspace(ctx), build_id, dest)
    if as_json:
        echo_json(info)
    else:
        click.echo(f"Exported {info['build']} to {info['path']} ({len(info['files'])} files)")


@builds_group.command("verify")
@click.argument("target")
@click.option("--public-key", help="Pinned public key (hex); default: this workspace's key.")
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, target: str, public_key: str | None, as_json: bool) -> None:
    """Check every file hash and the signature of a build (id) or an exported folder; exit 1 on any mismatch.

    \b
    Example:
      tinyops builds verify out/digits-qemu
    """
    from tinyops.errors import WorkspaceError

    try:
        ws = open_workspace(ctx)
    except WorkspaceError:
        ws = None  # a folder can be checked against --public-key without a workspace
    r = bundle.verify(ws, target, public_key)
    if as_json:
        echo_json(r.to_dict())
        if not r.ok:
            ctx.exit(1)
        return
    if not r.ok:
        raise SignatureError(f"build {r.build or target} does not verify: " + "; ".join(r.problems),
                             hint="do not install it; export or rebuild it from the registry")
    click.echo(f"OK {r.build}: {len(r.files)} files and the signature verify (key {r.public_key[:16]}…)")


COMMANDS = [build_cmd, builds_group]
