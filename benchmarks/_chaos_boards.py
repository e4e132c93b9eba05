"""Chaos against the microcontroller firmware: power cuts (SIGKILL of the emulated
board) during a flash, on the same flash file powered up again.

posix: cuts at random moments of a whole flash. QEMU (mps2-an386): the cuts are
placed on purpose, half during the transfer (after a random number of acknowledged
bytes) and half during activation (a random delay after ACTIVATE was sent, within
the time an activation takes); each cut is classified by where it really landed
(transfer, while ACTIVATE had no reply yet, or too late).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
from fixtures_boards import Boards, ModelImage  # tests/ is on sys.path (chaos.py)

from tinyops.devices.serial import flash, ops, transfer
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError


def _served(url: str, models: dict[str, ModelImage]) -> str:
    """sha256 of the model the board runs, after checking it computes correctly; '' if none/wrong."""
    by_sha = {m.sha256: m for m in models.values()}
    with Link(url) as link:
        link.drain()
        info = ops.info(link)
        m = by_sha.get(info.active_sha256 or "")
        if m is None:
            return ""
        out = ops.run(link, m.inputs[0].tobytes(), max_chunk=info.max_chunk).output
        return info.active_sha256 if np.array_equal(np.frombuffer(out, np.int8), m.outputs[0].reshape(-1)) else ""


def posix_cuts(boards: Boards, models: dict[str, ModelImage], cuts: int, rng: random.Random, tmp) -> dict[str, Any]:
    names = list(models)
    disk = tmp / "posix.flash"
    b = boards.start("posix", flash=disk)
    flash.flash_image(b.url, models[names[0]].image)
    t0 = time.monotonic()
    flash.flash_image(b.url, models[names[1]].image)
    full = time.monotonic() - t0
    active = models[names[1]].sha256
    out: Counter = Counter()
    for i in range(cuts):
        target = [models[n] for n in names if models[n].sha256 != active][i % 2]

        def run() -> None:
            try:
                flash.flash_image(b.url, target.image, reconnect_attempts=0)
            except DeviceError:
                pass

        w = threading.Thread(target=run)
        w.start()
        time.sleep(rng.uniform(0, 1.6 * full))
        boards.kill(b)
        w.join(30)
        b = boards.start("posix", flash=disk)
        now = _served(b.url, models)
        out["cuts"] += 1
        out["old_model_after_cut" if now == active else "new_model_after_cut" if now == target.sha256
            else "no_or_wrong_model_after_cut"] += 1
        r = flash.flash_image(b.url, target.image, target.inputs, target.outputs)
        out["resumed_a_partial_transfer"] += r.resumed_from > 0
        out["reflash_completed"] += bool(r.activated and r.self_test == "pass")
        active = target.sha256
    boards.kill(b)
    return {**dict(sorted(out.items())), "full_flash_seconds": round(full, 3)}


def qemu_cuts(boards: Boards, models: dict[str, ModelImage], cuts: int, rng: random.Random, tmp,
              board: str = "qemu-mps2-an386") -> dict[str, Any]:
    names = list(models)
    disk = tmp / f"{board}.flash"
    b = boards.start(board, flash=disk)
    flash.flash_image(b.url, models[names[0]].image)
    # Calibrate how long an ACTIVATE takes (verify the slot, load, commit): the shortest of
    # a few, so that a cut placed inside that time lands before the reply.
    times = []
    for n in (names[1], names[2], names[1]):
        with Link(b.url) as link:
            info = ops.info(link)
            res = transfer.send_image(link, models[n].image, info)
            t0 = time.monotonic()
            ops.activate(link, res.slot)
            times.append(time.monotonic() - t0)
    activate_s = min(times)
    active = models[names[1]].sha256
    out: Counter = Counter()
    for i in range(cuts):
        target = [models[n] for n in names if models[n].sha256 != active][i % 2]
        phase = "transfer" if i % 2 == 0 else "activation"
        state = {"activate_sent": False, "activate_replied": False, "transfer_done": False}
        cut_at = rng.uniform(0.05, 0.95) * len(target.image)
        killed = threading.Event()

        def progress(done: int, total: int) -> None:
            if phase == "transfer" and done >= cut_at and not killed.is_set():
                killed.set()
                boards.kill(b)

        def run() -> None:
            try:
                with Link(b.url) as link:
                    link.drain()
                    inf = ops.info(link)
                    r = transfer.send_image(link, target.image, inf, progress=progress)
                    state["transfer_done"] = True
                    if phase == "activation":
                        state["activate_sent"] = True
                        ops.activate(link, r.slot)
                        state["activate_replied"] = True
            except (DeviceError, OSError):  # the board died under it: expected
                pass

        w = threading.Thread(target=run)
        w.start()
        if phase == "activation":
            deadline = time.monotonic() + 60
            while not state["activate_sent"] and w.is_alive() and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.6 * activate_s))
            landed = "activation" if not state["activate_replied"] else "after_activation"
            boards.kill(b)
        w.join(60)
        if phase == "transfer":
            landed = "transfer" if killed.is_set() and not state["transfer_done"] else "missed"
            if not killed.is_set():
                boards.kill(b)
        b = boards.start(board, flash=disk)
        now = _served(b.url, models)
        out[f"landed_in_{landed}"] += 1
        out[f"{landed}: " + ("old model" if now == active else "new model" if now == target.sha256
                             else "NO OR WRONG MODEL")] += 1
        r = flash.flash_image(b.url, target.image, target.inputs, target.outputs)
        out["resumed_a_partial_transfer"] += r.resumed_from > 0
        out["reflash_completed"] += bool(r.activated and r.self_test == "pass")
        active = target.sha256
    boards.kill(b)
    return {"board": board, "cuts": cuts, **dict(sorted(out.items())), "activate_seconds": round(activate_s, 4)}
