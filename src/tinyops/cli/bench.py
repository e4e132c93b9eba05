"""`tinyops bench`: MLPerf Tiny benchmark of the model a device runs."""

from __future__ import annotations

import click

from tinyops.errors import WorkspaceError
from tinyops.cli.common import echo_json, json_option


@click.command("bench")
@click.option("--port", "-p", required=True, help="Serial URL of the device.")
@click.option("--warmup", "-W", default=10, show_default=True, help="Warm-up inferences (MLPerf `infer N W`).")
@click.option("--runs", "-n", default=20, show_default=True, help="Timed inferences.")
@click.option("--device", "-d", help="Registered device id to store the result under (default: the port URL).")
@json_option
@click.pass_context
def bench_cmd(ctx: click.Context, port: str, warmup: int, runs: int, device: str | None, as_json: bool) -> None:
    """Benchmark the device's active model with the MLPerf Tiny command set.

    Reports instructions per inference under QEMU (microseconds on real boards),
    throughput, and agreement with the build's golden outputs; with a workspace
    the result is stored, linked to the build that was flashed.

    \b
    Example:
      tinyops bench --port socket://127.0.0.1:4444 --runs 20 --warmup 5
    """
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


COMMANDS = [bench_cmd]
