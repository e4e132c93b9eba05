"""Offline, lifetime-aware arena planner.

Every activation tensor lives from the op that writes it (model inputs: before the
first op) to the last op that reads it (model outputs: to the end). Reshape-like ops
alias their output to their input, so those tensors share one buffer and one lifetime.
Buffers are placed one by one at the lowest offset that does not collide with an
already placed buffer whose lifetime overlaps, so buffers whose lifetimes do not overlap
reuse the same bytes. The placing order matters; we try several (largest first as TFLM
does, by birth, by longest life, by size x life, by death) and keep the smallest arena.

A streamed segment's output may overlap an input it consumes row by row (``lags``):
it may start ``lag`` bytes below that input (or anywhere below that), since each output
row then lands on input rows already consumed (stream.py computes the lag).
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 16


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    tensors: list[int]
    size: int
    first: int
    last: int


def plan(sizes: dict[int, int], first_def: dict[int, int], last_use: dict[int, int],
         aliases: list[tuple[int, int]], lags: dict[tuple[int, int], int] | None = None) -> tuple[dict[int, int], int]:
    """Offsets for every tensor in ``sizes`` and the arena size.

    ``aliases`` are (output, input) pairs that must share memory (in-place reshapes);
    ``lags`` maps (output, input) to how far below the input the output may start.
    """
    parent = {t: t for t in sizes}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for out, inp in aliases:
        parent[find(out)] = find(inp)
    groups: dict[int, Buffer] = {}
    for t, size in sizes.items():
        root = find(t)
        b = groups.setdefault(root, Buffer([], 0, first_def[t], last_use[t]))
        b.tensors.append(t)
        b.size = max(b.size, size)
        b.first = min(b.first, first_def[t])
        b.last = max(b.last, last_use[t])
    lag = {(find(o), find(i)): v for (o, i), v in (lags or {}).items()}
    orders = [
        lambda b: (-b.first, -b.size),
        lambda b: (-b.size, b.first),
        lambda b: (b.first, -b.size),
        lambda b: (-(b.last - b.first), -b.size),
        lambda b: (-b.size * (b.last - b.first + 1), b.first),
    ]
    best: tuple[int, dict[int, int]] | None = None
    for order in orders:
        arena, offsets = _place(sorted(groups.items(), key=lambda kv: order(kv[1])), lag)
        if best is None or arena < best[0]:
            best = (arena, offsets)
    assert best is not None
    return best[1], best[0]


def _place(buffers: list[tuple[int, Buffer]], lag: dict[tuple[int, int], int]) -> tuple[int, dict[int, int]]:
    placed: list[tuple[int, int, Buffer]] = []
    for key, b in buffers:
        # open intervals of start offsets b must avoid, one per placed buffer it meets
        bad = []
        for off, pkey, p in placed:
            if p.first <= b.last and b.first <= p.last:
                lo, hi = off - b.size, off + p.size
                if (key, pkey) in lag:  # b streams over p
                    lo = off - lag[(key, pkey)]
                elif (pkey, key) in lag:  # p streams over b
                    hi = off + lag[(pkey, key)]
                bad.append((lo, hi))
        offset = min(c for c in [0, *(_align(hi) for _, hi in bad)]
                     if c >= 0 and not any(lo < c < hi for lo, hi in bad))
        placed.append((offset, key, b))
    offsets = {t: off for off, _, b in placed for t in b.tensors}
    return _align(max((off + b.size for off, _, b in placed), default=0)), offsets


def plan_report(sizes: dict[int, int], first_def: dict[int, int], last_use: dict[int, int],
                offsets: dict[int, int], arena: int, labels: dict[int, tuple[str, list[int]]]) -> dict:
    """What the plan chose: the arena, the op where the live bytes peak and the tensors
    live there (each with its offset), the op-by-op floor and the tiling (none yet:
    every op runs on whole tensors)."""
    if not sizes:
        return {"arena_bytes": arena, "peak_op": None, "live_bytes": 0, "live": [], "tiling": "none"}
    lo = min(first_def.values())
    hi = max(last_use.values())
    best_op, best = lo, -1
    for k in range(max(lo, 0), max(hi, 0) + 1):
        live = sum(sizes[t] for t in sizes if first_def[t] <= k <= last_use[t])
        if live > best:
            best_op, best = k, live
    live = sorted((t for t in sizes if first_def[t] <= best_op <= last_use[t]), key=lambda t: offsets[t])
    # tensors aliased to one buffer share an offset; count their bytes once
    seen: dict[int, int] = {}
    for t in live:
        seen[offsets[t]] = max(seen.get(offsets[t], 0), sizes[t])
    return {"arena_bytes": arena, "peak_op": best_op, "live_bytes": sum(seen.values()),
            "live": [{"tensor": labels[t][0], "shape": labels[t][1], "bytes": sizes[t], "offset": offsets[t]}
                     for t in live],
            "tiling": "none (op by op, whole tensors)"}
