"""Chaos counts: what a chaos tester and an attacker throw at the fleet and the boards,
and what came out. Goal for every row: nothing lost, nothing wrong installed,
nothing let in.

Rows (defaults; --quick divides every count by 5):
  broker:    20 SIGKILLs of Mosquitto at random moments, 10 during `fleet publish`,
             10 during a rollout to 3 real agents (restarted after 0.2-1.5 s)
  agents:    30 SIGKILLs of a real agent at random moments of an update
  posix:     100 power cuts of the posix firmware during a flash
  qemu:      30 power cuts of the qemu-mps2-an386 board, half placed in the
             transfer and half in the activation (counted by where they landed)
  takeover:  50 connections with another device's client id
  desired:   50 replayed or forged desired messages
  telemetry: 50 self-contradicting telemetry windows

Usage: python benchmarks/chaos.py [--quick] [--only broker,agents,...]
Writes benchmarks/results/chaos.json (a run of some rows replaces only those rows).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))  # the tests' fixtures: real builds, boards, windows
from _common import write_result  # noqa: E402

ROWS = ("broker", "agents", "posix", "qemu", "takeover", "desired", "telemetry")


def fleet_rows(rows: set[str], scale: float, rng: random.Random, tmp: Path) -> dict[str, Any]:
    import _chaos_fleet as cf
    from fixtures_fleet import build_template, make_fleet

    template = build_template(tmp / "template")
    out: dict[str, Any] = {}
    for row, fn in (("broker", lambda f: cf.broker_kills(f, rng, round(10 * scale), round(10 * scale))),
                    ("agents", lambda f: cf.agent_kills(f, rng, round(30 * scale))),
                    ("takeover", lambda f: cf.takeovers(f, round(50 * scale))),
                    ("desired", lambda f: cf.forged_desired(f, round(50 * scale), tmp))):
        if row not in rows:
            continue
        t0 = time.monotonic()
        gen = make_fleet(template, tmp / f"fleet-{row}")
        fleet = next(gen)
        try:
            out[row] = fn(fleet)
        finally:
            gen.close()
        out[row]["seconds"] = round(time.monotonic() - t0, 1)
        print(row, json.dumps(out[row]), flush=True)
    return out


def board_rows(rows: set[str], scale: float, rng: random.Random, tmp: Path) -> dict[str, Any]:
    import _chaos_boards as cb
    from fixtures_boards import Boards, make_model_image

    from tinyops.devices import sim

    out: dict[str, Any] = {}
    models = {n: make_model_image(n) for n in ("digits_cnn", "imu_cnn", "ds_cnn_kws")}
    for row, board, fn in (("posix", "posix", lambda b: cb.posix_cuts(b, models, round(100 * scale), rng, tmp)),
                           ("qemu", "qemu-mps2-an386", lambda b: cb.qemu_cuts(b, models, round(30 * scale), rng, tmp))):
        if row not in rows:
            continue
        t0 = time.monotonic()
        boards = Boards({board: sim.build_firmware(board)}, tmp / f"boards-{row}")
        (tmp / f"boards-{row}").mkdir(exist_ok=True)
        try:
            out[row] = fn(boards)
        finally:
            boards.stop_all()
        out[row]["seconds"] = round(time.monotonic() - t0, 1)
        print(row, json.dumps(out[row]), flush=True)
    return out


def telemetry_row(scale: float, tmp: Path) -> dict[str, Any]:
    import numpy as np
    from fixtures_telemetry import baseline_manifest, register_manifest_build

    sys.path.insert(0, str(BENCH.parent / "tests" / "monitor"))
    from test_consistency import inconsistent  # the ten kinds of lying window, five each

    from tinyops.monitor.collector import Collector
    from tinyops.registry import telemetry as tel
    from tinyops.workspace import Workspace

    ws, _ = Workspace.init(tmp / "telemetry-ws")
    m = baseline_manifest()
    register_manifest_build(ws, m)
    bad = inconsistent(m, np.random.default_rng(1), time.time())[: round(50 * scale)]
    col = Collector(ws, None)
    col.process([(f"tinyops/devices/pi-2/telemetry", json.dumps(w).encode()) for _, w in bad])
    reasons: dict[str, int] = {}
    for r in tel.list_rejects(ws, 1000):
        key = r["reason"].split(":", 1)[-1].strip()[:50]
        reasons[key] = reasons.get(key, 0) + 1
    res = {"windows": len(bad), "rejected": col.stats.rejected, "stored": col.stats.stored, "reasons": reasons}
    ws.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a fifth of every count (a smoke run)")
    ap.add_argument("--only", default=",".join(ROWS))
    ap.add_argument("--seed", type=int, default=20261202)
    args = ap.parse_args()
    rows = set(args.only.split(","))
    scale = 0.2 if args.quick else 1.0
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="tinyops-chaos-"))
    os.chmod(tmp, 0o755)
    t0 = time.monotonic()
    try:
        res: dict[str, Any] = {}
        res.update(fleet_rows(rows, scale, rng, tmp))
        res.update(board_rows(rows, scale, rng, tmp))
        if "telemetry" in rows:
            res["telemetry"] = telemetry_row(scale, tmp)
            print("telemetry", json.dumps(res["telemetry"]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.quick:
        print(json.dumps(res, indent=2))
        return
    # A run of some rows replaces those rows of the last full result and keeps the others.
    path = BENCH / "results" / "chaos.json"
    old = json.loads(path.read_text()) if path.exists() and rows != set(ROWS) else {}
    runs = {**old.get("row_runs", {}), **{r: {"seed": args.seed, "seconds": round(time.monotonic() - t0, 1)}
                                          for r in res}}
    keep = {r: old[r] for r in ROWS if r in old and r not in res}
    write_result("chaos", {"row_runs": runs, **{r: {**keep, **res}[r] for r in ROWS if r in {**keep, **res}}})


if __name__ == "__main__":
    main()
