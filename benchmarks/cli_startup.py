"""Wall time of `tinyops --help` against `python -c pass` (median of runs), as a ratio."""

from __future__ import annotations

import subprocess
import sys

from _common import median_time, write_result

RUNS = 15


def main() -> None:
    python = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), RUNS)
    tinyops = median_time(lambda: subprocess.run([sys.executable, "-m", "tinyops", "--help"], check=True,
                                                 stdout=subprocess.DEVNULL), RUNS)
    write_result("cli_startup", {
        "runs": RUNS, "python_pass_s": round(python, 4), "tinyops_help_s": round(tinyops, 4),
        "ratio": round(tinyops / python, 2),
    })


if __name__ == "__main__":
    main()
