"""Gateway mode: a microcontroller on the Pi's serial port, updated over MQTT.

The MCU is a device of its own (registered with ``--gateway PI``; the Pi's
credentials may use its topics). The agent's :class:`~tinyops.agent.follower.UpdateFollower`
follows the MCU's ``desired`` build, downloads and verifies it exactly as for the
Pi itself (signature, profile, chunk and file hashes); this module is its
installer, which hands ``model.img`` to the serial update protocol (`tinyops.devices.serial.flash.flash_image`: chunked,
CRC-checked, resumable, A/B slots committed last, golden self-test on the
MCU with rollback on failure) and reports the MCU's state on its topics.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops import atomic
from tinyops.agent.fetch import Rejected
from tinyops.agent.follower import Outcome, UpdateFollower
from tinyops.agent_config import GatewayConfig
from tinyops.errors import InputError, TinyOpsError
from tinyops.fleet import topics

if TYPE_CHECKING:
    from tinyops.agent.fetch import Download
    from tinyops.agent.follower import Link
    from tinyops.agent.trust import KeyTrust

log = logging.getLogger("tinyops.agent.gateway")


class SerialInstaller:
    """Installs builds on the microcontroller at ``cfg.port`` over the serial update protocol."""

    def __init__(self, cfg: GatewayConfig, state_root: Path, gateway: str,
                 event: Callable[..., None]) -> None:
        self.cfg = cfg
        self.device = topics.check_id(cfg.device)
        self.profile = cfg.profile or ""
        self.gateway = gateway  # the Pi's own device id
        self.state_dir = Path(state_root) / "gateway" / self.device
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.known: dict[str, str] = self._load("builds.json") or {}  # image sha256 -> build (the MCU knows hashes)
        self.info: dict[str, Any] | None = None
        self._event = event

    def _load(self, name: str) -> Any:
        try:
            return json.loads((self.state_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def refresh_info(self) -> None:
        from tinyops.devices.serial.device import device_info

        try:
            self.info = device_info(self.cfg.port).to_dict()
        except TinyOpsError as e:
            self.info = {"error": str(e)}

    # ---- the Installer interface -------------------------------------------------
    def installed_build(self) -> str | None:
        sha = (self.info or {}).get("active_sha256")
        return self.known.get(sha) if sha else None

    def reuse(self, build: str, check: Callable[[dict[str, Any]], None]) -> Outcome | None:
        return None  # the MCU's other slot is reached by flashing (the firmware keeps its own A/B)

    def install(self, download: Download, desired: dict[str, Any]) -> Outcome:
        from tinyops.devices import tickets
        from tinyops.devices.serial.flash import flash_image, load_golden

        manifest_bytes, _, files = download.assemble()
        if "model.img" not in files:
            raise Rejected(f"build {download.build} has no model.img for the MCU's runtime", "no_image")
        gin, gout = load_golden(files["golden.npz"]) if "golden.npz" in files else (None, None)
        self.known[hashlib.sha256(files["model.img"]).hexdigest()] = download.build
        atomic.write_json(self.state_dir / "builds.json", self.known)
        # Anti-rollback for the MCU is enforced twice: by the follower's gate, and by the
        # firmware itself from the build's signed image ticket (firmware/PROTOCOL.md, "Trust").
        # A rollback brings its own ticket, signed into the desired message.
        ticket = files.get(tickets.FILE)
        if desired.get("rollback") and desired.get("image_ticket"):
            ticket = bytes.fromhex(str(desired["image_ticket"]))
        chain = download.envelope.chain if download.envelope else []
        try:
            rep = flash_image(self.cfg.port, files["model.img"], gin, gout, ticket=ticket, links=tickets.links(chain))
        except TinyOpsError as e:
            text = str(e)
            code = ("rollback_refused" if "below the device's floor" in text else
                    "untrusted_key" if "does not trust" in text else "flash_failed")
            return Outcome("error", {"code": code, "reason": text})
        if rep.activated and rep.self_test in ("pass", "skipped"):
            return Outcome("installed", {"slot": rep.slot, "self_test": rep.self_test}, json.loads(manifest_bytes))
        return Outcome("selftest_failed", {"slot": rep.slot, "self_test": rep.self_test, "code": "selftest_failed",
                                           "reason": f"MCU self-test {rep.self_test}"})

    def finished(self, outcome: Outcome) -> None:
        self.refresh_info()

    def device_state(self) -> dict[str, Any]:
        info = self.info or {}
        sha = info.get("active_sha256")
        return {"device": self.device, "profile": self.profile, "gateway": self.gateway,
                "build": self.installed_build(), "slot": info.get("active_slot"),
                "state": "running" if sha else ("unreachable" if "error" in info else "idle"),
                "health": "ok" if sha else "no_model", "firmware": info.get("firmware"), "board": info.get("board"),
                "image_sha256": sha}

    def event(self, name: str, **detail: Any) -> None:
        self._event("gateway_" + name, mcu=self.device, **detail)


def start_gateway(cfg: GatewayConfig, state_root: Path, gateway: str, trust: KeyTrust, link: Callable[[], Link],
                  event: Callable[..., None]) -> UpdateFollower:
    """Follow the MCU's desired build: read its state over serial, subscribe, report."""
    if not cfg.profile:
        raise InputError("agent config: [gateway] needs 'profile' (the MCU's device profile)",
                         hint="re-register the MCU with --gateway and add its profile to [gateway]")
    installer = SerialInstaller(cfg, state_root, gateway, event)
    follower = UpdateFollower(installer, trust, link)
    installer.refresh_info()
    follower.subscribe()
    follower.report()
    return follower
