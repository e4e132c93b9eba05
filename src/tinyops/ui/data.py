"""The JSON behind each dashboard page, read through the registry and monitor functions."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from tinyops import timestamps
from tinyops.agent_config import AgentConfig
from tinyops.errors import TinyOpsError
from tinyops.registry import builds as builds_reg
from tinyops.registry import devices as devices_reg
from tinyops.registry import fleet as fleet_reg
from tinyops.registry import models as models_reg
from tinyops.registry import runs as runs_reg
from tinyops.registry import telemetry as tel
from tinyops.registry import telemetry_series as series
from tinyops.registry import variants as variants_reg

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def _drift_flags(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Each device's verdict in the newest stored check that covered it."""
    out: dict[str, dict[str, Any]] = {}
    for h in tel.drift_history(ws, scope="device", kind="max"):  # one row per device per check
        out[h["scope_id"]] = {"drift": bool(h["drifted_features"]), "max_psi": h["max_psi"], "check": h["check"]}
    return out


# "online" with nothing heard for three agent heartbeats is shown as "stale": the last word was
# online, but the host has not heard it since.
STALE_AFTER_S = 3 * AgentConfig.heartbeat_s


def shown_status(status: str | None, last_seen: str | None, now: float) -> str:
    """The status the dashboard shows: the stored one, or ``stale`` for a silent ``online``."""
    if status == "online" and last_seen:
        try:
            if now - timestamps.parse(last_seen).timestamp() > STALE_AFTER_S:
                return "stale"
        except ValueError:
            return "unknown"
    return status or "unknown"


def devices(ws: Workspace) -> dict[str, Any]:
    now = time.time()
    lat = series.per_device_latest(ws)
    flags = _drift_flags(ws)
    rows, groups = [], {}
    for d in devices_reg.summaries(ws):
        flag = flags.get(d["id"], {})
        status = shown_status(d["status"], d["last_seen"], now)
        rows.append({"device": d["id"], "profile": d["profile"], "groups": d["groups"], "status": status,
                     "build": d["build"], "slot": d["slot"], "state": d["state"],
                     "firmware": d["firmware"] or d["agent_version"], "runtime": d["runtime"],
                     "health": d["health"], "last_seen": d["last_seen"], "gateway": d["gateway"],
                     "drift": flag.get("drift"), "max_psi": flag.get("max_psi"),
                     "latency_p95_ms": (lat.get(d["id"]) or {}).get("latency_p95_ms")})
        for g in d["groups"]:
            s = groups.setdefault(g, {"group": g, "devices": 0, "online": 0, "offline": 0, "builds": {}})
            s["devices"] += 1
            s["online" if status == "online" else "offline"] += 1
            s["builds"][d["build"] or "-"] = s["builds"].get(d["build"] or "-", 0) + 1
    return {"devices": rows, "groups": sorted(groups.values(), key=lambda g: g["group"]),
            "builds": [b.id for b in builds_reg.list_builds(ws)]}


def device(ws: Workspace, device_id: str) -> dict[str, Any]:
    d = devices_reg.get(ws, device_id)
    history = []
    for r in fleet_reg.list_rollouts(ws):
        for rd in r.devices:
            if rd.device == d.id:
                history.append({"rollout": r.id, "build": r.build, "rollout_state": r.state, **rd.to_dict()})
    return {"device": d.to_dict(), "updates": history[::-1],
            "telemetry": series.timeline(ws, buckets=40, devices=[d.id]),
            "summary": tel.device_summary(ws, [d.id])}


