"""The update follower: one device's ``desired`` build → download → verify → install → report.

The same component updates the Pi itself and a microcontroller the Pi relays
for; what differs is the :class:`Installer`: the Pi's own A/B slots
(:mod:`tinyops.agent.install_slots`), or the serial update protocol to an MCU
(:mod:`tinyops.agent.gateway`). The follower owns everything else: the signed
desired gate (device, expiry, replay, key rotation, anti-rollback), the chunked
download and its verification, the last update's record, events and the
``reported`` message. Every method runs on the agent's one worker thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tinyops import atomic, timestamps
from tinyops.agent.desired import DesiredGate, DesiredRefused
from tinyops.agent.fetch import Download, Rejected
from tinyops.errors import TinyOpsError
from tinyops.fleet import topics

if TYPE_CHECKING:
    from tinyops.agent.trust import KeyTrust

log = logging.getLogger("tinyops.agent")
REPORT_TIMEOUT_S = 10.0


class Link(Protocol):
    """What the follower needs of the MQTT connection."""

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> int: ...
    def unsubscribe(self, topic_filter: str) -> None: ...
    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False,
                timeout: float = 10.0) -> None: ...


@dataclass
class Outcome:
    """How an install ended: ``installed``, ``selftest_failed``, ``rejected`` or ``error``."""

    result: str
    detail: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None  # the installed build's manifest (anti-rollback floor)


class Installer(Protocol):
    """Puts a verified build onto one device."""

    device: str  # whose desired build is followed
    profile: str  # builds for another profile are refused by the download
    state_dir: Path  # the gate's and the download's state

    def installed_build(self) -> str | None:
        """The build the device runs now."""
        ...

    def reuse(self, build: str, check: Callable[[dict[str, Any]], None]) -> Outcome | None:
        """Install from what the device already holds (a rollback), or None to download."""
        ...

    def install(self, download: Download, desired: dict[str, Any]) -> Outcome:
        """Install a complete, verified download; may raise :class:`Rejected`."""
        ...

    def finished(self, outcome: Outcome) -> None:
        """Tidy up after an update ended (any result)."""
        ...

    def device_state(self) -> dict[str, Any]:
        """The device's own fields of ``reported`` (build, slot, state, health…)."""
        ...

    def event(self, name: str, **detail: Any) -> None:
        """Publish an event about this device's updates."""
        ...


class UpdateFollower:
    def __init__(self, installer: Installer, trust: KeyTrust, link: Callable[[], Link], *,
                 extra_reported: Callable[[], dict[str, Any]] | None = None) -> None:
        self.installer = installer
        self.device = installer.device
        self.trust = trust
        self._link = link  # the agent reconnects with a new connection; always ask for the current one
        self._extra = extra_reported
        self.gate = DesiredGate(installer.state_dir, installer.device, trust)
        self.download: Download | None = None
        self.desired: dict[str, Any] | None = None
        self.refused_desired: dict[str, Any] | None = None  # the last desired message refused, and why
        self.last_update: dict[str, Any] | None = self._load("last_update.json")

    def _load(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.installer.state_dir / name).read_text())
        except (OSError, ValueError):
            return None

    # ---- reporting -------------------------------------------------------------
    @property
    def updating(self) -> bool:
        return self.download is not None

    def reported(self) -> dict[str, Any]:
        state = self.installer.device_state()
        if self.download:
            state["state"] = "updating"
        return {**state, "desired": (self.desired or {}).get("build"), "last_update": self.last_update,
                "refused_desired": self.refused_desired, **(self._extra() if self._extra else {}),
                "ts": timestamps.now()}

    def report(self) -> None:
        try:
            self._link().publish(topics.reported(self.device), json.dumps(self.reported()).encode(), retain=True,
                                 timeout=REPORT_TIMEOUT_S)
        except TinyOpsError as e:  # broker away: the on-connect hook reports again
            log.warning("report for %s not delivered: %s", self.device, e)

    # ---- messages --------------------------------------------------------------
    def subscribe(self) -> None:
        self._link().subscribe(topics.desired(self.device))

    def handles(self, topic: str) -> bool:
        if topics.parse_device_topic(topic) == (self.device, "desired"):
            return True
        b = topics.parse_build_topic(topic)
        return bool(b and self.download and b[0] == self.download.build)

    def dispatch(self, topic: str, payload: bytes) -> None:
        if topics.parse_device_topic(topic) == (self.device, "desired"):
            self._on_desired(payload)
            return
        b = topics.parse_build_topic(topic)
        if not (b and self.download and b[0] == self.download.build):
            return
        try:
            if self.download.on_message(b[1], b[2], payload):
                self._install()
        except Rejected as r:
            self._finish(self.download.build if self.download else b[0],
                         Outcome("rejected", {"code": r.code, "reason": r.reason}))

    def _on_desired(self, payload: bytes) -> None:
        if not payload:
            return  # cleared retained message: nothing asked
        try:
            desired = self.gate.check(payload)
        except DesiredRefused as r:
            self.refused_desired = {"code": r.code, "reason": r.reason, "at": timestamps.now()}
            log.warning("desired for %s refused: %s", self.device, r.reason)
            self.installer.event("desired_refused", code=r.code, reason=r.reason)
            self.report()
            return
        self.refused_desired = None
        self.desired = desired
        build = desired.get("build")
        lu = self.last_update or {}
        if not build or build == self.installer.installed_build():
            self.report()
            return
        if lu.get("build") == build and lu.get("result") != "installed" and lu.get("set_at") == desired.get("set_at"):
            self.report()  # already refused this very request; wait for a new one
            return
        self._cancel()
        reused = self.installer.reuse(str(build), self._check_security)
        if reused is not None:
            self._finish(str(build), reused)
            return
        try:
            self.download = Download(self.installer.state_dir, topics.check_id(build, "build id"),
                                     self.installer.profile, self.trust, check_manifest=self._check_security)
        except TinyOpsError as e:
            self._finish(str(build), Outcome("rejected", {"code": "bad_desired", "reason": str(e)}))
            return
        self.installer.event("update_started", build=build, rollout=desired.get("rollout"))
        self.report()
        self._link().subscribe(topics.build_manifest(build))
        self._link().subscribe(topics.build_chunks_filter(build))

    def _check_security(self, manifest: dict[str, Any]) -> None:
        try:
            self.gate.check_security(manifest, bool((self.desired or {}).get("rollback")))
        except DesiredRefused as r:
            raise Rejected(r.reason, r.code) from r

    def _cancel(self) -> None:
        if self.download:
            self._link().unsubscribe(topics.build_manifest(self.download.build))
            self._link().unsubscribe(topics.build_chunks_filter(self.download.build))
            self.download = None

    def _install(self) -> None:
        d = self.download
        assert d is not None
        self.installer.event("downloaded", build=d.build, chunks=len(d.have))
        self._finish(d.build, self.installer.install(d, self.desired or {}))

    def _finish(self, build: str, outcome: Outcome) -> None:
        if self.download:
            d = self.download
            self._cancel()
            d.discard()
        if outcome.result == "installed" and outcome.manifest is not None:
            self.gate.installed(outcome.manifest)
        self.last_update = {"build": build, "result": outcome.result, "at": timestamps.now(),
                            "set_at": (self.desired or {}).get("set_at"), **outcome.detail}
        atomic.write_json(self.installer.state_dir / "last_update.json", self.last_update)
        self.installer.finished(outcome)
        self.installer.event(outcome.result, build=build, **outcome.detail)
        self.report()
