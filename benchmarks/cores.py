"""tinyops-c on every emulated Cortex-M core: instructions per inference and per MAC where
the model fits, and whether the outputs are bit-identical across cores.

Boards (tinyops.devices.sim.QEMU_MACHINES): qemu-microbit (M0), qemu-mps2-an385 (M3),
qemu-mps2-an386 (M4F), qemu-mps2-an500 (M7), qemu-mps2-an505 (M33), qemu-mps3-an547 (M55),
all under qemu-system-arm with -icount shift=0 (1 instruction = 1 ns of virtual time: counts are
instructions, not cycles; the board timer's resolution is 1e9 / its clock, 31-63 instructions).
Models: the four MLPerf Tiny reference architectures (tests/fixtures_models.py, int8, He-normal
random weights) and the two example CNNs, small enough for the micro:bit's 4 KB arena.

Per model and board: the fit check (tinyops.devices.fit.check_model: the image and its static
arena against the board's device profile). Where it fits, the board's firmware (firmware/, built
per core) is started with tinyops.devices.sim, the image flashed over the update protocol and run
with the RUN command on two random int8 inputs (seed 0; instructions of the second). Output
bytes are compared with the tflite-micro Python interpreter, the host tinyops-c runtime, the M4
bench firmware (devices/qemu_bench.py, the figure in runtimes_m4.py) and across cores.
Also a fact for the notes: does QEMU run Helium (MVE) on mps3-an547? (_helium_probe.c: VLDRB +
VMLADAV.S8 against a scalar loop, and the same with CP10/CP11 off, which must fault; and the MVE
instructions GCC put into the firmware built with -mcpu=cortex-m55.)

    TFLM_DIR=../shared/third_party python benchmarks/cores.py [MODEL ...]  →  results/cores.json
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import write_result  # noqa: E402
from fixtures_boards import Boards, ModelImage, make_model_image  # noqa: E402
from fixtures_models import MLPERF_MODELS, model_bytes  # noqa: E402

from tinyops.devices import fit, profiles, qemu_bench, sim  # noqa: E402
from tinyops.devices.serial import flash, ops  # noqa: E402
from tinyops.devices.serial.link import Link  # noqa: E402
from tinyops.errors import DeviceError, TinyOpsError  # noqa: E402
from tinyops.runtimes import open_runtime, tflite_file  # noqa: E402

BOARDS = tuple(sim.QEMU_MACHINES)
MODELS = (*MLPERF_MODELS, "digits_cnn", "imu_cnn")
PROBE = Path(__file__).resolve().parent / "_helium_probe.c"


def digest(outputs: list[bytes]) -> str:
    return hashlib.sha256(b"".join(outputs)).hexdigest()[:16]


def max_lsb(outputs: list[bytes], want: list[bytes]) -> int:
    a, b = (np.frombuffer(b"".join(o), np.int8).astype(int) for o in (outputs, want))
    return int(np.max(np.abs(a - b))) if a.size == b.size else -1


def run_on_board(boards: Boards, board: str, m: ModelImage) -> tuple[list[bytes], list[int]]:
    """Flash ``m`` over the update protocol, then RUN each input; outputs and instruction counts."""
    b = boards.start(board)
    try:
        rep = flash.flash_image(b.url, m.image)
        if not rep.activated:
            raise DeviceError(f"{board} did not activate the {m.name} image")
        with Link(b.url) as link:
            link.drain()
            info = ops.info(link)
            if info.counter_unit != "instructions":
                raise DeviceError(f"{board} counts {info.counter_unit}, not instructions")
            runs = [ops.run(link, x.tobytes(), max_chunk=info.max_chunk) for x in m.inputs]
    finally:
        boards.stop_all()
    return [r.output for r in runs], [r.count for r in runs]


def references(m: ModelImage, tfl: bytes) -> dict[str, Any]:
    """Outputs off the cores: the host tinyops-c runtime and the M4 bench firmware (-Os)."""
    with open_runtime("tinyops-c", tfl) as rt:
        host = [np.asarray(rt.run(x[None])).tobytes() for x in m.inputs]
    bench = [qemu_bench.run_image(m.image, x.tobytes()) for x in m.inputs]
    return {"host": host, "bench": [r.output for r in bench], "bench_instructions": bench[-1].instructions}


def model_rows(boards: Boards, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tfl = model_bytes(name)
    macs = fit.count_macs(tflite_file.read(tfl))
    m = make_model_image(name, count=2, seed=0)  # outputs: the tflite-micro Python interpreter
    tflm = [y.tobytes() for y in m.outputs]
    ref = references(m, tfl)
    rows = []
    for board in BOARDS:
        prof = profiles.load(board)
        rep = fit.check_model(prof, tfl, arena_bytes=int(m.arena_bytes), arena_source="tinyops-c image static plan",
                              slot_bytes=len(m.image), model=name, macs=macs)
        row: dict[str, Any] = {"model": name, "board": board, "core": prof.core, "fits": rep.fits,
                               "problems": rep.problems, "flash_needed_bytes": rep.flash_needed_bytes,
                               "flash_available_bytes": rep.flash_available_bytes,
                               "ram_needed_bytes": rep.ram_needed_bytes, "ram_available_bytes": rep.ram_available_bytes,
                               "counter_resolution_instructions": round(1e9 / prof.clock_hz, 2)}
        if rep.fits:
            try:
                outs, counts = run_on_board(boards, board, m)
            except TinyOpsError as e:
                row["error"] = str(e)
            else:
                row.update(instructions=counts[-1], counts=counts, instructions_per_mac=round(counts[-1] / macs, 2),
                           output_sha256=digest(outs), identical_to_tflm=outs == tflm,
                           identical_to_host_tinyops_c=outs == ref["host"], max_abs_lsb_vs_tflm=max_lsb(outs, tflm))
        rows.append(row)
        state = f"{row['instructions']:>12,} instr {row['instructions_per_mac']:>6}/MAC identical {row['identical_to_tflm']}" \
            if "instructions" in row else row.get("error") or "does not fit: " + "; ".join(rep.problems)
        print(f"{name:15} {board:16} {state}", flush=True)
    measured = {r["output_sha256"] for r in rows if "output_sha256" in r}
    summary = {"model": name, "macs": macs, "tflite_bytes": len(tfl), "image_bytes": len(m.image),
               "arena_bytes": int(m.arena_bytes), "tflm_output_sha256": digest(tflm),
               "host_tinyops_c_identical_to_tflm": ref["host"] == tflm,
               "m4_bench_firmware_instructions": ref["bench_instructions"],
               "m4_bench_firmware_identical_to_tflm": ref["bench"] == tflm,
               "cores_measured": [r["board"] for r in rows if "output_sha256" in r],
               "identical_across_cores": len(measured) == 1, "output_digests_across_cores": sorted(measured)}
    return summary, rows


def _probe(tmp: Path, cpacr: bool) -> dict[str, Any]:
    fw = sim.firmware_dir()
    elf = tmp / f"probe-{cpacr}.elf"
    cc = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-O1", f"-I{fw / 'bench'}",
          *([] if cpacr else ["-DNO_CPACR"]), str(PROBE), str(fw / "bench" / "semihost.c"), "-nostartfiles",
          "--specs=nano.specs", "-L", str(fw / "boards" / "qemu-cmsdk"), "-T",
          str(fw / "boards" / "qemu-mps3-an547" / "link.ld"), "-o", str(elf)]
    built = subprocess.run(cc, capture_output=True, text=True)
    if built.returncode:
        return {"builds": False, "error": built.stderr.strip()[-600:]}
    run = subprocess.run([sim.QEMU, "-M", "mps3-an547", "-nographic", "-monitor", "none", "-serial", "none",
                          "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=60)
    text = (run.stdout + run.stderr).strip()
    got = re.search(r"vmladav\.s8=(-?\d+) scalar=(-?\d+)", text)
    fault = re.search(r"FAULT cfsr=(\d+)", text)
    return {"builds": True, "exit_code": run.returncode, "output": text,
            "vmladav_matches_scalar": bool(got) and got.group(1) == got.group(2),
            "fault_cfsr": hex(int(fault.group(1))) if fault else None}


def helium() -> dict[str, Any]:
    """Helium on QEMU's M55: the probe, and what GCC vectorised in the firmware."""
    with tempfile.TemporaryDirectory(prefix="helium-") as d:
        on, off = _probe(Path(d), True), _probe(Path(d), False)
    elf = sim.build_firmware("qemu-mps3-an547")
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True, text=True).stdout
    mve_arch = re.search(r"Tag_MVE_arch: (.*)", attrs)
    where: dict[str, int] = {}
    func = "?"
    for line in subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True).stdout.splitlines():
        head = re.match(r"[0-9a-f]+ <(.+)>:", line)
        func = head.group(1) if head else func
        if re.search(r"\tv\S+\s.*\bq[0-7]\b", line):
            where[func] = where.get(func, 0) + 1
    return {"qemu": subprocess.run([sim.QEMU, "--version"], capture_output=True, text=True).stdout.splitlines()[0],
            "gcc": subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
            "probe_cp10_cp11_on": on, "probe_cp10_cp11_off": off,
            "runs_mve": on.get("vmladav_matches_scalar", False) and on.get("exit_code") == 0,
            "firmware_tag_mve_arch": mve_arch.group(1) if mve_arch else None,
            "firmware_mve_instructions_by_function": where,
            "firmware_mve_note": "objdump lines naming a q register (GCC 12 -O2 auto-vectorisation); "
                                 "objdump prints some MVE loads/stores as ldc/stc, not counted"}


