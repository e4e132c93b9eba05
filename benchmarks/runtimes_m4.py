"""tinyops-c vs TFLM (reference kernels) vs TFLM + CMSIS-NN, side by side, on a Cortex-M4
under QEMU (mps2-an386, -icount shift=0: counts are instructions, not cycles).

Models: the four MLPerf Tiny reference architectures and the examples' models
(tests/fixtures_models.py, int8, He-normal random weights). Per model and runtime, on
the same two random int8 inputs:
  * tinyops-c: the model image on firmware/bench (devices/qemu_bench.py);
  * TFLM: the build's TFLM export (model_data.cc + op_resolver.h) compiled with the
    probe (devices/tflm_probe.py) against libtflm-ref.a / libtflm-cmsisnn.a built from
    $TFLM_DIR — arena bisected on the target.
Reported: instructions per inference (second input), per MAC, arena, the firmware's
.text/.data/.bss for that runtime (tinyops firmware for qemu-mps2-an386, no model), and
the share of output values identical to the tflite-micro Python interpreter.

    TFLM_DIR=../shared/third_party python benchmarks/runtimes_m4.py [MODEL ...]  →  results/runtimes_m4.json
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import write_result  # noqa: E402
from fixtures_models import MODEL_NAMES, model_bytes  # noqa: E402

from tinyops.devices import codegen, qemu_bench, sim, tflm_probe  # noqa: E402
from tinyops.devices.fit import count_macs  # noqa: E402
from tinyops.runtimes import open_runtime, tflite_file  # noqa: E402

# firmware/src/config.h defaults: slot image copy + arena + staged input, in .bss of every firmware
FW_BUFFERS = 512 * 1024 + 256 * 1024 + 32 * 1024
PROBE_ARENA = 128 * 1024  # kArenaSize of the export used here: the probe bisects the real minimum
RUNTIMES = {"tinyops-c": None, "tflm": "ref", "tflm-cmsis-nn": "cmsisnn"}


def firmware_sizes(runtime: str) -> dict[str, int]:
    elf = sim.build_firmware("qemu-mps2-an386", runtime)
    text, data, bss = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True,
                                     check=True).stdout.splitlines()[1].split()[:3]
    return {"text": int(text), "data": int(data), "bss": int(bss)}


def main() -> None:
    fw = {rt: firmware_sizes(rt) for rt in RUNTIMES}
    rows = []
    names = sys.argv[1:] or list(MODEL_NAMES)
    for name in names:
        tfl = model_bytes(name)
        model = tflite_file.read(tfl)
        macs = count_macs(model)
        with open_runtime("tflm", tfl) as rt:
            shape = rt.inputs[0].shape
            xs = np.random.default_rng(0).integers(-128, 128, size=(2, *shape[1:]), dtype=np.int8)
            ref = np.stack([np.asarray(rt.run(x[None]))[0] for x in xs])
        for runtime, variant in RUNTIMES.items():
            row = {"model": name, "runtime": runtime, "macs": macs, "firmware": fw[runtime]}
            if variant is None:
                from tinyops.runtimes.tinyops_c import compile_image

                image = compile_image(tfl).image
                runs = [qemu_bench.run_image(bytes(image), x.tobytes()) for x in xs]
                out = np.stack([np.frombuffer(r.output, dtype=np.int8).reshape(ref.shape[1:]) for r in runs])
                row.update(instructions=runs[1].instructions, arena_bytes=runs[1].arena_bytes,
                           image_bytes=len(image))
            else:
                export = codegen.tflm_export(name, tfl, PROBE_ARENA)
                res = tflm_probe.run_export(export, xs, variant=variant, arena_max=2 * PROBE_ARENA)
                out = res.output_arrays("int8", ref.shape[1:])
                row.update(instructions=res.instructions, arena_bytes=res.min_arena, image_bytes=len(tfl) + 16)
            row["instructions_per_mac"] = round(row["instructions"] / macs, 2) if macs else None
            state = fw[runtime]["data"] + fw[runtime]["bss"] - FW_BUFFERS
            row["runtime_state_bytes"] = state
            row["ram_bytes"] = row["arena_bytes"] + state
            row["identical_share"] = float(np.mean(out == ref))
            row["max_abs_lsb"] = int(np.max(np.abs(out.astype(int) - ref.astype(int))))
            rows.append(row)
            save(rows)
            print(f"{name:15} {runtime:14} {row['instructions']:>12,} instr  {row['instructions_per_mac'] or 0:>6} /MAC  "
                  f"arena {row['arena_bytes']:>7}  identical {row['identical_share']:.3f}", flush=True)

def save(rows: list[dict]) -> None:
    """Written after every row, so a partial run leaves what it measured."""
    write_result("runtimes_m4", {
        "board": "qemu-mps2-an386", "counter": "instructions (-icount shift=0; TFLM: SysTick x 40, resolution 40)",
        "inputs": "2 random int8 inputs (seed 0); instructions of the second",
        "ram_bytes": "arena + runtime state (the firmware's .data + .bss minus its fixed slot/arena/input buffers)",
        "rows": rows})


if __name__ == "__main__":
    main()
