"""Instructions per op of a tinyops-c model on the Cortex-M4 bench board under QEMU.

The bench firmware (firmware/bench) runs one whole ``tor_invoke`` and then every op
alone (``tor_invoke_op``) with SysTick read around each; under ``-icount shift=0`` the
ticks are instructions (calibrated against a loop of known length). The rows join those
counts with the compiler's op table (TFLite op, output shape, MACs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tinyops.devices.qemu_bench import run_image
from tinyops.errors import DeviceError, InputError
from tinyops.runtimes.tinyops_c.compiler import CompiledImage, compile_image

BOARD = "qemu-mps2-an386 (Cortex-M4, -icount shift=0)"


@dataclass
class OpProfile:
    board: str
    instructions: int  # one whole tor_invoke
    macs: int
    arena_bytes: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def instructions_per_mac(self) -> float | None:
        return round(self.instructions / self.macs, 3) if self.macs else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "instructions_per_mac": self.instructions_per_mac}


def random_input(compiled: CompiledImage, seed: int = 0) -> bytes:
    """A reproducible int8 input of the model's input shape."""
    shape = compiled.inputs[0]["shape"]
    return np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8).tobytes()


def profile_compiled(compiled: CompiledImage, input_bytes: bytes | None = None, *, seed: int = 0) -> OpProfile:
    """Run ``compiled`` once on the bench board and return instructions per op."""
    x = random_input(compiled, seed) if input_bytes is None else input_bytes
    need = int(np.prod(compiled.inputs[0]["shape"]))
    if len(x) != need:
        raise InputError(f"the input has {len(x)} bytes; the model takes {need} (int8, shape "
                         f"{compiled.inputs[0]['shape']})", hint="pass a raw int8 file of that size, or no --input")
    run = run_image(compiled.image, x)
    if run.status != 0:
        raise DeviceError(f"the bench firmware refused the image (status {run.status})",
                          hint="compile the model with this tinyops version")
    if len(run.op_instructions) != len(compiled.op_table):
        raise DeviceError(f"the bench reported {len(run.op_instructions)} ops, the image has "
                          f"{len(compiled.op_table)}", hint="rebuild the bench firmware (clear ~/.cache/tinyops/bench)")
    total_ops = sum(run.op_instructions) or 1
    rows = []
    for op, n in zip(compiled.op_table, run.op_instructions):
        rows.append({**op, "instructions": n,
                     "instructions_per_mac": round(n / op["macs"], 3) if op["macs"] else None,
                     "share": round(n / total_ops, 4)})
    return OpProfile(board=BOARD, instructions=run.instructions, macs=sum(o["macs"] for o in compiled.op_table),
                     arena_bytes=run.arena_bytes, rows=rows)


def profile_ops(tflite_bytes: bytes, input_bytes: bytes | None = None, *, seed: int = 0) -> OpProfile:
    """Compile an int8 .tflite for tinyops-c and profile it op by op (see profile_compiled)."""
    return profile_compiled(compile_image(tflite_bytes), input_bytes, seed=seed)