def _rollout(r: fleet_reg.Rollout) -> dict[str, Any]:
    nb = 1 + max((x.batch for x in r.devices), default=0)
    batches = []
    for b in range(nb):
        c = {s: 0 for s in fleet_reg.DEVICE_STATES}
        for x in r.devices:
            if x.batch == b:
                c[x.state] += 1
        # "downloading": desired set, no verdict yet
        batches.append({"batch": b, "label": "canary" if b == 0 else f"batch {b}", "desired": c["desired"],
                        "downloading": c["desired"], "pending": c["pending"], "updated": c["updated"],
                        "failed": c["failed"], "reverting": c["reverting"], "reverted": c["reverted"],
                        "devices": sum(c.values())})
    canary = batches[0] if batches else None
    verdict = None
    if canary:
        if canary["failed"]:
            verdict = "failed"
        elif canary["updated"] + canary["reverted"] + canary["reverting"] == canary["devices"]:
            verdict = "passed"
        else:
            verdict = "waiting"
    return {"rollout": r.id, "build": r.build, "group": r.group, "state": r.state, "stage": r.stage,
            "strategy": r.strategy, "created": r.created, "updated": r.updated, "message": r.message,
            "counts": r.counts(), "batches": batches, "canary_verdict": verdict,
            "failures": [{"device": x.device, "batch": x.batch, "state": x.state, "reason": x.reason}
                         for x in r.devices if x.reason or x.state == "failed"]}


def rollouts(ws: Workspace) -> dict[str, Any]:
    rs = fleet_reg.list_rollouts(ws)
    groups = sorted({g for d in devices_reg.list_devices(ws) for g in d.groups})
    return {"rollouts": [_rollout(r) for r in rs[::-1][:50]], "groups": groups,
            "builds": [{"build": b.id, "ref": b.ref, "profile": b.profile} for b in builds_reg.list_builds(ws)]}


def _int8_cost(v: variants_reg.Variant) -> dict[str, Any] | None:
    ev = v.evaluations or {}
    for key in sorted(ev):
        e = ev[key]
        if isinstance(e, dict) and "accuracy_delta" in e:
            return {"evaluation": key, "accuracy": e.get("accuracy"), "accuracy_delta_points": e["accuracy_delta"]}
    return None


def models(ws: Workspace) -> dict[str, Any]:
    out, nodes, edges = [], {}, []

    def node(nid: str, kind: str, label: str) -> str:
        nodes.setdefault(nid, {"id": nid, "kind": kind, "label": label})
        return nid

    all_builds = builds_reg.list_builds(ws)
    for m in models_reg.list_models(ws):
        versions = []
        for mv in models_reg.list_versions(ws, m["name"]):
            vs = variants_reg.list_variants(ws, mv.ref)
            mid = node(f"model:{mv.ref}", "model", mv.ref)
            if mv.run_id:
                rid = node(f"run:{mv.run_id}", "run", f"run {mv.run_id[:8]}")
                edges.append([rid, mid])
                try:
                    run = runs_reg.get(ws, mv.run_id)
                    for dref in run.datasets:
                        edges.append([node(f"data:{dref}", "dataset", dref), rid])
                    for fref in run.features:
                        edges.append([node(f"feature:{fref}", "feature", fref), rid])
                except TinyOpsError:
                    pass
            for v in vs:
                vid = node(f"variant:{v.ref}", "variant", v.ref)
                edges.append([mid, vid])
            for b in all_builds:
                if b.model == mv.ref:
                    bid = node(f"build:{b.id}", "build", f"{b.id[:8]} {b.profile}")
                    edges.append([nodes.get(f"variant:{b.ref}", {}).get("id") or mid, bid])
            versions.append({"ref": mv.ref, "version": mv.version, "aliases": mv.aliases, "metrics": mv.metrics,
                             "created": mv.created, "run": mv.run_id, "parent": mv.parent,
                             "variants": [{"ref": v.ref, "quant": v.quant, "size_bytes": v.size_bytes,
                                           "arena_bytes": v.arena_bytes, "int8_cost": _int8_cost(v)} for v in vs]})
        out.append({"name": m["name"], "aliases": m["aliases"], "versions": versions})
    return {"models": out, "lineage": {"nodes": list(nodes.values()), "edges": edges}}


