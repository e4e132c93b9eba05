"""tinyops-c runtime vs TFLite Micro: RAM, flash, Cortex-M4 instructions, host speed.

For the four MLPerf Tiny reference models and two example-sized models
(tests/fixtures_models.py, int8, He-normal random weights), side by side in one run:

- RAM: the image's static arena + the 52-byte tor_model handle, against the TFLM arena
  measured by bisection in the tflite-micro interpreter (tinyops.runtimes.arena).
- Flash: runtime .text for the full op set, arm-none-eabi-gcc -Os for Cortex-M4 (with
  and without the O2 pragma on the MAC kernels), and model image vs .tflite size.
- Speed: instructions per inference and per MAC on the Cortex-M4 bench firmware under
  qemu-system-arm -icount shift=0 (SysTick calibrated to instructions).
- Host: median invoke time of our shared library vs the tflite-micro interpreter, both
  in this process, same inputs; plus the share of identical output values.

Run: python benchmarks/runtime.py   (writes benchmarks/results/runtime.json)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import median_time, write_result  # noqa: E402
from fixtures_models import MLPERF_MODELS, MODEL_NAMES, model_bytes  # noqa: E402

from tinyops.runtimes.tinyops_c import compile_image  # noqa: E402
from tinyops.runtimes.tinyops_c.native import NativeRuntime, runtime_source_dir  # noqa: E402
from tinyops.devices.qemu_bench import run_image  # noqa: E402
from tinyops.runtimes import tflite_file  # noqa: E402
from tinyops.runtimes.arena import measure_arena  # noqa: E402

TOR_MODEL_BYTES = 52  # sizeof(tor_model) on a 32-bit MCU: 5 words + 8 reserved words


def macs(model: tflite_file.TFLiteModel) -> int:
    n = 0
    for op in model.operators:
        out = int(np.prod(model.tensors[op.outputs[0]].shape))
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = model.tensors[op.inputs[1]].shape
            n += out * (w[1] * w[2] * w[3] if op.opcode == "CONV_2D" else
                        w[1] * w[2] if op.opcode == "DEPTHWISE_CONV_2D" else w[1])
    return n


def runtime_text(extra: tuple[str, ...] = ()) -> dict[str, int]:
    """.text per source file and in total, -Os, Cortex-M4 with FPU (hard float)."""
    src = runtime_source_dir()
    files = re.findall(r"\$\(TOR_DIR\)/(\S+\.c)", (src / "sources.mk").read_text())
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as d:
        for f in files:
            obj = Path(d) / (f + ".o")
            subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                            "-mfpu=fpv4-sp-d16", "-ffunction-sections", *extra, "-c", str(src / f), "-o", str(obj)],
                           check=True)
            out = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True, text=True, check=True).stdout
            sizes[f] = int(out.splitlines()[1].split()[0])
    sizes["total"] = sum(sizes.values())
    return sizes


def tflm_invoke(tfl: bytes, arena: int):
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(tfl, arena_size=max(arena * 2, 1 << 16))

    def run(x: np.ndarray) -> np.ndarray:
        interp.set_input(x, 0)
        interp.invoke()
        return interp.get_output(0)

    return run


def main() -> None:
    text_os = runtime_text(("-DTOR_NO_O2_KERNELS",))
    text_default = runtime_text()
    rows = []
    for name in MODEL_NAMES:
        tfl = model_bytes(name)
        model = tflite_file.read(tfl)
        compiled = compile_image(tfl)
        ours = NativeRuntime(tfl, compiled=compiled)
        tflm_arena = measure_arena(tfl)
        shape = ours.inputs[0].shape
        rng = np.random.default_rng(0)
        xs = rng.integers(-128, 128, size=(8, *shape[1:]), dtype=np.int8)
        tflm_run = tflm_invoke(tfl, tflm_arena)
        want = np.stack([tflm_run(x.reshape(shape)) for x in xs])
        got = np.stack([ours.run(x.reshape(shape)) for x in xs])
        x0 = xs[0].reshape(shape)
        runs = 30 if compiled.arena_bytes > 20000 else 200
        t_ours = median_time(lambda: ours.run(x0), runs)
        t_tflm = median_time(lambda: tflm_run(x0), runs)
        q = run_image(compiled.image, x0.tobytes())
        qemu_same = bool(np.array_equal(np.frombuffer(q.output, np.int8).reshape(got[0].shape), got[0]))
        n_macs = macs(model)
        ram = compiled.arena_bytes + TOR_MODEL_BYTES
        rows.append({
            "model": name, "mlperf": name in MLPERF_MODELS, "ops": model.op_names,
            "tflite_bytes": len(tfl), "image_bytes": compiled.image_bytes,
            "image_vs_tflite": round(compiled.image_bytes / len(tfl), 3),
            "tflm_arena_bytes": tflm_arena, "our_arena_bytes": compiled.arena_bytes, "our_ram_bytes": ram,
            "ram_vs_tflm": round(ram / tflm_arena, 3),
            "macs": n_macs, "m4_instructions": q.instructions,
            "m4_instructions_per_mac": round(q.instructions / n_macs, 2) if n_macs else None,
            "qemu_output_same_as_host": qemu_same,
            "host_invoke_us": round(t_ours * 1e6, 1), "tflm_host_invoke_us": round(t_tflm * 1e6, 1),
            "host_speedup_vs_tflm": round(t_tflm / t_ours, 2),
            "identical_share_vs_tflm": float(np.mean(got == want)),
        })
    write_result("runtime", {
        "runtime_text_bytes_Os": text_os["total"], "runtime_text_bytes_Os_with_O2_kernels": text_default["total"],
        "runtime_text_by_file_Os": text_os, "tor_model_bytes": TOR_MODEL_BYTES,
        "compiler": "arm-none-eabi-gcc -Os -mcpu=cortex-m4 -mfloat-abi=hard (libc memcpy/memset/roundf not counted)",
        "models": rows,
    })


if __name__ == "__main__":
    main()
