"""`tinyops broker …`: the MQTT broker of this workspace's fleet (Mosquitto, or the embedded fallback)."""

from __future__ import annotations

import click

from tinyops.fleet import broker
from tinyops.cli.common import echo_json, json_option, open_workspace


@click.group("broker")
def broker_group() -> None:
    """Set up and run the MQTT broker (Mosquitto with TLS, passwords and ACLs;
    tinyops' embedded Python broker when Mosquitto is not installed)."""


@broker_group.command("setup")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Folder for config, certificates and data "
              "(default: .tinyops/broker, or /var/lib/tinyops/brokers/… when user mosquitto cannot reach it).")
@click.option("--port", default=8883, show_default=True, help="TLS listener port.")
@click.option("--local-port", type=int, help="Also listen without TLS on 127.0.0.1 (host tools only).")
@click.option("--host", "hosts", multiple=True, help="Name or IP agents dial (repeatable; goes into the server certificate).")
@click.option("--bind", default="0.0.0.0", show_default=True, help="Address the TLS listener binds.")
@json_option
@click.pass_context
def setup_cmd(ctx: click.Context, directory: str | None, port: int, local_port: int | None, hosts: tuple[str, ...],
              bind: str, as_json: bool) -> None:
    """Write the Mosquitto config, a CA and server certificate, the password file and the ACL.

    Rerunning it keeps the CA (agents keep trusting it) and refreshes the rest.

    \b
    Example:
      tinyops broker setup --host broker.lan
      tinyops broker start
    """
    ws = open_workspace(ctx)
    all_hosts = list(hosts) + ["localhost", "127.0.0.1"] if hosts else None
    s = broker.setup(ws, directory, port=port, local_port=local_port, hosts=all_hosts, bind=bind)
    if as_json:
        echo_json(s.to_dict())
        return
    click.echo(f"Broker set up in {s.dir}: TLS on {s.bind}:{s.port}" + (f", plain on 127.0.0.1:{s.local_port}" if s.local_port else ""))
    click.echo(f"Certificate names: {', '.join(s.hosts)}")
    click.echo("Next: tinyops broker start")


@broker_group.command("start")
@click.option("--embedded", is_flag=True, help="Run tinyops' embedded Python broker even if Mosquitto is installed.")
@json_option
@click.pass_context
def start_cmd(ctx: click.Context, embedded: bool, as_json: bool) -> None:
    """Start the broker in the background (pid file in the broker folder).

    Mosquitto when it is installed; otherwise (or with --embedded) tinyops'
    embedded Python broker on the same ports, certificates, passwords and ACL,
    for demos and small fleets (`broker status` lists what it does not guarantee).

    \b
    Example:
      tinyops broker start
      tinyops broker start --embedded
    """
    _show(broker.start(open_workspace(ctx), embedded=True if embedded else None), as_json)


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
    name = {"mosquitto": "Mosquitto", "embedded": "Embedded Python broker"}.get(st.kind or "", "Broker")
    state = f"running (pid {st.pid})" if st.running else "stopped"
    click.echo(f"{name} {state}; TLS port {st.port}" + (f", plain 127.0.0.1:{st.local_port}" if st.local_port else "")
               + f"; {st.devices} devices; folder {st.dir}; log {st.log}")
    if st.kind == "embedded":
        click.echo("Mosquitto is not running this fleet: the embedded broker is a fallback for demos and small "
                   "fleets. It does not guarantee:")
        for item in st.limitations:
            click.echo(f"  - {item}")


COMMANDS = [broker_group]
