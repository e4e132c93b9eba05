"""The firmware's feature code (firmware/features) built for the host and run through ctypes.

Tests compare it with the numpy integer reference; the build is cached by a hash of
the sources, like the tinyops-c runtime's host library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyops.errors import ModelError
from tinyops.package_data import cache_dir, firmware_dir

_LIB: ctypes.CDLL | None = None


def source_dir() -> Path:
    return firmware_dir() / "features"


def build_library() -> Path:
    src = source_dir()
    files = sorted(src.glob("*.c")) + sorted(src.glob("*.h"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    cache = cache_dir("features", h.hexdigest()[:16])
    lib = cache / "libtinyops_features.so"
    if lib.exists():
        return lib
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise ModelError("no C compiler found to build the feature code", hint="install gcc")
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".so")
    os.close(fd)
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-o", tmp,
           *[str(f) for f in sorted(src.glob("*.c"))]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise ModelError(f"building the feature code failed: {proc.stderr.strip()[-800:]}",
                         hint="check that gcc works; the sources are in firmware/features")
    os.replace(tmp, lib)
    return lib


class _Pipeline(ctypes.Structure):
    _fields_ = [("raw", ctypes.c_uint8 * 256)]  # larger than tfe_pipeline on any host


def library() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        lib = ctypes.CDLL(str(build_library()))
        lib.tfe_parse.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        lib.tfe_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.tfe_output_count.argtypes = [ctypes.c_void_p]
        lib.tfe_output_count.restype = ctypes.c_uint32
        lib.tfs_parse.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        lib.tfs_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p]
        for name in ("tfs_output_count", "tfs_windows"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_uint32
        _LIB = lib
    return _LIB


class NativePipeline:
    """A parsed blob; ``run(samples)`` gives (Q16 int32 features, int8 model input)."""

    def __init__(self, blob: bytes) -> None:
        self._lib = library()
        self._buf = ctypes.create_string_buffer(len(blob) + 16)
        self._addr = (ctypes.addressof(self._buf) + 15) & ~15
        ctypes.memmove(self._addr, blob, len(blob))
        self._p = _Pipeline()
        code = self._lib.tfe_parse(ctypes.byref(self._p), self._addr, len(blob))
        if code != 0:
            raise ModelError(f"the feature code rejected the pipeline blob (code {code})",
                             hint="rebuild it with tinyops.devices.feature_image.pipeline_blob")
        self.count = int(self._lib.tfe_output_count(ctypes.byref(self._p)))

    def run(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        q16 = np.zeros(self.count, np.int32)
        q8 = np.zeros(self.count, np.int8)
        code = self._lib.tfe_run(ctypes.byref(self._p), x.ctypes.data, q16.ctypes.data, q8.ctypes.data)
        if code != 0:
            raise ModelError(f"tfe_run failed (code {code})", hint="check the samples")
        return q16, q8


class NativeSteps:
    """A parsed step chain (``TFS1``); ``run(samples, window)`` gives (Q16 int32, int8 model input)."""

    def __init__(self, blob: bytes) -> None:
        self._lib = library()
        self._buf = ctypes.create_string_buffer(len(blob) + 16)
        self._addr = (ctypes.addressof(self._buf) + 15) & ~15
        ctypes.memmove(self._addr, blob, len(blob))
        self._p = (ctypes.c_uint8 * 512)()
        code = self._lib.tfs_parse(ctypes.byref(self._p), self._addr, len(blob))
        if code != 0:
            raise ModelError(f"the feature code rejected the step chain (code {code})",
                             hint="rebuild it with tinyops.devices.feature_image.steps_blob")
        self.count = int(self._lib.tfs_output_count(ctypes.byref(self._p)))
        self.windows = int(self._lib.tfs_windows(ctypes.byref(self._p)))

    def run(self, samples: np.ndarray, window: int = 0) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(samples, dtype=np.int16)
        q16 = np.zeros(self.count, np.int32)
        q8 = np.zeros(self.count, np.int8)
        code = self._lib.tfs_run(ctypes.byref(self._p), x.ctypes.data, window, q16.ctypes.data, q8.ctypes.data)
        if code != 0:
            raise ModelError(f"tfs_run failed (code {code})", hint="check the samples")
        return q16, q8
