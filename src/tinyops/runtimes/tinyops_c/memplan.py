"""The image's memory plan: which ops run band by band (streamed segments), where every
tensor and window sits in the arena, and a byte-level check of the result.

Starting from op-by-op execution, the planner repeatedly looks at the op where the live
bytes peak and tries the runs of consecutive streamable ops around it as one SEGMENT
(stream.py), keeping a change only if it lowers (arena, peak live bytes, number of ops
at that peak) and the byte-overlap check of the whole plan passes. Then memtune.py
spends a little arena on speed (widened conv filters, more rows per kernel call).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c import memtune, stream
from tinyops.runtimes.tinyops_c.lower import Context
from tinyops.runtimes.tinyops_c.planner import plan

MAX_LEN = 5  # members tried per segment
WINDOW_ID = 1 << 20  # planner ids of windows: WINDOW_ID * (segment + 1) + member


@dataclass
class Layout:
    """One candidate: segments as (first, last) ctx op ranges, and what planning gave."""
    segments: list[tuple[int, int]]
    steps: dict[int, int] = field(default_factory=dict)  # ctx op -> output rows per kernel call (default 1)
    groups: list[list[int]] = field(default_factory=list)  # image op -> ctx ops
    members: dict[int, list[stream.Member]] = field(default_factory=dict)  # image op -> members
    sched: dict[int, stream.Schedule] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    lags: dict[tuple[int, int], int] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    arena: int = 0
    io: list[tuple[list[int], list[int]]] = field(default_factory=list)

    def score(self) -> tuple[int, int, int]:
        live = live_bytes(self)
        peak = max(live, default=0)
        return self.arena, peak, live.count(peak)


def live_bytes(lay: Layout) -> list[int]:
    """Bytes live at each image op, a streamed output counted over its input's consumed rows."""
    live = [sum(s for t, s in lay.sizes.items() if lay.first[t] <= k <= lay.last[t]) for k in range(len(lay.groups))]
    for (o, i), lag in lay.lags.items():
        k = lay.first[o]
        union = max(max(lag, 0) + lay.sizes[i], lay.sizes[o])
        live[k] -= max(lay.sizes[i] + lay.sizes[o] - union, 0)
    return live


def _internal(ctx: Context, lay_members: list[stream.Member]) -> set[int]:
    return {m.out for m in lay_members[:-1]}


def _segment_ok(ctx: Context, a: int, b: int, outputs: list[int]) -> list[stream.Member] | None:
    if b - a + 1 > fmt.MAX_SEGMENT:
        return None
    members = []
    for k in range(a, b + 1):
        m = stream.member(ctx.records, k, *ctx.ops[k])
        if m is None:
            return None
        members.append(m)
    aliased = {t for pair in ctx.aliases for t in pair}
    for m in members[:-1]:
        readers = [k for k, (ins, _) in enumerate(ctx.op_io) if m.out in ins]
        if not readers or any(k < a or k > b for k in readers) or m.out in outputs or m.out in aliased:
            return None
    return members


def layout(ctx: Context, inputs: list[int], outputs: list[int], segments: list[tuple[int, int]],
           steps: dict[int, int] | None = None) -> Layout | None:
    lay = Layout(sorted(segments), dict(steps or {}))
    seg_at = {a: (a, b) for a, b in lay.segments}
    internal: set[int] = set()
    k = 0
    while k < len(ctx.ops):
        if k in seg_at:
            a, b = seg_at[k]
            members = _segment_ok(ctx, a, b, outputs)
            if members is None:
                return None
            for m in members:
                m.step = min(lay.steps.get(m.op, 1), m.out_h)
            inner = _internal(ctx, members)
            internal |= inner
            ins = sorted({t for m in members for t in m.ins} - inner)
            outs = [members[-1].out] + [m.scratch for m in members if m.scratch >= 0]
            lay.members[len(lay.groups)] = members
            lay.groups.append(list(range(a, b + 1)))
            lay.io.append((ins, outs))
            k = b + 1
        else:
            lay.groups.append([k])
            lay.io.append(ctx.op_io[k])
            k += 1
    n = len(lay.groups)
    arena = [i for i, r in enumerate(ctx.records) if r.storage in (fmt.IN_ARENA, fmt.IN_STATE) and i not in internal]
    first = {i: n for i in arena}
    last = {i: -1 for i in arena}
    for i in inputs:
        first[i] = -1
    for j, (ins, outs) in enumerate(lay.io):
        for i in outs:
            if i in first:
                first[i] = min(first[i], j)
        for i in ins:
            if i in last:
                last[i] = max(last[i], j)
    for i in outputs:
        last[i] = n
    for i in arena:
        if first[i] == n:  # never written: only possible for unused tensors
            first[i] = last[i] = max(last[i], -1)
        last[i] = max(last[i], first[i])
        if ctx.records[i].storage == fmt.IN_STATE:  # kept from one invoke to the next
            first[i], last[i] = -1, n
    sizes = {i: ctx.records[i].nbytes for i in arena}
    for j, members in lay.members.items():
        sch = stream.schedule(members)
        lay.sched[j] = sch
        for q, m in enumerate(members[:-1]):
            w = WINDOW_ID * (j + 1) + q
            sizes[w] = sch.caps[q] * stream.row_bytes(ctx.records[m.out])
            first[w] = last[w] = j
        group_last = _group_last(ctx, last)
        for t, lag in stream.lags(members, sch, ctx.records).items():
            if group_last.get(t) == j and ctx.records[t].storage == fmt.IN_ARENA:
                lay.lags[(members[-1].out, t)] = lag
    lay.sizes, lay.first, lay.last = sizes, first, last
    lay.offsets, lay.arena = plan(sizes, first, last, ctx.aliases, lay.lags)
    return lay


