"""`drift report --html`: one self-contained page with inline SVG plots.

No scripts, fonts or images from anywhere: the file opens offline and can be
attached to a ticket. Plots: baseline vs current histograms per feature
(drifted and highest-PSI first), drift over time per device (worst statistic per
time bucket of the windows' own end times), and the prediction mix (reference vs now, and per device).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops import atomic
from tinyops.errors import InputError
from tinyops.safe_text import for_html
from tinyops.registry import telemetry as tel
from tinyops.monitor.check import check, parse_duration
from tinyops.monitor.drift import Thresholds, describe, describe_prediction, timeline

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

MAX_FEATURE_PLOTS = 24
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#eeca3b"]
VERDICT_COLOUR = {"drift": "#d62728", "warn": "#ff9900", "ok": "#2ca02c", "insufficient": "#999999"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px} .badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f6f6} td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:10px} .card{border:1px solid #e3e3e3;border-radius:6px;padding:6px}
.card h3{font-size:12px;margin:0 0 2px 0} svg text{font-size:10px;fill:#444}
"""


def _esc(v: Any) -> str:
    return for_html(v)


def _ts(v: float | None) -> str:
    return "-" if v is None else dt.datetime.fromtimestamp(v, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _edge(v: float) -> str:
    return f"{v:.3g}"


def histogram_svg(name: str, base: np.ndarray, cur: np.ndarray, verdict: str, value: float, edges: list[float] | None = None,
                  method: str = "psi", w: int = 260, h: int = 142) -> str:
    """Side-by-side bars of baseline and current proportions on the baseline bins, bin edges on the x axis."""
    b = base / max(base.sum(), 1)
    c = cur / max(cur.sum(), 1)
    k = len(b)
    edges = list(edges or [])
    top = max(float(b.max(initial=0)), float(c.max(initial=0)), 1e-9)
    pad_l, pad_b, pad_t = 28, 28, 6
    pw, ph = w - pad_l - 4, h - pad_b - pad_t
    bw = pw / max(k, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{_esc(name)}">',
             f'<line x1="{pad_l}" y1="{pad_t + ph}" x2="{w - 4}" y2="{pad_t + ph}" stroke="#999"/>',
             f'<text x="2" y="{pad_t + 8}">{top:.0%}</text><text x="2" y="{pad_t + ph}">0</text>']
    for i in range(k):
        x = pad_l + i * bw
        rng = f"[{_edge(edges[i])}, {_edge(edges[i + 1])}{']' if i == k - 1 else ')'}" if len(edges) == k + 1 else f"bin {i}"
        for j, (v, colour) in enumerate(((b[i], "#9ecae1"), (c[i], VERDICT_COLOUR.get(verdict, "#4c78a8")))):
            bh = ph * float(v) / top
            parts.append(f'<rect x="{x + 1 + j * (bw - 2) / 2:.1f}" y="{pad_t + ph - bh:.1f}" width="{max((bw - 2) / 2, 0.5):.1f}" '
                         f'height="{bh:.1f}" fill="{colour}"><title>{_esc(rng)}: {"baseline" if j == 0 else "current"} {v:.1%}</title></rect>')
    if len(edges) == k + 1:  # label the edges, as many as fit
        every = max(1, -(-(k + 1) * 26 // pw))
        for i in range(0, k + 1, every):
            parts.append(f'<text x="{pad_l + i * bw:.1f}" y="{pad_t + ph + 10}" text-anchor="middle" font-size="8">{_esc(_edge(edges[i]))}</text>')
    parts.append(f'<text x="{pad_l}" y="{h - 3}">light: baseline · dark: now · {_esc(method)} {value:.3f}</text></svg>')
    return "".join(parts)


def timeline_svg(history: list[dict[str, Any]], th: Thresholds, w: int = 760, h: int = 240) -> str:
    """Worst feature statistic per device per time bucket (data time: when the windows ended), warn/alert lines."""
    if not history:
        return f"<p>Not enough data in the period for any point (n &lt; {th.min_count} per feature).</p>"
    xs = sorted({r["t"] for r in history})
    x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1
    ymax = max(max((r["max_psi"] or 0) for r in history), th.alert * 1.5)
    pad_l, pad_b, pad_t, pad_r = 40, 30, 10, 150
    pw, ph = w - pad_l - pad_r, h - pad_b - pad_t

    def px(t: float) -> float:
        return pad_l + pw * (t - x0) / (x1 - x0) if len(xs) > 1 else pad_l + pw / 2

    def py(v: float) -> float:
        return pad_t + ph - ph * min(v, ymax) / ymax

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="drift over time">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ddd"/>']
    for val, colour, label in ((th.warn, "#ff9900", "warn"), (th.alert, "#d62728", "alert")):
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{py(val):.1f}" y2="{py(val):.1f}" stroke="{colour}" stroke-dasharray="4 3"/>'
                     f'<text x="{pad_l + pw + 3}" y="{py(val) + 3:.1f}">{label} {val}</text>')
    parts.append(f'<text x="4" y="{pad_t + 8}">{ymax:.2f}</text><text x="4" y="{pad_t + ph}">0</text>'
                 f'<text x="{pad_l}" y="{h - 8}">{_ts(x0)}</text><text x="{pad_l + pw - 150}" y="{h - 8}">{_ts(x1)}</text>'
                 f'<text x="{pad_l + 4}" y="{pad_t + 12}">worst {_esc(th.method)} per device, by window end time</text>')
    devices = sorted({r["scope_id"] for r in history})
    for i, dev in enumerate(devices):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(px(r["t"]), py(r["max_psi"] or 0)) for r in history if r["scope_id"] == dev]
        if len(pts) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in pts]
        if i < 14:
            parts.append(f'<rect x="{w - pad_r + 60}" y="{pad_t + i * 14}" width="10" height="10" fill="{colour}"/>'
                         f'<text x="{w - pad_r + 74}" y="{pad_t + i * 14 + 9}">{_esc(dev)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def mix_svg(rows: list[tuple[str, dict[str, int]]], w: int = 760) -> str:
    """One 100%-stacked bar per row (reference, current, each device)."""
    classes = sorted({k for _, m in rows for k in m}, key=lambda s: (len(s), s))
    bar_h, gap, pad_l = 18, 6, 120
    h = len(rows) * (bar_h + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="prediction mix">']
    for r, (label, mix) in enumerate(rows):
        total = max(sum(mix.values()), 1)
        x, y = pad_l, r * (bar_h + gap)
        parts.append(f'<text x="2" y="{y + 13}">{_esc(label)}</text>')
        for i, c in enumerate(classes):
            share = mix.get(c, 0) / total
            width = (w - pad_l - 10) * share
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}">'
                         f'<title>{_esc(label)} · class {_esc(c)}: {share:.1%} ({mix.get(c, 0)})</title></rect>')
            x += width
    x = pad_l
    for i, c in enumerate(classes[:20]):
        parts.append(f'<rect x="{x}" y="{h - 20}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{x + 13}" y="{h - 11}">{_esc(c)}</text>')
        x += 22 + 7 * len(str(c))
    parts.append("</svg>")
    return "".join(parts)


