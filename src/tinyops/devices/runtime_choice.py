"""Which model runtime a microcontroller build uses: tinyops-c, TFLM, or TFLM + CMSIS-NN.

A Cortex-M profile whose runtime is tinyops-c can also run the TFLM firmware
(``firmware/tflm``). ``auto`` takes tinyops-c when it supports every op of the model
(smallest firmware, no C++), otherwise TFLM — with CMSIS-NN kernels on Cortex-M.
The TFLM firmware's op set is the one it is built with (``firmware/tflm/ops.def``),
never "every TFLM op".

A TFLM slot image is ``"TFLM" | arena_bytes u32 | model_len u32 | 0 u32 | .tflite``
(little-endian); the firmware gives the interpreter exactly ``arena_bytes``.
"""

from __future__ import annotations

import dataclasses
import struct

from tinyops.devices.profiles import Profile
from tinyops.errors import InputError

RUNTIMES = ("tinyops-c", "tflm", "tflm-cmsis-nn")
CHOICES = ("auto", *RUNTIMES)
TFLM_MAGIC = b"TFLM"
TFLM_HEADER = 16
# Firmware code + state beyond tinyops-c's, measured: arm-none-eabi-size of the qemu-mps2-an386
# firmware (tinyops-c 37 KB .text; TFLM reference 176 KB; TFLM + CMSIS-NN 232 KB: benchmarks/runtimes_m4.json).
RUNTIME_FLASH = {"tflm": 176 * 1024, "tflm-cmsis-nn": 232 * 1024}
RUNTIME_RAM = {"tflm": 4 * 1024, "tflm-cmsis-nn": 4 * 1024}
# Cores the TFLM libraries are built for (Cortex-M4F hard float; the host for the posix firmware), and the
# runtimes a tinyops-c board of that core can take; other cores keep their own runtime.
TFLM_CORES = {"cortex-m4f": RUNTIMES, "host": ("tinyops-c", "tflm")}


def tflm_ops() -> tuple[str, ...]:
    from tinyops.devices.tflm_build import firmware_ops

    return tuple(firmware_ops())


def available(profile: Profile) -> list[str]:
    """Runtimes a profile's board can run: its own, plus TFLM on tinyops-c Cortex-M4F boards and
    TFLM's reference kernels on the posix firmware (built with the host compiler)."""
    if profile.runtime == "tinyops-c" and profile.core.lower() in TFLM_CORES:
        return list(TFLM_CORES[profile.core.lower()])
    return [profile.runtime]


def with_runtime(profile: Profile, runtime: str) -> Profile:
    """The profile as it is when its firmware uses ``runtime``."""
    if runtime == profile.runtime:
        return profile
    if runtime not in available(profile):
        raise InputError(f"{profile.id} cannot run the {runtime} runtime",
                         hint="runtimes for it: " + ", ".join(available(profile)))
    return dataclasses.replace(profile, runtime=runtime, ops=tflm_ops(), quantizations=("int8", "float32"),
                               runtime_flash_bytes=RUNTIME_FLASH[runtime], runtime_ram_bytes=RUNTIME_RAM[runtime])


def supports(profile: Profile, ops: list[str]) -> bool:
    return all(profile.supports_op(op) for op in ops)


def choose(profile: Profile, ops: list[str], requested: str = "auto") -> str:
    """The runtime for a model with ``ops`` on ``profile``: ``requested``, or auto's pick."""
    if requested not in CHOICES:
        raise InputError(f"unknown runtime '{requested}'", hint="use one of: " + ", ".join(CHOICES))
    if requested != "auto":
        return with_runtime(profile, requested).runtime
    runtimes = available(profile)
    if len(runtimes) == 1 or supports(profile, ops):
        return profile.runtime
    return "tflm-cmsis-nn" if profile.core.lower().startswith("cortex-m") else "tflm"


def tflm_image(tflite: bytes, arena_bytes: int) -> bytes:
    return TFLM_MAGIC + struct.pack("<III", arena_bytes, len(tflite), 0) + tflite


def parse_tflm_image(image: bytes) -> tuple[int, bytes] | None:
    """(arena_bytes, .tflite) of a TFLM slot image, None for any other image."""
    if len(image) < TFLM_HEADER or image[:4] != TFLM_MAGIC:
        return None
    arena, n, _ = struct.unpack_from("<III", image, 4)
    return arena, image[TFLM_HEADER:TFLM_HEADER + n]
