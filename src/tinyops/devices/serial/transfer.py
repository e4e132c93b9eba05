"""Windowed, resumable image transfer (BEGIN → DATA… → END).

DATA frames go out several at a time (the device's INFO says how many bytes
it can buffer); each reply carries the device's contiguous resume point. On a
gap (a frame lost or corrupted) the device answers OFFSET and the host goes
back to that point (go-back-N). BEGIN of the same image resumes from what the
device kept, also after a power cut (it marks each completed flash page).
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tinyops.errors import DeviceError
from tinyops.devices.serial import protocol
from tinyops.devices.serial.link import Link

DEFAULT_CHUNK = 2048        # payload bytes per DATA frame (overhead ~0.5 %)
MAX_WINDOW_FRAMES = 8       # frames in flight at most
FRAME_OVERHEAD = 16         # header, offset, CRC and SLIP ends, for window sizing

ProgressFn = Callable[[int, int], None]


@dataclass
class TransferResult:
    slot: int
    size: int
    resumed_from: int
    sent_bytes: int
    seconds: float
    retransmits: int


def window_frames(rx_window: int, chunk: int) -> int:
    # Escaping can double a frame in the worst case; keep that inside the device buffer.
    return max(1, min(MAX_WINDOW_FRAMES, rx_window // (2 * (chunk + FRAME_OVERHEAD))))


def begin(link: Link, image: bytes, slot: int = protocol.SLOT_NONE) -> tuple[int, int]:
    """Open (or resume) a transfer. Returns (slot, bytes the device already has)."""
    reply = link.request(protocol.BEGIN, protocol.begin_body(slot, len(image), hashlib.sha256(image).digest()))
    slot_used, received = protocol.BEGIN_REPLY_BODY.unpack_from(reply.body)
    return slot_used, received


def send_image(link: Link, image: bytes, info: protocol.DeviceInfo, *,
               progress: ProgressFn | None = None, chunk: int = DEFAULT_CHUNK,
               window: int | None = None) -> TransferResult:
    """BEGIN, DATA with a window from the device's resume point, END (device checks sha256)."""
    t0 = time.monotonic()
    chunk = max(1, min(chunk, info.max_chunk))
    frames_in_flight = window or window_frames(info.rx_window, chunk)
    slot, acked = begin(link, image)
    resumed_from = acked
    size = len(image)
    sent = 0
    retries = 0
    next_off = acked
    inflight: deque[tuple[int, int]] = deque()  # (seq, end offset)
    retransmits_before = link.retransmits
    if progress:
        progress(acked, size)
    while acked < size:
        while len(inflight) < frames_in_flight and next_off < size:
            piece = image[next_off:next_off + chunk]
            seq = link.next_seq()
            link.send(protocol.DATA, seq, protocol.data_body(next_off, piece))
            sent += len(piece)
            next_off += len(piece)
            inflight.append((seq, next_off))
        reply = link.receive(link.reply_timeout_s)
        if reply is None:  # silence: frames or replies were lost; go back
            retries += 1
            link.retransmits += 1
            if retries > link.max_retries:
                raise DeviceError(f"transfer stalled at byte {acked} of {size}: no reply after "
                                  f"{retries} tries", hint="run `tinyops flash` again: it resumes from there")
            next_off, inflight = acked, deque()
            continue
        seqs = [s for s, _ in inflight]
        if reply.cmd != protocol.DATA or reply.seq not in seqs:
            continue  # a late reply to a frame we already gave up on
        (received,) = protocol.DATA_REPLY_BODY.unpack_from(reply.body) if len(reply.body) >= protocol.DATA_REPLY_BODY.size else (acked,)
        if reply.status == protocol.OK:
            if received > acked:
                acked = received
                retries = 0
                if progress:
                    progress(acked, size)
            while inflight and inflight[0][1] <= acked:
                inflight.popleft()
            # Also drop frames up to the one just answered (replies come in order).
            while inflight and inflight[0][0] != reply.seq and reply.seq in [s for s, _ in inflight]:
                inflight.popleft()
            if inflight and inflight[0][0] == reply.seq:
                inflight.popleft()
        elif reply.status == protocol.OFFSET:
            link.retransmits += 1
            acked = max(acked, received) if received <= size else acked
            next_off, inflight = received, deque()
        else:
            raise DeviceError(f"DATA failed at byte {acked}: {protocol.describe(reply.status)}")
    link.request(protocol.END, timeout_s=max(link.reply_timeout_s, link.slow_timeout_s))
    return TransferResult(slot, size, resumed_from, sent, time.monotonic() - t0,
                          link.retransmits - retransmits_before)
