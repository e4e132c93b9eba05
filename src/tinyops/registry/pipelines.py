"""Pipeline step cache: a step whose inputs hash the same is not run again.

One row per (pipeline, step, input hash) that completed, with the run that
did the work and the outputs later steps consume.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import sqlite_utils

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _m0001(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE pipeline_steps (
        pipeline TEXT NOT NULL, step TEXT NOT NULL, input_hash TEXT NOT NULL,
        run_id TEXT, outputs TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (pipeline, step, input_hash))""")


MIGRATIONS = [("0001_pipeline_steps", _m0001)]


def cached(ws: Workspace, pipeline: str, step: str, input_hash: str) -> dict[str, Any] | None:
    r = ws.db.execute("SELECT run_id, outputs, created FROM pipeline_steps WHERE pipeline=? AND step=? AND input_hash=?",
                      [pipeline, step, input_hash]).fetchone()
    return None if r is None else {"run": r[0], "outputs": json.loads(r[1]), "created": r[2]}


def remember(ws: Workspace, pipeline: str, step: str, input_hash: str, run_id: str | None, outputs: dict[str, Any]) -> None:
    with ws.transaction() as db:
        db.execute("INSERT OR REPLACE INTO pipeline_steps(pipeline, step, input_hash, run_id, outputs, created) "
                   "VALUES (?,?,?,?,?,?)", [pipeline, step, input_hash, run_id, json.dumps(outputs), time.time()])


def history(ws: Workspace, pipeline: str) -> list[dict[str, Any]]:
    rows = ws.db.execute("SELECT step, input_hash, run_id, outputs, created FROM pipeline_steps WHERE pipeline=? "
                         "ORDER BY created", [pipeline])
    return [{"step": r[0], "input_hash": r[1], "run": r[2], "outputs": json.loads(r[3]), "created": r[4]} for r in rows]
