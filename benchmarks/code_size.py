"""Flash of the tinyops-c runtime as a firmware links it: the full op set, and the op set of
each MLPerf Tiny model (TOR_OPSET, firmware/runtime/tor_opset.h), Cortex-M4F.

Each runtime file is compiled as the firmware compiles it (-Os, hot kernels at O2,
-ffunction-sections) and linked with --gc-sections from the public API (tinyops_rt.h) alone,
so only reachable code counts; libc (memcpy, memset, roundf) is left out. The linker map
gives the bytes per source file, grouped as: infrastructure (loader, validation, op
dispatch, SEGMENT streaming), the MAC kernels (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
and their helpers) and the other ops. Side by side: TFLM's code in the same firmware
(benchmarks/results/runtimes_m4.json, when present).

Run: python benchmarks/code_size.py   (writes benchmarks/results/code_size.json)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import RESULTS, write_result  # noqa: E402
from fixtures_models import MLPERF_MODELS, model_bytes  # noqa: E402

from tinyops.runtimes.tinyops_c.native import runtime_source_dir  # noqa: E402
from tinyops.runtimes.tinyops_c.compiler import compile_image  # noqa: E402
from tinyops.runtimes.tinyops_c.opset import opset  # noqa: E402

CPUS = {"cortex-m4f": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
        "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
        "cortex-m33": ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
        "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
        "cortex-m3": ["-mcpu=cortex-m3", "-mthumb"], "cortex-m0": ["-mcpu=cortex-m0", "-mthumb"]}
API = ["tor_status_message", "tor_validate", "tor_load", "tor_input_count", "tor_output_count", "tor_input",
       "tor_output", "tor_output_quant", "tor_input_quant", "tor_invoke", "tor_op_count", "tor_invoke_op"]
INFRA = {"tor_loader.c", "tor_validate_ops.c", "tor_validate_data.c", "tor_invoke.c", "tor_stream.c"}
MAC = {"tor_kernels_conv.c", "tor_kernels_dw.c", "tor_kernels_dw_m4.c", "tor_kernels_fc.c", "tor_kernels_mac.c"}


def linked_text(cpu: str, mask: int | None = None) -> dict[str, int]:
    """.text bytes per runtime source file after --gc-sections, and their total."""
    src = runtime_source_dir()
    files = re.findall(r"\$\(TOR_DIR\)/(\S+\.c)", (src / "sources.mk").read_text())
    flags = ["-std=c99", "-Os", *CPUS[cpu], "-ffunction-sections", "-fdata-sections", f"-I{src}"]
    flags += [f"-DTOR_OPSET={mask:#x}"] if mask is not None else []
    with tempfile.TemporaryDirectory() as d:
        objs = []
        for f in files:
            objs.append(str(Path(d) / (f + ".o")))
            subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(src / f), "-o", objs[-1]], check=True)
        roots = ["-Wl,-u," + s for s in API]
        subprocess.run(["arm-none-eabi-gcc", *CPUS[cpu], "-nostdlib", "-nostartfiles", "-Wl,--gc-sections",
                        "-Wl,--unresolved-symbols=ignore-all", "-Wl,-e,tor_load", *roots, f"-Wl,-Map={d}/map",
                        *objs, "-o", f"{d}/rt.elf"], check=True)
        sizes = map_sizes(Path(d, "map").read_text())
    out = {f: sizes.get(f + ".o", 0) for f in files}
    return {**{k: v for k, v in out.items() if v}, "total": sum(out.values())}


def map_sizes(text: str) -> dict[str, int]:
    """Bytes of kept .text input sections per object file, from a GNU ld map."""
    body = text.split("Linker script and memory map", 1)[-1]
    sizes: dict[str, int] = {}
    for m in re.finditer(r"^ \.text[.\w]*\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(\S+)$", body, re.M):
        name = Path(m.group(2)).name
        sizes[name] = sizes.get(name, 0) + int(m.group(1), 16)
    return sizes


def groups(sizes: dict[str, int]) -> dict[str, int]:
    files = {k: v for k, v in sizes.items() if k != "total"}
    return {"infrastructure": sum(v for k, v in files.items() if k in INFRA),
            "mac_kernels": sum(v for k, v in files.items() if k in MAC),
            "other_ops": sum(v for k, v in files.items() if k not in INFRA | MAC)}


def main() -> None:
    full = linked_text("cortex-m4f")
    rows = [{"op_set": "full", "ops": "all", "text_bytes": full["total"], "groups": groups(full), "by_file": full}]
    for name in MLPERF_MODELS:
        s = opset(compile_image(model_bytes(name)).image)
        t = linked_text("cortex-m4f", s.mask)
        rows.append({"op_set": name, "ops": s.names, "make_var": s.make_var, "text_bytes": t["total"],
                     "vs_full": round(t["total"] / full["total"], 3), "groups": groups(t), "by_file": t})
    cores = {cpu: linked_text(cpu)["total"] for cpu in CPUS if cpu != "cortex-m4f"}
    peers: dict[str, dict[str, int]] = {}  # whole firmware .text per model and runtime (runtimes_m4.py)
    m4 = RESULTS / "runtimes_m4.json"
    if m4.exists():
        for r in json.loads(m4.read_text()).get("rows", []):
            peers.setdefault(r["model"], {})[r["runtime"]] = r["firmware"]["text"]
    write_result("code_size", {"compiler": "arm-none-eabi-gcc -Os (hot kernels O2), --gc-sections from tinyops_rt.h; "
                                           "libc not counted", "goal_text_bytes": 16384, "cortex_m4f": rows,
                               "full_op_set_other_cores": cores, "firmware_text_by_runtime": peers})


if __name__ == "__main__":
    main()
