"""`tinyops convert` and `tinyops variants`: quantized .tflite variants of model versions."""

from __future__ import annotations

import click

from tinyops.cli.common import Progress, echo_json, echo_table, human_bytes, json_option, open_workspace

QUANTS = ("float32", "float16", "dynamic", "int8")


@click.command("convert")
@click.argument("model_ref", metavar="MODEL@V")
@click.option("--quant", type=click.Choice(QUANTS), default="int8", show_default=True, help="Quantization.")
@click.option("--calibration", metavar="DATA@V", default=None,
              help="int8: calibrate on this dataset version (default: the training split of the model's data).")
@click.option("--samples", type=int, default=200, show_default=True, help="int8: representative samples to calibrate on.")
@json_option
@click.pass_context
def convert_cmd(ctx: click.Context, model_ref: str, quant: str, calibration: str | None, samples: int,
                as_json: bool) -> None:
    """Convert MODEL@V to .tflite and register the variant MODEL@V:QUANT.

    int8 is full-integer with int8 input and output. Converting the same thing
    again returns the stored variant.

    \b
    Example:
      tinyops convert digits@1 --quant int8
      tinyops convert digits@1 --quant float16 --json
    """
    from tinyops.ml.convert import convert

    with Progress("calibrating", enabled=not as_json) as progress:
        r = convert(open_workspace(ctx), model_ref, quant, calibration=calibration, samples=samples,
                    progress=progress)
    if as_json:
        echo_json(r.to_dict())
        return
    verb = "Registered" if r.created else "Reusing existing"
    click.echo(f"{verb} {r.ref}: {human_bytes(r.size_bytes)} ({r.size_bytes} bytes), sha256 {r.sha256[:12]}")
    click.echo(f"  ops: {', '.join(r.ops)}")
    if r.calibration:
        click.echo(f"  calibrated on {r.calibration}")
    if r.arena_bytes:
        click.echo(f"  TFLite Micro arena: {r.arena_bytes} bytes")


@click.command("variants")
@click.argument("model", required=False)
@json_option
@click.pass_context
def variants_cmd(ctx: click.Context, model: str | None, as_json: bool) -> None:
    """List converted variants (all, of a model NAME, or of NAME@V).

    \b
    Example:
      tinyops variants digits
    """
    from tinyops.registry import variants

    rows = variants.list_variants(open_workspace(ctx), model)
    if as_json:
        echo_json([v.to_dict() for v in rows])
        return
    table = []
    for v in rows:
        acc = next((e.get("accuracy") for e in v.evaluations.values() if "accuracy" in e), None)
        table.append({"ref": v.ref, "size": human_bytes(v.size_bytes), "arena": v.arena_bytes,
                      "calibration": v.calibration, "accuracy": None if acc is None else f"{acc * 100:.2f} %",
                      "sha256": v.blob_sha256[:12]})
    echo_table(table, ["ref", "size", "arena", "calibration", "accuracy", "sha256"])


COMMANDS = [convert_cmd, variants_cmd]