def render(report: Any, windows: list[tel.StoredWindow], history: list[dict[str, Any]], th: Thresholds,
           baseline: Any) -> str:
    d = report.to_dict()
    cur = baseline.current_matrix(windows)
    verdict = "DRIFT" if d["drift"] else "no drift"
    feats = sorted(d["features"], key=lambda f: (f["verdict"] != "drift", -f["psi"]))
    cards = []
    index = {n: i for i, n in enumerate(baseline.names)}
    for f in feats[:MAX_FEATURE_PLOTS]:
        i = index[f["name"]]
        nb = baseline.nbins[i]
        cv = f["cohort_verdict"]
        cards.append(f'<div class="card"><h3>{_esc(f["name"])} · <span style="color:{VERDICT_COLOUR[cv]}">'
                     f'{_esc(describe(cv, f[th.method], th))}</span></h3>'
                     + (f'<div class="meta">drift on devices {_esc(", ".join(f["devices_drifted"]))}</div>' if f["devices_drifted"] else "")
                     + histogram_svg(f["name"], baseline.counts[i, :nb], cur[i, :nb], cv, f[th.method],
                                     baseline.edges[i] if baseline.edges else None, th.method) + "</div>")
    trows = "".join(
        f'<tr><td>{_esc(f["name"])}</td><td>{f["n"]}</td><td>{f["psi"]:.4f}</td><td>{f["js"]:.4f}</td>'
        f'<td>{f["wasserstein"]:.4f}</td><td>{f["ks"]:.4f}</td><td>{f["ks_p"]:.3g}</td>'
        f'<td style="color:{VERDICT_COLOUR[f["cohort_verdict"]]};font-weight:600">{_esc(describe(f["cohort_verdict"], f[th.method], th))}</td>'
        f'<td>{_esc(", ".join(f["devices_drifted"]))}</td></tr>' for f in feats)
    drows = "".join(
        f'<tr><td>{_esc(x["device"])}</td><td>{x["windows"]}</td><td>{x["inferences"]}</td>'
        f'<td>{(x["max_psi"] or 0):.4f}</td><td style="color:{VERDICT_COLOUR["drift" if x["drift"] else "ok"]}">'
        f'{"drift" if x["drift"] else "ok"}</td><td>{_esc(", ".join(x["drifted_features"][:12]))}</td></tr>' for x in d["devices"])
    pred = d["prediction"] or {}
    mix_rows = [("reference", pred.get("reference") or {}), ("current (cohort)", pred.get("current") or {})]
    per_dev: dict[str, dict[str, int]] = {}
    for w in windows:
        m = per_dev.setdefault(w.device, {})
        for k, v in w.predictions.items():
            m[k] = m.get(k, 0) + v
    mix_rows += sorted(per_dev.items())
    colour = VERDICT_COLOUR["drift" if d["drift"] else "ok"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tinyops drift report · {_esc(d['target'])}</title>
<style>{CSS}</style></head><body>
<h1>Drift report · {_esc(d['target'])} <span class="badge" style="background:{colour}">{verdict}</span></h1>
<div class="meta">builds {_esc(', '.join(d['builds']))} · cohort {_esc(d['cohort'])} · window {_ts(d['window']['start'])} → {_ts(d['window']['end'])}
 · method {_esc(th.method)} (warn {th.warn}, alert {th.alert}, alpha {th.alpha}, min count {th.min_count}) · check {d['check']} · generated {_ts(time.time())}</div>
<h2>Devices</h2><table><tr><th>device</th><th>windows</th><th>inferences</th><th>worst PSI</th><th>verdict</th><th>drifted features</th></tr>{drows}</table>
<h2>Drift over time per device</h2>{timeline_svg(history, th)}
<h2>Prediction mix</h2><p class="meta">prediction drift (cohort): {_esc(describe_prediction(pred, th))}{f" · JS {pred['js']:.3f}" if pred.get('js') is not None else ""}</p>{mix_svg(mix_rows)}
<h2>Inputs: baseline vs current (drifted and highest PSI first, {min(len(feats), MAX_FEATURE_PLOTS)} of {len(feats)})</h2>
<div class="grid">{''.join(cards)}</div>
<h2>All features</h2><table><tr><th>feature</th><th>n</th><th>PSI</th><th>JS</th><th>Wasserstein (normed)</th><th>KS</th><th>KS p</th><th>cohort verdict</th><th>devices drifted</th></tr>{trows}</table>
</body></html>
"""


def write_report(ws: Workspace, target: str, path: str | Path, *, group: str | None = None, device: str | None = None,
                 window: str = "1h", thresholds: Thresholds | None = None, history: str = "7d") -> dict[str, Any]:
    """Run a drift check (stored like any other) and write the HTML page atomically."""
    th = thresholds or Thresholds()
    out = Path(path)
    if not out.parent.exists():
        raise InputError(f"folder {out.parent} does not exist", hint="create it or pick another --html path")
    report = check(ws, target, group=group, device=device, window=window, thresholds=th)
    from tinyops.monitor.check import _scope_devices
    from tinyops.monitor.drift import Baseline

    devices, _ = _scope_devices(ws, group, device)
    windows = tel.load_windows(ws, builds=report.builds, devices=devices, since=report.window_start, until=report.window_end)
    from tinyops.monitor.check import resolve_target

    manifests = resolve_target(ws, target).manifests
    baseline = Baseline.from_manifest(manifests[report.builds[0]])
    since = report.window_end - parse_duration(history)
    past = tel.load_windows(ws, builds=report.builds, devices=devices, since=since, until=report.window_end)
    hist = timeline(baseline, past, th, since, report.window_end)
    page = render(report, windows, hist, th, baseline)
    atomic.write_text(out, page)
    return {"path": str(out.resolve()), "bytes": len(page.encode()), "features": len(report.cohort.features),
            "drift": report.drift, "check": report.check_id}
