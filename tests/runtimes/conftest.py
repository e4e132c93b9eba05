"""The TFLite Micro oracle the runtime tests compare against: one interpreter child process per
test module, closed after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures_tflite_ops import TflmOracle


@pytest.fixture(scope="module")
def oracle() -> Iterator[TflmOracle]:
    o = TflmOracle()
    yield o
    o.close()
