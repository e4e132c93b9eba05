"""Refuse, before any byte goes over the link, an image the device's firmware cannot run."""

from __future__ import annotations

from tinyops.devices import runtime_choice
from tinyops.devices.serial.protocol import DeviceInfo
from tinyops.errors import DeviceError
from tinyops.runtimes import tflite_file


class Incompatible(DeviceError):
    """Not retried: reconnecting does not change the firmware."""


def check(info: DeviceInfo, image: bytes) -> None:
    """A TFLM image needs TFLM firmware with every op of the model; a tinyops-c image tinyops-c firmware."""
    tflm = runtime_choice.parse_tflm_image(image)
    if tflm is None:
        if info.runtime != "tinyops-c":
            raise Incompatible(f"the device runs {info.runtime} firmware; this is a tinyops-c model image",
                              hint="rebuild with `tinyops build --runtime tflm` (or flash tinyops-c firmware)")
        return
    arena, model = tflm
    if not info.runtime.startswith("tflm"):
        raise Incompatible(f"this build needs TFLM firmware; the device runs {info.runtime}",
                          hint="start the board with TFLM firmware (`tinyops sim start BOARD --runtime tflm`) "
                               "or rebuild with `--runtime tinyops-c`")
    missing = sorted(set(tflite_file.read(model).op_names) - set(info.runtime_ops))
    if missing:
        raise Incompatible(f"the device's {info.runtime} firmware lacks ops this build uses: {', '.join(missing)}",
                          hint="add them to firmware/tflm/ops.def and rebuild the firmware")
    if arena > info.arena_capacity:
        raise Incompatible(f"the model needs a {arena} B arena; the device has {info.arena_capacity} B",
                          hint="make the model smaller or build the firmware with a larger FW_ARENA_CAPACITY")
