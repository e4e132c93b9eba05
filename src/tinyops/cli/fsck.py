"""`tinyops fsck` and `tinyops gc`: check the workspace is whole; remove what nothing uses."""

from __future__ import annotations

import click

from tinyops.errors import TinyOpsError
from tinyops.cli.common import echo_json, human_bytes, json_option, open_workspace, safe


@click.command("fsck")
@click.option("--no-signatures", is_flag=True, help="Skip verifying every build's signature (faster).")
@json_option
@click.pass_context
def fsck_cmd(ctx: click.Context, no_signatures: bool, as_json: bool) -> None:
    """Check every blob's hash, that rows' blobs exist, build signatures, references and temp files.

    Changes nothing. Exit code 1 when a problem is found, each one listed.

    \b
    Example:
      tinyops fsck
      tinyops fsck --json | jq '.problems[].kind'
    """
    from tinyops.integrity import fsck

    rep = fsck(open_workspace(ctx), signatures=not no_signatures)
    if as_json:
        echo_json(rep.to_dict())
    else:
        for p in rep.problems:
            click.echo(safe(str(p)))
        click.echo(f"{rep.blobs} blobs, {rep.rows_checked} blob references, {rep.builds} builds checked: "
                   + ("no problems" if rep.ok else f"{len(rep.problems)} problems"))
    if not rep.ok:
        raise TinyOpsError(f"the workspace has {len(rep.problems)} problems",
                           hint="restore corrupt or missing blobs from a backup; `tinyops gc --yes` removes temp files")


@click.command("gc")
@click.option("--yes", is_flag=True, help="Delete (default: only list what would be deleted).")
@click.option("--min-age", default="1h", show_default=True,
              help="Only files older than this (a writer may be between storing blobs and its row).")
@json_option
@click.pass_context
def gc_cmd(ctx: click.Context, yes: bool, min_age: str, as_json: bool) -> None:
    """Remove blobs no registry row references and left-over temp files (dry run unless --yes).

    \b
    Example:
      tinyops gc
      tinyops gc --yes --min-age 0s
    """
    from tinyops.integrity import gc
    from tinyops.monitor.check import parse_duration

    age = 0.0 if min_age.strip() in ("0", "0s") else parse_duration(min_age)
    rep = gc(open_workspace(ctx), dry_run=not yes, min_age=age)
    if as_json:
        echo_json(rep.to_dict())
        return
    for b in rep.blobs:
        click.echo(f"blob {b['sha256']}  {human_bytes(b['size'])}")
    for t in rep.temp_files:
        click.echo(f"temp {safe(t['path'])}  {human_bytes(t['size'])}")
    n = len(rep.blobs) + len(rep.temp_files)
    verb = "Would delete" if rep.dry_run else "Deleted"
    click.echo(f"{verb} {len(rep.blobs)} unreferenced blobs and {len(rep.temp_files)} temp files ({human_bytes(rep.bytes)})"
               + (f"; {rep.skipped_young} younger than {min_age} kept" if rep.skipped_young else "")
               + (" — run with --yes to delete" if rep.dry_run and n else ""))


COMMANDS = [fsck_cmd, gc_cmd]
