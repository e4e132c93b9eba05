"""Versioned schema migrations for the registry database.

Each noun module owns its tables and declares ``MIGRATIONS``: a list of
``(name, function(db))``. They are applied once each, in the order of
:data:`MODULES` and then of the list, and recorded in ``_migrations``. Never
edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import sqlite_utils

from tinyops import timestamps

# Order matters: later modules may reference earlier tables.
MODULES = [
    "tinyops.registry.datasets",
    "tinyops.registry.features",
    "tinyops.registry.runs",
    "tinyops.registry.models",
    "tinyops.registry.variants",
    "tinyops.registry.builds",
    "tinyops.registry.deployments",
    "tinyops.registry.devices",
    "tinyops.registry.fleet",
    "tinyops.registry.telemetry",
    "tinyops.registry.pipelines",
]

Migration = tuple[str, Callable[[sqlite_utils.Database], None]]


def one_timestamp_format(db: sqlite_utils.Database) -> None:
    """Rewrite every stored ISO time (seconds, milliseconds or microseconds) in the one
    format of :mod:`tinyops.timestamps`, so text comparisons and ORDER BY follow time."""
    for table in db.table_names():
        if table.startswith(("_", "sqlite_")) or "_fts" in table:
            continue
        cols = [c.name for c in db.table(table).columns if c.type.upper() == "TEXT"]
        for col in cols:
            rows = db.execute(f"SELECT rowid, [{col}] FROM [{table}] WHERE [{col}] GLOB "
                              "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'").fetchall()
            for rowid, value in rows:
                if not timestamps.ISO_UTC.fullmatch(value):
                    continue
                new = timestamps.normalize(value)
                if new != value:
                    db.execute(f"UPDATE [{table}] SET [{col}] = ? WHERE rowid = ?", [new, rowid])


# After every module's own migrations: they concern all tables.
LAST: list[Migration] = [("0001_one_timestamp_format", one_timestamp_format)]


def all_migrations() -> list[Migration]:
    out: list[Migration] = []
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        out.extend(getattr(mod, "MIGRATIONS", []))
    return out + LAST


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations inside one immediate transaction. Returns their names."""
    conn = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))")
    pending = all_migrations()
    done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
    if all(name in done for name, _ in pending):
        return []
    applied = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
        for name, fn in pending:
            if name in done:
                continue
            fn(db)
            conn.execute("INSERT INTO _migrations(name) VALUES (?)", [name])
            applied.append(name)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied
