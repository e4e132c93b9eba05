"""Drift checks: field telemetry against the baseline a build carries.

For each scope — every device, and the cohort (the selected group or the
whole fleet) — the input histograms of the windows in the period are summed
and compared feature by feature with the manifest's baseline histograms
(statistics in :mod:`tinyops.monitor.stats`). The predicted-class mix is
compared with the mix of the same builds *before* the period (the reference
period), since a manifest carries no label distribution.

A feature is flagged ``drift`` only when its effect size passes the alert
threshold AND the difference is statistically significant (chi-square,
Bonferroni over features): small windows then cannot raise false alarms by
noise alone. Defaults follow Evidently: PSI 0.1 warn / 0.2 alert.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.registry import telemetry as tel
from tinyops.monitor import stats

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

METHODS = ("psi", "js", "wasserstein", "ks")
VERDICT_ORDER = {"insufficient": 0, "ok": 1, "warn": 2, "drift": 3}


@dataclass
class Thresholds:
    """When a feature warns or drifts. ``method`` picks the effect statistic."""

    method: str = "psi"
    warn: float = 0.1  # PSI 0.1 warn (Evidently)
    alert: float = 0.2  # PSI 0.2 alert (Evidently); js/wasserstein use 0.1 unless set
    alpha: float = 0.01  # family-wise significance across the features of one scope
    min_count: int = 100  # fewer values than this in a scope: "insufficient"

    @classmethod
    def for_method(cls, method: str, warn: float | None = None, alert: float | None = None, **kw: Any) -> "Thresholds":
        defaults = {"psi": (0.1, 0.2), "js": (0.05, 0.1), "wasserstein": (0.05, 0.1), "ks": (0.05, 0.1)}
        if method not in defaults:
            from tinyops.errors import InputError

            raise InputError(f"unknown drift method {method!r}", hint=f"use one of {', '.join(METHODS)}")
        w, a = defaults[method]
        return cls(method=method, warn=w if warn is None else warn, alert=a if alert is None else alert, **kw)


@dataclass
class Baseline:
    """Per-feature bins and counts, prepared once for vectorised comparison."""

    names: list[str]
    counts: np.ndarray  # [F, K] padded
    mask: np.ndarray
    centres: np.ndarray
    nbins: list[int]
    edges: list[list[float]] = field(default_factory=list)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "Baseline":
        return cls.from_features((manifest.get("baseline") or {}).get("features", []))

    @classmethod
    def from_features(cls, features: list[dict[str, Any]]) -> "Baseline":
        names = [f["name"] for f in features]
        edges = [list(map(float, f["bin_edges"])) for f in features]
        counts, mask = stats.pad([np.asarray(f["counts"], dtype=np.float64) for f in features])
        cents = []
        for f in features:
            e = np.asarray(f["bin_edges"], dtype=np.float64)
            cents.append((e[:-1] + e[1:]) / 2)
        centres, _ = stats.pad(cents)
        b = cls(names, counts, mask, centres, [len(f["counts"]) for f in features])
        b.edges = edges
        return b

    def current_matrix(self, windows: list[tel.StoredWindow]) -> np.ndarray:
        """Sum the windows' histograms into a [F, K] matrix aligned with the baseline."""
        out = np.zeros_like(self.counts)
        totals: dict[int, np.ndarray] = {}
        layouts: dict[int, list[tuple[str, int]]] = {}
        for w in windows:
            if not w.features:
                continue
            key = id(w.features)  # layouts are shared objects (cached per registry row)
            t = totals.get(key)
            if t is None:
                totals[key] = w.hist.astype(np.int64)
                layouts[key] = w.features
            elif len(w.hist) == len(t):
                t += w.hist
        for key, total in totals.items():
            src, rows, cols = self._scatter(layouts[key])
            np.add.at(out, (rows, cols), total[src])
        return out

    def _scatter(self, layout: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each value of a packed histogram goes in the baseline matrix (cached per layout)."""
        cache = self.__dict__.setdefault("_scatter_cache", {})
        key = tuple(layout)
        if key not in cache:
            index = {n: i for i, n in enumerate(self.names)}
            src, rows, cols, pos = [], [], [], 0
            for name, nb in layout:
                i = index.get(name)
                if i is not None and nb == self.nbins[i]:
                    src.extend(range(pos, pos + nb))
                    rows.extend([i] * nb)
                    cols.extend(range(nb))
                pos += nb
            cache[key] = (np.array(src, dtype=np.int64), np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))
        return cache[key]


@dataclass
class ScopeResult:
    scope: str  # "device" or "cohort"
    scope_id: str
    windows: int
    inferences: int
    drift: bool
    features: list[dict[str, Any]]
    prediction: dict[str, Any] | None = None

    def drifted(self) -> list[str]:
        return [f["name"] for f in self.features if f["verdict"] == "drift"]


def _verdicts(s: dict[str, np.ndarray], th: Thresholds, n_features: int) -> list[str]:
    effect = s[th.method]
    sig = s["chi2_p"] < th.alpha / max(n_features, 1)
    out = []
    for i in range(len(effect)):
        if s["n"][i] < th.min_count:
            out.append("insufficient")
        elif effect[i] >= th.alert and sig[i]:
            out.append("drift")
        elif effect[i] >= th.warn:
            out.append("warn")
        else:
            out.append("ok")
    return out


def compare_scope(baseline: Baseline, current: np.ndarray, th: Thresholds) -> list[dict[str, Any]]:
    """Per-feature statistics and verdicts for one scope's summed histograms."""
    s = stats.compare(baseline.counts, current, baseline.mask, baseline.centres)
    verdicts = _verdicts(s, th, len(baseline.names))
    cols = {k: s[k].round(6).tolist() for k in ("psi", "js", "ks", "ks_p", "wasserstein")}
    n, chi = s["n"].astype(np.int64).tolist(), s["chi2_p"].tolist()
    return [{"name": name, "n": n[i], "psi": cols["psi"][i], "js": cols["js"][i], "ks": cols["ks"][i],
             "ks_p": cols["ks_p"][i], "wasserstein": cols["wasserstein"][i], "chi2_p": chi[i], "verdict": verdicts[i]}
            for i, name in enumerate(baseline.names)]


def compare_predictions(reference: dict[str, int], current: dict[str, int], th: Thresholds) -> dict[str, Any]:
    """Prediction drift: the class mix now against the reference period's mix."""
    classes = sorted(set(reference) | set(current))
    n_ref = sum(reference.values())
    if not classes or n_ref < th.min_count:  # a handful of earlier predictions is no reference (chi² on sparse counts lies)
        why = (f"only {n_ref} predictions of these builds before the window (needs {th.min_count})" if n_ref
               else "no predictions of these builds before the window to compare with")
        return {"name": "prediction", "n": sum(current.values()), "psi": None, "js": None, "verdict": "insufficient",
                "reason": why, "reference": reference, "current": current}
    b = np.array([[reference.get(c, 0) for c in classes]], dtype=np.float64)
    c = np.array([[current.get(k, 0) for k in classes]], dtype=np.float64)
    mask = np.ones_like(b, dtype=bool)
    centres = np.arange(len(classes), dtype=np.float64)[None, :]
    s = stats.compare(b, c, mask, centres)
    verdict = _verdicts(s, Thresholds(method="psi" if th.method in ("wasserstein", "ks") else th.method,
                                      warn=th.warn if th.method == "psi" else 0.1,
                                      alert=th.alert if th.method == "psi" else 0.2,
                                      alpha=th.alpha, min_count=th.min_count), 1)[0]
    return {"name": "prediction", "n": int(s["n"][0]), "psi": round(float(s["psi"][0]), 6), "js": round(float(s["js"][0]), 6),
            "verdict": verdict, "reference": reference, "current": current}


def _sum_predictions(windows: list[tel.StoredWindow]) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in windows:
        for k, v in w.predictions.items():
            out[k] = out.get(k, 0) + v
    return out


@dataclass
class DriftReport:
    target: str
    builds: list[str]
    window_start: float
    window_end: float
    thresholds: dict[str, Any]
    cohort: ScopeResult
    devices: list[ScopeResult] = field(default_factory=list)
    check_id: int | None = None

    @property
    def drift(self) -> bool:
        return self.cohort.drift or any(d.drift for d in self.devices)

    def to_dict(self) -> dict[str, Any]:
        by_feature: dict[str, list[str]] = {}
        worst: dict[str, str] = {}
        for d in self.devices:
            for f in d.features:
                if f["verdict"] == "drift":
                    by_feature.setdefault(f["name"], []).append(d.scope_id)
                if VERDICT_ORDER[f["verdict"]] > VERDICT_ORDER[worst.get(f["name"], "insufficient")]:
                    worst[f["name"]] = f["verdict"]
        features = []
        for f in self.cohort.features:
            v = max(f["verdict"], worst.get(f["name"], "insufficient"), key=VERDICT_ORDER.__getitem__)
            features.append({**f, "verdict": v, "cohort_verdict": f["verdict"],
                             "devices_drifted": by_feature.get(f["name"], [])})
        return {
            "drift": self.drift, "check": self.check_id, "target": self.target, "builds": self.builds,
            "window": {"start": self.window_start, "end": self.window_end}, "thresholds": self.thresholds,
            "cohort": self.cohort.scope_id, "features": features, "prediction": self.cohort.prediction,
            "devices": [{"device": d.scope_id, "drift": d.drift, "windows": d.windows, "inferences": d.inferences,
                         "drifted_features": d.drifted(), "max_psi": max((f["psi"] for f in d.features), default=None),
                         "prediction": d.prediction and {k: d.prediction[k] for k in ("psi", "js", "verdict")}}
                        for d in self.devices],
            "drifted_devices": [d.scope_id for d in self.devices if d.drift],
        }


def evaluate(baseline: Baseline, windows: list[tel.StoredWindow], reference: list[tel.StoredWindow], *,
             thresholds: Thresholds, cohort: str = "all", target: str = "", builds: list[str] | None = None,
             window_start: float = 0.0, window_end: float = 0.0, per_device: bool = True) -> DriftReport:
    """Pure drift evaluation over already-loaded windows (no registry writes)."""
    by_dev: dict[str, list[tel.StoredWindow]] = {}
    for w in windows:
        by_dev.setdefault(w.device, []).append(w)
    ref_by_dev: dict[str, dict[str, int]] = {}
    for w in reference:
        d = ref_by_dev.setdefault(w.device, {})
        for k, v in w.predictions.items():
            d[k] = d.get(k, 0) + v
    ref_all = _sum_predictions(reference)

    def scope(kind: str, sid: str, ws_: list[tel.StoredWindow], ref_pred: dict[str, int]) -> ScopeResult:
        cur = baseline.current_matrix(ws_)
        feats = compare_scope(baseline, cur, thresholds)
        pred = compare_predictions(ref_pred, _sum_predictions(ws_), thresholds)
        drift = any(f["verdict"] == "drift" for f in feats) or pred["verdict"] == "drift"
        return ScopeResult(kind, sid, len(ws_), sum(w.count for w in ws_), drift, feats, pred)

    devices = [scope("device", d, ws_, ref_by_dev.get(d, {})) for d, ws_ in sorted(by_dev.items())] if per_device else []
    return DriftReport(target, builds or sorted({w.build for w in windows}), window_start, window_end,
                       asdict(thresholds), scope("cohort", cohort, windows, ref_all), devices)


def store(ws: Workspace, report: DriftReport) -> int:
    """Record a report: every cohort feature, and per device its worst PSI plus non-ok features."""
    rows: list[dict[str, Any]] = []
    for sr in [report.cohort, *report.devices]:
        keep = sr.features if sr.scope == "cohort" else [f for f in sr.features if f["verdict"] in ("warn", "drift")]
        for f in keep:
            rows.append({"scope": sr.scope, "scope_id": sr.scope_id, "kind": "feature", "feature": f["name"], "n": f["n"],
                         "psi": f["psi"], "js": f["js"], "ks": f["ks"], "ks_p": f["ks_p"], "wasserstein": f["wasserstein"],
                         "verdict": f["verdict"]})
        if sr.scope == "device" and sr.features:
            top = max(sr.features, key=lambda f: f["psi"])
            rows.append({"scope": "device", "scope_id": sr.scope_id, "kind": "max", "feature": top["name"], "n": top["n"],
                         "psi": top["psi"], "js": top["js"], "ks": top["ks"], "ks_p": top["ks_p"],
                         "wasserstein": top["wasserstein"], "verdict": "drift" if sr.drift else "ok"})
        if sr.prediction and sr.prediction.get("psi") is not None:
            p = sr.prediction
            rows.append({"scope": sr.scope, "scope_id": sr.scope_id, "kind": "prediction", "feature": "prediction",
                         "n": p["n"], "psi": p["psi"], "js": p["js"], "verdict": p["verdict"]})
    d = report.to_dict()
    summary = {"drifted_devices": d["drifted_devices"], "cohort": report.cohort.scope_id,
               "drifted_features": [f["name"] for f in d["features"] if f["verdict"] == "drift"]}
    report.check_id = tel.save_drift_check(ws, target=report.target, builds=report.builds, params=report.thresholds,
                                           drift=report.drift, window_start=report.window_start,
                                           window_end=report.window_end, summary=summary, results=rows)
    return report.check_id


def describe(verdict: str, value: float | None, th: Thresholds | dict[str, Any]) -> str:
    """A verdict in words that match the thresholds behind it."""
    t = th if isinstance(th, dict) else asdict(th)
    method, warn, alert = t["method"], t["warn"], t["alert"]
    if verdict == "insufficient" or value is None:
        return f"not enough data (n < {t['min_count']})"
    if verdict == "drift":
        return f"drift: {method} {value:.3f} >= alert {alert:g}"
    if verdict == "warn":
        why = "not significant" if value >= alert else f"below alert {alert:g}"
        return f"warn: {method} {value:.3f} >= warn {warn:g} ({why})"
    return f"ok: {method} {value:.3f} < warn {warn:g}"


def describe_prediction(p: dict[str, Any], th: Thresholds | dict[str, Any]) -> str:
    """The prediction-mix verdict in words: why it was not compared, or its PSI against the thresholds."""
    if p.get("reason"):
        return f"not compared: {p['reason']}"
    t = th if isinstance(th, dict) else asdict(th)
    return describe(p.get("verdict", "insufficient"), p.get("psi"), {**t, "method": "psi"})


def timeline(baseline: Baseline, windows: list[tel.StoredWindow], th: Thresholds, start: float, end: float, *,
             buckets: int = 24, max_devices: int = 14) -> list[dict[str, Any]]:
    """Worst feature statistic per device (and the cohort) per time bucket, on the windows' own (data) time."""
    if not windows or end <= start:
        return []
    step = (end - start) / buckets
    groups: dict[tuple[str, int], list[tel.StoredWindow]] = {}
    devices = sorted({w.device for w in windows})[:max_devices]
    keep = set(devices)
    for w in windows:
        b = min(int((w.end - start) / step), buckets - 1)
        if b < 0:
            continue
        groups.setdefault(("cohort", b), []).append(w)
        if w.device in keep:
            groups.setdefault((w.device, b), []).append(w)
    out = []
    for (scope_id, b), ws_ in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        feats = [f for f in compare_scope(baseline, baseline.current_matrix(ws_), th) if f["verdict"] != "insufficient"]
        if feats:
            out.append({"t": start + (b + 1) * step, "scope_id": scope_id,
                        "max_psi": max(f[th.method] for f in feats), "windows": len(ws_)})
    return out


def now() -> float:
    return time.time()
