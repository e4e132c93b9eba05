"""`tinyops bench`: MLPerf Tiny style benchmark of the model a device runs.

Drives the ASCII command set (the same path MLCommons' runner takes) for
latency, and the binary RUN command for the exact per-inference count (QEMU's
instruction count; nanoseconds on the posix board) and for agreement with the
build's golden outputs.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import DeviceError
from tinyops.devices.serial import mlperf, ops
from tinyops.devices.serial.link import Link

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

DEFAULT_WARMUP = 10  # the firmware default for W, as in the reference
DEFAULT_RUNS = 20    # VWW/IC performance scripts use `infer 20 5`


@dataclass
class BenchReport:
    port: str
    board: str
    dut_name: str
    model_sha256: str | None
    runs: int
    warmup: int
    counter_unit: str
    instructions_per_inference: float | None  # QEMU (-icount shift=0)
    latency_us: float | None                  # boards with a real clock
    mlperf_latency_us: float                  # (T1 - T0) / N from m-lap-us
    throughput_per_s: float
    agreement: float | None                   # share of golden outputs identical on the device
    results_agreement: float | None           # `results%` floats vs dequantized golden output
    golden_vectors: int
    arena_capacity: int
    model_image_bytes: int | None
    build: str | None = None
    bench_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bench_device(url: str, *, warmup: int = DEFAULT_WARMUP, runs: int = DEFAULT_RUNS,
                 golden_inputs: np.ndarray | None = None, golden_outputs: np.ndarray | None = None,
                 output_quant: tuple[float, int] | None = None) -> BenchReport:
    """Benchmark the active model on the device at ``url``."""
    if runs <= 0 or warmup < 0:
        raise DeviceError("--runs must be > 0 and --warmup >= 0")
    with Link(url) as link:
        link.drain()
        info = ops.info(link)
        if info.active_slot is None:
            raise DeviceError("the device has no active model", hint="flash one: `tinyops flash BUILD --port URL`")
        dut = mlperf.name(link)
        if golden_inputs is not None and len(golden_inputs):
            x = np.ascontiguousarray(golden_inputs[0]).tobytes()
        else:
            x = bytes(info.input_bytes)
        if len(x) != info.input_bytes:
            raise DeviceError(f"golden input has {len(x)} bytes, the device's model takes {info.input_bytes}",
                              hint="the device runs another model than this build; flash the build first")
        mlperf.load_input(link, x)
        res = mlperf.infer(link, runs, warmup)
        # Exact per-inference counts via RUN on the same input (and golden agreement).
        counts: list[int] = []
        agreement = None
        if golden_inputs is not None and golden_outputs is not None and len(golden_inputs):
            st = ops.self_test(link, golden_inputs, golden_outputs, max_chunk=info.max_chunk)
            counts, agreement = st["counts"], st["identical_share"]
        else:
            counts = [ops.run(link, x, max_chunk=info.max_chunk).count]
        results_agreement = None
        if golden_outputs is not None and output_quant is not None and len(golden_outputs):
            scale, zp = output_quant
            want = (golden_outputs[0].reshape(-1).astype(np.float64) - zp) * scale
            got = np.asarray(res.results, dtype=np.float64)
            if got.size == want.size:
                results_agreement = float(np.mean(np.abs(got - want) <= 0.0005 + 1e-9))
    per = float(statistics.median(counts))
    if info.counter_unit == "instructions":
        instructions, latency = per, None
        throughput = 1e9 / per if per else 0.0  # per virtual second at 1 instruction/ns
    else:
        instructions = None
        latency = per / 1000.0 if info.counter_unit == "nanoseconds" else res.latency_us
        throughput = 1e6 / latency if latency else 0.0
    return BenchReport(port=url, board=info.board, dut_name=dut, model_sha256=info.active_sha256, runs=runs,
                       warmup=warmup, counter_unit=info.counter_unit, instructions_per_inference=instructions,
                       latency_us=latency, mlperf_latency_us=res.latency_us, throughput_per_s=throughput,
                       agreement=agreement, results_agreement=results_agreement,
                       golden_vectors=0 if golden_inputs is None else len(golden_inputs),
                       arena_capacity=info.arena_capacity,
                       model_image_bytes=info.slots[info.active_slot].size,
                       detail={"counts": counts, "t0_us": res.t0_us, "t1_us": res.t1_us, "results": res.results})


def bench(url: str, *, ws: Workspace | None = None, warmup: int = DEFAULT_WARMUP, runs: int = DEFAULT_RUNS,
          device: str | None = None) -> BenchReport:
    """Benchmark; with a workspace, find the build deployed with that image, use its
    golden vectors, and store the result linked to the build."""
    build = gin = gout = quant = None
    if ws is not None:
        from tinyops.registry import builds, deployments
        from tinyops.devices.serial.flash import load_golden

        with Link(url) as link:
            link.drain()
            sha = ops.info(link).active_sha256
        build_id = deployments.build_for_image(ws, sha) if sha else None
        if build_id:
            build = builds.get(ws, build_id)
            if "golden.npz" in build.files:
                gin, gout = load_golden(builds.file_bytes(ws, build, "golden.npz"))
            quant = _output_quant(ws, build)
    report = bench_device(url, warmup=warmup, runs=runs, golden_inputs=gin, golden_outputs=gout, output_quant=quant)
    if ws is not None:
        from tinyops.registry import deployments

        per = report.instructions_per_inference if report.instructions_per_inference is not None else report.latency_us
        unit = "instructions" if report.instructions_per_inference is not None else "us"
        row = deployments.record_bench(ws, build=build.id if build else None, device=device or url, port=url,
                                       image_sha256=report.model_sha256, runs=runs, warmup=warmup, unit=unit,
                                       per_inference=float(per or 0.0), agreement=report.agreement,
                                       detail=report.to_dict())
        report.build = build.id if build else None
        report.bench_id = row.id
    return report


def _output_quant(ws: Workspace, build) -> tuple[float, int] | None:
    import json

    from tinyops.registry import builds

    if "manifest.json" not in build.files:
        return None
    manifest = json.loads(builds.file_bytes(ws, build, "manifest.json"))
    outs = manifest.get("outputs") or []
    if len(outs) != 1 or outs[0].get("scale") is None:
        return None
    return float(outs[0]["scale"]), int(outs[0]["zero_point"])
