"""Telemetry windows, rejected messages and drift results.

Windows are stored one row each; their input histograms are packed as one
int32 blob in the order of a *layout* (feature names and bin counts), which
is stored once. Drift over 1,000 devices x 24 windows then sums arrays
instead of parsing tens of thousands of JSON objects.
"""

from __future__ import annotations

import array
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlite_utils

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

REJECT_PAYLOAD_KEEP = 4096  # bytes of a rejected payload kept for forensics
# Stored rejects are a ring per device (the newest kept) plus a cap over all
# of them; every reject is still counted in telemetry_reject_counts.
REJECTS_PER_DEVICE = 50
REJECTS_TOTAL = 20_000


def _m0001(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE telemetry_layouts (
        id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, features TEXT NOT NULL)""")
    db.execute("""CREATE TABLE telemetry_windows (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, build TEXT NOT NULL,
        start REAL NOT NULL, "end" REAL NOT NULL, received REAL NOT NULL,
        count INTEGER NOT NULL, latency_p50 REAL, latency_p95 REAL, latency_max REAL,
        confidence_mean REAL, errors INTEGER NOT NULL, predictions TEXT NOT NULL,
        layout INTEGER REFERENCES telemetry_layouts(id), hist BLOB,
        error_samples TEXT, sample TEXT, source TEXT,
        UNIQUE(device, build, start))""")
    db.execute('CREATE INDEX telemetry_windows_build_end ON telemetry_windows(build, "end")')
    db.execute('CREATE INDEX telemetry_windows_device_end ON telemetry_windows(device, "end")')
    db.execute("""CREATE TABLE telemetry_rejects (
        id INTEGER PRIMARY KEY, received REAL NOT NULL, topic TEXT NOT NULL, device TEXT,
        reason TEXT NOT NULL, size INTEGER NOT NULL, payload BLOB)""")
    db.execute("""CREATE TABLE drift_checks (
        id INTEGER PRIMARY KEY, created REAL NOT NULL, target TEXT NOT NULL,
        builds TEXT NOT NULL, params TEXT NOT NULL, drift INTEGER NOT NULL,
        window_start REAL, window_end REAL, summary TEXT NOT NULL)""")
    db.execute("""CREATE TABLE drift_results (
        id INTEGER PRIMARY KEY, check_id INTEGER NOT NULL REFERENCES drift_checks(id),
        scope TEXT NOT NULL, scope_id TEXT NOT NULL, kind TEXT NOT NULL, feature TEXT NOT NULL,
        n INTEGER NOT NULL, psi REAL, js REAL, ks REAL, ks_p REAL, wasserstein REAL,
        verdict TEXT NOT NULL)""")
    db.execute("CREATE INDEX drift_results_check ON drift_results(check_id)")


def _m0002(db: sqlite_utils.Database) -> None:
    db.execute("CREATE INDEX telemetry_rejects_device ON telemetry_rejects(device, id)")
    db.execute("""CREATE TABLE telemetry_reject_counts (
        device TEXT PRIMARY KEY, total INTEGER NOT NULL, last_received REAL NOT NULL, last_reason TEXT NOT NULL)""")
    db.execute("""INSERT INTO telemetry_reject_counts(device, total, last_received, last_reason)
        SELECT COALESCE(device, ''), COUNT(*), MAX(received), '' FROM telemetry_rejects GROUP BY COALESCE(device, '')""")


# Windows summed per build and 10-second slot of their end time, kept up to date in the
# transaction that stores them: the dashboard's charts over 100,000 windows read a few
# hundred rows instead (telemetry_series.timeline).
ROLLUP_S = 10
SLOT_SQL = f'CAST("end" / {ROLLUP_S} AS INTEGER) * {ROLLUP_S}'
_ROLLUP_SQL = f"""INSERT INTO telemetry_rollup(build, slot, windows, inferences, errors, p50_sum, p50_n, p95_sum, p95_n,
        p95_max, min_end, max_end)
    SELECT build, {SLOT_SQL}, COUNT(*), SUM(count), SUM(errors), TOTAL(latency_p50), COUNT(latency_p50),
        TOTAL(latency_p95), COUNT(latency_p95), MAX(latency_p95), MIN("end"), MAX("end")
    FROM telemetry_windows WHERE id > ? GROUP BY 1, 2
    ON CONFLICT(build, slot) DO UPDATE SET windows = windows + excluded.windows,
        inferences = inferences + excluded.inferences, errors = errors + excluded.errors,
        p50_sum = p50_sum + excluded.p50_sum, p50_n = p50_n + excluded.p50_n,
        p95_sum = p95_sum + excluded.p95_sum, p95_n = p95_n + excluded.p95_n,
        p95_max = MAX(COALESCE(p95_max, excluded.p95_max), COALESCE(excluded.p95_max, p95_max)),
        min_end = MIN(min_end, excluded.min_end), max_end = MAX(max_end, excluded.max_end)"""
_ROLLUP_PREDICTIONS_SQL = f"""INSERT INTO telemetry_rollup_predictions(build, slot, label, n)
    SELECT build, {SLOT_SQL}, j.key, SUM(j.value) FROM telemetry_windows, json_each(predictions) j
    WHERE telemetry_windows.id > ? GROUP BY 1, 2, 3
    ON CONFLICT(build, slot, label) DO UPDATE SET n = n + excluded.n"""


_ADD_PREDICTIONS_SQL = """INSERT INTO telemetry_rollup_predictions(build, slot, label, n) VALUES (?,?,?,?)
    ON CONFLICT(build, slot, label) DO UPDATE SET n = n + excluded.n"""


def _roll_up(db: sqlite_utils.Database, after_id: int, windows: list[dict[str, Any]] | None = None) -> None:
    """Add the windows with ``id > after_id`` (the ones just stored) to the rollup. ``windows``:
    exactly those, when none was a duplicate (their predictions are summed here, not re-parsed)."""
    db.execute(_ROLLUP_SQL, [after_id])
    if windows is None:
        db.execute(_ROLLUP_PREDICTIONS_SQL, [after_id])
        return
    acc: dict[tuple[str, int, str], int] = {}
    for w in windows:
        slot = int(float(w["end"]) / ROLLUP_S) * ROLLUP_S  # as SLOT_SQL computes it
        for label, n in w["predictions"].items():
            key = (w["build"], slot, str(label))
            acc[key] = acc.get(key, 0) + int(n)
    db.conn.executemany(_ADD_PREDICTIONS_SQL, [(*k, n) for k, n in acc.items()])


def _m0003(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE telemetry_rollup (
        build TEXT NOT NULL, slot INTEGER NOT NULL, windows INTEGER NOT NULL, inferences INTEGER NOT NULL,
        errors INTEGER NOT NULL, p50_sum REAL NOT NULL, p50_n INTEGER NOT NULL, p95_sum REAL NOT NULL,
        p95_n INTEGER NOT NULL, p95_max REAL, min_end REAL NOT NULL, max_end REAL NOT NULL,
        PRIMARY KEY (build, slot))""")
    db.execute("""CREATE TABLE telemetry_rollup_predictions (
        build TEXT NOT NULL, slot INTEGER NOT NULL, label TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (build, slot, label))""")
    _roll_up(db, 0)  # the windows stored before this migration


