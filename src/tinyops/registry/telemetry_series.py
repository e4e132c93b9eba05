"""Stored telemetry summed into time buckets, for the dashboard's charts.

One SQL pass per question (SQLite sums 100,000 windows in tens of ms), so a
chart never loads every window into Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _where(devices: list[str] | None) -> tuple[str, list[Any]]:
    if devices is None:
        return "", []
    return f" WHERE device IN ({','.join('?' * len(devices))})", list(devices)


def timeline(ws: Workspace, *, buckets: int = 60, devices: list[str] | None = None) -> dict[str, Any]:
    """Per time bucket (by window end): windows, inferences, errors, mean/max of the windows'
    latency p50/p95, the prediction mix, and rejected messages (by arrival time)."""
    where, args = _where(devices)
    lo, hi = ws.db.execute(f'SELECT MIN("end"), MAX("end") FROM telemetry_windows{where}', args).fetchone()
    if lo is None:
        return {"start": None, "step": None, "buckets": [], "predictions": {}, "rejects": []}
    step = max((hi - lo) / buckets, 1.0)
    b = f'MIN(CAST(("end" - {lo!r}) / {step!r} AS INTEGER), {buckets - 1})'
    rows = ws.db.execute(
        f"SELECT {b} AS k, COUNT(*), SUM(count), SUM(errors), AVG(latency_p50), AVG(latency_p95), MAX(latency_p95) "
        f"FROM telemetry_windows{where} GROUP BY k ORDER BY k", args).fetchall()
    out = [{"t": lo + r[0] * step, "windows": r[1], "inferences": r[2], "errors": r[3],
            "latency_p50_ms": r[4], "latency_p95_ms": r[5], "latency_p95_max_ms": r[6]} for r in rows]
    mix: dict[str, dict[int, int]] = {}
    for k, label, n in ws.db.execute(
            f"SELECT {b} AS k, j.key, SUM(j.value) FROM telemetry_windows, json_each(predictions) j{where} "
            "GROUP BY k, j.key", args):
        mix.setdefault(str(label), {})[int(k)] = int(n)
    rwhere = "" if devices is None else f" WHERE device IN ({','.join('?' * len(devices))})"
    rej = ws.db.execute(
        f"SELECT MAX(MIN(CAST((received - {lo!r}) / {step!r} AS INTEGER), {buckets - 1}), 0) AS k, COUNT(*) "
        f"FROM telemetry_rejects{rwhere} GROUP BY k ORDER BY k", list(devices or [])).fetchall()
    return {"start": lo, "step": step, "buckets": out,
            "predictions": {label: [v.get(r[0], 0) for r in rows] for label, v in sorted(mix.items())},
            "rejects": [{"t": lo + k * step, "count": n} for k, n in rej]}


def per_device_latest(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Each device's newest window: build, latency p95, end time."""
    rows = ws.db.execute(
        'SELECT device, build, latency_p95, MAX("end") FROM telemetry_windows GROUP BY device').fetchall()
    return {r[0]: {"build": r[1], "latency_p95_ms": r[2], "end": r[3]} for r in rows}


def drift_by_feature(ws: Workspace, *, target: str | None = None, scope_id: str | None = None) -> list[dict[str, Any]]:
    """Stored drift results per check and feature (oldest first), for 'drift over data time'."""
    sql = ("SELECT c.id, c.window_end, c.target, r.scope, r.scope_id, r.feature, r.psi, r.verdict "
           "FROM drift_results r JOIN drift_checks c ON c.id = r.check_id WHERE r.kind = 'feature'")
    args: list[Any] = []
    if target is not None:
        sql += " AND c.target = ?"
        args.append(target)
    if scope_id is not None:
        sql += " AND r.scope_id = ?"
        args.append(scope_id)
    sql += " ORDER BY c.id"
    return [{"check": r[0], "window_end": r[1], "target": r[2], "scope": r[3], "scope_id": r[4], "feature": r[5],
             "psi": r[6], "verdict": r[7]} for r in ws.db.execute(sql, args)]
