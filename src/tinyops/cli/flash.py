"""`tinyops flash`: put a build's model on a microcontroller over serial, or a
whole firmware image on a board with its external flasher."""

from __future__ import annotations

import click

from tinyops.errors import InputError
from tinyops.cli.common import Progress, echo_json, json_option, open_workspace


def _tracer(enabled: bool):
    if not enabled:
        return None

    def trace(direction: str, data: bytes) -> None:
        click.echo(f"{direction} {len(data):5d} {data[:48].hex(' ')}{' …' if len(data) > 48 else ''}", err=True)

    return trace


@click.command("flash")
@click.argument("build", required=False)
@click.option("--port", "-p", required=True, help="Serial URL: /dev/ttyACM0, socket://HOST:PORT, rfc2217://HOST:PORT.")
@click.option("--firmware", type=click.Path(dir_okay=False), help="Write a whole firmware image with the "
              "profile's flasher instead of a build's model.")
@click.option("--device", "-d", "device", help="With --firmware: the device profile. With BUILD: the registered "
              "device id to record the deployment under (default: the port URL).")
@click.option("--trace", is_flag=True, help="Dump every frame sent and received on stderr.")
@click.option("--rollback", is_flag=True, help="Authorise going below the device's security floor "
              "(an older version of the model line); signed with this workspace's key.")
@json_option
@click.pass_context
def flash_cmd(ctx: click.Context, build: str | None, port: str, firmware: str | None, device: str | None,
              trace: bool, rollback: bool, as_json: bool) -> None:
    """Flash BUILD's model image: transfer (resumable), verify, activate, self-test.

    The deployment is recorded in the registry. With --firmware, the profile's
    external flasher (esptool, openocd, picotool, dfu-util, bossac, stm32flash)
    writes a whole firmware image instead.

    \b
    Example:
      tinyops sim start qemu-mps2-an386
      tinyops flash 3f2a9c1e --port socket://127.0.0.1:4444
      tinyops flash --firmware fw.bin --device esp32 --port /dev/ttyUSB0
    """
    if firmware:
        from tinyops.devices import flashers, profiles

        if not device:
            raise InputError("--firmware needs --device PROFILE", hint="`tinyops device-profile list` shows them")
        result = flashers.flash_firmware(firmware, profiles.load(device), port=port)
        if as_json:
            echo_json(result.to_dict())
        else:
            click.echo(f"Flashed {firmware} with {result.tool} in {result.seconds:.1f} s")
        return
    if not build:
        raise InputError("give a BUILD id (or --firmware IMAGE --device PROFILE)",
                         hint="`tinyops builds list` shows the builds")
    from tinyops.devices.serial.flash import flash_build

    ws = open_workspace(ctx)
    with Progress("Sending", enabled=not as_json) as progress:  # piped: only the result, no bare "Sending"
        report = flash_build(ws, build, port, trace=_tracer(trace), progress=progress, device=device,
                             rollback=rollback)
    data = report.to_dict()
    if as_json:
        echo_json(data)
    else:
        resumed = f", resumed at byte {report.resumed_from}" if report.resumed_from else ""
        state = "already active" if report.already_active else ("activated" if report.activated else "NOT activated")
        click.echo(f"Build {report.build}: {report.bytes} bytes in {report.seconds:.1f} s{resumed}; "
                   f"slot {report.slot} {state} on {report.board}")
        d = report.self_test_detail
        click.echo(f"Self-test: {report.self_test}" + (f" ({d.get('vectors')} golden vectors, max diff "
                                                        f"{d.get('max_lsb_diff')} LSB)" if d else ""))
        if report.rolled_back:
            click.echo("Rolled back to the previous model because the self-test failed.")
    if report.self_test == "fail":
        ctx.exit(1)


COMMANDS = [flash_cmd]
