"""One-shot device operations for the CLI: open the link, do one thing, close."""

from __future__ import annotations

from tinyops.devices.serial import ops, protocol
from tinyops.devices.serial.link import Link


def device_info(url: str) -> protocol.DeviceInfo:
    with Link(url) as link:
        link.drain()
        return ops.info(link)


def device_rollback(url: str) -> protocol.DeviceInfo:
    """Roll back to the other committed slot; returns the state afterwards."""
    with Link(url) as link:
        link.drain()
        ops.rollback(link)
        return ops.info(link)
