"""The TFLite Micro tensor arena a model actually needs, measured.

TFLM's recording allocator prints a total after one inference, but that figure can
understate the need (alignment, scratch buffers requested late), and a too-small
arena can crash the process. So, in a child process: run once with a roomy arena
to read the printed total, then try sizes on a 16-byte grid, each with a fresh
interpreter that loads and runs the model — the printed total first, a step below
it to show it is tight, and only if needed a search upward (doubling) and a
bisection. The answer is the smallest size on the grid that loads and runs; 16
bytes less fails. TFLM reports a short arena as an error, but should a size abort
the child, the search is redone with one child per probe.

Results are cached per model sha256 (and TFLM version) as small JSON files, in the
workspace (``.tinyops/cache/arena``) or a user cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tinyops import atomic
from tinyops.errors import ModelError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

    Cache = Workspace | Path | str | None

GRID = 16
PROBE_TIMEOUT_S = 60
_TOTAL = re.compile(rb"Arena allocation total (\d+) bytes")


@dataclass
class Probe:
    ok: bool
    printed_total: int | None
    message: str


def probe(model_bytes: bytes, arena: int) -> Probe:
    """Load and run the model once in a child process with exactly ``arena`` bytes."""
    from tinyops.runtimes.frames import read_frame

    proc = subprocess.run(
        [sys.executable, "-m", "tinyops.runtimes.tflm_worker", "probe", str(int(arena))],
        input=len(model_bytes).to_bytes(4, "little") + bytes(model_bytes),
        capture_output=True, timeout=PROBE_TIMEOUT_S, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    m = _TOTAL.search(proc.stderr)
    total = int(m.group(1)) if m else None
    import io

    frame = read_frame(io.BytesIO(proc.stdout))
    if proc.returncode != 0 or frame is None:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        return Probe(False, total, f"crashed ({how}): {proc.stderr.decode(errors='replace').strip()[-300:]}")
    reply = json.loads(frame[1:])
    return Probe(bool(reply.get("ok")), total, reply.get("error", ""))


def _grid(n: int) -> int:
    return (n + GRID - 1) // GRID * GRID


def grid_search(works: Callable[[int], bool], printed: int, roomy: int) -> tuple[int, int]:
    """Smallest size on the grid for which ``works(size)``; starts at the printed total.

    Returns (size, number of trials). ``roomy`` is known to work.
    """
    trials = 0

    def attempt(n: int) -> bool:
        nonlocal trials
        trials += 1
        return works(n)

    start = _grid(printed)
    if attempt(start):
        hi, lo = start, start - GRID  # is the printed total tight? one step below should fail
        if lo > 0 and attempt(lo):
            hi, lo = lo, 0
    else:
        lo, step, hi = start, GRID, roomy
        while lo + step < roomy:  # upward, doubling, until a size works
            if attempt(lo + step):
                hi = lo + step
                break
            lo, step = lo + step, step * 2
    while hi - lo > GRID:  # bisect on the grid: lo fails (or is 0), hi works
        mid = _grid((lo + hi) // 2)
        if mid in (lo, hi):
            break
        if attempt(mid):
            hi = mid
        else:
            lo = mid
    return hi, trials


def roomy_arena(model_bytes: bytes) -> int:
    return max(8 * 1024 * 1024, 4 * len(model_bytes))


def _search_in_one_child(model_bytes: bytes) -> dict[str, Any] | None:
    """Fast path: one child runs the whole search (TFLM reports a small arena as an
    error, not a crash). None if that child died, so the caller falls back to one
    child per probe."""
    import io

    from tinyops.runtimes.frames import read_frame

    proc = subprocess.run(
        [sys.executable, "-m", "tinyops.runtimes.tflm_worker", "search", str(roomy_arena(model_bytes))],
        input=len(model_bytes).to_bytes(4, "little") + bytes(model_bytes),
        capture_output=True, timeout=PROBE_TIMEOUT_S * 4, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    frame = read_frame(io.BytesIO(proc.stdout))
    if proc.returncode != 0 or frame is None:
        return None
    return json.loads(frame[1:])


def search(model_bytes: bytes) -> dict[str, Any]:
    """Measure without a cache. Returns arena_bytes, printed_total and how many probes ran.

    Fast path: one child runs the whole search. If that child dies (TFLM aborted on
    some size), fall back to one child per probe, so a crash only marks that size.
    """
    roomy = roomy_arena(model_bytes)
    fast = _search_in_one_child(model_bytes)
    if fast is not None and "error" in fast:
        raise ModelError(f"TFLite Micro cannot run this model even with a {roomy // 1024} KB arena: {fast['error']}",
                         hint="check `tinyops inspect` warnings (float or unsupported ops); use an int8 variant")
    if fast is not None:
        # Every trial there built a fresh interpreter with exactly that arena and ran it,
        # so the answer has been run in a child process and one grid step less has failed.
        return {**fast, "method": "one child"}
    first = probe(model_bytes, roomy)
    if not first.ok or first.printed_total is None:
        raise ModelError(f"TFLite Micro cannot run this model even with a {roomy // 1024} KB arena: {first.message}",
                         hint="check `tinyops inspect` warnings (float or unsupported ops); use an int8 variant")
    size, trials = grid_search(lambda n: probe(model_bytes, n).ok, first.printed_total, roomy)
    return {"arena_bytes": size, "printed_total": first.printed_total, "probes": trials + 1,
            "method": "one child per probe"}


def _tflm_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinyops" / "arena"


def _cache_dir(cache: Cache) -> Path | None:
    if cache is None:
        return None
    if isinstance(cache, (str, Path)):
        return Path(cache)
    return Path(cache.path("cache", "arena"))


def measure_arena_details(model_bytes: bytes, cache: Cache = None) -> dict[str, Any]:
    """Like :func:`measure_arena` with the printed total, probe count and whether it was cached."""
    from tinyops.extras import require

    require("tflite_micro", purpose="measuring the TFLite Micro arena")
    sha = hashlib.sha256(bytes(model_bytes)).hexdigest()
    folder = _cache_dir(cache)
    key = f"{sha}-{_tflm_version()}.json"
    if folder is not None and (folder / key).is_file():
        try:
            return {**json.loads((folder / key).read_text()), "cached": True}
        except (OSError, ValueError):
            pass  # an unreadable cache entry is measured again
    result = search(model_bytes)
    result["sha256"] = sha
    if folder is not None:
        try:
            atomic.write_json(folder / key, result)
        except OSError:
            pass  # caching is an optimisation; a read-only folder must not fail the measurement
    return {**result, "cached": False}


def measure_arena(model_bytes: bytes, cache: Cache = None) -> int:
    """Smallest TFLM arena (16-byte grid) with which the model loads and runs.

    ``cache`` is a Workspace, a folder, or None (measure every time).
    """
    return int(measure_arena_details(model_bytes, cache)["arena_bytes"])
