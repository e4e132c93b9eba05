"""Serial flashing throughput through a paced UART emulator.

A TCP relay between host and the posix firmware delivers bytes no faster than
a UART at BAUD (8N1: 10 bits a byte) and adds a 2 ms turnaround in each
direction, like a USB-serial bridge. We report payload bytes per second
divided by the line rate (baud / 10), for the windowed protocol and, side by
side, stop-and-wait (window 1), plus the time to flash a 100 KB payload.

    python benchmarks/serial_throughput.py  →  results/serial_throughput.json
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from tinyops.devices import sim  # noqa: E402
from tinyops.devices.serial import ops, transfer  # noqa: E402
from tinyops.devices.serial.link import Link  # noqa: E402

BAUDS = (115200, 921600)
TURNAROUND_S = 0.002
PAYLOAD_BYTES = 100 * 1024
GOAL = 0.95


class PacedRelay:
    """Delivers each direction's bytes at the UART's pace after a fixed delay."""

    def __init__(self, target_port: int, baud: int, turnaround_s: float) -> None:
        self.byte_s = 10.0 / baud
        self.turnaround_s = turnaround_s
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(2)
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.target_port = target_port
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.srv.accept()
            except OSError:
                return
            board = socket.create_connection(("127.0.0.1", self.target_port))
            for s in (client, board):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [client, board]
            threading.Thread(target=self._pump, args=(client, board), daemon=True).start()
            threading.Thread(target=self._pump, args=(board, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        # A reader stamps arrivals; the writer releases each byte when the
        # emulated wire has carried it: arrival + turnaround, then 10 bits a
        # byte back to back. (Stamping in the writer would add the turnaround
        # per chunk instead of once, as latency.)
        q: queue.Queue = queue.Queue()

        def reader() -> None:
            try:
                while data := src.recv(4096):
                    q.put((time.monotonic(), data))
            except OSError:
                pass
            q.put(None)

        threading.Thread(target=reader, daemon=True).start()
        line_free = 0.0
        try:
            while (item := q.get()) is not None:
                arrived, data = item
                start = max(line_free, arrived + self.turnaround_s)
                sent = 0
                while sent < len(data):
                    due = min(len(data), int((time.monotonic() - start) / self.byte_s))
                    if due > sent:
                        dst.sendall(data[sent:due])
                        sent = due
                    else:
                        wait = start + (sent + 1) * self.byte_s - time.monotonic()
                        time.sleep(max(0.0, min(0.0005, wait)))
                line_free = start + len(data) * self.byte_s
        except OSError:
            pass

    def close(self) -> None:
        for s in [self.srv, *self.socks]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def measure(board_port: int, baud: int, payload: bytes, window: int | None) -> dict:
    relay = PacedRelay(board_port, baud, TURNAROUND_S)
    try:
        with Link(relay.url, reply_timeout_s=5.0) as link:
            link.drain()
            info = ops.info(link)
            r = transfer.send_image(link, payload, info, window=window)
    finally:
        relay.close()
    line_rate = baud / 10.0
    return {"baud": baud, "window_frames": window or transfer.window_frames(info.rx_window, transfer.DEFAULT_CHUNK),
            "chunk_bytes": transfer.DEFAULT_CHUNK, "payload_bytes": len(payload), "seconds": round(r.seconds, 3),
            "payload_bytes_per_s": round(len(payload) / r.seconds, 1), "line_rate_bytes_per_s": line_rate,
            "efficiency": round(len(payload) / r.seconds / line_rate, 4), "retransmits": r.retransmits}


def main() -> None:
    fw = sim.build_firmware("posix")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        class Ws:
            def path(self, *p: str) -> Path:
                return Path(d).joinpath(*p)

        for baud in BAUDS:
            for window in (None, 1):
                board = sim.start("posix", flash=Path(d) / f"{baud}-{window}.flash", ws=Ws(), firmware=fw)
                try:
                    payload = os.urandom(PAYLOAD_BYTES)  # incompressible, ~0.8 % SLIP escapes like weights
                    row = measure(board.port, baud, payload, window)
                finally:
                    sim.stop(board.id, Ws())
                row["mode"] = "windowed" if window is None else "stop-and-wait"
                rows.append(row)
                print(f"{baud:>7} baud {row['mode']:<13} window {row['window_frames']}: "
                      f"{row['efficiency']:.3f} of line rate, 100 KB in {row['seconds']:.2f} s")
    windowed = [r for r in rows if r["mode"] == "windowed"]
    write_result("serial_throughput", {
        "turnaround_s": TURNAROUND_S, "goal": GOAL, "rows": rows,
        "goal_met": all(r["efficiency"] >= GOAL for r in windowed),
        "flash_100kb_seconds": {str(r["baud"]): r["seconds"] for r in windowed},
    })


if __name__ == "__main__":
    main()
