"""Optional dependencies: which pip extra brings which module, checked without importing it.

``pip install tinyops`` is the host tools; TensorFlow, LiteRT and TFLite Micro come
with ``tinyops[train]`` (LiteRT also with ``tinyops[agent]``), scikit-learn with
``tinyops[examples]``, the dashboard's web stack with ``tinyops[ui]``. A step that needs one calls :func:`require` first, so a
missing package is one clear line naming the extra, before anything is written.
"""

from __future__ import annotations

import importlib.util

from tinyops.errors import MissingExtraError

# top-level module -> (what it is, the extra that installs it)
MODULES: dict[str, tuple[str, str]] = {
    "tensorflow": ("TensorFlow", "train"),
    "keras": ("Keras (TensorFlow)", "train"),
    "ai_edge_litert": ("LiteRT", "train"),
    "tflite_micro": ("TFLite Micro", "train"),
    "sklearn": ("scikit-learn", "examples"),
    "starlette": ("Starlette", "ui"),
    "uvicorn": ("uvicorn", "ui"),
    "jinja2": ("Jinja2", "ui"),
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def error_for(module: str, purpose: str) -> MissingExtraError:
    what, extra = MODULES.get(module, (module, "train"))
    also = ' (on a Raspberry Pi: pip install "tinyops[agent]")' if module == "ai_edge_litert" else ""
    return MissingExtraError(f"{purpose} needs {what}, which is not installed",
                             hint=f'pip install "tinyops[{extra}]"{also}')


def require(*modules: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra for the first missing module."""
    for module in modules:
        if not installed(module):
            raise error_for(module, purpose)


def from_import_error(e: ImportError) -> MissingExtraError | None:
    """The MissingExtraError for an ImportError of one of our optional modules, else None."""
    name = (getattr(e, "name", None) or "").split(".")[0]
    if name in MODULES:
        return error_for(name, "this command")
    return None
