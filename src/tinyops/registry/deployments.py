"""Deployments of builds to devices, and benchmark results linked to builds.

A deployment is one `tinyops flash` of a build onto a device (a registered
device id, or the serial URL when the device is not registered); a benchmark
result is one `tinyops bench` run on the model a device was running.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tinyops.errors import NotFoundError
from tinyops.registry import _rows
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _m0001(db) -> None:
    db.execute(
        """CREATE TABLE deployments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            build TEXT NOT NULL REFERENCES builds(id),
            device TEXT NOT NULL,
            port TEXT NOT NULL,
            slot INTEGER,
            image_sha256 TEXT NOT NULL,
            activated INTEGER NOT NULL,
            self_test TEXT NOT NULL,
            detail TEXT NOT NULL,
            created TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX deployments_build ON deployments(build)")
    db.execute("CREATE INDEX deployments_device ON deployments(device)")
    db.execute(
        """CREATE TABLE bench_results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            build TEXT REFERENCES builds(id),
            device TEXT NOT NULL,
            port TEXT NOT NULL,
            image_sha256 TEXT,
            runs INTEGER NOT NULL,
            warmup INTEGER NOT NULL,
            unit TEXT NOT NULL,
            per_inference REAL NOT NULL,
            agreement REAL,
            detail TEXT NOT NULL,
            created TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX bench_results_build ON bench_results(build)")


MIGRATIONS = [("0001_deployments", _m0001)]


@dataclass
class Deployment:
    id: int
    build: str
    device: str
    port: str
    slot: int | None
    image_sha256: str
    activated: bool
    self_test: str
    detail: dict[str, Any]
    created: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchResult:
    id: int
    build: str | None
    device: str
    port: str
    image_sha256: str | None
    runs: int
    warmup: int
    unit: str  # "instructions" (QEMU) | "us"
    per_inference: float
    agreement: float | None
    detail: dict[str, Any]
    created: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows_of(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = ws.db.execute(sql, params)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _deployment(r: dict[str, Any]) -> Deployment:
    return Deployment(r["id"], r["build"], r["device"], r["port"], r["slot"], r["image_sha256"],
                      bool(r["activated"]), r["self_test"], _rows.loads(r["detail"], {}), r["created"])


def _bench(r: dict[str, Any]) -> BenchResult:
    return BenchResult(r["id"], r["build"], r["device"], r["port"], r["image_sha256"], r["runs"], r["warmup"],
                       r["unit"], r["per_inference"], r["agreement"], _rows.loads(r["detail"], {}), r["created"])


def record_deployment(ws: Workspace, *, build: str, device: str, port: str, slot: int | None, sha256: str,
                      activated: bool, self_test: str, detail: dict[str, Any]) -> Deployment:
    with ws.transaction() as db:
        cur = db.execute(
            "INSERT INTO deployments (build, device, port, slot, image_sha256, activated, self_test, detail, created)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [build, device, port, slot, sha256, int(activated), self_test, _rows.dumps(detail), timestamps.now()])
        new_id = cur.lastrowid
    return get_deployment(ws, new_id)


def get_deployment(ws: Workspace, dep_id: int) -> Deployment:
    rows = _rows_of(ws, "SELECT * FROM deployments WHERE id=?", [dep_id])
    if not rows:
        raise NotFoundError(f"no deployment {dep_id}", hint="`tinyops flash` records deployments")
    return _deployment(rows[0])


def list_deployments(ws: Workspace, *, build: str | None = None, device: str | None = None) -> list[Deployment]:
    sql, params = "SELECT * FROM deployments WHERE 1=1", []
    if build:
        sql, params = sql + " AND build=?", params + [build]
    if device:
        sql, params = sql + " AND device=?", params + [device]
    return [_deployment(r) for r in _rows_of(ws, sql + " ORDER BY id", params)]


def build_for_image(ws: Workspace, image_sha256: str) -> str | None:
    """The build most recently deployed with this image hash (bench links results with it)."""
    rows = _rows_of(ws, "SELECT build FROM deployments WHERE image_sha256=? ORDER BY id DESC LIMIT 1",
                    [image_sha256])
    return rows[0]["build"] if rows else None


def record_bench(ws: Workspace, *, build: str | None, device: str, port: str, image_sha256: str | None, runs: int,
                 warmup: int, unit: str, per_inference: float, agreement: float | None,
                 detail: dict[str, Any]) -> BenchResult:
    with ws.transaction() as db:
        cur = db.execute(
            "INSERT INTO bench_results (build, device, port, image_sha256, runs, warmup, unit, per_inference,"
            " agreement, detail, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [build, device, port, image_sha256, runs, warmup, unit, per_inference, agreement,
             _rows.dumps(detail), timestamps.now()])
        new_id = cur.lastrowid
    rows = _rows_of(ws, "SELECT * FROM bench_results WHERE id=?", [new_id])
    return _bench(rows[0])


def list_bench(ws: Workspace, *, build: str | None = None) -> list[BenchResult]:
    sql, params = "SELECT * FROM bench_results", []
    if build:
        sql, params = sql + " WHERE build=?", [build]
    return [_bench(r) for r in _rows_of(ws, sql + " ORDER BY id", params)]
