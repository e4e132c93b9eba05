"""`tinyops model …`: the model registry (versions, aliases, lineage)."""

from __future__ import annotations

import click

from tinyops.registry import models
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace


@click.group("model")
def model_group() -> None:
    """Model versions, aliases (production, canary…) and lineage."""


@model_group.command("register")
@click.argument("name")
@click.argument("path", type=click.Path())
@click.option("--data", "data", metavar="DATA@V", default=None,
              help="The dataset version the model expects (used by convert --quant int8 and evaluate).")
@click.option("--inputs", "inputs", default=None,
              help="With --data: input columns (comma-separated names or globs) or one array key.")
@click.option("--label", "label", default=None, help="With --data: the label column (default: label).")
@click.option("--description", default="", help="Free text stored with the version.")
@json_option
@click.pass_context
def register_cmd(ctx: click.Context, name: str, path: str, data: str | None, inputs: str | None,
                 label: str | None, description: str, as_json: bool) -> None:
    """Register a model made elsewhere as the next version of NAME.

    PATH is a .keras file, a SavedModel folder, or a .tflite file (float32, or
    int8 from another toolchain — it becomes the variant NAME@N:int8 at once).

    \b
    Example:
      tinyops model register kws model.keras --data kws-data@1
      tinyops model register wine saved_model_dir --data wine@1 --inputs 'f*' --label class
      tinyops model register vww vww_int8.tflite
    """
    from tinyops.ml.byom import register_file

    keys = [k.strip() for k in inputs.split(",") if k.strip()] if inputs else None
    r = register_file(open_workspace(ctx), name, path, data=data, inputs=keys, label=label, description=description)
    if as_json:
        echo_json(r.to_dict())
        return
    mv = r.model
    click.echo(f"Registered {mv.ref} ({mv.format}, sha256 {mv.artifact_sha256[:12]})")
    if mv.expects:
        click.echo(f"  expects {mv.expects['dataset']}: inputs {', '.join(mv.expects['inputs'])}"
                   + (f", label {mv.expects['label']}" if mv.expects.get("label") else ""))
    if r.variant:
        click.echo(f"  variant {r.variant.ref}: {r.variant.size_bytes} bytes, ops {', '.join(r.variant.ops)}")


@model_group.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List models with their latest version and aliases.

    \b
    Example:
      tinyops model list
    """
    rows = models.list_models(open_workspace(ctx))
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["name", "versions", "latest", "aliases", "updated"],
               {"aliases": lambda a: ", ".join(f"{k}→{v}" for k, v in a.items()) or "-"})


@model_group.command("show")
@click.argument("ref")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one version (NAME@VERSION, NAME@ALIAS or NAME for the latest).

    \b
    Example:
      tinyops model show digits@production
    """
    ws = open_workspace(ctx)
    mv = models.resolve(ws, ref)
    if as_json:
        echo_json(mv.to_dict())
        return
    click.echo(f"{mv.ref}" + (f"  (aliases: {', '.join(mv.aliases)})" if mv.aliases else ""))
    click.echo(f"sha256   {mv.artifact_sha256}")
    click.echo(f"run      {mv.run_id or '-'}")
    click.echo(f"parent   {mv.parent or '-'}")
    click.echo(f"created  {mv.created}")
    if mv.description:
        click.echo(f"about    {mv.description}")
    for k, v in mv.metrics.items():
        click.echo(f"  {k} = {v}")


@model_group.group("alias")
def alias_group() -> None:
    """Point aliases such as production or canary at versions."""


@alias_group.command("set")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@json_option
@click.pass_context
def alias_set_cmd(ctx: click.Context, name: str, alias: str, version: int, as_json: bool) -> None:
    """Point ALIAS of model NAME at VERSION (moving it if it exists).

    \b
    Example:
      tinyops model alias set digits production 3
    """
    mv = models.set_alias(open_workspace(ctx), name, alias, version)
    if as_json:
        echo_json({"name": name, "alias": alias, "version": mv.version, "ref": mv.ref})
    else:
        click.echo(f"{name}@{alias} → {mv.ref}")


@alias_group.command("rm")
@click.argument("name")
@click.argument("alias")
@click.pass_context
def alias_rm_cmd(ctx: click.Context, name: str, alias: str) -> None:
    """Remove ALIAS from model NAME.

    \b
    Example:
      tinyops model alias rm digits canary
    """
    models.remove_alias(open_workspace(ctx), name, alias)
    click.echo(f"Removed {name}@{alias}")


@model_group.command("lineage")
@click.argument("ref")
@json_option
@click.pass_context
def lineage_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Trace a version back: run → dataset versions → feature versions.

    \b
    Example:
      tinyops model lineage digits@2
    """
    lin = models.lineage(open_workspace(ctx), ref)
    if as_json:
        echo_json(lin)
        return
    click.echo(f"{lin['model']}  sha256 {lin['sha256'][:12]}" + (f"  (from {lin['parent']})" if lin["parent"] else ""))
    run = lin["run"]
    if not run:
        click.echo("└─ no run recorded (registered from a file)")
        return
    click.echo(f"└─ run {run['id']} ({run['kind']}, seed {run['seed']}, {run['status']}, git {run['git_commit'] or '-'})")
    for d in lin["datasets"]:
        extra = (f" ⟵ {', '.join(d['parents'])}" if d.get("parents") else "") + (
            f" via feature {d['feature']}" if d.get("feature") else "")
        click.echo(f"   ├─ data {d['ref']}  sha256 {d.get('sha256', '?')[:12]}{extra}")
    for f in lin["features"]:
        click.echo(f"   └─ feature {f}")


COMMANDS = [model_group]
