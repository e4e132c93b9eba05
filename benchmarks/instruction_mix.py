"""Where the Cortex-M4 instructions of one tinyops-c inference go: per function and per
instruction class, for the four MLPerf Tiny models.

The bench firmware (firmware/bench) runs under qemu-system-arm -icount shift=0 with
`-d in_asm,exec,nochain`: QEMU logs every translated block (its instructions) and every
block it executes, so instructions executed = sum over executed blocks of their length.
The bench runs the model twice (tor_invoke, then op by op), so kernel counts are halved;
start-up (clearing .bss, the image CRC in tor_load, SysTick calibration) is left out.

Run: python benchmarks/instruction_mix.py [MODEL ...]   (writes benchmarks/results/instruction_mix.json)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import write_result  # noqa: E402
from fixtures_models import MLPERF_MODELS, model_bytes  # noqa: E402

from tinyops.devices.op_profile import random_input  # noqa: E402
from tinyops.devices.qemu_bench import build_bench  # noqa: E402
from tinyops.runtimes.tinyops_c import compile_image  # noqa: E402

NOT_INFERENCE = {"main", "reset_handler", "memset", "crc_update", "tor_crc32", "tor_validate", "tor_load", "spin",
                 "load_file", "call", "sh_open", "sh_read", "sh_write", "sh_close", "sh_flen", "sh_puts", "now",
                 "snprintf", "_vsnprintf_r", "_svfprintf_r", "systick_handler", "__udivmoddi4", "memcpy_tail"}
CLASSES = {
    "multiply/MAC": {"smlad", "smladx", "smlabb", "smlatt", "smlabt", "smlatb", "smlal", "smull", "smmulr", "smmul",
                     "mla", "mul", "mls", "smulbb", "smlsd", "sdiv", "udiv"},
    "widen (sxtb16)": {"sxtb16"},
    "saturate/pack/lanes": {"ssat", "usat", "qadd", "qsub", "ssub8", "sel", "pkhbt", "pkhtb", "bfi", "sxtb", "sxth",
                            "uxtb", "uxth", "sadd16", "ubfx", "sbfx"},
}


def klass(mnemonic: str) -> str:
    mn = mnemonic.split(".")[0]
    for name, members in CLASSES.items():
        if mn in members:
            return name
    if mn.startswith(("ldr", "ldm", "pop", "vldr", "vpop")):
        return "load"
    if mn.startswith(("str", "stm", "push", "vstr", "vpush")):
        return "store"
    if (mn.startswith("b") and mn not in ("bic", "bics", "bfc")) or mn.startswith("cb"):
        return "branch"
    if mn.startswith("it"):
        return "it"
    return "alu/address"


def parse(log: Path) -> tuple[dict[str, int], dict[str, Counter]]:
    blocks: dict[int, tuple[str, list[str]]] = {}
    runs: Counter = Counter()
    cur: list | None = None
    insn = re.compile(r"0x([0-9a-f]+):\s+[0-9a-f]{4}(?: [0-9a-f]{4})?\s+(\S+)")
    with log.open(errors="replace") as f:
        for line in f:
            if line.startswith("IN: "):
                cur = [line[4:].strip(), None, []]
            elif cur is not None and line.startswith("0x"):
                m = insn.match(line)
                if m:
                    cur[1] = int(m.group(1), 16) if cur[1] is None else cur[1]
                    cur[2].append(m.group(2))
            elif line.startswith("Trace"):
                if cur is not None and cur[1] is not None:
                    blocks[cur[1]] = (cur[0], cur[2])
                cur = None
                runs[int(line.split("[", 1)[1].split("/")[1], 16)] += 1
    by_fn: Counter = Counter()
    by_cls: dict[str, Counter] = defaultdict(Counter)
    for pc, n in runs.items():
        if pc in blocks:
            fn, mns = blocks[pc]
            by_fn[fn] += n * len(mns)
            for mn in mns:
                by_cls[fn][klass(mn)] += n
    return dict(by_fn), by_cls


def measure(name: str, elf: Path) -> dict:
    compiled = compile_image(model_bytes(name))
    with tempfile.TemporaryDirectory(prefix="tor-mix-") as d:
        Path(d, "model.img").write_bytes(compiled.image)
        Path(d, "input.bin").write_bytes(random_input(compiled))
        log = Path(d, "qemu.log")
        subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                        "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
                        "-d", "in_asm,exec,nochain", "-D", str(log)], cwd=d, capture_output=True, timeout=900,
                       check=True)
        by_fn, by_cls = parse(log)
    kernels = {f: n // 2 for f, n in by_fn.items() if f not in NOT_INFERENCE}
    total = sum(kernels.values())
    classes: Counter = Counter()
    for f in kernels:
        for c, n in by_cls[f].items():
            classes[c] += n // 2
    return {
        "model": name, "instructions": total,
        "functions": [{"function": f, "instructions": n, "share": round(n / total, 4),
                       "classes": {c: round(v / 2 / n, 3) for c, v in by_cls[f].most_common()}}
                      for f, n in sorted(kernels.items(), key=lambda kv: -kv[1]) if n >= total // 200],
        "classes": {c: {"instructions": n, "share": round(n / total, 4)} for c, n in classes.most_common()},
    }


def main(names: list[str]) -> None:
    elf = build_bench()
    write_result("instruction_mix", {"models": [measure(n, elf) for n in names or MLPERF_MODELS]})


if __name__ == "__main__":
    main(sys.argv[1:])
