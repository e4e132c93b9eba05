"""Fit check: does a model variant fit a device profile, and how fast might it run?

Flash needed = the runtime's code + one copy of the model per slot; RAM needed =
the runtime's state + the arena. The arena comes from a measurement, never a
guess: the TFLM interpreter bisected in a subprocess (``tflm``), the model
image's static memory plan (``tinyops-c``), or model plus every tensor
(``litert``, where RAM is plentiful and a guess is harmless). Latency is an
*estimate* from MACs and the profile's cycles-per-MAC coefficient.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.ml.inspect import count_macs
from tinyops.runtimes import tflite_file
from tinyops.devices.profiles import Profile

if TYPE_CHECKING:
    from tinyops.registry.variants import Variant
    from tinyops.workspace import Workspace

KB = 1024


@dataclass
class FitReport:
    profile: str
    runtime: str
    model: str | None
    variant: str | None
    fits: bool
    flash_needed_bytes: int
    flash_available_bytes: int
    ram_needed_bytes: int
    ram_available_bytes: int
    model_bytes: int  # what one slot holds: the .tflite, or the model image for tinyops-c
    slots: int
    runtime_flash_bytes: int
    runtime_ram_bytes: int
    arena_bytes: int
    arena_source: str
    ops: list[str]
    unsupported_ops: list[str]
    quantization: str | None
    quantization_supported: bool
    macs: int
    latency_estimate_ms: float
    latency_is_estimate: bool = True
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def kb(n: int) -> str:
    """Bytes as the KB figure a datasheet would print (rounded up: never understate a need)."""
    return f"{-(-n // KB)} KB" if n < 10 * KB * KB else f"{n / (KB * KB):.1f} MB"


def tensor_sum_bytes(model: tflite_file.TFLiteModel) -> int:
    """Every non-constant tensor added up: what you need with no memory planning at all."""
    total = 0
    for t in model.tensors:
        if t.is_constant or not t.shape:
            continue
        itemsize = np.dtype(t.dtype).itemsize if t.dtype in np.sctypeDict else 4
        total += int(np.prod(t.shape)) * itemsize
    return total


def check_model(profile: Profile, model_bytes: bytes, *, arena_bytes: int, arena_source: str,
                slot_bytes: int | None = None, quantization: str | None = None,
                model: str | None = None, macs: int | None = None) -> FitReport:
    """The fit arithmetic, given the arena (measured by the caller) and what one slot holds."""
    parsed = tflite_file.read(model_bytes)
    ops = parsed.op_names
    unsupported = [op for op in ops if not profile.supports_op(op)]
    slot = slot_bytes if slot_bytes is not None else len(model_bytes)
    flash_needed = profile.runtime_flash_bytes + profile.slots * slot
    ram_needed = profile.runtime_ram_bytes + arena_bytes
    quant_ok = quantization is None or quantization in profile.quantizations
    if macs is None:
        macs = count_macs(parsed)
    latency_ms = macs * profile.cycles_per_mac / profile.clock_hz * 1000.0

    problems: list[str] = []
    if flash_needed > profile.flash_free_bytes:
        slots = f" ({profile.slots} slots of {kb(slot)} + {kb(profile.runtime_flash_bytes)} runtime)" if profile.slots > 1 else ""
        problems.append(f"needs {kb(flash_needed)} flash{slots}, the board has {kb(profile.flash_free_bytes)} free")
    if ram_needed > profile.ram_free_bytes:
        problems.append(f"needs {kb(ram_needed)} RAM ({kb(arena_bytes)} arena + {kb(profile.runtime_ram_bytes)} runtime), "
                        f"the board has {kb(profile.ram_free_bytes)} free")
    if unsupported:
        problems.append(f"the {profile.runtime} runtime lacks these ops: {', '.join(unsupported)}")
    if not quant_ok:
        problems.append(f"the {profile.runtime} runtime runs {'/'.join(profile.quantizations)} models, "
                        f"not {quantization}")
    return FitReport(
        profile=profile.id, runtime=profile.runtime, model=model, variant=quantization, fits=not problems,
        flash_needed_bytes=flash_needed, flash_available_bytes=profile.flash_free_bytes,
        ram_needed_bytes=ram_needed, ram_available_bytes=profile.ram_free_bytes,
        model_bytes=slot, slots=profile.slots, runtime_flash_bytes=profile.runtime_flash_bytes,
        runtime_ram_bytes=profile.runtime_ram_bytes, arena_bytes=arena_bytes, arena_source=arena_source,
        ops=ops, unsupported_ops=unsupported, quantization=quantization, quantization_supported=quant_ok,
        macs=macs, latency_estimate_ms=round(latency_ms, 4), problems=problems,
    )


# ---- against the registry ------------------------------------------------
@dataclass
class Footprint:
    """What one variant occupies on one profile's runtime."""

    slot_bytes: int  # bytes one model slot holds
    arena_bytes: int  # RAM the runtime needs for tensors
    arena_source: str
    tflm_arena_bytes: int | None  # measured in the TFLM interpreter (MCU profiles)
    image: bytes | None = None  # the tinyops-c model image, when compiled


def footprint(ws: Workspace, profile: Profile, tflite: bytes, quant: str | None, *, strict: bool = False) -> Footprint:
    """Measure the variant for the profile's runtime. ``strict`` (builds): a model image
    that fails to compile is an error; otherwise (fit reports) the TFLM figures stand in."""
    from tinyops.errors import ModelError, TinyOpsError
    from tinyops.runtimes.arena import measure_arena
    from tinyops.runtimes.tinyops_c import compile_image

    model = tflite_file.read(tflite)
    if not profile.is_mcu:
        # LiteRT maps the model and allocates every tensor: no plan to measure, RAM is plentiful.
        return Footprint(len(tflite), len(tflite) + tensor_sum_bytes(model),
                         "model + every tensor (LiteRT, no arena planning)", None)
    try:
        tflm_arena: int | None = measure_arena(tflite, cache=ws)
    except ModelError:
        tflm_arena = None  # TFLM cannot run it; the fit report lists why (ops, quantization)
    if profile.runtime == "tinyops-c" and (quant is None or quant in profile.quantizations) \
            and all(profile.supports_op(op) for op in model.op_names):
        try:
            compiled = compile_image(tflite)
        except TinyOpsError:
            if strict:
                raise
            compiled = None
        if compiled is not None:
            return Footprint(len(compiled.image), int(compiled.arena_bytes),
                             "tinyops-c model image static plan", tflm_arena, compiled.image)
    if tflm_arena is not None:
        return Footprint(len(tflite), tflm_arena, "measured in the TFLM interpreter", tflm_arena)
    return Footprint(len(tflite), tensor_sum_bytes(model),
                     "sum of all tensors (TFLM could not run the model to measure)", None)


def check(ws: Workspace, v: Variant, profile_name: str) -> FitReport:
    """Fit report of a registered variant against a device profile."""
    from tinyops.registry import variants
    from tinyops.devices.profiles import load

    profile = load(profile_name, ws.root)
    tflite = variants.blob_bytes(ws, v)
    fp = footprint(ws, profile, tflite, v.quant)
    return check_model(profile, tflite, arena_bytes=fp.arena_bytes, arena_source=fp.arena_source,
                       slot_bytes=fp.slot_bytes, quantization=v.quant, model=v.model_ref)
