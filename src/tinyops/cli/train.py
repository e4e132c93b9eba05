"""`tinyops train`: train a model from a recipe, record the run, register the version."""

from __future__ import annotations

import sys
from typing import Any

import click

from tinyops.cli.common import echo_json, json_option, open_workspace


@click.command("train")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Seed for the split and training (default: the recipe's).")
@click.option("--data", "data", metavar="NAME@V", default=None, help="Dataset version (default: the recipe's [data] dataset).")
@json_option
@click.pass_context
def train_cmd(ctx: click.Context, recipe: str, seed: int | None, data: str | None, as_json: bool) -> None:
    """Train the model a RECIPE.toml describes and register it as the next version.

    The run records the recipe, seed, split, dataset and feature versions, per-epoch
    metrics and the environment; the same recipe, data and seed give the same weights.

    \b
    Example:
      tinyops train examples/digits/recipe.toml --data digits@1
      tinyops train examples/activity/recipe.toml --data activity@1 --seed 3 --json
    """
    from tinyops.ml.train import train

    ws = open_workspace(ctx)
    bar: dict[str, Any] = {}

    def progress(epoch: int, total: int, logs: dict[str, float]) -> None:
        if as_json or not sys.stderr.isatty():  # on a pipe or with --json: only the result
            return
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label="training", file=sys.stderr, show_pos=True)
            bar["bar"].__enter__()
        bar["bar"].label = f"epoch {epoch}/{total} loss {logs.get('loss', float('nan')):.4f}"
        bar["bar"].update(1)

    try:
        result = train(ws, recipe, seed=seed, data=data, progress=progress)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    if as_json:
        echo_json(result.to_dict())
        return
    m = result.metrics
    click.echo(f"Registered {result.model} from run {result.run} ({result.epochs} epochs, {result.duration_s:.1f} s)")
    click.echo(f"  test accuracy {m['accuracy'] * 100:.2f} %  macro-F1 {m['macro_f1']:.4f}  "
               f"on {m['test_rows']} rows of {result.dataset}")
    click.echo(f"  {m['parameters']} parameters; labels: {', '.join(result.labels)}")


COMMANDS = [train_cmd]
