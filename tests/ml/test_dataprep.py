"""Data preparation: input selection, labels, split drawn from the seed."""

from __future__ import annotations

import numpy as np
import pytest

from tinyops.errors import InputError
from tinyops.ml.dataprep import _label_names, select_inputs, split_indices


def test_select_columns_by_pattern_in_file_order_or_one_array() -> None:
    arrays = {"p0": np.arange(3.0), "p1": np.arange(3.0) + 10, "label": np.zeros(3), "X": np.ones((3, 4, 2))}
    X = select_inputs(arrays, ["p*"], "label", "t")
    assert X.shape == (3, 2) and X[1].tolist() == [1.0, 11.0]
    assert select_inputs(arrays, ["X"], "label", "t").shape == (3, 4, 2)
    with pytest.raises(InputError, match="no column or array matches input `q\\*`"):
        select_inputs(arrays, ["q*"], "label", "t")


def test_label_names_sort_numbers_numerically() -> None:
    assert _label_names(np.array([10.0, 2.0, 1.0, 2.0])) == ["1", "2", "10"]
    assert _label_names(np.array(["walk", "run"])) == ["run", "walk"]


def test_split_is_disjoint_complete_and_seeded() -> None:
    split = {"train": 0.7, "validation": 0.1, "test": 0.2}
    a = split_indices(100, split, 3)
    assert [len(a[k]) for k in ("train", "validation", "test")] == [70, 10, 20]
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(100))
    b = split_indices(100, split, 3)
    c = split_indices(100, split, 4)
    assert all((a[k] == b[k]).all() for k in a) and not (a["test"] == c["test"]).all()
