"""Device-computed features in telemetry: the board's own histograms of the features it
computed from raw input, next to the host's histograms of the same runs.

A gateway feeding raw samples to a board whose build computes its features
(``monitor/raw_feed.py``) reads the firmware's STATS histograms after each window
and publishes them with the host reference's under the window's optional
``device_features`` key; ``drift bias`` (``monitor/bias.py``) counts the windows
where they differ.
"""

from __future__ import annotations

from typing import Any

from tinyops.errors import InputError

MAX_FEATURES = 64
BINS = 16


def message(runs: int, device: list[list[int]], host: list[list[int]]) -> dict[str, Any]:
    return {"runs": int(runs), "identical": device == host, "device": device, "host": host}


def validate(v: Any, count: int) -> None:
    """Raise InputError (a rejected telemetry message) unless ``v`` is a well-formed check."""
    def bad(problem: str) -> InputError:
        return InputError(f"telemetry rejected: device_features {problem}",
                          hint="fix the sender; the message was stored in the rejects table")

    if not isinstance(v, dict) or set(v) != {"runs", "identical", "device", "host"}:
        raise bad("must be {runs, identical, device, host}")
    runs = v["runs"]
    if isinstance(runs, bool) or not isinstance(runs, int) or not 0 <= runs <= count:
        raise bad("runs must be an integer in 0..count")
    for name in ("device", "host"):
        h = v[name]
        if not isinstance(h, list) or len(h) > MAX_FEATURES or not all(
                isinstance(row, list) and len(row) == BINS and all(
                    isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 2**32 for c in row) for row in h):
            raise bad(f"{name} must be at most {MAX_FEATURES} histograms of {BINS} counts")
    if v["identical"] is not (v["device"] == v["host"]):
        raise bad("identical must say whether device and host agree")
