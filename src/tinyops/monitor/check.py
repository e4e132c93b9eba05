"""`drift check` against the registry: resolve the target, load windows, evaluate, store, alert.

A target is a build id (or unique prefix) or a model reference
(``digits@3``, ``digits@production:int8``): then every build of that model
version (and variant, if given) counts, e.g. the Pi build and the MCU build.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tinyops.errors import FleetError, InputError, NotFoundError
from tinyops.registry import builds as builds_reg
from tinyops.registry import devices as devices_reg
from tinyops.registry import telemetry as tel
from tinyops.monitor.drift import Baseline, DriftReport, Thresholds, evaluate, store

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

ALERT_TOPIC = "tinyops/alerts/drift"  # fleet-wide drift alerts (host ACL covers tinyops/#)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    m = _DURATION.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"'{text}' is not a duration", hint="write e.g. 90s, 15m, 1h, 2d")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class Target:
    label: str
    builds: list[str]
    manifests: dict[str, dict[str, Any]]


def manifest_of(ws: Workspace, build_id: str) -> dict[str, Any]:
    b = builds_reg.get(ws, build_id)
    return json.loads(builds_reg.file_bytes(ws, b, "manifest.json"))


def resolve_target(ws: Workspace, text: str) -> Target:
    """A build id or model reference, as the builds it names and their manifests."""
    found = builds_reg.resolve(ws, text)
    label = found[0].id if len(found) == 1 and found[0].id.startswith(text.strip().lower()) else text.strip()
    return Target(label, [b.id for b in found], {b.id: manifest_of(ws, b.id) for b in found})


def _scope_devices(ws: Workspace, group: str | None, device: str | None) -> tuple[list[str] | None, str]:
    if device:
        return [device], device
    if group:
        ids = [d.id for d in devices_reg.list_devices(ws, group)]
        if not ids:
            raise NotFoundError(f"no devices in group {group!r}", hint="see `tinyops device list`")
        return ids, group
    return None, "all"


def check(ws: Workspace, target: str, *, group: str | None = None, device: str | None = None, window: str = "1h",
          thresholds: Thresholds | None = None, now: float | None = None, save: bool = True) -> DriftReport:
    """Drift of the target's field telemetry in the last ``window`` against its baseline."""
    th = thresholds or Thresholds()
    t = resolve_target(ws, target)
    # Builds of one model version share a baseline; compare each window with
    # the baseline its own build carries, grouped by identical baselines.
    groups: dict[str, list[str]] = {}
    for b, m in t.manifests.items():
        groups.setdefault(json.dumps((m.get("baseline") or {}).get("features", []), sort_keys=True), []).append(b)
    key, builds = max(groups.items(), key=lambda kv: len(kv[1]))
    baseline = Baseline.from_features(json.loads(key))
    if not baseline.names:
        raise InputError(f"the builds of {t.label} carry no baseline histograms", hint="rebuild with `tinyops build`")
    end = now if now is not None else time.time()
    start = end - parse_duration(window)
    devices, cohort = _scope_devices(ws, group, device)
    current = tel.load_windows(ws, builds=builds, devices=devices, since=start, until=end)
    reference = tel.load_windows(ws, builds=builds, devices=devices, until=start)
    report = evaluate(baseline, current, reference, thresholds=th, cohort=cohort, target=t.label, builds=builds,
                      window_start=start, window_end=end)
    if save:
        store(ws, report)
    return report


def publish_alerts(address: Any, report: DriftReport) -> int:
    """Publish a drift alert per drifted device and one fleet alert. Returns messages sent."""
    from tinyops.fleet import topics
    from tinyops.fleet.mqtt import MqttConnection

    d = report.to_dict()
    if not d["drift"]:
        return 0
    sent = 0
    try:
        with MqttConnection(address).connect() as conn:
            for dev in d["devices"]:
                if dev["drift"]:
                    conn.publish(topics.events(dev["device"]), json.dumps({
                        "type": "drift", "check": d["check"], "target": d["target"], "features": dev["drifted_features"],
                        "max_psi": dev["max_psi"], "time": time.time()}))
                    sent += 1
            conn.publish(ALERT_TOPIC, json.dumps({
                "type": "drift", "check": d["check"], "target": d["target"], "builds": d["builds"],
                "devices": d["drifted_devices"], "features": [f["name"] for f in d["features"] if f["verdict"] == "drift"],
                "time": time.time()}))
            sent += 1
    except FleetError:
        raise
    return sent
