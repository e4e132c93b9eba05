"""Atomic file writes: readers see the old file or the new one, never half of either.

The content goes to a uniquely named temporary file in the same folder
(``.NAME.XXXX.tmp``, which ``tinyops fsck`` reports if a crash leaves one), is
given its permissions, and replaces the target with one ``os.replace``.
``durable=True`` also fsyncs the file and the folder, for state that must
survive a power cut (agent slots, keys). On any error the temporary file goes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(path: str | Path, *, text: bool = False, mode: int = 0o644, durable: bool = False,
            newline: str | None = None) -> Iterator[IO[Any]]:
    """A file to write; it replaces ``path`` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with (os.fdopen(fd, "w", encoding="utf-8", newline=newline) if text else os.fdopen(fd, "wb")) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644, durable: bool = False) -> None:
    with writing(path, mode=mode, durable=durable) as f:
        f.write(data)


def write_text(path: str | Path, text: str, *, mode: int = 0o644, durable: bool = False) -> None:
    with writing(path, text=True, mode=mode, durable=durable) as f:
        f.write(text)


def write_json(path: str | Path, obj: Any, *, mode: int = 0o644, durable: bool = False, **dumps: Any) -> None:
    write_text(path, json.dumps(obj, **dumps), mode=mode, durable=durable)
