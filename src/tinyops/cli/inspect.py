"""`tinyops inspect`: what is inside a .tflite model (no TensorFlow needed)."""

from __future__ import annotations

import click

from tinyops.cli.common import echo_json, echo_table, human_bytes, json_option


@click.command("inspect")
@click.argument("target", metavar="FILE.tflite|REF")
@click.option("--no-arena", is_flag=True, help="Skip measuring the TFLite Micro arena.")
@click.option("--tensors", "show_tensors", is_flag=True, help="Also list every tensor.")
@json_option
@click.pass_context
def inspect_cmd(ctx: click.Context, target: str, no_arena: bool, show_tensors: bool, as_json: bool) -> None:
    """Operators, tensors, MACs, sizes, the TFLite Micro arena of a .tflite file or variant, and
    which runtimes can run it (tinyops-c, the TFLM firmware, your own TFLM build, LiteRT).

    The arena is measured by running TFLite Micro in a child process (its own
    printed total can understate the need) and cached per model.

    \b
    Example:
      tinyops inspect digits@1:int8
      tinyops inspect model.tflite --json
    """
    from tinyops.errors import WorkspaceError
    from tinyops.ml.inspect import inspect
    from tinyops.cli.common import open_workspace

    try:
        ws = open_workspace(ctx)
    except WorkspaceError:
        ws = None  # a plain file needs no workspace
    info = inspect(ws, target, arena=not no_arena)
    if as_json:
        echo_json(info)
        return
    click.echo(f"{info['source']}  {human_bytes(info['size_bytes'])} ({info['size_bytes']} bytes)  sha256 {info['sha256'][:12]}")
    click.echo(f"MACs {info['macs']:,}  parameters {info['parameters']:,} ({human_bytes(info['parameter_bytes'])})  "
               f"activations {human_bytes(info['activation_bytes'])} (peak live {human_bytes(info['peak_activation_bytes'])})")
    arena = info["arena_bytes"]
    click.echo(f"TFLite Micro arena: {arena if arena is not None else '-'} bytes")
    tc = info.get("tinyops_c")
    if tc is not None:
        from tinyops.cli.compile import echo_plan

        click.echo(f"tinyops-c: image {tc['image_bytes']} bytes, arena {tc['arena_bytes']} bytes")
        echo_plan(tc["plan"])
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            q = f" scale {t['scale']:.6g} zp {t['zero_point']}" if t["scale"] is not None and not t["per_channel"] else ""
            click.echo(f"{kind[:-1]:6}  {t['name']}  {t['shape']} {t['dtype']}{q}")
    click.echo(f"operators ({', '.join(f'{k} x{v}' for k, v in info['op_counts'].items())}):")
    echo_table([{"#": o["index"], "op": o["op"], "output": o["outputs"][0] if o["outputs"] else None, "macs": o["macs"]}
                for o in info["operators"]], ["#", "op", "output", "macs"],
               {"output": lambda s: "x".join(map(str, s)) if s else "-", "macs": lambda m: f"{m:,}"})
    if show_tensors:
        echo_table([{**t, "quant": ("per-channel" if t["per_channel"] else
                                    (f"{t['scale']:.4g}/{t['zero_point']}" if t["scale"] is not None else "-"))}
                    for t in info["tensors"]], ["index", "name", "shape", "dtype", "quant", "bytes"],
                   {"shape": lambda s: "x".join(map(str, s)) or "scalar", "name": lambda n: n[:48]})
    click.echo("runtimes that can run it:")
    echo_table([{**r, "runs": "yes" if r["runs"] else "no", "why": r["reason"] or "-"} for r in info["runtimes"]],
               ["runtime", "runs", "why", "where"])
    for w in info["warnings"]:
        click.echo(f"warning: {w}")


COMMANDS = [inspect_cmd]
