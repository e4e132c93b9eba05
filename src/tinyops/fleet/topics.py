"""The MQTT topic scheme (see DESIGN.md), as functions so nobody spells a topic by hand.

```
tinyops/builds/{build}/manifest      retained, signed transfer envelope
tinyops/builds/{build}/chunk/{i}     retained, QoS 1
tinyops/devices/{device}/desired     retained: which build, from which rollout
tinyops/devices/{device}/reported    retained: active build, slot, health
tinyops/devices/{device}/status      retained, last will: online/offline
tinyops/devices/{device}/events      update progress, errors
tinyops/devices/{device}/telemetry   summaries (collectors share a subscription)
```
"""

from __future__ import annotations

import re

from tinyops.errors import InputError

ROOT = "tinyops"
DEVICE_TOPICS = ("desired", "reported", "status", "events", "telemetry")
# Device ids and build ids become topic levels and file names: no wildcards,
# separators or spaces, so an id can never widen an ACL entry.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_id(value: str, what: str = "device id") -> str:
    if not _ID.match(value or ""):
        raise InputError(f"invalid {what} {value!r}",
                         hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def build_manifest(build: str) -> str:
    return f"{ROOT}/builds/{check_id(build, 'build id')}/manifest"


def build_chunk(build: str, index: int) -> str:
    return f"{ROOT}/builds/{check_id(build, 'build id')}/chunk/{int(index)}"


def build_chunks_filter(build: str) -> str:
    return f"{ROOT}/builds/{check_id(build, 'build id')}/chunk/+"


def builds_filter() -> str:
    return f"{ROOT}/builds/#"


def device(device_id: str, kind: str) -> str:
    if kind not in DEVICE_TOPICS:
        raise InputError(f"unknown device topic {kind!r}", hint=f"use one of {', '.join(DEVICE_TOPICS)}")
    return f"{ROOT}/devices/{check_id(device_id)}/{kind}"


def desired(device_id: str) -> str:
    return device(device_id, "desired")


def reported(device_id: str) -> str:
    return device(device_id, "reported")


def status(device_id: str) -> str:
    return device(device_id, "status")


def events(device_id: str) -> str:
    return device(device_id, "events")


def telemetry(device_id: str) -> str:
    return device(device_id, "telemetry")


def all_devices(kind: str) -> str:
    """Filter matching one kind of topic for every device (host side)."""
    if kind not in DEVICE_TOPICS:
        raise InputError(f"unknown device topic {kind!r}", hint=f"use one of {', '.join(DEVICE_TOPICS)}")
    return f"{ROOT}/devices/+/{kind}"


def shared_telemetry(group: str = "collectors") -> str:
    return f"$share/{group}/{ROOT}/devices/+/telemetry"


def parse_device_topic(topic: str) -> tuple[str, str] | None:
    """``tinyops/devices/D/kind`` -> (D, kind); anything else -> None."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == ROOT and parts[1] == "devices" and parts[3] in DEVICE_TOPICS:
        return parts[2], parts[3]
    return None


def parse_build_topic(topic: str) -> tuple[str, str, int | None] | None:
    """``tinyops/builds/B/manifest`` -> (B, "manifest", None); ``…/chunk/3`` -> (B, "chunk", 3)."""
    parts = topic.split("/")
    if len(parts) >= 4 and parts[0] == ROOT and parts[1] == "builds":
        if len(parts) == 4 and parts[3] == "manifest":
            return parts[2], "manifest", None
        if len(parts) == 5 and parts[3] == "chunk" and parts[4].isdigit():
            return parts[2], "chunk", int(parts[4])
    return None
