"""Every runtime a board can run a model with, side by side (``device-profile check``).

Per runtime: the fit (flash, RAM) and the instructions per inference measured on the
emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0) — tinyops-c on its bench firmware,
TFLM through the export probe — scaled to the profile's clock at one instruction per
cycle (an estimate: QEMU models no pipeline or wait states). The row ``auto`` picks is marked.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.devices import codegen, fit, runtime_choice, tflm_build
from tinyops.devices.profiles import Profile, load
from tinyops.errors import TinyOpsError
from tinyops.runtimes import tflite_file

if TYPE_CHECKING:
    from tinyops.registry.variants import Variant
    from tinyops.workspace import Workspace

PROBE_ARENA_MIN = 64 * 1024


@dataclass
class RuntimeRow:
    runtime: str
    auto: bool
    fits: bool
    flash_needed_bytes: int
    ram_needed_bytes: int
    arena_bytes: int
    unsupported_ops: list[str]
    instructions_per_inference: int | None
    ms_at_profile_clock: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _measure(runtime: str, tflite: bytes, x: np.ndarray, host_arena: int) -> tuple[int | None, int | None, str]:
    """(instructions, arena on the target, note) on QEMU mps2-an386."""
    if shutil.which("qemu-system-arm") is None:
        return None, None, "qemu-system-arm is not installed"
    try:
        if runtime == "tinyops-c":
            from tinyops.devices import qemu_bench
            from tinyops.runtimes.tinyops_c import compile_image

            r = qemu_bench.run_image(bytes(compile_image(tflite).image), x.tobytes())
            return r.instructions, r.arena_bytes, ""
        if not tflm_build.available():
            return None, None, tflm_build.unavailable_note()
        from tinyops.devices import tflm_probe

        variant = "cmsisnn" if runtime == "tflm-cmsis-nn" else "ref"
        # Bisect around the host figure, as the build's own export does.
        arena = max(2 * host_arena, PROBE_ARENA_MIN)
        res = tflm_probe.run_export(codegen.tflm_export("check", tflite, arena), x[None], variant=variant,
                                    arena_max=2 * arena)
        return res.instructions, res.min_arena, ""
    except TinyOpsError as e:
        return None, None, str(e).splitlines()[0]


def compare(ws: Workspace, v: Variant, profile_name: str, *, measure: bool = True) -> tuple[fit.FitReport, list[RuntimeRow]]:
    """auto's fit report, and one row per runtime the board can run."""
    from tinyops.registry import variants

    base: Profile = load(profile_name, ws.root)
    tflite = variants.blob_bytes(ws, v)
    ops = tflite_file.read(tflite).op_names
    pick = runtime_choice.choose(base, ops, "auto")
    x = None
    if measure and base.is_mcu:
        from tinyops.runtimes import open_runtime

        with open_runtime("tflm", tflite) as rt:
            shape = rt.inputs[0].shape
            dtype = np.dtype(rt.inputs[0].dtype)
        x = np.random.default_rng(0).integers(-128, 128, size=tuple(shape[1:]), dtype=np.int8).astype(dtype)
    rows, chosen = [], None
    for runtime in runtime_choice.available(base):
        p = runtime_choice.with_runtime(base, runtime)
        fp = fit.footprint(ws, p, tflite, v.quant)
        rep = fit.check_model(p, tflite, arena_bytes=fp.arena_bytes, arena_source=fp.arena_source,
                              slot_bytes=fp.slot_bytes, quantization=v.quant, model=v.model_ref)
        if runtime == pick:
            chosen = rep
        instr = arena = None
        note = ""
        if x is not None and rep.fits:
            instr, arena, note = _measure(runtime, tflite, x, fp.arena_bytes)
        ms = round(instr / p.clock_hz * 1000, 3) if instr and p.clock_hz else None
        rows.append(RuntimeRow(runtime, runtime == pick, rep.fits, rep.flash_needed_bytes, rep.ram_needed_bytes,
                               arena if arena is not None else rep.arena_bytes, rep.unsupported_ops, instr, ms, note))
    assert chosen is not None
    return chosen, rows
