"""`tinyops compile`: a quantized .tflite to a tinyops-c model image."""

from __future__ import annotations

import click

from tinyops.cli.common import echo_json, human_bytes, json_option, open_workspace, safe


@click.command("compile")
@click.argument("source")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Image file to write (default: <name>.img here).")
@json_option
@click.pass_context
def compile_cmd(ctx: click.Context, source: str, out: str | None, as_json: bool) -> None:
    """Compile SOURCE (a .tflite file or NAME@VERSION:VARIANT) into a model image for
    the tinyops-c runtime: weights, per-op parameters with precomputed requantization,
    and a static memory plan whose arena size the device needs exactly.

    \b
    Example:
      tinyops compile digits@1:int8 --out digits.img
      tinyops compile model_int8.tflite --json
    """
    from tinyops.runtimes.tinyops_c.source import compile_source

    compiled, path = compile_source(source, out, open_workspace=lambda: open_workspace(ctx))
    if as_json:
        echo_json({**compiled.to_dict(), "out": str(path)})
        return
    click.echo(f"wrote {path}: image {human_bytes(compiled.image_bytes)} "
               f"(.tflite {human_bytes(compiled.tflite_bytes)}), arena {human_bytes(compiled.arena_bytes)}")
    click.echo(f"  {compiled.op_count} ops: {', '.join(compiled.ops)}")
    click.echo(f"  firmware op set: {compiled.opset.make_var} ({', '.join(compiled.opset.names)}; "
               "a firmware built with it links only these kernels)")
    echo_plan(compiled.plan)


def echo_plan(plan: dict) -> None:
    """The memory plan: where the arena peaks and which tensors are live there."""
    if plan.get("peak_op") is None:
        return
    click.echo(f"  memory plan: arena {human_bytes(plan['arena_bytes'])}, peak at op {plan['peak_op']} "
               f"({human_bytes(plan['live_bytes'])} live), tiling: {plan['tiling']}")
    for t in plan["live"]:
        shape = "x".join(map(str, t["shape"]))
        click.echo(f"    @{t['offset']:>7,}  {human_bytes(t['bytes']):>9}  {shape:<12} {safe(t['tensor'])[:60]}")


COMMANDS = [compile_cmd]