def fit(ws: Workspace, variant_ref: str) -> list[dict[str, Any]]:
    """Fit report of one variant on every profile (slow: measures arenas; cached by the caller)."""
    from tinyops.devices import fit as fit_mod
    from tinyops.devices import profiles

    v = variants_reg.get(ws, variant_ref)  # a clear NotFoundError (404) for an unknown variant
    out = []
    for p in profiles.names(ws.root):
        try:
            r = fit_mod.check(ws, v, p)
            out.append({"profile": p, "fits": r.fits, "flash_needed": r.flash_needed_bytes,
                        "flash_available": r.flash_available_bytes, "ram_needed": r.ram_needed_bytes,
                        "ram_available": r.ram_available_bytes, "latency_ms": r.latency_estimate_ms,
                        "problems": r.problems})
        except TinyOpsError as e:
            out.append({"profile": p, "fits": False, "problems": [str(e)]})
    return out


def telemetry(ws: Workspace, device: str | None = None, buckets: int = 60) -> dict[str, Any]:
    return {"timeline": series.timeline(ws, buckets=buckets, devices=[device] if device else None),
            "totals": {"windows": tel.count_windows(ws), "rejects": tel.count_rejects(ws)},
            "rejects": tel.list_rejects(ws, 20), "device": device}


def drift(ws: Workspace, target: str | None = None, window: str = "1h") -> dict[str, Any]:
    """Stored checks over data time, and (for a target) a live comparison with baseline histograms."""
    from tinyops.monitor import check as check_mod
    from tinyops.monitor.drift import Baseline

    seen = tel.builds_seen(ws)
    targets = sorted({b for b in seen if builds_reg.find(ws, b)})
    target = target or (targets[0] if targets else None)
    chosen = builds_reg.find(ws, target) if target else None  # the chart shows checks of the chosen build's model only
    history = tel.drift_history(ws, scope="device", kind="max", model=chosen.model_name if chosen else None)
    out: dict[str, Any] = {"targets": targets, "target": target, "history": history,
                           "features_over_time": series.drift_by_feature(ws), "current": None, "histograms": []}
    if not target:
        return out
    end = max((s["last_window_end"] or 0) for s in tel.device_summary(ws)) or time.time()
    rep = check_mod.check(ws, target, window=window, now=end + 1, save=False)
    out["current"] = rep.to_dict()
    t = check_mod.resolve_target(ws, target)
    base = Baseline.from_manifest(next(iter(t.manifests.values())))
    cur = base.current_matrix(tel.load_windows(ws, builds=t.builds, since=rep.window_start, until=rep.window_end))
    feats = (next(iter(t.manifests.values())).get("baseline") or {}).get("features", [])
    for i, f in enumerate(feats):
        n = base.nbins[i]
        out["histograms"].append({"feature": f["name"], "edges": f["bin_edges"], "baseline": base.counts[i, :n].tolist(),
                                  "current": cur[i, :n].tolist()})
    out["thresholds"] = rep.thresholds
    return out


def fingerprint(ws: Workspace) -> dict[str, Any]:
    """A cheap summary that changes when a page's data does (polled for live updates)."""
    q = ws.db.execute
    return {
        "fleet": q("SELECT COUNT(*), MAX(last_seen), GROUP_CONCAT(status), SUM(LENGTH(reported)) FROM devices").fetchone(),
        "rollouts": q("SELECT COUNT(*), MAX(updated), (SELECT GROUP_CONCAT(state) FROM rollout_devices) FROM rollouts").fetchone(),
        "telemetry": [tel.count_windows(ws), tel.count_rejects(ws)],
        "drift": q("SELECT MAX(id) FROM drift_checks").fetchone(),
        "models": q("SELECT (SELECT COUNT(*) FROM model_versions), (SELECT GROUP_CONCAT(alias || version) FROM model_aliases)").fetchone(),
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
