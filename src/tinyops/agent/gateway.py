"""Gateway mode: a microcontroller on the Pi's serial port, updated over MQTT.

The MCU is a device of its own (registered with ``--gateway PI``; the Pi's
credentials may use its topics). The gateway follows the MCU's ``desired``
build, downloads and verifies it exactly like the agent does for itself
(signature, profile, chunk and file hashes), then hands ``model.img`` to the
serial update protocol (`tinyops.devices.serial.flash.flash_image`: chunked,
CRC-checked, resumable, A/B slots committed last, golden self-test on the
MCU with rollback on failure) and reports the MCU's state on its topics.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops import atomic
from tinyops import timestamps
from tinyops.errors import TinyOpsError
from tinyops.fleet import topics
from tinyops.agent_config import GatewayConfig
from tinyops.agent.desired import DesiredGate, DesiredRefused
from tinyops.agent.fetch import Download, Rejected

if TYPE_CHECKING:
    from tinyops.agent.core import Agent

log = logging.getLogger("tinyops.agent.gateway")


class Gateway:
    def __init__(self, agent: "Agent", cfg: GatewayConfig) -> None:
        self.agent = agent
        self.cfg = cfg
        self.device = topics.check_id(cfg.device)
        self.profile = cfg.profile or ""
        self.state_dir = Path(agent.cfg.state_dir) / "gateway" / self.device
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.download: Download | None = None
        self.desired: dict[str, Any] | None = None
        self.known = self._load("builds.json") or {}  # image sha256 -> build id (the MCU only knows hashes)
        self.last_update = self._load("last_update.json")
        self.info: dict[str, Any] | None = None
        # Anti-rollback for the MCU is enforced twice: here, and by the firmware itself
        # from the build's signed image ticket (firmware/PROTOCOL.md, "Trust").
        self.gate = DesiredGate(self.state_dir, self.device, agent.trust)
        self.refused_desired: dict[str, Any] | None = None

    def _load(self, name: str) -> Any:
        try:
            return json.loads((self.state_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def _save(self, name: str, data: Any) -> None:
        atomic.write_json(self.state_dir / name, data)

    # ---- MCU state ---------------------------------------------------------------
    def refresh_info(self) -> None:
        from tinyops.devices.serial.device import device_info

        try:
            self.info = device_info(self.cfg.port).to_dict()
        except TinyOpsError as e:
            self.info = {"error": str(e)}

    def reported(self) -> dict[str, Any]:
        info = self.info or {}
        sha = info.get("active_sha256")
        return {"device": self.device, "profile": self.profile, "gateway": self.agent.device,
                "build": self.known.get(sha) if sha else None, "slot": info.get("active_slot"),
                "state": "updating" if self.download else ("running" if sha else ("unreachable" if "error" in info else "idle")),
                "health": "ok" if sha else "no_model", "firmware": info.get("firmware"), "board": info.get("board"),
                "image_sha256": sha, "desired": (self.desired or {}).get("build"),
                "last_update": self.last_update, "refused_desired": self.refused_desired, "ts": timestamps.now()}

    def report(self) -> None:
        try:
            self.agent.conn.publish(topics.reported(self.device), json.dumps(self.reported()).encode(), retain=True, timeout=10)
        except TinyOpsError as e:
            log.warning("gateway report not delivered: %s", e)

    def start(self) -> None:
        self.refresh_info()
        self.agent.conn.subscribe(topics.desired(self.device))
        self.report()

    # ---- messages (called from the agent's worker thread) ---------------------------
    def handles(self, topic: str) -> bool:
        dev = topics.parse_device_topic(topic)
        if dev == (self.device, "desired"):
            return True
        b = topics.parse_build_topic(topic)
        return bool(b and self.download and b[0] == self.download.build)

    def dispatch(self, topic: str, payload: bytes) -> None:
        if topics.parse_device_topic(topic):
            self._on_desired(payload)
            return
        b = topics.parse_build_topic(topic)
        assert b and self.download
        try:
            if self.download.on_message(b[1], b[2], payload):
                self._flash()
        except Rejected as r:
            self._finish(self.download.build, "rejected", code=r.code, reason=r.reason)

    def _on_desired(self, payload: bytes) -> None:
        if not payload:
            return
        try:
            self.desired = self.gate.check(payload)
        except DesiredRefused as r:
            self.refused_desired = {"code": r.code, "reason": r.reason, "at": timestamps.now()}
            self.agent.event("gateway_desired_refused", mcu=self.device, code=r.code, reason=r.reason)
            self.report()
            return
        self.refused_desired = None
        build = self.desired.get("build")
        lu = self.last_update or {}
        if not build or build == self.reported().get("build") or (
                lu.get("build") == build and lu.get("result") != "installed" and lu.get("set_at") == self.desired.get("set_at")):
            self.report()
            return
        self._cancel()
        self.download = Download(self.state_dir, topics.check_id(build, "build id"), self.profile,
                                 self.agent.trust, check_manifest=self._check_security)
        self.agent.conn.subscribe(topics.build_manifest(build))
        self.agent.conn.subscribe(topics.build_chunks_filter(build))
        self.report()

    def _check_security(self, manifest: dict[str, Any]) -> None:
        try:
            self.gate.check_security(manifest, bool((self.desired or {}).get("rollback")))
        except DesiredRefused as r:
            raise Rejected(r.reason, r.code) from r

    def _cancel(self) -> None:
        if self.download:
            self.agent.conn.unsubscribe(topics.build_manifest(self.download.build))
            self.agent.conn.unsubscribe(topics.build_chunks_filter(self.download.build))
            self.download = None

    def _flash(self) -> None:
        import hashlib

        from tinyops.devices import tickets
        from tinyops.devices.serial.flash import flash_image, load_golden

        d = self.download
        assert d is not None
        manifest_bytes, _, files = d.assemble()
        if "model.img" not in files:
            raise Rejected(f"build {d.build} has no model.img for the MCU's runtime", "no_image")
        gin, gout = load_golden(files["golden.npz"]) if "golden.npz" in files else (None, None)
        self.known[hashlib.sha256(files["model.img"]).hexdigest()] = d.build
        self._save("builds.json", self.known)
        # The MCU checks the signed ticket itself (pinned key, security floor); a rollback
        # brings its own ticket, signed into the desired message.
        ticket = files.get(tickets.FILE)
        if (self.desired or {}).get("rollback") and (self.desired or {}).get("image_ticket"):
            ticket = bytes.fromhex(str(self.desired["image_ticket"]))
        chain = d.envelope.chain if d.envelope else []
        try:
            rep = flash_image(self.cfg.port, files["model.img"], gin, gout, ticket=ticket, links=tickets.links(chain))
        except TinyOpsError as e:
            text = str(e)
            code = ("rollback_refused" if "below the device's floor" in text else
                    "untrusted_key" if "does not trust" in text else "flash_failed")
            self._finish(d.build, "error", code=code, reason=text)
            return
        ok = rep.activated and rep.self_test in ("pass", "skipped")
        if ok:
            self.gate.installed(json.loads(manifest_bytes))
        self._finish(d.build, "installed" if ok else "selftest_failed", slot=rep.slot, self_test=rep.self_test,
                     **({} if ok else {"code": "selftest_failed", "reason": f"MCU self-test {rep.self_test}"}))

    def _finish(self, build: str, result: str, **detail: Any) -> None:
        if self.download:
            dl = self.download
            self._cancel()
            dl.discard()
        self.last_update = {"build": build, "result": result, "set_at": (self.desired or {}).get("set_at"), **detail}
        self._save("last_update.json", self.last_update)
        self.refresh_info()
        self.agent.event("gateway_" + result, mcu=self.device, build=build, **detail)
        self.report()


def start_gateway(agent: "Agent", cfg: GatewayConfig) -> Gateway:
    if not cfg.profile:
        from tinyops.errors import InputError

        raise InputError("agent config: [gateway] needs 'profile' (the MCU's device profile)",
                         hint="re-register the MCU with --gateway and add its profile to [gateway]")
    gw = Gateway(agent, cfg)
    agent.gateway = gw
    gw.start()
    return gw
