"""Write one of scikit-learn's bundled tabular sets as a CSV file (nothing is downloaded).

Used by examples/wine/prepare.py and examples/breast_cancer/prepare.py. Columns f0..fN hold
the measurements, `label` the class.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def write_csv(loader: str, name: str, out_dir: Path) -> Path:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"f{i}" for i in range(bunch.data.shape[1])] + ["label"])
        for row, label in zip(bunch.data, bunch.target):
            writer.writerow([*(repr(float(v)) for v in row), int(label)])
    tmp.replace(path)  # never leave a half-written dataset behind
    return path


def main(loader: str, name: str) -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} OUT_DIR")
    print(write_csv(loader, name, Path(sys.argv[1])))
