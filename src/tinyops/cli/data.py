"""`tinyops data …`: version datasets by content."""

from __future__ import annotations

import click

from tinyops.registry import datasets
from tinyops.cli.common import Progress, echo_json, echo_table, human_bytes, json_option, open_workspace


@click.group("data")
def data_group() -> None:
    """Version datasets (CSV, NPY/NPZ, or a folder of files) by their content."""


@data_group.command("add")
@click.argument("name")
@click.argument("path", type=click.Path())
@json_option
@click.pass_context
def add_cmd(ctx: click.Context, name: str, path: str, as_json: bool) -> None:
    """Add PATH as the next version of dataset NAME (same content → same version).

    \b
    Example:
      tinyops data add digits data/digits.csv
    """
    ws = open_workspace(ctx)
    with Progress("storing", enabled=not as_json) as progress:
        dv, created = datasets.add_file(ws, name, path, progress=progress)
    if as_json:
        echo_json({**_summary(dv), "created": created})
        return
    if created:
        click.echo(f"Added {dv.ref}: {dv.rows} rows, {human_bytes(dv.size_bytes)}, sha256 {dv.sha256[:12]}")
    else:
        click.echo(f"Unchanged: this content is already {dv.ref} (sha256 {dv.sha256[:12]}); no new version")


def _summary(dv: datasets.DatasetVersion) -> dict:
    return {"name": dv.name, "version": dv.version, "ref": dv.ref, "sha256": dv.sha256, "kind": dv.kind,
            "rows": dv.rows, "size_bytes": dv.size_bytes, "source": dv.source, "parents": dv.parents,
            "feature": dv.feature, "created": dv.created}


@data_group.command("list")
@click.argument("name", required=False)
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List dataset versions (all, or those of NAME).

    \b
    Example:
      tinyops data list digits --json
    """
    rows = [_summary(dv) for dv in datasets.list_versions(open_workspace(ctx), name)]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["sha256"] = r["sha256"][:12]
        r["size"] = human_bytes(r["size_bytes"])
        r["lineage"] = (", ".join(r["parents"]) + (f" ⟶ {r['feature']}" if r["feature"] else "")) or None
    echo_table(rows, ["ref", "kind", "rows", "size", "sha256", "lineage", "created"])


@data_group.command("show")
@click.argument("ref")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show a version: schema, rows, sha256, source and baseline statistics.

    \b
    Example:
      tinyops data show digits@1
    """
    dv = datasets.resolve(open_workspace(ctx), ref)
    if as_json:
        echo_json(dv.to_dict())
        return
    click.echo(f"{dv.ref}  ({dv.kind}, {dv.rows} rows, {human_bytes(dv.size_bytes)})")
    click.echo(f"sha256   {dv.sha256}")
    click.echo(f"source   {dv.source}")
    if dv.parents or dv.feature:
        click.echo(f"lineage  {', '.join(dv.parents)}" + (f" with feature {dv.feature}" if dv.feature else ""))
    click.echo(f"created  {dv.created}")
    click.echo("schema:")
    for c in dv.schema:
        click.echo(f"  {c['name']:<16} {c['dtype']}{'' if not c['shape'] else ' ' + str(tuple(c['shape']))}")
    if dv.stats:
        click.echo("baseline statistics (10 quantile bins each):")
        rows = [{"feature": k, "count": s["count"], "mean": s["mean"], "std": s["std"], "min": s["min"],
                 "max": s["max"], "histogram": " ".join(str(c) for c in s["counts"])} for k, s in dv.stats.items()]
        echo_table(rows)


@data_group.command("diff")
@click.argument("ref_a")
@click.argument("ref_b")
@json_option
@click.pass_context
def diff_cmd(ctx: click.Context, ref_a: str, ref_b: str, as_json: bool) -> None:
    """Compare two versions: schema changes and rows added/removed.

    \b
    Example:
      tinyops data diff digits@1 digits@2
    """
    d = datasets.diff(open_workspace(ctx), ref_a, ref_b)
    if as_json:
        echo_json(d)
        return
    if d["same_content"]:
        click.echo(f"{d['a']} and {d['b']} hold identical content")
        return
    click.echo(f"{d['a']} → {d['b']}")
    for key, label in (("columns_added", "columns added"), ("columns_removed", "columns removed"),
                       ("files_added", "files added"), ("files_removed", "files removed"),
                       ("files_changed", "files changed")):
        if d.get(key):
            click.echo(f"  {label}: {', '.join(d[key])}")
    for c in d["columns_changed"]:
        click.echo(f"  column {c['name']}: {c['from']} → {c['to']}")
    click.echo(f"  rows: {d['rows_a']} → {d['rows_b']}")
    if "rows_added" in d:
        click.echo(f"  rows added: {d['rows_added']}, rows removed: {d['rows_removed']}")


@data_group.command("export")
@click.argument("ref")
@click.argument("path", type=click.Path())
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, ref: str, path: str, as_json: bool) -> None:
    """Write the exact bytes of a version back to PATH (verified against its sha256).

    \b
    Example:
      tinyops data export digits@1 /tmp/digits.csv
    """
    out = datasets.export(open_workspace(ctx), ref, path)
    if as_json:
        echo_json(out)
    else:
        click.echo(f"Wrote {out['ref']} to {out['path']} ({human_bytes(out['bytes'])})")


COMMANDS = [data_group]
