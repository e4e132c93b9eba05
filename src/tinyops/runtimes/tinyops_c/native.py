"""The host build of the tinyops-c runtime, behind the ``ml.runtimes`` interface.

``NativeRuntime(model_bytes)`` compiles the .tflite to a model image, loads it into the
C runtime (firmware/runtime, built with gcc into a shared library on first use and
cached by a hash of its sources) and runs it through ctypes.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tinyops.errors import ModelError
from tinyops.package_data import cache_dir, runtime_dir
from tinyops.runtimes.tinyops_c.compiler import CompiledImage, compile_image

_LIB: ctypes.CDLL | None = None


def runtime_source_dir() -> Path:
    """firmware/runtime of this checkout (or $TINYOPS_RUNTIME_SRC)."""
    env = os.environ.get("TINYOPS_RUNTIME_SRC")
    candidates = [Path(env)] if env else []
    candidates.append(runtime_dir())
    for c in candidates:
        if (c / "tinyops_rt.h").exists():
            return c
    raise ModelError("the tinyops-c runtime sources (firmware/runtime) were not found",
                     hint="run from a tinyops checkout or set TINYOPS_RUNTIME_SRC to firmware/runtime")


def _sources(src: Path) -> list[Path]:
    return sorted(src.glob("*.c")) + sorted(src.glob("*.h"))


def build_library(cflags: tuple[str, ...] = ("-O2",)) -> Path:
    """Build (once per source hash) the runtime as a shared library; return its path."""
    src = runtime_source_dir()
    h = hashlib.sha256(" ".join(cflags).encode())
    for f in _sources(src):
        h.update(f.name.encode() + f.read_bytes())
    cache = cache_dir("native", h.hexdigest()[:16])
    lib = cache / "libtinyops_rt.so"
    if lib.exists():
        return lib
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise ModelError("no C compiler found to build the tinyops-c runtime", hint="install gcc")
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".so")
    os.close(fd)
    cmd = [cc, "-std=c99", *cflags, "-Wall", "-fPIC", "-shared", "-o", tmp,
           *[str(f) for f in sorted(src.glob("*.c"))], "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise ModelError(f"building the tinyops-c runtime failed: {proc.stderr.strip()[-800:]}",
                         hint="check that gcc works; the sources are in firmware/runtime")
    os.replace(tmp, lib)  # atomic, so concurrent builders never load half a file
    return lib


class _Model(ctypes.Structure):
    _fields_ = [("image", ctypes.c_void_p), ("image_size", ctypes.c_uint32), ("arena", ctypes.c_void_p),
                ("arena_size", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 8)]


def library() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        lib = ctypes.CDLL(str(build_library()))
        u8p, u32, u32p = ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)
        lib.tor_status_message.restype = ctypes.c_char_p
        lib.tor_status_message.argtypes = [ctypes.c_int]
        lib.tor_validate.argtypes = [u8p, u32, u32p]
        lib.tor_load.argtypes = [ctypes.POINTER(_Model), u8p, u32, u8p, u32]
        lib.tor_invoke.argtypes = [ctypes.POINTER(_Model)]
        for name in ("tor_input", "tor_output"):
            getattr(lib, name).argtypes = [ctypes.POINTER(_Model), u32, ctypes.POINTER(ctypes.c_void_p), u32p]
        _LIB = lib
    return _LIB


class _Aligned:
    """A byte buffer whose data starts on a 16-byte boundary (the runtime requires it)."""

    def __init__(self, size: int, content: bytes = b"") -> None:
        self._raw = ctypes.create_string_buffer(size + 16)
        base = ctypes.addressof(self._raw)
        self.address = (base + 15) & ~15
        self.size = size
        if content:
            ctypes.memmove(self.address, content, len(content))


def status_message(code: int) -> str:
    return library().tor_status_message(code).decode()


def validate_image(image: bytes) -> tuple[int, int]:
    """Run the C loader's validation on ``image``: (status code, arena bytes needed)."""
    buf = _Aligned(len(image), image)
    need = ctypes.c_uint32(0)
    code = library().tor_validate(buf.address, len(image), ctypes.byref(need))
    return code, need.value


