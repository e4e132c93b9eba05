"""Write the BasicMotions IMU set (aeon package data) as one NPZ file.

Usage: python examples/activity/prepare.py OUT_DIR   → OUT_DIR/activity.npz
Arrays: X (80, 100, 6) float32 — 100 time steps x 6 channels (3-axis accelerometer,
3-axis gyroscope) — and y (80,) activity names (standing, walking, running,
badminton). aeon's train and test splits are concatenated; tinyops draws its own
split from the recipe's seed. Nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def prepare(out_dir: Path) -> Path:
    from aeon.datasets import load_basic_motions

    parts = [load_basic_motions(split=s) for s in ("train", "test")]
    # aeon gives (cases, channels, steps); devices see (steps, channels): channels last.
    X = np.concatenate([p[0] for p in parts]).transpose(0, 2, 1).astype(np.float32)
    y = np.concatenate([p[1] for p in parts]).astype(str)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "activity.npz"
    tmp = out_dir / "activity.tmp.npz"
    np.savez(tmp, X=X, y=y)
    tmp.replace(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/activity/prepare.py OUT_DIR")
    print(prepare(Path(sys.argv[1])))
