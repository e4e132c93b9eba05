"""Instructions per op of the four MLPerf Tiny models on the Cortex-M4 bench board
(`tinyops bench --per-op`'s library call), QEMU mps2-an386 with -icount shift=0.

Models: tests/fixtures_models.py (int8, He-normal random weights); input: the fixed
random input of tinyops.devices.op_profile (seed 0). Per op: instructions, MACs,
instructions per MAC; plus a summary per op kind.

Run: python benchmarks/per_op.py [MODEL ...]   (writes benchmarks/results/per_op.json)
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import write_result  # noqa: E402
from fixtures_models import MLPERF_MODELS, model_bytes  # noqa: E402

from tinyops.devices.op_profile import profile_ops  # noqa: E402


def by_kind(rows: list[dict]) -> dict[str, dict]:
    """Instructions and MACs summed per op kind (1x1 and kxk convs apart)."""
    out: dict[str, dict] = defaultdict(lambda: {"ops": 0, "instructions": 0, "macs": 0})
    for r in rows:
        kind = r["op"]
        out[kind]["ops"] += 1
        out[kind]["instructions"] += r["instructions"]
        out[kind]["macs"] += r["macs"]
    for v in out.values():
        v["instructions_per_mac"] = round(v["instructions"] / v["macs"], 3) if v["macs"] else None
    return dict(out)


def main(names: list[str]) -> None:
    models = []
    for name in names or MLPERF_MODELS:
        p = profile_ops(model_bytes(name))
        models.append({"model": name, **p.to_dict(), "by_kind": by_kind(p.rows)})
    write_result("per_op", {"models": models})


if __name__ == "__main__":
    main(sys.argv[1:])
