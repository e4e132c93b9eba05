"""Classification metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from tinyops.ml.metrics import classification, confusion_matrix, macro_f1


def test_confusion_and_macro_f1() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # per class F1: 0 → 2/4, 1 → 4/5, 2 → 2/3
    assert macro_f1(cm) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    r = classification(y_true, y_pred, 3)
    assert r["accuracy"] == pytest.approx(4 / 6) and r["rows"] == 6


def test_classes_absent_everywhere_are_ignored() -> None:
    cm = confusion_matrix(np.array([0, 1]), np.array([0, 1]), 4)
    assert macro_f1(cm) == 1.0