def _m0004(db: sqlite_utils.Database) -> None:
    # a board's histograms of the features it computed from raw input, next to the host's
    db.execute("ALTER TABLE telemetry_windows ADD COLUMN device_features TEXT")


MIGRATIONS = [("0001_telemetry", _m0001), ("0002_reject_ring", _m0002), ("0003_rollup", _m0003),
              ("0004_device_features", _m0004)]


@dataclass
class StoredWindow:
    id: int
    device: str
    build: str
    start: float
    end: float
    count: int
    latency_ms: dict[str, float] | None
    predictions: dict[str, int]
    confidence_mean: float | None
    errors: int
    features: list[tuple[str, int]]  # layout: (name, bins)
    hist: np.ndarray  # int32, concatenated in layout order
    sample: list[dict[str, Any]] | None = None
    error_samples: list[str] = field(default_factory=list)
    device_features: dict[str, Any] | None = None

    def histograms(self) -> dict[str, list[int]]:
        out, pos = {}, 0
        for name, n in self.features:
            out[name] = self.hist[pos:pos + n].tolist()
            pos += n
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("hist")
        d.pop("features")
        d["histograms"] = self.histograms()
        return d


# ---- layouts -----------------------------------------------------------
_layout_rows: dict[tuple[str, int], list[tuple[str, int]]] = {}


