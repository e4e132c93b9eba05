"""What every runtime shares: tensor details, the :class:`Runtime` interface, and
checking/quantizing inputs against a tensor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from tinyops.errors import InputError


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


class Runtime(Protocol):
    kind: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def run(self, x: np.ndarray) -> np.ndarray: ...

    def run_many(self, xs: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def check_input(x: np.ndarray, info: TensorInfo, *, stacked: bool) -> np.ndarray:
    x = np.asarray(x)
    want = tuple(info.shape[1:]) if stacked else tuple(info.shape)
    got = tuple(x.shape[1:]) if stacked else tuple(x.shape)
    if got != want:
        what = f"(K, {', '.join(map(str, want))})" if stacked else str(want)
        raise InputError(f"input shaped {tuple(x.shape)} does not fit the model input {what}",
                         hint="reshape the data to the model's input shape")
    if x.dtype != np.dtype(info.dtype):
        raise InputError(f"input dtype {x.dtype} does not match the model input dtype {info.dtype}",
                         hint="quantize float data with tinyops.runtimes.quantize(x, info)" if info.dtype in ("int8", "uint8", "int16") else f"cast to {info.dtype}")
    return np.ascontiguousarray(x)


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float data into the tensor's dtype (int8 with scale/zero point, or a plain cast)."""
    dtype = np.dtype(info.dtype)
    if dtype.kind in "iu" and info.scale:
        lim = np.iinfo(dtype)
        q = np.round(np.asarray(x, np.float64) / info.scale) + (info.zero_point or 0)
        return np.clip(q, lim.min, lim.max).astype(dtype)
    return np.asarray(x).astype(dtype)


def dequantize(y: np.ndarray, info: TensorInfo) -> np.ndarray:
    if np.dtype(info.dtype).kind in "iu" and info.scale:
        return (y.astype(np.float64) - (info.zero_point or 0)) * info.scale
    return y.astype(np.float64)
