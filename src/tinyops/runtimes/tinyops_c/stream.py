"""Streamed segments: chains of CONV_2D / DEPTHWISE_CONV_2D / ADD run band by band.

The runtime (firmware/runtime/tor_stream.c) produces the last member's output rows in
order; a member's row pulls the input rows it needs from earlier members, which write
them into row windows (kept rows move to the window's start when it is full). Only the
last member's output exists whole. ``schedule`` replays that exact order on the host:
it sizes each window (the most rows live at once) and gives, for each output row, the
lowest input row still needed, from which ``lags`` says how far below an input the
output may start while overwriting only consumed rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tinyops.runtimes.tinyops_c import format as fmt

CONV_CODES = (fmt.OPCODES["CONV_2D"], fmt.OPCODES["DEPTHWISE_CONV_2D"])
ADD = fmt.OPCODES["ADD"]


@dataclass
class Member:
    op: int  # index into the compiler's op list
    code: int
    params: bytes
    ins: list[int]  # activation inputs (1, or 2 for ADD)
    out: int
    scratch: int = -1
    # conv geometry: output row y reads input rows [y*stride - pad, ... + (kh-1)*dil + 1)
    stride: int = 1
    pad: int = 0
    kh: int = 1
    dil: int = 1
    in_h: int = 1
    out_h: int = 1
    step: int = 1  # output rows per kernel call

    def need(self, y: int) -> tuple[int, int]:
        if self.code == ADD:
            return y, y + 1
        top = y * self.stride - self.pad
        return max(top, 0), min(top + (self.kh - 1) * self.dil + 1, self.in_h)

    def rows(self, y: int) -> int:
        return min(self.step, self.out_h - y)

    def band(self, y: int) -> tuple[int, int]:
        return self.need(y)[0], self.need(y + self.rows(y) - 1)[1]


def row_bytes(rec: fmt.TensorRecord) -> int:
    d = rec.dims4
    return d[2] * d[3] * fmt.ELEM_SIZE[rec.dtype]


def _rows_ok(rec: fmt.TensorRecord) -> bool:
    d = rec.dims4
    return rec.dtype == fmt.DT_INT8 and len(rec.shape) == 4 and d[0] == 1 and row_bytes(rec) % 4 == 0


def member(records: list[fmt.TensorRecord], k: int, code: int, params: bytes) -> Member | None:
    """The op as a segment member, or None if it cannot run row by row."""
    if code in CONV_CODES:
        v = fmt.PARAMS["conv"].unpack(params)
        x, w, _, y = v[0], v[1], v[2], v[3]
        stride_h, dil_h, pad_h, scratch = v[5], v[7], v[9], v[18]
        rx, ry = records[x], records[y]
        if not (_rows_ok(rx) and _rows_ok(ry)) or rx.storage != fmt.IN_ARENA:
            return None
        kh = records[w].dims4[1]
        if pad_h > (kh - 1) * dil_h or (ry.dims4[1] - 1) * stride_h - pad_h > rx.dims4[1] - 1:
            return None
        return Member(k, code, params, [x], y, scratch if code == CONV_CODES[0] else -1,
                      stride_h, pad_h, kh, dil_h, rx.dims4[1], ry.dims4[1])
    if code == ADD:
        v = fmt.PARAMS["binary"].unpack(params)
        a, b, y = v[0], v[1], v[2]
        if not all(_rows_ok(records[t]) and records[t].shape == records[y].shape and records[t].storage == fmt.IN_ARENA
                   for t in (a, b, y)):
            return None
        return Member(k, code, params, [a, b], y, in_h=records[y].dims4[1], out_h=records[y].dims4[1])
    return None


@dataclass
class Schedule:
    """One segment's run, offset-free: ``events`` in execution order, each
    ("row", j, y, r, reads): rows [y, y + r), reads [(tensor, member or -1, lo, hi)], or
    ("move", j, keep, y): member j's window keeps rows [keep, y) and moves them down."""
    caps: list[int]
    events: list[tuple] = field(default_factory=list)
    # per call of the last member: (rows written so far, {external input: lowest row still needed})
    needed: list[tuple[int, dict[int, int]]] = field(default_factory=list)