def _group_last(ctx: Context, last: dict[int, int]) -> dict[int, int]:
    """Last use of each tensor's alias group (reshapes share a buffer)."""
    out = dict(last)
    for _ in range(len(ctx.aliases)):
        for o, i in ctx.aliases:
            if o in out and i in out:
                out[o] = out[i] = max(out[o], out[i])
    return out


def check(ctx: Context, lay: Layout, inputs: list[int], outputs: list[int]) -> str | None:
    """Replay every arena access of the plan in order on a byte map (which tensor byte
    each arena byte holds); None, or the first read that finds a byte overwritten."""
    root = {t: t for t in lay.offsets}
    for o, i in ctx.aliases:  # a reshape's output is its input's bytes
        root[o] = root.get(i, i)
    if any(off < 0 or off % 4 for off in lay.offsets.values()):
        return "a buffer starts at a negative or unaligned offset"
    if max((lay.offsets[t] + n for t, n in lay.sizes.items()), default=0) > lay.arena:
        return "a buffer ends past the arena"
    owner = np.full(lay.arena, -1, dtype=np.int64)

    def tag(t: int, start: int, nbytes: int) -> np.ndarray:
        return (root.get(t, t) << 32) + np.arange(start, start + nbytes, dtype=np.int64)

    def write(off: int, nbytes: int, t: int, start: int) -> None:
        owner[off:off + nbytes] = tag(t, start, nbytes)

    def read(off: int, nbytes: int, t: int, start: int, where: str) -> str | None:
        if not np.array_equal(owner[off:off + nbytes], tag(t, start, nbytes)):
            return f"{where}: tensor {t} bytes {start}..{start + nbytes} at arena {off} were overwritten"
        return None

    whole = [t for t in lay.offsets if t < WINDOW_ID]
    for t in [*inputs, *(t for t in whole if ctx.records[t].storage == fmt.IN_STATE)]:
        write(lay.offsets[t], ctx.records[t].nbytes, t, 0)
    for j, (ins, outs) in enumerate(lay.io):
        if j in lay.members:
            members = lay.members[j]
            wins = [lay.offsets.get(WINDOW_ID * (j + 1) + q, 0) for q in range(len(members))]
            sch = stream.schedule(members, lay.sched[j].caps)
            for ev in stream.byte_events(members, sch, ctx.records, lambda t: lay.offsets[t], wins):
                if ev[0] == "w":
                    write(*ev[1:])
                elif (err := read(*ev[1:], where=f"segment op {j}")) is not None:
                    return err
            continue
        arena_ins = [t for t in ins if t in lay.offsets and t not in outs]
        for t in outs:
            if t in lay.offsets:
                write(lay.offsets[t], ctx.records[t].nbytes, t, 0)
        for t in arena_ins:  # inputs still intact after the outputs were written
            if (err := read(lay.offsets[t], ctx.records[t].nbytes, t, 0, f"op {j}")) is not None:
                return err
    for t in [*outputs, *(t for t in whole if ctx.records[t].storage == fmt.IN_STATE)]:
        if (err := read(lay.offsets[t], ctx.records[t].nbytes, t, 0, "end")) is not None:
            return err
    return None


def choose(ctx: Context, inputs: list[int], outputs: list[int], streaming: bool = True,
           rows_per_call: int | None = None) -> Layout:
    """The layout with the smallest arena the greedy search finds (see the module doc);
    without ``streaming``, every op runs on whole tensors; ``rows_per_call`` makes every
    streamed member produce that many rows per kernel call (more RAM, fewer calls)."""
    best = layout(ctx, inputs, outputs, [])
    assert best is not None
    flat = best.arena
    while streaming:
        live = live_bytes(best)
        if not live:
            return best
        peak = live.index(max(live))
        lo, hi = best.groups[peak][0], best.groups[peak][-1]
        others = [s for s in best.segments if s != (lo, hi)]
        taken = {k for a, b in others for k in range(a, b + 1)}
        tried = []
        for a in range(max(0, hi - MAX_LEN + 1), lo + 1):
            for b in range(hi, min(len(ctx.ops), a + MAX_LEN)):
                if any(k in taken for k in range(a, b + 1)):
                    continue
                cand = layout(ctx, inputs, outputs, [*others, (a, b)])
                if cand is not None and cand.score() < best.score():
                    tried.append(cand)
        for cand in sorted(tried, key=Layout.score):
            if check(ctx, cand, inputs, outputs) is None:
                best = cand
                break
        else:
            break
    if not best.segments:  # op by op: the lowering's scratch sizes (as without streaming)
        for t, (_, _, n) in ctx.scratch_options.items():
            ctx.records[t].shape = (n,)
        whole = layout(ctx, inputs, outputs, [])
        assert whole is not None
        return whole
    steps = {k: rows_per_call for a, b in best.segments for k in range(a, b + 1)} if rows_per_call else {}
    if rows_per_call is not None:
        best = layout(ctx, inputs, outputs, best.segments, steps)
        assert best is not None and check(ctx, best, inputs, outputs) is None
    segments = best.segments
    # tuning keeps a streamed plan at most as large as op by op with the smallest scratches
    return memtune.tune(ctx, best, min(memtune.limit_of(best.arena), flat),
                        lambda st: layout(ctx, inputs, outputs, segments, st),
                        lambda lay: check(ctx, lay, inputs, outputs) is None, rows_per_call is None)


