"""`tinyops retrain` and `tinyops field …`: turn field samples into training data, retrain."""

from __future__ import annotations

import click

from tinyops.monitor.check import parse_duration
from tinyops.pipeline import retrain as rt
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace


@click.command("retrain")
@click.argument("model")
@click.option("--with", "with_refs", required=True, help="Dataset versions to add, comma-separated (DATA@V[,DATA@V…]).")
@click.option("--seed", type=int, help="Seed (default: the seed of the model's run).")
@json_option
@click.pass_context
def retrain_cmd(ctx: click.Context, model: str, with_refs: str, seed: int | None, as_json: bool) -> None:
    """Rerun the recipe of MODEL's version on its training data plus --with data.

    Registers a new run and model version whose parent is MODEL; the union
    dataset is versioned with both as parents.

    \b
    Example:
      tinyops retrain digits@production --with digits-field@1
    """
    ws = open_workspace(ctx)
    refs = [r.strip() for r in with_refs.split(",") if r.strip()]
    res = rt.retrain(ws, model, refs, seed=seed)
    if as_json:
        echo_json(res)
        return
    acc = res["metrics"].get("accuracy")
    old = (res["previous_metrics"] or {}).get("accuracy")
    click.echo(f"Retrained {res['previous']} → {res['model']} (run {res['run']}) on {res['dataset']} ({res['rows']} rows); "
               f"accuracy {acc:.4f}" + (f" (was {old:.4f})" if old is not None else ""))


@click.group("field")
def field_group() -> None:
    """Reservoir samples sent by devices: list them for labelling, turn labels into a dataset."""


@field_group.command("samples")
@click.option("--build", "build", help="Only samples from this build id.")
@click.option("--device", help="Only samples from this device.")
@click.option("--window", help="Only windows that ended in this period (e.g. 24h).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write a CSV to label (sample, device, build, window, pred, label).")
@json_option
@click.pass_context
def samples_cmd(ctx: click.Context, build: str | None, device: str | None, window: str | None, out: str | None,
                as_json: bool) -> None:
    """List stored reservoir samples, or write them to a CSV with an empty label column.

    \b
    Example:
      tinyops field samples --device pi-2 --out to_label.csv
    """
    import time

    ws = open_workspace(ctx)
    filters = {"builds": [build] if build else None, "devices": [device] if device else None,
               "since": time.time() - parse_duration(window) if window else None}
    if out:
        info = rt.export_samples(ws, out, **filters)
        echo_json(info) if as_json else click.echo(f"Wrote {info['samples']} samples to {info['path']}; fill in `label`")
        return
    rows = rt.sample_table(ws, **filters)
    echo_json(rows) if as_json else echo_table(rows, ["sample", "device", "build", "window", "pred"])


@field_group.command("add")
@click.argument("name")
@click.option("--labels", "labels_file", required=True, type=click.Path(dir_okay=False),
              help="CSV with columns sample,label.")
@json_option
@click.pass_context
def add_cmd(ctx: click.Context, name: str, labels_file: str, as_json: bool) -> None:
    """Make the labelled samples a dataset version NAME@V (lineage: devices, windows, builds).

    \b
    Example:
      tinyops field add digits-field --labels labelled.csv
    """
    dv, created = rt.field_dataset(open_workspace(ctx), name, labels_file)
    if as_json:
        echo_json({"name": dv.name, "version": dv.version, "ref": dv.ref, "sha256": dv.sha256, "rows": dv.rows,
                   "source": dv.source, "created": created})
    else:
        click.echo(f"{'Added' if created else 'Unchanged'} {dv.ref}: {dv.rows} labelled samples ({dv.source})")


COMMANDS = [retrain_cmd, field_group]