def schedule(members: list[Member], caps: list[int] | None = None) -> Schedule:
    """Replay tor_stream.c's pull order; without ``caps``, measure the windows it needs."""
    n = len(members)
    measure = caps is None
    caps = [0] * n if caps is None else list(caps)
    src = [[next((j for j in range(k) if members[j].out == t), -1) for t in members[k].ins] for k in range(n)]
    done, base = [0] * n, [0] * n
    s = Schedule(caps)
    external = {t for k in range(n) for t, j in zip(members[k].ins, src[k]) if j < 0}

    def readers_lo(t: int) -> int | None:
        los = [members[c].need(done[c])[0] for c in range(n)
               if t in members[c].ins and done[c] < members[c].out_h]
        return min(los) if los else None

    def make_room(j: int, y: int, r: int) -> None:
        if j == n - 1:
            return
        if not measure and y + r - base[j] <= caps[j]:
            return
        keep = y
        lo = readers_lo(members[j].out)
        if lo is not None:
            keep = min(keep, lo)
        assert keep >= base[j]
        if keep > base[j]:
            s.events.append(("move", j, keep, y))
        base[j] = keep
        if measure:
            caps[j] = max(caps[j], y + r - keep)
        assert y + r - keep <= caps[j], "window too small"

    def produce(j: int, y: int) -> None:
        m = members[j]
        r = m.rows(y)
        lo, hi = m.band(y)
        for k in src[j]:
            if k >= 0:
                while done[k] < hi:
                    produce(k, done[k])
        make_room(j, y, r)
        s.events.append(("row", j, y, r, [(t, k, lo, hi) for t, k in zip(m.ins, src[j])]))
        if j == n - 1:
            s.needed.append((y + r, {t: lo_t for t in external if (lo_t := readers_lo(t)) is not None}))
        done[j] = y + r

    while done[n - 1] < members[-1].out_h:
        produce(n - 1, done[n - 1])
    s.caps = caps
    return s


def lags(members: list[Member], sch: Schedule, records: list[fmt.TensorRecord]) -> dict[int, int]:
    """For each external input t: the output may start at offset(t) - lag[t] or lower
    (or wholly above t): its row y then ends at or below t's lowest row still needed."""
    out = records[members[-1].out]
    rbo = row_bytes(out)
    res: dict[int, int] = {}
    for t in {t for _, need in sch.needed for t in need}:
        rbi = row_bytes(records[t])
        res[t] = max(end * rbo - need[t] * rbi for end, need in sch.needed if t in need)
    return res


def byte_events(members: list[Member], sch: Schedule, records: list[fmt.TensorRecord],
                where: Callable[[int], int], window_off: list[int]) -> list[tuple[str, int, int, int, int]]:
    """The segment's arena accesses in order: ("r"/"w", arena offset, nbytes, tensor,
    byte offset within the tensor) -- what the byte-overlap check replays."""
    n = len(members)
    base = [0] * n
    ev: list[tuple[str, int, int, int, int]] = []

    def at(j: int, t: int, y: int) -> int:
        rb = row_bytes(records[t])
        return where(t) + y * rb if j < 0 or j == n - 1 else window_off[j] + (y - base[j]) * rb

    for e in sch.events:
        if e[0] == "move":
            _, j, keep, y = e
            t = members[j].out
            rb = row_bytes(records[t])
            ev.append(("r", at(j, t, keep), (y - keep) * rb, t, keep * rb))
            base[j] = keep
            ev.append(("w", at(j, t, keep), (y - keep) * rb, t, keep * rb))
            continue
        _, j, y, r, reads = e
        m = members[j]
        reads_ev = [("r", at(k, t, lo), (hi - lo) * row_bytes(records[t]), t, lo * row_bytes(records[t]))
                    for t, k, lo, hi in reads]
        rbo = row_bytes(records[m.out])
        if m.scratch >= 0:
            ev.append(("w", where(m.scratch), records[m.scratch].nbytes, m.scratch, 0))
        ev += reads_ev
        ev.append(("w", at(j, m.out, y), r * rbo, m.out, y * rbo))
        ev += reads_ev  # the kernel reads its band while it writes the row
        if m.scratch >= 0:
            ev.append(("r", where(m.scratch), records[m.scratch].nbytes, m.scratch, 0))
    return ev


def pack(members: list[Member], caps: list[int], window_off: list[int], params_off: list[int]) -> bytes:
    """The SEGMENT params record (tor_segment_params)."""
    pad = fmt.MAX_SEGMENT - len(members)
    rows = [caps[j] if j < len(members) - 1 else 0 for j in range(len(members))]
    offs = [window_off[j] if j < len(members) - 1 else 0 for j in range(len(members))]
    return fmt.PARAMS["segment"].pack(len(members), 0, 0, 0, *[m.code for m in members], *[0] * pad,
                                      *params_off, *[0] * pad, *[len(m.params) for m in members], *[0] * pad,
                                      *offs, *[0] * pad, *rows, *[0] * pad, *[m.step for m in members], *[0] * pad)
