"""The telemetry collector: MQTT shared subscription → validated windows in SQLite.

Several collectors can run against one broker: they subscribe to the same
shared subscription (``$share/collectors/tinyops/devices/+/telemetry``, MQTT 5)
and the broker hands each message to one of them.

The paho network thread only queues raw messages; one writer thread validates
them and stores each batch in a single transaction (SQLite commits are the
expensive part, so batching is what keeps up with a fleet). Malformed,
oversized, spoofed or unknown-build messages go to the rejects table. Nothing
a device sends can stop the collector: every failure is caught per message,
and a failing batch is retried, then split, so one poison message cannot take
the others with it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from tinyops.errors import FleetError, InputError, TinyOpsError
from tinyops.fleet import topics
from tinyops.fleet.mqtt import BrokerAddress, MqttConnection
from tinyops.registry import builds as builds_reg
from tinyops.registry import telemetry as tel
from tinyops.monitor.window import MAX_PAYLOAD_BYTES, check_consistency, validate

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

log = logging.getLogger(__name__)

BATCH_MAX = 1000  # windows per transaction
FLUSH_SECONDS = 0.2  # longest a window waits in memory before it is stored
QUEUE_MAX = 50_000  # back-pressure: the network thread waits when the writer lags
UNKNOWN_BUILD_RECHECK = 5.0  # seconds before asking the registry again about a build id
# Per-device rate limit (token bucket): a burst of RATE_BURST windows, then
# RATE_PER_SECOND. An agent sends one window per period (seconds to minutes).
RATE_BURST = 120
RATE_PER_SECOND = 2.0


@dataclass
class CollectorStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    store_errors: int = 0
    started: float = 0.0
    last_stored: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(time.time() - self.started, 3) if self.started else 0.0
        return d


def parse_broker_url(url: str, ca_file: str | None = None) -> BrokerAddress:
    """``mqtt://user:pass@host:1883`` or ``mqtts://…:8883`` (TLS, CA from ``ca_file``)."""
    u = urlparse(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
        raise InputError(f"'{url}' is not a broker URL", hint="write mqtt://USER:PASS@HOST:PORT or mqtts://… for TLS")
    tls = u.scheme in ("mqtts", "ssl")
    ca = None
    if ca_file:
        try:
            ca = open(ca_file).read()
        except OSError as e:
            raise InputError(f"cannot read the CA file {ca_file}: {e.strerror}", hint="pass the broker's ca.crt") from e
    return BrokerAddress(host=u.hostname, port=u.port or (8883 if tls else 1883), username=unquote(u.username or ""),
                         password=unquote(u.password or ""), tls=tls, ca_pem=ca)


def broker_address(ws: Workspace, url: str | None, ca_file: str | None = None) -> BrokerAddress:
    """The URL given, else this workspace's broker (``tinyops broker setup``)."""
    if url:
        return parse_broker_url(url, ca_file)
    from tinyops.fleet import broker

    return broker.host_address(ws)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while a batch is in flight.

    A batch of 1,000 parsed windows is ~70,000 live lists and dicts; with the
    default thresholds the cyclic collector runs dozens of times per batch and
    promotes them, so full collections rescan the whole heap — that was over
    half of the validation time. Parsed JSON is acyclic and freed by reference
    counting when the batch is dropped, so pausing loses nothing.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Collector:
    """Validates and stores telemetry windows; see the module doc."""

    def __init__(self, ws: Workspace, address: BrokerAddress | None, *, share_group: str = "collectors",
                 require_known_build: bool = True, batch_max: int = BATCH_MAX,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self.ws = ws
        self.address = address
        self.share_group = share_group
        self.require_known_build = require_known_build
        self.batch_max = batch_max
        self.flush_seconds = flush_seconds
        self.stats = CollectorStats()
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(QUEUE_MAX)
        self._stop = threading.Event()
        self._known: dict[str, dict[str, int] | None] = {}  # build -> {feature: bins}
        self._full_layout: dict[str, tuple[tuple[str, int], ...]] = {}  # build -> ((feature, bins), ...)
        self._unknown_until: dict[str, float] = {}
        self._per_inference: dict[str, int | None] = {}  # build -> values each inference adds per feature
        self._buckets: dict[str, tuple[float, float]] = {}  # device -> (tokens, last refill)
        self._conn: MqttConnection | None = None

    # ---- MQTT side -------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes, _retained: bool) -> None:
        self.stats.received += 1
        if len(payload) > MAX_PAYLOAD_BYTES:  # never queue a huge message: keep its head and size only
            payload = _Oversized(payload[:tel.REJECT_PAYLOAD_KEEP], len(payload))
        self._queue.put((topic, payload))

    def connect(self) -> None:
        if self.address is None:
            raise FleetError("no broker address", hint="pass --broker URL or run `tinyops broker setup`")
        self._conn = MqttConnection(self.address, on_message=self._on_message).connect()
        self._conn.subscribe(topics.shared_telemetry(self.share_group), qos=1)

    def stop(self) -> None:
        self._stop.set()

    # ---- validation --------------------------------------------------------
    def _build_layout(self, build: str) -> dict[str, int] | None:
        """Baseline feature -> bin count of a registered build; None if unknown."""
        if build in self._known:
            return self._known[build]
        if self._unknown_until.get(build, 0) > time.monotonic():
            return None
        b = builds_reg.find(self.ws, build)
        if b is None:
            self._unknown_until[build] = time.monotonic() + UNKNOWN_BUILD_RECHECK
            return None
        import json

        manifest = json.loads(builds_reg.file_bytes(self.ws, b, "manifest.json"))
        feats = (manifest.get("baseline") or {}).get("features", [])
        self._per_inference[build] = values_per_inference(manifest)
        self._known[build] = {f["name"]: len(f["counts"]) for f in feats}
        self._full_layout[build] = tuple(self._known[build].items())
        return self._known[build]

    def check(self, topic: str, payload: bytes) -> dict[str, Any]:
        """Validate one message; raise InputError with the reason to reject it."""
        parsed = topics.parse_device_topic(topic)
        if parsed is None or parsed[1] != "telemetry":
            raise InputError(f"not a telemetry topic: {topic[:100]}")
        if isinstance(payload, _Oversized):
            raise InputError(f"telemetry rejected: payload is {payload.size} bytes, the limit is {MAX_PAYLOAD_BYTES}")
        self._rate_limit(parsed[0])
        msg = validate(payload, parsed[0], consistency=False)
        if not self.require_known_build:
            check_consistency(msg, now=time.time())
        else:
            layout = self._build_layout(msg["build"])
            if layout is None:
                raise InputError(f"telemetry rejected: unknown build {msg['build']}")
            check_consistency(msg, now=time.time(), values_per_inference=self._per_inference.get(msg["build"]))
            hists = msg["histograms"]
            # Fast path: a window carrying every baseline feature in manifest
            # order (what agents send) matches in one tuple comparison.
            if tuple(zip(hists, map(len, hists.values()))) == self._full_layout.get(msg["build"]):
                return msg
            for name, counts in hists.items():
                if layout.get(name) != len(counts):
                    raise InputError(f"telemetry rejected: histogram '{name[:40]}' does not match the bins of build {msg['build']}")
        return msg

    def _rate_limit(self, device: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(device, (float(RATE_BURST), now))
        tokens = min(float(RATE_BURST), tokens + (now - last) * RATE_PER_SECOND)
        if tokens < 1.0:
            self._buckets[device] = (tokens, now)
            raise InputError(f"telemetry rejected: device {device} is over its rate limit "
                             f"({RATE_BURST} windows, then {RATE_PER_SECOND:g}/s)")
        self._buckets[device] = (tokens - 1.0, now)

    def process(self, batch: list[tuple[str, bytes]]) -> None:
        """Validate and store one batch (also used directly by tests and benchmarks)."""
        with _gc_paused():
            windows: list[dict[str, Any]] = []
            rejects: list[dict[str, Any]] = []
            for topic, payload in batch:
                try:
                    windows.append(self.check(topic, payload))
                except InputError as e:
                    rejects.append(self._reject(topic, payload, e.message))
                except Exception as e:  # noqa: BLE001 — a device must never crash the collector
                    rejects.append(self._reject(topic, payload, f"internal error while validating: {type(e).__name__}: {e}"))
            self._store(windows, rejects)
            del windows, rejects  # freed by refcount before the GC is back on

    def _reject(self, topic: str, payload: bytes, reason: str) -> dict[str, Any]:
        parsed = topics.parse_device_topic(topic)
        return {"topic": topic, "device": parsed[0] if parsed else None, "reason": reason, "payload": payload,
                "size": getattr(payload, "size", len(payload))}

    def _store(self, windows: list[dict[str, Any]], rejects: list[dict[str, Any]], attempt: int = 0) -> None:
        if not windows and not rejects:
            return
        try:
            stored, dup = tel.store_batch(self.ws, windows, rejects)
        except Exception as e:  # noqa: BLE001 — e.g. the disk is full or the DB busy past its timeout
            self.stats.store_errors += 1
            log.warning("storing a batch of %d windows failed: %s", len(windows), e)
            if attempt < 2:
                time.sleep(0.5 * (attempt + 1))
                return self._store(windows, rejects, attempt + 1)
            if len(windows) + len(rejects) > 1:  # split to isolate a poison row
                half_w, half_r = len(windows) // 2, len(rejects) // 2
                self._store(windows[:half_w], rejects[:half_r], 2)
                self._store(windows[half_w:], rejects[half_r:], 2)
                return
            if windows:  # a single window that cannot be stored: keep it as a reject
                self._store([], [self._reject(topics.telemetry(windows[0]["device"]), b"", f"could not be stored: {e}")], 3)
            return
        self.stats.stored += stored
        self.stats.duplicates += dup
        self.stats.rejected += len(rejects)
        self.stats.batches += 1
        self.stats.last_stored = time.time()

    # ---- the loop --------------------------------------------------------------
    def run(self, *, duration: float | None = None, until_stored: int | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None, progress_every: float = 1.0) -> CollectorStats:
        """Collect until stopped (``stop()``, SIGTERM in the CLI), ``duration`` or ``until_stored``.

        ``progress`` gets the counters plus ``windows_per_s`` (over the last
        interval) about every ``progress_every`` seconds, from this thread, and once more at the end.
        """
        self.stats.started = time.time()
        next_report, last_done, last_t = time.monotonic() + progress_every, 0, time.monotonic()
        if self._conn is None:
            self.connect()
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if until_stored is not None and self.stats.stored + self.stats.duplicates + self.stats.rejected >= until_stored:
                    break
                self._drain_once()
                if progress is not None and time.monotonic() >= next_report:
                    last_done, last_t = self._report(progress, last_done, last_t)
                    next_report = last_t + progress_every
        finally:
            self._drain_remaining()
            if self._conn:
                self._conn.close()
                self._conn = None
        if progress is not None:  # the last report is the final count (windows drained after the last tick too)
            self._report(progress, last_done, last_t)
        return self.stats

    def _report(self, progress: Callable[[dict[str, Any]], None], last_done: int, last_t: float) -> tuple[int, float]:
        """One progress report (``windows_per_s`` since the last); returns its (done, time)."""
        t = time.monotonic()
        done = self.stats.stored + self.stats.duplicates
        progress({**self.stats.to_dict(), "windows_per_s": (done - last_done) / max(t - last_t, 1e-9)})
        return done, t

    def _drain_once(self) -> None:
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return
        batch = [first]
        flush_at = time.monotonic() + self.flush_seconds
        while len(batch) < self.batch_max:
            try:
                batch.append(self._queue.get(timeout=max(0.0, flush_at - time.monotonic())))
            except queue.Empty:
                break
        try:
            self.process(batch)
        except TinyOpsError as e:  # already handled per message; belt and braces
            log.warning("batch failed: %s", e)
        except Exception as e:  # noqa: BLE001
            log.exception("unexpected collector error (continuing): %s", e)
            self.stats.store_errors += 1

    def _drain_remaining(self) -> None:
        batch: list[tuple[str, bytes]] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.process(batch)


class _Oversized(bytes):
    """The first bytes of a message over the size limit, and its real size."""

    size: int

    def __new__(cls, head: bytes, size: int) -> "_Oversized":
        obj = super().__new__(cls, head)
        obj.size = size
        return obj


def values_per_inference(manifest: dict[str, Any]) -> int | None:
    """Values one inference adds to each baseline histogram: input elements / features (None if unknown)."""
    feats = (manifest.get("baseline") or {}).get("features", [])
    shape = ((manifest.get("inputs") or [{}])[0] or {}).get("shape") or []
    if not feats or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        return None
    elements = 1
    for d in shape[1:] if len(shape) > 1 else shape:
        elements *= d
    return elements // len(feats) if elements % len(feats) == 0 else None


def collect(ws: Workspace, broker_url: str | None = None, *, ca_file: str | None = None, duration: float | None = None,
            share_group: str = "collectors", stop_event: threading.Event | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run one collector (blocking); returns its counters when it stops."""
    c = Collector(ws, broker_address(ws, broker_url, ca_file), share_group=share_group)
    if stop_event is not None:
        c._stop = stop_event
    return c.run(duration=duration, progress=progress).to_dict()
