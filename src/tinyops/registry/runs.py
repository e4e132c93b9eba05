"""Runs: every training (or pipeline step) records what it used and what it got.

A run stores seed, parameters, dataset and feature versions, per-step and
final metrics, the environment (Python, numpy, TensorFlow if loaded,
platform, git commit) and timing, so a result can be traced and repeated.
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tinyops.errors import NotFoundError
from tinyops.registry import _rows
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

GIT_TIMEOUT_S = 2.0


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            seed INTEGER,
            params TEXT NOT NULL DEFAULT '{}',
            datasets TEXT NOT NULL DEFAULT '[]',
            features TEXT NOT NULL DEFAULT '[]',
            recipe TEXT,
            metrics TEXT NOT NULL DEFAULT '{}',
            artifacts TEXT NOT NULL DEFAULT '{}',
            environment TEXT NOT NULL DEFAULT '{}',
            git_commit TEXT,
            error TEXT,
            started TEXT NOT NULL,
            started_unix REAL NOT NULL,
            ended TEXT,
            duration_s REAL
        )"""
    )
    db.execute(
        """CREATE TABLE run_metrics (
            run_id TEXT NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            step INTEGER,
            value REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX run_metrics_run ON run_metrics(run_id, key, step)")


MIGRATIONS = [("0001_runs", _m0001)]


@dataclass
class Run:
    id: str
    kind: str
    status: str
    seed: int | None
    params: dict[str, Any]
    datasets: list[str]
    features: list[str]
    recipe: dict[str, Any] | None
    metrics: dict[str, Any]
    artifacts: dict[str, str]
    environment: dict[str, Any]
    git_commit: str | None
    error: str | None
    started: str
    ended: str | None
    duration_s: float | None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["run"] = self.id
        return d


def environment() -> dict[str, Any]:
    from importlib import metadata

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor_count": os.cpu_count(),
    }
    for pkg in ("numpy", "tinyops", "ai-edge-litert", "tflite-micro", "scikit-learn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            env[pkg] = metadata.version(pkg)
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # only report TensorFlow if this process actually uses it
        env["tensorflow"] = getattr(tf, "__version__", "?")
    return env


def git_commit(folder: str | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                             timeout=GIT_TIMEOUT_S)
        if out.returncode != 0:
            return None
        commit = out.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def start(ws: Workspace, kind: str, *, params: dict[str, Any] | None = None, seed: int | None = None,
          datasets: list[str] | None = None, features: list[str] | None = None,
          recipe: dict[str, Any] | None = None) -> Run:
    run_id = secrets.token_hex(6)
    with ws.transaction() as db:
        db.table("runs").insert({
            "id": run_id, "kind": kind, "status": "running", "seed": seed,
            "params": _rows.dumps(params or {}), "datasets": _rows.dumps(datasets or []),
            "features": _rows.dumps(features or []), "recipe": _rows.dumps(recipe) if recipe is not None else None,
            "environment": _rows.dumps(environment()), "git_commit": git_commit(),
            "started": timestamps.now(), "started_unix": time.time(),
        })
    return get(ws, run_id)


def log_params(ws: Workspace, run_id: str, params: dict[str, Any]) -> None:
    with ws.transaction() as db:
        cur = _rows.loads(db.execute("SELECT params FROM runs WHERE id=?", [run_id]).fetchone()[0], {})
        cur.update(params)
        db.execute("UPDATE runs SET params=? WHERE id=?", [_rows.dumps(cur), run_id])


def log_metric(ws: Workspace, run_id: str, key: str, value: float, step: int | None = None) -> None:
    with ws.transaction() as db:
        db.table("run_metrics").insert({"run_id": run_id, "key": key, "step": step, "value": float(value)})


def log_metrics(ws: Workspace, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
    with ws.transaction() as db:
        db.table("run_metrics").insert_all(
            [{"run_id": run_id, "key": k, "step": step, "value": float(v)} for k, v in metrics.items()]
        )


def log_artifact(ws: Workspace, run_id: str, name: str, sha256: str) -> None:
    with ws.transaction() as db:
        cur = _rows.loads(db.execute("SELECT artifacts FROM runs WHERE id=?", [run_id]).fetchone()[0], {})
        cur[name] = sha256
        db.execute("UPDATE runs SET artifacts=? WHERE id=?", [_rows.dumps(cur), run_id])


def _end(ws: Workspace, run_id: str, status: str, metrics: dict[str, Any] | None, error: str | None) -> None:
    with ws.transaction() as db:
        row = db.execute("SELECT started_unix, metrics FROM runs WHERE id=?", [run_id]).fetchone()
        if row is None:
            raise NotFoundError(f"run {run_id} does not exist", hint="see `tinyops runs list`")
        merged = _rows.loads(row[1], {})
        merged.update(metrics or {})
        db.execute(
            "UPDATE runs SET status=?, metrics=?, error=?, ended=?, duration_s=? WHERE id=?",
            [status, _rows.dumps(merged), error, timestamps.now(), round(time.time() - row[0], 3), run_id],
        )


def finish(ws: Workspace, run_id: str, metrics: dict[str, Any] | None = None) -> Run:
    _end(ws, run_id, "finished", metrics, None)
    return get(ws, run_id)


def fail(ws: Workspace, run_id: str, error: str) -> Run:
    _end(ws, run_id, "failed", None, error)
    return get(ws, run_id)


@contextlib.contextmanager
def track(ws: Workspace, kind: str, **kwargs: Any) -> Iterator[Run]:
    """Start a run; mark it failed if the body raises, finished otherwise."""
    run = start(ws, kind, **kwargs)
    try:
        yield run
    except BaseException as e:
        fail(ws, run.id, f"{type(e).__name__}: {e}")
        raise
    if get(ws, run.id).status == "running":
        finish(ws, run.id)


def get(ws: Workspace, run_id: str) -> Run:
    rows = list(ws.db.query("SELECT * FROM runs WHERE id=?", [run_id]))
    if not rows:
        rows = list(ws.db.query("SELECT * FROM runs WHERE id LIKE ? || '%'", [run_id]))
        if len(rows) != 1:
            raise NotFoundError(f"run '{run_id}' does not exist" if not rows else f"run prefix '{run_id}' is ambiguous",
                                hint="see `tinyops runs list` for run ids")
    r = rows[0]
    steps = [dict(x) for x in ws.db.query(
        "SELECT key, step, value FROM run_metrics WHERE run_id=? ORDER BY rowid", [r["id"]])]
    return Run(
        id=r["id"], kind=r["kind"], status=r["status"], seed=r["seed"], params=_rows.loads(r["params"], {}),
        datasets=_rows.loads(r["datasets"], []), features=_rows.loads(r["features"], []),
        recipe=_rows.loads(r["recipe"]), metrics=_rows.loads(r["metrics"], {}),
        artifacts=_rows.loads(r["artifacts"], {}), environment=_rows.loads(r["environment"], {}),
        git_commit=r["git_commit"], error=r["error"], started=r["started"], ended=r["ended"],
        duration_s=r["duration_s"], steps=steps,
    )


def list_runs(ws: Workspace, kind: str | None = None, limit: int = 100) -> list[Run]:
    sql = "SELECT id FROM runs" + (" WHERE kind=?" if kind else "") + " ORDER BY started_unix DESC LIMIT ?"
    ids = [r["id"] for r in ws.db.query(sql, [kind, limit] if kind else [limit])]
    return [get(ws, i) for i in ids]
