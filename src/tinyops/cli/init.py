"""`tinyops init`: create a workspace."""

from __future__ import annotations

import click

from tinyops.workspace import Workspace
from tinyops.cli.common import echo_json, json_option


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@json_option
def init_cmd(directory: str, as_json: bool) -> None:
    """Create a workspace (.tinyops/registry.db and .tinyops/blobs/) in DIRECTORY.

    Running it again on an existing workspace changes nothing.

    \b
    Example:
      tinyops init my-project
    """
    ws, created = Workspace.init(directory)
    if as_json:
        echo_json({"workspace": str(ws.root), "created": created})
    else:
        click.echo(("Created" if created else "Already a") + f" tinyops workspace in {ws.root}")


COMMANDS = [init_cmd]
