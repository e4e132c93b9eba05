"""Demo stand-in for a person labelling field samples (and for the field team's recording).

Usage: python demo_label.py DEMO_DIR "19,20,27=1.4"
Reads DEMO_DIR/to_label.csv (from `tinyops field samples --out`), finds each sample's digit by
matching its input against the (shifted) digits it could have been, and writes
DEMO_DIR/labelled.csv; also writes DEMO_DIR/recording.csv: every digit as the re-calibrated
sensor reads it, labelled, in the training data's column layout.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from tinyops.registry import telemetry as tel
from tinyops.workspace import Workspace


def main() -> None:
    demo, fault = Path(sys.argv[1]), sys.argv[2]
    chans, gain = fault.split("=")
    X, y = load_digits(return_X_y=True)
    shifted = X.copy()
    idx = [int(c) for c in chans.split(",")]
    shifted[:, idx] = np.clip(shifted[:, idx] * float(gain), 0, 16)
    ws = Workspace.open(None)
    windows = {w.id: w for w in tel.load_windows(ws, with_samples=True) if w.sample}
    with open(demo / "to_label.csv") as f, open(demo / "labelled.csv", "w", newline="") as g:
        out = csv.writer(g)
        out.writerow(["sample", "label"])
        for row in csv.DictReader(f):
            wid, k = map(int, row["sample"][1:].split("-"))
            x = np.asarray(windows[wid].sample[k]["x"])
            out.writerow([row["sample"], int(y[int(np.abs(shifted - x).max(axis=1).argmin())])])
    with open(demo / "recording.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([f"p{i}" for i in range(64)] + ["label"])
        for xi, yi in zip(shifted, y):
            out.writerow([*xi.tolist(), int(yi)])
    print(f"labelled {demo / 'labelled.csv'}; recording {demo / 'recording.csv'} ({len(y)} rows)")


if __name__ == "__main__":
    main()
