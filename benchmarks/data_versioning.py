"""`data add` throughput on a ~500 MB file against `sha256sum` of the same file, as a ratio.

The file is a float32 NPY sensor dump (the common large-data case); both
commands read it from a warm page cache, measured alternately in one run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import write_result

SIZE_MB = 500
ROUNDS = 3


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tinyops-bench-"))
    try:
        rows = SIZE_MB * 1024 * 1024 // (8 * 4)
        data = tmp / "imu.npy"
        arr = np.lib.format.open_memmap(data, mode="w+", dtype=np.float32, shape=(rows, 8))
        rng = np.random.default_rng(0)
        for start in range(0, rows, 1 << 20):
            stop = min(rows, start + (1 << 20))
            arr[start:stop] = rng.normal(size=(stop - start, 8)).astype(np.float32)
        arr.flush()
        del arr
        size = data.stat().st_size
        subprocess.run(["cat", str(data)], stdout=subprocess.DEVNULL, check=True)  # warm the cache
        sha_times, add_times = [], []
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            subprocess.run(["sha256sum", str(data)], stdout=subprocess.DEVNULL, check=True)
            sha_times.append(time.perf_counter() - t0)
            ws = tmp / f"ws{i}"
            subprocess.run([sys.executable, "-m", "tinyops", "init", str(ws)], stdout=subprocess.DEVNULL, check=True)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tinyops", "-w", str(ws), "data", "add", "imu", str(data)],
                           stdout=subprocess.DEVNULL, check=True)
            add_times.append(time.perf_counter() - t0)
            shutil.rmtree(ws)
        sha, add = min(sha_times), min(add_times)
        write_result("data_versioning", {
            "file_bytes": size, "rounds": ROUNDS,
            "sha256sum_s": round(sha, 3), "data_add_s": round(add, 3),
            "sha256sum_MBps": round(size / sha / 1e6, 1), "data_add_MBps": round(size / add / 1e6, 1),
            "throughput_ratio": round(sha / add, 3), "goal": ">= 0.7",
        })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
