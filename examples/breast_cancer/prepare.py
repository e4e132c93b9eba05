"""Write scikit-learn's breast cancer set as one CSV file (it ships inside scikit-learn; nothing is downloaded).

Usage: python examples/breast_cancer/prepare.py OUT_DIR   → OUT_DIR/breast-cancer.csv
Columns f0..fN hold the measurements, `label` the class.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sklearn_csv import main  # noqa: E402

if __name__ == "__main__":
    main("load_breast_cancer", "breast-cancer")
