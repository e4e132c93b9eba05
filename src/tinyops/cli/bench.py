"""`tinyops bench`: MLPerf Tiny benchmark of the model a device runs, or instructions
per op of a model on the emulated Cortex-M4 (``--per-op``)."""

from __future__ import annotations

from pathlib import Path

import click

from tinyops.errors import WorkspaceError
from tinyops.cli.common import echo_json, echo_table, human_bytes, json_option, open_workspace


@click.command("bench")
@click.option("--port", "-p", help="Serial URL of the device.")
@click.option("--warmup", "-W", default=10, show_default=True, help="Warm-up inferences (MLPerf `infer N W`).")
@click.option("--runs", "-n", default=20, show_default=True, help="Timed inferences.")
@click.option("--device", "-d", help="Registered device id to store the result under (default: the port URL).")
@click.option("--per-op", "per_op", metavar="MODEL",
              help="Instead: instructions per op of MODEL (.tflite or NAME@VERSION:VARIANT) on the "
                   "QEMU Cortex-M4 board, compiled for tinyops-c.")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False),
              help="With --per-op: raw int8 input (default: a fixed random input).")
@json_option
@click.pass_context
def bench_cmd(ctx: click.Context, port: str | None, warmup: int, runs: int, device: str | None,
              per_op: str | None, input_file: str | None, as_json: bool) -> None:
    """Benchmark the device's active model with the MLPerf Tiny command set.

    Reports instructions per inference under QEMU (microseconds on real boards),
    throughput, and agreement with the build's golden outputs; with a workspace
    the result is stored, linked to the build that was flashed.

    With --per-op MODEL, runs MODEL on the Cortex-M4 bench board under QEMU
    (qemu-system-arm -icount shift=0) and prints instructions per op.

    \b
    Example:
      tinyops bench --port socket://127.0.0.1:4444 --runs 20 --warmup 5
      tinyops bench --per-op model_int8.tflite --json
    """
    if (port is None) == (per_op is None):
        raise click.UsageError("give either --port (a device) or --per-op MODEL")
    if per_op is not None:
        _per_op(ctx, per_op, input_file, as_json)
        return
    from tinyops.devices.serial.bench import bench
    from tinyops.workspace import Workspace

    try:
        ws = Workspace.open((ctx.find_root().obj or {}).get("workspace"))
    except WorkspaceError:
        ws = None
    r = bench(port, ws=ws, warmup=warmup, runs=runs, device=device)
    if as_json:
        echo_json(r.to_dict())
        return
    click.echo(f"{r.dut_name} on {r.port}: model {str(r.model_sha256)[:12]}, build {r.build or '-'}")
    if r.instructions_per_inference is not None:
        click.echo(f"  {r.instructions_per_inference:,.0f} instructions/inference (QEMU -icount), "
                   f"{r.throughput_per_s:.1f} inferences per emulated second")
    else:
        click.echo(f"  {r.latency_us:,.1f} us/inference, {r.throughput_per_s:.1f} inferences/s")
    click.echo(f"  MLPerf laps: {r.mlperf_latency_us:,.1f} us/inference over {r.runs} runs ({r.warmup} warm-up)")
    if r.agreement is not None:
        click.echo(f"  agreement with golden outputs: {r.agreement:.1%} of values identical "
                   f"({r.golden_vectors} vectors)")


def _per_op(ctx: click.Context, source: str, input_file: str | None, as_json: bool) -> None:
    from tinyops.devices.op_profile import profile_ops
    from tinyops.runtimes.tinyops_c.source import load_model

    data, _ = load_model(source, lambda: open_workspace(ctx))
    prof = profile_ops(data, Path(input_file).read_bytes() if input_file else None)
    if as_json:
        echo_json(prof.to_dict())
        return
    per_mac = f" ({prof.instructions_per_mac:.2f}/MAC)" if prof.instructions_per_mac else ""
    click.echo(f"{source} on {prof.board}: {prof.instructions:,} instructions{per_mac}, "
               f"{prof.macs:,} MACs, arena {human_bytes(prof.arena_bytes)}")
    echo_table(prof.rows, ["index", "op", "output", "macs", "instructions", "instructions_per_mac", "share"],
               {"output": lambda s: "x".join(map(str, s)) if s else "-", "macs": lambda m: f"{m:,}",
                "instructions": lambda n: f"{n:,}",
                "instructions_per_mac": lambda v: f"{v:.2f}" if v is not None else "-",
                "share": lambda v: f"{v:.1%}"})


COMMANDS = [bench_cmd]