def _db_key(db: sqlite_utils.Database) -> str:
    return str(id(db.conn))


def _layout_id(db: sqlite_utils.Database, features: tuple[tuple[str, int], ...], cache: dict[Any, int]) -> int:
    # Keyed by the tuple itself: most windows of a batch share one layout, and
    # hashing a tuple is much cheaper than serialising it per window.
    if features in cache:
        return cache[features]
    text = json.dumps(features, separators=(",", ":"))
    key = hashlib.sha1(text.encode()).hexdigest()
    row = db.execute("SELECT id FROM telemetry_layouts WHERE key = ?", [key]).fetchone()
    if row is None:
        cur = db.execute("INSERT INTO telemetry_layouts(key, features) VALUES (?, ?)", [key, text])
        lid = int(cur.lastrowid)
    else:
        lid = int(row[0])
    cache[features] = lid
    return lid


def _layout(db: sqlite_utils.Database, lid: int | None) -> list[tuple[str, int]]:
    if lid is None:
        return []
    ck = (_db_key(db), lid)
    if ck not in _layout_rows:
        row = db.execute("SELECT features FROM telemetry_layouts WHERE id = ?", [lid]).fetchone()
        _layout_rows[ck] = [tuple(f) for f in json.loads(row[0])] if row else []
    return _layout_rows[ck]


# ---- writing -----------------------------------------------------------
def _pack_hist(counts: Any) -> bytes:
    """Concatenated counts as int32 bytes (array.fromlist is ~2x faster than an iterator)."""
    a = array.array("i")
    for v in counts:
        if type(v) is list:
            a.fromlist(v)
        else:
            a.extend(v)
    return a.tobytes()


