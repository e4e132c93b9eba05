"""Wall time of `tinyops --help` against `python -c pass` (median of runs), as a ratio."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import write_result

RUNS = 21


def _time(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    # Alternate the two commands so a change in machine load hits both alike.
    pairs = [(_time([sys.executable, "-c", "pass"]), _time([sys.executable, "-m", "tinyops", "--help"]))
             for _ in range(RUNS)]
    python = statistics.median(p for p, _ in pairs)
    tinyops = statistics.median(t for _, t in pairs)
    write_result("cli_startup", {
        "runs": RUNS, "python_pass_s": round(python, 4), "tinyops_help_s": round(tinyops, 4),
        "ratio": round(tinyops / python, 2),
    })


if __name__ == "__main__":
    main()
