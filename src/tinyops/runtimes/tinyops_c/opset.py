"""The op set of tinyops-c images: which runtime kernels a firmware must link to run them.

A firmware built with ``TOR_OPSET=<mask>`` (firmware/runtime/tor_opset.h; bit n is op code n
of format.OPCODES) links only those kernels and refuses any image that uses another op, so
the device keeps its last good model. ``opset`` reads the codes from the images themselves,
SEGMENT members included (their CONV_2D / DEPTHWISE_CONV_2D / ADD must be validated too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyops.errors import InputError
from tinyops.runtimes.tinyops_c import format as fmt

_NAMES = {code: name for name, code in fmt.OPCODES.items()}


@dataclass(frozen=True)
class OpSet:
    mask: int

    @property
    def names(self) -> list[str]:
        return [_NAMES[c] for c in sorted(_NAMES) if self.mask >> c & 1]

    @property
    def make_var(self) -> str:
        """The firmware's make variable: ``make -C firmware BOARD=... TOR_OPSET=0x...``."""
        return f"TOR_OPSET=0x{self.mask:x}"

    def to_dict(self) -> dict[str, Any]:
        return {"mask": self.mask, "ops": self.names, "make_var": self.make_var}

    def __contains__(self, name: str) -> bool:
        return name in fmt.OPCODES and bool(self.mask >> fmt.OPCODES[name] & 1)


def _codes(image: bytes) -> set[int]:
    if len(image) < fmt.HEADER.size:
        raise InputError("not a tinyops-c image (shorter than its header)", hint="pass a compiled model.img")
    h = dict(zip(fmt.HEADER_FIELDS, fmt.HEADER.unpack_from(image, 0)))
    if h["magic"] != fmt.MAGIC or h["image_size"] != len(image):
        raise InputError("not a tinyops-c image (bad magic or size)", hint="pass a compiled model.img")
    if h["ops_off"] + fmt.OP.size * h["n_ops"] > len(image):
        raise InputError("the image's op table runs past its end", hint="recompile the model")
    codes: set[int] = set()
    seg = fmt.PARAMS["segment"]
    for i in range(h["n_ops"]):
        code, off, size = fmt.OP.unpack_from(image, h["ops_off"] + i * fmt.OP.size)
        if code not in _NAMES:
            raise InputError(f"the image uses op code {code}, which this tinyops does not know",
                             hint="compile the model with this tinyops version")
        codes.add(code)
        if code == fmt.OPCODES["SEGMENT"]:
            if size != seg.size or off + size > len(image):
                raise InputError("a SEGMENT op's parameters are out of bounds", hint="recompile the model")
            words = seg.unpack_from(image, off)  # n_members, reserved[3], then code[MAX_SEGMENT]
            codes.update(c for c in words[4:4 + min(max(words[0], 0), fmt.MAX_SEGMENT)] if c in _NAMES)
    return codes


def opset(*images: bytes) -> OpSet:
    """The smallest op set that runs every one of ``images``."""
    mask = 0
    for image in images:
        for c in _codes(image):
            mask |= 1 << c
    return OpSet(mask)


def opset_of_names(names: list[str]) -> OpSet:
    """An op set from op names (``CONV_2D``, ...), for a firmware that should take several models."""
    unknown = [n for n in names if n.upper() not in fmt.OPCODES]
    if unknown:
        raise InputError(f"unknown tinyops-c op {', '.join(unknown)}",
                         hint=f"choose among: {', '.join(sorted(fmt.OPCODES))}")
    return OpSet(sum(1 << fmt.OPCODES[n.upper()] for n in set(names)))
