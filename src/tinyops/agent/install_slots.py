"""The Pi's own installer: A/B slots on disk, a self-test before the switch, and the
model the local endpoint serves.

A build is written into the inactive slot, loaded and run against its golden
vectors; only then does the slot pointer move (the commit point) and the new
model take requests. A failing build is removed, the running one stays.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tinyops.agent.fetch import prune_downloads
from tinyops.agent.follower import Outcome
from tinyops.agent.model import LoadedModel, self_test
from tinyops.agent.slots import SlotContent, SlotStore
from tinyops.errors import TinyOpsError

if TYPE_CHECKING:
    from pathlib import Path

    from tinyops.agent.fetch import Download
    from tinyops.agent.trust import KeyTrust

log = logging.getLogger("tinyops.agent")


class SlotInstaller:
    def __init__(self, device: str, profile: str, state_dir: Path, trust: KeyTrust, *,
                 on_model: Callable[[dict[str, Any]], None], event: Callable[..., None]) -> None:
        self.device, self.profile, self.state_dir = device, profile, state_dir
        self.slots = SlotStore(state_dir, trust)
        self.model: LoadedModel | None = None
        self.active: SlotContent | None = None
        self.model_lock = threading.RLock()
        self._on_model = on_model  # a new build is active (telemetry starts a window for it)
        self._event = event

    # ---- what the endpoint serves ----------------------------------------------
    def current(self) -> tuple[SlotContent | None, LoadedModel | None]:
        with self.model_lock:
            return self.active, self.model

    def previous_build(self, slot: str) -> str | None:
        return self.slots.slot_build(self.slots.other(slot))

    def _load_slot(self, slot: str) -> tuple[SlotContent, LoadedModel]:
        content = self.slots.read(slot)
        model = LoadedModel(content.files["model.tflite"], content.manifest)
        self_test(model, content.files[content.manifest.get("golden", {}).get("file", "golden.npz")])
        return content, model

    def _use(self, content: SlotContent, model: LoadedModel) -> None:
        with self.model_lock:
            self.active, self.model = content, model
        self._on_model(content.manifest)

    def recover(self) -> dict[str, Any] | None:
        """Run the model the pointer names; if that slot is unusable, the other one.
        Returns the running build's manifest (None: nothing installed yet)."""
        active = self.slots.active_slot()
        for slot in ([active, self.slots.other(active)] if active else []):
            try:
                content, model = self._load_slot(slot)
            except (TinyOpsError, KeyError, OSError) as e:
                log.warning("slot %s unusable: %s", slot, e)
                continue
            if slot != active:
                self.slots.activate(slot, content.build)
            self._use(content, model)
            return content.manifest
        log.info("no installed model yet; waiting for a desired build")
        return None

    # ---- the Installer interface -------------------------------------------------
    def installed_build(self) -> str | None:
        return self.active.build if self.active else None

    def reuse(self, build: str, check: Callable[[dict[str, Any]], None]) -> Outcome | None:
        """Rollback path: the wanted build is already in the other slot."""
        from tinyops.agent.fetch import Rejected

        slot = self.slots.inactive_slot()
        if self.slots.slot_build(slot) != build:
            return None
        try:
            content, model = self._load_slot(slot)
        except (TinyOpsError, KeyError, OSError) as e:
            log.warning("slot %s cannot be reused: %s", slot, e)
            return None
        try:
            check(content.manifest)
        except Rejected as r:
            return Outcome("rejected", {"code": r.code, "reason": r.reason})
        self.slots.activate(slot, build)
        self._use(content, model)
        return Outcome("installed", {"slot": slot, "reused_slot": True}, content.manifest)

    def install(self, download: Download, desired: dict[str, Any]) -> Outcome:
        manifest_bytes, signature, files = download.assemble()
        slot = self.slots.inactive_slot()
        self.slots.write(slot, manifest_bytes, signature, files)
        try:
            content, model = self._load_slot(slot)
        except TinyOpsError as e:
            shutil.rmtree(self.slots.slot_dir(slot), ignore_errors=True)  # never leave a failing build around
            return Outcome("selftest_failed", {"code": "selftest_failed", "reason": str(e)})
        self._event("selftest_passed", build=download.build, slot=slot)
        self.slots.activate(slot, download.build)  # the commit point
        self._use(content, model)
        return Outcome("installed", {"slot": slot}, content.manifest)

    def finished(self, outcome: Outcome) -> None:
        if outcome.result == "installed":  # superseded downloads and crash leftovers go
            prune_downloads(self.state_dir)
            self.slots.tidy()

    def device_state(self) -> dict[str, Any]:
        a = self.active
        other = self.slots.other(a.slot) if a else None
        return {"device": self.device, "profile": self.profile, "build": a.build if a else None,
                "slot": a.slot if a else None, "previous_build": self.slots.slot_build(other) if other else None,
                "state": "running" if a else "idle", "health": "ok" if self.model else "no_model"}

    def event(self, name: str, **detail: Any) -> None:
        self._event("switched" if name == "installed" else name, **detail)