def finalize(ctx: Context, lay: Layout) -> list[tuple[int, bytes]]:
    """Set every arena tensor's offset and build the image's op list (SEGMENT records
    with their members' params in the constant data)."""
    for t, off in lay.offsets.items():
        if t < WINDOW_ID:
            ctx.records[t].offset = off
    ops = []
    for j, group in enumerate(lay.groups):
        if j not in lay.members:
            ops.append(ctx.ops[group[0]])
            continue
        members = lay.members[j]
        for m in members[:-1]:
            ctx.records[m.out].storage, ctx.records[m.out].offset = fmt.IN_WINDOW, 0
        params_off = [ctx.add_data(m.params) for m in members]
        wins = [lay.offsets.get(WINDOW_ID * (j + 1) + q, 0) for q in range(len(members))]
        ops.append((fmt.OPCODES["SEGMENT"], stream.pack(members, lay.sched[j].caps, wins, params_off)))
    return ops


def merge_rows(rows: list[dict], lay: Layout) -> list[dict]:
    """One op-table row per image op; a SEGMENT's row lists its members' rows."""
    out = []
    for j, group in enumerate(lay.groups):
        if j not in lay.members:
            out.append({**rows[group[0]], "index": j})
            continue
        ms = [rows[k] for k in group]
        out.append({"index": j, "op": "SEGMENT", "tflite_index": ms[0]["tflite_index"], "tflite_op": "SEGMENT",
                    "output": ms[-1]["output"], "macs": sum(m["macs"] for m in ms),
                    "members": [{k: m[k] for k in ("op", "tflite_index", "output", "macs")} for m in ms]})
    return out


def report(ctx: Context, lay: Layout, names: dict[int, str]) -> dict:
    """What the plan chose: arena, the op where live bytes peak and what is live there
    (tensors and windows, with offsets), and the tiling (each segment's members,
    windows and overlaps)."""
    live = live_bytes(lay)
    segs = []
    for j, members in lay.members.items():
        caps = lay.sched[j].caps
        segs.append({"op": j, "members": [next(n for n, c in fmt.OPCODES.items() if c == m.code) for m in members],
                     "rows_per_call": [m.step for m in members],
                     "windows": [{"tensor": names[m.out], "rows": caps[q],
                                  "bytes": caps[q] * stream.row_bytes(ctx.records[m.out])}
                                 for q, m in enumerate(members[:-1])],
                     "overlaps": [{"output": names[o], "input": names[i], "lag_bytes": v,
                                   "offset_delta": lay.offsets[o] - lay.offsets[i]}
                                  for (o, i), v in lay.lags.items() if o == members[-1].out]})
    if not live:
        return {"arena_bytes": lay.arena, "peak_op": None, "live_bytes": 0, "live": [], "tiling": "none",
                "segments": []}
    peak = live.index(max(live))

    def label(t: int) -> tuple[str, list[int]]:
        if t >= WINDOW_ID:
            j, q = divmod(t, WINDOW_ID)
            m = lay.members[j - 1][q]
            return f"window of {names[m.out]}", [lay.sched[j - 1].caps[q], *ctx.records[m.out].shape[2:]]
        return names[t], list(ctx.records[t].shape)

    at_peak = sorted((t for t in lay.sizes if lay.first[t] <= peak <= lay.last[t]), key=lambda t: lay.offsets[t])
    tiling = "none (op by op, whole tensors)" if not segs else "; ".join(
        f"op {s['op']}: {'>'.join(s['members'])} row by row"
        + (f", windows {'+'.join(str(w['rows']) for w in s['windows'])} rows" if s["windows"] else "")
        + (f", rows per call {'+'.join(map(str, s['rows_per_call']))}" if max(s["rows_per_call"]) > 1 else "")
        + (", output over consumed input rows" if s["overlaps"] else "") for s in segs)
    return {"arena_bytes": lay.arena, "peak_op": peak, "live_bytes": max(live),
            "live": [{"tensor": label(t)[0], "shape": label(t)[1], "bytes": lay.sizes[t], "offset": lay.offsets[t]}
                     for t in at_peak],
            "tiling": tiling, "segments": segs}
