"""Write scikit-learn's breast cancer set as one CSV file (it ships inside scikit-learn; nothing is downloaded).

Usage: python examples/breast_cancer/prepare.py OUT_DIR   → OUT_DIR/breast-cancer.csv
Columns f0..fN hold the measurements, `label` the class.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def prepare(out_dir: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "breast-cancer.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"f{i}" for i in range(bunch.data.shape[1])] + ["label"])
        for row, label in zip(bunch.data, bunch.target):
            writer.writerow([*(repr(float(v)) for v in row), int(label)])
    tmp.replace(path)  # never leave a half-written dataset behind
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} OUT_DIR")
    print(prepare(Path(sys.argv[1])))
