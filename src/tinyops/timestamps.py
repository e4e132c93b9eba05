"""UTC timestamps: one format for every table, message and file.

``2026-12-02T10:15:30.123456Z`` — ISO 8601, UTC, always microseconds, so the
text has one width and sorts in time order (a mix of precisions would not:
``…:30Z`` sorts after ``…:30.5Z``). Readers accept any ISO 8601 time with a
zone (``Z`` or ``+00:00``, any precision) and :func:`normalize` turns it into
this format.
"""

from __future__ import annotations

import datetime as dt
import re

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# What normalize() rewrites: an ISO 8601 UTC time of any precision.
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]00:?00)")


def now_dt() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def from_datetime(t: dt.datetime) -> str:
    """A timezone-aware datetime in the one format (converted to UTC)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: give it a timezone")
    return t.astimezone(dt.timezone.utc).strftime(FORMAT)


def now() -> str:
    """Now, in the one format."""
    return from_datetime(now_dt())


def parse(text: str) -> dt.datetime:
    """Any ISO 8601 time with a zone (``Z`` allowed) as an aware UTC datetime."""
    s = str(text).strip().replace("Z", "+00:00").replace("z", "+00:00")
    m = re.match(r"(.*\.\d{6})\d+(.*)", s)  # fromisoformat takes at most microseconds
    if m:
        s = m.group(1) + m.group(2)
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    return t.astimezone(dt.timezone.utc)


def normalize(text: str) -> str:
    """The one format for any ISO 8601 UTC time."""
    return from_datetime(parse(text))


def from_unix(seconds: float) -> str:
    return from_datetime(dt.datetime.fromtimestamp(seconds, dt.timezone.utc))


def to_unix(text: str) -> float:
    return parse(text).timestamp()


def age_s(text: str, now: dt.datetime | None = None) -> float:
    """Seconds since a stored time."""
    return ((now or now_dt()) - parse(text)).total_seconds()
