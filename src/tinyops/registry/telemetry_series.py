"""Stored telemetry summed into time buckets, for the dashboard's charts.

One SQL pass per question over the per-slot rollup (or, for one device, its
windows), so a chart never loads every window into Python.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

from tinyops.registry.telemetry import SLOT_SQL, ROLLUP_S


def _where(devices: list[str] | None) -> tuple[str, list[Any]]:
    if devices is None:
        return "", []
    return f" WHERE device IN ({','.join('?' * len(devices))})", list(devices)


def _grid(lo: float, hi: float, buckets: int) -> tuple[float, float]:
    """Bucket start and step, aligned to the rollup's slots so both sources bucket alike."""
    s = ROLLUP_S
    step = max(s, math.ceil((hi - lo) / max(buckets, 1) / s - 1e-9) * s)
    return float(math.floor(lo / s) * s), float(step)


def timeline(ws: Workspace, *, buckets: int = 60, devices: list[str] | None = None) -> dict[str, Any]:
    """Per time bucket (by window end; at most ``buckets``, each a multiple of 10 s): windows,
    inferences, errors, mean/max of the windows' latency p50/p95, the prediction mix, and
    rejected messages (by arrival time). The whole fleet is read from the rollup, one
    device's windows from the table itself."""
    if devices is None:
        lo, hi = ws.db.execute("SELECT MIN(min_end), MAX(max_end) FROM telemetry_rollup").fetchone()
    else:
        where, args = _where(devices)
        lo, hi = ws.db.execute(f'SELECT MIN("end"), MAX("end") FROM telemetry_windows{where}', args).fetchone()
    if lo is None:
        return {"start": None, "step": None, "buckets": [], "predictions": {}, "rejects": []}
    start, step = _grid(lo, hi, buckets)
    last = max(buckets - 1, 0)  # the newest slot may start past the last bucket: it joins it
    k = f"MIN(CAST((slot - {start!r}) / {step!r} AS INTEGER), {last})"
    if devices is None:
        rows = ws.db.execute(
            f"SELECT {k} AS k, SUM(windows), SUM(inferences), SUM(errors), SUM(p50_sum) / NULLIF(SUM(p50_n), 0), "
            f"SUM(p95_sum) / NULLIF(SUM(p95_n), 0), MAX(p95_max) FROM telemetry_rollup GROUP BY k ORDER BY k").fetchall()
        mix_rows = ws.db.execute(f"SELECT {k} AS k, label, SUM(n) FROM telemetry_rollup_predictions GROUP BY k, label")
    else:
        src = f'(SELECT {SLOT_SQL} AS slot, * FROM telemetry_windows{where})'
        rows = ws.db.execute(
            f"SELECT {k} AS k, COUNT(*), SUM(count), SUM(errors), AVG(latency_p50), AVG(latency_p95), MAX(latency_p95) "
            f"FROM {src} GROUP BY k ORDER BY k", args).fetchall()
        mix_rows = ws.db.execute(f"SELECT {k} AS k, j.key, SUM(j.value) FROM {src} AS w, json_each(w.predictions) j "
                                 "GROUP BY k, j.key", args)
    out = [{"t": start + r[0] * step, "windows": r[1], "inferences": r[2], "errors": r[3],
            "latency_p50_ms": r[4], "latency_p95_ms": r[5], "latency_p95_max_ms": r[6]} for r in rows]
    mix: dict[str, dict[int, int]] = {}
    for kk, label, n in mix_rows:
        mix.setdefault(str(label), {})[int(kk)] = int(n)
    rwhere = "" if devices is None else f" WHERE device IN ({','.join('?' * len(devices))})"
    rej = ws.db.execute(
        f"SELECT MAX(MIN(CAST((received - {start!r}) / {step!r} AS INTEGER), {last}), 0) AS k, COUNT(*) "
        f"FROM telemetry_rejects{rwhere} GROUP BY k ORDER BY k", list(devices or [])).fetchall()
    return {"start": start, "step": step, "buckets": out,
            "predictions": {label: [v.get(r[0], 0) for r in rows] for label, v in sorted(mix.items())},
            "rejects": [{"t": start + kk * step, "count": n} for kk, n in rej]}


def per_device_latest(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Each registered device's newest window: build, latency p95, end time (one index seek per device)."""
    rows = ws.db.execute(
        'SELECT w.device, w.build, w.latency_p95, w."end" FROM devices d JOIN telemetry_windows w ON w.id = '
        '(SELECT id FROM telemetry_windows WHERE device = d.id ORDER BY "end" DESC, id DESC LIMIT 1)').fetchall()
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
