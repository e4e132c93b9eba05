"""A workspace: a folder holding ``.tinyops/registry.db`` and ``.tinyops/blobs/``.

Chosen by ``--workspace DIR``, else ``TINYOPS_HOME``, else the nearest folder
at or above the current one that holds ``.tinyops`` (like git).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tinyops._fast_import import import_without_pandas

if TYPE_CHECKING:
    import sqlite_utils
else:
    sqlite_utils = import_without_pandas("sqlite_utils")

from tinyops.blobs import BlobStore
from tinyops.errors import WorkspaceError
from tinyops.registry.schema import migrate

DOT = ".tinyops"
DB_NAME = "registry.db"
BUSY_TIMEOUT_MS = 30_000


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.dot = self.root / DOT
        db_path = self.dot / DB_NAME
        if not db_path.exists():
            raise WorkspaceError(f"{self.root} is not a tinyops workspace", hint=f"run `tinyops init {self.root}` first")
        # Autocommit mode: we open transactions ourselves (BEGIN IMMEDIATE) so
        # concurrent writers queue on the busy timeout instead of deadlocking.
        conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db: sqlite_utils.Database = sqlite_utils.Database(conn)
        self.blobs = BlobStore(self.dot / "blobs", users=self.blob_users)
        migrate(self.db)

    # ---- opening -------------------------------------------------------
    @classmethod
    def init(cls, root: Path | str) -> tuple["Workspace", bool]:
        """Create (or reopen) a workspace. Returns (workspace, created)."""
        root = Path(root).resolve()
        dot = root / DOT
        created = not (dot / DB_NAME).exists()
        try:
            (dot / "blobs").mkdir(parents=True, exist_ok=True)
            if created:
                sqlite3.connect(dot / DB_NAME).close()
        except OSError as e:
            raise WorkspaceError(f"cannot create a workspace in {root}: {e.strerror}", hint="pick a writable folder") from e
        return cls(root), created

    @classmethod
    def open(cls, path: Path | str | None = None) -> "Workspace":
        if path is None:
            path = os.environ.get("TINYOPS_HOME") or None
        if path is not None:
            return cls(Path(path))
        here = Path.cwd().resolve()
        for folder in [here, *here.parents]:
            if (folder / DOT / DB_NAME).exists():
                return cls(folder)
        raise WorkspaceError(
            f"no tinyops workspace in {here} or any folder above it",
            hint="run `tinyops init` here, or pass --workspace DIR / set TINYOPS_HOME",
        )

    def close(self) -> None:
        self.db.conn.close()

    # ---- transactions --------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction, taken eagerly so concurrent writers serialise."""
        conn = self.db.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield self.db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ---- helpers -------------------------------------------------------
    def blob_users(self, sha: str) -> list[str]:
        """Rows (``table:rowid``) whose columns mention this blob hash."""
        users: list[str] = []
        for table in self.db.tables:
            if table.name.startswith("_") or "_fts" in table.name:
                continue
            cols = [c.name for c in table.columns if "sha" in c.name or "blob" in c.name]
            for col in cols:
                try:
                    rows = self.db.execute(f"SELECT rowid FROM [{table.name}] WHERE [{col}] = ?", [sha]).fetchall()
                except sqlite3.Error:
                    continue
                users.extend(f"{table.name}#{r[0]}" for r in rows)
        return users

    def path(self, *parts: str) -> Path:
        """A path inside ``.tinyops`` (keys, sim state, broker files…)."""
        return self.dot.joinpath(*parts)
