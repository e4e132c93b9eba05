"""The link over pyserial URLs: requests with retries, trace, ASCII commands,
clear errors for dead ports."""

from __future__ import annotations

import socket
import time

import pytest
from fixtures_boards import LinkProxy, boards, firmware_bins, proxies  # noqa: F401

from tinyops.devices.serial import link as link_mod
from tinyops.devices.serial import ops, protocol
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError


def test_request_trace_and_ascii_on_one_port(boards) -> None:
    b = boards.start("posix")
    seen: list[tuple[str, bytes]] = []
    with Link(b.url, trace=lambda d, data: seen.append((d, data))) as link:
        link.drain()
        info = ops.info(link)
        assert info.board == "posix"
        assert link.ascii("name") == ["m-name-dut-[tinyops-fw-posix]"]
    assert seen[0][0] == "tx" and seen[0][1][0] == 0xC0 and any(d == "rx" for d, _ in seen)
    assert (b"name%") in [data for d, data in seen if d == "tx"]


def test_lost_frames_are_retransmitted(boards, proxies) -> None:
    b = boards.start("posix")
    proxy = LinkProxy(b.port, drop=0.003, seed=3)
    proxies.append(proxy)
    with Link(proxy.url, reply_timeout_s=0.2, max_retries=40) as link:
        for _ in range(30):
            assert ops.info(link).board == "posix"
    assert proxy.dropped > 0 and link.retransmits > 0


def test_silent_port_and_closed_port_fail_clearly() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    url = f"socket://127.0.0.1:{srv.getsockname()[1]}"
    try:
        with Link(url, reply_timeout_s=0.1, max_retries=2) as link:
            t0 = time.monotonic()
            with pytest.raises(DeviceError, match="no reply .* to INFO after 3 tries"):
                link.request(protocol.INFO)
            assert time.monotonic() - t0 < 2
            with pytest.raises(DeviceError, match="got no m-ready"):
                link.ascii("name", timeout_s=0.3)
    finally:
        srv.close()
    with pytest.raises(DeviceError, match="cannot open serial port"):
        link_mod.open_port(url, timeout_s=0.3)
    with pytest.raises(DeviceError, match="check the URL"):
        link_mod.open_port("nonsense://x", timeout_s=0.3)
