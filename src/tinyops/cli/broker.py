"""`tinyops broker …`: the Mosquitto broker of this workspace's fleet."""

from __future__ import annotations

import click

from tinyops.fleet import broker
from tinyops.cli.common import echo_json, json_option, open_workspace


@click.group("broker")
def broker_group() -> None:
    """Set up and run the MQTT broker (Mosquitto with TLS, passwords and ACLs).

    Past one machine, any MQTT 5 broker with shared subscriptions: docs/brokers.md."""


@broker_group.command("setup")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Folder for config, certificates and data "
              "(default: .tinyops/broker in the workspace).")
@click.option("--port", default=8883, show_default=True, help="TLS listener port for devices (0 = any free port).")
@click.option("--host-port", type=int, help="TLS listener port for host tools (default: --port + 1).")
@click.option("--local-port", type=int, help="Also listen without TLS on 127.0.0.1 (host tools only).")
@click.option("--host", "hosts", multiple=True, help="Name or IP agents dial (repeatable; goes into the server certificate).")
@click.option("--bind", default="0.0.0.0", show_default=True, help="Address the TLS listener binds.")
@json_option
@click.pass_context
def setup_cmd(ctx: click.Context, directory: str | None, port: int, local_port: int | None, hosts: tuple[str, ...],
              bind: str, host_port: int | None, as_json: bool) -> None:
    """Write the Mosquitto config, a CA and server certificate, the password file and the ACL.

    Rerunning it keeps the CA (agents keep trusting it) and refreshes the rest.

    \b
    Example:
      tinyops broker setup --host broker.lan
      tinyops broker setup --bind 127.0.0.1 --port 18883
      tinyops broker start
    """
    ws = open_workspace(ctx)
    all_hosts = list(hosts) + ["localhost", "127.0.0.1"] if hosts else None
    s = broker.setup(ws, directory, port=port, local_port=local_port, hosts=all_hosts, bind=bind,
                     host_port=host_port)
    if as_json:
        echo_json(s.to_dict())
        return
    click.echo(f"Broker set up in {s.dir}: TLS on {s.bind}:{s.port} (devices), {s.bind}:{s.host_listener} (host)" + (f", plain on 127.0.0.1:{s.local_port}" if s.local_port else ""))
    click.echo(f"Certificate names: {', '.join(s.hosts)}")
    click.echo("Next: tinyops broker start")


@broker_group.command("start")
@json_option
@click.pass_context
def start_cmd(ctx: click.Context, as_json: bool) -> None:
    """Start Mosquitto in the background (pid file and log in the broker folder).

    \b
    Example:
      tinyops broker start
    """
    _show(broker.start(open_workspace(ctx)), as_json)


@broker_group.command("stop")
@json_option
@click.pass_context
def stop_cmd(ctx: click.Context, as_json: bool) -> None:
    """Stop the broker started by `broker start` (retained builds are saved).

    \b
    Example:
      tinyops broker stop
    """
    _show(broker.stop(open_workspace(ctx)), as_json)


@broker_group.command("status")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Is the broker running, where, on which ports.

    \b
    Example:
      tinyops broker status --json
    """
    _show(broker.status(open_workspace(ctx)), as_json)


def _show(st: broker.BrokerStatus, as_json: bool) -> None:
    if as_json:
        echo_json(st.to_dict())
        return
    state = f"running (pid {st.pid})" if st.running else "stopped"
    click.echo(f"Mosquitto {state}; TLS port {st.port} (devices), {st.host_port} (host)"
               + (f", plain 127.0.0.1:{st.local_port}" if st.local_port else "")
               + f"; {st.devices} devices; folder {st.dir}; log {st.log}")


COMMANDS = [broker_group]
