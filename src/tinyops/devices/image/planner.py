"""Offline, lifetime-aware arena planner.

Every activation tensor lives from the op that writes it (model inputs: before the
first op) to the last op that reads it (model outputs: to the end). Reshape-like ops
alias their output to their input, so those tensors share one buffer and one lifetime.
Buffers are placed largest first at the lowest offset that does not collide with an
already placed buffer whose lifetime overlaps (the greedy strategy TFLM also uses), so
buffers whose lifetimes do not overlap reuse the same bytes.
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
    offset: int = -1


def plan(sizes: dict[int, int], first_def: dict[int, int], last_use: dict[int, int],
         aliases: list[tuple[int, int]]) -> tuple[dict[int, int], int]:
    """Offsets for every tensor in ``sizes`` and the arena size.

    ``aliases`` are (output, input) pairs that must share memory (in-place reshapes).
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
    placed: list[Buffer] = []
    for b in sorted(groups.values(), key=lambda b: (-b.size, b.first)):
        overlapping = sorted((p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset)
        offset = 0
        for p in overlapping:
            if offset + b.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        b.offset = offset
        placed.append(b)
    offsets = {t: b.offset for b in placed for t in b.tensors}
    arena = _align(max((b.offset + b.size for b in placed), default=0))
    return offsets, arena
