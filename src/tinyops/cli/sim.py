"""`tinyops sim`: emulated boards (QEMU Cortex-M4 or a native process) in the background."""

from __future__ import annotations

import click

from tinyops.errors import WorkspaceError
from tinyops.cli.common import echo_json, echo_table, json_option
from tinyops.devices import sim as sim_boards


def _ws(ctx: click.Context):
    from tinyops.workspace import Workspace

    try:
        return Workspace.open((ctx.find_root().obj or {}).get("workspace"))
    except WorkspaceError:
        return None  # boards are tracked under ~/.cache/tinyops then


@click.group("sim")
def sim_group() -> None:
    """Start, list and stop emulated boards running tinyops firmware."""


@sim_group.command("start")
@click.argument("board", type=click.Choice([*sim_boards.BOARDS, *sim_boards.BOARD_ALIASES]))
@click.option("--flash", "flash_file", type=click.Path(dir_okay=False), help="Flash file to keep (reuse it to "
              "keep the models across restarts). Default: a new file beside the board's state.")
@click.option("--firmware", type=click.Path(dir_okay=False, exists=True), help="Run this firmware build instead "
              "of building firmware/ for BOARD.")
@click.option("--runtime", type=click.Choice(["tinyops-c", "tflm", "tflm-cmsis-nn"]), default="tinyops-c",
              show_default=True, help="Model runtime the firmware is built with (TFLM needs $TFLM_DIR).")
@json_option
@click.pass_context
def start_cmd(ctx: click.Context, board: str, flash_file: str | None, firmware: str | None, runtime: str,
              as_json: bool) -> None:
    """Start an emulated board in the background and print its serial URL.

    \b
    Example:
      tinyops sim start qemu-mps2-an386
      tinyops sim start qemu-mps2-an386 --runtime tflm
      tinyops sim start posix --flash board.flash --json
    """
    from tinyops.devices import sim

    s = sim.start(board, flash=flash_file, ws=_ws(ctx), firmware=firmware, runtime=runtime)
    if as_json:
        echo_json(s.to_dict())
    else:
        click.echo(f"{s.id} ({s.board}, pid {s.pid}) on {s.url}")
        click.echo(f"  flash: {s.flash}")
        click.echo(f"  next: tinyops flash BUILD --port {s.url}")


@sim_group.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List running emulated boards.

    \b
    Example:
      tinyops sim list
    """
    from tinyops.devices import sim

    boards = [s.to_dict() for s in sim.list_sims(_ws(ctx))]
    if as_json:
        echo_json(boards)
    else:
        echo_table(boards, ["id", "board", "pid", "url", "flash"])


@sim_group.command("stop")
@click.argument("sim_id")
@json_option
@click.pass_context
def stop_cmd(ctx: click.Context, sim_id: str, as_json: bool) -> None:
    """Stop an emulated board (its flash file stays).

    \b
    Example:
      tinyops sim stop qemu-1a2b3c
    """
    from tinyops.devices import sim

    s = sim.stop(sim_id, _ws(ctx))
    if as_json:
        echo_json(s.to_dict())
    else:
        click.echo(f"Stopped {s.id} (pid {s.pid}); flash kept in {s.flash}")


COMMANDS = [sim_group]
