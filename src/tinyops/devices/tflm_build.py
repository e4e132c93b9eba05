"""Build the parts of TensorFlow Lite Micro the tinyops firmware needs, once per source tree.

TFLM's sources are never copied into tinyops: they come from ``$TFLM_DIR``, a folder laid
out like ``../shared/third_party`` (``tflite-micro/``, ``flatbuffers/``, ``gemmlowp/``,
``ruy/``, ``kissfft/``, ``cmsis/``, ``cmsis_nn/``, ``cortex_dfp/`` and ``sources/*.txt``, the
file lists upstream's Makefile prints). Only TFLM's framework and the kernels of the ops in
``firmware/tflm/ops.def`` are compiled (and, for CMSIS-NN, its int8/int16 library without
LSTM/SVDF), with the flags of upstream's ``cortex_m_generic`` release build, under ``nice``.
The result — ``libtflm-<variant>.a`` + ``tflm-<variant>.flags`` — goes to the per-user cache
keyed by a hash of the source tree, the op list and the flags, so it is built once.

Variants: ``ref`` / ``cmsisnn`` for Cortex-M4F (arm-none-eabi-g++), ``host`` (the host g++,
reference kernels) for the posix firmware.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tinyops import atomic
from tinyops.errors import DeviceError
from tinyops.package_data import cache_dir, tree_hash
from tinyops.runtimes.support import tflm_firmware_ops

ENV = "TFLM_DIR"
VARIANTS = ("ref", "cmsisnn", "host")
_SUBDIRS = ("tflite-micro", "flatbuffers", "gemmlowp", "ruy", "kissfft", "cmsis", "cmsis_nn", "cortex_dfp", "sources")
_ALWAYS_KERNELS = ("kernel_util", "micro_tensor_utils")

M4 = "-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mthumb -mfloat-abi=hard -mlittle-endian"
_COMMON = ("-fno-unwind-tables -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections "
           "-fmessage-length=0 -DTF_LITE_STATIC_MEMORY -DTF_LITE_DISABLE_X86_NEON -Wno-unused-parameter")
_TARGET_M4 = (f"-DTF_LITE_MCU_DEBUG_LOG {M4} -fomit-frame-pointer -DCPU_M4=1 -funsigned-char "
              '-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM4.h" -DARMCM4')
_CXXONLY = "-fno-rtti -fno-exceptions -fno-threadsafe-statics"
_INC_BASE = ("tflite-micro", "flatbuffers/include", "gemmlowp", "kissfft", "ruy",
             "cortex_dfp/Device/ARMCM4/Include", "cmsis/CMSIS/Core/Include")
_INC_NN = ("cmsis", "cmsis_nn", "cmsis_nn/Include")


@dataclass(frozen=True)
class TflmLib:
    variant: str
    archive: Path
    flags: list[str]          # -m/-D/-I flags to compile code against the library
    objects: int
    seconds: float            # 0.0 when it came from the cache
    cached: bool


def tflm_dir() -> Path:
    """The TFLM source tree from ``$TFLM_DIR``; one clear line when it is missing or wrong."""
    value = os.environ.get(ENV)
    if not value:
        raise DeviceError(f"TFLM is not available: {ENV} is not set",
                          hint=f"export {ENV}=/path/to/third_party (a folder with tflite-micro/, cmsis_nn/, "
                               "flatbuffers/, ... as in ../shared/third_party)")
    root = Path(value).expanduser().resolve()
    missing = [d for d in _SUBDIRS if not (root / d).is_dir()]
    if missing:
        raise DeviceError(f"{ENV}={value} is not a TFLM source tree (missing {', '.join(missing)})",
                          hint=f"point {ENV} at a folder laid out like ../shared/third_party")
    return root


def available() -> bool:
    """True when ``$TFLM_DIR`` names a TFLM tree. Unset outside CI: False (features say so in one
    line). In CI (``$CI`` set) a missing TFLM raises: tests must fail, not skip."""
    if os.environ.get(ENV) or os.environ.get("CI"):
        tflm_dir()
        return True
    return False


def unavailable_note() -> str:
    return f"TFLM is not available ({ENV} is not set): TFLM features are off"


def firmware_ops() -> dict[str, tuple[str, list[str]]]:
    """Builtin op name -> (MicroMutableOpResolver method, kernel source stems), from ops.def."""
    return tflm_firmware_ops()


def _kernel_sources(root: Path, variant: str) -> list[str]:
    listing = "kernels_cmsisnn.txt" if variant == "cmsisnn" else "kernels_ref.txt"
    stems = set(_ALWAYS_KERNELS)
    for _method, kstems in firmware_ops().values():
        stems.update(kstems)
    out = []
    for line in (root / "sources" / listing).read_text().split():
        p = Path(line)
        if p.parts[:4] == ("tensorflow", "lite", "micro", "kernels") and p.stem in stems:
            out.append(line)
    return out


def _sources(root: Path, variant: str) -> list[tuple[str, str]]:
    """(optimisation level, path relative to tflite-micro/) in upstream's order."""
    core = [s for s in (root / "sources" / "core.txt").read_text().split()]
    if variant == "host":  # no DWT cycle counter on the host: the posix glue defines the clock
        core = [s for s in core if not s.endswith("cortex_m_generic/micro_time.cc")]
    srcs = [("-Os", s) for s in core] + [("-O2", s) for s in _kernel_sources(root, variant)]
    if variant == "cmsisnn":
        lib = (root / "sources" / "cmsisnn_lib.txt").read_text().split()
        srcs += [("-O2", s) for s in lib if not re.search(r"lstm|svdf", s)]
    return srcs


