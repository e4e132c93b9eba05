"""`tinyops ui`: the fleet dashboard in the browser."""

from __future__ import annotations

import click

from tinyops.extras import require
from tinyops.cli.common import open_workspace


@click.command("ui")
@click.option("--port", default=8600, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one).")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on; other hosts reach it only if you say so.")
@click.pass_context
def ui_cmd(ctx: click.Context, port: int, bind: str) -> None:
    """Serve the dashboard over this workspace: fleet, rollouts, models, drift, telemetry.

    Read-only unless the browser sends the token printed here (alias promotion,
    rollout start/abort/rollback). Stop it with Ctrl-C.

    \b
    Example:
      tinyops ui --port 8600
    """
    ws = open_workspace(ctx)
    root = ws.root
    ws.close()
    require("starlette", "uvicorn", "jinja2", purpose="the dashboard")
    from tinyops.ui.server import serve

    def ready(url: str, token: str) -> None:
        click.echo(f"tinyops dashboard for {root}: {url}/", err=False)
        click.echo(f"token for changing actions: {token}")
        click.echo(f"open with the token: {url}/?token={token}", err=False)
        import sys
        sys.stdout.flush()

    serve(root, port=port, bind=bind, on_ready=ready)


COMMANDS = [ui_cmd]