def store_batch(ws: Workspace, windows: list[dict[str, Any]], rejects: list[dict[str, Any]], *,
                received: float | None = None) -> tuple[int, int]:
    """Store validated windows and rejects in ONE transaction.

    Returns (stored, duplicates). A window already stored (same device,
    build, start — e.g. a QoS 1 redelivery) is ignored, not an error.
    """
    received = received or time.time()
    layouts: dict[Any, int] = {}  # per transaction: a rollback must not leave stale ids cached
    with ws.transaction() as db:
        rows = []
        for w in windows:
            hists = w.get("histograms") or {}
            feats = tuple(zip(hists, map(len, hists.values())))
            lid = _layout_id(db, feats, layouts) if feats else None
            blob = _pack_hist(hists.values()) if feats else None
            lat = w.get("latency_ms") or {}
            rows.append((w["device"], w["build"], float(w["start"]), float(w["end"]), received, w["count"],
                         lat.get("p50"), lat.get("p95"), lat.get("max"), w.get("confidence_mean"), w["errors"],
                         json.dumps(w["predictions"]), lid, blob,
                         json.dumps(w["error_samples"]) if w.get("error_samples") else None,
                         json.dumps(w["sample"]) if w.get("sample") else None, w.get("source"),
                         json.dumps(w["device_features"]) if w.get("device_features") else None))
        before = db.conn.total_changes
        last_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM telemetry_windows").fetchone()[0]
        db.conn.executemany(
            """INSERT OR IGNORE INTO telemetry_windows(device, build, start, "end", received, count,
               latency_p50, latency_p95, latency_max, confidence_mean, errors, predictions, layout, hist,
               error_samples, sample, source, device_features) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
        stored = db.conn.total_changes - before
        if stored:
            _roll_up(db, last_id, windows if stored == len(windows) else None)
        db.conn.executemany(
            "INSERT INTO telemetry_rejects(received, topic, device, reason, size, payload) VALUES (?,?,?,?,?,?)",
            [(received, str(r.get("topic", ""))[:256], r.get("device"), str(r["reason"])[:500],
              int(r.get("size") or len(bytes(r.get("payload") or b""))),
              bytes(r.get("payload") or b"")[:REJECT_PAYLOAD_KEEP]) for r in rejects])
        if rejects:
            _count_and_trim_rejects(db, rejects, received)
    return stored, len(windows) - stored


def _count_and_trim_rejects(db: sqlite_utils.Database, rejects: list[dict[str, Any]], received: float) -> None:
    per_device: dict[str, tuple[int, str]] = {}
    for r in rejects:
        dev = r.get("device") or ""
        per_device[dev] = (per_device.get(dev, (0, ""))[0] + 1, str(r["reason"])[:500])
    db.conn.executemany(
        """INSERT INTO telemetry_reject_counts(device, total, last_received, last_reason) VALUES (?,?,?,?)
           ON CONFLICT(device) DO UPDATE SET total = total + excluded.total,
           last_received = excluded.last_received, last_reason = excluded.last_reason""",
        [(dev, n, received, reason) for dev, (n, reason) in per_device.items()])
    for dev in per_device:
        db.execute("""DELETE FROM telemetry_rejects WHERE COALESCE(device, '') = ? AND id <= (
            SELECT id FROM telemetry_rejects WHERE COALESCE(device, '') = ? ORDER BY id DESC LIMIT 1 OFFSET ?)""",
                   [dev, dev, REJECTS_PER_DEVICE])
    db.execute("DELETE FROM telemetry_rejects WHERE id <= (SELECT id FROM telemetry_rejects ORDER BY id DESC LIMIT 1 OFFSET ?)",
               [REJECTS_TOTAL])


# ---- reading -----------------------------------------------------------
_COLS = 'id, device, build, start, "end", count, latency_p50, latency_p95, latency_max, confidence_mean, errors, predictions, layout, hist'


def load_windows(ws: Workspace, *, builds: list[str] | None = None, devices: list[str] | None = None,
                 since: float | None = None, until: float | None = None, with_samples: bool = False) -> list[StoredWindow]:
    """Windows matching the filters, oldest first."""
    where, args = [], []
    if builds is not None:
        where.append(f"build IN ({','.join('?' * len(builds))})")
        args += builds
    if devices is not None:
        where.append(f"device IN ({','.join('?' * len(devices))})")
        args += devices
    if since is not None:
        where.append('"end" > ?')
        args.append(since)
    if until is not None:
        where.append('"end" <= ?')
        args.append(until)
    cols = _COLS + (", sample, error_samples, device_features" if with_samples else "")
    sql = f"SELECT {cols} FROM telemetry_windows"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += ' ORDER BY "end", id'
    out = []
    db = ws.db
    for r in db.execute(sql, args):
        lat = None if r[6] is None else {"p50": r[6], "p95": r[7], "max": r[8]}
        feats = _layout(db, r[12])
        hist = np.frombuffer(r[13], dtype=np.int32) if r[13] is not None else np.zeros(0, dtype=np.int32)
        w = StoredWindow(r[0], r[1], r[2], r[3], r[4], r[5], lat, json.loads(r[11]), r[9], r[10], feats, hist)
        if with_samples:
            w.sample = json.loads(r[14]) if r[14] else None
            w.error_samples = json.loads(r[15]) if r[15] else []
            w.device_features = json.loads(r[16]) if r[16] else None
        out.append(w)
    return out


def builds_seen(ws: Workspace) -> list[str]:
    return [r[0] for r in ws.db.execute("SELECT DISTINCT build FROM telemetry_windows ORDER BY build")]


def device_summary(ws: Workspace, devices: list[str] | None = None) -> list[dict[str, Any]]:
    """Per device and build: windows, inferences, errors, latency, last window end."""
    sql = ('SELECT device, build, COUNT(*), SUM(count), SUM(errors), MAX(latency_p95), MAX("end"), '
           'SUM(confidence_mean * count) / NULLIF(SUM(CASE WHEN confidence_mean IS NULL THEN 0 ELSE count END), 0) '
           "FROM telemetry_windows")
    args: list[Any] = []
    if devices is not None:
        sql += f" WHERE device IN ({','.join('?' * len(devices))})"
        args = list(devices)
    sql += " GROUP BY device, build ORDER BY device, MAX(\"end\")"
    return [{"device": r[0], "build": r[1], "windows": r[2], "inferences": r[3], "errors": r[4],
             "latency_p95_ms": r[5], "last_window_end": r[6], "confidence_mean": r[7]}
            for r in ws.db.execute(sql, args)]


def list_rejects(ws: Workspace, limit: int = 50) -> list[dict[str, Any]]:
    rows = ws.db.execute("SELECT id, received, topic, device, reason, size FROM telemetry_rejects ORDER BY id DESC LIMIT ?", [limit])
    return [dict(zip(("id", "received", "topic", "device", "reason", "size"), r)) for r in rows]


def count_rejects(ws: Workspace) -> int:
    """Every reject ever received (the stored ones are only the newest per device)."""
    return int(ws.db.execute("SELECT COALESCE(SUM(total), 0) FROM telemetry_reject_counts").fetchone()[0])


def count_stored_rejects(ws: Workspace) -> int:
    return int(ws.db.execute("SELECT COUNT(*) FROM telemetry_rejects").fetchone()[0])


def reject_counts(ws: Workspace) -> list[dict[str, Any]]:
    rows = ws.db.execute("SELECT device, total, last_received, last_reason FROM telemetry_reject_counts ORDER BY total DESC")
    return [{"device": r[0] or None, "total": r[1], "last_received": r[2], "last_reason": r[3]} for r in rows]


def count_windows(ws: Workspace) -> int:
    return int(ws.db.execute("SELECT COUNT(*) FROM telemetry_windows").fetchone()[0])


# ---- drift results -----------------------------------------------------
def save_drift_check(ws: Workspace, *, target: str, builds: list[str], params: dict[str, Any], drift: bool,
                     window_start: float | None, window_end: float | None, summary: dict[str, Any],
                     results: list[dict[str, Any]]) -> int:
    """Store one drift check and its per-scope, per-feature results atomically."""
    with ws.transaction() as db:
        cur = db.execute("INSERT INTO drift_checks(created, target, builds, params, drift, window_start, window_end, summary) "
                         "VALUES (?,?,?,?,?,?,?,?)", [time.time(), target, json.dumps(builds), json.dumps(params),
                                                      int(drift), window_start, window_end, json.dumps(summary)])
        cid = int(cur.lastrowid)
        db.conn.executemany(
            "INSERT INTO drift_results(check_id, scope, scope_id, kind, feature, n, psi, js, ks, ks_p, wasserstein, verdict) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(cid, r["scope"], r["scope_id"], r["kind"], r["feature"], r["n"], r.get("psi"), r.get("js"), r.get("ks"),
              r.get("ks_p"), r.get("wasserstein"), r["verdict"]) for r in results])
    return cid


def drift_history(ws: Workspace, *, target: str | None = None, scope: str = "device",
                  kind: str = "feature", model: str | None = None) -> list[dict[str, Any]]:
    """Worst PSI per scope per stored check, oldest first (for 'drift over time' plots).

    ``model``: only checks whose target names that model (any version, alias or variant)."""
    sql = ("SELECT c.id, c.created, c.window_end, c.target, r.scope_id, MAX(r.psi), "
           "SUM(r.verdict = 'drift') FROM drift_results r JOIN drift_checks c ON c.id = r.check_id "
           "WHERE r.scope = ? AND r.kind = ?")
    args: list[Any] = [scope, kind]
    if target is not None:
        sql += " AND c.target = ?"
        args.append(target)
    if model is not None:
        sql += " AND (c.target = ? OR substr(c.target, 1, ?) = ?)"
        args += [model, len(model) + 1, model + "@"]
    sql += " GROUP BY c.id, r.scope_id ORDER BY c.id"
    return [{"check": r[0], "created": r[1], "window_end": r[2], "target": r[3], "scope_id": r[4],
             "max_psi": r[5], "drifted_features": r[6]} for r in ws.db.execute(sql, args)]


def last_drift_check(ws: Workspace) -> dict[str, Any] | None:
    r = ws.db.execute("SELECT id, created, target, drift, summary FROM drift_checks ORDER BY id DESC LIMIT 1").fetchone()
    if r is None:
        return None
    return {"id": r[0], "created": r[1], "target": r[2], "drift": bool(r[3]), "summary": json.loads(r[4])}
