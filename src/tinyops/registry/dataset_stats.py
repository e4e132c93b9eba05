"""Reading tables and computing the schema and baseline statistics of a dataset.

The baseline (quantile bin edges and counts per numeric feature) is what
drift detection later compares field telemetry against. For arrays of two or
more dimensions the last axis is the feature axis (``X[0]``, ``X[1]``…).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from typing import Any

import numpy as np

from tinyops.errors import InputError

N_BINS = 10
# Quantiles and histograms come from an evenly strided sample of at most this
# many rows, so very large files are summarised in bounded time.
SAMPLE_ROWS = 1_000_000
MAX_FEATURES_PER_ARRAY = 1024


def csv_table(data: bytes, name: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse CSV bytes with a header row into columns (float64 when numeric, else str)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{name} is not UTF-8 text (byte {e.start})", hint="save the CSV as UTF-8") from e
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{name} is empty", hint="a CSV needs a header row and at least one data row") from None
    header = [h.strip() for h in header]
    if not header or any(h == "" for h in header):
        raise InputError(f"{name}: the header row has an empty column name", hint="name every column in the first row")
    if len(set(header)) != len(header):
        dup = [h for h, n in Counter(header).items() if n > 1]
        raise InputError(f"{name}: duplicate column names {dup}", hint="make column names unique")
    cols: list[list[str]] = [[] for _ in header]
    for lineno, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{name}: line {lineno} has {len(row)} fields, the header has {len(header)}",
                             hint="fix that line (a missing or extra comma?)")
        for c, v in zip(cols, row):
            c.append(v)
    if not cols[0]:
        raise InputError(f"{name} has a header but no data rows", hint="add data rows")
    out: dict[str, np.ndarray] = {}
    for h, values in zip(header, cols):
        try:
            out[h] = np.array([float(v) if v.strip() != "" else np.nan for v in values], dtype=np.float64)
        except ValueError:
            out[h] = np.array(values, dtype=str)
    return header, out


def _feature_stats(x: np.ndarray, total: int) -> dict[str, Any]:
    """``count`` is the number of values summarised (rows × time steps for windows)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "bin_edges": [], "counts": []}
    edges = np.unique(np.quantile(x, np.linspace(0, 1, N_BINS + 1)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    counts, _ = np.histogram(x, bins=edges)
    return {
        "count": int(x.size), "rows": int(total), "mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()),
        "max": float(x.max()), "bin_edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
    }


def _sample(a: np.ndarray) -> np.ndarray:
    n = a.shape[0]
    step = max(1, -(-n // SAMPLE_ROWS))
    return np.asarray(a[::step])


def array_schema_and_stats(arrays: dict[str, np.ndarray], csv: bool = False) -> tuple[list, dict, int | None]:
    schema: list[dict[str, Any]] = []
    stats: dict[str, dict[str, Any]] = {}
    rows: int | None = None
    for key, a in arrays.items():
        schema.append({"name": key, "dtype": str(a.dtype), "shape": list(a.shape[1:])})
        if a.ndim >= 1:
            rows = a.shape[0] if rows is None else max(rows, a.shape[0])
        if a.dtype.kind not in "biuf" or a.size == 0:
            continue
        if a.ndim <= 1:
            stats[key] = _feature_stats(_sample(a.reshape(-1)), a.shape[0] if a.ndim else 1)
            continue
        n_feat = a.shape[-1]
        if n_feat > MAX_FEATURES_PER_ARRAY:
            continue
        flat = _sample(a).reshape(-1, n_feat)
        for i in range(n_feat):
            stats[f"{key}[{i}]"] = _feature_stats(flat[:, i], a.shape[0])
    return schema, stats, rows


def baseline_from_stats(stats: dict[str, dict[str, Any]], columns: list[str] | None = None) -> list[dict[str, Any]]:
    names = columns if columns is not None else list(stats)
    out = []
    for n in names:
        s = stats.get(n)
        if s and s.get("bin_edges"):
            out.append({"name": n, "bin_edges": s["bin_edges"], "counts": s["counts"]})
    return out


def row_digests(arrays: dict[str, np.ndarray]) -> Counter:
    """A multiset of per-row digests over the arrays that share the first axis."""
    keys = sorted(arrays)
    n = min((arrays[k].shape[0] for k in keys if arrays[k].ndim >= 1), default=0)
    digests: Counter = Counter()
    for i in range(n):
        h = hashlib.blake2b(digest_size=16)
        for k in keys:
            a = arrays[k]
            h.update(np.ascontiguousarray(a[i]).tobytes() if a.dtype.kind != "U" else str(a[i]).encode())
        digests[h.digest()] += 1
    return digests
