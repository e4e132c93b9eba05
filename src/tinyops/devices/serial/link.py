"""A link to tinyops firmware over any pyserial URL (``/dev/ttyACM0``,
``socket://host:port``, ``rfc2217://host:port``).

Requests are retried on silence (the firmware drops frames whose CRC fails and
answers a repeated sequence number from its reply cache, so a retry never runs
a command twice). MLPerf ASCII commands share the same port.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tinyops.errors import DeviceError
from tinyops.devices.serial import framing, protocol

# Named so the lossy-link tests and slow real boards can reason about them.
REPLY_TIMEOUT_S = 1.0       # silence after a request before it is sent again
MAX_RETRIES = 8             # retransmissions of one request before giving up
OPEN_TIMEOUT_S = 5.0        # connecting to the port (an emulated board may still be starting)
READ_POLL_S = 0.02          # pyserial read timeout per poll
ASCII_TIMEOUT_S = 10.0      # an MLPerf command until `m-ready` (not inference)
SLOW_COMMAND_TIMEOUT_S = 5.0   # END/ACTIVATE/ROLLBACK hash a whole slot; a retry while busy is answered from the cache
LONG_COMMAND_TIMEOUT_S = 120.0  # ACTIVATE/END hash a whole slot; `infer` runs many inferences

TEXT_KEEP_BYTES = 4096       # board text (boot banner) kept between frames for callers

TraceFn = Callable[[str, bytes], None]


def open_port(url: str, *, baudrate: int = 115200, timeout_s: float = OPEN_TIMEOUT_S):
    """Open a pyserial port, retrying while an emulated board comes up."""
    import serial

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return serial.serial_for_url(url, baudrate=baudrate, timeout=READ_POLL_S, write_timeout=30)
        except (serial.SerialException, OSError, ValueError) as e:
            if isinstance(e, ValueError) or time.monotonic() > deadline:
                raise DeviceError(f"cannot open serial port {url}: {e}",
                                  hint="check the URL (socket://HOST:PORT, /dev/ttyACM0, rfc2217://…); "
                                       "`tinyops sim list` shows emulated boards") from e
            time.sleep(0.1)


class Link:
    """One open connection. Use as a context manager."""

    def __init__(self, url: str, *, baudrate: int = 115200, trace: TraceFn | None = None,
                 reply_timeout_s: float = REPLY_TIMEOUT_S, max_retries: int = MAX_RETRIES,
                 slow_timeout_s: float = SLOW_COMMAND_TIMEOUT_S, port=None) -> None:
        self.url = url
        self.trace = trace
        self.reply_timeout_s = reply_timeout_s
        self.max_retries = max_retries
        self.slow_timeout_s = slow_timeout_s
        self.port = port if port is not None else open_port(url, baudrate=baudrate)
        self.decoder = framing.SlipDecoder()
        self._pending: list[framing.Reply] = []
        self._seq = int(time.monotonic_ns() & 0x7FFF)  # differs across runs: no stale cache hit
        self.retransmits = 0
        self._is_socket = type(self.port).__module__.endswith("protocol_socket")

    # ---- plumbing ------------------------------------------------------
    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._is_socket and getattr(self.port, "_socket", None) is not None:
                # pyserial's socket close() sleeps 0.3 s "for quick reconnects"; our
                # boards accept the next client at once, so hang up directly.
                import socket

                sock, self.port._socket = self.port._socket, None
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
                self.port.is_open = False
                return
            self.port.close()
        except Exception:  # noqa: BLE001 - closing a dead socket must not mask the real error
            pass

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _write(self, data: bytes) -> None:
        import serial

        if self.trace:
            self.trace("tx", data)
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"serial link to {self.url} lost: {e}", hint="check the board and run the command again") from e

    def _read_some(self) -> bytes:
        import serial

        try:
            data = self.port.read(1)  # waits up to READ_POLL_S
            if data:
                data += self._read_available()
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"serial link to {self.url} lost: {e}", hint="check the board and run the command again") from e
        if data and self.trace:
            self.trace("rx", data)
        return data

    def _read_available(self) -> bytes:
        if self._is_socket:
            # pyserial's socket in_waiting only says "readable"; a zero timeout
            # reads everything already there in one call.
            self.port.timeout = 0
            try:
                return self.port.read(1 << 16)
            finally:
                self.port.timeout = READ_POLL_S
        n = self.port.in_waiting
        return self.port.read(n) if n else b""

    def send(self, cmd: int, seq: int, body: bytes = b"") -> None:
        self._write(framing.encode_request(cmd, seq, body))

    def receive(self, timeout_s: float) -> framing.Reply | None:
        """The next valid reply frame, or None after ``timeout_s`` of silence."""
        deadline = time.monotonic() + timeout_s
        while not self._pending:
            if time.monotonic() > deadline:
                return None
            data = self._read_some()
            if data:
                for raw in self.decoder.feed(data):
                    reply = framing.parse_reply(raw)
                    if reply is not None:
                        self._pending.append(reply)
                if len(self.decoder.text) > TEXT_KEEP_BYTES:  # text outside frames: keep the tail only
                    del self.decoder.text[:-TEXT_KEEP_BYTES]
        return self._pending.pop(0)

    # ---- requests ------------------------------------------------------
    def request(self, cmd: int, body: bytes = b"", *, timeout_s: float | None = None,
                check: bool = True) -> framing.Reply:
        """Send one request and wait for its reply, retransmitting on silence."""
        seq = self.next_seq()
        timeout = timeout_s or self.reply_timeout_s
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retransmits += 1
            self.send(cmd, seq, body)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                reply = self.receive(left)
                if reply is not None and reply.seq == seq and reply.cmd == cmd:
                    if check and reply.status != protocol.OK:
                        raise DeviceError(f"{protocol.COMMAND_NAMES.get(cmd, cmd)} failed: "
                                          f"{protocol.describe(reply.status, reply.body)}",
                                          hint=_hint(reply.status))
                    return reply
        raise DeviceError(f"no reply from {self.url} to {protocol.COMMAND_NAMES.get(cmd, cmd)} after "
                          f"{self.max_retries + 1} tries", hint="is tinyops firmware running on that port? "
                          "`tinyops device info --port URL` checks the link")

    # ---- MLPerf ASCII --------------------------------------------------
    def ascii(self, command: str, *, timeout_s: float = ASCII_TIMEOUT_S) -> list[str]:
        """Send ``command%`` and return the reply lines up to and without ``m-ready``."""
        self.decoder.take_text()
        self._write(command.encode("ascii") + b"%")
        lines: list[str] = []
        buf = b""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            data = self._read_some()
            if not data:
                continue
            self.decoder.feed(data)
            buf += self.decoder.take_text()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("ascii", "replace").strip()
                if text == "m-ready":
                    return lines
                if text:
                    lines.append(text)
        raise DeviceError(f"`{command}%` got no m-ready from {self.url} within {timeout_s:.0f} s",
                          hint="the board may be busy or not running tinyops firmware")

    def drain(self, quiet_s: float = 0.1) -> None:
        """Discard whatever the board printed (boot banner) until it is quiet."""
        end = time.monotonic() + quiet_s
        while time.monotonic() < end:
            if self._read_some():
                end = time.monotonic() + quiet_s
        self.decoder = framing.SlipDecoder()
        self._pending.clear()


def _hint(status: int) -> str | None:
    return {
        4: "flash writes the inactive slot; this should not happen with `tinyops flash`",
        5: "the model image is larger than the board's slot; choose a smaller model or another board",
        9: "the image was corrupted on the way; run `tinyops flash` again",
        11: "the firmware's runtime cannot run this image; rebuild with `tinyops build` for this board",
        12: "flash a model first: `tinyops flash BUILD --port URL`",
        13: "the device has only one committed model",
        16: "the input does not match the model's input size",
    }.get(status)