def _includes(root: Path, variant: str) -> list[str]:
    dirs = list(_INC_BASE) + (list(_INC_NN) if variant == "cmsisnn" else [])
    return [f"-I{root / d}" for d in dirs]


def _defines(variant: str) -> tuple[str, str]:
    """(flags before -std, flags after) as upstream orders them."""
    if variant == "cmsisnn":
        return "-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0 -DARM_NN_ENABLE_F32=0"
    return "", ""


def _compilers(variant: str) -> tuple[str, str, str]:
    if variant == "host":
        return "g++", "gcc", "ar"
    return "arm-none-eabi-g++", "arm-none-eabi-gcc", "arm-none-eabi-ar"


def program_flags(root: Path, variant: str) -> list[str]:
    """Flags a program that includes TFLM headers and links this variant must be compiled with."""
    pre, post = _defines(variant)
    arch = "" if variant == "host" else f"{M4} -DTF_LITE_MCU_DEBUG_LOG"
    return [*f"{arch} -DTF_LITE_STATIC_MEMORY -DNDEBUG {pre} {post}".split(), *_includes(root, variant)]


def _cmd(root: Path, variant: str, opt: str, src: str, obj: Path) -> list[str]:
    cxx, cc, _ar = _compilers(variant)
    pre, post = _defines(variant)
    target = "-funsigned-char" if variant == "host" else _TARGET_M4
    if src.endswith(".cc"):
        flags = f"{_CXXONLY} {_COMMON} {pre} -DKERNELS_OPTIMIZED_FOR_SPEED -DNDEBUG -std=c++17 {target} {post}"
        tool = cxx
    else:
        flags = f"{_COMMON} {pre} -DKERNELS_OPTIMIZED_FOR_SPEED -DNDEBUG -std=c17 {target} {post}"
        tool = cc
    if variant == "host":
        flags += " -fPIC"
    return ["nice", "-n", "10", tool, *flags.split(), opt, *_includes(root, variant), "-c", src, "-o", str(obj)]


def _tree_key(root: Path) -> str:
    files = [p for d in _SUBDIRS for p in (root / d).rglob("*") if p.is_file()]
    return tree_hash(files, root=root)