def load_status(image: bytes, arena_bytes: int) -> int:
    """Status of ``tor_load`` for ``image`` with an arena of ``arena_bytes``."""
    buf, arena, model = _Aligned(len(image), image), _Aligned(max(arena_bytes, 1)), _Model()
    return library().tor_load(ctypes.byref(model), buf.address, len(image), arena.address, arena_bytes)


class NativeRuntime:
    """Runs a .tflite through our C runtime; same interface as the ml.runtimes backends."""

    kind = "tinyops-c"

    def __init__(self, model_bytes: bytes, *, compiled: CompiledImage | None = None) -> None:
        from tinyops.runtimes.tensors import TensorInfo

        self.compiled = compiled or compile_image(bytes(model_bytes))
        lib = library()
        self._lib = lib
        image = self.compiled.image
        self._image = _Aligned(len(image), image)
        self._arena = _Aligned(max(self.compiled.arena_bytes, 16))
        self._model = _Model()
        code = lib.tor_load(ctypes.byref(self._model), self._image.address, len(image), self._arena.address,
                            self._arena.size)
        if code != 0:
            raise ModelError(f"the tinyops-c runtime rejected the image: {status_message(code)} (code {code})",
                             hint="recompile the model with `tinyops compile`; report a bug if it persists")

        def info(d: dict[str, Any]) -> TensorInfo:
            return TensorInfo(d["name"], tuple(d["shape"]), d["dtype"], d["scale"], d["zero_point"])

        self.inputs = [info(d) for d in self.compiled.inputs]
        self.outputs = [info(d) for d in self.compiled.outputs]

    def _tensor(self, which: str, i: int) -> tuple[int, int]:
        ptr, size = ctypes.c_void_p(), ctypes.c_uint32()
        code = getattr(self._lib, which)(ctypes.byref(self._model), i, ctypes.byref(ptr), ctypes.byref(size))
        if code != 0:
            raise ModelError(f"{which}({i}) failed: {status_message(code)}", hint="check the model's inputs/outputs")
        return int(ptr.value or 0), int(size.value)

    def run(self, x: np.ndarray) -> np.ndarray:
        from tinyops.runtimes.tensors import check_input

        return self.run_all([check_input(x, self.inputs[0], stacked=False)])[0]

    def run_all(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run with every model input given (in model order); return every output."""
        if len(inputs) != len(self.inputs):
            raise ModelError(f"the model has {len(self.inputs)} inputs, {len(inputs)} given", hint="pass one array per input")
        for i, (x, info) in enumerate(zip(inputs, self.inputs)):
            data = np.ascontiguousarray(np.asarray(x, dtype=info.dtype)).tobytes()
            addr, size = self._tensor("tor_input", i)
            if len(data) != size:
                raise ModelError(f"input {i} holds {len(data)} bytes, the image expects {size}",
                                 hint="check the input shape")
            ctypes.memmove(addr, data, size)
        code = self._lib.tor_invoke(ctypes.byref(self._model))
        if code != 0:
            raise ModelError(f"tinyops-c invoke failed: {status_message(code)} (code {code})",
                             hint="the model hit a case the runtime rejects at run time (e.g. an empty pooling window)")
        outs = []
        for i, info in enumerate(self.outputs):
            addr, size = self._tensor("tor_output", i)
            outs.append(np.frombuffer(ctypes.string_at(addr, size), dtype=info.dtype).reshape(info.shape).copy())
        return outs

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        from tinyops.runtimes.tensors import check_input

        xs = check_input(xs, self.inputs[0], stacked=True)
        out = self.outputs[0]
        ys = np.zeros((len(xs), *out.shape[1:]), dtype=out.dtype)
        for k, x in enumerate(xs):  # batch 1 models: each sample is one invoke
            ys[k] = self.run_all([x.reshape(self.inputs[0].shape)])[0].reshape(out.shape[1:])
        return ys

    def close(self) -> None:
        pass  # memory is owned by Python objects; nothing to release

    def __enter__(self) -> NativeRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
