"""`tinyops train`: train a model from a recipe, record the run, register the version."""

from __future__ import annotations

import click

from tinyops.cli.common import Progress, echo_json, json_option, open_workspace


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
    with Progress("training", enabled=not as_json) as bar:  # on a pipe or with --json: only the result
        result = train(ws, recipe, seed=seed, data=data, progress=lambda epoch, total, logs: bar(
            epoch, total, label=f"epoch {epoch}/{total} loss {logs.get('loss', float('nan')):.4f}"))
    if as_json:
        echo_json(result.to_dict())
        return
    m = result.metrics
    click.echo(f"Registered {result.model} from run {result.run} ({result.epochs} epochs, {result.duration_s:.1f} s)")
    click.echo(f"  test accuracy {m['accuracy'] * 100:.2f} %  macro-F1 {m['macro_f1']:.4f}  "
               f"on {m['test_rows']} rows of {result.dataset}")
    click.echo(f"  {m['parameters']} parameters; labels: {', '.join(result.labels)}")


COMMANDS = [train_cmd]
