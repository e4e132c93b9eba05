"""Host side of the MLPerf Tiny (EEMBC runner) command set, over our link.

Mirrors what MLCommons' runner does: read lines until ``m-ready``, load the
input with ``db load N%`` then ``db HEX%`` in 31-byte pieces, ``infer N W%``,
latency = (T1 - T0) / N from the two ``m-lap-us-`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tinyops.errors import DeviceError
from tinyops.devices.serial.link import LONG_COMMAND_TIMEOUT_S, Link

DB_CHUNK_BYTES = 31  # the runner's piece size (62 hex digits + "db " fits 80 characters)
NAME_RE = re.compile(r"^m-name-dut-\[([^]]+)]$")
MODEL_RE = re.compile(r"^m-(model|profile)-\[([^]]+)]$")
LAP_RE = re.compile(r"^m-lap-us-(\d+)$")
RESULTS_RE = re.compile(r"^m-results-\[(.*)]$")


@dataclass
class InferResult:
    runs: int
    warmup: int
    t0_us: int
    t1_us: int
    results: list[float]

    @property
    def latency_us(self) -> float:
        return (self.t1_us - self.t0_us) / self.runs


def _errors(lines: list[str], command: str) -> None:
    for line in lines:
        if line.startswith("e-"):
            raise DeviceError(f"device refused `{command}%`: {line}", hint="see `tinyops bench --help`")


def name(link: Link) -> str:
    for line in link.ascii("name"):
        if m := NAME_RE.match(line):
            return m.group(1)
    raise DeviceError("no m-name-dut-[…] reply", hint="is this an MLPerf Tiny firmware?")


def profile(link: Link) -> dict[str, str]:
    out = {}
    for line in link.ascii("profile"):
        if m := MODEL_RE.match(line):
            out[m.group(1)] = m.group(2)
    return out


def load_input(link: Link, data: bytes) -> None:
    lines = link.ascii(f"db load {len(data)}")
    _errors(lines, "db load")
    for i in range(0, len(data), DB_CHUNK_BYTES):
        lines = link.ascii("db " + data[i:i + DB_CHUNK_BYTES].hex())
        _errors(lines, "db")
    if "m-load-done" not in lines:
        raise DeviceError("the device did not confirm the input load (no m-load-done)")


def parse_results(lines: list[str]) -> list[float]:
    for line in lines:
        if m := RESULTS_RE.match(line):
            return [float(v) for v in m.group(1).split(",") if v.strip()]
    raise DeviceError("no m-results-[…] line in the reply")


def infer(link: Link, runs: int, warmup: int) -> InferResult:
    command = f"infer {runs} {warmup}"
    lines = link.ascii(command, timeout_s=LONG_COMMAND_TIMEOUT_S)
    _errors(lines, command)
    laps = [int(m.group(1)) for line in lines if (m := LAP_RE.match(line))]
    if len(laps) != 2:
        raise DeviceError(f"expected two m-lap-us lines from `{command}%`, got {len(laps)}")
    return InferResult(runs, warmup, laps[0], laps[1], parse_results(lines))


def results(link: Link) -> list[float]:
    return parse_results(link.ascii("results"))
