"""Page data cached until the registry changes.

SQLite's ``PRAGMA data_version`` on one connection changes whenever any other
connection commits (another process, or this server's own worker threads), so
a page's JSON is computed once per change of the data however many tabs load
or refresh it, and never served stale. An entry also expires after ``max_age_s``:
some of what a page shows depends on the clock (a device silent for too long is
``stale``), not only on the data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


class PageCache:
    def __init__(self, open_ws: Callable[[], Workspace], max_age_s: float = 30.0) -> None:
        self._open_ws = open_ws
        self._max_age_s = max_age_s
        self._ws: Workspace | None = None  # only ever reads data_version: it must not write
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[str, tuple[str, float]] = {}
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
            if hit is not None and time.monotonic() - hit[1] <= self._max_age_s:
                self.hits += 1
                return hit[0], True
            self.misses += 1
        made = time.monotonic()
        out = compute()  # outside the lock: pages compute in parallel; a change meanwhile clears it next time
        with self._lock:
            if self._version == version:
                self._entries[key] = (out, made)
        return out, False

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
