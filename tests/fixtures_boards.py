"""Emulated boards for tests: firmware built once per session, boards started
per test and always stopped by PID (also when the test fails).

``boards.start("posix" | "qemu-mps2-an386", flash=PATH)`` returns a
:class:`tinyops.devices.sim.SimBoard`; ``boards.kill(sim)`` is a power cut.
``model_images`` gives small real model images (compiled from the int8
fixtures in ``fixtures_models``) with golden vectors from the TFLM interpreter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tinyops.devices import sim

BOARD_NAMES = ("posix", "qemu-mps2-an386")


@pytest.fixture(scope="session")
def firmware_bins() -> dict[str, Path]:
    """Both boards' firmware, built with the real toolchains (make -C firmware)."""
    return {b: sim.build_firmware(b) for b in BOARD_NAMES}


class Boards:
    def __init__(self, firmware: dict[str, Path], state: Path) -> None:
        self.firmware = firmware
        self.state = state
        self.started: list[sim.SimBoard] = []

    def start(self, board: str, flash: Path | str | None = None) -> sim.SimBoard:
        flash = flash or self.state / f"{board}-{len(self.started)}.flash"
        s = sim.start(board, flash=flash, firmware=self.firmware[board], ws=_StateWs(self.state))
        self.started.append(s)
        return s

    def kill(self, s: sim.SimBoard) -> None:
        """Power cut: SIGKILL by PID, no chance to finish a flash write."""
        sim.stop(s.id, _StateWs(self.state), hard=True)
        self.started = [b for b in self.started if b.id != s.id]

    def stop_all(self) -> None:
        for s in self.started:
            try:
                sim.stop(s.id, _StateWs(self.state), hard=True)
            except Exception:  # noqa: BLE001 - already gone
                sim._kill(s.pid, hard=True)
        self.started = []


class _StateWs:
    """Keeps sim state files inside the test's tmp folder (duck-types ws.path)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)


@pytest.fixture
def boards(firmware_bins: dict[str, Path], tmp_path: Path) -> Iterator[Boards]:
    b = Boards(firmware_bins, tmp_path)
    try:
        yield b
    finally:
        b.stop_all()


@dataclass
class ModelImage:
    name: str
    image: bytes
    arena_bytes: int
    inputs: np.ndarray   # golden inputs (K, ...) int8
    outputs: np.ndarray  # TFLM outputs (K, ...) int8

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()


def make_model_image(name: str, count: int = 2, seed: int = 0) -> ModelImage:
    from fixtures_models import model_bytes

    from tinyops.runtimes.tinyops_c import compile_image
    from tinyops.runtimes import open_runtime

    tfl = model_bytes(name)
    compiled = compile_image(tfl)
    rt = open_runtime("tflm", tfl)
    shape = rt.inputs[0].shape
    xs = np.random.default_rng(seed).integers(-128, 128, size=(count, *shape[1:]), dtype=np.int8)
    ys = np.stack([np.asarray(rt.run(x[None]))[0] for x in xs])
    return ModelImage(name, compiled.image, compiled.arena_bytes, xs, ys)


@pytest.fixture(scope="session")
def model_images() -> dict[str, ModelImage]:
    """Three small real images (digits, IMU, keyword spotting) so A/B tests can cycle."""
    return {n: make_model_image(n) for n in ("digits_cnn", "imu_cnn", "ds_cnn_kws")}


class LinkProxy:
    """A TCP proxy between host and board that can flip bits, drop bytes and
    cut the connection: the serial line's faults, on a socket.

    ``flip``/``drop`` are per-byte probabilities (both directions);
    ``cut_after`` closes the first connection after that many host→board bytes.
    """

    def __init__(self, target_port: int, *, flip: float = 0.0, drop: float = 0.0,
                 cut_after: int | None = None, seed: int = 1) -> None:
        import random
        import socket
        import threading

        self.target_port = target_port
        self.flip, self.drop, self.cut_after = flip, drop, cut_after
        self.rng = random.Random(seed)
        self.flipped = self.dropped = self.connections = 0
        self._lock = threading.Lock()
        self._srv = socket.socket()
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(4)
        self.port = self._srv.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._socks: list = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _mangle(self, data: bytes) -> bytes:
        out = bytearray()
        with self._lock:
            for b in data:
                r = self.rng.random()
                if r < self.drop:
                    self.dropped += 1
                    continue
                if r < self.drop + self.flip:
                    b ^= 1 << self.rng.randrange(8)
                    self.flipped += 1
                out.append(b)
        return bytes(out)

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._srv.accept()
            except OSError:
                return
            board = socket.create_connection(("127.0.0.1", self.target_port))
            self._socks += [client, board]
            self.connections += 1
            budget = [self.cut_after if self.connections == 1 else None]
            threading.Thread(target=self._pump, args=(client, board, budget), daemon=True).start()
            threading.Thread(target=self._pump, args=(board, client, [None]), daemon=True).start()

    def _pump(self, src, dst, budget: list) -> None:
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if budget[0] is not None:
                    if len(data) >= budget[0]:
                        dst.sendall(self._mangle(data[:budget[0]]))
                        break
                    budget[0] -= len(data)
                dst.sendall(self._mangle(data))
        except OSError:
            pass
        for s in (src, dst):
            _hang_up(s)

    def close(self) -> None:
        self._closed = True
        for s in [self._srv, *self._socks]:
            _hang_up(s)


def _hang_up(s) -> None:
    # shutdown() first: close() alone leaves the connection open while another
    # thread is blocked in recv() on it, and the board would never see the cut.
    import socket

    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


@pytest.fixture
def proxies() -> Iterator[list[LinkProxy]]:
    made: list[LinkProxy] = []
    yield made
    for p in made:
        p.close()
