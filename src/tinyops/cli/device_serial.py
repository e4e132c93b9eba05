"""`tinyops device info|rollback --port URL`: talk to tinyops firmware over serial."""

from __future__ import annotations

import click

from tinyops.cli.common import echo_json, echo_table, json_option
from tinyops.cli.device import device_group


@device_group.command("info")
@click.option("--port", "-p", required=True, help="Serial URL: /dev/ttyACM0, socket://HOST:PORT, rfc2217://…")
@json_option
def info_cmd(port: str, as_json: bool) -> None:
    """Show the firmware, board, A/B slots and active model of a serial device.

    \b
    Example:
      tinyops device info --port socket://127.0.0.1:4444 --json
    """
    from tinyops.devices.serial.device import device_info

    info = device_info(port)
    if as_json:
        echo_json(info.to_dict())
        return
    click.echo(f"{info.board}: firmware {info.firmware}, protocol {info.protocol}, counter {info.counter_unit}")
    click.echo(f"active slot: {'-' if info.active_slot is None else info.active_slot}  "
               f"model sha256: {info.active_sha256 or '-'}")
    click.echo(f"arena {info.arena_capacity} B, slot {info.slot_capacity} B, max chunk {info.max_chunk} B")
    echo_table([{"slot": s.index, "state": s.state, "generation": s.generation, "size": s.size,
                 "received": s.received, "sha256": s.sha256[:16] or None} for s in info.slots])


@device_group.command("rollback")
@click.option("--port", "-p", required=True, help="Serial URL of the device.")
@json_option
def rollback_cmd(port: str, as_json: bool) -> None:
    """Switch a serial device back to the model in its other (committed) slot.

    \b
    Example:
      tinyops device rollback --port socket://127.0.0.1:4444
    """
    from tinyops.devices.serial.device import device_rollback

    info = device_rollback(port)
    if as_json:
        echo_json(info.to_dict())
    else:
        click.echo(f"Rolled back: slot {info.active_slot} active, model {info.active_sha256}")


COMMANDS: list = []
