"""Retained messages of the embedded broker, kept in memory and saved to SQLite.

Saving is batched (at most every ``FLUSH_S``) like Mosquitto's
``autosave_interval 1``: a clean stop saves everything, a SIGKILL can lose
the last fraction of a second of retained changes. That is enough for what
tinyops keeps retained (builds, desired/reported states), which the host can
always publish again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

FLUSH_S = 0.5


@dataclass(frozen=True)
class Retained:
    payload: bytes
    qos: int
    props_raw: bytes  # MQTT 5 properties as received, re-sent to v5 subscribers


class RetainedStore:
    """Topic -> last retained message, with an optional SQLite copy on disk."""

    def __init__(self, path: Path | None) -> None:
        self.messages: dict[str, Retained] = {}
        self._dirty: dict[str, Retained | None] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL,"
                             " qos INTEGER NOT NULL, props BLOB NOT NULL)")
            for topic, payload, qos, props in self._db.execute("SELECT topic, payload, qos, props FROM retained"):
                self.messages[topic] = Retained(bytes(payload), qos, bytes(props))

    def put(self, topic: str, payload: bytes, qos: int, props_raw: bytes) -> None:
        """Keep (or, for an empty payload, forget) the retained message of a topic."""
        if payload:
            msg = Retained(payload, qos, props_raw)
            self.messages[topic] = msg
            self._dirty[topic] = msg
        elif self.messages.pop(topic, None) is not None:
            self._dirty[topic] = None

    def flush(self) -> int:
        """Write pending changes in one transaction; returns how many."""
        if self._db is None or not self._dirty:
            self._dirty.clear()
            return 0
        changes, self._dirty = self._dirty, {}
        self._db.execute("BEGIN")
        try:
            for topic, msg in changes.items():
                if msg is None:
                    self._db.execute("DELETE FROM retained WHERE topic = ?", (topic,))
                else:
                    self._db.execute("INSERT OR REPLACE INTO retained VALUES (?, ?, ?, ?)",
                                    (topic, msg.payload, msg.qos, msg.props_raw))
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            self._dirty = {**changes, **self._dirty}  # try again next time
            raise
        return len(changes)

    def close(self) -> None:
        if self._db is not None:
            self.flush()
            self._db.close()
            self._db = None
