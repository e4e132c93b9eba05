"""Put a model image on a device: INFO → transfer → verify → activate → self-test.

The core takes bytes and golden vectors, so it works without a workspace;
:func:`flash_build` is the thin layer that reads a registered build and records
the deployment.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import DeviceError, InputError
from tinyops.devices.serial import ops, protocol, runtime_check, transfer
from tinyops.devices.serial.link import Link, TraceFn

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

RECONNECT_ATTEMPTS = 3  # a link that drops mid-transfer is reopened this often
RECONNECT_DELAY_S = 0.5
SELF_TEST_TOLERANCE_LSB = 0  # our runtime is bit-exact with TFLM, whose outputs the golden vectors hold


@dataclass
class FlashReport:
    port: str
    sha256: str
    bytes: int
    seconds: float
    slot: int
    resumed_from: int
    retransmits: int
    activated: bool
    already_active: bool
    self_test: str  # "pass" | "fail" | "skipped"
    self_test_detail: dict[str, Any] = field(default_factory=dict)
    rolled_back: bool = False
    board: str = ""
    build: str | None = None
    deployment: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_golden(npz_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    with np.load(io.BytesIO(npz_bytes)) as z:
        if "inputs" not in z or "outputs" not in z:
            raise InputError("golden.npz lacks `inputs`/`outputs` arrays", hint="rebuild with `tinyops build`")
        return z["inputs"], z["outputs"]


def _transfer_with_reconnect(url: str, image: bytes, *, trace: TraceFn | None,
                             progress: Callable[[int, int], None] | None,
                             link_kwargs: dict[str, Any], reconnect_attempts: int) -> tuple[Link, protocol.DeviceInfo, transfer.TransferResult]:
    last: Exception | None = None
    for _attempt in range(reconnect_attempts + 1):
        link = None
        try:
            link = Link(url, trace=trace, **link_kwargs)
            link.drain()
            info = ops.info(link)
            runtime_check.check(info, image)  # before any transfer
            if info.active_sha256 == hashlib.sha256(image).hexdigest():
                return link, info, transfer.TransferResult(info.active_slot or 0, len(image), len(image), 0, 0.0, 0)
            # resumed_from is what the device kept, as its BEGIN reply says.
            return link, info, transfer.send_image(link, image, info, progress=progress)
        except DeviceError as e:
            if isinstance(e, runtime_check.Incompatible):
                if link is not None:
                    link.close()
                raise
            last = e
            if link is not None:
                link.close()
            time.sleep(RECONNECT_DELAY_S)
    raise DeviceError(f"flashing over {url} failed: {last}", hint="run the same `tinyops flash` again: "
                      "it resumes from the last acknowledged offset") from last


def flash_image(url: str, image: bytes, golden_inputs: np.ndarray | None = None,
                golden_outputs: np.ndarray | None = None, *, trace: TraceFn | None = None,
                progress: Callable[[int, int], None] | None = None, rollback_on_failure: bool = True,
                link_kwargs: dict[str, Any] | None = None,
                reconnect_attempts: int = RECONNECT_ATTEMPTS, ticket: bytes | None = None,
                links: bytes = b"") -> FlashReport:
    """Transfer, verify, activate and self-test one model image.

    ``ticket``: the image's signed ticket (``model.img.ticket`` of a build, or a rollback
    ticket), with ``links`` (:func:`tinyops.devices.tickets.links`) after a key rotation; a
    device that pins a key refuses to activate an image without one."""
    if not image:
        raise InputError("the model image is empty", hint="rebuild it with `tinyops build` or `tinyops compile`")
    t0 = time.monotonic()
    link, info, result = _transfer_with_reconnect(url, image, trace=trace, progress=progress,
                                                  link_kwargs=link_kwargs or {},
                                                  reconnect_attempts=reconnect_attempts)
    with link:
        sha = hashlib.sha256(image).hexdigest()
        already = info.active_sha256 == sha
        if ticket and not already:
            ops.authorize(link, ticket, links)
        slot = info.active_slot if already else ops.activate(link, result.slot)
        after = ops.info(link)
        activated = after.active_sha256 == sha
        detail: dict[str, Any] = {}
        verdict = "skipped"
        rolled_back = False
        if golden_inputs is not None and golden_outputs is not None and len(golden_inputs):
            detail = ops.self_test(link, golden_inputs, golden_outputs, max_chunk=after.max_chunk,
                                   tolerance_lsb=SELF_TEST_TOLERANCE_LSB)
            verdict = "pass" if detail["pass"] else "fail"
            if verdict == "fail" and rollback_on_failure and not already:
                other = after.slots[1 - slot]
                if other.state == "committed":
                    ops.rollback(link)
                    rolled_back = True
        return FlashReport(port=url, sha256=sha, bytes=len(image), seconds=time.monotonic() - t0,
                           slot=int(slot if slot is not None else -1), resumed_from=result.resumed_from,
                           retransmits=result.retransmits, activated=activated and not rolled_back,
                           already_active=already, self_test=verdict, self_test_detail=detail,
                           rolled_back=rolled_back, board=after.board)


def flash_build(ws: Workspace, build_id: str, url: str, *, trace: TraceFn | None = None,
                progress: Callable[[int, int], None] | None = None, device: str | None = None,
                rollback: bool = False) -> FlashReport:
    """Flash a registered build's model image and record the deployment.

    The build's signed image ticket goes along (with the key links after a rotation);
    ``rollback`` signs a ticket that lets a device that pins our key go below its
    security floor."""
    import json

    from tinyops import signing
    from tinyops.devices import keys, tickets
    from tinyops.registry import builds, deployments

    build = builds.get(ws, build_id)
    if "model.img" not in build.files:
        raise InputError(f"build {build.id} has no model image (runtime {build.runtime})",
                         hint="build for a tinyops-c profile, e.g. `tinyops build REF --device qemu-mps2-an386`")
    image = builds.file_bytes(ws, build, "model.img")
    gin = gout = None
    if "golden.npz" in build.files:
        gin, gout = load_golden(builds.file_bytes(ws, build, "golden.npz"))
    ticket = builds.file_bytes(ws, build, tickets.FILE) if tickets.FILE in build.files else None
    if rollback:
        manifest = json.loads(builds.file_bytes(ws, build, "manifest.json"))
        ticket = tickets.for_manifest(keys.key_dir(ws), image, manifest, rollback=True)
    report = flash_image(url, image, gin, gout, trace=trace, progress=progress, ticket=ticket,
                         links=tickets.links(signing.read_chain(keys.key_dir(ws))))
    report.build = build.id
    dep = deployments.record_deployment(ws, build=build.id, device=device or url, port=url, slot=report.slot,
                                        sha256=report.sha256, activated=report.activated,
                                        self_test=report.self_test, detail=report.to_dict())
    report.deployment = dep.id
    return report
