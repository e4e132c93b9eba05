"""`tinyops device …`: the devices of the fleet (Pis with the agent, MCUs behind them).

Other modules add subcommands to ``device_group`` (e.g. serial `info`/`rollback`).
"""

from __future__ import annotations

import click

from tinyops.fleet import enroll
from tinyops.registry import devices as devices_reg
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace, safe


@click.group("device")
def device_group() -> None:
    """Register devices and look at them."""


@device_group.command("register")
@click.argument("device_id")
@click.option("--profile", "-p", required=True, help="Device profile id (see `tinyops device-profile list`).")
@click.option("--group", "-g", "groups", multiple=True, help="Group(s) for rollouts (repeatable).")
@click.option("--gateway", help="For an MCU on a Pi's serial port: the Pi's device id.")
@click.option("--serial-port", default="/dev/ttyACM0", show_default=True,
              help="With --gateway: the MCU's serial port on the Pi (a device path or tcp://HOST:PORT).")
@click.option("--rotate", is_flag=True, help="Re-register: new credentials and groups (the old config stops working).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Where to write agent.toml "
              "(default .tinyops/agents/ID/agent.toml).")
@click.option("--mqtt-host", help="Broker name the agent dials (default: the first name in the broker certificate).")
@click.option("--http-port", default=8765, show_default=True, help="Agent's local HTTP port (0 = any free port).")
@click.option("--telemetry-period", type=click.FloatRange(min=1.0), default=60.0, show_default=True,
              help="Seconds per telemetry window the agent publishes.")
@json_option
@click.pass_context
def register_cmd(ctx: click.Context, device_id: str, profile: str, groups: tuple[str, ...], gateway: str | None,
                 rotate: bool, serial_port: str, config_path: str | None, mqtt_host: str | None, http_port: int,
                 telemetry_period: float, as_json: bool) -> None:
    """Register a device: its credentials, its ACL entries, and an agent config to copy to it.

    The password is only in that file (mode 0600); the registry keeps a hash.

    \b
    Example:
      tinyops device register pi-001 --profile raspberry-pi-4 --group lab
      scp .tinyops/agents/pi-001/agent.toml pi@pi-001:
      tinyops device register mcu-001 --profile qemu-mps2-an386 --gateway pi-001 --serial-port /dev/ttyACM0
    """
    r = enroll.register_device(open_workspace(ctx), device_id, profile, list(groups), gateway=gateway, rotate=rotate,
                               config_path=config_path, mqtt_host=mqtt_host, http_port=http_port,
                               serial_port=serial_port, telemetry_period_s=telemetry_period)
    if as_json:
        echo_json(r.to_dict())
        return
    click.echo(f"Registered {device_id} ({profile}; groups: {', '.join(r.device.groups) or '-'})")
    if r.gateway_config:
        click.echo(f"Add this to {gateway}'s agent.toml and restart its agent:\n\n{r.gateway_config}")
    else:
        click.echo(f"Agent config: {r.agent_config}  (holds the only copy of its password)")
    if not r.broker_reloaded:
        click.echo("note: no broker set up yet; run `tinyops broker setup`")


@device_group.command("list")
@click.option("--group", "-g", help="Only this group.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, group: str | None, as_json: bool) -> None:
    """List registered devices with their last reported build.

    \b
    Example:
      tinyops device list --group lab
    """
    rows = [d.to_dict() for d in devices_reg.list_devices(open_workspace(ctx), group)]
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["device", "profile", "groups", "build", "status", "last_seen"])


@device_group.command("show")
@click.argument("device_id")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, device_id: str, as_json: bool) -> None:
    """Show one device: profile, groups, last reported state.

    \b
    Example:
      tinyops device show pi-001
    """
    d = devices_reg.get(open_workspace(ctx), device_id).to_dict()
    if as_json:
        echo_json(d)
        return
    for k, v in d.items():
        click.echo(f"{k:>12}: {safe(v) if v is not None else '-'}")


COMMANDS = [device_group]
