"""`tinyops feature …`: versioned, searchable feature definitions."""

from __future__ import annotations

import json

import click

from tinyops.ml import feature_defs
from tinyops.registry import datasets, features
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace


@click.group("feature")
def feature_group() -> None:
    """Define, version, search, revert and apply feature transforms (see docs/features.md)."""


def _summary(fv: features.FeatureVersion) -> dict:
    return {"name": fv.name, "version": fv.version, "ref": fv.ref, "sha256": fv.sha256, "kind": fv.kind,
            "description": fv.description, "tags": fv.tags, "fit_dataset": fv.fit_dataset,
            "reverted_from": fv.reverted_from, "code_current": feature_defs.code_current(fv), "created": fv.created}


def _warn_code(fv: features.FeatureVersion) -> None:
    if not feature_defs.code_current(fv):
        click.echo(f"Warning: the {fv.kind} code changed since {fv.ref} was defined; results may differ. "
                   f"Run `tinyops feature add {fv.name} --spec ...` again to record the new code.", err=True)


def _table(rows: list[features.FeatureVersion]) -> None:
    echo_table([{**_summary(fv), "sha256": fv.sha256[:12], "tags": fv.tags or None,
                 "description": fv.description or None} for fv in rows],
               ["ref", "kind", "tags", "description", "sha256", "created"])


@feature_group.command("add")
@click.argument("name")
@click.option("--spec", "spec_path", required=True, type=click.Path(dir_okay=False),
              help="TOML file: kind, description, tags and [params].")
@json_option
@click.pass_context
def add_cmd(ctx: click.Context, name: str, spec_path: str, as_json: bool) -> None:
    """Define the next version of feature NAME from a TOML spec (same spec → same version).

    \b
    Example:
      tinyops feature add imu-std --spec imu-std.toml
    """
    ws = open_workspace(ctx)
    fv, created = feature_defs.add(ws, name, feature_defs.load_spec(spec_path))
    if as_json:
        echo_json({**_summary(fv), "created": created})
        return
    if created:
        click.echo(f"Added {fv.ref} ({fv.kind}), sha256 {fv.sha256[:12]}")
    else:
        latest = features.resolve(ws, fv.name)
        note = "" if latest.version == fv.version else \
            f"; the current version is {latest.ref} — `tinyops feature revert {fv.name} {fv.version}` makes it current"
        click.echo(f"Unchanged: this spec is already {fv.ref} (sha256 {fv.sha256[:12]}); reused the existing version{note}")


@feature_group.command("list")
@click.argument("name", required=False)
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List the current version of every feature, or every version of NAME (its history).

    \b
    Example:
      tinyops feature list
      tinyops feature list imu-std --json
    """
    ws = open_workspace(ctx)
    rows = features.list_versions(ws, name) if name else features.list_features(ws)
    if as_json:
        echo_json([_summary(fv) for fv in rows])
    else:
        _table(rows)


@feature_group.command("show")
@click.argument("ref")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show a feature version: kind, params (with fitted state), code hash, lineage.

    \b
    Example:
      tinyops feature show imu-std@1
    """
    fv = features.resolve(open_workspace(ctx), ref)
    if as_json:
        echo_json(fv.to_dict())
        return
    click.echo(f"{fv.ref}  ({fv.kind})")
    for label, value in [("description", fv.description or "-"), ("tags", ", ".join(fv.tags) or "-"),
                         ("sha256", fv.sha256), ("code sha256", fv.code_sha256 + ("" if feature_defs.code_current(fv) else "  (code changed since)")),
                         ("fitted on", fv.fit_dataset or "-"), ("created", fv.created)]:
        click.echo(f"  {label:<12} {value}")
    if fv.reverted_from:
        click.echo(f"  {'reverted':<12} copy of {fv.name}@{fv.reverted_from}")
    click.echo("  params")
    for key, value in fv.params.items():
        click.echo(f"    {key} = {json.dumps(value)}")
    _warn_code(fv)


@feature_group.command("search")
@click.argument("query", nargs=-1, required=True)
@json_option
@click.pass_context
def search_cmd(ctx: click.Context, query: tuple[str, ...], as_json: bool) -> None:
    """Full-text search of feature names, descriptions and tags (every word must match).

    \b
    Example:
      tinyops feature search imu scaling
    """
    rows = features.search(open_workspace(ctx), " ".join(query))
    if as_json:
        echo_json([_summary(fv) for fv in rows])
    else:
        _table(rows)


@feature_group.command("revert")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@json_option
@click.pass_context
def revert_cmd(ctx: click.Context, name: str, version: int, as_json: bool) -> None:
    """Make NAME's version VERSION current again, as a new version (history is kept).

    \b
    Example:
      tinyops feature revert imu-std 1
    """
    fv = feature_defs.revert(open_workspace(ctx), name, version)
    if as_json:
        echo_json(_summary(fv))
    else:
        click.echo(f"Reverted: {fv.ref} is now current, a copy of {fv.name}@{fv.reverted_from}")


@feature_group.command("apply")
@click.argument("feature_ref")
@click.argument("dataset_ref")
@click.option("--name", "out_name", help="Name of the output dataset (default DATASET.FEATURE).")
@json_option
@click.pass_context
def apply_cmd(ctx: click.Context, feature_ref: str, dataset_ref: str, out_name: str | None, as_json: bool) -> None:
    """Compute feature FEATURE_REF on dataset DATASET_REF and version the result as a dataset.

    \b
    Example:
      tinyops feature apply imu-std@1 activity@1
    """
    ws = open_workspace(ctx)
    fv = features.resolve(ws, feature_ref)
    dv, created = feature_defs.apply(ws, fv, datasets.resolve(ws, dataset_ref), name=out_name)
    if as_json:
        echo_json({"name": dv.name, "version": dv.version, "ref": dv.ref, "sha256": dv.sha256, "rows": dv.rows,
                   "schema": dv.schema, "parents": dv.parents, "feature": dv.feature, "created": created})
        return
    _warn_code(fv)
    verb = "Added" if created else "Unchanged: already"
    click.echo(f"{verb} {dv.ref}: {dv.rows} rows, sha256 {dv.sha256[:12]} (from {', '.join(dv.parents)} via {dv.feature})")


COMMANDS = [feature_group]
