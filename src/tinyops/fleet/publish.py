"""Publish a build once, whatever the fleet size: the broker fans it out.

Chunks go first and the envelope last (all retained, QoS 1), so a device
that sees the envelope finds every chunk already stored by the broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tinyops import signing
from tinyops.errors import InputError
from tinyops.registry import fleet as fleet_reg
from tinyops.fleet import broker, topics, transfer
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.transfer import Bundle
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class PublishResult:
    build: str
    profile: str
    chunks: int
    chunk_size: int
    bundle_bytes: int
    bytes_published: int
    seconds: float
    already_published: bool = False
    republished: int = 0  # messages the broker had lost (or held wrong) and got again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_bundle(ws: Workspace, build_id: str) -> Bundle:
    """Read a registered build into a :class:`Bundle`."""
    from tinyops.registry import builds as builds_reg

    b = builds_reg.get(ws, build_id)
    manifest_bytes = builds_reg.file_bytes(ws, b, "manifest.json")
    signature = builds_reg.file_bytes(ws, b, "manifest.sig")
    bundle = Bundle(build=b.id if hasattr(b, "id") else build_id, manifest_bytes=manifest_bytes,
                    signature=signature, files={}, chain=signing.read_chain(ws.path("keys")))
    for name in transfer.file_order(bundle.manifest):
        bundle.files[name] = builds_reg.file_bytes(ws, b, name)
    return bundle


def publish_bundle(conn: MqttConnection, bundle: Bundle, *, chunk_size: int = transfer.DEFAULT_CHUNK,
                   progress: Progress | None = None) -> PublishResult:
    t0 = time.monotonic()
    envelope, chunks = transfer.pack(bundle, chunk_size)
    sent = 0
    for i, chunk in enumerate(chunks):
        conn.publish(topics.build_chunk(bundle.build, i), chunk, qos=1, retain=True)
        sent += len(chunk)
        if progress:
            progress(i + 1, len(chunks) + 1)
    conn.publish(topics.build_manifest(bundle.build), envelope, qos=1, retain=True)
    sent += len(envelope)
    if progress:
        progress(len(chunks) + 1, len(chunks) + 1)
    return PublishResult(build=bundle.build, profile=str(bundle.manifest.get("profile")), chunks=len(chunks),
                         chunk_size=chunk_size, bundle_bytes=bundle.size, bytes_published=sent,
                         seconds=time.monotonic() - t0)


def missing_on_broker(address: Any, bundle: Bundle, chunk_size: int, timeout: float = 3.0) -> list[tuple[str, bytes]]:
    """Read back the retained build messages; return the (topic, payload) pairs the
    broker lacks or holds differently. The host never trusts its own "published" flag."""
    import threading

    envelope, chunks = transfer.pack(bundle, chunk_size)
    want = {topics.build_chunk(bundle.build, i): c for i, c in enumerate(chunks)}
    want[topics.build_manifest(bundle.build)] = envelope
    got: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(topic: str, payload: bytes, _retained: bool) -> None:
        if topic in want:
            got[topic] = payload
            if len(got) == len(want) and all(got[t] == want[t] for t in want):
                done.set()

    with MqttConnection(address, on_message=on_message).connect() as c:
        c.subscribe(f"{topics.ROOT}/builds/{bundle.build}/#")
        done.wait(timeout)
    return [(t, p) for t, p in want.items() if got.get(t) != p]


def publish(ws: Workspace, build_id: str | Bundle, *, conn: MqttConnection | None = None,
            chunk_size: int = transfer.DEFAULT_CHUNK, progress: Progress | None = None,
            force: bool = False) -> PublishResult:
    """Publish a build (id from the registry, or a Bundle) and record it. When it is
    already recorded as published (and not ``force``), check what the broker really
    holds and republish only what is missing."""
    bundle = build_id if isinstance(build_id, Bundle) else load_bundle(ws, build_id)
    limit = broker.load(ws).max_packet_size
    if chunk_size + 1024 > limit:
        raise InputError(f"chunk size {chunk_size} does not fit the broker's packet limit of {limit} bytes",
                         hint=f"use a chunk size up to {limit - 1024}")
    prev = fleet_reg.publication(ws, bundle.build)
    if prev and not force:
        address = broker.host_address(ws)
        lost = missing_on_broker(address, bundle, prev.chunk_size)
        if lost:
            with MqttConnection(address).connect() as c:
                c.publish_many(lost, qos=1, retain=True)
        return PublishResult(build=prev.build, profile=prev.profile, chunks=prev.chunks, chunk_size=prev.chunk_size,
                             bundle_bytes=prev.bundle_bytes, bytes_published=sum(len(m[1]) for m in lost),
                             seconds=0.0, already_published=True, republished=len(lost))
    own = conn is None
    conn = conn or MqttConnection(broker.host_address(ws)).connect()
    try:
        res = publish_bundle(conn, bundle, chunk_size=chunk_size, progress=progress)
    finally:
        if own:
            conn.close()
    fleet_reg.record_publication(ws, fleet_reg.Publication(
        build=res.build, published_at=timestamps.now(), chunk_size=res.chunk_size, chunks=res.chunks,
        bundle_bytes=res.bundle_bytes, bytes_published=res.bytes_published, profile=res.profile))
    return res
