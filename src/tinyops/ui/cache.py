"""Page data cached until the registry changes.

SQLite's ``PRAGMA data_version`` on one connection changes whenever any other
connection commits (another process, or this server's own worker threads), so
a page's JSON is computed once per change of the data however many tabs load
or refresh it, and never served stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


class PageCache:
    def __init__(self, open_ws: Callable[[], Workspace]) -> None:
        self._open_ws = open_ws
        self._ws: Workspace | None = None  # only ever reads data_version: it must not write
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[str, str] = {}
        self.hits = self.misses = 0

    def _current(self) -> int:
        if self._ws is None:
            self._ws = self._open_ws()
        return int(self._ws.db.execute("PRAGMA data_version").fetchone()[0])

    def get(self, key: str, compute: Callable[[], str]) -> tuple[str, bool]:
        """The text ``compute()`` gives for ``key``, recomputed once the data changed; and whether it was cached."""
        with self._lock:
            version = self._current()
            if version != self._version:
                self._entries.clear()
                self._version = version
            hit = self._entries.get(key)
            if hit is not None:
                self.hits += 1
                return hit, True
            self.misses += 1
        out = compute()  # outside the lock: pages compute in parallel; a change meanwhile clears it next time
        with self._lock:
            if self._version == version:
                self._entries[key] = out
        return out, False

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
