"""`tinyops init`: create a workspace."""

from __future__ import annotations

from pathlib import Path

import click

from tinyops.workspace import Workspace
from tinyops.cli.common import echo_json, json_option


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@json_option
@click.pass_context
def init_cmd(ctx: click.Context, directory: str | None, as_json: bool) -> None:
    """Create a workspace (.tinyops/registry.db and .tinyops/blobs/) in DIRECTORY.

    DIRECTORY defaults to --workspace DIR, else $TINYOPS_HOME, else the current
    folder. Running it again on an existing workspace changes nothing.

    \b
    Example:
      tinyops init my-project
      tinyops --workspace my-project init
    """
    ws, created = Workspace.init(_target(ctx, directory))
    if as_json:
        echo_json({"workspace": str(ws.root), "created": created})
    else:
        click.echo(("Created" if created else "Already a") + f" tinyops workspace in {ws.root}")


def _target(ctx: click.Context, directory: str | None) -> Path:
    root = ctx.find_root()
    chosen = (root.obj or {}).get("workspace")
    if directory is None:
        return Path(chosen or ".")
    from_cli = root.get_parameter_source("workspace") is click.core.ParameterSource.COMMANDLINE
    if chosen and from_cli and Path(chosen).resolve() != Path(directory).resolve():
        raise click.UsageError(f"--workspace {chosen} and DIRECTORY {directory} name different folders; give one")
    return Path(directory)


COMMANDS = [init_cmd]
