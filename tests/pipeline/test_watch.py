"""`monitor watch`: a drift check fires the pipeline; no drift, no pipeline."""

from __future__ import annotations

import json
import time

import pytest
from fixtures_telemetry import baseline_manifest, register_manifest_build
from test_drift import seed_windows

from tinyops.errors import InputError
from tinyops.pipeline.watch import watch

FAILING_FAST = '[pipeline]\nname = "w"\n[steps.data]\nref = "no-such-data@1"\n'


def test_watch_runs_the_pipeline_only_on_drift(ws, tiny, tmp_path):
    m = baseline_manifest()
    build = register_manifest_build(ws, m)
    seed_windows(ws, m, time.time())
    p = tmp_path / "p.toml"
    p.write_text(FAILING_FAST)
    res = watch(ws, build, p, window="1h", once=True)
    assert res.checks == 1 and res.pipelines == 1
    ev = res.events[0]
    assert ev.drift and ev.drifted_devices == ["d2"]
    assert ev.pipeline["status"] == "failed" and "no-such-data" in ev.pipeline["report"][0]
    calm = watch(ws, build, p, window="1m", once=True)  # nothing in the last minute: no drift, no run
    assert calm.pipelines == 0 and calm.events[0].drift is False
    out = json.loads(tiny("monitor", "watch", build, "--on-drift", str(p), "--window", "1h", "--once", "--json").stdout)
    assert out["pipelines"] == 1


def test_watch_refuses_a_broken_pipeline_before_watching(ws, tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[steps.x]\nkind = "teleport"\n')
    with pytest.raises(InputError, match="unknown kind"):
        watch(ws, "feedc0de00000001", p, once=True)