def markdown(summaries: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The README table: instructions (per MAC) per core, or why the model does not fit."""
    cores = [profiles.load(b).core for b in BOARDS]
    lines = ["| model | MACs | " + " | ".join(cores) + " | identical across cores / TFLM |",
             "| --- | ---: | " + " | ".join("---:" for _ in cores) + " | --- |"]
    for s in summaries:
        cells = []
        for r in (r for r in rows if r["model"] == s["model"]):
            if "instructions" in r:
                cells.append(f"{r['instructions']:,} ({r['instructions_per_mac']})")
            else:
                cells.append("error" if "error" in r else "does not fit")
        same = all(r.get("identical_to_tflm") for r in rows if r["model"] == s["model"] and "instructions" in r)
        lines.append(f"| {s['model']} | {s['macs']:,} | " + " | ".join(cells) +
                     f" | {'yes' if s['identical_across_cores'] else 'NO'} / {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def save(summaries: list[dict[str, Any]], rows: list[dict[str, Any]], mve: dict[str, Any] | None) -> None:
    """Written after every model, so a partial run leaves what it measured."""
    write_result("cores", {
        "counter": "instructions (qemu-system-arm -icount shift=0); resolution per board in the rows",
        "inputs": "2 random int8 inputs (seed 0); instructions of the second",
        "firmware": "firmware/ per board: -Os on every board (the runtime's hot kernels at O2); "
                    "m4_bench_firmware = firmware/bench (-Os), as in runtimes_m4.py",
        "fit": "tinyops.devices.fit.check_model with the image size and its static arena, per device profile",
        "models": summaries, "rows": rows, "helium": mve})


def main() -> None:
    names = sys.argv[1:] or list(MODELS)
    firmware = {b: sim.build_firmware(b) for b in BOARDS}
    summaries: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    mve = helium()
    with tempfile.TemporaryDirectory(prefix="cores-") as d:
        boards = Boards(firmware, Path(d))
        for name in names:
            summary, model_rows_ = model_rows(boards, name)
            summaries.append(summary)
            rows += model_rows_
            save(summaries, rows, mve)
    print(markdown(summaries, rows))


if __name__ == "__main__":
    main()
