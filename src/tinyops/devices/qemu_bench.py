"""Run a model image on the Cortex-M4 bench firmware (firmware/bench) under
qemu-system-arm and read back its output and instruction count.

The bench loads ``model.img`` and ``input.bin`` through semihosting from a private
temporary folder, runs one ``tor_invoke`` and writes ``output.bin``. With
``-icount shift=0`` QEMU's SysTick advances with executed instructions; the bench
calibrates ticks to instructions against a loop of known length.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinyops.errors import DeviceError
from tinyops.package_data import cache_dir
from tinyops.runtimes.tinyops_c.native import runtime_source_dir
from tinyops.runtimes.tinyops_c.opset import OpSet

_LINE = re.compile(r"TOR status=(\d+) arena=(\d+) ticks=(\d+) cal=(\d+)")
_OP = re.compile(r"TOR op=(\d+) ticks=(\d+)")


@dataclass
class QemuRun:
    status: int
    output: bytes
    ticks: int
    instructions: int
    arena_bytes: int
    op_instructions: list[int]  # per op, in execution order


def bench_dir() -> Path:
    return runtime_source_dir().parent / "bench"


def build_bench(opset: int | None = None) -> Path:
    """Build firmware/bench (cached by a hash of its and the runtime's sources); with ``opset``
    (a TOR_OPSET mask, tinyops.runtimes.tinyops_c.opset) only those ops' kernels are linked."""
    for tool in ("arm-none-eabi-gcc", "make"):
        if shutil.which(tool) is None:
            raise DeviceError(f"{tool} is not installed", hint="run `make install` (apt: gcc-arm-none-eabi)")
    src, rt = bench_dir(), runtime_source_dir()
    h = hashlib.sha256()
    for f in sorted([*src.glob("*.[ch]"), *src.glob("*.ld"), src / "Makefile", *rt.glob("*.[ch]"), rt / "sources.mk"]):
        h.update(f.name.encode() + f.read_bytes())
    h.update(b"opset %x" % opset if opset is not None else b"")
    out = cache_dir("bench", h.hexdigest()[:16])
    elf = out / "bench.elf"
    if elf.exists():
        return elf
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent if out.parent.exists() else None))
    make_vars = [OpSet(opset).make_var] if opset is not None else []
    proc = subprocess.run(["make", "-s", "-C", str(src), f"BUILD={tmp}", *make_vars], capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DeviceError(f"building the bench firmware failed: {proc.stderr.strip()[-800:]}",
                          hint="check arm-none-eabi-gcc and libnewlib-arm-none-eabi")
    out.mkdir(parents=True, exist_ok=True)
    os.replace(tmp / "bench.elf", elf)
    shutil.rmtree(tmp, ignore_errors=True)
    return elf


def run_image(image: bytes, input_bytes: bytes, *, timeout: float = 300.0, opset: int | None = None) -> QemuRun:
    """One inference of ``image`` on ``input_bytes`` under qemu-system-arm (mps2-an386), on the
    bench firmware of ``opset`` (build_bench)."""
    if shutil.which("qemu-system-arm") is None:
        raise DeviceError("qemu-system-arm is not installed", hint="run `make install` (apt: qemu-system-arm)")
    elf = build_bench(opset)
    with tempfile.TemporaryDirectory(prefix="tor-qemu-") as d:
        Path(d, "model.img").write_bytes(image)
        Path(d, "input.bin").write_bytes(input_bytes)
        cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
               "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
        proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its handle
            proc.communicate()
            raise DeviceError(f"QEMU did not finish within {timeout:.0f} s", hint="the image may be too large for the bench") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        m = _LINE.search(stdout + stderr)  # semihosting console output may go to either
        if not m:
            raise DeviceError(f"the bench firmware printed no result: {(stdout + stderr).strip()[-400:]}",
                              hint="run the bench by hand (see firmware/bench/Makefile)")
        status, arena, ticks, cal = (int(g) for g in m.groups())
        per_op = [int(t) * cal // 1000 for _, t in _OP.findall(stdout + stderr)]
        out = Path(d, "output.bin")
        output = out.read_bytes() if out.exists() else b""
    return QemuRun(status=status, output=output, ticks=ticks, instructions=ticks * cal // 1000, arena_bytes=arena,
                   op_instructions=per_op)
