"""Speed for arena bytes in a plan with streamed segments, after the memory plan's search
(memplan.choose; op-by-op plans keep the lowering's scratch sizes): with ``limit`` arena
bytes (the plan's arena plus WIDE_SLACK), take the changes that save the most
instructions per added byte:

- a conv scratch grows to a size its kernel can use for a widened filter (lowering lists
  them in ctx.scratch_options; a streamed member widens it on its first call only);
- a streamed member makes two output rows per kernel call: a depthwise member packs its
  weights once per call, a conv of odd output width leaves one pixel of its pairs alone
  per call, and every call has a fixed cost.

The savings are estimates (instructions on the Cortex-M4 kernels); each change is kept
only if the re-planned arena stays within ``limit`` and the byte-overlap check passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c import stream
from tinyops.runtimes.tinyops_c.lower import Context

if TYPE_CHECKING:
    from tinyops.runtimes.tinyops_c.memplan import Layout

# The arena may grow by 1/128 of it or this many bytes (2 KiB: MobileNet-VWW 1.49 instructions/MAC
# at 33,840 B; 1 KiB: 1.50 at 32,816 B).
WIDE_SLACK = (128, 2048)
WIDE_SAVE_PER_MAC = 0.25  # a widened filter saves about this much per MAC
PACK_PER_WORD = 6  # instructions per word of a depthwise weight stream packed per call
CALL_COST = 800  # fixed instructions per conv member kernel call (an ADD's: half)
MAX_ROWS = 4  # rows per call the tuning tries, one more a round


def limit_of(arena: int) -> int:
    return arena + max(arena // WIDE_SLACK[0], WIDE_SLACK[1])


def _calls(h: int, step: int) -> int:
    return -(-h // step)


def _per_call(ctx: Context, m: stream.Member, step: int) -> float:
    """Estimated fixed instructions of one kernel call of member m at ``step`` rows a call."""
    if m.code not in stream.CONV_CODES:
        return CALL_COST / 2
    w = ctx.records[fmt.PARAMS["conv"].unpack(m.params)[1]].dims4
    out = ctx.records[m.out].dims4
    k = w[1] * w[2]
    if m.code == stream.CONV_CODES[1]:
        words = out[3] // 4 * (4 + 6 * (k // 2) + 3) if k in (9, 25) else 0
        return CALL_COST + PACK_PER_WORD * words
    # the lone pixel of an odd number of pixels costs about a pixel pair: 2 x OC x K MACs' worth
    return CALL_COST + (2 * out[3] * k * w[3] if out[2] * step % 2 else 0)


def _row_saving(ctx: Context, m: stream.Member, step: int) -> float:
    """Instructions saved by step + 1 output rows per call instead of step."""
    return (_calls(m.out_h, step) * _per_call(ctx, m, step)
            - _calls(m.out_h, step + 1) * _per_call(ctx, m, step + 1))


def tune(ctx: Context, best: Layout, limit: int, relayout: Callable[[dict[int, int]], Layout | None],
         ok: Callable[[Layout], bool], rows: bool) -> Layout:
    """``relayout(steps)`` plans the same segments with rows per call ``steps`` and the
    current scratch sizes; ``ok`` is the byte-overlap check; ``rows``: try more rows."""
    for _ in range(MAX_ROWS - 1 if rows else 1):  # one more row per call a round
        changes: list[tuple[float, tuple]] = []
        for m in (m for ms in best.members.values() for m in ms if rows):
            step = best.steps.get(m.op, 1)
            save = _row_saving(ctx, m, step) if step < min(MAX_ROWS, m.out_h) else 0.0
            if save > 0 and (cand := relayout({**best.steps, m.op: step + 1})) is not None:
                changes.append((save / max(cand.arena - best.arena, 16), ("rows", m.op, step + 1)))
        for t, (sizes, macs, _) in ctx.scratch_options.items():
            base = ctx.records[t].shape
            for n in (n for n in sizes if n > base[0]):
                ctx.records[t].shape = (n,)
                cand = relayout(best.steps)
                ctx.records[t].shape = base
                if cand is not None:
                    save = WIDE_SAVE_PER_MAC * macs * (n - base[0]) / (sizes[0] - base[0])
                    changes.append((save / max(cand.arena - best.arena, 16), ("scratch", t, n)))
        changed = False
        for _, change in sorted(changes, key=lambda c: -c[0]):
            if change[0] == "rows":
                cand = relayout({**best.steps, change[1]: change[2]})
            else:
                _, t, n = change
                base = ctx.records[t].shape
                if n <= base[0]:
                    continue
                ctx.records[t].shape = (n,)
                cand = relayout(best.steps)
            if cand is not None and cand.arena <= limit and ok(cand):
                best, changed = cand, True
            elif change[0] == "scratch":
                ctx.records[change[1]].shape = base
        if not changed:
            break
    return best
