"""Device operations over an open link: info, activate, rollback, run, stats, reset."""

from __future__ import annotations

import numpy as np

from tinyops.errors import DeviceError
from tinyops.devices.serial import protocol
from tinyops.devices.serial.link import Link


def info(link: Link) -> protocol.DeviceInfo:
    reply = link.request(protocol.INFO)
    dev = protocol.parse_info(reply.body)
    if dev.protocol != protocol.PROTOCOL_VERSION:
        raise DeviceError(f"device speaks update protocol {dev.protocol}, this tinyops speaks "
                          f"{protocol.PROTOCOL_VERSION}", hint="update tinyops or the firmware so they match")
    return dev


def activate(link: Link, slot: int = protocol.SLOT_NONE) -> int:
    reply = link.request(protocol.ACTIVATE, bytes([slot]), timeout_s=link.slow_timeout_s)
    return reply.body[0]


def authorize(link: Link, ticket: bytes, links: bytes = b"") -> None:
    """Hand the device the signed ticket of the image about to be activated (and the key
    links from the key it pins); it verifies them with Ed25519 before ACTIVATE may use them."""
    link.request(protocol.AUTHORIZE, ticket + links, timeout_s=link.slow_timeout_s)


def rollback(link: Link) -> int:
    reply = link.request(protocol.ROLLBACK, timeout_s=link.slow_timeout_s)
    return reply.body[0]


def reset(link: Link) -> None:
    link.request(protocol.RESET)


def stats(link: Link, *, reset_window: bool = False, features: int = 0) -> dict:
    reply = link.request(protocol.STATS, protocol.stats_body(reset_window, features))
    return protocol.parse_stats(reply.body)


# An input of several frames (1 s of raw audio is 8) crosses a slow UART, and a board that
# computes its own features works for a while before it answers the last one: retransmitting
# 4 KB frames every second would only queue copies behind them on a loaded emulator.
STAGE_TIMEOUT_S = 3.0
MULTI_FRAME_INVOKE_TIMEOUT_S = 15.0


def run(link: Link, x: bytes, *, max_chunk: int) -> protocol.RunResult:
    """Stage the input in pieces that fit a frame, invoke on the last one."""
    step = max(1, max_chunk)
    offset = 0
    multi = len(x) > step
    stage_timeout = max(link.reply_timeout_s, STAGE_TIMEOUT_S) if multi else None
    while len(x) - offset > step:
        link.request(protocol.RUN, protocol.run_body(offset, x[offset:offset + step], False), timeout_s=stage_timeout)
        offset += step
    reply = link.request(protocol.RUN, protocol.run_body(offset, x[offset:], True),
                         timeout_s=max(link.slow_timeout_s, MULTI_FRAME_INVOKE_TIMEOUT_S) if multi
                         else link.slow_timeout_s)
    return protocol.parse_run(reply.body)


def self_test(link: Link, inputs: np.ndarray, outputs: np.ndarray, *, max_chunk: int,
              tolerance_lsb: int = 0) -> dict:
    """Run golden inputs on the device and compare with golden outputs."""
    worst = 0
    identical = 0
    total = 0
    counts: list[int] = []
    unit = None
    for x, want in zip(inputs, outputs):
        res = run(link, np.ascontiguousarray(x).tobytes(), max_chunk=max_chunk)
        got = np.frombuffer(res.output, dtype=want.dtype)
        if got.size != want.size:
            raise DeviceError(f"device returned {got.size} output values, the golden vector has {want.size}",
                              hint="the active model is not this build's; flash it again")
        diff = np.abs(got.astype(np.int64) - want.reshape(-1).astype(np.int64))
        worst = max(worst, int(diff.max(initial=0)))
        identical += int((diff == 0).sum())
        total += diff.size
        counts.append(res.count)
        unit = res.unit
    return {"pass": worst <= tolerance_lsb, "vectors": len(counts), "max_lsb_diff": worst,
            "identical_share": identical / total if total else 1.0, "counts": counts, "unit": unit}
