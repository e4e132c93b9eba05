"""`tinyops keys …`: the Ed25519 key pair that signs device builds."""

from __future__ import annotations

import click

from tinyops.devices import keys, rotation
from tinyops.cli.common import echo_json, json_option, open_workspace


@click.group("keys")
def keys_group() -> None:
    """The workspace's build-signing key pair (devices pin the public key)."""


@keys_group.command("init")
@json_option
@click.pass_context
def init_cmd(ctx: click.Context, as_json: bool) -> None:
    """Create the signing key pair (once; an existing key is kept).

    \b
    Example:
      tinyops keys init
    """
    info = keys.init(open_workspace(ctx))
    if as_json:
        echo_json(info)
        return
    click.echo(("Created" if info["created"] else "Key already exists:") + f" {info['path']}")
    click.echo(f"public key  {info['public_key']}")


@keys_group.command("show")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the public key (hex) and its fingerprint.

    \b
    Example:
      tinyops keys show --json
    """
    info = keys.show(open_workspace(ctx))
    if as_json:
        echo_json(info)
        return
    click.echo(f"public key   {info['public_key']}")
    click.echo(f"fingerprint  {info['fingerprint']}")


@keys_group.command("rotate")
@json_option
@click.pass_context
def rotate_cmd(ctx: click.Context, as_json: bool) -> None:
    """Replace the signing key by a new one, signed by the old one; re-sign every build.

    Agents and gateways pinned to the old key follow the signed chain to the new key
    and from then on refuse anything signed by the old one. The old private key is
    destroyed.

    \b
    Example:
      tinyops keys rotate
    """
    info = rotation.rotate(open_workspace(ctx))
    if as_json:
        echo_json(info)
        return
    click.echo(f"Rotated the signing key: {info['previous_fingerprint']} -> {info['fingerprint']} "
               f"(generation {info['generation']})")
    click.echo(f"public key  {info['public_key']}")
    click.echo(f"Re-signed {len(info['resigned_builds'])} build(s); devices follow the chain on the next desired message.")


@keys_group.command("export-public")
@click.argument("dest", type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def export_public_cmd(ctx: click.Context, dest: str, as_json: bool) -> None:
    """Write the public key (one line of hex) to DEST, for devices to pin.

    \b
    Example:
      tinyops keys export-public signing.pub
    """
    info = keys.export_public(open_workspace(ctx), dest)
    if as_json:
        echo_json(info)
    else:
        click.echo(f"Wrote {info['path']} ({info['fingerprint']})")


COMMANDS = [keys_group]
