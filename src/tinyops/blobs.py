"""Content-addressed blob store: bytes are named by their sha256.

Writes go to a temporary file in the same folder and are renamed into place,
so a reader never sees a partial blob, even if the writer is killed. Reads
verify the hash, so a corrupted blob is reported instead of silently used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from tinyops import atomic
from tinyops.errors import BlobCorruptError, InputError, NotFoundError

CHUNK_BYTES = 4 * 1024 * 1024


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


class BlobStore:
    """A folder of blobs at ``root/ab/cdef…``; temporary files live in ``root/tmp``."""

    def __init__(self, root: Path, users: Callable[[str], list[str]] | None = None) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        # ``users(sha)`` names registry rows that reference a blob, for error messages.
        self._users = users or (lambda sha: [])

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def _commit(self, tmp_path: Path, sha: str) -> str:
        final = self.path(sha)
        if final.exists():
            os.unlink(tmp_path)
            return sha
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        return sha

    def _tempfile(self) -> tuple[int, Path]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="blob-")
        return fd, Path(name)

    def put_bytes(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        if self.exists(sha):
            return sha
        fd, tmp = self._tempfile()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return self._commit(tmp, sha)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_file(self, path: Path | str, progress: Callable[[int, int], None] | None = None) -> tuple[str, int]:
        """Copy a file in, then hash the copy (what is stored is what is hashed). Returns (sha256, size).
        ``progress(done, total)`` counts bytes copied and hashed (total: twice the size).

        The copy uses copy_file_range, so the kernel moves the bytes without a
        trip through Python; that is what keeps `data add` near `sha256sum` speed.
        """
        path = Path(path)
        try:
            src = open(path, "rb")
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}", hint="check the path and its permissions") from e
        fd, tmp = self._tempfile()
        try:
            with src, os.fdopen(fd, "w+b") as dst:
                total = 2 * os.fstat(src.fileno()).st_size
                tick = (lambda done: progress(done, total)) if progress else None
                _copy(src, dst, tick)
                dst.seek(0)
                h = hashlib.sha256()
                size = 0
                buf = bytearray(CHUNK_BYTES)
                view = memoryview(buf)
                while n := dst.readinto(buf):
                    h.update(view[:n])
                    size += n
                    if tick:
                        tick(total // 2 + size)
                os.fsync(dst.fileno())
            return self._commit(tmp, h.hexdigest()), size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get_bytes(self, sha: str) -> bytes:
        p = self.path(sha)
        try:
            data = p.read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(
                f"blob {sha[:12]} is missing from the workspace (used by: {', '.join(self._users(sha)) or 'nothing'})",
                hint="restore .tinyops/blobs from a backup or re-add the data",
            ) from e
        if sha256_bytes(data) != sha:
            self._corrupt(sha)
        return data

    def verify(self, sha: str) -> None:
        if not self.exists(sha):
            self.get_bytes(sha)  # raises NotFoundError with users
        if sha256_file(self.path(sha)) != sha:
            self._corrupt(sha)

    def _corrupt(self, sha: str) -> None:
        users = self._users(sha)
        raise BlobCorruptError(
            f"blob {sha} is corrupt: its bytes no longer hash to its name (used by: {', '.join(users) or 'nothing'})",
            hint="restore that file under .tinyops/blobs from a backup, or delete it and add the data again",
        )

    def export(self, sha: str, dest: Path | str) -> int:
        """Write a blob to ``dest`` atomically after verifying it. Returns its size."""
        dest = Path(dest)
        self.verify(sha)
        with open(self.path(sha), "rb") as src, atomic.writing(dest) as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)
        return dest.stat().st_size

    def iter_hashes(self) -> Iterable[str]:
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and len(d.name) == 2:
                for f in sorted(d.iterdir()):
                    yield d.name + f.name


def _copy(src: BinaryIO, dst: BinaryIO, tick: Callable[[int], None] | None = None) -> None:
    step = (1 << 26) if tick else (1 << 30)
    try:
        done = 0
        while n := os.copy_file_range(src.fileno(), dst.fileno(), step):
            done += n
            if tick:
                tick(done)
        return
    except OSError:  # not supported across these filesystems: copy through user space
        src.seek(0)
        dst.seek(0)
        dst.truncate()
    while chunk := src.read(CHUNK_BYTES):
        dst.write(chunk)
    dst.flush()
