"""Write the scikit-learn digits set (1797 8x8 images, 10 classes) as one CSV file.

Usage: python examples/digits/prepare.py OUT_DIR   → OUT_DIR/digits.csv
Columns p0..p63 hold pixel intensities 0..16 (row-major), `label` the digit.
The data ships inside scikit-learn; nothing is downloaded.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def prepare(out_dir: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "digits.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"p{i}" for i in range(64)] + ["label"])
        for pixels, label in zip(digits.data.astype(int), digits.target):
            writer.writerow([*pixels.tolist(), int(label)])
    tmp.replace(path)  # never leave a half-written dataset behind
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/digits/prepare.py OUT_DIR")
    print(prepare(Path(sys.argv[1])))
