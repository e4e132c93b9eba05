"""`tinyops evaluate`: accuracy, macro-F1, confusion matrix; quantization cost; runtime agreement."""

from __future__ import annotations

from typing import Any

import click

from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace, resolve_model

RUNTIMES = ("keras", "litert", "tflm", "tflite-runtime", "tinyops-c")


@click.command("evaluate")
@click.argument("ref", metavar="REF")
@click.option("--data", "data", metavar="DATA@V", default=None,
              help="Evaluate on every row of this dataset version (default: the model's test split).")
@click.option("--runtime", type=click.Choice(RUNTIMES), default=None,
              help="keras for a model version; litert (default), tflm, tflite-runtime or tinyops-c for a variant.")
@json_option
@click.pass_context
def evaluate_cmd(ctx: click.Context, ref: str, data: str | None, runtime: str | None, as_json: bool) -> None:
    """Evaluate a model version (MODEL@V) or a variant (MODEL@V:QUANT).

    For a variant also the float model on the same rows and the accuracy delta
    in points; for int8 also how LiteRT and TFLite Micro agree (max LSB
    difference, share of identical outputs). Results are stored with the variant.

    \b
    Example:
      tinyops evaluate digits@1:int8
      tinyops evaluate digits@1:int8 --runtime tflm --json
      tinyops evaluate activity@1 --data activity@1
    """
    from tinyops.ml.evaluate import evaluate

    ws = open_workspace(ctx)
    r = evaluate(ws, resolve_model(ws, ref), data=data, runtime=runtime)
    if as_json:
        echo_json(r)
        return
    _print(r)


def _print(r: dict[str, Any]) -> None:
    click.echo(f"{r['ref']} on {r['runtime']}, {r['rows']} rows of {r['data']}")
    rows = [{"metric": "accuracy", "value": f"{r['accuracy'] * 100:.2f} %"},
            {"metric": "macro-F1", "value": f"{r['macro_f1']:.4f}"}]
    if "float_accuracy" in r:
        rows += [{"metric": "float accuracy", "value": f"{r['float_accuracy'] * 100:.2f} %"},
                 {"metric": "accuracy delta", "value": f"{r['accuracy_delta']:+.2f} points"}]
    if "max_lsb_diff" in r:
        rows += [{"metric": f"vs {r['agreement_with']}: max LSB diff", "value": str(r["max_lsb_diff"])},
                 {"metric": f"vs {r['agreement_with']}: identical outputs", "value": f"{r['identical_share'] * 100:.1f} %"}]
    if "litert_builtin_vs_tflm" in r:
        b = r["litert_builtin_vs_tflm"]
        rows.append({"metric": "LiteRT builtin kernels vs tflm",
                     "value": f"max {b['max_lsb_diff']} LSB, {b['identical_share'] * 100:.1f} % identical"})
    echo_table(rows, ["metric", "value"])
    labels = r["labels"]
    click.echo("confusion matrix (rows: true, columns: predicted)")
    width = max(len(str(x)) for x in [*labels, *(v for row in r["confusion_matrix"] for v in row)]) + 1
    click.echo(" " * width + "".join(str(lab)[:width - 1].rjust(width) for lab in labels))
    for lab, row in zip(labels, r["confusion_matrix"]):
        click.echo(str(lab)[:width - 1].rjust(width) + "".join(str(v).rjust(width) for v in row))


COMMANDS = [evaluate_cmd]