def _core_variant(variant: str, src: str) -> str:
    """Framework sources do not include kernel headers, so CMSIS-NN shares the reference objects."""
    return "ref" if variant == "cmsisnn" and not src.startswith(("tensorflow/lite/micro/kernels/", "../")) else variant


def source_key(variant: str) -> str:
    """The library's key: the tree's bytes, the variant, the exact source list and compile commands."""
    root = tflm_dir()
    cmds = [_cmd(root, _core_variant(variant, src), opt, src, Path("x.o")) for opt, src in _sources(root, variant)]
    return tree_hash([], _tree_key(root), variant, repr(cmds))


def build_library(variant: str, jobs: int | None = None) -> TflmLib:
    """``libtflm-<variant>.a`` for the firmware's op set, from the cache or built now.

    Objects are cached one by one (keyed by tree + compile command), so the CMSIS-NN library
    reuses the reference build's framework objects and only compiles its kernels."""
    if variant not in VARIANTS:
        raise DeviceError(f"unknown TFLM variant {variant!r}", hint="use one of: " + ", ".join(VARIANTS))
    root = tflm_dir()
    cxx, _cc, ar = _compilers(variant)
    if shutil.which(cxx) is None:
        raise DeviceError(f"{cxx} is not installed",
                          hint="run `make install` (apt: gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib)")
    tree = _tree_key(root)
    srcs = _sources(root, variant)
    cmds = [_cmd(root, _core_variant(variant, src), opt, src, Path("OBJ")) for opt, src in srcs]
    out = cache_dir("tflm", tree_hash([], tree, variant, repr(cmds)))
    archive, flags_file = out / f"libtflm-{variant}.a", out / f"tflm-{variant}.flags"
    if archive.exists() and flags_file.exists():
        return TflmLib(variant, archive, flags_file.read_text().split(), len(srcs), 0.0, True)
    objdir = cache_dir("tflm", f"obj-{tree}")
    objdir.mkdir(parents=True, exist_ok=True)
    objs = [objdir / (tree_hash([], repr(c))[:16] + "-" + Path(src).stem + ".o") for c, (_o, src) in zip(cmds, srcs)]
    t0 = time.monotonic()

    def compile_one(item: tuple[list[str], Path]) -> str | None:
        cmd, obj = item
        if obj.exists():
            return None
        tmp_obj = obj.with_suffix(f".{os.getpid()}.tmp")
        cmd = [str(tmp_obj) if a == "OBJ" else a for a in cmd]
        p = subprocess.run(cmd, cwd=root / "tflite-micro", capture_output=True, text=True)
        if p.returncode != 0:
            tmp_obj.unlink(missing_ok=True)
            return f"{cmd[-3]}: {p.stderr.strip()[-600:]}"
        os.replace(tmp_obj, obj)
        return None

    with ThreadPoolExecutor(max_workers=jobs or int(os.environ.get("TFLM_JOBS", "2"))) as pool:
        errors = [e for e in pool.map(compile_one, zip(cmds, objs)) if e]
    if errors:
        raise DeviceError(f"building TFLM ({variant}) failed: {errors[0]}",
                          hint=f"check {ENV} points at a complete TFLM tree")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"build-{variant}-", dir=out))
    try:
        p = subprocess.run([ar, "rcs", str(tmp / archive.name), *map(str, objs)], capture_output=True, text=True)
        if p.returncode != 0:
            raise DeviceError(f"{ar} failed: {p.stderr.strip()[-400:]}", hint="check the toolchain install")
        atomic.write_text(flags_file, " ".join(program_flags(root, variant)) + "\n")
        os.replace(tmp / archive.name, archive)   # the archive last: its presence means "complete"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TflmLib(variant, archive, flags_file.read_text().split(), len(srcs), time.monotonic() - t0, False)
