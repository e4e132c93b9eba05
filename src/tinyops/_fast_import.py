"""Keep start-up fast: sqlite-utils imports pandas when it can (~0.2 s) but we never use it."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_without_pandas(name: str) -> ModuleType:
    if "pandas" in sys.modules or name in sys.modules:
        return importlib.import_module(name)
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` raise ImportError
    try:
        return importlib.import_module(name)
    finally:
        del sys.modules["pandas"]
