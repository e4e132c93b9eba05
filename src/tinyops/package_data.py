"""Files shipped inside the package (firmware and runtime sources, device profiles)
and the per-user cache where anything built from them goes.

Everything is found with :mod:`importlib.resources`, so a wheel install works the
same as a checkout; nothing is ever written next to the sources.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path

CACHE_ENV = "TINYOPS_CACHE"


def shipped(*parts: str) -> Path:
    """A folder or file shipped in the tinyops package (a real path on disk)."""
    return Path(str(files("tinyops").joinpath(*parts)))


def firmware_dir() -> Path:
    """The firmware sources (boards, protocol, the tinyops-c runtime)."""
    return shipped("firmware")


def runtime_dir() -> Path:
    """The tinyops-c runtime's C sources."""
    return shipped("firmware", "runtime")


def profiles_dir() -> Path:
    """The device profiles shipped with tinyops."""
    return shipped("device_profiles")


def cache_dir(*parts: str) -> Path:
    """A folder under the per-user cache (``$TINYOPS_CACHE`` or ``~/.cache/tinyops``)."""
    base = os.environ.get(CACHE_ENV) or str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tinyops")
    return Path(base).joinpath(*parts)


def tree_hash(paths: Iterable[Path], *extra: str, root: Path | None = None) -> str:
    """A short sha256 over the files' names and bytes (and ``extra`` strings): a cache key."""
    h = hashlib.sha256()
    for e in extra:
        h.update(e.encode() + b"\0")
    for p in sorted(paths):
        name = str(p.relative_to(root)) if root else p.name
        h.update(name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]
